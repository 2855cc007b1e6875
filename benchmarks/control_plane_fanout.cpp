// Control-plane fan-out: how long a config change takes to reach N routers.
//
// Opens N WebSocket sessions to a running cell-control-plane and plays the router's side of the
// protocol on each (hello, then an ack for every snapshot). Then it replaces the file the
// control plane watches R times (write a temporary file, rename it into place), alternating
// between two tables so that every change is a real one, and measures from the rename: the
// first snapshot received, the first and the last ack sent, and when GET /status reports every
// router as having acked the new version.
//
//   control_plane_fanout --port P --config WATCHED.json --table-a A.json --table-b B.json
//                        [--routers 100] [--changes 20] [--check content|hash|validate]
//                        [--timeout 30s] [--pause 300ms] [--status on|off] [--sighup PID]
//                        [--compression on|off] [--deltas on|off] [--verbose]
//
// The test routers are light: each reads a snapshot in pieces (so 100 of them never hold 100
// whole million-key snapshots) and acks it without building a routing table. --compression on
// offers permessage-deflate, as cell-router does. The bytes each snapshot took on the wire are
// read from the socket's TCP_INFO (tcpi_bytes_received), so they count what was compressed.
//
// --deltas on says so in the hello, as cell-router does: a router that acked the previous
// version then gets the change as a delta, which it acks with the delta's content hash when its
// base is the snapshot it acked (a light client has no table to apply it to; the real router's
// tests check what applying does). The figures then count delta frames on the wire.
//
// --sighup PID signals the control plane right after each rename, so it checks the file at once
// instead of at its next poll: the figures then leave out the wait for the poll timer.
//
// What a test router does before acking (--check):
//   content   compares the snapshot byte for byte with the frame the control plane must send
//             for that file (the same encode_snapshot), and acks with that frame's SHA-256.
//             Costs a memcmp, so the figures are the control plane's, not the clients' CPU.
//   hash      computes the SHA-256 of every snapshot, as a router does for its ack.
//   version   reads the snapshot and acks it with its version only, as the seed's routers do (the
//             control plane then counts the version): the figures are the control plane's and
//             the wire's, without 100 SHA-256s of every snapshot on this tool's one thread.
//             Such a router names no content hash, so it gets no deltas (for a store's
//             snapshots; a file's are told apart by content and acked with their hash).
//   validate  the SHA-256 plus config::load_config, as a router does before swapping (it
//             then also builds its table, which this skips; it keeps the whole snapshot to
//             parse it). 100 of them on a small machine measure the clients.
//
// Exits 0 after printing the figures; 1 on any error (control plane not reachable, a session
// closed, a nack, a change not acked by every router within --timeout), naming it.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "cell/config/duration.hpp"
#include "cell/config/errors.hpp"
#include "cell/config/load.hpp"
#include "cell/controlplane/protocol.hpp"
#include "cell/transport/io.hpp"
#include "cell/util/sha256.hpp"
#include "cell/util/time_format.hpp"

namespace {

using namespace cell;
namespace websocket = beast::websocket;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;
using error_code = boost::system::error_code;
using websocket_stream = websocket::stream<tcp_stream>;

enum class Check { content, hash, validate, version };

struct Options {
    unsigned short port = 0;
    std::string config_path;
    std::string table_a_path;
    std::string table_b_path;
    std::size_t routers = 100;
    std::size_t changes = 20;
    Check check = Check::content;
    std::chrono::milliseconds timeout{30000};
    std::chrono::milliseconds pause{300};
    bool poll_status = true;
    pid_t sighup_pid = 0;  // 0: leave the detection to the control plane's poll timer
    bool compression = false;  // offer permessage-deflate
    bool deltas = false;       // announce deltas in the hello
    // When set, each change is made by running this command with the table's file as its last
    // argument (e.g. `cellctl ... apply`) instead of replacing --config: for a control plane that
    // reads its config from etcd.
    std::string apply_command;
    bool verbose = false;
};

constexpr const char* usage =
    "Usage: control_plane_fanout --port P --config WATCHED.json --table-a A.json --table-b B.json\n"
    "         [--routers 100] [--changes 20] [--check content|hash|validate] [--timeout 30s]\n"
    "         [--pause 300ms] [--status on|off] [--sighup PID] [--compression on|off] [--deltas on|off]\n"
    "         [--verbose]\n"
    "         [--apply-command 'CMD ...']\n"
    "Connects N test routers to the control plane on 127.0.0.1:P, then replaces WATCHED.json\n"
    "with A and B in turn and reports how long each change takes to be acked by every router.\n"
    "With --apply-command, a change is `CMD ... FILE` (FILE: WATCHED.json with the table) instead,\n"
    "timed from the command's start, and snapshots are told apart by their version (a store's\n"
    "snapshot carries its revision, so its bytes differ from the file's).\n";

std::optional<std::string> parse_options(int argc, char** argv, Options& options) {
    for (int i = 1; i < argc; ++i) {
        std::string name = argv[i];
        std::string value;
        if (const auto equals = name.find('='); equals != std::string::npos) {
            value = name.substr(equals + 1);
            name.resize(equals);
        } else if (name != "--verbose" && name != "--help" && i + 1 < argc) {
            value = argv[++i];
        }
        auto duration = [&](std::chrono::milliseconds& target) -> std::optional<std::string> {
            const auto parsed = config::parse_duration(value);
            if (!parsed || parsed->count() < 0) {
                return name + ": not a duration (e.g. 300ms, 30s)";
            }
            target = *parsed;
            return std::nullopt;
        };
        auto count = [&](std::size_t& target) -> std::optional<std::string> {
            char* end = nullptr;
            const unsigned long parsed = std::strtoul(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || parsed == 0) {
                return name + ": not a positive number";
            }
            target = parsed;
            return std::nullopt;
        };
        std::optional<std::string> error;
        if (name == "--help") {
            return "";
        } else if (name == "--verbose") {
            options.verbose = true;
        } else if (name == "--port") {
            std::size_t port = 0;
            error = count(port);
            if (!error && port > 65535) {
                error = "--port: out of range";
            }
            options.port = static_cast<unsigned short>(port);
        } else if (name == "--config") {
            options.config_path = value;
        } else if (name == "--table-a") {
            options.table_a_path = value;
        } else if (name == "--table-b") {
            options.table_b_path = value;
        } else if (name == "--routers") {
            error = count(options.routers);
        } else if (name == "--changes") {
            error = count(options.changes);
        } else if (name == "--timeout") {
            error = duration(options.timeout);
        } else if (name == "--pause") {
            error = duration(options.pause);
        } else if (name == "--apply-command") {
            options.apply_command = value;
        } else if (name == "--sighup") {
            std::size_t pid = 0;
            error = count(pid);
            options.sighup_pid = static_cast<pid_t>(pid);
        } else if (name == "--status") {
            options.poll_status = value == "on";
            if (value != "on" && value != "off") {
                error = "--status: on or off";
            }
        } else if (name == "--compression") {
            options.compression = value == "on";
            if (value != "on" && value != "off") {
                error = "--compression: on or off";
            }
        } else if (name == "--deltas") {
            options.deltas = value == "on";
            if (value != "on" && value != "off") {
                error = "--deltas: on or off";
            }
        } else if (name == "--check") {
            if (value == "content") {
                options.check = Check::content;
            } else if (value == "hash") {
                options.check = Check::hash;
            } else if (value == "validate") {
                options.check = Check::validate;
            } else if (value == "version") {
                options.check = Check::version;
            } else {
                error = "--check: content, hash, validate or version";
            }
        } else {
            error = "unknown argument " + name;
        }
        if (error) {
            return error;
        }
    }
    if (options.port == 0 || options.config_path.empty() || options.table_a_path.empty() ||
        options.table_b_path.empty()) {
        return "--port, --config, --table-a and --table-b are required";
    }
    return std::nullopt;
}

// One of the two tables the run alternates between, with the snapshot frame the control plane
// will send for it.
struct Table {
    std::string name;
    std::string file_text;
    std::string frame;
    std::string frame_hash;
    std::string version;
    std::size_t keys = 0;
};

Table load_table(const std::string& name, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path);
    }
    std::stringstream contents;
    contents << in.rdbuf();
    Table table;
    table.name = name;
    table.file_text = contents.str();
    table.frame = controlplane::encode_snapshot(table.file_text);
    if (table.frame.empty()) {
        throw std::runtime_error(path + ": not a JSON object");
    }
    table.frame_hash = util::sha256_hex(table.frame);
    const auto document = nlohmann::json::parse(table.file_text);
    table.version = document.value("version", "");
    if (const auto routes = document.find("routingTable"); routes != document.end() && routes->is_object()) {
        table.keys = routes->size();
    }
    return table;
}

// Replaces `path` atomically: readers see the old file or the new one, never a partial one.
void replace_file(const std::string& path, const std::string& text) {
    const std::string temporary = path + ".fanout-tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out.flush()) {
            throw std::runtime_error("cannot write " + temporary);
        }
    }
    std::filesystem::rename(temporary, path);
}

// The change being measured and every router's progress on it. Everything runs on the one
// event-loop thread, so nothing here needs a lock.
struct Round {
    const Table* expected = nullptr;
    Clock::time_point replaced_at;
    std::chrono::system_clock::time_point replaced_wall;  // to line up with the control plane's log
    std::vector<std::optional<Clock::time_point>> received;
    std::vector<std::optional<Clock::time_point>> acked;
    std::vector<std::uint64_t> wire_bytes;  // TCP bytes received for the snapshot, per router
    std::size_t acked_count = 0;
};

struct Run {
    Options options;
    Table a;
    Table b;
    Round round;
    std::size_t initial_acks = 0;
    std::size_t deltas_received = 0;  // over every test router, the initial snapshots included
    std::string failure;  // the first error; ends the run
    steady_timer* progress = nullptr;  // woken whenever an ack is sent or a router fails

    void fail(std::string why) {
        if (failure.empty()) {
            failure = std::move(why);
        }
        progress->cancel();
    }
};

// glibc's tcp_info stops at tcpi_total_retrans; the kernel's goes on (linux/tcp.h, which clashes
// with netinet/tcp.h that Asio includes). The kernel only ever appends fields, so these follow.
struct TcpInfoWithBytes {
    tcp_info base;
    std::uint64_t pacing_rate;
    std::uint64_t max_pacing_rate;
    std::uint64_t bytes_acked;
    std::uint64_t bytes_received;
};
static_assert(offsetof(TcpInfoWithBytes, pacing_rate) == sizeof(tcp_info));

// SHA-256 over pieces (OpenSSL's EVP), for a snapshot that is never held whole.
class Sha256 {
public:
    Sha256() : context_(EVP_MD_CTX_new()) { reset(); }
    ~Sha256() { EVP_MD_CTX_free(context_); }
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void reset() { EVP_DigestInit_ex(context_, EVP_sha256(), nullptr); }
    void update(std::string_view piece) { EVP_DigestUpdate(context_, piece.data(), piece.size()); }
    std::string hex() {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int size = 0;
        EVP_DigestFinal_ex(context_, digest, &size);
        static constexpr char digits[] = "0123456789abcdef";
        std::string out;
        for (unsigned int i = 0; i < size; ++i) {
            out.push_back(digits[digest[i] >> 4]);
            out.push_back(digits[digest[i] & 0xF]);
        }
        return out;
    }

private:
    EVP_MD_CTX* context_;
};

// What a test router learned from one snapshot, read piece by piece.
struct Incoming {
    std::uint64_t bytes = 0;
    bool same_as_a = true;  // --check content: every piece matched table A's frame so far
    bool same_as_b = true;
    std::string hash;  // --check hash and validate, and for a snapshot of neither table
    controlplane::SnapshotVersionScanner version;
    std::string text;  // --check validate, and a delta
    bool delta = false;  // the frame is a config_delta (told from its first bytes)
};

// One test router: a WebSocket session that acks every snapshot it is sent.
class TestRouter : public std::enable_shared_from_this<TestRouter> {
public:
    TestRouter(io_executor executor, Run& run, std::size_t index)
        : ws_(executor), run_(run), index_(index), node_id_("fanout-" + std::to_string(index)) {}

    // Connects and says hello; an error text when it could not.
    awaitable<std::string> connect() {
        const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), run_.options.port);
        auto& stream = beast::get_lowest_layer(ws_);
        stream.expires_after(std::chrono::seconds(5));
        auto [connect_ec] = co_await stream.async_connect(endpoint);
        if (connect_ec) {
            co_return "cannot reach the control plane at 127.0.0.1:" + std::to_string(run_.options.port) + ": " +
                connect_ec.message();
        }
        stream.expires_never();
        auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
        timeouts.handshake_timeout = std::chrono::seconds(5);
        ws_.set_option(timeouts);
        // Read in pieces (serve()), so no whole-message limit here.
        ws_.read_message_max(0);
        websocket::permessage_deflate deflate;
        deflate.client_enable = run_.options.compression;
        ws_.set_option(deflate);
        const std::string host = "127.0.0.1:" + std::to_string(run_.options.port);
        auto [handshake_ec] = co_await ws_.async_handshake(host, "/connect");
        if (handshake_ec) {
            co_return "WebSocket handshake with the control plane failed: " + handshake_ec.message();
        }
        ws_.text(true);
        controlplane::Hello hello_message{node_id_, ""};
        hello_message.deltas = run_.options.deltas;
        const std::string hello = controlplane::encode(hello_message);
        const auto hello_buffer = net::buffer(hello);
        auto [hello_ec, hello_bytes] = co_await ws_.async_write(hello_buffer);
        if (hello_ec) {
            co_return "sending hello failed: " + hello_ec.message();
        }
        wire_bytes_at_last_message_ = tcp_bytes_received();
        co_return std::string{};
    }

    awaitable<void> serve() {
        beast::flat_buffer buffer;
        for (;;) {
            Incoming incoming;
            hash_.reset();
            const bool hashing = run_.options.check == Check::hash || run_.options.check == Check::validate;
            do {
                auto [read_ec, bytes] = co_await ws_.async_read_some(buffer, read_piece_bytes);
                if (read_ec) {
                    run_.fail(node_id_ + ": connection to the control plane ended: " + read_ec.message());
                    co_return;
                }
                const auto data = buffer.cdata();
                const std::string_view piece(static_cast<const char*>(data.data()), data.size());
                take_piece(incoming, piece, hashing);
                buffer.consume(buffer.size());
            } while (!ws_.is_message_done());
            const auto received_at = Clock::now();
            const std::uint64_t wire_now = tcp_bytes_received();
            const std::uint64_t wire_bytes = wire_now - wire_bytes_at_last_message_;
            wire_bytes_at_last_message_ = wire_now;
            std::string reply = answer(incoming, hashing);
            if (identified_ == nullptr && !incoming.delta && run_.round.expected != nullptr) {
                run_.fail(node_id_ + ": got a " + std::to_string(incoming.bytes) +
                          "-byte snapshot that is neither table; with --check content the expected frames come "
                          "from this build's encode_snapshot, so a control plane of another build may need --check hash");
            }
            const Table* measured = counts_for_round(identified_) ? identified_ : nullptr;
            if (measured != nullptr) {
                run_.round.received[index_] = received_at;
                run_.round.wire_bytes[index_] = wire_bytes;
            }
            const auto reply_buffer = net::buffer(reply);
            // Asio writes as the operation starts, so the ack is on the socket now; the
            // completion may then wait behind other routers' reads on this one thread.
            const auto ack_sent_at = Clock::now();
            auto [write_ec, written] = co_await ws_.async_write(reply_buffer);
            if (write_ec) {
                run_.fail(node_id_ + ": sending the ack failed: " + write_ec.message());
                co_return;
            }
            if (!nacked_) {
                record_ack(measured, ack_sent_at);
            }
        }
    }

    void close() {
        error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
    }

private:
    static constexpr std::size_t read_piece_bytes = 1024 * 1024;

    // Bytes the kernel has delivered on this socket so far (TCP_INFO), 0 when it cannot say.
    std::uint64_t tcp_bytes_received() {
        TcpInfoWithBytes info{};
        socklen_t size = sizeof info;
        auto& socket = beast::get_lowest_layer(ws_).socket();
        if (::getsockopt(socket.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &size) != 0 || size < sizeof info) {
            return 0;
        }
        return info.bytes_received;
    }

    void take_piece(Incoming& incoming, std::string_view piece, bool hashing) {
        const std::uint64_t offset = incoming.bytes;
        incoming.bytes += piece.size();
        for (auto [table, same] : {std::pair{&run_.a, &incoming.same_as_a}, std::pair{&run_.b, &incoming.same_as_b}}) {
            *same = *same && incoming.bytes <= table->frame.size() &&
                    std::string_view(table->frame).substr(offset, piece.size()) == piece;
        }
        if (hashing) {
            hash_.update(piece);
        }
        incoming.version.feed(piece);
        if (offset == 0) {
            incoming.delta = piece.starts_with(R"({"type":"config_delta")");
        }
        if (run_.options.check == Check::validate || incoming.delta) {
            incoming.text.append(piece);
        }
    }

    // Checks the snapshot as --check asks and returns the ack (or nack) to send. Sets
    // identified_ to the table it carries, nullptr for a snapshot of neither table.
    std::string answer(Incoming& incoming, bool hashing) {
        identified_ = nullptr;
        nacked_ = false;
        if (incoming.delta) {
            return answer_delta(incoming);
        }
        return answer_snapshot(incoming, hashing);
    }

    // A delta is acked as the router would: with the content hash it stands for, when its base
    // is what this test router acked last; otherwise it asks for the full snapshot.
    std::string answer_delta(Incoming& incoming) {
        ++run_.deltas_received;
        // Light: only the header (the fields before the keys) is decoded; 100 clients on one
        // thread parsing whole deltas would measure this tool, not the control plane.
        const auto keys_at = incoming.text.find(R"(,"routingTable":)");
        auto decoded = controlplane::decode_message(
            keys_at == std::string::npos ? incoming.text : incoming.text.substr(0, keys_at) + "}");
        const auto* message = std::get_if<controlplane::Message>(&decoded);
        const auto* delta = message != nullptr ? std::get_if<controlplane::ConfigDelta>(message) : nullptr;
        if (delta == nullptr) {
            nacked_ = true;
            run_.fail(node_id_ + ": a config_delta frame that does not decode");
            return controlplane::encode(controlplane::Nack{"", "undecodable delta", "", node_id_});
        }
        if (delta->base_hash != serving_hash_) {
            nacked_ = true;
            controlplane::Nack nack{delta->version, "not my base", "", node_id_, delta->revision};
            nack.need_full = true;
            return controlplane::encode(nack);
        }
        for (const Table* table : {&run_.a, &run_.b}) {
            if (delta->version == table->version) {
                identified_ = table;
            }
        }
        serving_hash_ = delta->content_hash;
        return controlplane::encode(controlplane::Ack{delta->version, delta->content_hash, node_id_, delta->revision});
    }

    std::string answer_snapshot(Incoming& incoming, bool hashing) {
        std::string hash = hashing ? hash_.hex() : std::string{};
        for (auto [table, same] : {std::pair{&run_.a, incoming.same_as_a}, std::pair{&run_.b, incoming.same_as_b}}) {
            const bool whole = same && incoming.bytes == table->frame.size();
            if (hashing ? hash == table->frame_hash : whole) {
                identified_ = table;
                hash = table->frame_hash;
            }
        }
        if (identified_ == nullptr && (hashing || run_.options.check == Check::version) &&
            !run_.options.apply_command.empty()) {
            // From a store: the frame carries its revision, so only its version names the table.
            for (const Table* table : {&run_.a, &run_.b}) {
                if (incoming.version.version() == table->version) {
                    identified_ = table;
                }
            }
        }
        // Only the snapshot served before the run started can be neither table: not timed, and
        // acked with its version (the hash of content this check did not hash is unknown).
        const std::string version = identified_ != nullptr ? identified_->version : incoming.version.version();
        if (run_.options.check == Check::validate) {
            const auto loaded = config::load_config(incoming.text);
            if (!loaded.ok()) {
                nacked_ = true;
                run_.fail(node_id_ + ": snapshot " + version + " failed validation: " + config::describe(loaded.errors));
                return controlplane::encode(controlplane::Nack{version, config::describe(loaded.errors), "", node_id_});
            }
        }
        serving_hash_ = hash;
        return controlplane::encode(controlplane::Ack{version, hash, node_id_});
    }

    bool counts_for_round(const Table* table) const {
        return table != nullptr && table == run_.round.expected && !run_.round.received[index_];
    }

    void record_ack(const Table* measured, Clock::time_point sent_at) {
        if (!seen_first_snapshot_) {
            seen_first_snapshot_ = true;
            ++run_.initial_acks;
            run_.progress->cancel();
        }
        if (measured == nullptr || measured != run_.round.expected || run_.round.acked[index_]) {
            return;
        }
        run_.round.acked[index_] = sent_at;
        ++run_.round.acked_count;
        run_.progress->cancel();
    }

    websocket_stream ws_;
    Run& run_;
    std::size_t index_;
    std::string node_id_;
    Sha256 hash_;
    std::uint64_t wire_bytes_at_last_message_ = 0;
    const Table* identified_ = nullptr;
    std::string serving_hash_;  // the content hash of the last snapshot or delta acked
    bool nacked_ = false;
    bool seen_first_snapshot_ = false;
};

// GET /status; the parsed body, or nullopt when the control plane did not answer properly.
awaitable<std::optional<nlohmann::json>> fetch_status(unsigned short port) {
    const auto executor = co_await net::this_coro::executor;
    tcp_stream stream(executor);
    stream.expires_after(std::chrono::seconds(2));
    const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
    auto [connect_ec] = co_await stream.async_connect(endpoint);
    if (connect_ec) {
        co_return std::nullopt;
    }
    http::request<http::empty_body> request{http::verb::get, "/status", 11};
    request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    request.set(http::field::connection, "close");
    auto [write_ec, written] = co_await http::async_write(stream, request);
    if (write_ec) {
        co_return std::nullopt;
    }
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    auto [read_ec, read] = co_await http::async_read(stream, buffer, response);
    if (read_ec || response.result() != http::status::ok) {
        co_return std::nullopt;
    }
    auto body = nlohmann::json::parse(response.body(), nullptr, false);
    if (body.is_discarded()) {
        co_return std::nullopt;
    }
    co_return body;
}

// `by_version`: a store's snapshot carries its revision, so its hash is not the file's frame hash.
bool status_shows_all_acked(const nlohmann::json& status, const Table& expected, std::size_t routers,
                            bool by_version) {
    const bool current = by_version ? status.value("current_version", "") == expected.version
                                    : status.value("current_hash", "") == expected.frame_hash;
    return current && status.value("acked_current", std::size_t{0}) >= routers;
}

struct ChangeTimes {
    double first_received_ms = 0;
    double first_ack_ms = 0;
    double last_ack_ms = 0;
    std::optional<double> status_ms;
    std::vector<double> ack_ms;               // every router's, from the rename
    std::vector<std::uint64_t> wire_bytes;    // every router's snapshot, on the wire
};

struct Summary {
    std::vector<ChangeTimes> changes;
};

double percentile(std::vector<double> values, double p) {
    std::sort(values.begin(), values.end());
    // Nearest rank: the smallest value with at least p of the samples at or below it.
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
    return values[std::max<std::size_t>(rank, 1) - 1];
}

class FanoutBench {
public:
    FanoutBench(net::io_context& context, Run& run) : context_(context), run_(run), progress_(context.get_executor()) {
        run_.progress = &progress_;
    }

    awaitable<int> main() {
        const std::string error = co_await connect_all();
        if (!error.empty()) {
            co_return report_failure(error);
        }
        // Every router first gets the snapshot the control plane serves now.
        co_await wait_for_all(run_.initial_acks);
        if (run_.initial_acks < routers_.size()) {
            co_return report_failure(run_.failure.empty() ? "not every router got the current snapshot within --timeout"
                                                          : run_.failure);
        }
        std::cout << "connected " << routers_.size() << " routers; each got the current snapshot" << std::endl;

        const std::string current = read_current_file();
        const Table* next = current == run_.a.file_text ? &run_.b : &run_.a;
        std::mt19937 random(12345);
        Summary summary;
        // Change 0 warms up (first allocations of the big buffers) and is not counted.
        for (std::size_t change = 0; change <= run_.options.changes; ++change) {
            std::optional<ChangeTimes> times = co_await measure_change(*next);
            if (!times) {
                co_return report_failure(run_.failure);
            }
            if (change > 0) {
                summary.changes.push_back(*times);
            }
            if (run_.options.verbose) {
                print_change(change, *next, *times);
            }
            next = next == &run_.a ? &run_.b : &run_.a;
            // A random offset against the control plane's poll timer, so the changes sample
            // its whole interval instead of one phase of it.
            std::uniform_int_distribution<long> jitter(0, std::max<long>(run_.options.pause.count(), 1));
            steady_timer pause(context_.get_executor());
            pause.expires_after(run_.options.pause + std::chrono::milliseconds(jitter(random)));
            co_await pause.async_wait();
            if (!run_.failure.empty()) {
                co_return report_failure(run_.failure);
            }
        }
        print_summary(summary);
        close_all();
        co_return 0;
    }

private:
    awaitable<std::string> connect_all() {
        const auto executor = context_.get_executor();
        for (std::size_t i = 0; i < run_.options.routers; ++i) {
            auto router = std::make_shared<TestRouter>(executor, run_, i);
            const std::string error = co_await router->connect();
            if (!error.empty()) {
                co_return error;
            }
            routers_.push_back(router);
            net::co_spawn(context_, router->serve(), [router](std::exception_ptr) {});
        }
        co_return std::string{};
    }

    // Waits until `count` reaches the number of routers, a router fails, or --timeout passes.
    awaitable<void> wait_for_all(const std::size_t& count) {
        const auto deadline = Clock::now() + run_.options.timeout;
        while (count < routers_.size() && run_.failure.empty() && Clock::now() < deadline) {
            progress_.expires_at(deadline);
            co_await progress_.async_wait();
        }
    }

    awaitable<std::optional<ChangeTimes>> measure_change(const Table& table) {
        auto& round = run_.round;
        round.expected = &table;
        round.received.assign(routers_.size(), std::nullopt);
        round.acked.assign(routers_.size(), std::nullopt);
        round.wire_bytes.assign(routers_.size(), 0);
        round.acked_count = 0;
        std::thread applying;
        std::atomic<int> apply_status{0};
        if (run_.options.apply_command.empty()) {
            replace_file(run_.options.config_path, table.file_text);
        } else {
            replace_file(run_.options.config_path, table.file_text);
            // On its own thread: this loop must keep reading the routers meanwhile.
            applying = std::thread([&apply_status, command = run_.options.apply_command + " '" +
                                                                run_.options.config_path + "' >/dev/null"] {
                apply_status = std::system(command.c_str());
            });
        }
        round.replaced_at = Clock::now();
        round.replaced_wall = std::chrono::system_clock::now();
        struct JoinAtExit {
            std::thread& thread;
            ~JoinAtExit() {
                if (thread.joinable()) {
                    thread.join();
                }
            }
        } join_at_exit{applying};
        if (run_.options.sighup_pid != 0 && ::kill(run_.options.sighup_pid, SIGHUP) != 0) {
            run_.failure = "cannot signal the control plane (pid " + std::to_string(run_.options.sighup_pid) +
                           "): " + std::strerror(errno);
            co_return std::nullopt;
        }
        co_await wait_for_all(round.acked_count);
        if (applying.joinable()) {
            applying.join();
            if (apply_status != 0) {
                run_.failure = "the apply command failed (status " + std::to_string(apply_status.load()) + ")";
                co_return std::nullopt;
            }
        }
        if (round.acked_count < routers_.size()) {
            if (run_.failure.empty()) {
                run_.failure = "only " + std::to_string(round.acked_count) + " of " + std::to_string(routers_.size()) +
                               " routers acked version " + table.version + " within " +
                               config::format_duration(run_.options.timeout) + " of the file change";
            }
            co_return std::nullopt;
        }
        ChangeTimes times;
        times.first_received_ms = since_replaced(*std::min_element(round.received.begin(), round.received.end()));
        times.first_ack_ms = since_replaced(*std::min_element(round.acked.begin(), round.acked.end()));
        times.last_ack_ms = since_replaced(*std::max_element(round.acked.begin(), round.acked.end()));
        for (const auto& acked : round.acked) {
            times.ack_ms.push_back(since_replaced(acked));
        }
        times.wire_bytes = round.wire_bytes;
        if (run_.options.poll_status) {
            // Polled only once every ack is out, so the polling does not compete with the fan-out.
            times.status_ms = co_await wait_for_status(table);
            if (!times.status_ms) {
                run_.failure = "GET /status did not report every router acked on version " + table.version +
                               " within " + config::format_duration(run_.options.timeout);
                co_return std::nullopt;
            }
        }
        co_return times;
    }

    awaitable<std::optional<double>> wait_for_status(const Table& table) {
        const auto deadline = Clock::now() + run_.options.timeout;
        steady_timer tick(context_.get_executor());
        while (Clock::now() < deadline) {
            const auto status = co_await fetch_status(run_.options.port);
            const auto answered_at = Clock::now();
            if (status && status_shows_all_acked(*status, table, routers_.size(), !run_.options.apply_command.empty())) {
                co_return Millis(answered_at - run_.round.replaced_at).count();
            }
            tick.expires_after(std::chrono::milliseconds(2));
            co_await tick.async_wait();
        }
        co_return std::nullopt;
    }

    double since_replaced(const std::optional<Clock::time_point>& at) const {
        return Millis(*at - run_.round.replaced_at).count();
    }

    std::string read_current_file() const {
        std::ifstream in(run_.options.config_path, std::ios::binary);
        std::stringstream contents;
        contents << in.rdbuf();
        return contents.str();
    }

    void print_change(std::size_t change, const Table& table, const ChangeTimes& times) const {
        std::printf("change %3zu at %s -> %s (%s): first snapshot %8.1f ms, first ack %8.1f ms, last ack %8.1f ms",
                    change, util::format_rfc3339(run_.round.replaced_wall).c_str(), table.name.c_str(),
                    table.version.c_str(), times.first_received_ms, times.first_ack_ms,
                    times.last_ack_ms);
        if (times.status_ms) {
            std::printf(", /status all acked %8.1f ms", *times.status_ms);
        }
        std::printf("%s\n", change == 0 ? "  (warm-up, not counted)" : "");
    }

    void print_summary(const Summary& summary) const {
        const char* check = run_.options.check == Check::content ? "content"
                            : run_.options.check == Check::version ? "version"
                            : run_.options.check == Check::hash  ? "hash"
                                                                 : "validate";
        std::printf("\n%zu routers, %zu changes, --check %s%s, permessage-deflate %s; table A: %zu keys, "
                    "%zu-byte snapshot; table B: %zu keys, %zu-byte snapshot\n",
                    routers_.size(), summary.changes.size(), check,
                    run_.options.sighup_pid != 0 ? ", SIGHUP after each rename" : "",
                    run_.options.compression ? "offered" : "off", run_.a.keys, run_.a.frame.size(), run_.b.keys,
                    run_.b.frame.size());
        std::printf("(the test routers ack without building a routing table: --check %s)\n", check);
        if (run_.options.deltas) {
            std::printf("deltas announced: %zu delta frames received over all test routers\n", run_.deltas_received);
        }
        std::printf("ms from the rename of the file  %9s %9s %9s %9s\n", "p50", "p95", "p99", "max");
        auto row = [&](const char* label, auto pick) {
            std::vector<double> values;
            for (const auto& times : summary.changes) {
                if (const std::optional<double> value = pick(times)) {
                    values.push_back(*value);
                }
            }
            if (values.empty()) {
                return;
            }
            std::printf("%-32s %9.1f %9.1f %9.1f %9.1f\n", label, percentile(values, 0.50), percentile(values, 0.95),
                        percentile(values, 0.99), percentile(values, 1.0));
        };
        row("first snapshot received", [](const ChangeTimes& t) { return std::optional<double>(t.first_received_ms); });
        row("first ack sent", [](const ChangeTimes& t) { return std::optional<double>(t.first_ack_ms); });
        row("last ack sent", [](const ChangeTimes& t) { return std::optional<double>(t.last_ack_ms); });
        row("/status: all acked", [](const ChangeTimes& t) { return t.status_ms; });
        std::vector<double> per_router;
        std::vector<double> wire;
        for (const auto& times : summary.changes) {
            per_router.insert(per_router.end(), times.ack_ms.begin(), times.ack_ms.end());
            for (const auto bytes : times.wire_bytes) {
                wire.push_back(static_cast<double>(bytes));
            }
        }
        if (!per_router.empty()) {
            std::printf("%-32s %9.1f %9.1f %9.1f %9.1f   (%zu samples: every router, every change)\n",
                        "each router's ack sent", percentile(per_router, 0.50), percentile(per_router, 0.95),
                        percentile(per_router, 0.99), percentile(per_router, 1.0), per_router.size());
        }
        if (!wire.empty()) {
            double total = 0;
            for (const double bytes : wire) {
                total += bytes;
            }
            const double mean = total / static_cast<double>(wire.size());
            const double frame = static_cast<double>(run_.a.frame.size() + run_.b.frame.size()) / 2;
            std::printf("bytes on the wire per snapshot (TCP, mean): %.0f (%.1f%% of the mean frame, %.0f bytes)\n",
                        mean, 100.0 * mean / frame, frame);
        }
        // On a small machine the test routers compete with the control plane for the cores:
        // their share says how far the figures are the control plane's own.
        rusage usage{};
        ::getrusage(RUSAGE_SELF, &usage);
        const double cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                                   static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
        std::printf("test routers' CPU for the whole run (connects, warm-up and changes): %.2f s\n", cpu_seconds);
        std::fflush(stdout);
    }

    int report_failure(const std::string& why) {
        std::cerr << "control_plane_fanout: " << (why.empty() ? "failed" : why) << std::endl;
        close_all();
        return 1;
    }

    void close_all() {
        for (const auto& router : routers_) {
            router->close();
        }
    }

    net::io_context& context_;
    Run& run_;
    steady_timer progress_;
    std::vector<std::shared_ptr<TestRouter>> routers_;
};

}  // namespace

int main(int argc, char** argv) {
    Run run;
    if (const auto error = parse_options(argc, argv, run.options)) {
        if (error->empty()) {
            std::cout << usage;
            return 0;
        }
        std::cerr << "control_plane_fanout: " << *error << "\n" << usage;
        return 2;
    }
    try {
        run.a = load_table("A", run.options.table_a_path);
        run.b = load_table("B", run.options.table_b_path);
    } catch (const std::exception& e) {
        std::cerr << "control_plane_fanout: " << e.what() << "\n";
        return 2;
    }
    if (run.a.frame_hash == run.b.frame_hash) {
        std::cerr << "control_plane_fanout: the two tables are the same; each change must be a real one\n";
        return 2;
    }
    if (run.a.version == run.b.version) {
        std::cerr << "control_plane_fanout: warning: both tables have version \"" << run.a.version
                  << "\"; acks are told apart by content hash only\n";
    }
    net::io_context context{1};
    FanoutBench bench(context, run);
    int exit_code = 1;
    net::co_spawn(context, bench.main(), [&](std::exception_ptr error, int code) {
        if (error) {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                std::cerr << "control_plane_fanout: " << e.what() << "\n";
            }
            code = 1;
        }
        exit_code = code;
        // The router sessions' coroutines end with their sockets; nothing else keeps the loop up.
        context.stop();
    });
    context.run();
    return exit_code;
}
