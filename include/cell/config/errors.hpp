#pragma once
// One problem found in a configuration, located by a JSON pointer (RFC 6901).

#include <string>
#include <vector>

namespace cell::config {

struct ConfigError {
    std::string pointer;  // e.g. "/cellEndpoints/tier2"; "" for the document itself
    std::string message;  // e.g. "not an absolute http(s) URL: \"ftp://x\""
};

using ConfigErrors = std::vector<ConfigError>;

// "<pointer>: <message>", or just the message when the pointer is empty.
std::string describe(const ConfigError& error);

// All errors joined with "; ", in the order they were found.
std::string describe(const ConfigErrors& errors);

}  // namespace cell::config
