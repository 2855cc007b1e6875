#include "cell/proxy/request_version.hpp"

#include <string_view>

namespace cell::proxy {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

VersionFix fix_request_version(std::span<char> head) {
    const std::string_view text(head.data(), head.size());
    const auto line_end = text.find("\r\n");
    // request-line = method SP request-target SP HTTP-version, HTTP-version = "HTTP/" DIGIT "." DIGIT
    constexpr std::size_t version_size = 8;
    if (line_end == std::string_view::npos || line_end < version_size + 1) {
        return VersionFix::malformed;
    }
    char* const version = head.data() + line_end - version_size;
    const std::string_view written(version, version_size);
    if (version[-1] != ' ' || written.substr(0, 5) != "HTTP/" || !is_digit(written[5]) || written[6] != '.' ||
        !is_digit(written[7])) {
        return VersionFix::malformed;
    }
    if (written[5] != '1') {
        return VersionFix::unsupported;
    }
    // Beast refused it, so the minor version is neither 0 nor 1.
    version[7] = '1';
    return VersionFix::read_as_http11;
}

}  // namespace cell::proxy
