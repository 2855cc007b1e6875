#pragma once
// What to do with a request line whose HTTP version Beast's parser refuses: Beast reads only
// HTTP/1.0 and HTTP/1.1, but RFC 9110 §2.5 asks a recipient to handle a higher minor version of
// a major version it implements as the highest minor version it knows.

#include <span>

namespace cell::proxy {

enum class VersionFix {
    read_as_http11,  // "HTTP/1.2" .. "HTTP/1.9": the line now says HTTP/1.1; parse it again
    unsupported,     // a well-formed version of another major (HTTP/0.9, HTTP/2.0, ...): 505
    malformed,       // not an HTTP-version at all: 400
};

// Looks at the request line at the start of `head` (the bytes Beast declined, still unconsumed)
// and, for a higher HTTP/1 minor version, rewrites that one digit in place.
VersionFix fix_request_version(std::span<char> head);

}  // namespace cell::proxy
