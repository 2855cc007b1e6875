// The watched config file truncated, half-written, replaced by garbage, deleted, made
// unreadable, replaced by a FIFO, a directory and a 100 MB file, under keep-alive load: the last
// good table keeps serving, each bad state is logged once as a rejection, and no request fails.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fstream>
#include <random>

#include "chaos_support.hpp"
#include "load_generator.hpp"

namespace cell::testing {
namespace {

using Clock = std::chrono::steady_clock;

struct Mutation {
    std::string name;
    std::function<void(const std::filesystem::path&)> apply;
    std::string expected_reason;  // a part of the rejection's reason
};

std::string garbage_bytes(std::size_t size) {
    std::mt19937 random(42);
    std::string bytes(size, '\0');
    for (auto& byte : bytes) {
        byte = static_cast<char>(random() & 0xff);
    }
    return bytes;
}

// Each bad state appears whole, by a rename, so that the poller sees exactly that state and not
// a partly written file on the way to it (which would be a rejection of its own).
// An existing path is swapped with the staged one (renameat2 RENAME_EXCHANGE works between a file
// and a directory, where rename cannot), then the old state is removed from the side.
void put_in_place(const std::filesystem::path& path, const std::function<void(const std::filesystem::path&)>& make) {
    const std::filesystem::path staged = path.string() + ".staged";
    std::filesystem::remove_all(staged);
    make(staged);
    if (std::filesystem::exists(std::filesystem::symlink_status(path))) {
        if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, path.c_str(), RENAME_EXCHANGE) != 0) {
            throw std::runtime_error(std::string("renameat2: ") + std::strerror(errno));
        }
        std::filesystem::remove_all(staged);
    } else {
        std::filesystem::rename(staged, path);
    }
}

void replace_with_fifo(const std::filesystem::path& path) {
    put_in_place(path, [](const std::filesystem::path& staged) {
        if (::mkfifo(staged.c_str(), 0600) != 0) {
            throw std::runtime_error("mkfifo failed");
        }
    });
}

void replace_with_big_file(const std::filesystem::path& path) {
    put_in_place(path, [](const std::filesystem::path& staged) {
        std::ofstream out(staged, std::ios::binary);
        const std::string block(1024 * 1024, ' ');
        for (int i = 0; i < 100; ++i) {
            out << block;
        }
    });
}

std::uint64_t rejected(unsigned short port) {
    return request(port, "GET", "/debug/config").json()["reloads"]["rejected"].get<std::uint64_t>();
}

TEST(Chaos, ConfigFileBrokenInEveryWay) {
    const auto started = Clock::now();
    Deployment deployment;
    const auto path = deployment.config_path();
    const std::string good = deployment.config("1.0.0").dump(2);
    Json next = deployment.config("2.0.0");
    next["routingTable"]["acme"] = "visa";
    const std::string next_text = next.dump(2);

    std::vector<Mutation> mutations{
        {"truncated to 0 bytes", [](const auto& p) { std::filesystem::resize_file(p, 0); }, "document is empty"},
        {"replaced by a FIFO", replace_with_fifo, "not a regular file"},
        {"half-written",
         [&](const auto& p) {
             put_in_place(p, [&](const auto& staged) { write_file(staged, next_text.substr(0, next_text.size() / 2)); });
         },
         "syntax error"},
        {"garbage",
         [](const auto& p) { put_in_place(p, [](const auto& staged) { write_file(staged, garbage_bytes(4096)); }); },
         ""},
        {"deleted", [](const auto& p) { std::filesystem::remove_all(p); }, "cannot open"},
        {"replaced by a directory",
         [](const auto& p) {
             put_in_place(p, [](const auto& staged) { std::filesystem::create_directory(staged); });
         },
         "not a regular file"},
        {"replaced by a 100 MB file", replace_with_big_file, "larger than the 64 MiB"},
    };
    if (::geteuid() != 0) {  // root reads a file whatever its mode says
        mutations.insert(mutations.begin() + 5,
                         Mutation{"unreadable (mode 000)",
                                  [&](const auto& p) {
                                      put_in_place(p, [&](const auto& staged) {
                                          write_file(staged, next_text);
                                          std::filesystem::permissions(staged, std::filesystem::perms::none);
                                      });
                                  },
                                  "Permission denied"});
    }

    LoadGenerator load(LoadOptions{.port = deployment.router_port(), .threads = 4, .routing_key = "acme"});
    ASSERT_TRUE(load.wait_for_answers(100));
    for (const auto& mutation : mutations) {
        const std::uint64_t before = rejected(deployment.router_port());
        mutation.apply(path);
        ASSERT_TRUE(eventually([&] { return rejected(deployment.router_port()) > before; }, 5s))
            << mutation.name << " was not rejected";
        const Json status = request(deployment.router_port(), "GET", "/debug/config").json();
        const std::string reason = status["last_rejected"]["reason"];
        std::printf("[chaos]   %s: rejected: %s\n", mutation.name.c_str(), reason.substr(0, 160).c_str());
        EXPECT_NE(reason.find(mutation.expected_reason), std::string::npos) << mutation.name << ": " << reason;
        EXPECT_EQ(status["version"], "1.0.0") << mutation.name;
        ASSERT_TRUE(load.wait_for_answers(50)) << "traffic stalled after: " << mutation.name;
    }
    // A good file after all that is applied at once: the poller survived every bad state.
    put_in_place(path, [&](const auto& staged) { write_file(staged, next_text); });
    ASSERT_TRUE(eventually(
        [&] { return request(deployment.router_port(), "GET", "/debug/config").json()["version"] == "2.0.0"; }, 5s));
    ASSERT_TRUE(load.wait_for_answers(50));
    const LoadCounts counts = load.stop();

    std::size_t logged = 0;
    for (const auto& line : deployment.router().json_lines()) {
        logged += line.value("event", "") == "config_rejected" ? 1 : 0;
    }
    print_load("config file broken " + std::to_string(mutations.size()) + " ways", counts);
    std::printf("[chaos]   rejections logged: %zu for %zu bad states; version 2.0.0 applied afterwards; "
                "scenario %lld ms\n",
                logged, mutations.size(),
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()));
    EXPECT_EQ(logged, mutations.size());
    EXPECT_EQ(counts.failed, 0u) << counts.summary();
    EXPECT_EQ(counts.answered_with(200), counts.sent) << counts.summary();
    EXPECT_EQ(request(deployment.router_port(), "GET", "/", {{"X-Routing-Key", "acme"}}).header("X-Routed-To"), "visa");
}

}  // namespace
}  // namespace cell::testing
