#include "cell/controlplane/protocol.hpp"

#include <nlohmann/json.hpp>

namespace cell::controlplane {
namespace {

using nlohmann::json;

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

}  // namespace

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
        snapshot.text = std::string(text);
        return Message{std::move(snapshot)};
    }
    if (type == "ack") {
        Ack ack;
        if (!read_string(document, "version", ack.version, error) ||
            !read_string(document, "content_hash", ack.content_hash, error) ||
            !read_string(document, "node_id", ack.node_id, error)) {
            return DecodeError{"ack: " + error};
        }
        return Message{std::move(ack)};
    }
    if (type == "nack") {
        Nack nack;
        if (!read_string(document, "version", nack.version, error) ||
            !read_string(document, "error", nack.error, error) ||
            !read_string(document, "serving_version", nack.serving_version, error) ||
            !read_string(document, "node_id", nack.node_id, error)) {
            return DecodeError{"nack: " + error};
        }
        return Message{std::move(nack)};
    }
    if (type == "hello") {
        Hello hello;
        if (!read_string(document, "node_id", hello.node_id, error) ||
            !read_string(document, "version", hello.version, error)) {
            return DecodeError{"hello: " + error};
        }
        return Message{std::move(hello)};
    }
    return Message{UnknownMessage{type}};
}

std::string encode(const Ack& ack) {
    json message{{"type", "ack"}, {"version", ack.version}};
    if (!ack.content_hash.empty()) {
        message["content_hash"] = ack.content_hash;
    }
    if (!ack.node_id.empty()) {
        message["node_id"] = ack.node_id;
    }
    return message.dump();
}

std::string encode(const Nack& nack) {
    json message{{"type", "nack"}, {"version", nack.version}, {"error", nack.error}};
    if (!nack.serving_version.empty()) {
        message["serving_version"] = nack.serving_version;
    }
    if (!nack.node_id.empty()) {
        message["node_id"] = nack.node_id;
    }
    return message.dump();
}

std::string encode(const Hello& hello) {
    return json{{"type", "hello"}, {"node_id", hello.node_id}, {"version", hello.version}}.dump();
}

std::string encode_snapshot(std::string_view config_json) {
    json document = json::parse(config_json, nullptr, false);
    if (document.is_discarded() || !document.is_object()) {
        return {};
    }
    document["type"] = snapshot_type;
    return document.dump();
}

}  // namespace cell::controlplane
