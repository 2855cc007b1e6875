#pragma once
// What the control plane serves `cellctl` (docs/cellctl.md, "HTTP API"): the current config
// (GET /config), a diff of a candidate against it with the blast-radius verdict
// (POST /config/diff), a guarded compare-and-swap write (PUT /config), the kept versions
// (GET /history) and a rollback to one of them (POST /rollback). Validation, diff and guard live
// here, in one place, whichever tool calls them.
//
// Writes need a store: a control plane that watches a file answers them with 403 read_only.
//
// Heavy (Asio): include only from .cpp files. Thread safety: none; runs on the server's loop.

#include <future>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http/verb.hpp>

#include "cell/controlplane/control_plane_options.hpp"
#include "cell/controlplane/etcd_config_store.hpp"
#include "cell/controlplane/server_state.hpp"
#include "cell/transport/io.hpp"

namespace cell::config {
struct Config;
}
namespace cell::routing {
class Table;
}

namespace cell::controlplane {

class ServerState;
class EtcdFollower;
class RolloutCoordinator;
struct ConfigAnalysis;

struct ApiAnswer {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

class ConfigApi {
public:
    // `store` is nullptr when the control plane watches a file.
    // `rollouts` shares staged rollouts with the other replicas (etcd mode only).
    // `table_work` builds the routing tables of writes, next to the analysis and the delta on
    // `config_work`.
    ConfigApi(io_executor loop, ServerState& state, net::thread_pool& config_work, net::thread_pool& table_work,
              const ControlPlaneOptions& options, EtcdFollower* store, RolloutCoordinator* rollouts)
        : loop_(loop),
          state_(state),
          config_work_(config_work),
          table_work_(table_work),
          options_(options),
          store_(store),
          rollouts_(rollouts) {}

    static bool serves(std::string_view path);
    // The largest request body read for `path`: a whole config for writes and diffs.
    static std::uint64_t body_limit(std::string_view path);

    awaitable<ApiAnswer> answer(http::verb method, std::string_view path, std::string_view query, std::string body);

private:
    awaitable<ApiAnswer> diff(std::string_view query, std::string candidate);
    awaitable<ApiAnswer> apply(std::string_view query, std::string candidate);
    awaitable<ApiAnswer> history(std::string_view query);
    awaitable<ApiAnswer> rollback(std::string_view query);
    awaitable<ApiAnswer> abort_rollout(std::string_view query);
    ApiAnswer current_config() const;
    ApiAnswer read_only() const;

    // Validates `candidate`, diffs it against `base` and checks the guard, then writes it if the
    // store is still at `expected_revision` (the shared tail of PUT /config and POST /rollback).
    struct WriteRequest;
    awaitable<ApiAnswer> guarded_write(WriteRequest request);
    // The staged tail of guarded_write: the candidate to the canaries, the store after the soak.
    awaitable<ApiAnswer> start_staged(WriteRequest request, VersionRecord record,
                                      std::shared_future<std::shared_ptr<const routing::Table>> table, ConfigAnalysis analysis);
    awaitable<void> promote(std::string text, std::uint64_t expected_revision, VersionRecord record,
                            SnapshotConstPtr candidate);
    // A staged apply's settings: the query's canary, soak and error_margin over the flags' defaults.
    std::variant<ServerState::RolloutRequest, std::string> rollout_request(
        const std::map<std::string, std::string, std::less<>>& parameters, const std::string& applied_by) const;

    // The last base config parsed, kept while the same text is the base (it is the current
    // snapshot's until the next publish): `cellctl apply` diffs, then writes, against it.
    // Keyed by the SHA-256 of the base text (a snapshot's file_hash): the replica may publish the
    // same version from its own write or from the watch, as different objects.
    std::shared_ptr<const config::Config> cached_base(const std::string& text_hash) const;
    void remember_base(std::string text_hash, std::shared_ptr<const config::Config> parsed);

    io_executor loop_;
    ServerState& state_;
    net::thread_pool& config_work_;
    net::thread_pool& table_work_;
    const ControlPlaneOptions& options_;
    EtcdFollower* store_;
    RolloutCoordinator* rollouts_;
    std::string parsed_hash_;
    std::shared_ptr<const config::Config> parsed_config_;
    // The last diff's analysis, taken by the PUT of the same bytes against the same base.
    std::shared_ptr<const ConfigAnalysis> last_analysis_;

    // A diff asked to prepare the write that follows it (POST /config/diff?prepare=1, what
    // `cellctl apply` sends): a valid candidate that the guard allows (or that is to be forced) has
    // its chunks put into the store while the answer goes back, and the PUT then names it
    // (?prepared=HASH, no body) instead of sending the text again. The newest one only.
    struct PreparedWrite;
    std::shared_ptr<PreparedWrite> prepared_;
    // The table of a validated candidate, built on the table thread, and (for a write that is
    // published at once) the delta's keys from the snapshot served now: neither depends on the
    // revision the write will get, so they are started as soon as the candidate is known to be
    // written (by a prepared diff, or the PUT).
    struct Building;
    Building start_building(std::shared_ptr<const config::Config> parsed, const std::string& content_hash,
                            std::size_t text_bytes, bool with_delta_keys);
    awaitable<void> prepare_write(std::shared_ptr<PreparedWrite> prepared);
    awaitable<void> remove_prepared_chunks(std::shared_ptr<PreparedWrite> prepared);
};

}  // namespace cell::controlplane
