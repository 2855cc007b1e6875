#include "cell/config/parse.hpp"

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cell/config/duration.hpp"
#include "cell/config/validate.hpp"
#include "json_text.hpp"
#include "operations_reader.hpp"
#include "placement_reader.hpp"
#include "routing_key_index.hpp"
#include "routing_table_scanner.hpp"

namespace cell::config {
namespace {

using json = nlohmann::json;
using DurationField = std::optional<Duration> ProxySettingsOverrides::*;
using CountField = std::optional<std::uint32_t> ProxySettingsOverrides::*;

// Far deeper than any valid config; bounds the handler's frame stack on hostile input.
constexpr std::size_t max_depth = 64;

// Where the value being read belongs, decided from the enclosing container and key.
enum class Slot {
    root, version, routing_table, cell_endpoints, placements, operations, default_placement, proxy,  // the document's
    routing_entry, endpoint_entry, proxy_count, proxy_duration,                          // their members'
    captured,  // inside "placements" or "operations": collected into a small DOM, read by their readers
    ignored,   // inside unknown fields and repeated keys: read (for syntax and repeats), dropped
};

enum class Container {
    root, routing_table, cell_endpoints, proxy, captured_object, captured_array, ignored_object, ignored_array
};

struct Frame {
    Container container;
    std::string pointer;  // of the container itself
    std::string key;      // current member (in routing_table, only a repeated one)
    std::size_t index = 0;        // current element, in arrays
    bool skip_value = false;      // the current member repeats a key: its value is dropped
    bool key_pending = false;     // routing_table: the key is not yet checked for repeats
    std::unordered_set<std::string> keys;  // members seen so far (not for routing_table)
};

struct Target {
    Slot slot = Slot::ignored;
    DurationField duration = nullptr;
    CountField count = nullptr;
};

// The integer members of "proxy" and the range validate_config accepts for each.
struct CountSpec {
    std::string_view name;
    CountField field;
    std::uint32_t min;
    std::uint32_t max;
};

constexpr CountSpec proxy_counts[] = {
    {"max_header_bytes", &ProxySettingsOverrides::max_header_bytes, min_max_header_bytes, max_max_header_bytes},
    {"max_connections", &ProxySettingsOverrides::max_connections, min_max_connections, max_max_connections},
};

const CountSpec& count_spec(CountField field) {
    for (const auto& spec : proxy_counts) {
        if (spec.field == field) {
            return spec;
        }
    }
    return proxy_counts[0];
}

const char* expected_type(Slot slot) {
    switch (slot) {
        case Slot::root:
        case Slot::routing_table:
        case Slot::cell_endpoints:
        case Slot::placements:
        case Slot::operations:
        case Slot::proxy:
            return "an object";
        case Slot::proxy_count:
            return "an integer";
        default:
            return "a string";
    }
}

DurationField proxy_duration_field(std::string_view key) {
    static constexpr std::pair<std::string_view, DurationField> fields[] = {
        {"header_timeout", &ProxySettingsOverrides::header_timeout},
        {"idle_timeout", &ProxySettingsOverrides::idle_timeout},
        {"connect_timeout", &ProxySettingsOverrides::connect_timeout},
        {"request_timeout", &ProxySettingsOverrides::request_timeout},
        {"drain_timeout", &ProxySettingsOverrides::drain_timeout},
    };
    for (const auto& [name, field] : fields) {
        if (name == key) {
            return field;
        }
    }
    return nullptr;
}

// Builds Config straight from nlohmann's SAX events: no DOM, so a 1M-key routing table costs
// one pass, and duplicate keys are seen (a DOM would silently keep the last one). Only the
// "placements" object, a handful of small nested policies, is collected into a DOM (duplicate
// keys still checked here) and read as a whole by read_placements.
class ConfigHandler {
public:
    ConfigHandler() = default;
    ConfigHandler(const ConfigHandler&) = delete;
    ConfigHandler& operator=(const ConfigHandler&) = delete;

    // --- nlohmann SAX interface ---
    bool null() {
        const Target t = target();
        return t.slot == Slot::captured ? captured_scalar(nullptr) : scalar(t, "null");
    }
    bool boolean(bool value) {
        const Target t = target();
        return t.slot == Slot::captured ? captured_scalar(value) : scalar(t, "boolean");
    }
    bool number_float(json::number_float_t value, const json::string_t& /*raw*/) {
        const Target t = target();
        return t.slot == Slot::captured ? captured_scalar(value) : scalar(t, "number");
    }
    bool binary(json::binary_t& /*value*/) { return scalar(target(), "binary"); }
    bool number_integer(json::number_integer_t value);
    bool number_unsigned(json::number_unsigned_t value);
    bool string(json::string_t& value);
    bool start_object(std::size_t /*elements*/);
    bool key(json::string_t& key);
    bool end_object();
    bool start_array(std::size_t /*elements*/);
    bool end_array();
    bool parse_error(std::size_t position, const std::string& /*last_token*/,
                     const nlohmann::detail::exception& ex);

    ParseResult finish() &&;

private:
    using RoutingTable = std::vector<std::pair<std::string, std::string>>;

    Target target();
    void check_routing_key(Frame& frame);
    Target root_member_target(Frame& frame);
    Target proxy_member_target(Frame& frame);
    std::string value_pointer() const;
    bool scalar(const Target& target, const char* actual_type);
    bool count_out_of_range(CountField field, const std::string& value);
    bool push(Container container, std::string pointer);
    bool start_captured(nlohmann::ordered_json value, Container container, std::string pointer);
    nlohmann::ordered_json& captured_slot();
    bool captured_scalar(nlohmann::ordered_json value);
    void end_captured(const Frame& frame);
    void end_value();
    void check_required_fields();
    void type_error(Slot slot, const char* actual_type);
    void error(std::string pointer, std::string message) {
        errors_.push_back({std::move(pointer), std::move(message)});
    }

    Config config_;
    detail::RoutingKeyIndex routing_keys_;
    std::uint32_t pending_hash_ = 0;
    std::vector<Frame> frames_;
    ConfigErrors errors_;
    ConfigErrors warnings_;
    bool seen_version_ = false;
    bool seen_routing_table_ = false;
    bool seen_cell_endpoints_ = false;
    bool seen_placements_ = false;
    bool seen_default_placement_ = false;
    Slot captured_field_ = Slot::placements;          // which root field captured_ holds
    nlohmann::ordered_json captured_;                  // the "placements" or "operations" object being read
    std::vector<nlohmann::ordered_json*> captured_at_; // open containers inside it, innermost last
};

Target ConfigHandler::target() {
    if (frames_.empty()) {
        return {Slot::root};
    }
    Frame& frame = frames_.back();
    if (frame.key_pending) {
        check_routing_key(frame);
    }
    if (frame.skip_value) {
        return {Slot::ignored};
    }
    switch (frame.container) {
        case Container::root: return root_member_target(frame);
        case Container::proxy: return proxy_member_target(frame);
        case Container::routing_table: return {Slot::routing_entry};
        case Container::cell_endpoints: return {Slot::endpoint_entry};
        case Container::captured_object:
        case Container::captured_array: return {Slot::captured};
        default: return {Slot::ignored};
    }
}

Target ConfigHandler::root_member_target(Frame& frame) {
    // A required field of the wrong type is present: one type error, not also "missing".
    const std::string& key = frame.key;
    if (key == "version") {
        seen_version_ = true;
        return {Slot::version};
    }
    if (key == "routingTable") {
        seen_routing_table_ = true;
        return {Slot::routing_table};
    }
    if (key == "cellEndpoints") {
        seen_cell_endpoints_ = true;
        return {Slot::cell_endpoints};
    }
    if (key == "placements") {
        seen_placements_ = true;
        config_.placements_field = "placements";
        return {Slot::placements};
    }
    if (key == "defaultPlacement") {
        seen_default_placement_ = true;
        return {Slot::default_placement};
    }
    if (key == "operations") {
        return {Slot::operations};
    }
    if (key == "proxy") {
        return {Slot::proxy};
    }
    // Control-plane snapshots are tagged {"type": "config_snapshot", "revision": N, ...}: the tag
    // and the store revision are expected, and mean nothing to the table.
    if (key != "type" && key != "revision") {
        warnings_.push_back({value_pointer(), "unknown field, ignored"});
    }
    return {Slot::ignored};
}

Target ConfigHandler::proxy_member_target(Frame& frame) {
    for (const auto& spec : proxy_counts) {
        if (frame.key == spec.name) {
            return {Slot::proxy_count, nullptr, spec.field};
        }
    }
    if (const DurationField field = proxy_duration_field(frame.key)) {
        return {Slot::proxy_duration, field};
    }
    warnings_.push_back({value_pointer(), "unknown field, ignored"});
    return {Slot::ignored};
}

std::string ConfigHandler::value_pointer() const {
    if (frames_.empty()) {
        return "";
    }
    const Frame& frame = frames_.back();
    switch (frame.container) {
        case Container::ignored_array:
        case Container::captured_array:
            return frame.pointer + "/" + std::to_string(frame.index);
        case Container::routing_table:
            // A repeated key was dropped from the table and kept in the frame instead.
            return detail::child_pointer(
                frame.pointer, frame.skip_value ? frame.key : config_.routing_table.back().first);
        default:
            return detail::child_pointer(frame.pointer, frame.key);
    }
}

void ConfigHandler::type_error(Slot slot, const char* actual_type) {
    error(value_pointer(), std::string("expected ") + expected_type(slot) + ", got " + actual_type);
}

bool ConfigHandler::scalar(const Target& t, const char* actual_type) {
    if (t.slot != Slot::ignored) {
        type_error(t.slot, actual_type);
    }
    end_value();
    return true;
}

void ConfigHandler::end_value() {
    if (!frames_.empty() && (frames_.back().container == Container::ignored_array ||
                             frames_.back().container == Container::captured_array)) {
        ++frames_.back().index;
    }
}

// Where the next value inside "placements" goes: the current member of the innermost object,
// or a new element of the innermost array.
nlohmann::ordered_json& ConfigHandler::captured_slot() {
    nlohmann::ordered_json& parent = *captured_at_.back();
    if (parent.is_array()) {
        parent.push_back(nullptr);
        return parent.back();
    }
    return parent[frames_.back().key];
}

bool ConfigHandler::captured_scalar(nlohmann::ordered_json value) {
    captured_slot() = std::move(value);
    end_value();
    return true;
}

bool ConfigHandler::start_captured(nlohmann::ordered_json value, Container container, std::string pointer) {
    if (captured_at_.empty()) {
        captured_ = std::move(value);
        captured_at_.push_back(&captured_);
    } else {
        nlohmann::ordered_json& slot = captured_slot();
        slot = std::move(value);
        captured_at_.push_back(&slot);
    }
    return push(container, std::move(pointer));
}

void ConfigHandler::end_captured(const Frame& frame) {
    captured_at_.pop_back();
    if (!captured_at_.empty()) {
        return;
    }
    if (captured_field_ == Slot::operations) {
        detail::read_operations(captured_, frame.pointer, config_.operations, errors_, warnings_);
    } else {
        detail::read_placements(captured_, frame.pointer, config_.placements, errors_, warnings_);
    }
}

// Integers that do not fit the field are out of range rather than of the wrong type; the message
// is validate_config's, so that a limit reads the same whichever stage rejects it.
bool ConfigHandler::count_out_of_range(CountField field, const std::string& value) {
    const CountSpec& spec = count_spec(field);
    error(value_pointer(), "must be between " + std::to_string(spec.min) + " and " + std::to_string(spec.max) +
                               ", got " + value);
    end_value();
    return true;
}

bool ConfigHandler::number_integer(json::number_integer_t value) {
    const Target t = target();
    if (t.slot == Slot::captured) {
        return captured_scalar(value);
    }
    if (t.slot == Slot::proxy_count) {
        return count_out_of_range(t.count, std::to_string(value));  // only negatives arrive here
    }
    return scalar(t, "number");
}

bool ConfigHandler::number_unsigned(json::number_unsigned_t value) {
    const Target t = target();
    if (t.slot == Slot::captured) {
        return captured_scalar(value);
    }
    if (t.slot != Slot::proxy_count) {
        return scalar(t, "number");
    }
    if (value > UINT32_MAX) {
        return count_out_of_range(t.count, std::to_string(value));
    }
    config_.proxy.*t.count = static_cast<std::uint32_t>(value);
    end_value();
    return true;
}

bool ConfigHandler::string(json::string_t& value) {
    const Target t = target();
    switch (t.slot) {
        case Slot::captured:
            return captured_scalar(std::move(value));
        case Slot::version:
            config_.version = std::move(value);
            break;
        case Slot::default_placement:
            config_.default_placement = std::move(value);
            break;
        case Slot::routing_entry:
            config_.routing_table.back().second = std::move(value);
            break;
        case Slot::endpoint_entry: {
            Placement& placement = config_.placements.emplace_back();
            placement.name = frames_.back().key;
            placement.endpoint.url = std::move(value);
            break;
        }
        case Slot::proxy_duration:
            if (const auto duration = parse_duration(value)) {
                config_.proxy.*t.duration = *duration;
            } else {
                error(value_pointer(), "not a duration (e.g. \"500ms\", \"10s\", \"1m\", \"1h\"): " +
                                           detail::quoted(value));
            }
            break;
        case Slot::ignored:
            break;
        default:
            type_error(t.slot, "string");
    }
    end_value();
    return true;
}

bool ConfigHandler::push(Container container, std::string pointer) {
    if (frames_.size() >= max_depth) {
        error(pointer, "nested deeper than " + std::to_string(max_depth) + " levels");
        return false;  // stops the parser
    }
    frames_.push_back(Frame{container, std::move(pointer), {}, 0, false, false, {}});
    return true;
}

bool ConfigHandler::start_object(std::size_t /*elements*/) {
    const Target t = target();
    std::string pointer = value_pointer();
    switch (t.slot) {
        case Slot::root: return push(Container::root, std::move(pointer));
        case Slot::routing_table: return push(Container::routing_table, std::move(pointer));
        case Slot::cell_endpoints: return push(Container::cell_endpoints, std::move(pointer));
        case Slot::proxy: return push(Container::proxy, std::move(pointer));
        case Slot::placements:
        case Slot::operations:
            captured_field_ = t.slot;
            return start_captured(nlohmann::ordered_json::object(), Container::captured_object, std::move(pointer));
        case Slot::captured:
            return start_captured(nlohmann::ordered_json::object(), Container::captured_object, std::move(pointer));
        case Slot::ignored: return push(Container::ignored_object, std::move(pointer));
        default:
            type_error(t.slot, "object");
            return push(Container::ignored_object, std::move(pointer));
    }
}

bool ConfigHandler::start_array(std::size_t /*elements*/) {
    const Target t = target();
    if (t.slot == Slot::captured) {
        return start_captured(nlohmann::ordered_json::array(), Container::captured_array, value_pointer());
    }
    if (t.slot != Slot::ignored) {
        type_error(t.slot, "array");
    }
    return push(Container::ignored_array, value_pointer());
}

bool ConfigHandler::key(json::string_t& key) {
    Frame& frame = frames_.back();
    if (frame.container == Container::routing_table) {
        // Checked for repeats when its value arrives (target()): see RoutingKeyIndex::prepare.
        pending_hash_ = routing_keys_.prepare(key);
        config_.routing_table.emplace_back(std::move(key), std::string());
        frame.skip_value = false;
        frame.key_pending = true;
        return true;
    }
    frame.skip_value = !frame.keys.insert(key).second;
    frame.key = std::move(key);
    if (frame.skip_value) {
        error(value_pointer(), "duplicate key " + detail::quoted(frame.key));
    }
    return true;
}

void ConfigHandler::check_routing_key(Frame& frame) {
    RoutingTable& table = config_.routing_table;
    frame.key_pending = false;
    frame.skip_value = !routing_keys_.insert(table, table.size() - 1, pending_hash_);
    if (frame.skip_value) {
        frame.key = std::move(table.back().first);
        table.pop_back();
        error(value_pointer(), "duplicate key " + detail::quoted(frame.key));
    }
}

bool ConfigHandler::end_object() {
    if (frames_.back().container == Container::root) {
        check_required_fields();
    }
    if (frames_.back().container == Container::captured_object) {
        end_captured(frames_.back());
    }
    frames_.pop_back();
    end_value();
    return true;
}

bool ConfigHandler::end_array() {
    if (frames_.back().container == Container::captured_array) {
        end_captured(frames_.back());
    }
    frames_.pop_back();
    end_value();
    return true;
}

void ConfigHandler::check_required_fields() {
    const std::pair<bool, const char*> required[] = {
        {seen_version_, "/version"},
        {seen_routing_table_, "/routingTable"},
        {seen_cell_endpoints_ || seen_placements_, "/cellEndpoints"},
        {seen_default_placement_, "/defaultPlacement"},
    };
    for (const auto& [seen, pointer] : required) {
        if (!seen) {
            error(pointer, std::string_view(pointer) == "/cellEndpoints"
                               ? "required field is missing (or \"placements\")"
                               : "required field is missing");
        }
    }
    if (seen_cell_endpoints_ && seen_placements_) {
        error("/placements", "give either \"cellEndpoints\" or \"placements\", not both");
    }
}

bool ConfigHandler::parse_error(std::size_t position, const std::string& /*last_token*/,
                                const nlohmann::detail::exception& ex) {
    // Anything read before the syntax error is moot: the text is not JSON.
    errors_.clear();
    warnings_.clear();
    // nlohmann reports how many bytes it had read: one past the last byte of the offending token,
    // with end of input counting as a byte. Report that last byte's 0-based offset instead (the
    // text's size at end of input), as `head -c` or an editor's byte count would.
    error("", detail::describe_syntax_error(position > 0 ? position - 1 : 0, ex.what()));
    return false;
}

ParseResult ConfigHandler::finish() && {
    ParseResult result;
    if (errors_.empty()) {
        result.config = std::move(config_);
    }
    result.errors = std::move(errors_);
    result.warnings = std::move(warnings_);
    return result;
}

bool is_blank(std::string_view text) {
    return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// The document with its routing table read by the scanner: the rest of the text, with "{}" in
// the table's place, goes through the general parser, and the scanned rows go into the result.
// Nothing when the rest has a syntax error: its byte offset must be the whole text's, so the
// caller parses the whole text instead.
std::optional<ParseResult> parse_with_scanned_table(std::string_view json_text, detail::ScannedRoutingTable table) {
    std::string rest;
    rest.reserve(json_text.size() - (table.end - table.begin) + 2);
    rest.append(json_text.substr(0, table.begin));
    rest.append("{}");
    rest.append(json_text.substr(table.end));
    try {
        ConfigHandler handler;
        if (!json::sax_parse(rest.begin(), rest.end(), &handler)) {
            return std::nullopt;
        }
        ParseResult result = std::move(handler).finish();
        if (result.config) {
            result.config->routing_table = std::move(table.rows);
        }
        return result;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace

ParseResult parse_config(std::string_view json_text) {
    if (is_blank(json_text)) {
        return parse_config_generally(json_text);
    }
    if (auto table = detail::scan_routing_table(json_text)) {
        if (auto result = parse_with_scanned_table(json_text, std::move(*table))) {
            return std::move(*result);
        }
    }
    return parse_config_generally(json_text);
}

ParseResult parse_config_generally(std::string_view json_text) {
    if (is_blank(json_text)) {
        // A file caught mid-write is often empty; say so rather than quote the lexer.
        return ParseResult{std::nullopt, {{"", "document is empty"}}, {}};
    }
    try {
        ConfigHandler handler;
        json::sax_parse(json_text.begin(), json_text.end(), &handler);
        return std::move(handler).finish();
    } catch (const std::exception& ex) {
        return ParseResult{std::nullopt, {{"", std::string("cannot parse: ") + ex.what()}}, {}};
    }
}

}  // namespace cell::config
