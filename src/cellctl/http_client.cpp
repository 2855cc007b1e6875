#include "cell/cellctl/http_client.hpp"

#include <exception>
#include <optional>

#include <boost/beast/http/span_body.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>
#include <fmt/format.h>

#include "cell/transport/io.hpp"

namespace cell::cellctl {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::string seconds_text(std::chrono::milliseconds timeout) {
    if (timeout.count() % 1000 == 0) {
        return fmt::format("{}s", timeout.count() / 1000);
    }
    return fmt::format("{}ms", timeout.count());
}

// What one exchange produced: a response, or the error and whether a connection was made.
struct Outcome {
    std::optional<HttpResponse> response;
    std::string error;
    bool connected = false;
};

// `request` is the caller's, which waits for this exchange to end: a 30 MB config is sent from
// where it is, not copied.
awaitable<void> exchange(BaseUrl base, const HttpRequest& request, std::chrono::milliseconds timeout, Outcome* outcome) {
    const auto executor = co_await net::this_coro::executor;
    tcp_resolver resolver(executor);
    // The resolver has no deadline of its own.
    steady_timer resolve_deadline(executor);
    resolve_deadline.expires_after(timeout);
    bool resolve_timed_out = false;
    resolve_deadline.async_wait([&](boost::system::error_code ec) {
        if (!ec) {
            resolve_timed_out = true;
            resolver.cancel();
        }
    });
    auto [resolve_ec, results] = co_await resolver.async_resolve(base.host, base.port);
    resolve_deadline.cancel();
    if (resolve_ec) {
        outcome->error = resolve_timed_out ? fmt::format("resolving {} timed out after {}", base.host, seconds_text(timeout))
                                           : fmt::format("cannot resolve {}: {}", base.host, resolve_ec.message());
        co_return;
    }
    tcp_stream stream(executor);
    // One deadline for connecting, writing and reading: --timeout bounds the whole request.
    stream.expires_after(timeout);
    auto [connect_ec, endpoint] = co_await stream.async_connect(results);
    if (connect_ec) {
        outcome->error = connect_ec == beast::error::timeout
                             ? fmt::format("connecting timed out after {}", seconds_text(timeout))
                             : fmt::format("cannot connect: {}", connect_ec.message());
        co_return;
    }
    outcome->connected = true;
    http::request<http::span_body<const char>> message{http::string_to_verb(request.method), request.target, 11};
    message.set(http::field::host, base.authority);
    message.set(http::field::user_agent, "cellctl");
    message.set(http::field::accept, "application/json");
    if (!request.body.empty()) {
        message.set(http::field::content_type, "application/json");
    }
    message.body() = {request.body.data(), request.body.size()};
    message.keep_alive(false);
    message.prepare_payload();
    auto [write_ec, written] = co_await http::async_write(stream, message);
    if (write_ec) {
        outcome->error = write_ec == beast::error::timeout
                             ? fmt::format("sending the request timed out after {}", seconds_text(timeout))
                             : fmt::format("sending the request failed: {}", write_ec.message());
        co_return;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(max_response_body_bytes);
    auto [read_ec, read] = co_await http::async_read(stream, buffer, parser);
    if (read_ec) {
        if (read_ec == beast::error::timeout) {
            outcome->error = fmt::format("no answer within {}", seconds_text(timeout));
        } else if (read_ec == http::error::body_limit) {
            outcome->error = fmt::format("the answer is larger than {} MiB", max_response_body_bytes / (1024 * 1024));
        } else {
            outcome->error = fmt::format("reading the answer failed: {}", read_ec.message());
        }
        co_return;
    }
    auto response = parser.release();
    HttpResponse result;
    result.status = static_cast<int>(response.result_int());
    for (const auto& field : response) {
        result.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    result.body = std::move(response.body());
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    outcome->response = std::move(result);
}

}  // namespace

std::variant<BaseUrl, std::string> parse_base_url(std::string_view text) {
    const auto invalid = [&](std::string_view why) { return fmt::format("invalid control plane URL \"{}\": {}", text, why); };
    const auto parsed = boost::urls::parse_absolute_uri(text);
    if (!parsed) {
        return invalid("not an absolute URL such as http://127.0.0.1:8081");
    }
    const boost::urls::url_view& url = *parsed;
    if (url.scheme_id() != boost::urls::scheme::http) {
        return invalid("only http is supported");
    }
    if (!url.has_authority() || url.encoded_host_address().empty()) {
        return invalid("no host");
    }
    if (url.has_userinfo()) {
        return invalid("must not contain userinfo");
    }
    if (url.encoded_path() != "" && url.encoded_path() != "/") {
        return invalid("must not contain a path");
    }
    if (url.has_fragment()) {
        return invalid("must not contain a fragment");
    }
    BaseUrl base;
    base.text = std::string(text);
    if (base.text.ends_with('/')) {
        base.text.pop_back();
    }
    base.host = std::string(url.encoded_host_address());
    base.port = url.has_port() ? std::string(url.port()) : "80";
    if (url.has_port() && (base.port.empty() || url.port_number() == 0)) {
        return invalid("port must be between 1 and 65535");
    }
    base.authority = std::string(url.encoded_host_and_port());
    return base;
}

std::string make_target(std::string_view path, const QueryParameters& parameters) {
    std::string target(path);
    char separator = '?';
    for (const auto& [name, value] : parameters) {
        target += separator;
        target += boost::urls::encode(name, boost::urls::unreserved_chars);
        target += '=';
        target += boost::urls::encode(value, boost::urls::unreserved_chars);
        separator = '&';
    }
    return target;
}

std::string HttpResponse::header(std::string_view name) const {
    for (const auto& [field, value] : headers) {
        if (iequals(field, name)) {
            return value;
        }
    }
    return {};
}

HttpResponse send_request(const BaseUrl& base, const HttpRequest& request, std::chrono::milliseconds timeout) {
    if (http::string_to_verb(request.method) == http::verb::unknown) {
        throw NetworkError(fmt::format("unknown HTTP method {}", request.method), false);
    }
    net::io_context context;
    Outcome outcome;
    std::exception_ptr failure;
    net::co_spawn(loop_executor(context), exchange(base, request, timeout, &outcome),
                  [&failure](std::exception_ptr error) { failure = error; });
    context.run();
    if (failure) {
        std::rethrow_exception(failure);
    }
    if (!outcome.response) {
        throw NetworkError(outcome.error, outcome.connected);
    }
    return std::move(*outcome.response);
}

}  // namespace cell::cellctl
