#include "cell/controlplane/etcd_config_store.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>

#include "cell/controlplane/off_loop.hpp"
#include "cell/observability/log.hpp"
#include "cell/util/base64.hpp"
#include "cell/util/sha256.hpp"
#include "cell/util/time_format.hpp"

namespace cell::controlplane {
namespace {

using nlohmann::json;
using observability::Level;

// 1: chunks of the text as it is; 2: an "encoding" (zstd), which older replicas cannot read and
// so refuse as a manifest they did not write, keeping what they serve.
constexpr int manifest_format = 1;
constexpr int encoded_manifest_format = 2;

// Zero-padded, so that key order is number order.
std::string padded(std::uint64_t number, int width) {
    char text[32];
    std::snprintf(text, sizeof(text), "%0*llu", width, static_cast<unsigned long long>(number));
    return text;
}

std::uint64_t sequence_of_key(const std::string& key, const std::string& prefix) {
    try {
        return std::stoull(key.substr(prefix.size()));
    } catch (const std::exception&) {
        return 0;
    }
}

json compare_current(const std::string& key, std::uint64_t expected_revision) {
    // An empty store is "the key was never created"; otherwise its last write must be the one
    // the caller saw.
    if (expected_revision == 0) {
        return json{{"key", util::base64_encode(key)}, {"target", "CREATE"}, {"result", "EQUAL"},
                    {"create_revision", "0"}};
    }
    return json{{"key", util::base64_encode(key)}, {"target", "MOD"}, {"result", "EQUAL"},
                {"mod_revision", std::to_string(expected_revision)}};
}

json put_operation(const std::string& key, const std::string& value) {
    return json{{"request_put", {{"key", util::base64_encode(key)}, {"value", util::base64_encode(value)}}}};
}

}  // namespace

json to_json(const VersionRecord& record) {
    json manifest{{"format", record.encoding == ChunkEncoding::identity ? manifest_format : encoded_manifest_format},
                {"revision", record.revision},
                {"sequence", record.sequence},
                {"version", record.version},
                {"content_hash", record.content_hash},
                {"bytes", record.bytes},
                {"chunks", record.chunks},
                {"routing_keys", record.routing_keys},
                {"applied_by", record.applied_by},
                {"applied_at", record.applied_at},
                {"reason", record.reason},
                {"forced", record.forced},
                {"rollback_of", record.rollback_of ? json(*record.rollback_of) : json(nullptr)}};
    if (record.encoding != ChunkEncoding::identity) {
        manifest["encoding"] = encoding_name(record.encoding);
    }
    return manifest;
}

std::optional<VersionRecord> version_record_from(const std::string& manifest) {
    const json document = json::parse(manifest, nullptr, false);
    const int format = document.is_object() ? document.value("format", 0) : 0;
    if (format != manifest_format && format != encoded_manifest_format) {
        return std::nullopt;
    }
    try {
        VersionRecord record;
        if (format == encoded_manifest_format) {
            const auto encoding = parse_chunk_encoding(document.at("encoding").get<std::string>());
            if (!encoding) {
                return std::nullopt;
            }
            record.encoding = *encoding;
        }
        record.sequence = document.value("sequence", std::uint64_t{0});
        record.version = document.value("version", std::string());
        record.content_hash = document.at("content_hash").get<std::string>();
        record.bytes = document.at("bytes").get<std::uint64_t>();
        record.chunks = document.at("chunks").get<std::uint64_t>();
        record.routing_keys = document.value("routing_keys", std::uint64_t{0});
        record.applied_by = document.value("applied_by", std::string());
        record.applied_at = document.value("applied_at", std::string());
        record.reason = document.value("reason", std::string());
        record.forced = document.value("forced", false);
        if (const auto rollback = document.find("rollback_of"); rollback != document.end() && rollback->is_number_unsigned()) {
            record.rollback_of = rollback->get<std::uint64_t>();
        }
        if (record.content_hash.size() != 64) {
            return std::nullopt;
        }
        return record;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

EtcdConfigStore::EtcdConfigStore(EtcdClient& client, std::string prefix, std::size_t history_limit,
                                 ChunkEncoding encoding, net::thread_pool* cpu)
    : client_(client),
      prefix_(std::move(prefix)),
      history_limit_(std::max<std::size_t>(history_limit, 1)),
      encoding_(encoding),
      cpu_(cpu) {}

awaitable<EtcdResult<std::optional<StoredConfig>>> EtcdConfigStore::read_current() {
    // The manifest can move on between reading it and reading its chunks; the chunks it named
    // stay (history keeps them), so the text read is still the text of that manifest.
    auto manifest = co_await read_manifest();
    if (auto* failure = std::get_if<EtcdFailure>(&manifest)) {
        co_return std::move(*failure);
    }
    auto& record = std::get<std::optional<VersionRecord>>(manifest);
    if (!record) {
        co_return std::optional<StoredConfig>{};
    }
    auto text = co_await read_text(*record);
    if (auto* failure = std::get_if<EtcdFailure>(&text)) {
        co_return std::move(*failure);
    }
    co_return std::optional<StoredConfig>{StoredConfig{std::move(*record), std::move(std::get<std::string>(text))}};
}

awaitable<EtcdResult<std::optional<VersionRecord>>> EtcdConfigStore::read_manifest() {
    const std::string key = config_key();
    auto manifest = co_await client_.range(key);
    if (auto* failure = std::get_if<EtcdFailure>(&manifest)) {
        co_return std::move(*failure);
    }
    auto& found = std::get<EtcdRange>(manifest);
    if (found.kvs.empty()) {
        co_return std::optional<VersionRecord>{};
    }
    auto record = version_record_from(found.kvs.front().value);
    if (!record) {
        co_return EtcdFailure{"the manifest at " + key + " is not one cell-control-plane wrote", false};
    }
    record->revision = found.kvs.front().mod_revision;
    co_return record;
}

awaitable<EtcdResult<std::string>> EtcdConfigStore::read_text(const VersionRecord& record) {
    const std::string prefix = blob_prefix(record.content_hash, record.encoding);
    auto chunks = co_await client_.range(prefix, EtcdClient::prefix_end(prefix));
    if (auto* failure = std::get_if<EtcdFailure>(&chunks)) {
        co_return std::move(*failure);
    }
    auto& found = std::get<EtcdRange>(chunks);
    std::string stored;
    stored.reserve(record.encoding == ChunkEncoding::identity ? record.bytes : found.kvs.size() * chunk_bytes);
    for (auto& chunk : found.kvs) {  // etcd returns keys in order; the index is zero-padded
        stored += chunk.value;
    }
    std::string text;
    if (record.encoding == ChunkEncoding::identity) {
        text = std::move(stored);
    } else if (found.kvs.size() == record.chunks) {
        auto job = [stored = std::move(stored), bytes = record.bytes] {
            return zstd_decompress(stored, bytes).value_or(std::string());
        };
        // Statements, not a conditional expression: GCC 12 miscompiles co_await inside `?:`.
        if (cpu_ != nullptr) {
            text = co_await run_off_loop<std::string>(*cpu_, std::move(job));
        } else {
            text = job();
        }
    }
    if (found.kvs.size() != record.chunks || text.size() != record.bytes ||
        util::sha256_hex(text) != record.content_hash) {
        co_return EtcdFailure{"the chunks of revision " + std::to_string(record.revision) + " under " + prefix +
                                  " are incomplete or do not match its content hash",
                              false};
    }
    co_return text;
}

namespace {

// The chunk puts of one write, shared by the workers that make them.
struct ChunkPuts {
    explicit ChunkPuts(io_executor executor) : all_done(executor) {}
    std::uint64_t next = 0;
    std::size_t running = 0;
    std::optional<EtcdFailure> failure;
    steady_timer all_done;  // cancelled when the last worker ends
};

// Puts chunks until none is left or one fails. Each put is its own request and etcd commits it
// on its own; several in flight let etcd batch them into one raft round and one WAL fsync.
awaitable<void> put_chunk_worker(EtcdClient& client, std::shared_ptr<ChunkPuts> puts, std::string prefix,
                                 std::string_view text, std::uint64_t chunks) {
    while (!puts->failure && puts->next < chunks) {
        const std::uint64_t index = puts->next++;
        const std::string_view chunk = text.substr(index * EtcdConfigStore::chunk_bytes, EtcdConfigStore::chunk_bytes);
        auto put = co_await client.put(prefix + padded(index, 6), chunk);
        if (auto* failure = std::get_if<EtcdFailure>(&put); failure != nullptr && !puts->failure) {
            puts->failure = std::move(*failure);
        }
    }
}

}  // namespace

awaitable<std::optional<EtcdFailure>> EtcdConfigStore::put_chunks(const std::string& prefix, std::string_view text,
                                                                  std::uint64_t chunks) {
    // Four at a time: a million-key config is about 30 chunks, and more in flight gain little
    // on etcd's side while each holds a base64 copy of its megabyte.
    constexpr std::uint64_t in_flight = 4;
    const auto executor = co_await net::this_coro::executor;
    auto puts = std::make_shared<ChunkPuts>(executor);
    for (std::uint64_t worker = 0; worker < std::min(in_flight, chunks); ++worker) {
        ++puts->running;
        net::co_spawn(executor, put_chunk_worker(client_, puts, prefix, text, chunks), [puts](std::exception_ptr error) {
            if (error && !puts->failure) {
                puts->failure = EtcdFailure{"writing a chunk failed inside the control plane", false};
            }
            if (--puts->running == 0) {
                puts->all_done.cancel();
            }
        });
    }
    // One thread runs the loop: no worker can end between this check and the wait.
    while (puts->running > 0) {
        puts->all_done.expires_at(steady_timer::time_point::max());
        [[maybe_unused]] auto [ec] = co_await puts->all_done.async_wait();
    }
    co_return std::move(puts->failure);
}

awaitable<EtcdResult<StoredBlob>> EtcdConfigStore::put_chunks_of(std::string_view text, std::string content_hash) {
    struct Encoded {
        std::string content_hash;  // empty: it could not be computed (out of memory)
        std::string compressed;    // empty: not compressed, or zstd failed (out of memory)
    };
    const bool off_loop = cpu_ != nullptr && (encoding_ == ChunkEncoding::zstd || content_hash.empty());
    // `text` outlives the wait: it is the caller's.
    auto job = [text, content_hash = std::move(content_hash), zstd = encoding_ == ChunkEncoding::zstd]() mutable noexcept {
        Encoded encoded;
        try {
            encoded.content_hash = content_hash.empty() ? util::sha256_hex(text) : std::move(content_hash);
            if (zstd) {
                encoded.compressed = zstd_compress(text);
            }
        } catch (const std::exception&) {
        }
        return encoded;
    };
    Encoded encoded;
    if (off_loop) {
        encoded = co_await run_off_loop<Encoded>(*cpu_, std::move(job));
    } else {
        encoded = job();
    }
    if (encoded.content_hash.empty()) {
        co_return EtcdFailure{"cannot hash the config to store: out of memory"};
    }
    StoredBlob blob{encoding_, 0, std::move(encoded.content_hash)};
    std::string_view stored = text;
    if (blob.encoding == ChunkEncoding::zstd && encoded.compressed.empty()) {
        blob.encoding = ChunkEncoding::identity;  // stored as it is instead
    } else if (blob.encoding == ChunkEncoding::zstd) {
        stored = encoded.compressed;
    }
    blob.chunks = (stored.size() + chunk_bytes - 1) / chunk_bytes;
    if (auto failure = co_await put_chunks(blob_prefix(blob.content_hash, blob.encoding), stored, blob.chunks)) {
        co_return std::move(*failure);
    }
    co_return blob;
}

awaitable<std::optional<EtcdFailure>> EtcdConfigStore::remove_chunks(const StoredBlob& blob) {
    const std::string prefix = blob_prefix(blob.content_hash, blob.encoding);
    auto deleted = co_await client_.delete_range(prefix, EtcdClient::prefix_end(prefix));
    if (auto* failure = std::get_if<EtcdFailure>(&deleted)) {
        co_return std::move(*failure);
    }
    co_return std::nullopt;
}

awaitable<EtcdResult<WriteOutcome>> EtcdConfigStore::write(const std::string& text, std::uint64_t expected_revision,
                                                           VersionRecord record, std::optional<StoredBlob> stored) {
    record.bytes = text.size();
    record.applied_at = util::format_rfc3339(std::chrono::system_clock::now());

    // Chunks first. They are always written, even when present: the put refreshes their
    // mod_revision, which is what keeps prune() away from chunks a write is about to use.
    if (!stored) {
        auto blob = co_await put_chunks_of(text, record.content_hash);
        if (auto* failure = std::get_if<EtcdFailure>(&blob)) {
            co_return std::move(*failure);
        }
        stored = std::get<StoredBlob>(blob);
    }
    if (record.content_hash.empty()) {
        record.content_hash = stored->content_hash;
    }
    record.encoding = stored->encoding;
    record.chunks = stored->chunks;

    auto newest = co_await client_.range(history_prefix(), EtcdClient::prefix_end(history_prefix()), 1, true, true);
    if (auto* failure = std::get_if<EtcdFailure>(&newest)) {
        co_return std::move(*failure);
    }
    const auto& last = std::get<EtcdRange>(newest).kvs;
    record.sequence = last.empty() ? 1 : sequence_of_key(last.front().key, history_prefix()) + 1;

    json fields = to_json(record);
    fields.erase("revision");  // not known before the write; it is the manifest's mod_revision
    const std::string manifest = fields.dump();
    const json request{
        {"compare", json::array({compare_current(config_key(), expected_revision)})},
        {"success", json::array({put_operation(config_key(), manifest),
                                 put_operation(history_prefix() + padded(record.sequence, 20), manifest)})},
        {"failure", json::array({json{{"request_range", {{"key", util::base64_encode(config_key())}}}}})}};
    auto result = co_await client_.txn(request);
    if (auto* failure = std::get_if<EtcdFailure>(&result)) {
        co_return std::move(*failure);
    }
    const auto& txn = std::get<EtcdTxnResult>(result);
    if (!txn.succeeded) {
        // Report the revision that is current instead, so the caller can diff against it.
        std::uint64_t current = 0;
        try {
            const auto& kvs = txn.responses.at(0).at("response_range").at("kvs");
            if (!kvs.empty()) {
                current = std::stoull(kvs.at(0).at("mod_revision").get<std::string>());
            }
        } catch (const std::exception&) {
        }
        co_return WriteOutcome{false, current};
    }
    co_await prune();
    co_return WriteOutcome{true, txn.revision};
}

awaitable<EtcdResult<VersionRecord>> EtcdConfigStore::stage_text(const std::string& text, VersionRecord record) {
    record.bytes = text.size();
    record.applied_at = util::format_rfc3339(std::chrono::system_clock::now());
    auto blob = co_await put_chunks_of(text, "");
    if (auto* failure = std::get_if<EtcdFailure>(&blob)) {
        co_return std::move(*failure);
    }
    record.content_hash = std::get<StoredBlob>(blob).content_hash;
    record.encoding = std::get<StoredBlob>(blob).encoding;
    record.chunks = std::get<StoredBlob>(blob).chunks;
    co_return record;
}

awaitable<EtcdResult<std::vector<VersionRecord>>> EtcdConfigStore::history(std::size_t limit) {
    auto entries = co_await client_.range(history_prefix(), EtcdClient::prefix_end(history_prefix()),
                                          static_cast<std::int64_t>(limit), true);
    if (auto* failure = std::get_if<EtcdFailure>(&entries)) {
        co_return std::move(*failure);
    }
    std::vector<VersionRecord> records;
    for (const auto& entry : std::get<EtcdRange>(entries).kvs) {
        if (auto record = version_record_from(entry.value)) {
            record->revision = entry.mod_revision;
            records.push_back(std::move(*record));
        }
    }
    co_return records;
}

awaitable<EtcdWatchResult> EtcdConfigStore::wait_for_change(std::uint64_t after_revision,
                                                            std::chrono::milliseconds idle_timeout) {
    return client_.wait_for_change(config_key(), {}, after_revision + 1, idle_timeout);
}

awaitable<void> EtcdConfigStore::prune() {
    // Best effort: a failure here leaves more than needed in the store, never less, and the
    // next write tries again.
    auto entries = co_await client_.range(history_prefix(), EtcdClient::prefix_end(history_prefix()));
    if (std::holds_alternative<EtcdFailure>(entries)) {
        co_return;
    }
    auto& kvs = std::get<EtcdRange>(entries).kvs;  // oldest first
    if (kvs.empty()) {
        co_return;
    }
    const std::size_t excess = kvs.size() > history_limit_ ? kvs.size() - history_limit_ : 0;
    if (excess > 0) {
        // Entries are keyed in order, so the oldest `excess` are one key range.
        auto deleted = co_await client_.delete_range(kvs.front().key, kvs[excess].key);
        if (std::holds_alternative<EtcdFailure>(deleted)) {
            co_return;
        }
    }
    std::set<std::string> kept_hashes;
    const std::uint64_t oldest_kept_revision = kvs[excess].mod_revision;
    for (std::size_t i = excess; i < kvs.size(); ++i) {
        if (auto record = version_record_from(kvs[i].value)) {
            kept_hashes.insert(record->content_hash);
        }
    }
    auto chunks = co_await client_.range(blobs_prefix(), EtcdClient::prefix_end(blobs_prefix()), 0, false, true);
    if (std::holds_alternative<EtcdFailure>(chunks)) {
        co_return;
    }
    // A blob goes when no kept version names it and none of its chunks was written since the
    // oldest kept version: a write in progress elsewhere has just written its chunks.
    // Blob names are the content hash, with ".zst" for compressed chunks.
    std::map<std::string, std::uint64_t> newest_write;  // blob name -> newest chunk mod_revision
    for (const auto& chunk : std::get<EtcdRange>(chunks).kvs) {
        const std::string rest = chunk.key.substr(blobs_prefix().size());
        const std::string name = rest.substr(0, rest.find('/'));
        auto& newest = newest_write[name];
        newest = std::max(newest, chunk.mod_revision);
    }
    for (const auto& [name, newest] : newest_write) {
        const std::string hash = name.ends_with(".zst") ? name.substr(0, name.size() - 4) : name;
        if (kept_hashes.contains(hash) || newest >= oldest_kept_revision) {
            continue;
        }
        const std::string prefix = blobs_prefix() + name + "/";
        auto deleted = co_await client_.delete_range(prefix, EtcdClient::prefix_end(prefix));
        if (std::holds_alternative<EtcdFailure>(deleted)) {
            co_return;
        }
        observability::emit_event(Level::debug, std::move(observability::event_line(Level::debug, "etcd_blob_pruned")
                                                              .add("content_hash", hash)));
    }
}

}  // namespace cell::controlplane
