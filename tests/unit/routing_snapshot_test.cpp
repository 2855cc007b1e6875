// Publication of routing tables: readers always see one whole table.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "cell/routing/snapshot.hpp"

namespace cell::routing {
namespace {

// Table "generation g": every key k0..k99 goes to placement "p<g%2>", and the version says g.
TableConstPtr make_table(int generation) {
    config::Config config;
    config.version = std::to_string(generation);
    for (int p = 0; p < 2; ++p) {
        config::Placement placement;
        placement.name = "p" + std::to_string(p);
        placement.endpoint = {"http://127.0.0.1:" + std::to_string(9000 + p), "http", "127.0.0.1",
                              static_cast<std::uint16_t>(9000 + p)};
        config.placements.push_back(placement);
    }
    for (int k = 0; k < 100; ++k) {
        config.routing_table.emplace_back("k" + std::to_string(k), "p" + std::to_string(generation % 2));
    }
    config.default_placement = "p" + std::to_string(generation % 2);
    return Table::build(config, {}, {});
}

// The initial table is current with generation 1; each publication bumps the generation.
TEST(TablePublisher, GenerationsCount) {
    TablePublisher publisher(make_table(0));
    EXPECT_EQ(publisher.generation(), 1u);
    EXPECT_EQ(publisher.current()->version(), "0");
    EXPECT_EQ(publisher.publish(make_table(1)), 2u);
    EXPECT_EQ(publisher.current()->version(), "1");
}

// Subscribers hear of every publication, in order, with the table and its generation.
TEST(TablePublisher, SubscribersSeeEveryPublication) {
    TablePublisher publisher(make_table(0));
    std::vector<std::pair<std::string, std::uint64_t>> seen;
    publisher.subscribe([&](const TableConstPtr& table, std::uint64_t generation) {
        seen.emplace_back(table->version(), generation);
    });
    publisher.publish(make_table(1));
    publisher.publish(make_table(2));
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], (std::pair<std::string, std::uint64_t>{"1", 2}));
    EXPECT_EQ(seen[1], (std::pair<std::string, std::uint64_t>{"2", 3}));
}

// A replaced table stays alive, held by the publisher, while anyone else still uses it; the
// reader that lets go last never frees it. release_retired() frees it afterwards.
TEST(TablePublisher, ReplacedTablesAreFreedByThePublisherNotByTheirLastReader) {
    TablePublisher publisher(make_table(0));
    TableConstPtr reader = publisher.current();  // a worker's copy, or a request's pin
    std::weak_ptr<const Table> first = reader;
    publisher.publish(make_table(1));
    EXPECT_EQ(publisher.retired_count(), 1u);  // the reader still has it

    reader.reset();  // the last reader lets go: nothing is freed on its thread
    EXPECT_FALSE(first.expired());
    EXPECT_EQ(publisher.release_retired(), 1u);
    EXPECT_TRUE(first.expired());
    EXPECT_EQ(publisher.retired_count(), 0u);

    // Unused by anyone, a replaced table goes at the next publication.
    std::weak_ptr<const Table> second = publisher.current();
    publisher.publish(make_table(2));
    EXPECT_TRUE(second.expired());
    EXPECT_EQ(publisher.retired_count(), 0u);
}

// Publishing a table that was current before makes it current again, not retired: it must not
// be held twice and leak.
TEST(TablePublisher, RepublishedTableIsNotRetired) {
    const TableConstPtr a = make_table(0);
    TablePublisher publisher(a);
    publisher.publish(make_table(1));
    publisher.publish(a);
    EXPECT_EQ(publisher.current(), a);
    EXPECT_EQ(publisher.retired_count(), 0u);  // table 1 was unused and freed; `a` is current
    publisher.publish(make_table(2));
    EXPECT_EQ(publisher.retired_count(), 1u);  // `a`, held by this test
}

// Many readers, one writer swapping thousands of times: every pinned table is whole, i.e. all
// its keys agree with its own version, and a reader never sees generations go backwards. The
// writer starts only once every reader reads, and every 50 swaps waits until a reader has
// pinned the newest table, so reads and swaps really interleave.
TEST(TablePublisher, ReadersSeeWholeTablesUnderConcurrentSwaps) {
    constexpr int swaps = 5000;
    constexpr int reader_count = 4;
    std::vector<TableConstPtr> tables;
    for (int g = 0; g <= swaps; ++g) {
        tables.push_back(make_table(g));
    }
    TablePublisher publisher(tables[0]);
    std::atomic<bool> done{false};
    std::atomic<int> readers_reading{0};
    std::atomic<int> newest_pinned{0};
    std::atomic<long> reads{0};
    std::atomic<long> torn{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < reader_count; ++r) {
        readers.emplace_back([&] {
            int last_version = -1;
            while (!done.load()) {
                const TableConstPtr pinned = publisher.current();
                const int version = std::stoi(pinned->version());
                const std::string expected = "p" + std::to_string(version % 2);
                for (int k = 0; k < 100; k += 7) {
                    if (pinned->route("k" + std::to_string(k)).placement->name != expected) {
                        ++torn;
                    }
                }
                if (version < last_version) {
                    ++torn;
                }
                if (last_version == -1) {
                    ++readers_reading;
                }
                last_version = version;
                int newest = newest_pinned.load();
                while (version > newest && !newest_pinned.compare_exchange_weak(newest, version)) {
                }
                ++reads;
            }
        });
    }
    const auto wait_until = [](const std::function<bool()>& condition) {
        const auto give_up_at = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!condition()) {
            if (std::chrono::steady_clock::now() > give_up_at) {
                return false;
            }
            std::this_thread::yield();
        }
        return true;
    };
    bool interleaved = wait_until([&] { return readers_reading.load() == reader_count; });
    for (int g = 1; g <= swaps && interleaved; ++g) {
        publisher.publish(tables[g]);
        if (g % 50 == 0) {
            interleaved = wait_until([&] { return newest_pinned.load() >= g; });
        }
    }
    done = true;
    for (auto& reader : readers) {
        reader.join();
    }
    ASSERT_TRUE(interleaved) << "the readers stopped reading";
    EXPECT_EQ(torn.load(), 0);
    EXPECT_GE(reads.load(), swaps / 50);
    EXPECT_EQ(newest_pinned.load(), swaps);
    EXPECT_EQ(publisher.current()->version(), std::to_string(swaps));
}

}  // namespace
}  // namespace cell::routing
