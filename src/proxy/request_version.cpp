#include "cell/proxy/request_version.hpp"

#include <algorithm>
#include <string_view>

namespace cell::proxy {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The request line as far as it has arrived: up to its CRLF, or to the end of what was read.
// Beast refuses a version as soon as it has read its eight characters, so the CRLF may still be
// on its way; the line's end arrives later whatever the decision here.
std::string_view request_line(std::string_view head) {
    const auto line_end = head.find("\r\n");
    if (line_end != std::string_view::npos) {
        return head.substr(0, line_end);
    }
    if (!head.empty() && head.back() == '\r') {
        head.remove_suffix(1);
    }
    return head;
}

}  // namespace

VersionFix fix_request_version(std::span<char> head) {
    const std::string_view text(head.data(), head.size());
    const std::string_view line = request_line(text);
    // request-line = method SP request-target SP HTTP-version, HTTP-version = "HTTP/" DIGIT "." DIGIT;
    // neither the method (a token) nor the target holds a space, so a line has exactly two.
    constexpr std::size_t version_size = 8;
    if (line.find_first_of("\n") != std::string_view::npos || std::count(line.begin(), line.end(), ' ') != 2) {
        return VersionFix::malformed;
    }
    const auto version_at = line.rfind(' ') + 1;
    const std::string_view written = line.substr(version_at);
    if (line.find(' ') == 0 || line.find(' ') + 1 == line.rfind(' ') || written.size() != version_size ||
        written.substr(0, 5) != "HTTP/" || !is_digit(written[5]) || written[6] != '.' || !is_digit(written[7])) {
        return VersionFix::malformed;
    }
    if (written[5] != '1') {
        return VersionFix::unsupported;
    }
    // HTTP/1.0 and HTTP/1.1 are Beast's own: refused, they were refused for something else, and
    // rewriting nothing would have the caller read the same line again, forever.
    if (written[7] == '0' || written[7] == '1') {
        return VersionFix::malformed;
    }
    head[version_at + version_size - 1] = '1';
    return VersionFix::read_as_http11;
}

}  // namespace cell::proxy
