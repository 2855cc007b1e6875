#pragma once
// The control-plane protocol: JSON text frames over a WebSocket (docs/protocol.md).
//
//   CP -> router  {"type":"config_snapshot","revision":R,"version":..., <the whole routing config>}
//   router -> CP  {"type":"ack","version":..., "revision":R, "content_hash":..., "node_id":...}
//                 {"type":"nack","version":..., "revision":R, "error":..., "serving_version":..., "node_id":...}
//                 {"type":"hello","node_id":..., "version":<serving>, "revision":<serving>}  (optional)
//
// The version is always the one the message answers. "revision" is the store revision the
// config was read at (etcd's); it orders versions, so a router never applies one older than
// what it serves. It is absent (0) when the control plane watches a file. Extra fields are ignored by peers that
// do not know them; unknown types decode to UnknownMessage so callers can log and go on.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace cell::controlplane {

inline constexpr std::string_view snapshot_type = "config_snapshot";

// The largest message each side reads; a bigger one is refused with close code 1009 (too big)
// before it is buffered, so a broken or hostile peer cannot make the other side allocate without
// bound. Snapshots carry a whole routing table; a router only sends hellos, acks and nacks (a nack
// lists validation errors, so it leaves room for a long one).
inline constexpr std::size_t max_snapshot_bytes = 64 * 1024 * 1024;
inline constexpr std::size_t max_router_message_bytes = 1024 * 1024;

// A full routing config pushed by the control plane. The frame text itself is a valid config
// document (a top-level "type" is accepted by config::load_config), so it is kept as is.
struct ConfigSnapshot {
    std::string version;  // "" when the frame has no string version
    std::string text;     // the whole frame
    std::uint64_t revision = 0;  // 0 when the frame has none (a file-mode control plane)
};

struct Ack {
    std::string version;
    std::string content_hash;  // optional
    std::string node_id;       // optional
    std::uint64_t revision = 0;  // optional: the revision of the snapshot it answers
};

struct Nack {
    std::string version;
    std::string error;
    std::string serving_version;  // optional: what the router keeps serving
    std::string node_id;          // optional
    std::uint64_t revision = 0;   // optional: the revision of the snapshot it answers
};

struct Hello {
    std::string node_id;
    std::string version;  // the version the router serves when it connects
    std::uint64_t revision = 0;  // and its store revision (0: none, e.g. from a file)
};

struct UnknownMessage {
    std::string type;
};

using Message = std::variant<ConfigSnapshot, Ack, Nack, Hello, UnknownMessage>;

struct DecodeError {
    std::string reason;
};

// Never throws. Malformed JSON, a non-object, or a missing or non-string "type" is a
// DecodeError; a known type with wrong field types is a DecodeError naming the field.
std::variant<Message, DecodeError> decode_message(std::string_view text);

std::string encode(const Ack& ack);
std::string encode(const Nack& nack);
std::string encode(const Hello& hello);

// Wraps a config document (the control plane's file content) into a snapshot frame: the same
// object with "type":"config_snapshot" (and "revision":R when `revision` is not 0) added, as the
// first fields of the original text when that is certainly equivalent, else re-serialized. The
// same text and revision always give the same frame, so replicas send identical bytes. Returns an
// empty string when `config_json` is not a JSON object. `config_json` must be valid JSON: the
// control plane encodes validated configs only.
std::string encode_snapshot(std::string_view config_json, std::uint64_t revision = 0);

// The "revision" a config document or snapshot frame carries at its top level; 0 when it has
// none or the text is not a JSON object with an unsigned integer there.
std::uint64_t revision_of(std::string_view config_json);

}  // namespace cell::controlplane
