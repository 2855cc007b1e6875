#include "cell/controlplane/etcd_client.hpp"

#include <boost/beast/http/buffer_body.hpp>
#include <boost/url/parse.hpp>

#include "cell/util/base64.hpp"

namespace cell::controlplane {
namespace {

using nlohmann::json;

// The largest answer read: a range over a whole stored config (64 MiB of config, base64 in JSON).
constexpr std::uint64_t max_answer_bytes = 256ull * 1024 * 1024;

// The gateway writes 64-bit numbers as strings; absent means 0.
std::uint64_t number_field(const json& object, const char* name) {
    const auto it = object.find(name);
    if (it == object.end()) {
        return 0;
    }
    if (it->is_string()) {
        try {
            return std::stoull(it->get<std::string>());
        } catch (const std::exception&) {
            return 0;
        }
    }
    return it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

std::uint64_t header_revision(const json& answer) {
    const auto header = answer.find("header");
    return header != answer.end() && header->is_object() ? number_field(*header, "revision") : 0;
}

std::optional<EtcdKeyValue> decode_kv(const json& kv) {
    if (!kv.is_object()) {
        return std::nullopt;
    }
    EtcdKeyValue out;
    const auto key = util::base64_decode(kv.value("key", std::string()));
    const auto value = util::base64_decode(kv.value("value", std::string()));
    if (!key || !value) {
        return std::nullopt;
    }
    out.key = std::move(*key);
    out.value = std::move(*value);
    out.create_revision = number_field(kv, "create_revision");
    out.mod_revision = number_field(kv, "mod_revision");
    return out;
}

// etcd's error text from an error answer ({"error":..,"message":..,"code":..}).
std::string error_text(const json& body, unsigned status) {
    if (body.is_object()) {
        if (const auto message = body.find("message"); message != body.end() && message->is_string()) {
            return message->get<std::string>();
        }
        if (const auto error = body.find("error"); error != body.end() && error->is_string()) {
            return error->get<std::string>();
        }
    }
    return "HTTP " + std::to_string(status);
}

// Answers that mean "this member cannot serve now; another may": leader loss, shutdown, overload.
bool member_unavailable(unsigned status, const std::string& message) {
    return status == 503 || message.find("no leader") != std::string::npos ||
           message.find("server stopped") != std::string::npos ||
           message.find("leader changed") != std::string::npos || message.find("timed out") != std::string::npos;
}

EtcdWatchResult watch_result(EtcdWatchResult::Kind kind, std::uint64_t revision = 0, std::string error = {}) {
    EtcdWatchResult result;
    result.kind = kind;
    result.revision = revision;
    result.error = std::move(error);
    return result;
}

}  // namespace

std::optional<EtcdEndpoint> parse_etcd_endpoint(std::string_view url) {
    const auto parsed = boost::urls::parse_uri(url);
    if (!parsed || parsed->scheme() != "http" || !parsed->has_authority() || parsed->encoded_host().empty() ||
        parsed->has_userinfo() || parsed->has_query() || parsed->has_fragment() ||
        (!parsed->encoded_path().empty() && parsed->encoded_path() != "/")) {
        return std::nullopt;
    }
    EtcdEndpoint endpoint;
    endpoint.url = std::string(url);
    endpoint.host = std::string(std::string_view(parsed->encoded_host_address()));
    if (parsed->has_port()) {
        if (parsed->port_number() == 0) {
            return std::nullopt;
        }
        endpoint.port = std::to_string(parsed->port_number());
    } else {
        endpoint.port = "2379";
    }
    return endpoint;
}

EtcdClient::EtcdClient(io_executor executor, std::vector<EtcdEndpoint> endpoints, std::chrono::milliseconds timeout)
    : executor_(executor), endpoints_(std::move(endpoints)), timeout_(timeout) {}

std::string EtcdClient::endpoint_list() const {
    std::string list;
    for (const auto& endpoint : endpoints_) {
        list += (list.empty() ? "" : ",") + endpoint.url;
    }
    return list;
}

std::string EtcdClient::prefix_end(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty()) {
        auto& last = reinterpret_cast<unsigned char&>(end.back());
        if (last < 0xff) {
            ++last;
            return end;
        }
        end.pop_back();
    }
    return std::string(1, '\0');  // every key
}

awaitable<std::variant<EtcdClient::Answer, std::string>> EtcdClient::post_once(const EtcdEndpoint& endpoint,
                                                                                std::string_view path,
                                                                                const std::string& body) {
    tcp_resolver resolver(executor_);
    auto [resolve_ec, resolved] = co_await resolver.async_resolve(endpoint.host, endpoint.port);
    if (resolve_ec) {
        co_return "cannot resolve " + endpoint.host + ": " + resolve_ec.message();
    }
    tcp_stream stream(executor_);
    stream.expires_after(timeout_);
    auto [connect_ec, connected] = co_await stream.async_connect(resolved);
    if (connect_ec) {
        co_return connect_ec == beast::error::timeout ? std::string("connect timed out") : connect_ec.message();
    }
    http::request<http::string_body> request{http::verb::post, std::string(path), 11};
    request.set(http::field::host, endpoint.host + ":" + endpoint.port);
    request.set(http::field::content_type, "application/json");
    request.set(http::field::user_agent, "cell-control-plane");
    request.body() = body;
    request.prepare_payload();
    stream.expires_after(timeout_);
    auto [write_ec, written] = co_await http::async_write(stream, request);
    if (write_ec) {
        co_return write_ec == beast::error::timeout ? std::string("request timed out") : write_ec.message();
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_answer_bytes);
    auto [read_ec, read] = co_await http::async_read(stream, buffer, parser);
    if (read_ec) {
        co_return read_ec == beast::error::timeout ? std::string("no answer within the etcd timeout")
                                                   : read_ec.message();
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    Answer answer;
    answer.status = parser.get().result_int();
    answer.body = json::parse(parser.get().body(), nullptr, false);
    if (answer.body.is_discarded()) {
        co_return "answered HTTP " + std::to_string(answer.status) + " with a body that is not JSON";
    }
    co_return answer;
}

awaitable<EtcdResult<json>> EtcdClient::post(std::string_view path, const json& body) {
    return post_text(path, body.dump());
}

awaitable<EtcdResult<json>> EtcdClient::post_text(std::string_view path, std::string text) {
    std::string failures;
    bool answered = false;
    // The watch on the same client moves preferred_ while this call waits on a member: the
    // round starts from where it began, so that it still asks every member once.
    const std::size_t first = preferred_;
    for (std::size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
        const std::size_t index = (first + attempt) % endpoints_.size();
        const auto& endpoint = endpoints_[index];
        auto outcome = co_await post_once(endpoint, path, text);
        std::string failure;
        if (auto* answer = std::get_if<Answer>(&outcome)) {
            if (answer->status == 200) {
                preferred_ = index;
                co_return std::move(answer->body);
            }
            failure = error_text(answer->body, answer->status);
            if (!member_unavailable(answer->status, failure)) {
                // etcd understood and refused (a request too large, a bad key): the same on every
                // member, so asking the next one would not help.
                preferred_ = index;
                co_return EtcdFailure{"etcd at " + endpoint.url + ": " + failure, false};
            }
            answered = true;
        } else {
            failure = std::get<std::string>(outcome);
        }
        failures += (failures.empty() ? "" : "; ") + endpoint.url + ": " + failure;
    }
    co_return EtcdFailure{"etcd unavailable (" + failures + ")", !answered};
}

awaitable<EtcdResult<EtcdRange>> EtcdClient::range(std::string key, std::string range_end, std::int64_t limit,
                                                   bool descending, bool keys_only) {
    json request;
    request["key"] = util::base64_encode(key);
    if (!range_end.empty()) {
        request["range_end"] = util::base64_encode(range_end);
    }
    if (limit > 0) {
        request["limit"] = std::to_string(limit);
    }
    if (descending) {
        request["sort_order"] = "DESCEND";
        request["sort_target"] = "KEY";
    }
    if (keys_only) {
        request["keys_only"] = true;
    }
    auto answer = co_await post("/v3/kv/range", request);
    if (auto* failure = std::get_if<EtcdFailure>(&answer)) {
        co_return std::move(*failure);
    }
    const json& body = std::get<json>(answer);
    EtcdRange result;
    result.revision = header_revision(body);
    result.count = number_field(body, "count");
    if (const auto kvs = body.find("kvs"); kvs != body.end() && kvs->is_array()) {
        for (const auto& kv : *kvs) {
            auto decoded = decode_kv(kv);
            if (!decoded) {
                co_return EtcdFailure{"etcd at " + current_endpoint() + ": a key or value is not valid base64", false};
            }
            result.kvs.push_back(std::move(*decoded));
        }
    }
    co_return result;
}

awaitable<EtcdResult<std::uint64_t>> EtcdClient::put(std::string key, std::string_view value) {
    // Written by hand: base64 needs no JSON escaping, and a chunk's megabyte went through
    // nlohmann's serializer a character at a time.
    const std::string encoded_key = util::base64_encode(key);
    std::string request;
    request.reserve(encoded_key.size() + (value.size() + 2) / 3 * 4 + 32);
    request += R"({"key":")";
    request += encoded_key;
    request += R"(","value":")";
    request += util::base64_encode(value);
    request += R"("})";
    auto answer = co_await post_text("/v3/kv/put", std::move(request));
    if (auto* failure = std::get_if<EtcdFailure>(&answer)) {
        co_return std::move(*failure);
    }
    co_return header_revision(std::get<json>(answer));
}

awaitable<std::optional<EtcdFailure>> EtcdClient::compact(std::uint64_t revision) {
    json request;
    request["revision"] = std::to_string(revision);
    auto answer = co_await post("/v3/kv/compaction", request);
    if (auto* failure = std::get_if<EtcdFailure>(&answer)) {
        if (failure->message.find("required revision has been compacted") != std::string::npos) {
            co_return std::nullopt;
        }
        co_return std::move(*failure);
    }
    co_return std::nullopt;
}

awaitable<EtcdResult<EtcdTxnResult>> EtcdClient::txn(const json& request) {
    auto answer = co_await post("/v3/kv/txn", request);
    if (auto* failure = std::get_if<EtcdFailure>(&answer)) {
        co_return std::move(*failure);
    }
    json& body = std::get<json>(answer);
    EtcdTxnResult result;
    result.revision = header_revision(body);
    result.succeeded = body.value("succeeded", false);
    if (auto responses = body.find("responses"); responses != body.end()) {
        result.responses = std::move(*responses);
    }
    co_return result;
}

awaitable<EtcdResult<std::uint64_t>> EtcdClient::delete_range(std::string key, std::string range_end) {
    json request;
    request["key"] = util::base64_encode(key);
    request["range_end"] = util::base64_encode(range_end);
    auto answer = co_await post("/v3/kv/deleterange", request);
    if (auto* failure = std::get_if<EtcdFailure>(&answer)) {
        co_return std::move(*failure);
    }
    co_return number_field(std::get<json>(answer), "deleted");
}

awaitable<EtcdWatchResult> EtcdClient::wait_for_change(std::string key, std::string range_end,
                                                       std::uint64_t start_revision,
                                                       std::chrono::milliseconds idle_timeout) {
    using Kind = EtcdWatchResult::Kind;
    json create;
    create["key"] = util::base64_encode(key);
    create["start_revision"] = std::to_string(start_revision);
    if (!range_end.empty()) {
        create["range_end"] = util::base64_encode(range_end);
    }
    json watch;
    watch["create_request"] = std::move(create);
    const std::string body = watch.dump();

    std::string failures;
    const std::size_t first = preferred_;  // as in post(): every member once, whatever others pick
    for (std::size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
        const std::size_t index = (first + attempt) % endpoints_.size();
        const auto& endpoint = endpoints_[index];
        auto fail = [&](const std::string& why) {
            failures += (failures.empty() ? "" : "; ") + endpoint.url + ": " + why;
        };
        tcp_resolver resolver(executor_);
        auto [resolve_ec, resolved] = co_await resolver.async_resolve(endpoint.host, endpoint.port);
        if (resolve_ec) {
            fail(resolve_ec.message());
            continue;
        }
        tcp_stream stream(executor_);
        stream.expires_after(timeout_);
        auto [connect_ec, connected] = co_await stream.async_connect(resolved);
        if (connect_ec) {
            fail(connect_ec == beast::error::timeout ? "connect timed out" : connect_ec.message());
            continue;
        }
        http::request<http::string_body> request{http::verb::post, "/v3/watch", 11};
        request.set(http::field::host, endpoint.host + ":" + endpoint.port);
        request.set(http::field::content_type, "application/json");
        request.body() = body;
        request.prepare_payload();
        auto [write_ec, written] = co_await http::async_write(stream, request);
        if (write_ec) {
            fail(write_ec.message());
            continue;
        }
        // The answer is a chunked stream of JSON objects, one per line, for as long as the watch
        // lives: read it piece by piece.
        beast::flat_buffer buffer;
        http::response_parser<http::buffer_body> parser;
        parser.body_limit(boost::none);
        auto [header_ec, header_n] = co_await http::async_read_header(stream, buffer, parser);
        if (header_ec) {
            fail(header_ec == beast::error::timeout ? "no answer within the etcd timeout" : header_ec.message());
            continue;
        }
        if (parser.get().result_int() != 200) {
            fail("watch answered HTTP " + std::to_string(parser.get().result_int()));
            continue;
        }
        preferred_ = index;
        std::string pending;
        std::vector<char> piece(16 * 1024);
        for (;;) {
            parser.get().body().data = piece.data();
            parser.get().body().size = piece.size();
            stream.expires_after(idle_timeout);
            auto [read_ec, n] = co_await http::async_read_some(stream, buffer, parser);
            if (read_ec == beast::error::timeout) {
                co_return watch_result(Kind::idle);
            }
            if (read_ec && read_ec != http::error::need_buffer) {
                co_return watch_result(Kind::failed, 0, "etcd watch at " + endpoint.url + ": " + read_ec.message());
            }
            pending.append(piece.data(), piece.size() - parser.get().body().size);
            if (pending.size() > max_answer_bytes) {
                co_return watch_result(Kind::failed, 0, "etcd watch at " + endpoint.url + ": a message without end");
            }
            for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n')) {
                const json message = json::parse(std::string_view(pending).substr(0, newline), nullptr, false);
                pending.erase(0, newline + 1);
                if (!message.is_object()) {
                    continue;
                }
                if (const auto error = message.find("error"); error != message.end()) {
                    co_return watch_result(Kind::failed, 0,
                                              "etcd watch at " + endpoint.url + ": " + error_text(*error, 0));
                }
                const auto result = message.find("result");
                if (result == message.end() || !result->is_object()) {
                    continue;
                }
                if (const auto compacted = number_field(*result, "compact_revision"); compacted != 0) {
                    co_return watch_result(Kind::compacted, compacted);
                }
                if (result->value("canceled", false)) {
                    co_return watch_result(Kind::failed, 0,
                                              "etcd canceled the watch: " + result->value("cancel_reason", std::string()));
                }
                const auto events = result->find("events");
                if (events == result->end() || !events->is_array() || events->empty()) {
                    continue;  // the "created" answer, or a progress notification
                }
                EtcdWatchResult change = watch_result(Kind::changed, header_revision(*result));
                for (const auto& event : *events) {
                    if (event.value("type", std::string("PUT")) == "DELETE") {
                        change.deleted = true;
                        continue;
                    }
                    if (auto kv = decode_kv(event.value("kv", json::object()))) {
                        change.puts.push_back(std::move(*kv));
                    }
                }
                boost::system::error_code ignored;
                stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
                co_return change;
            }
            if (parser.is_done()) {
                co_return watch_result(Kind::failed, 0, "etcd at " + endpoint.url + " ended the watch");
            }
        }
    }
    co_return watch_result(Kind::failed, 0, "etcd unavailable (" + failures + ")");
}

}  // namespace cell::controlplane
