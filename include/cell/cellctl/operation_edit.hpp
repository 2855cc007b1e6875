#pragma once
// What `cellctl drain|undrain|pin|unpin|pause|move` does to a config document: the operator's
// request turned into the config's "operations" (docs/operations.md), at a given time, so the
// command can show and apply it as one new version. Pure: no I/O, the time is passed in.

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "cell/config/types.hpp"

namespace cell::cellctl {

enum class OperationKind { drain, undrain, pin, unpin, pause, move };

struct OperationRequest {
    OperationKind kind = OperationKind::drain;
    std::string subject;    // the placement (drain, undrain) or the routing key (the others)
    std::string placement;  // pin, move: where the key goes
    std::string to;         // drain: where the placement's keys go ("" = its fallback)
    config::Duration ramp{0};
    config::Duration ttl{0};             // pin
    config::Duration retry_after{30'000};  // pause
    config::Duration max_pause{300'000};   // pause
    std::string reason;
};

struct EditedConfig {
    nlohmann::ordered_json document;
    std::string summary;               // one line: what the new version does
    std::vector<std::string> cleaned;  // expired pins and pauses, finished undrains, removed on the way
};

// The document with the request applied, a new version string (the old one's base plus the
// time), and expired rules removed; or why the request cannot be applied to it (an unknown
// placement, undraining a placement that is not drained, unpinning a key that is not pinned).
std::variant<EditedConfig, std::string> edit_operations(nlohmann::ordered_json document, const OperationRequest& request,
                                                        config::WallTime now);

}  // namespace cell::cellctl
