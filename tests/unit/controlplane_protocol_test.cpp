// The control-plane protocol codec: round trips, the seed's messages, and every kind of bad
// frame a peer may send (which must decode to an error, never throw).

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cell/config/load.hpp"
#include "cell/controlplane/protocol.hpp"

namespace cell::controlplane {
namespace {

using nlohmann::json;

Message decoded(std::string_view text) {
    auto result = decode_message(text);
    if (const auto* error = std::get_if<DecodeError>(&result)) {
        ADD_FAILURE() << "unexpected decode error for " << text << ": " << error->reason;
        return UnknownMessage{};
    }
    return std::get<Message>(std::move(result));
}

std::string decode_error(std::string_view text) {
    const auto result = decode_message(text);
    const auto* error = std::get_if<DecodeError>(&result);
    return error ? error->reason : "(decoded)";
}

// The seed's example files, kept unchanged in the repository's config/.
std::string repo_config(const std::string& name) {
    std::ifstream file(std::string(CELLROUTER_SOURCE_DIR) + "/config/" + name);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

// An ack with every optional field survives encode -> decode unchanged.
TEST(ControlPlaneProtocol, AckRoundTrip) {
    const Ack ack{"2.0.0", "abc123", "router-1:8080"};
    const auto message = decoded(encode(ack));
    const auto& back = std::get<Ack>(message);
    EXPECT_EQ(back.version, "2.0.0");
    EXPECT_EQ(back.content_hash, "abc123");
    EXPECT_EQ(back.node_id, "router-1:8080");
}

// Optional fields left empty are not written at all.
TEST(ControlPlaneProtocol, AckWithoutExtrasHasOnlyTypeAndVersion) {
    EXPECT_EQ(json::parse(encode(Ack{"1.0.0", "", ""})), json::parse(R"({"type":"ack","version":"1.0.0"})"));
}

TEST(ControlPlaneProtocol, NackRoundTrip) {
    const Nack nack{"2.0.0", "/routingTable/acme: unknown placement \"tier9\"", "1.0.0", "r1"};
    const auto message = decoded(encode(nack));
    const auto& back = std::get<Nack>(message);
    EXPECT_EQ(back.version, "2.0.0");
    EXPECT_EQ(back.error, nack.error);
    EXPECT_EQ(back.serving_version, "1.0.0");
    EXPECT_EQ(back.node_id, "r1");
}

// A nack of a garbage snapshot quotes bytes that are not UTF-8; it is still sent, with U+FFFD.
TEST(ControlPlaneProtocol, NackWithInvalidUtf8IsStillEncoded) {
    const Nack nack{"2.0.0", "syntax error at byte 1: last read: 'f\xb3'", "1.0.0", "r1"};
    const auto message = decoded(encode(nack));
    EXPECT_EQ(std::get<Nack>(message).error, "syntax error at byte 1: last read: 'f\xef\xbf\xbd'");
}

TEST(ControlPlaneProtocol, HelloRoundTrip) {
    const auto message = decoded(encode(Hello{"router-7", "0.0.1"}));
    const auto& back = std::get<Hello>(message);
    EXPECT_EQ(back.node_id, "router-7");
    EXPECT_EQ(back.version, "0.0.1");
    EXPECT_EQ(back.max_snapshot_bytes, 0u);
    EXPECT_EQ(json::parse(encode(Hello{"router-7", "0.0.1"})).count("max_snapshot_bytes"), 0u);
}

// A router announces its snapshot limit in its hello.
TEST(ControlPlaneProtocol, HelloCarriesTheSnapshotLimit) {
    const auto text = encode(Hello{"router-7", "0.0.1", 65536});
    EXPECT_EQ(json::parse(text)["max_snapshot_bytes"], 65536);
    EXPECT_EQ(std::get<Hello>(decoded(text)).max_snapshot_bytes, 65536u);
}

// The limit is advisory: a hello whose limit is not a positive integer still registers the router.
TEST(ControlPlaneProtocol, HelloWithABadLimitStillDecodes) {
    for (const char* text : {R"({"type":"hello","node_id":"r","max_snapshot_bytes":"64MiB"})",
                             R"({"type":"hello","node_id":"r","max_snapshot_bytes":-5})",
                             R"({"type":"hello","node_id":"r","max_snapshot_bytes":1.5})",
                             R"({"type":"hello","node_id":"r","max_snapshot_bytes":null})"}) {
        const auto message = decoded(text);
        ASSERT_TRUE(std::holds_alternative<Hello>(message)) << text;
        EXPECT_EQ(std::get<Hello>(message).node_id, "r");
        EXPECT_EQ(std::get<Hello>(message).max_snapshot_bytes, 0u) << text;
    }
}

// A router keeps nothing of a snapshot over its limit; the version is found as the pieces pass.
TEST(ControlPlaneProtocol, VersionFromASnapshotPrefix) {
    const std::string frame =
        R"({"type":"config_snapshot","routingTable":{"version":"inner","a\"b":"t1","c":["version"]},)"
        R"( "x" : "ver\"sion", "version" : "2.0.0","cellEndpoints":{}})";
    EXPECT_EQ(snapshot_version_from_prefix(frame), "2.0.0");
    // Fed one byte at a time, as pieces of any size may end anywhere.
    SnapshotVersionScanner scanner;
    for (const char c : frame) {
        scanner.feed(std::string_view(&c, 1));
    }
    EXPECT_TRUE(scanner.done());
    EXPECT_EQ(scanner.version(), "2.0.0");
    EXPECT_EQ(snapshot_version_from_prefix(R"({"a":{"b":[1,{"c":2}]},"version":"3"})"), "3");
    // Cut right after the version, and cut before it.
    EXPECT_EQ(snapshot_version_from_prefix(frame.substr(0, frame.find("2.0.0") + 6)), "2.0.0");
    EXPECT_EQ(snapshot_version_from_prefix(frame.substr(0, frame.find("2.0.0") + 3)), "");
    EXPECT_EQ(snapshot_version_from_prefix(frame.substr(0, 40)), "");
    EXPECT_EQ(snapshot_version_from_prefix(R"({"version":7,"x":{"version":"no"}})"), "");
    EXPECT_EQ(snapshot_version_from_prefix(R"({"version":{"a":"1"}})"), "");
    EXPECT_EQ(snapshot_version_from_prefix(""), "");
    EXPECT_EQ(snapshot_version_from_prefix("not json"), "");
    EXPECT_EQ(oversized_snapshot_reason(70000, 65536),
              "snapshot of 70000 bytes exceeds this router's --max-snapshot-bytes 65536");
}

// The seed's routers send only type and version; the seed's nack may carry an empty version.
TEST(ControlPlaneProtocol, SeedMessagesDecode) {
    const auto ack = decoded(R"({"type":"ack","version":"1.0.0"})");
    EXPECT_EQ(std::get<Ack>(ack).version, "1.0.0");
    EXPECT_TRUE(std::get<Ack>(ack).content_hash.empty());
    EXPECT_TRUE(std::get<Ack>(ack).node_id.empty());
    const auto nack = decoded(R"({"type":"nack","version":"","error":"invalid config"})");
    EXPECT_EQ(std::get<Nack>(nack).version, "");
    EXPECT_EQ(std::get<Nack>(nack).error, "invalid config");
}

// A snapshot is the config file plus "type"; every field of the seed's file is kept, and the
// frame itself passes the same validation as the file.
TEST(ControlPlaneProtocol, SnapshotOfTheSeedConfigKeepsEveryField) {
    const std::string file = repo_config("routing.json");
    ASSERT_FALSE(file.empty());
    const std::string frame = encode_snapshot(file);
    json expected = json::parse(file);
    expected["type"] = "config_snapshot";
    EXPECT_EQ(json::parse(frame), expected);

    const auto message = decoded(frame);
    const auto& snapshot = std::get<ConfigSnapshot>(message);
    EXPECT_EQ(snapshot.version, expected["version"]);
    EXPECT_EQ(snapshot.text, frame);
    EXPECT_TRUE(config::load_config(snapshot.text).ok());
}

// Sections of later milestones (here the M4 "placements") ride in the same frame.
TEST(ControlPlaneProtocol, SnapshotKeepsLaterMilestoneSections) {
    const std::string file = R"({"version":"2.0.0","routingTable":{"acme":"tier1"},
        "placements":{"tier1":{"url":"http://cell-tier1:9001","fallback":"tier3",
                               "health_check":{"path":"/health","interval":"10s","timeout":"2s"},
                               "circuit_breaker":{"failure_threshold":5,"timeout":"30s"},
                               "concurrency_limit":100}},
        "defaultPlacement":"tier3"})";
    json expected = json::parse(file);
    expected["type"] = "config_snapshot";
    EXPECT_EQ(json::parse(encode_snapshot(file)), expected);
}

// The field is added to the text itself, which keeps the file's own bytes after it; whatever the
// shape of the file, the frame is the file's object plus "type", with "type" exactly once.
TEST(ControlPlaneProtocol, SnapshotAddsTypeToTheTextOrFallsBackToReserializing) {
    const std::vector<std::string> files{
        R"({"version":"1","routingTable":{"type":"tier1"},"cellEndpoints":{"tier1":"http://a:1"},"defaultPlacement":"tier1"})",
        "  \n{ \"version\" : \"1\" , \"nested\": [ {\"type\": 1}, \"}\" ] }\n",
        R"({"version":"1","s":"quote \" and } and { and , inside"})",
        R"({})",
        R"({ })",
        R"({"type":"mine","version":"1"})",      // the file has its own "type": re-serialized
        R"({"t\u0079pe":"mine","version":"1"})",  // an escaped key that decodes to "type"
        R"({"version":"1","type":"mine"})",
    };
    for (const auto& file : files) {
        SCOPED_TRACE(file);
        const std::string frame = encode_snapshot(file);
        ASSERT_FALSE(frame.empty());
        json expected = json::parse(file);
        expected["type"] = "config_snapshot";
        EXPECT_EQ(json::parse(frame), expected);
        std::size_t type_keys = 0;
        json::parser_callback_t count_type_keys = [&](int depth, json::parse_event_t event, json& parsed) {
            if (depth == 1 && event == json::parse_event_t::key && parsed == "type") {
                ++type_keys;
            }
            return true;
        };
        json::parse(frame, count_type_keys);
        EXPECT_EQ(type_keys, 1u);
    }
    // The common case keeps the file's bytes: the field goes right after the opening brace.
    EXPECT_EQ(encode_snapshot(R"( {"version": "1"} )"), R"( {"type":"config_snapshot","version": "1"} )");
}

// Only a JSON object can become a snapshot.
TEST(ControlPlaneProtocol, SnapshotOfANonObjectIsEmpty) {
    EXPECT_EQ(encode_snapshot("[1,2]"), "");
    EXPECT_EQ(encode_snapshot("not json"), "");
    EXPECT_EQ(encode_snapshot(""), "");
    EXPECT_EQ(encode_snapshot("  "), "");
    EXPECT_EQ(encode_snapshot("\"{}\""), "");
}

// A snapshot whose version is missing or not a string is still delivered (validation names
// the problem), with an empty version.
TEST(ControlPlaneProtocol, SnapshotWithBadVersionStillDecodes) {
    const auto message = decoded(R"({"type":"config_snapshot","version":7})");
    EXPECT_EQ(std::get<ConfigSnapshot>(message).version, "");
}

// Unknown types decode (so callers can log and ignore them), naming the type.
TEST(ControlPlaneProtocol, UnknownTypeIsNotAnError) {
    const auto message = decoded(R"({"type":"stats","routers":3})");
    EXPECT_EQ(std::get<UnknownMessage>(message).type, "stats");
}

// Fields a peer does not know are ignored.
TEST(ControlPlaneProtocol, ExtraFieldsAreIgnored) {
    const auto message = decoded(R"({"type":"ack","version":"1","serving_since":"x","extra":{"a":[1]}})");
    EXPECT_EQ(std::get<Ack>(message).version, "1");
}

// Null optional fields count as absent.
TEST(ControlPlaneProtocol, NullOptionalFieldsAreAbsent) {
    const auto message = decoded(R"({"type":"ack","version":"1","content_hash":null,"node_id":null})");
    EXPECT_TRUE(std::get<Ack>(message).content_hash.empty());
}

// Frames that are not JSON objects with a string type are errors, never exceptions.
TEST(ControlPlaneProtocol, MalformedFramesAreErrors) {
    EXPECT_EQ(decode_error("not json"), "not valid JSON");
    EXPECT_EQ(decode_error(""), "not valid JSON");
    EXPECT_EQ(decode_error(R"({"type":"ack")"), "not valid JSON");
    EXPECT_EQ(decode_error("[1,2,3]"), "not a JSON object");
    EXPECT_EQ(decode_error("\"ack\""), "not a JSON object");
    EXPECT_EQ(decode_error("42"), "not a JSON object");
    EXPECT_NE(decode_error(R"({"version":"1"})").find("type"), std::string::npos);
    EXPECT_NE(decode_error(R"({"type":7})").find("type"), std::string::npos);
    EXPECT_NE(decode_error(R"({"type":null})").find("type"), std::string::npos);
}

// A known type with a field of the wrong type is an error naming the message and the field.
TEST(ControlPlaneProtocol, WrongFieldTypesAreErrors) {
    EXPECT_EQ(decode_error(R"({"type":"ack","version":5})"), "ack: field \"version\" must be a string");
    EXPECT_EQ(decode_error(R"({"type":"ack","version":"1","content_hash":[]})"),
              "ack: field \"content_hash\" must be a string");
    EXPECT_EQ(decode_error(R"({"type":"nack","version":"1","error":{"a":1}})"), "nack: field \"error\" must be a string");
    EXPECT_EQ(decode_error(R"({"type":"nack","version":"1","error":"e","serving_version":true})"),
              "nack: field \"serving_version\" must be a string");
    EXPECT_EQ(decode_error(R"({"type":"hello","node_id":1})"), "hello: field \"node_id\" must be a string");
}

// Invalid UTF-8 inside a string is rejected by the JSON parser, not passed on.
TEST(ControlPlaneProtocol, InvalidUtf8IsAnError) {
    EXPECT_EQ(decode_error("{\"type\":\"ack\",\"version\":\"\xff\xfe\"}"), "not valid JSON");
}

// Encoding escapes what JSON must escape, so any node id or error text round-trips.
TEST(ControlPlaneProtocol, EncodingEscapes) {
    const Nack nack{"1", "line1\nline2 \"quoted\" \\ tab\t", "", "r\"1"};
    const auto message = decoded(encode(nack));
    EXPECT_EQ(std::get<Nack>(message).error, nack.error);
    EXPECT_EQ(std::get<Nack>(message).node_id, nack.node_id);
}

}  // namespace
}  // namespace cell::controlplane

namespace cell::controlplane {
namespace {

// The store revision rides on snapshots, acks, nacks and hellos, and is optional on each.
TEST(ControlPlaneProtocol, RevisionFields) {
    const auto frame = encode_snapshot(R"({"version":"1.0.0","routingTable":{}})", 42);
    EXPECT_EQ(frame, R"({"type":"config_snapshot","revision":42,"version":"1.0.0","routingTable":{}})");
    EXPECT_EQ(std::get<ConfigSnapshot>(decoded(frame)).revision, 42u);
    EXPECT_EQ(revision_of(frame), 42u);
    EXPECT_EQ(std::get<ConfigSnapshot>(decoded(encode_snapshot(R"({"version":"1"})"))).revision, 0u);
    EXPECT_EQ(revision_of(R"({"version":"1"})"), 0u);
    EXPECT_EQ(revision_of("not json"), 0u);

    EXPECT_EQ(std::get<Ack>(decoded(encode(Ack{"1", "h", "n", 7}))).revision, 7u);
    EXPECT_EQ(json::parse(encode(Ack{"1", "", "", 0})).count("revision"), 0u);
    EXPECT_EQ(std::get<Nack>(decoded(encode(Nack{"1", "e", "0", "n", 8}))).revision, 8u);
    Hello hello{"n", "1"};
    hello.revision = 9;
    EXPECT_EQ(std::get<Hello>(decoded(encode(hello))).revision, 9u);

    EXPECT_NE(decode_error(R"({"type":"ack","version":"1","revision":"7"})").find("revision"), std::string::npos);
    EXPECT_NE(decode_error(R"({"type":"config_snapshot","revision":-1})").find("revision"), std::string::npos);
}

// A document that already has a "revision" (or whose keys cannot be read raw) is re-serialized,
// and the frame carries the revision given, not the document's.
TEST(ControlPlaneProtocol, RevisionReplacesTheDocuments) {
    const auto frame = encode_snapshot(R"({"revision":3,"version":"1.0.0"})", 5);
    EXPECT_EQ(json::parse(frame)["revision"], 5);
    EXPECT_EQ(json::parse(frame)["type"], "config_snapshot");
    EXPECT_EQ(json::parse(encode_snapshot(R"({"revision":3,"version":"1.0.0"})", 0)).count("revision"), 0u);
    // The same text and revision give the same bytes: replicas send identical frames.
    EXPECT_EQ(encode_snapshot(R"({"version":"x"})", 9), encode_snapshot(R"({"version":"x"})", 9));
}

// The router's loader accepts the two fields a snapshot adds to a config, without warnings.
TEST(ControlPlaneProtocol, SnapshotFieldsAreNotConfigWarnings) {
    const auto loaded = config::load_config(encode_snapshot(
        R"({"version":"1","routingTable":{},"cellEndpoints":{"tier3":"http://127.0.0.1:1"},"defaultPlacement":"tier3"})", 4));
    ASSERT_TRUE(loaded.ok());
    EXPECT_TRUE(loaded.warnings.empty());
}

}  // namespace
}  // namespace cell::controlplane

namespace cell::controlplane {
namespace {

// Deltas: the frame needs both hashes; a nack may ask for the full snapshot and a hello may say
// that the router takes deltas. Both flags are optional and default to false.
TEST(ControlPlaneProtocol, DeltaFields) {
    const auto delta = std::get<ConfigDelta>(
        decoded(R"({"type":"config_delta","version":"2","revision":5,"base_hash":"a","content_hash":"b"})"));
    EXPECT_EQ(delta.version, "2");
    EXPECT_EQ(delta.revision, 5u);
    EXPECT_EQ(delta.base_hash, "a");
    EXPECT_EQ(delta.content_hash, "b");
    EXPECT_NE(decode_error(R"({"type":"config_delta","version":"2","content_hash":"b"})").find("base_hash"),
              std::string::npos);
    EXPECT_NE(decode_error(R"({"type":"config_delta","base_hash":1,"content_hash":"b"})").find("base_hash"),
              std::string::npos);

    Nack nack{"1", "no base", "0", "n", 3};
    EXPECT_FALSE(std::get<Nack>(decoded(encode(nack))).need_full);
    nack.need_full = true;
    EXPECT_TRUE(std::get<Nack>(decoded(encode(nack))).need_full);
    EXPECT_FALSE(std::get<Nack>(decoded(R"({"type":"nack","version":"1","need_full":"yes"})")).need_full);

    Hello hello{"n", "1"};
    EXPECT_FALSE(std::get<Hello>(decoded(encode(hello))).deltas);
    EXPECT_EQ(json::parse(encode(hello)).count("deltas"), 0u);
    hello.deltas = true;
    EXPECT_TRUE(std::get<Hello>(decoded(encode(hello))).deltas);
}

}  // namespace
}  // namespace cell::controlplane
