#include "cell/controlplane/config_delta.hpp"

#include <charconv>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include "cell/config/errors.hpp"
#include "cell/config/parse.hpp"
#include "cell/controlplane/protocol.hpp"
#include "routing_row_changes.hpp"

namespace cell::controlplane {
namespace {

using nlohmann::json;

constexpr std::uint64_t fnv_offset = 14695981039346656037ull;
constexpr std::uint64_t fnv_prime = 1099511628211ull;

std::uint64_t entry_digest(std::string_view key, std::string_view placement) {
    std::uint64_t hash = fnv_offset;
    const auto mix = [&hash](std::string_view bytes) {
        for (const char c : bytes) {
            hash = (hash ^ static_cast<unsigned char>(c)) * fnv_prime;
        }
    };
    mix(key);
    hash = (hash ^ 0u) * fnv_prime;  // the separator, so "ab"+"c" and "a"+"bc" differ
    mix(placement);
    return hash;
}

std::string hex64(std::uint64_t value) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text(16, '0');
    for (int i = 15; i >= 0; --i) {
        text[static_cast<std::size_t>(i)] = digits[value & 0xf];
        value >>= 4;
    }
    return text;
}

// A JSON string literal for `text`, which came out of a parsed JSON document (so it is UTF-8,
// and stays as it is: the log lines' escaper turns non-ASCII bytes into \u00XX, which would
// name another key).
void append_json_string(std::string& out, std::string_view text) {
    static constexpr char digits[] = "0123456789abcdef";
    out.push_back('"');
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (byte < 0x20) {
            out += "\\u00";
            out.push_back(digits[byte >> 4]);
            out.push_back(digits[byte & 0xf]);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view text, std::size_t i) {
    while (i < text.size() && is_space(text[i])) {
        ++i;
    }
    return i;
}

// The end of the JSON string that opens at text[i] (one past its closing quote); npos when it
// does not end. `escaped` tells whether it holds an escape.
std::size_t skip_string(std::string_view text, std::size_t i, bool& escaped) {
    escaped = false;
    for (++i; i < text.size(); ++i) {
        if (text[i] == '\\') {
            escaped = true;
            ++i;
        } else if (text[i] == '"') {
            return i + 1;
        }
    }
    return std::string_view::npos;
}

// One past the JSON value that starts at text[i]; npos when it does not end. Assumes valid JSON.
std::size_t skip_value(std::string_view text, std::size_t i) {
    bool escaped = false;
    if (i >= text.size()) {
        return std::string_view::npos;
    }
    if (text[i] == '"') {
        return skip_string(text, i, escaped);
    }
    if (text[i] != '{' && text[i] != '[') {
        while (i < text.size() && text[i] != ',' && text[i] != '}' && text[i] != ']' && !is_space(text[i])) {
            ++i;
        }
        return i;
    }
    int depth = 0;
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '"') {
            i = skip_string(text, i, escaped);
            if (i == std::string_view::npos) {
                return i;
            }
            --i;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return std::string_view::npos;
}

// Where the value of the document's top-level "routingTable" member starts and ends, when the
// document is an object with exactly one such member written without escapes.
std::optional<std::pair<std::size_t, std::size_t>> routing_table_span(std::string_view text) {
    std::size_t i = skip_space(text, 0);
    if (i == text.size() || text[i] != '{') {
        return std::nullopt;
    }
    std::optional<std::pair<std::size_t, std::size_t>> found;
    i = skip_space(text, i + 1);
    if (i < text.size() && text[i] == '}') {
        return std::nullopt;
    }
    while (i < text.size()) {
        if (text[i] != '"') {
            return std::nullopt;
        }
        bool escaped = false;
        const std::size_t key_end = skip_string(text, i, escaped);
        if (key_end == std::string_view::npos) {
            return std::nullopt;
        }
        const std::string_view key = text.substr(i + 1, key_end - i - 2);
        i = skip_space(text, key_end);
        if (i == text.size() || text[i] != ':') {
            return std::nullopt;
        }
        const std::size_t value_begin = skip_space(text, i + 1);
        const std::size_t value_end = skip_value(text, value_begin);
        if (value_end == std::string_view::npos) {
            return std::nullopt;
        }
        if (escaped || key == "routingTable") {
            if (escaped || found) {
                return std::nullopt;  // in doubt, or a repeated member: no delta
            }
            found.emplace(value_begin, value_end);
        }
        i = skip_space(text, value_end);
        if (i == text.size()) {
            return std::nullopt;
        }
        if (text[i] == '}') {
            return found;
        }
        if (text[i] != ',') {
            return std::nullopt;
        }
        i = skip_space(text, i + 1);
    }
    return std::nullopt;
}

template <typename Table>
std::uint64_t digest_rows(const Table& rows) {
    std::uint64_t sum = 0;
    for (const auto& [key, placement] : rows) {
        sum += entry_digest(key, placement);
    }
    return sum;
}

}  // namespace

std::uint64_t table_digest(const routing::Table& table) {
    std::uint64_t sum = 0;
    table.for_each_key([&sum](std::string_view key, const routing::PlacementTarget& placement) {
        sum += entry_digest(key, placement.name);
    });
    return sum;
}

std::uint64_t table_digest(const config::Config& config) { return digest_rows(config.routing_table); }

namespace {

// The "set" object and the "remove" array of a delta, written as the changes are found; it stops
// taking them once they pass `budget` bytes, where a delta no longer pays.
class DeltaKeyWriter {
public:
    explicit DeltaKeyWriter(std::size_t budget) : budget_(budget) {
        keys_.set.push_back('{');
        keys_.remove.push_back('[');
    }

    bool set(std::string_view key, std::string_view placement) {
        if (keys_.set.size() > 1) {
            keys_.set.push_back(',');
        }
        append_json_string(keys_.set, key);
        keys_.set.push_back(':');
        append_json_string(keys_.set, placement);
        over_budget_ = keys_.set.size() + keys_.remove.size() > budget_;
        return !over_budget_;
    }

    bool remove(std::string_view key) {
        if (keys_.remove.size() > 1) {
            keys_.remove.push_back(',');
        }
        append_json_string(keys_.remove, key);
        over_budget_ = keys_.set.size() + keys_.remove.size() > budget_;
        return !over_budget_;
    }

    bool over_budget() const { return over_budget_; }

    std::optional<DeltaKeys> finish(std::uint64_t routing_keys, std::uint64_t digest) && {
        if (over_budget_) {
            return std::nullopt;
        }
        keys_.set.push_back('}');
        keys_.remove.push_back(']');
        keys_.routing_keys = routing_keys;
        keys_.digest = digest;
        return std::move(keys_);
    }

private:
    DeltaKeys keys_;
    std::size_t budget_;
    bool over_budget_ = false;
};

// for_each_row_change's calls, each written to the delta.
class RowChangesToDelta {
public:
    RowChangesToDelta(const detail::RoutingRows& from, const detail::RoutingRows& to, DeltaKeyWriter& writer)
        : from_(from), to_(to), writer_(writer) {}

    bool moved(std::size_t, std::size_t to_index) { return writer_.set(to_[to_index].first, to_[to_index].second); }
    bool added(std::size_t to_index) { return writer_.set(to_[to_index].first, to_[to_index].second); }
    bool removed(std::size_t from_index) { return writer_.remove(from_[from_index].first); }

private:
    const detail::RoutingRows& from_;
    const detail::RoutingRows& to_;
    DeltaKeyWriter& writer_;
};

}  // namespace

std::optional<DeltaKeys> delta_keys(const routing::Table& base, const routing::Table& next, std::size_t budget) {
    DeltaKeyWriter writer(budget);
    std::uint64_t digest = 0;
    next.for_each_key([&](std::string_view key, const routing::PlacementTarget& placement) {
        if (writer.over_budget()) {
            return;
        }
        digest += entry_digest(key, placement.name);
        const routing::PlacementTarget* before = base.find_key(key);
        if (before == nullptr || before->name != placement.name) {
            writer.set(key, placement.name);
        }
    });
    base.for_each_key([&](std::string_view key, const routing::PlacementTarget&) {
        if (!writer.over_budget() && next.find_key(key) == nullptr) {
            writer.remove(key);
        }
    });
    return std::move(writer).finish(next.routing_key_count(), digest);
}

std::optional<DeltaKeys> delta_keys(const config::Config& base, const config::Config& next, std::size_t budget) {
    DeltaKeyWriter writer(budget);
    RowChangesToDelta changes(base.routing_table, next.routing_table, writer);
    detail::for_each_row_change(base.routing_table, next.routing_table, changes);
    if (writer.over_budget()) {
        return std::nullopt;
    }
    return std::move(writer).finish(next.routing_table.size(), digest_rows(next.routing_table));
}

std::optional<std::string> encode_delta(const DeltaSource& source, std::size_t full_frame_bytes,
                                        const DeltaKeys* prepared) {
    const auto span = routing_table_span(source.next_text);
    if (!span || source.base == nullptr || source.next == nullptr) {
        return std::nullopt;
    }
    const std::size_t budget = full_frame_bytes / 4;
    std::optional<DeltaKeys> computed;
    if (prepared == nullptr) {
        computed = delta_keys(*source.base, *source.next, budget);
        if (!computed) {
            return std::nullopt;
        }
        prepared = &*computed;
    }
    const DeltaKeys& keys = *prepared;

    // Ordered: "type" first, so a reader can tell a delta from its first bytes.
    nlohmann::ordered_json header{{"type", delta_type},
                {"version", source.version},
                {"base_hash", source.base_hash},
                {"content_hash", source.next_hash},
                {"routing_keys", keys.routing_keys},
                {"table_digest", hex64(keys.digest)}};
    if (source.revision != 0) {
        header["revision"] = source.revision;
    }
    std::string frame = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    frame.pop_back();  // the closing brace: the big members follow
    const std::string_view text = source.next_text;
    frame.reserve(frame.size() + keys.set.size() + keys.remove.size() + text.size() - (span->second - span->first) + 64);
    frame += R"(,"routingTable":{"set":)";
    frame += keys.set;
    frame += R"(,"remove":)";
    frame += keys.remove;
    frame += R"(},"config":)";
    frame.append(text.substr(0, span->first));
    frame += "{}";
    frame.append(text.substr(span->second));
    frame.push_back('}');
    if (frame.size() > budget) {
        return std::nullopt;
    }
    return frame;
}

std::variant<AppliedDelta, DeltaRefusal> apply_delta(const routing::Table& base, std::string_view frame,
                                                     bool with_document) {
    const json document = json::parse(frame, nullptr, false);
    if (!document.is_object()) {
        return DeltaRefusal{"the delta is not a JSON object"};
    }
    const auto routing = document.find("routingTable");
    const auto rest = document.find("config");
    if (routing == document.end() || !routing->is_object() || rest == document.end() || !rest->is_object()) {
        return DeltaRefusal{"the delta has no \"routingTable\" or \"config\" object"};
    }
    const auto set = routing->find("set");
    const auto remove = routing->find("remove");
    if (set == routing->end() || !set->is_object() || remove == routing->end() || !remove->is_array()) {
        return DeltaRefusal{"the delta's routingTable needs a \"set\" object and a \"remove\" array"};
    }
    if (const auto keys = rest->find("routingTable"); keys != rest->end() && !(keys->is_object() && keys->empty())) {
        return DeltaRefusal{"the delta's config must carry an empty routingTable"};
    }
    const auto expected_keys = document.find("routing_keys");
    const auto expected_digest = document.find("table_digest");
    if (expected_keys == document.end() || !expected_keys->is_number_unsigned() || expected_digest == document.end() ||
        !expected_digest->is_string()) {
        return DeltaRefusal{"the delta has no \"routing_keys\" count or \"table_digest\""};
    }

    auto parsed = config::parse_config(rest->dump(-1, ' ', false, json::error_handler_t::replace));
    if (!parsed.config) {
        return DeltaRefusal{"the delta's config does not parse: " + config::describe(parsed.errors)};
    }
    std::unordered_map<std::string_view, std::string_view> placement_of;
    placement_of.reserve(set->size());
    for (const auto& [key, placement] : set->items()) {
        if (!placement.is_string()) {
            return DeltaRefusal{"the delta sets key \"" + key + "\" to something that is not a placement name"};
        }
        placement_of.emplace(key, placement.get_ref<const std::string&>());
    }
    std::unordered_set<std::string_view> removed;
    removed.reserve(remove->size());
    for (const auto& key : *remove) {
        if (!key.is_string()) {
            return DeltaRefusal{"the delta removes something that is not a routing key"};
        }
        removed.insert(key.get_ref<const std::string&>());
    }

    AppliedDelta applied;
    applied.config = std::move(*parsed.config);
    auto& rows = applied.config.routing_table;
    rows.reserve(base.routing_key_count() + placement_of.size());
    std::size_t removed_found = 0;
    base.for_each_key([&](std::string_view key, const routing::PlacementTarget& placement) {
        if (removed.contains(key)) {
            ++removed_found;
            return;
        }
        const auto moved = placement_of.find(key);
        rows.emplace_back(std::string(key), std::string(moved != placement_of.end() ? moved->second
                                                                                  : std::string_view(placement.name)));
    });
    if (removed_found != removed.size()) {
        return DeltaRefusal{"the delta removes routing keys this router's table does not have"};
    }
    for (const auto& [key, placement] : set->items()) {
        if (base.find_key(key) == nullptr) {
            rows.emplace_back(key, placement.get<std::string>());
        }
    }
    if (rows.size() != expected_keys->get<std::uint64_t>()) {
        return DeltaRefusal{"the delta gives " + std::to_string(rows.size()) + " routing keys, the control plane has " +
                            std::to_string(expected_keys->get<std::uint64_t>())};
    }
    if (hex64(table_digest(applied.config)) != expected_digest->get_ref<const std::string&>()) {
        return DeltaRefusal{"the table the delta gives differs from the control plane's (table_digest)"};
    }

    if (with_document) {
        json head = *rest;
        head.erase("routingTable");
        head["type"] = snapshot_type;
        if (const auto revision = document.find("revision"); revision != document.end() && revision->is_number_unsigned()) {
            head["revision"] = *revision;
        }
        std::string& text = applied.document;
        text = head.dump(-1, ' ', false, json::error_handler_t::replace);
        text.pop_back();
        text += R"(,"routingTable":{)";
        bool first = true;
        for (const auto& [key, placement] : rows) {
            if (!first) {
                text.push_back(',');
            }
            first = false;
            append_json_string(text, key);
            text.push_back(':');
            append_json_string(text, placement);
        }
        text += "}}";
    }
    return applied;
}

}  // namespace cell::controlplane
