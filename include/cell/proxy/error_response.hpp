#pragma once
// Every answer the router makes itself, and its status code, decided in one place
// (docs/observability.md has the table: outcome, status, Proxy-Status error type).

#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include "cell/observability/outcome.hpp"
#include "cell/proxy/headers.hpp"

namespace cell::proxy {

namespace http = boost::beast::http;
using observability::Outcome;

// What the router says when it answers a request itself.
struct LocalAnswer {
    LocalAnswer() = default;
    LocalAnswer(Outcome outcome, std::string detail, std::string_view proxy_error = {})
        : outcome(outcome), detail(std::move(detail)), proxy_error(proxy_error) {}

    // Names the config field of the limit that refused the request, and when to retry.
    LocalAnswer&& refused_by(std::string_view limit_field, unsigned retry_after = 0) && {
        limit = limit_field;
        retry_after_seconds = retry_after;
        return std::move(*this);
    }

    Outcome outcome = Outcome::bad_request;
    std::string detail;            // for people: the JSON "message" and the Proxy-Status details
    std::string_view proxy_error;  // RFC 9209 error type; empty: the outcome's usual one
    std::string_view limit;        // the config field that refused the request, if one did
    unsigned retry_after_seconds = 0;  // Retry-After, when not 0
};

http::status status_for(Outcome outcome);

// The RFC 9209 error type an outcome usually carries ("connection_refused", "http_request_error",
// ...); empty for the outcomes that are not errors.
std::string_view proxy_error_for(Outcome outcome);

// The Proxy-Status field value: `cellrouter; error=TYPE; details="..."`, the details as an
// sf-string (quotes and backslashes escaped, bytes outside printable ASCII shown as '?').
std::string proxy_status_value(std::string_view error_type, std::string_view details);

// A complete response with a short JSON body: {"error": outcome, "message": detail, "request_id"},
// plus "placement" and "limit" when a placement's limit refused the request; the routing headers
// of `route` (those that are set) and Proxy-Status.
http::response<http::string_body> make_local_response(const LocalAnswer& answer, const RouteHeaders& route,
                                                      unsigned version, bool keep_alive);

}  // namespace cell::proxy
