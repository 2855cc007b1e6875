#pragma once
// A staged rollout as control-plane replicas that share etcd keep it (docs/operations.md,
// "Staged rollout"):
//
//   <prefix>rollout                            the rollout record: plan, state, candidate, driver
//   <prefix>rollout-reports/<id>/<replica>     what one replica sees of its own routers
//
// The replica that took the staged apply drives the rollout: it decides every step (from its own
// routers and the others' reports) and writes the record; every replica follows the record,
// pushing the candidate to the canaries connected to it and the stable version back after a
// halt. The driver refreshes `heartbeat`; a record whose heartbeat is stale lost its driver, and
// the first replica to notice halts it, so canaries never stay on a candidate nobody watches.
//
// Heavy (Asio, through VersionRecord): include only from .cpp files.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cell/controlplane/etcd_config_store.hpp"
#include "cell/controlplane/rollout.hpp"

namespace cell::controlplane {

struct RolloutRecord {
    RolloutPlan plan;
    RolloutState state;
    std::string driver;                 // the replica that runs it ("host:port")
    std::uint64_t stable_revision = 0;  // the store revision it started from: the promotion writes at it
    VersionRecord candidate;            // the candidate's text in the store (its chunks) and who/why
    RolloutTime heartbeat;              // refreshed by the driver
};

std::string encode_rollout_record(const RolloutRecord& record);
// nullopt when `text` is not a record this code wrote.
std::optional<RolloutRecord> decode_rollout_record(std::string_view text);

std::string encode_rollout_report(const RolloutReport& report);
std::optional<RolloutReport> decode_rollout_report(std::string_view text);

}  // namespace cell::controlplane
