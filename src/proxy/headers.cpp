#include "cell/proxy/headers.hpp"

#include <array>

#include <boost/beast/core/string.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/authority_view.hpp>

#include "cell/util/request_id.hpp"

namespace cell::proxy {
namespace {

using boost::beast::iequals;

constexpr std::string_view forwarded_for_header = "X-Forwarded-For";
constexpr std::string_view forwarded_proto_header = "X-Forwarded-Proto";

constexpr std::array<std::string_view, 7> always_hop_by_hop{
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"};

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

// Calls `visit` with each non-empty, trimmed element of a comma-separated list.
template <typename Visit>
void for_each_token(std::string_view list, Visit&& visit) {
    while (!list.empty()) {
        const auto comma = list.find(',');
        const auto token = trim(list.substr(0, comma));
        if (!token.empty()) {
            visit(token);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        list.remove_prefix(comma + 1);
    }
}

bool names_in_list(std::string_view list, std::string_view name) {
    bool found = false;
    for_each_token(list, [&](std::string_view token) { found = found || iequals(token, name); });
    return found;
}

// All Connection field values joined, so a name listed in any of them is dropped.
std::string connection_tokens(const http::fields& fields) {
    std::string joined;
    for (auto [it, end] = fields.equal_range(http::field::connection); it != end; ++it) {
        if (!joined.empty()) {
            joined += ',';
        }
        joined += it->value();
    }
    return joined;
}

bool transfer_encoding_is_chunked_only(const RequestHeader& header) {
    int fields = 0;
    int tokens = 0;
    bool chunked = false;
    for (auto [it, end] = header.equal_range(http::field::transfer_encoding); it != end; ++it) {
        ++fields;
        for_each_token(it->value(), [&](std::string_view token) {
            ++tokens;
            chunked = iequals(token, "chunked");
        });
    }
    return fields == 1 && tokens == 1 && chunked;
}

// Beast has checked that every Content-Length is digits and that repeated ones agree; what is
// left is the bound.
bool content_length_within_bound(const RequestHeader& header) {
    bool within = true;
    for (auto [it, end] = header.equal_range(http::field::content_length); it != end; ++it) {
        for_each_token(it->value(), [&](std::string_view digits) {
            std::uint64_t value = 0;
            for (const char c : digits) {
                const auto digit = static_cast<std::uint64_t>(c - '0');
                if (c < '0' || c > '9' || value > (max_content_length - digit) / 10) {
                    within = false;
                    return;
                }
                value = value * 10 + digit;
            }
        });
    }
    return within;
}

void check_target(const RequestHeader& header, RequestCheck& check) {
    const std::string_view target = header.target();
    if (!target.empty() && target.front() == '/') {
        check.upstream_target = std::string(target);
        return;
    }
    if (target == "*" && header.method() == http::verb::options) {
        check.upstream_target = "*";
        return;
    }
    const auto url = boost::urls::parse_absolute_uri(target);
    if (url && (url->scheme() == "http" || url->scheme() == "https") && url->has_authority() &&
        !url->encoded_host().empty()) {
        // RFC 9112 §3.2.2: a proxy forwarding an absolute-form request derives Host from the
        // target, and sends the path and query on unchanged.
        const std::string_view path = url->encoded_path();
        check.upstream_target = path.empty() ? "/" : std::string(path);
        if (url->has_query()) {
            check.upstream_target += '?';
            check.upstream_target += std::string_view(url->encoded_query());
        }
        check.upstream_host = std::string(std::string_view(url->encoded_host_and_port()));
        return;
    }
    check.problem = RequestProblem::bad_target;
    check.detail = "request target must be origin-form (/path) or absolute-form (http://host/path)";
}

}  // namespace

bool is_valid_host(std::string_view value) {
    if (value.empty()) {
        return true;
    }
    // authority = [ userinfo "@" ] host [ ":" port ]; Host allows no userinfo.
    const auto authority = boost::urls::parse_authority(value);
    return authority && !authority->has_userinfo();
}

RequestCheck check_request(const RequestHeader& header) {
    RequestCheck check;
    const auto hosts = header.count(http::field::host);
    if (hosts > 1) {
        check.problem = RequestProblem::duplicate_host;
        check.detail = "more than one Host header";
        return check;
    }
    // HTTP/1.0 predates Host; RFC 9112 §3.2 requires it from HTTP/1.1 clients only.
    if (hosts == 0 && header.version() >= 11) {
        check.problem = RequestProblem::missing_host;
        check.detail = "missing Host header";
        return check;
    }
    const std::string_view host = hosts == 1 ? std::string_view(header[http::field::host]) : std::string_view{};
    if (!is_valid_host(host)) {
        check.problem = RequestProblem::bad_host;
        check.detail = "Host must be host[:port]";
        return check;
    }
    if (header.count(http::field::transfer_encoding) > 0) {
        // An HTTP/1.0 peer cannot mean chunked: whatever framing it intends, the router and the
        // cell could read it differently (RFC 9112 §6.1), so the message is refused whole.
        if (header.version() < 11) {
            check.problem = RequestProblem::transfer_encoding_in_http10;
            check.detail = "Transfer-Encoding is not allowed in an HTTP/1.0 request";
            return check;
        }
        if (!transfer_encoding_is_chunked_only(header)) {
            check.problem = RequestProblem::bad_transfer_encoding;
            check.detail = "Transfer-Encoding must be exactly \"chunked\"";
            return check;
        }
    }
    if (!content_length_within_bound(header)) {
        check.problem = RequestProblem::content_length_too_large;
        check.detail = "Content-Length must not exceed " + std::to_string(max_content_length);
        return check;
    }
    if (header.method() == http::verb::connect) {
        check.problem = RequestProblem::method_not_allowed;
        check.detail = "CONNECT is not supported";
        return check;
    }
    if (const auto expect = header.find(http::field::expect); expect != header.end()) {
        if (header.count(http::field::expect) > 1 || !iequals(trim(expect->value()), "100-continue")) {
            check.problem = RequestProblem::unsupported_expectation;
            check.detail = "only Expect: 100-continue is supported";
            return check;
        }
        check.expects_continue = true;
    }
    check.upstream_host = std::string(host);
    check_target(header, check);
    return check;
}

RoutingKey find_routing_key(const RequestHeader& header) {
    RoutingKey key{RoutingKeyProblem::missing, {}};
    bool seen = false;
    for (auto [it, end] = header.equal_range(routing_key_header); it != end; ++it) {
        const std::string_view value = trim(it->value());
        if (seen && value != key.value) {
            return {RoutingKeyProblem::conflicting, {}};
        }
        seen = true;
        key.value = value;
    }
    if (!seen) {
        return key;
    }
    key.problem = key.value.empty() ? RoutingKeyProblem::empty : RoutingKeyProblem::none;
    return key;
}

std::string request_id_for(const RequestHeader& header) {
    const auto it = header.find(request_id_header);
    if (it != header.end()) {
        const std::string_view value = it->value();
        bool sane = !value.empty() && value.size() <= 128;
        for (const char c : value) {
            sane = sane && c > 0x20 && c < 0x7f;
        }
        if (sane) {
            return std::string(value);
        }
    }
    return util::generate_request_id();
}

namespace {

bool is_lower_hex(std::string_view text) {
    return !text.empty() && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

bool all_zeros(std::string_view text) { return text.find_first_not_of('0') == std::string_view::npos; }

}  // namespace

std::string_view trace_id_of(const RequestHeader& header) {
    const auto [first, last] = header.equal_range(traceparent_header);
    if (first == last || std::next(first) != last) {
        return {};  // none, or repeated: Trace Context says to ignore both
    }
    const std::string_view value = first->value();
    // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2
    constexpr std::size_t v00_size = 55;
    if (value.size() < v00_size || value[2] != '-' || value[35] != '-' || value[52] != '-') {
        return {};
    }
    const std::string_view version = value.substr(0, 2);
    const std::string_view trace_id = value.substr(3, 32);
    const std::string_view parent_id = value.substr(36, 16);
    const std::string_view flags = value.substr(53, 2);
    if (!is_lower_hex(version) || version == "ff" || !is_lower_hex(trace_id) || !is_lower_hex(parent_id) ||
        !is_lower_hex(flags) || all_zeros(trace_id) || all_zeros(parent_id)) {
        return {};
    }
    if (version == "00" ? value.size() != v00_size : (value.size() > v00_size && value[v00_size] != '-')) {
        return {};
    }
    return trace_id;
}

bool is_hop_by_hop(std::string_view field_name, std::string_view connection_value) {
    for (const auto name : always_hop_by_hop) {
        if (iequals(field_name, name)) {
            return true;
        }
    }
    return !connection_value.empty() && names_in_list(connection_value, field_name);
}

namespace {

// The rewriting rules, written once for both destinations of a head: a Beast header or the
// bytes on the wire. `add(name, value)` appends one field.
template <typename AddField>
void copy_upstream_request_fields(const RequestHeader& in, const RequestCheck& check,
                                  const ForwardedFor& forwarded, std::string_view cell_authority, AddField&& add) {
    const std::string connection = connection_tokens(in);
    std::string forwarded_for;
    for (const auto& field : in) {
        const auto name = field.name();
        if (name == http::field::content_length || name == http::field::expect ||
            name == http::field::host || is_hop_by_hop(field.name_string(), connection)) {
            continue;
        }
        if (iequals(field.name_string(), forwarded_for_header)) {
            if (!forwarded_for.empty()) {
                forwarded_for += ", ";
            }
            forwarded_for += field.value();
            continue;
        }
        if (iequals(field.name_string(), forwarded_proto_header) ||
            iequals(field.name_string(), request_id_header)) {
            continue;
        }
        add(field.name_string(), field.value());
    }
    // A strict cell refuses an HTTP/1.1 request without Host: the cell's own authority stands
    // in when the client gave none (HTTP/1.0) or an empty one.
    add(http::to_string(http::field::host), check.upstream_host.empty() ? cell_authority : check.upstream_host);
    if (!forwarded_for.empty()) {
        forwarded_for += ", ";
    }
    forwarded_for += forwarded.client_address;
    add(forwarded_for_header, forwarded_for);
    add(forwarded_proto_header, forwarded.proto);
    add(request_id_header, forwarded.request_id);
}

// The router alone speaks about routing and failover: a cell's own copies of these headers
// would mislead, so they are dropped and the router's added at the end.
bool is_routing_header(std::string_view name) {
    return iequals(name, routed_to_header) || iequals(name, route_reason_header) ||
           iequals(name, request_id_header) || iequals(name, failover_reason_header) ||
           iequals(name, original_placement_header);
}

template <typename AddField>
void copy_downstream_response_fields(const ResponseHeader& in, const RouteHeaders& route, AddField&& add) {
    const std::string connection = connection_tokens(in);
    for (const auto& field : in) {
        if (field.name() == http::field::content_length || is_hop_by_hop(field.name_string(), connection) ||
            is_routing_header(field.name_string())) {
            continue;
        }
        add(field.name_string(), field.value());
    }
    add(routed_to_header, route.routed_to);
    add(route_reason_header, route.route_reason);
    add(request_id_header, route.request_id);
    if (!route.failover_reason.empty()) {
        add(failover_reason_header, route.failover_reason);
        add(original_placement_header, route.original_placement);
    }
}

}  // namespace

void build_upstream_request(const RequestHeader& in, const RequestCheck& check,
                            const ForwardedFor& forwarded, std::string_view cell_authority, RequestHeader& out) {
    out.method_string(in.method_string());
    out.target(check.upstream_target);
    out.version(11);
    copy_upstream_request_fields(in, check, forwarded, cell_authority,
                                 [&](std::string_view name, std::string_view value) { out.insert(name, value); });
}

void build_upstream_request(const RequestHeader& in, const RequestCheck& check,
                            const ForwardedFor& forwarded, std::string_view cell_authority, WireHead& out) {
    out.request_line(in.method_string(), check.upstream_target, 11);
    copy_upstream_request_fields(in, check, forwarded, cell_authority,
                                 [&](std::string_view name, std::string_view value) { out.field(name, value); });
}

void build_downstream_response(const ResponseHeader& in, const RouteHeaders& route,
                               ResponseHeader& out) {
    out.result(in.result_int());
    out.reason(in.reason());
    copy_downstream_response_fields(
        in, route, [&](std::string_view name, std::string_view value) { out.insert(name, value); });
}

void build_downstream_response(const ResponseHeader& in, const RouteHeaders& route, unsigned version,
                               WireHead& out) {
    out.status_line(version, in.result_int(), in.reason());
    copy_downstream_response_fields(
        in, route, [&](std::string_view name, std::string_view value) { out.field(name, value); });
}

bool is_valid_response_status(unsigned status) { return status >= 100 && status <= 599; }

void build_interim_response(const ResponseHeader& in, ResponseHeader& out) {
    out.result(in.result_int());
    out.reason(in.reason());
    const std::string connection = connection_tokens(in);
    for (const auto& field : in) {
        if (field.name() == http::field::content_length ||
            is_hop_by_hop(field.name_string(), connection)) {
            continue;
        }
        out.insert(field.name_string(), field.value());
    }
}

}  // namespace cell::proxy
