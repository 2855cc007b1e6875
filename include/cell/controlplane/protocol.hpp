#pragma once
// The control-plane protocol: JSON text frames over a WebSocket (docs/protocol.md).
//
//   CP -> router  {"type":"config_snapshot","revision":R,"version":..., <the whole routing config>}
//                 {"type":"config_delta","version":...,"revision":R,"base_hash":..,"content_hash":..,
//                  "routing_keys":N,"table_digest":..,"routingTable":{"set":{..},"remove":[..]},
//                  "config":{<the config without its routing keys>}}   (config_delta.hpp; only
//                  to a router whose hello said "deltas":true and whose last ack is its base)
//   router -> CP  {"type":"ack","version":..., "revision":R, "content_hash":..., "node_id":...}
//                 {"type":"nack","version":..., "revision":R, "error":..., "serving_version":..., "node_id":...,
//                  "need_full":true (a delta it cannot apply: send the whole snapshot)}
//                 {"type":"hello","node_id":..., "version":<serving>, "revision":<serving>,
//                  "max_snapshot_bytes":<the largest snapshot it takes>, "deltas":true}
//                                                                        (optional; the fields too)
//                 {"type":"report","node_id":...,"versions":[{"version":..,"content_hash":..,
//                  "requests":N,"errors":N,"upstream_failures":N}, ...]}
//                                (after each ack and every --report-interval: what the requests
//                                 served under the current config, then the one before, came to)
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
#include <vector>

namespace cell::controlplane {

inline constexpr std::string_view snapshot_type = "config_snapshot";
inline constexpr std::string_view delta_type = "config_delta";

// The default for --max-snapshot-bytes on both sides: a router takes from the control plane the
// largest table it takes from a file (reload::max_config_file_bytes; a million routing keys
// take about 30 MiB). A router reads a bigger snapshot in pieces, keeps none of it past the
// limit and nacks it; the control plane refuses to publish a config whose frame is bigger than
// its own limit. A router only sends hellos, acks and nacks (a nack lists validation errors, so
// it leaves room for a long one); a bigger message is refused with close code 1009 (too big).
inline constexpr std::uint64_t default_max_snapshot_bytes = 64ull * 1024 * 1024;
inline constexpr std::size_t max_router_message_bytes = 1024 * 1024;

// A full routing config pushed by the control plane. The frame text itself is a valid config
// document (a top-level "type" is accepted by config::load_config), so it is kept as is.
struct ConfigSnapshot {
    std::string version;  // "" when the frame has no string version
    std::string text;     // the whole frame
    std::uint64_t revision = 0;  // 0 when the frame has none (a file-mode control plane)
};

// The change from the config a router serves (named by the content hash of its snapshot) to a
// new one; the body is read by apply_delta (config_delta.hpp).
struct ConfigDelta {
    std::string version;
    std::uint64_t revision = 0;
    std::string base_hash;     // content hash of the snapshot it applies to
    std::string content_hash;  // content hash of the whole snapshot it stands for
    std::string text;          // the whole frame
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
    // The router could not apply a delta (it lacks the base, or the result differs from the
    // control plane's): the control plane sends it the whole snapshot instead.
    bool need_full = false;
};

struct Hello {
    std::string node_id;
    std::string version;  // the version the router serves when it connects
    // The largest snapshot frame the router reads (--max-snapshot-bytes); 0 when it did not say.
    // The control plane sends it nothing bigger.
    std::uint64_t max_snapshot_bytes = 0;
    std::uint64_t revision = 0;  // the store revision it serves (0: none, e.g. from a file)
    bool deltas = false;         // it applies config_delta frames
};

// The requests a router served under one config version, since it began serving it: how many,
// how many ended in an error (a 5xx sent to the client, or the cell failed), and how many of
// those the cell failed. Staged rollouts compare canaries with the rest on these.
struct VersionReport {
    std::string version;
    std::string content_hash;  // of the snapshot it came from; "" when unknown (a file, a cache)
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
    std::uint64_t upstream_failures = 0;
};

struct Report {
    std::string node_id;
    std::vector<VersionReport> versions;  // the version served now first; at most max_reported_versions
};
inline constexpr std::size_t max_reported_versions = 4;

struct UnknownMessage {
    std::string type;
};

using Message = std::variant<ConfigSnapshot, ConfigDelta, Ack, Nack, Hello, Report, UnknownMessage>;

struct DecodeError {
    std::string reason;
};

// Never throws. Malformed JSON, a non-object, or a missing or non-string "type" is a
// DecodeError; a known type with wrong field types is a DecodeError naming the field.
std::variant<Message, DecodeError> decode_message(std::string_view text);

std::string encode(const Ack& ack);
std::string encode(const Nack& nack);
std::string encode(const Hello& hello);
std::string encode(const Report& report);

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

// Finds the top-level "version" string of a snapshot frame fed to it piece by piece, without
// keeping the frame: a router reads a snapshot over its limit this way, to name its version in
// the nack. Tracks strings and nesting only; escapes in the version are kept undecoded. The
// version stays "" when the frame has none, or a non-string one.
class SnapshotVersionScanner {
public:
    void feed(std::string_view piece);
    bool done() const { return done_; }
    const std::string& version() const { return version_; }

private:
    enum class Capture { none, key, value };
    static constexpr std::size_t max_captured_bytes = 1024;
    void take(char c);
    void end_string();

    int depth_ = 0;
    bool in_string_ = false;
    bool escaped_ = false;
    bool expect_key_ = false;
    bool key_is_version_ = false;
    bool value_is_version_ = false;
    bool done_ = false;
    Capture capture_ = Capture::none;
    std::string text_;
    std::string version_;
};

// The top-level "version" of a snapshot frame's text (or its first bytes): "" when none is found.
std::string snapshot_version_from_prefix(std::string_view prefix);

// The reason a router gives in its nack for a snapshot over its limit, and the control plane in
// /status for one it did not send to a router that announced a smaller limit.
std::string oversized_snapshot_reason(std::uint64_t bytes, std::uint64_t limit);

}  // namespace cell::controlplane
