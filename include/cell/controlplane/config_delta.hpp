#pragma once
// Deltas: the change from one routing config to the next, sent to a router that already serves
// the first, in place of the whole snapshot. A million-key table is 30 MB on the wire; moving 1 %
// of its keys is a delta of about 300 KB, so a fleet converges on a change in a fraction of the
// time and the control plane's one thread writes a hundredth of the bytes.
//
// The frame (protocol.hpp) carries the routing keys added or moved ("set") and removed
// ("remove"), and everything else in the config whole ("config", its routingTable emptied):
// placements, endpoints, policies and proxy settings are small, and sending them whole means a
// router never has to merge anything but keys. It names its base by the content hash of the
// snapshot it applies to; a router that serves anything else answers with a nack asking for the
// full snapshot. It also carries the key count and a digest of the resulting table, so a router
// that put together something other than what the control plane has refuses it the same way
// instead of serving it.
//
// Pure functions, no I/O: the control plane encodes, the router applies.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "cell/config/types.hpp"
#include "cell/routing/table.hpp"

namespace cell::controlplane {

// An order-independent digest of a routing table's keys and the placements they map to: the
// sum of the FNV-1a 64-bit hashes of "key\0placement". Both sides compute it the same way.
std::uint64_t table_digest(const routing::Table& table);
std::uint64_t table_digest(const config::Config& config);

struct DeltaSource {
    const routing::Table* base = nullptr;  // the table of the snapshot the routers serve
    std::string base_hash;                 // that snapshot's content hash
    const routing::Table* next = nullptr;  // the table of the new config
    std::string_view next_text;            // the new config document (validated)
    std::string next_hash;                 // the content hash of the new snapshot frame
    std::string version;
    std::uint64_t revision = 0;
};

// The part of a delta that depends on the two tables only, not on the new snapshot's revision or
// frame: the control plane computes it while the store takes the write that gives the revision.
struct DeltaKeys {
    std::string set;     // a JSON object: each key added or moved -> its placement
    std::string remove;  // a JSON array of the keys removed
    std::uint64_t routing_keys = 0;  // in `next`
    std::uint64_t digest = 0;        // table_digest(next)
};

// nullopt when the keys alone take more than `budget` bytes.
std::optional<DeltaKeys> delta_keys(const routing::Table& base, const routing::Table& next, std::size_t budget);
// The same from the two configs the tables are built from. Much the cheaper for a large table
// with a small change: rows that stayed in place are compared in order, where the tables take
// two hash lookups per key.
std::optional<DeltaKeys> delta_keys(const config::Config& base, const config::Config& next, std::size_t budget);

// The delta frame; nullopt when a delta would not pay (it is more than a quarter of the size of
// `full_frame_bytes`) or cannot be made safely (the document's routingTable is not a plain
// top-level member): the routers then get the whole snapshot, as without deltas. `prepared`,
// when given, is delta_keys() of the source's two tables, computed earlier.
std::optional<std::string> encode_delta(const DeltaSource& source, std::size_t full_frame_bytes,
                                        const DeltaKeys* prepared = nullptr);

// A delta put together with the table a router serves: the whole new config (not yet validated)
// and the text to keep in the router's cache, when asked for.
struct AppliedDelta {
    config::Config config;
    std::string document;  // the config as a snapshot document ("" unless requested)
};

// Why a delta cannot be applied; the router answers with a nack asking for the full snapshot.
struct DeltaRefusal {
    std::string reason;
};

// Applies `frame` (a decoded config_delta) to `base`, whose snapshot content hash the caller
// has already compared with the delta's base_hash. `with_document` asks for the cache text.
std::variant<AppliedDelta, DeltaRefusal> apply_delta(const routing::Table& base, std::string_view frame,
                                                     bool with_document);

}  // namespace cell::controlplane
