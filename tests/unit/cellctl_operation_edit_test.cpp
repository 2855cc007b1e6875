// What cellctl's drain, undrain, pin, unpin, pause and move do to a config document, at a given
// time: the rules they write, the versions they name, what they refuse, what they clean up, and
// that the result loads and routes as intended.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cell/cellctl/operation_edit.hpp"
#include "cell/cellctl/options.hpp"
#include "cell/config/load.hpp"
#include "cell/config/proxy_settings.hpp"
#include "cell/config/timestamp.hpp"
#include "cell/controlplane/config_diff.hpp"
#include "cell/routing/table.hpp"

namespace cell::cellctl {
namespace {

using json = nlohmann::ordered_json;
using namespace std::chrono_literals;

config::WallTime at(const std::string& text) { return config::parse_rfc3339(text).value(); }
const config::WallTime t0 = at("2026-12-03T18:00:00Z");

json document() {
    return json::parse(R"({"version": "4.2.0", "routingTable": {"acme": "tier1", "globex": "tier1", "visa": "visa"},
        "placements": {"tier1": {"url": "http://127.0.0.1:9001", "fallback": "tier3"},
                       "tier2": {"url": "http://127.0.0.1:9002"}, "tier3": {"url": "http://127.0.0.1:9003"},
                       "visa": {"url": "http://127.0.0.1:9004"}},
        "defaultPlacement": "tier3"})");
}

EditedConfig edit(json base, OperationRequest request, config::WallTime now = t0) {
    auto edited = edit_operations(std::move(base), request, now);
    if (const auto* refusal = std::get_if<std::string>(&edited)) {
        ADD_FAILURE() << "refused: " << *refusal;
        return {};
    }
    return std::get<EditedConfig>(std::move(edited));
}

std::string refusal(json base, OperationRequest request) {
    auto edited = edit_operations(std::move(base), request, t0);
    return std::holds_alternative<std::string>(edited) ? std::get<std::string>(edited) : "(applied)";
}

routing::TableConstPtr table_of(const json& edited) {
    auto loaded = config::load_config(edited.dump());
    EXPECT_TRUE(loaded.ok()) << config::describe(loaded.errors) << "\n" << edited.dump();
    if (!loaded.ok()) {
        return nullptr;
    }
    return routing::Table::build(*loaded.config, config::resolve_proxy_settings(loaded.config->proxy, {}), {});
}

OperationRequest request(OperationKind kind, std::string subject, std::string placement = "") {
    OperationRequest r;
    r.kind = kind;
    r.subject = std::move(subject);
    r.placement = std::move(placement);
    r.reason = "test";
    return r;
}

// A drain starts now and ramps; an undrain later starts from the share reached and goes to none.
TEST(OperationEditTest, DrainThenUndrainFromWhereItIs) {
    auto drain = request(OperationKind::drain, "tier1");
    drain.ramp = 10min;
    const auto drained = edit(document(), drain);
    EXPECT_EQ(drained.document["version"], "4.2.0+20261203T180000.000Z");
    const json& rule = drained.document["operations"]["drains"]["tier1"];
    EXPECT_EQ(rule["start"], "2026-12-03T18:00:00.000Z");
    EXPECT_FALSE(rule.contains("to"));  // its fallback
    EXPECT_EQ(rule["from_share"], 0.0);
    EXPECT_EQ(drained.summary, "drain tier1 to its fallback over 10m: test");
    const auto table = table_of(drained.document);
    ASSERT_NE(table, nullptr);
    EXPECT_NE(table->route("acme", t0 + 10min).drained_to, nullptr);

    auto undrain = request(OperationKind::undrain, "tier1");
    undrain.ramp = 1min;
    const auto back = edit(drained.document, undrain, t0 + 5min);  // half way through the drain
    const json& undo = back.document["operations"]["drains"]["tier1"];
    EXPECT_NEAR(undo["from_share"].get<double>(), 0.5, 1e-9);
    EXPECT_EQ(undo["to_share"], 0.0);
    EXPECT_EQ(back.document["version"], "4.2.0+20261203T180500.000Z");  // one suffix, not two
    const auto undrained = table_of(back.document);
    ASSERT_NE(undrained, nullptr);
    EXPECT_EQ(undrained->route("acme", t0 + 6min + 1s).drained_to, nullptr);

    // The next change made after the undrain finished removes it.
    const auto later = edit(back.document, request(OperationKind::pause, "globex"), t0 + 10min);
    EXPECT_FALSE(later.document["operations"].contains("drains"));
    ASSERT_EQ(later.cleaned.size(), 1u);
    EXPECT_EQ(later.cleaned[0], "drain tier1 (undrained)");
}

TEST(OperationEditTest, PinPauseMoveAndTheirCleanup) {
    auto pin = request(OperationKind::pin, "acme", "tier2");
    pin.ttl = 1h;
    const auto pinned = edit(document(), pin);
    EXPECT_EQ(pinned.document["operations"]["pins"]["acme"]["expires"], "2026-12-03T19:00:00.000Z");
    auto table = table_of(pinned.document);
    ASSERT_NE(table, nullptr);
    EXPECT_EQ(table->route("acme", t0 + 30min).placement->name, "tier2");

    auto pause = request(OperationKind::pause, "globex");
    pause.max_pause = 5min;
    pause.retry_after = 10s;
    const auto paused = edit(pinned.document, pause, t0 + 1min);
    EXPECT_EQ(paused.document["operations"]["pauses"]["globex"]["until"], "2026-12-03T18:06:00.000Z");
    EXPECT_EQ(paused.document["operations"]["pauses"]["globex"]["retry_after"], "10000ms");
    table = table_of(paused.document);
    ASSERT_NE(table, nullptr);
    EXPECT_NE(table->route("globex", t0 + 2min).pause, nullptr);

    // Move: the key's placement changes and its pause goes, in one version.
    const auto moved = edit(paused.document, request(OperationKind::move, "globex", "tier2"), t0 + 2min);
    EXPECT_EQ(moved.document["routingTable"]["globex"], "tier2");
    EXPECT_FALSE(moved.document["operations"].contains("pauses") &&
                 moved.document["operations"]["pauses"].contains("globex"));
    EXPECT_EQ(moved.summary, "move globex to tier2 and lift its pause: test");

    // After the pin's expiry, any change removes it.
    const auto after = edit(moved.document, request(OperationKind::pause, "visa"), t0 + 2h);
    EXPECT_FALSE(after.document["operations"].contains("pins"));
    ASSERT_EQ(after.cleaned.size(), 1u);  // the pin; visa's new pause is kept
    EXPECT_EQ(after.cleaned[0], "pin acme (expired)");
    EXPECT_TRUE(after.document["operations"]["pauses"].contains("visa"));

    const auto unpinned = edit(pinned.document, request(OperationKind::unpin, "acme"));
    EXPECT_FALSE(unpinned.document.contains("operations"));  // nothing left
}

TEST(OperationEditTest, RefusalsNameTheProblem) {
    EXPECT_EQ(refusal(document(), request(OperationKind::drain, "tier9")), "no placement named \"tier9\"");
    auto to_nowhere = request(OperationKind::drain, "tier1");
    to_nowhere.to = "nowhere";
    EXPECT_EQ(refusal(document(), to_nowhere), "no placement named \"nowhere\" to drain to");
    EXPECT_EQ(refusal(document(), request(OperationKind::undrain, "tier1")), "placement \"tier1\" is not drained");
    EXPECT_EQ(refusal(document(), request(OperationKind::unpin, "acme")), "routing key \"acme\" is not pinned");
    EXPECT_EQ(refusal(document(), request(OperationKind::pin, "acme", "tier9")), "no placement named \"tier9\"");
    EXPECT_EQ(refusal(document(), request(OperationKind::move, "acme", "tier9")), "no placement named \"tier9\"");
    EXPECT_EQ(refusal(json::array(), request(OperationKind::pause, "acme")), "the stored config is not a JSON object");
}

// The diff names each operation added, changed or removed, and counts it as a change.
TEST(OperationEditTest, DiffNamesOperationChanges) {
    auto pin = request(OperationKind::pin, "acme", "tier2");
    pin.ttl = 1h;
    const auto pinned = edit(document(), pin);
    const auto before = config::load_config(document().dump());
    const auto after = config::load_config(pinned.document.dump());
    ASSERT_TRUE(before.ok() && after.ok());
    const auto diff = controlplane::diff_configs(*before.config, *after.config);
    ASSERT_EQ(diff.operation_changes.size(), 1u);
    EXPECT_EQ(diff.operation_changes[0], "pin acme -> tier2 added");
    EXPECT_FALSE(diff.routing_unchanged());
    EXPECT_NE(controlplane::describe(diff).find("operation: pin acme -> tier2 added"), std::string::npos);
    const auto round_trip = controlplane::config_diff_from_json(controlplane::to_json(diff));
    ASSERT_TRUE(round_trip.has_value());
    EXPECT_EQ(round_trip->operation_changes, diff.operation_changes);
    const auto back = controlplane::diff_configs(*after.config, *before.config);
    EXPECT_EQ(back.operation_changes, std::vector<std::string>{"pin acme removed"});
}

TEST(OperationOptionsTest, CommandLines) {
    const auto environment = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    const auto parse = [&](std::vector<std::string> args) { return parse_invocation(args, environment, "ops@host"); };
    const auto drain = parse({"drain", "tier1", "--to", "tier3", "--ramp", "2m", "--reason", "kernel"});
    ASSERT_TRUE(std::holds_alternative<Invocation>(drain));
    EXPECT_EQ(std::get<Invocation>(drain).subject, "tier1");
    EXPECT_EQ(std::get<Invocation>(drain).to, "tier3");
    EXPECT_EQ(std::get<Invocation>(drain).ramp, std::chrono::minutes(2));
    const auto usage_error = [&](std::vector<std::string> args) {
        const auto parsed = parse(args);
        return std::holds_alternative<UsageError>(parsed) ? std::get<UsageError>(parsed).message : "(parsed)";
    };
    EXPECT_NE(usage_error({"drain", "tier1"}).find("drain needs --reason TEXT"), std::string::npos);
    EXPECT_NE(usage_error({"pin", "acme", "tier2", "--reason", "x"}).find("pin needs --ttl"), std::string::npos);
    EXPECT_NE(usage_error({"pin", "acme", "--ttl", "1h", "--reason", "x"}).find("a routing KEY and a PLACEMENT"),
              std::string::npos);
    EXPECT_NE(usage_error({"pause", "acme", "--reason", "x", "--retry-after", "2h"}).find("at most 1h"), std::string::npos);
    EXPECT_NE(usage_error({"pause", "acme", "--reason", "x", "--max", "0s"}).find("at least 1s"), std::string::npos);
    EXPECT_NE(usage_error({"drain", "tier1", "--reason", "x", "--ramp", "169h"}).find("at most 168h"), std::string::npos);
    EXPECT_NE(usage_error({"pin", "acme", "tier2", "--reason", "x", "--ttl", "99999999h"}).find("at most 8784h"),
              std::string::npos);
    EXPECT_NE(usage_error({"unpin", "acme", "--ramp", "1m"}).find("unpin does not take --ramp"), std::string::npos);
    EXPECT_TRUE(std::holds_alternative<Invocation>(parse({"undrain", "tier1"})));
    EXPECT_TRUE(std::holds_alternative<Invocation>(parse({"move", "acme", "tier2"})));
    EXPECT_TRUE(std::holds_alternative<Invocation>(parse({"drain", "tier1", "--ramp", "0s", "--reason", "now"})));
}

}  // namespace
}  // namespace cell::cellctl
