#include "cell/proxy/access_log.hpp"

#include <utility>

#include "cell/observability/log.hpp"

namespace cell::proxy {
namespace {

constexpr auto write_interval = std::chrono::milliseconds(10);

double milliseconds(std::chrono::nanoseconds duration) {
    return std::chrono::duration<double, std::milli>(duration).count();
}

bool happened(ExchangeClock::time_point moment) { return moment != ExchangeClock::time_point{}; }

bool measured(std::chrono::nanoseconds duration) { return duration.count() >= 0; }

}  // namespace

AccessRecord AccessRecord::take_from(Exchange& exchange) {
    const ExchangeTimings& at = exchange.at;
    AccessRecord record;
    record.at = std::chrono::system_clock::now();
    record.table = exchange.table;
    record.placement = exchange.placement();
    record.routed = exchange.routed;
    record.route_reason = exchange.route_reason;
    record.failover = exchange.failover;
    record.fail_open = exchange.fail_open;
    record.upstream_reused = exchange.upstream_reused;
    record.outcome = exchange.outcome.value_or(Outcome::client_closed);
    record.status = exchange.status;
    record.bytes_in = exchange.bytes_in;
    record.bytes_out = exchange.bytes_out;
    record.request_id = std::move(exchange.request_id);
    record.client = std::string(exchange.client_address);
    record.method = std::move(exchange.method);
    record.path = std::move(exchange.path);
    record.routing_key = std::move(exchange.routing_key);
    record.trace_id = std::move(exchange.trace_id);
    record.error = std::move(exchange.error);
    record.total = exchange.total();
    record.router_added = exchange.router_added();
    if (happened(at.routed)) {
        record.route = at.routed - at.started;
    }
    if (happened(at.connected)) {
        record.connect = at.connected - at.connect_started;
    }
    if (happened(at.response_head_received)) {
        record.upstream_head = at.response_head_received - at.request_head_sent;
    }
    return record;
}

observability::JsonLine format_access_line(const AccessRecord& record) {
    const routing::PlacementTarget* placement = record.placement;
    observability::JsonLine line = observability::event_line_at(observability::Level::info, "access", record.at);
    line.add("request_id", record.request_id)
        .add("client", record.client)
        .add("method", record.method)
        .add("path", record.path)
        .add("routing_key", record.routing_key)
        .add("placement_key", placement != nullptr ? std::string_view(placement->name) : std::string_view())
        .add("route_reason", record.routed != nullptr ? routing::to_string(record.route_reason) : std::string_view())
        .add("upstream_url", placement != nullptr ? std::string_view(placement->endpoint.url) : std::string_view())
        .add("status_code", record.status)
        .add("outcome", observability::to_string(record.outcome))
        .add("bytes_in", record.bytes_in)
        .add("bytes_out", record.bytes_out)
        .add("duration_ms", milliseconds(record.total))
        .add("router_ms", milliseconds(record.router_added));
    if (measured(record.route)) {
        line.add("route_ms", milliseconds(record.route));
    }
    if (measured(record.connect)) {
        line.add("connect_ms", milliseconds(record.connect)).add("upstream_reused", record.upstream_reused);
    }
    if (measured(record.upstream_head)) {
        line.add("upstream_head_ms", milliseconds(record.upstream_head));
    }
    if (record.failover != routing::FailoverReason::none && record.routed != nullptr) {
        line.add("failover_reason", routing::to_string(record.failover)).add("original_placement", record.routed->name);
    }
    if (record.fail_open) {
        line.add("fail_open", true);
    }
    if (const auto source = observability::source_of(record.outcome); source != observability::ErrorSource::none) {
        line.add("error_source", observability::to_string(source)).add("error", record.error);
    }
    if (!record.trace_id.empty()) {
        line.add("trace_id", record.trace_id);
    }
    return line;
}

void AccessLog::Shard::record(Exchange& exchange) {
    if (!enabled_) {
        return;
    }
    AccessRecord record = AccessRecord::take_from(exchange);
    const std::lock_guard lock(mutex_);
    if (pending_.size() >= max_pending_per_worker) {
        ++dropped_;
        return;
    }
    pending_.push_back(std::move(record));
}

AccessLog::AccessLog(bool enabled, unsigned workers) : enabled_(enabled) {
    for (unsigned i = 0; i < workers; ++i) {
        shards_.push_back(std::make_unique<Shard>());
        shards_.back()->enabled_ = enabled;
    }
}

AccessLog::~AccessLog() { stop(); }

void AccessLog::start() {
    if (enabled_ && !writer_.joinable()) {
        writer_ = std::thread([this] { run(); });
    }
}

void AccessLog::stop() {
    {
        const std::lock_guard lock(stop_mutex_);
        stopping_ = true;
    }
    stop_requested_.notify_all();
    if (writer_.joinable()) {
        writer_.join();
    }
    write_pending();
}

void AccessLog::run() {
    std::unique_lock lock(stop_mutex_);
    while (!stopping_) {
        stop_requested_.wait_for(lock, write_interval, [this] { return stopping_; });
        lock.unlock();
        write_pending();
        lock.lock();
    }
}

// Swaps each shard's records out under its lock (a pointer swap), then formats them unlocked.
void AccessLog::write_pending() {
    std::vector<AccessRecord> batch;
    for (const auto& shard : shards_) {
        std::uint64_t dropped = 0;
        {
            const std::lock_guard lock(shard->mutex_);
            batch.swap(shard->pending_);
            dropped = std::exchange(shard->dropped_, 0);
        }
        for (const AccessRecord& record : batch) {
            observability::emit_access(format_access_line(record));
        }
        if (!batch.empty()) {
            observability::flush_access_log();
        }
        batch.clear();
        if (dropped > 0) {
            observability::emit_event(observability::Level::warn,
                                      std::move(observability::event_line(observability::Level::warn,
                                                                          "access_log_dropped")
                                                    .add("records", dropped)
                                                    .add("reason", "the access log writer fell behind")));
        }
    }
}

}  // namespace cell::proxy
