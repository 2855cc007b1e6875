#include "cell/config/errors.hpp"

#include <cstdio>

#include "json_text.hpp"

namespace cell::config {

std::string describe(const ConfigError& error) {
    if (error.pointer.empty()) {
        return error.message;
    }
    return error.pointer + ": " + error.message;
}

std::string describe(const ConfigErrors& errors) {
    std::string text;
    for (const ConfigError& error : errors) {
        if (!text.empty()) {
            text += "; ";
        }
        text += describe(error);
    }
    return text;
}

namespace detail {

std::string pointer_token(std::string_view key) {
    std::string token;
    token.reserve(key.size());
    for (char c : key) {
        if (c == '~') {
            token += "~0";
        } else if (c == '/') {
            token += "~1";
        } else {
            token += c;
        }
    }
    return token;
}

std::string child_pointer(std::string_view parent, std::string_view key) {
    std::string pointer;
    pointer.reserve(parent.size() + key.size() + 1);
    pointer += parent;
    pointer += '/';
    pointer += pointer_token(key);
    return pointer;
}

std::string quoted(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    for (char c : text) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char escaped[7];
                    std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
                    out += escaped;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
    return out;
}

// "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error while parsing
// value - invalid literal" -> "line 1, column 2" and "while parsing value - invalid literal".
std::string describe_syntax_error(std::size_t position, std::string_view what) {
    if (const auto bracket = what.find("] "); what.starts_with("[json.exception.") &&
                                              bracket != std::string_view::npos) {
        what.remove_prefix(bracket + 2);
    }
    std::string location;
    if (what.starts_with("parse error at ")) {
        what.remove_prefix(std::string_view("parse error at ").size());
        const auto colon = what.find(": ");
        if (colon != std::string_view::npos) {
            location = " (" + std::string(what.substr(0, colon)) + ")";
            what.remove_prefix(colon + 2);
        }
    }
    if (what.starts_with("syntax error ")) {
        what.remove_prefix(std::string_view("syntax error ").size());
    }
    return "syntax error at byte " + std::to_string(position) + location + ": " + std::string(what);
}

}  // namespace detail
}  // namespace cell::config
