#pragma once
// A small synchronous HTTP/1.1 client for the control plane's API: one request per connection,
// the whole exchange under one deadline, http only. Beast stays inside http_client.cpp.

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace cell::cellctl {

// "http://host:port" as given on the command line, split for connecting.
struct BaseUrl {
    std::string text;  // as given, without a trailing "/"
    std::string host;  // without brackets
    std::string port;  // "80" when the URL names none
    std::string authority;  // for the Host header
};

// Rejects anything but an absolute http URL with a host and no path, query or fragment.
std::variant<BaseUrl, std::string> parse_base_url(std::string_view text);

using QueryParameters = std::vector<std::pair<std::string, std::string>>;

// "/path?name=value&..." with every value percent-encoded (all but unreserved characters, so
// that "+" and "%" arrive as written).
std::string make_target(std::string_view path, const QueryParameters& parameters = {});

struct HttpRequest {
    std::string method = "GET";
    std::string target = "/";
    std::string body;  // sent as application/json when not empty
};

struct HttpResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    // The first value of `name` (case-insensitive), or "".
    std::string header(std::string_view name) const;
};

// The request did not complete: no connection, timeout, reset, malformed or oversized answer.
class NetworkError : public std::runtime_error {
public:
    NetworkError(const std::string& reason, bool connected) : std::runtime_error(reason), connected_(connected) {}
    // False when no connection was made (unresolvable, refused, connect timeout): the request
    // surely did not reach the server, so another control plane may be tried.
    bool connected() const { return connected_; }

private:
    bool connected_;
};

inline constexpr std::uint64_t max_response_body_bytes = 256ull * 1024 * 1024;

// Throws NetworkError; any HTTP status is a response.
HttpResponse send_request(const BaseUrl& base, const HttpRequest& request, std::chrono::milliseconds timeout);

}  // namespace cell::cellctl
