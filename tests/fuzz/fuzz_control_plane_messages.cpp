// Control-plane frames on both sides of the WebSocket. The input is a sequence of text frames
// separated by 0xFF (a byte no JSON text contains). Each frame goes through
//   - the router's side: decode_message, and for a snapshot SnapshotApplier::apply (parse,
//     validate, build and publish the table; answer ack or nack); for a delta apply_delta on the
//     served table, then SnapshotApplier::apply;
//   - the control plane's side: decode_message, and for hello/ack/nack the Fleet bookkeeping
//     behind GET /status.
// Beyond "no crash, no leak, no undefined behaviour", it checks:
//   - the router answers every snapshot with an ack or nack for its version, publishes the
//     table exactly when it acks a new content, and keeps serving the old one on a nack;
//   - a delta that puts together a valid config gives a cache text that loads as that config;
//   - ack, nack, hello and report encode and decode to the same message;
//   - GET /status stays valid JSON whatever routers send;
//   - encode_snapshot of a JSON object is a snapshot frame with the same members.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cell/config/load.hpp"
#include "cell/config/proxy_settings.hpp"
#include "cell/controlplane/config_delta.hpp"
#include "cell/controlplane/fleet.hpp"
#include "cell/controlplane/protocol.hpp"
#include "cell/controlplane/snapshot_applier.hpp"
#include "cell/routing/snapshot.hpp"
#include "cell/util/sha256.hpp"
#include "check.hpp"

namespace {

using namespace cell;
using namespace cell::controlplane;

constexpr std::string_view serving_config = R"({"version": "serving-1", "routingTable": {"acme": "tier1"},
  "cellEndpoints": {"tier1": "http://cell-tier1:9001"}, "defaultPlacement": "tier1"})";
constexpr std::string_view node_id = "router-fuzz";
constexpr std::uint64_t connection = 7;
constexpr std::size_t max_frames = 16;

routing::TableConstPtr serving_table() {
    config::LoadResult loaded = config::load_config(serving_config);
    FUZZ_CHECK(loaded.ok(), "the harness's serving config loads");
    return routing::Table::build(*loaded.config, config::resolve_proxy_settings(loaded.config->proxy, {}),
                                 routing::TableOrigin{"file", "", util::sha256_hex(serving_config), {}});
}

bool same(const Ack& a, const Ack& b) {
    return a.version == b.version && a.content_hash == b.content_hash && a.node_id == b.node_id;
}
bool same(const Nack& a, const Nack& b) {
    return a.version == b.version && a.error == b.error && a.serving_version == b.serving_version &&
           a.node_id == b.node_id && a.need_full == b.need_full;
}
bool same(const Hello& a, const Hello& b) {
    return a.node_id == b.node_id && a.version == b.version && a.deltas == b.deltas;
}

// A delta from the control plane, on the table the router serves (client.cpp hands it to
// SnapshotApplier::apply, which checks the base first; here it is applied whatever it names).
void router_side_delta(const ConfigDelta& delta, routing::TablePublisher& publisher, SnapshotApplier& applier) {
    const routing::TableConstPtr before = publisher.current();
    auto assembled = apply_delta(*before, delta.text, true);
    if (auto* applied = std::get_if<AppliedDelta>(&assembled)) {
        const auto loaded = config::load_config(applied->config);
        if (loaded.ok()) {
            const auto cached = config::load_config(applied->document);
            FUZZ_CHECK(cached.ok(), "the cache text of a valid delta result loads");
            FUZZ_CHECK(table_digest(*cached.config) == table_digest(*loaded.config) &&
                           cached.config->routing_table.size() == loaded.config->routing_table.size(),
                       "the cache text holds the delta's result");
        }
    }
    const std::string reply = applier.apply(delta);
    const auto decoded = decode_message(reply);
    FUZZ_CHECK(std::holds_alternative<Message>(decoded), "the router's answer to a delta decodes");
    const Message& answer = std::get<Message>(decoded);
    if (const auto* ack = std::get_if<Ack>(&answer)) {
        FUZZ_CHECK(ack->content_hash == delta.content_hash, "an ack of a delta names the content it stands for");
        FUZZ_CHECK(publisher.current()->origin().content_hash == delta.content_hash,
                   "after an ack of a delta the router serves that content");
        return;
    }
    FUZZ_CHECK(std::holds_alternative<Nack>(answer), "a delta is answered with an ack or a nack");
    FUZZ_CHECK(publisher.current() == before, "after a nack the router keeps its table");
}

template <typename T>
void check_round_trip(const T& message) {
    const auto decoded = decode_message(encode(message));
    FUZZ_CHECK(std::holds_alternative<Message>(decoded), "an encoded message decodes");
    const auto* back = std::get_if<T>(&std::get<Message>(decoded));
    FUZZ_CHECK(back != nullptr && same(*back, message), "a message decodes to what was encoded");
}

// What a router does with one frame (client.cpp's handle_frame).
void router_side(const Message& message, routing::TablePublisher& publisher, SnapshotApplier& applier) {
    if (const auto* delta = std::get_if<ConfigDelta>(&message)) {
        router_side_delta(*delta, publisher, applier);
        return;
    }
    const auto* snapshot = std::get_if<ConfigSnapshot>(&message);
    if (snapshot == nullptr) {
        return;
    }
    const routing::TableConstPtr before = publisher.current();
    const std::string reply = applier.apply(*snapshot);
    const auto decoded = decode_message(reply);
    FUZZ_CHECK(std::holds_alternative<Message>(decoded), "the router's answer decodes");
    const Message& answer = std::get<Message>(decoded);
    if (const auto* ack = std::get_if<Ack>(&answer)) {
        FUZZ_CHECK(ack->version == snapshot->version && ack->node_id == node_id, "an ack names the snapshot");
        FUZZ_CHECK(ack->content_hash == util::sha256_hex(snapshot->text), "an ack carries the snapshot's hash");
        FUZZ_CHECK(publisher.current()->origin().content_hash == ack->content_hash,
                   "after an ack the router serves the acked content");
        return;
    }
    const auto* nack = std::get_if<Nack>(&answer);
    FUZZ_CHECK(nack != nullptr, "a snapshot is answered with an ack or a nack");
    FUZZ_CHECK(nack->version == snapshot->version && !nack->error.empty(), "a nack names the snapshot and why");
    FUZZ_CHECK(publisher.current() == before, "after a nack the router keeps its table");
    FUZZ_CHECK(nack->serving_version == before->version(), "a nack says what the router keeps serving");
}

// What the control plane does with one frame (server_state.cpp's on_message).
void control_plane_side(const Message& message, Fleet& fleet) {
    const auto now = WallClock::now();
    if (const auto* hello = std::get_if<Hello>(&message)) {
        check_round_trip(*hello);
        fleet.on_hello(connection, *hello);
    } else if (const auto* ack = std::get_if<Ack>(&message)) {
        check_round_trip(*ack);
        fleet.on_ack(connection, *ack, now);
        FUZZ_CHECK(fleet.find(connection)->last_version_acked == ack->version, "an ack is recorded");
    } else if (const auto* nack = std::get_if<Nack>(&message)) {
        check_round_trip(*nack);
        fleet.on_nack(connection, *nack, now);
        if (nack->need_full) {
            FUZZ_CHECK(fleet.find(connection)->needs_full, "a nack asking for the full snapshot is recorded");
        } else {
            FUZZ_CHECK(fleet.find(connection)->last_nack->version == nack->version, "a nack is recorded");
        }
    } else if (const auto* report = std::get_if<Report>(&message)) {
        FUZZ_CHECK(report->versions.size() <= max_reported_versions, "a report keeps a few versions");
        const auto again = decode_message(encode(*report));
        FUZZ_CHECK(std::holds_alternative<Message>(again) && std::holds_alternative<Report>(std::get<Message>(again)) &&
                       std::get<Report>(std::get<Message>(again)).versions.size() == report->versions.size(),
                   "a report encodes and decodes to the same versions");
        fleet.on_report(connection, *report, now);
        FUZZ_CHECK(fleet.find(connection)->counts.size() == report->versions.size(), "a report is recorded");
    }
    const auto status = nlohmann::json::parse(fleet.status_json(WallClock::now()), nullptr, false);
    FUZZ_CHECK(!status.is_discarded() && status.is_object(), "GET /status is a JSON object");
    FUZZ_CHECK(status["routers_connected"] == 1, "GET /status counts the router");
}

// The control plane wraps a config document into a snapshot frame.
void check_snapshot_encoding(std::string_view text) {
    auto document = nlohmann::json::parse(text, nullptr, false);
    if (document.is_discarded() || !document.is_object()) {
        return;
    }
    const std::string frame = encode_snapshot(text);
    const auto framed = nlohmann::json::parse(frame, nullptr, false);
    FUZZ_CHECK(!framed.is_discarded(), "a snapshot frame is JSON");
    document["type"] = snapshot_type;
    FUZZ_CHECK(framed == document, "a snapshot frame has the document's members and the snapshot type");
    const auto decoded = decode_message(frame);
    FUZZ_CHECK(std::holds_alternative<Message>(decoded) &&
                   std::holds_alternative<ConfigSnapshot>(std::get<Message>(decoded)),
               "a snapshot frame decodes as a snapshot");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    routing::TablePublisher publisher(serving_table());
    SnapshotApplier applier(publisher, {}, "", std::string(node_id));
    Fleet fleet;
    fleet.set_current("serving-1", util::sha256_hex(serving_config), WallClock::now());
    fleet.add(connection, "127.0.0.1:40000", WallClock::now());

    for (std::size_t frames = 0; frames < max_frames; ++frames) {
        const auto end = input.find('\xff');
        const std::string_view text = input.substr(0, end);
        const auto decoded = decode_message(text);
        if (const auto* message = std::get_if<Message>(&decoded)) {
            router_side(*message, publisher, applier);
            control_plane_side(*message, fleet);
        } else {
            FUZZ_CHECK(!std::get<DecodeError>(decoded).reason.empty(), "a refused frame says why");
        }
        check_snapshot_encoding(text);
        if (end == std::string_view::npos) {
            break;
        }
        input.remove_prefix(end + 1);
    }
    return 0;
}
