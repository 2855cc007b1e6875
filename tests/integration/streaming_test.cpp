// Bodies stream through the router in both directions: large uploads and downloads keep the
// router's memory bounded, and bytes are relayed as they arrive instead of after the whole body.

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>

#include "harness.hpp"
#include "shared_deployment.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMiB = 1024 * 1024;
// The router relays through fixed 64 KiB buffers; anything near a body's size means buffering.
constexpr long kMaxRssGrowthKib = 64 * 1024;

bool sanitized() { return std::getenv("CELLROUTER_SANITIZED") != nullptr; }

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

// Deterministic pseudo-random bytes (splitmix64), generated piece by piece so a gigabyte never
// has to be held in memory.
class ByteGenerator {
public:
    explicit ByteGenerator(std::uint64_t seed) : state_(seed) {}

    std::string next(std::size_t n) {
        std::string out(n, '\0');
        for (std::size_t i = 0; i < n; i += 8) {
            const std::uint64_t word = step();
            std::memcpy(out.data() + i, &word, std::min<std::size_t>(8, n - i));
        }
        return out;
    }

private:
    std::uint64_t step() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    std::uint64_t state_;
};

// A response read straight off the socket, hashing the body as it arrives instead of keeping it.
struct StreamedResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::uint64_t body_bytes = 0;
    std::string body_sha256;
    Clock::time_point first_body_byte{};
    Clock::time_point last_body_byte{};
};

class StreamReader {
public:
    explicit StreamReader(Connection& connection) : fd_(connection.fd()) {}

    // Reads the status line and headers (skipping 1xx responses).
    StreamedResponse read_head() {
        StreamedResponse response;
        for (;;) {
            const auto status_line = line();
            response.status = std::stoi(status_line.substr(status_line.find(' ') + 1, 3));
            response.headers.clear();
            for (auto field = line(); !field.empty(); field = line()) {
                const auto colon = field.find(':');
                auto value = field.substr(colon + 1);
                value.erase(0, value.find_first_not_of(' '));
                response.headers[lower(field.substr(0, colon))] = value;
            }
            if (response.status >= 200) {
                return response;
            }
        }
    }

    // Reads the body framed by Content-Length or chunked coding, hashing it; `progress` is told
    // the byte count so far after each piece.
    void read_body(StreamedResponse& response, const std::function<void(std::uint64_t)>& progress = {}) {
        Sha256 sha;
        const auto consume = [&](std::uint64_t n) {
            while (n > 0) {
                if (buffer_.empty() && !fill()) {
                    throw std::runtime_error("connection closed mid-body");
                }
                const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(n, buffer_.size()));
                if (response.body_bytes == 0) {
                    response.first_body_byte = Clock::now();
                }
                sha.update(buffer_.data(), take);
                buffer_.erase(0, take);
                response.body_bytes += take;
                n -= take;
                if (progress) {
                    progress(response.body_bytes);
                }
            }
            response.last_body_byte = Clock::now();
        };
        if (lower(response.headers["transfer-encoding"]) == "chunked") {
            for (;;) {
                const std::uint64_t size = std::stoull(line(), nullptr, 16);
                if (size == 0) {
                    while (!line().empty()) {
                    }
                    break;
                }
                consume(size);
                line();
            }
        } else {
            consume(std::stoull(response.headers.at("content-length")));
        }
        response.body_sha256 = sha.final_hex();
    }

private:
    bool fill() {
        char chunk[256 * 1024];
        const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) {
            return false;
        }
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    std::string line() {
        for (;;) {
            const auto end = buffer_.find("\r\n");
            if (end != std::string::npos) {
                auto text = buffer_.substr(0, end);
                buffer_.erase(0, end + 2);
                return text;
            }
            if (!fill()) {
                throw std::runtime_error("connection closed mid-response");
            }
        }
    }

    int fd_;
    std::string buffer_;
};

class StreamingTest : public SharedDeploymentTest<StreamingTest> {
protected:
    // One request first, so the baseline includes the router's per-worker buffers and pools.
    static void warm_up() { ASSERT_EQ(request(port(), "GET", "/warm-up", {{"X-Routing-Key", "acme"}}).status, 200); }

    // Downloads `target` hashing as it goes, with the router's RSS sampled throughout.
    static void expect_streamed_download(const std::string& target, std::uint64_t size, bool chunked) {
        warm_up();
        RssSampler rss(deployment_->router());
        Connection connection(port(), 60s);
        connection.send(make_request("GET", target, {{"X-Routing-Key", "acme"}}));
        StreamReader reader(connection);
        auto response = reader.read_head();
        ASSERT_EQ(response.status, 200);
        EXPECT_EQ(response.headers.count("transfer-encoding") == 1, chunked);
        EXPECT_EQ(response.headers.count("content-length") == 1, !chunked);
        reader.read_body(response);
        const long peak = rss.stop();
        EXPECT_EQ(response.body_bytes, size);
        EXPECT_EQ(response.body_sha256, response.headers["x-body-sha256"]);
        RecordProperty("router_rss_growth_kib", std::to_string(peak - rss.baseline_kib()));
        EXPECT_LT(peak - rss.baseline_kib(), kMaxRssGrowthKib)
            << "router RSS grew from " << rss.baseline_kib() << " KiB to " << peak << " KiB";
    }
};


// A 1 GiB Content-Length upload reaches the cell intact while the router's RSS stays within
// 64 MiB of its baseline (256 MiB under sanitizers, which are too slow for a gigabyte).
TEST_F(StreamingTest, GigabyteUploadIsStreamedWithBoundedMemory) {
    const std::uint64_t total = sanitized() ? 256 * kMiB : 1024 * kMiB;
    warm_up();
    RssSampler rss(deployment_->router());
    Connection connection(port(), 120s);
    connection.send("POST /upload HTTP/1.1\r\nHost: test.local\r\nX-Routing-Key: acme\r\n"
                    "Content-Type: application/octet-stream\r\nContent-Length: " +
                    std::to_string(total) + "\r\n\r\n");
    ByteGenerator generator(1);
    Sha256 sha;
    for (std::uint64_t sent = 0; sent < total;) {
        const auto piece = generator.next(static_cast<std::size_t>(std::min<std::uint64_t>(kMiB, total - sent)));
        sha.update(piece);
        connection.send(piece);
        sent += piece.size();
    }
    const auto response = connection.read_response();
    const long peak = rss.stop();
    ASSERT_EQ(response.status, 200) << response.body;
    const auto echo = response.json();
    EXPECT_EQ(echo["body_bytes"].get<std::uint64_t>(), total);
    EXPECT_EQ(echo["body_sha256"], sha.final_hex());
    RecordProperty("router_rss_growth_kib", std::to_string(peak - rss.baseline_kib()));
    EXPECT_LT(peak - rss.baseline_kib(), kMaxRssGrowthKib)
        << "router RSS grew from " << rss.baseline_kib() << " KiB to " << peak << " KiB";
}

// A ~50 MiB chunked upload in chunks of random sizes (some with chunk extensions) reaches the
// cell byte-exact.
TEST_F(StreamingTest, ChunkedUploadOfRandomChunkSizesArrivesIntact) {
    const std::uint64_t total = 50 * kMiB;
    Connection connection(port(), 60s);
    connection.send("POST /chunked-upload HTTP/1.1\r\nHost: test.local\r\nX-Routing-Key: globex\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n");
    std::mt19937_64 random(42);
    std::uniform_int_distribution<std::size_t> chunk_size(1, 256 * 1024);
    ByteGenerator generator(2);
    Sha256 sha;
    std::string pending;
    int chunks = 0;
    for (std::uint64_t sent = 0; sent < total;) {
        const auto size = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size(random), total - sent));
        const auto data = generator.next(size);
        sha.update(data);
        char size_hex[32];
        std::snprintf(size_hex, sizeof size_hex, "%zx", size);
        pending += size_hex;
        pending += ++chunks % 7 == 0 ? ";ext=1\r\n" : "\r\n";
        pending += data;
        pending += "\r\n";
        sent += size;
        if (pending.size() >= kMiB) {
            connection.send(pending);
            pending.clear();
        }
    }
    connection.send(pending + "0\r\n\r\n");
    const auto response = connection.read_response();
    ASSERT_EQ(response.status, 200) << response.body;
    const auto echo = response.json();
    EXPECT_EQ(echo["body_bytes"].get<std::uint64_t>(), total);
    EXPECT_EQ(echo["body_sha256"], sha.final_hex());
}

// A large Content-Length download arrives byte-exact with the router's RSS bounded.
TEST_F(StreamingTest, LargeContentLengthDownloadIsStreamed) {
    const std::uint64_t size = 32 * kMiB;
    expect_streamed_download("/?response_bytes=" + std::to_string(size), size, false);
}

// A large chunked download arrives byte-exact with the router's RSS bounded.
TEST_F(StreamingTest, LargeChunkedDownloadIsStreamed) {
    const std::uint64_t size = 32 * kMiB;
    expect_streamed_download("/?response_bytes=" + std::to_string(size) + "&chunked=1", size, true);
}

// A client that stops reading holds the cell back: the router does not soak up the body meanwhile,
// and the download completes intact once the client reads again.
TEST_F(StreamingTest, StalledClientHoldsTheCellBack) {
    const std::uint64_t size = 128 * kMiB;
    warm_up();
    RssSampler rss(deployment_->router());
    Connection connection(port(), 60s);
    connection.send(make_request("GET", "/stalled-download?response_bytes=" + std::to_string(size),
                                 {{"X-Routing-Key", "acme"}}));
    StreamReader reader(connection);
    auto response = reader.read_head();
    ASSERT_EQ(response.status, 200);
    // The cell logs a request once it has written the whole response; with the client not
    // reading, socket buffers (a few MiB) must stop it long before 128 MiB.
    const bool cell_finished = eventually(
        [&] { return !cell_request_lines(*deployment_, "/stalled-download").empty(); }, 1500ms);
    EXPECT_FALSE(cell_finished) << "the cell sent the whole body while the client was not reading";
    reader.read_body(response);
    const long peak = rss.stop();
    EXPECT_EQ(response.body_bytes, size);
    EXPECT_EQ(response.body_sha256, response.headers["x-body-sha256"]);
    RecordProperty("router_rss_growth_kib", std::to_string(peak - rss.baseline_kib()));
    EXPECT_LT(peak - rss.baseline_kib(), kMaxRssGrowthKib)
        << "router RSS grew from " << rss.baseline_kib() << " KiB to " << peak << " KiB";
}

// Response bytes are relayed as the cell sends them: with four 64 KiB pieces 300 ms apart, the
// first body bytes reach the client long before the last (a buffering router would deliver
// them together).
TEST_F(StreamingTest, ResponseBodyFlowsIncrementally) {
    Connection connection(port(), 30s);
    connection.send(make_request("GET", "/?response_bytes=262144&pause_ms=300", {{"X-Routing-Key", "acme"}}));
    StreamReader reader(connection);
    auto response = reader.read_head();
    ASSERT_EQ(response.status, 200);
    reader.read_body(response);
    EXPECT_EQ(response.body_bytes, 262144u);
    EXPECT_EQ(response.body_sha256, response.headers["x-body-sha256"]);
    const auto spread = response.last_body_byte - response.first_body_byte;
    EXPECT_GT(spread, 500ms) << "first and last body bytes arrived "
                             << std::chrono::duration_cast<std::chrono::milliseconds>(spread).count() << " ms apart";
}

// A request body may pause midway: the router waits for the rest and forwards it intact.
TEST_F(StreamingTest, PausedRequestBodyCompletesIntact) {
    ByteGenerator generator(3);
    const auto body = generator.next(200000);
    Connection paused(port());
    paused.send("PUT /paused-upload HTTP/1.1\r\nHost: test.local\r\nX-Routing-Key: visa\r\nContent-Length: 200000\r\n\r\n" +
                body.substr(0, 100000));
    EXPECT_FALSE(paused.closed_by_peer(300ms)) << "the router gave up on a paused body";
    paused.send(body.substr(100000));
    const auto response = paused.read_response();
    ASSERT_EQ(response.status, 200) << response.body;
    const auto echo = response.json();
    EXPECT_EQ(echo["body_bytes"], 200000);
    EXPECT_EQ(echo["body_sha256"], sha256_hex(body));
}

// Request bytes are forwarded as they arrive: the upstream receives the first half of a body
// before the client has sent the second half.
TEST(StreamingFakeUpstreamTest, RequestBodyIsForwardedBeforeItIsComplete) {
    constexpr std::size_t half = 300000;
    std::atomic<std::size_t> upstream_received{0};
    std::atomic<bool> upstream_intact{false};
    ByteGenerator generator(4);
    const auto body = generator.next(2 * half);
    FakeUpstream upstream([&](int fd, int) {
        if (fake_read_head(fd).empty()) {
            return;
        }
        const auto first = fake_read_exact(fd, half);
        upstream_received = first.size();
        const auto second = fake_read_exact(fd, half);
        upstream_received += second.size();
        upstream_intact = first + second == body;
        fake_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    Deployment::Options options;
    options.start_router = false;
    Deployment deployment(options);
    start_router_with_endpoint(deployment, "visa", upstream.url());

    Connection connection(deployment.router_port());
    connection.send("POST /half HTTP/1.1\r\nHost: test.local\r\nX-Routing-Key: visa\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, half));
    EXPECT_TRUE(eventually([&] { return upstream_received.load() >= half; }))
        << "the upstream got " << upstream_received.load() << " bytes; the router held the body back";
    connection.send(body.substr(half));
    const auto response = connection.read_response();
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, "ok");
    EXPECT_TRUE(upstream_intact.load());
}

// Response bytes are relayed as they arrive: the client receives the first half of a body
// while the upstream still holds back the second half.
TEST(StreamingFakeUpstreamTest, ResponseBodyIsRelayedBeforeItIsComplete) {
    constexpr std::size_t half = 300000;
    std::atomic<bool> client_has_first_half{false};
    ByteGenerator generator(5);
    const auto body = generator.next(2 * half);
    FakeUpstream upstream([&](int fd, int) {
        if (fake_read_head(fd).empty()) {
            return;
        }
        fake_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                          body.substr(0, half));
        if (eventually([&] { return client_has_first_half.load(); })) {
            fake_send(fd, body.substr(half));
        }
    });
    Deployment::Options options;
    options.start_router = false;
    Deployment deployment(options);
    start_router_with_endpoint(deployment, "visa", upstream.url());

    Connection connection(deployment.router_port(), 15s);
    connection.send(make_request("GET", "/", {{"X-Routing-Key", "visa"}}));
    StreamReader reader(connection);
    auto response = reader.read_head();
    ASSERT_EQ(response.status, 200);
    // Completes only if the upstream sends the second half, which it does only once the client
    // holds the first.
    reader.read_body(response, [&](std::uint64_t received) {
        if (received >= half) {
            client_has_first_half = true;
        }
    });
    EXPECT_TRUE(client_has_first_half.load());
    EXPECT_EQ(response.body_bytes, body.size());
    EXPECT_EQ(response.body_sha256, sha256_hex(body));
}

}  // namespace
}  // namespace cell::testing
