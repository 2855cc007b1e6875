#include "cell/controlplane/protocol.hpp"

#include <nlohmann/json.hpp>

namespace cell::controlplane {
namespace {

using nlohmann::json;

// A nack quotes the parser's error, which may quote bytes that are not UTF-8: send them as
// U+FFFD rather than fail to send the nack at all.
std::string to_text(const json& message) { return message.dump(-1, ' ', false, json::error_handler_t::replace); }

// Reads an optional string field; a present field of another type is an error.
bool read_string(const json& object, const char* field, std::string& out, std::string& error) {
    const auto it = object.find(field);
    if (it == object.end() || it->is_null()) {
        return true;
    }
    if (!it->is_string()) {
        error = std::string("field \"") + field + "\" must be a string";
        return false;
    }
    out = it->get<std::string>();
    return true;
}

// Reads an optional revision; a present field that is not an unsigned integer is an error.
bool read_revision(const json& object, std::uint64_t& out, std::string& error) {
    const auto it = object.find("revision");
    if (it == object.end() || it->is_null()) {
        return true;
    }
    if (!it->is_number_unsigned()) {
        error = "field \"revision\" must be an unsigned integer";
        return false;
    }
    out = it->get<std::uint64_t>();
    return true;
}

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Where the top-level object of a JSON text opens, if the text is one object whose own keys,
// read raw, are certainly neither "type" nor "revision": then both can be added without parsing
// the document.
// npos when in doubt (not an object, a key written with escapes, or a "type" key). Assumes
// valid JSON: it tracks strings and nesting, nothing else.
std::size_t insertion_point_for_type(std::string_view text) {
    constexpr auto doubt = std::string_view::npos;
    std::size_t i = 0;
    while (i < text.size() && is_json_space(text[i])) {
        ++i;
    }
    if (i == text.size() || text[i] != '{') {
        return doubt;
    }
    const std::size_t open = i;
    int depth = 0;
    bool expect_key = false;
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '"') {
            const std::size_t start = i + 1;
            bool escaped = false;
            for (++i; i < text.size() && text[i] != '"'; ++i) {
                if (text[i] == '\\') {
                    escaped = true;
                    ++i;
                }
            }
            if (depth == 1 && expect_key) {
                const std::string_view key = text.substr(start, i - start);
                if (escaped || key == "type" || key == "revision") {
                    return doubt;
                }
                expect_key = false;
            }
        } else if (c == '{' || c == '[') {
            ++depth;
            expect_key = c == '{' && depth == 1;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                break;
            }
        } else if (c == ',' && depth == 1) {
            expect_key = true;
        }
    }
    if (i == text.size()) {
        return doubt;  // unterminated
    }
    for (++i; i < text.size(); ++i) {
        if (!is_json_space(text[i])) {
            return doubt;
        }
    }
    return open;
}

}  // namespace

void SnapshotVersionScanner::feed(std::string_view piece) {
    for (const char c : piece) {
        if (done_) {
            return;
        }
        if (in_string_) {
            if (escaped_) {
                escaped_ = false;
                take(c);
            } else if (c == '\\') {
                escaped_ = true;
            } else if (c == '"') {
                end_string();
            } else {
                take(c);
            }
            continue;
        }
        switch (c) {
            case '"':
                in_string_ = true;
                capture_ = depth_ == 1 && (expect_key_ || value_is_version_) ? (expect_key_ ? Capture::key : Capture::value)
                                                                                : Capture::none;
                text_.clear();
                break;
            case '{':
            case '[':
                if (depth_ == 1 && value_is_version_) {
                    done_ = true;  // a version that is not a string
                }
                ++depth_;
                expect_key_ = depth_ == 1 && c == '{';
                break;
            case '}':
            case ']':
                if (--depth_ <= 0) {
                    done_ = true;
                }
                break;
            case ':':
                if (depth_ == 1) {
                    expect_key_ = false;
                    value_is_version_ = key_is_version_;
                }
                break;
            case ',':
                if (depth_ == 1) {
                    expect_key_ = true;
                    value_is_version_ = false;
                }
                break;
            case ' ':
            case '\t':
            case '\n':
            case '\r':
                break;
            default:
                if (depth_ == 1 && value_is_version_) {
                    done_ = true;  // a number, true, false or null
                }
                break;
        }
    }
}

void SnapshotVersionScanner::take(char c) {
    if (capture_ != Capture::none && text_.size() < max_captured_bytes) {
        text_.push_back(c);
    }
}

void SnapshotVersionScanner::end_string() {
    in_string_ = false;
    if (capture_ == Capture::key) {
        key_is_version_ = text_ == "version";
    } else if (capture_ == Capture::value) {
        version_ = text_;
        done_ = true;
    }
    capture_ = Capture::none;
}

std::string snapshot_version_from_prefix(std::string_view prefix) {
    SnapshotVersionScanner scanner;
    scanner.feed(prefix);
    return scanner.version();
}

std::string oversized_snapshot_reason(std::uint64_t bytes, std::uint64_t limit) {
    return "snapshot of " + std::to_string(bytes) + " bytes exceeds this router's --max-snapshot-bytes " +
           std::to_string(limit);
}

std::variant<Message, DecodeError> decode_message(std::string_view text) {
    const json document = json::parse(text, nullptr, false);
    if (document.is_discarded()) {
        return DecodeError{"not valid JSON"};
    }
    if (!document.is_object()) {
        return DecodeError{"not a JSON object"};
    }
    const auto type_it = document.find("type");
    if (type_it == document.end() || !type_it->is_string()) {
        return DecodeError{"missing or non-string \"type\""};
    }
    const std::string type = type_it->get<std::string>();
    std::string error;
    if (type == snapshot_type) {
        ConfigSnapshot snapshot;
        // A snapshot with a bad version is still delivered: validation names the problem and
        // the router answers with a nack instead of dropping the frame.
        if (const auto version = document.find("version"); version != document.end() && version->is_string()) {
            snapshot.version = version->get<std::string>();
        }
        if (const auto revision = document.find("revision"); revision != document.end()) {
            if (!revision->is_number_unsigned()) {
                return DecodeError{"config_snapshot: field \"revision\" must be an unsigned integer"};
            }
            snapshot.revision = revision->get<std::uint64_t>();
        }
        snapshot.text = std::string(text);
        return Message{std::move(snapshot)};
    }
    if (type == delta_type) {
        ConfigDelta delta;
        if (!read_string(document, "version", delta.version, error) || !read_revision(document, delta.revision, error) ||
            !read_string(document, "base_hash", delta.base_hash, error) ||
            !read_string(document, "content_hash", delta.content_hash, error)) {
            return DecodeError{"config_delta: " + error};
        }
        if (delta.base_hash.empty() || delta.content_hash.empty()) {
            return DecodeError{"config_delta: \"base_hash\" and \"content_hash\" are required"};
        }
        delta.text = std::string(text);
        return Message{std::move(delta)};
    }
    if (type == "ack") {
        Ack ack;
        if (!read_string(document, "version", ack.version, error) ||
            !read_string(document, "content_hash", ack.content_hash, error) ||
            !read_string(document, "node_id", ack.node_id, error) || !read_revision(document, ack.revision, error)) {
            return DecodeError{"ack: " + error};
        }
        return Message{std::move(ack)};
    }
    if (type == "nack") {
        Nack nack;
        if (!read_string(document, "version", nack.version, error) ||
            !read_string(document, "error", nack.error, error) ||
            !read_string(document, "serving_version", nack.serving_version, error) ||
            !read_string(document, "node_id", nack.node_id, error) || !read_revision(document, nack.revision, error)) {
            return DecodeError{"nack: " + error};
        }
        if (const auto full = document.find("need_full"); full != document.end() && full->is_boolean()) {
            nack.need_full = full->get<bool>();
        }
        return Message{std::move(nack)};
    }
    if (type == "hello") {
        Hello hello;
        if (!read_string(document, "node_id", hello.node_id, error) ||
            !read_string(document, "version", hello.version, error) || !read_revision(document, hello.revision, error)) {
            return DecodeError{"hello: " + error};
        }
        // Optional and advisory: a value that is not a positive integer counts as not given, so
        // the hello (and the node id it carries) is never lost over it.
        if (const auto limit = document.find("max_snapshot_bytes");
            limit != document.end() && limit->is_number_unsigned()) {
            hello.max_snapshot_bytes = limit->get<std::uint64_t>();
        }
        if (const auto deltas = document.find("deltas"); deltas != document.end() && deltas->is_boolean()) {
            hello.deltas = deltas->get<bool>();
        }
        return Message{std::move(hello)};
    }
    if (type == "report") {
        Report report;
        if (!read_string(document, "node_id", report.node_id, error)) {
            return DecodeError{"report: " + error};
        }
        const auto versions = document.find("versions");
        if (versions == document.end() || !versions->is_array()) {
            return DecodeError{"report: field \"versions\" must be an array"};
        }
        for (const json& entry : *versions) {
            if (report.versions.size() == max_reported_versions) {
                break;  // the newest come first; older ones are of no use
            }
            if (!entry.is_object()) {
                return DecodeError{"report: each of \"versions\" must be an object"};
            }
            VersionReport counts;
            if (!read_string(entry, "version", counts.version, error) ||
                !read_string(entry, "content_hash", counts.content_hash, error)) {
                return DecodeError{"report: " + error};
            }
            for (const auto& [field, out] : {std::pair{"requests", &counts.requests}, std::pair{"errors", &counts.errors},
                                             std::pair{"upstream_failures", &counts.upstream_failures}}) {
                const auto it = entry.find(field);
                if (it == entry.end() || !it->is_number_unsigned()) {
                    return DecodeError{std::string("report: field \"") + field + "\" must be an unsigned integer"};
                }
                *out = it->get<std::uint64_t>();
            }
            if (counts.errors > counts.requests || counts.upstream_failures > counts.errors) {
                return DecodeError{"report: errors must not exceed requests, nor upstream failures errors"};
            }
            report.versions.push_back(std::move(counts));
        }
        return Message{std::move(report)};
    }
    return Message{UnknownMessage{type}};
}

std::string encode(const Ack& ack) {
    json message{{"type", "ack"}, {"version", ack.version}};
    if (ack.revision != 0) {
        message["revision"] = ack.revision;
    }
    if (!ack.content_hash.empty()) {
        message["content_hash"] = ack.content_hash;
    }
    if (!ack.node_id.empty()) {
        message["node_id"] = ack.node_id;
    }
    return to_text(message);
}

std::string encode(const Nack& nack) {
    json message{{"type", "nack"}, {"version", nack.version}, {"error", nack.error}};
    if (nack.revision != 0) {
        message["revision"] = nack.revision;
    }
    if (!nack.serving_version.empty()) {
        message["serving_version"] = nack.serving_version;
    }
    if (!nack.node_id.empty()) {
        message["node_id"] = nack.node_id;
    }
    if (nack.need_full) {
        message["need_full"] = true;
    }
    return to_text(message);
}

std::string encode(const Hello& hello) {
    json message{{"type", "hello"}, {"node_id", hello.node_id}, {"version", hello.version}};
    if (hello.revision != 0) {
        message["revision"] = hello.revision;
    }
    if (hello.max_snapshot_bytes != 0) {
        message["max_snapshot_bytes"] = hello.max_snapshot_bytes;
    }
    if (hello.deltas) {
        message["deltas"] = true;
    }
    return to_text(message);
}

std::string encode(const Report& report) {
    json versions = json::array();
    for (const VersionReport& counts : report.versions) {
        json entry{{"version", counts.version}, {"requests", counts.requests}, {"errors", counts.errors},
                   {"upstream_failures", counts.upstream_failures}};
        if (!counts.content_hash.empty()) {
            entry["content_hash"] = counts.content_hash;
        }
        versions.push_back(std::move(entry));
    }
    json message{{"type", "report"}, {"node_id", report.node_id}, {"versions", std::move(versions)}};
    return to_text(message);
}

std::string encode_snapshot(std::string_view config_json, std::uint64_t revision) {
    // A validated file of 100k keys takes ~115 ms to parse and dump again, only to add two fields:
    // insert them into the text instead whenever that is certainly equivalent.
    if (const auto open = insertion_point_for_type(config_json); open != std::string_view::npos) {
        std::string field = R"("type":"config_snapshot")";
        if (revision != 0) {
            field += R"(,"revision":)" + std::to_string(revision);
        }
        std::size_t next = open + 1;
        while (next < config_json.size() && is_json_space(config_json[next])) {
            ++next;
        }
        const bool empty_object = config_json[next] == '}';
        std::string frame;
        frame.reserve(config_json.size() + field.size() + 1);
        frame.append(config_json.substr(0, open + 1));
        frame.append(field);
        if (!empty_object) {
            frame.push_back(',');
        }
        frame.append(config_json.substr(open + 1));
        return frame;
    }
    json document = json::parse(config_json, nullptr, false);
    if (document.is_discarded() || !document.is_object()) {
        return {};
    }
    document["type"] = snapshot_type;
    if (revision != 0) {
        document["revision"] = revision;
    } else {
        document.erase("revision");
    }
    return document.dump();
}

std::uint64_t revision_of(std::string_view config_json) {
    // Used once at startup, on the cached snapshot: a whole parse is affordable there.
    const json document = json::parse(config_json, nullptr, false);
    if (!document.is_object()) {
        return 0;
    }
    const auto it = document.find("revision");
    return it != document.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

}  // namespace cell::controlplane
