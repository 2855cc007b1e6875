#pragma once
// A client of etcd's v3 JSON gateway (POST /v3/kv/range, /v3/kv/put, /v3/kv/txn,
// /v3/kv/deleterange, /v3/watch; keys and values base64, 64-bit numbers as strings), over plain
// HTTP with Beast: the control plane needs no gRPC stack for the few calls it makes.
//
// Every call goes to the endpoint that answered last; one that cannot be reached, times out or
// answers that it cannot serve (no leader, shutting down) is left for the next in the list, so a
// cluster with a dead member keeps working. A call fails only when every endpoint did.
//
// Heavy (Asio): include only from .cpp files. Thread safety: none; one event loop uses it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "cell/controlplane/etcd_endpoint.hpp"
#include "cell/transport/io.hpp"

namespace cell::controlplane {

struct EtcdKeyValue {
    std::string key;
    std::string value;
    std::uint64_t create_revision = 0;
    std::uint64_t mod_revision = 0;
};

struct EtcdFailure {
    std::string message;       // names the endpoint(s) and the reason
    bool unreachable = false;  // no endpoint could be asked (versus: etcd answered with an error)
};

template <typename T>
using EtcdResult = std::variant<T, EtcdFailure>;

struct EtcdRange {
    std::uint64_t revision = 0;  // the store's revision when it was read (header.revision)
    std::vector<EtcdKeyValue> kvs;
    std::uint64_t count = 0;
};

struct EtcdTxnResult {
    std::uint64_t revision = 0;  // the store's revision after the transaction (its own, if it wrote)
    bool succeeded = false;
    nlohmann::json responses;    // the gateway's "responses" array, keys and values still base64
};

// What one wait on a watch brought.
struct EtcdWatchResult {
    enum class Kind { changed, compacted, idle, failed };
    Kind kind = Kind::failed;
    std::uint64_t revision = 0;  // changed: header revision; compacted: the compaction revision
    std::vector<EtcdKeyValue> puts;  // changed: the new values, oldest first
    bool deleted = false;            // changed: a delete was among the events
    std::string error;               // failed
};

class EtcdClient {
public:
    EtcdClient(io_executor executor, std::vector<EtcdEndpoint> endpoints, std::chrono::milliseconds timeout);

    // One key, or every key in [key, range_end) when range_end is given. `limit` 0 = all.
    awaitable<EtcdResult<EtcdRange>> range(std::string key, std::string range_end = {}, std::int64_t limit = 0,
                                           bool descending = false, bool keys_only = false);
    // Returns the revision of the write.
    awaitable<EtcdResult<std::uint64_t>> put(std::string key, std::string_view value);
    // `request` is a TxnRequest as the gateway reads it (keys and values already base64).
    awaitable<EtcdResult<EtcdTxnResult>> txn(const nlohmann::json& request);
    // Deletes [key, range_end); returns the number deleted.
    awaitable<EtcdResult<std::uint64_t>> delete_range(std::string key, std::string range_end);
    // Compacts the store's history up to `revision`: etcd then keeps only the latest value of each
    // key older than that. A revision compacted already (by another replica) is not a failure.
    awaitable<std::optional<EtcdFailure>> compact(std::uint64_t revision);

    // Opens a watch on [key, range_end) from `start_revision` and waits for its first events:
    // returns them, or that the revision was compacted away, or `idle` when nothing came within
    // `idle_timeout` (a stream silent that long may be half-open; the caller watches again from
    // the same revision), or a failure. One request per wait keeps resumption trivial: the next
    // wait starts where this one ended.
    awaitable<EtcdWatchResult> wait_for_change(std::string key, std::string range_end, std::uint64_t start_revision,
                                               std::chrono::milliseconds idle_timeout);

    // The URL of the endpoint used last, for status and log lines.
    const std::string& current_endpoint() const { return endpoints_[preferred_].url; }
    std::string endpoint_list() const;

    // The first key after every key that starts with `prefix` (etcd's range_end for a prefix).
    static std::string prefix_end(std::string_view prefix);

private:
    struct Answer {
        unsigned status = 0;
        nlohmann::json body;
    };
    // POSTs `body` to `path` on one endpoint; an error string when it could not be asked.
    awaitable<std::variant<Answer, std::string>> post_once(const EtcdEndpoint& endpoint, std::string_view path,
                                                            const std::string& body);
    // Tries the endpoints in turn, from the preferred one.
    awaitable<EtcdResult<nlohmann::json>> post(std::string_view path, const nlohmann::json& body);
    awaitable<EtcdResult<nlohmann::json>> post_text(std::string_view path, std::string body);

    io_executor executor_;
    std::vector<EtcdEndpoint> endpoints_;
    std::chrono::milliseconds timeout_;
    std::size_t preferred_ = 0;
};

}  // namespace cell::controlplane
