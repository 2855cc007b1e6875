#include "cell/health/health_checker.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <boost/asio/ssl/context.hpp>

#include "cell/observability/log.hpp"
#include "cell/proxy/upstream_pool.hpp"
#include "cell/transport/accept.hpp"
#include "cell/transport/io.hpp"
#include "cell/transport/tls_client.hpp"
#include "probe.hpp"

namespace cell::health {
namespace {

using Clock = std::chrono::steady_clock;
using observability::Level;

// Where a probe running on its own delivers its result. The timer doubles as the signal: the
// prober waits on it until the probe's deadline, and the probe cancels it when done.
struct ProbeSlot {
    explicit ProbeSlot(executor_type executor) : done(std::move(executor)) {}

    steady_timer done;
    std::optional<ProbeResult> result;
};

struct Prober {
    Prober(executor_type executor, routing::PlacementTarget placement)
        : target(std::move(placement)), wake(std::move(executor)) {}

    // The latest settings; update() replaces it, and each probe takes its own copy.
    routing::PlacementTarget target;
    // The wait between probes; cancelled to make the prober recompute it, or to stop it.
    steady_timer wake;
    std::shared_ptr<ProbeSlot> in_flight;
    bool stopped = false;
};

// Once stopped, the prober leaves at its next resumption without recording; a probe still in
// flight finishes on its own (its own deadlines bound it) into a slot nobody reads.
void stop_prober(Prober& prober) {
    prober.stopped = true;
    prober.wake.cancel();
    if (prober.in_flight) {
        prober.in_flight->done.cancel();
    }
}

std::uint32_t to_threshold(std::int64_t value) {
    constexpr std::int64_t max = std::numeric_limits<std::uint32_t>::max();
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(value, 1, max));
}

// The first probe comes after `fraction` (in [0, 1)) of min(interval, 1s), so a router starting
// with many placements learns their health soon, without probing all at once; later ones
// after `fraction` (in [0.9, 1.1]) of the interval, so the probes of many routers drift apart.
Clock::duration wait_before_probe(const config::HealthCheck& check, bool first, double fraction) {
    const config::Duration base =
        first ? std::min<config::Duration>(check.interval, std::chrono::seconds(1)) : check.interval;
    return std::chrono::duration_cast<Clock::duration>(base * fraction);
}

void record(const Prober& prober, ProbeResult&& result) {
    const routing::PlacementTarget& target = prober.target;
    const config::HealthCheck& check = *target.policy.health_check;
    const resilience::HealthThresholds thresholds{to_threshold(check.healthy_threshold),
                                                  to_threshold(check.unhealthy_threshold)};
    resilience::HealthTracker& health = target.state->health;
    std::string detail = result.detail;  // record_probe consumes its copy
    if (!health.record_probe(result.success, std::move(result.detail), std::chrono::system_clock::now(),
                             thresholds)) {
        return;
    }
    const resilience::HealthStatus status = health.status();
    const Level level = status == resilience::HealthStatus::unhealthy ? Level::warn : Level::info;
    observability::emit_event(level, std::move(observability::event_line(level, "health_changed")
                                                   .add("placement", target.name)
                                                   .add("url", target.endpoint.url)
                                                   .add("status", resilience::to_string(status))
                                                   .add("detail", detail)));
}

void log_prober(std::string_view event, const routing::PlacementTarget& target) {
    if (!observability::event_enabled(Level::debug)) {
        return;
    }
    observability::emit_event(Level::debug, std::move(observability::event_line(Level::debug, event)
                                                           .add("placement", target.name)
                                                           .add("url", target.endpoint.url)));
}

}  // namespace

struct HealthChecker::Impl {
    explicit Impl(const std::string& upstream_ca_file)
        : tls(upstream_ca_file), rng(std::random_device{}()) {
        // One thread runs this context, so Asio may skip its internal locking.
        io.emplace(1);
        pool.emplace(executor(), tls);
        // Without placements to probe there is no pending work, yet later tables may bring some.
        keep_running.emplace(io->get_executor());
    }

    ~Impl() {
        // Order matters: the context goes first, destroying the suspended probers and probes,
        // whose sockets and timers need it and whose connects use the pool.
        keep_running.reset();
        probers.clear();
        io.reset();
        pool.reset();
    }

    executor_type executor() { return executor_type(loop_executor(*io)); }

    double uniform(double low, double high) { return std::uniform_real_distribution<double>(low, high)(rng); }

    void run() {
        for (;;) {
            try {
                io->run();
                return;
            } catch (const std::exception& e) {
                // A handler threw: log it and keep probing the other placements.
                observability::log_event(Level::err, "internal_error", e.what());
            } catch (...) {
                observability::log_event(Level::err, "internal_error", "unknown exception in health checks");
            }
        }
    }

    // Checker thread. Applies the newest handed-over table, if an earlier call has not already.
    void apply_pending() {
        routing::TableConstPtr table;
        {
            const std::lock_guard lock(table_mutex);
            table = std::move(pending);
            pending.reset();
        }
        if (table) {
            reconcile(*table);
        }
    }

    // Checker thread. Probers are keyed by placement name; a changed state pointer means the URL
    // changed, and the new state must not hear from the old cell's prober.
    void reconcile(const routing::Table& table) {
        std::unordered_set<std::string_view> wanted;
        for (const routing::PlacementTarget& target : table.placements()) {
            if (!target.policy.health_check) {
                continue;
            }
            wanted.insert(target.name);
            const auto it = probers.find(target.name);
            if (it != probers.end() && it->second->target.state == target.state) {
                it->second->target = target;
                // The wait recomputes from when it began: an unchanged interval keeps its
                // schedule, a shorter one ends it early. A probe in flight is not disturbed.
                it->second->wake.cancel();
                continue;
            }
            if (it != probers.end()) {
                stop_prober(*it->second);
                probers.erase(it);
            }
            start_prober(target);
        }
        for (auto it = probers.begin(); it != probers.end();) {
            if (wanted.contains(it->first)) {
                ++it;
                continue;
            }
            log_prober("health_check_stopped", it->second->target);
            stop_prober(*it->second);
            it = probers.erase(it);
        }
    }

    void start_prober(const routing::PlacementTarget& target) {
        auto prober = std::make_shared<Prober>(executor(), target);
        probers[target.name] = prober;
        log_prober("health_check_started", target);
        net::co_spawn(executor(), run_prober(std::move(prober)),
                      [](std::exception_ptr error) { transport::log_escaped_exception(error, "health_prober"); });
    }

    // One placement's probe loop, until stopped. Each probe runs as its own coroutine so that
    // the prober's timer bounds it whole, name resolution included, and a stop does not wait
    // for it.
    awaitable<void> run_prober(std::shared_ptr<Prober> prober) {
        bool first = true;
        double fraction = uniform(0.0, 1.0);
        Clock::time_point waiting_since = Clock::now();
        for (;;) {
            for (;;) {
                const Clock::time_point due =
                    waiting_since + wait_before_probe(*prober->target.policy.health_check, first, fraction);
                if (Clock::now() >= due) {
                    break;
                }
                prober->wake.expires_at(due);
                co_await prober->wake.async_wait();
                if (prober->stopped) {
                    co_return;
                }
            }

            const config::Duration timeout = prober->target.policy.health_check->timeout;
            auto slot = std::make_shared<ProbeSlot>(executor());
            slot->done.expires_after(timeout);
            prober->in_flight = slot;
            routing::PlacementTarget target = prober->target;
            net::co_spawn(executor(), probe_once(&*pool, std::move(target)),
                          [slot](std::exception_ptr error, ProbeResult result) {
                              if (error) {
                                  transport::log_escaped_exception(error, "health_probe");
                                  result = ProbeResult{false, "internal error"};
                              }
                              slot->result = std::move(result);
                              slot->done.cancel();
                          });
            // The probe may have finished already; its cancel() then found no wait to end.
            if (!slot->result) {
                co_await slot->done.async_wait();
            }
            prober->in_flight.reset();
            if (prober->stopped) {
                co_return;
            }
            ProbeResult result =
                slot->result ? std::move(*slot->result) : ProbeResult{false, timeout_detail(timeout)};
            record(*prober, std::move(result));

            first = false;
            fraction = uniform(0.9, 1.1);
            waiting_since = Clock::now();
        }
    }

    transport::UpstreamTlsContext tls;
    std::optional<net::io_context> io;
    std::optional<proxy::UpstreamPool> pool;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> keep_running;
    std::mt19937 rng;                                                  // checker thread only
    std::unordered_map<std::string, std::shared_ptr<Prober>> probers;  // checker thread only

    std::mutex table_mutex;
    routing::TableConstPtr pending;  // guarded by table_mutex

    // Held by start() and stop() only, never by the checker thread, so stop() may join under it.
    std::mutex lifecycle_mutex;
    bool started = false;
    bool stopped = false;
    std::thread thread;
};

HealthChecker::HealthChecker(const std::string& upstream_ca_file)
    : impl_(std::make_unique<Impl>(upstream_ca_file)) {}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::start(routing::TableConstPtr initial) {
    const std::lock_guard lifecycle(impl_->lifecycle_mutex);
    if (impl_->started || impl_->stopped) {
        return;
    }
    impl_->started = true;
    {
        const std::lock_guard lock(impl_->table_mutex);
        // A table handed to update() already is newer than the initial one.
        if (!impl_->pending) {
            impl_->pending = std::move(initial);
        }
    }
    net::post(*impl_->io, [impl = impl_.get()] { impl->apply_pending(); });
    impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

void HealthChecker::update(routing::TableConstPtr table) {
    if (!table) {
        return;
    }
    {
        const std::lock_guard lock(impl_->table_mutex);
        impl_->pending = std::move(table);
    }
    net::post(*impl_->io, [impl = impl_.get()] { impl->apply_pending(); });
}

void HealthChecker::stop() {
    const std::lock_guard lifecycle(impl_->lifecycle_mutex);
    if (impl_->stopped) {
        return;
    }
    impl_->stopped = true;
    // Stopping the context, rather than letting the probes wind down, bounds stop() by the one
    // handler running now: a probe stuck in name resolution cannot hold it up. What is left
    // suspended is destroyed with the context, without running again.
    impl_->io->stop();
    if (impl_->thread.joinable()) {
        impl_->thread.join();
    }
}

}  // namespace cell::health
