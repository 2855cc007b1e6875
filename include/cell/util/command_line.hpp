#pragma once
// The command-line conventions shared by cell-router and cell-control-plane: each flag has an
// environment fallback for containers, `--name value` and `--name=value` both work, flags win
// over the environment, and every bad value is an error naming the flag.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace cell::util {

using Environment = std::function<std::optional<std::string>(const char*)>;

// One flag. `set` stores the value into the options, or returns why it cannot.
template <typename Options>
struct FlagSpec {
    const char* flag;
    const char* env;  // nullptr when there is no environment fallback
    const char* value_name;
    const char* help;
    std::optional<std::string> (*set)(Options&, const std::string&);
};

enum class CommandLineOutcome { ok, help, error };

struct CommandLineResult {
    CommandLineOutcome outcome = CommandLineOutcome::ok;
    std::string error;  // set when outcome is error
};

// Applies environment variables, then `args`, to `options` (which holds the defaults).
template <typename Options>
CommandLineResult apply_command_line(const std::vector<FlagSpec<Options>>& specs, const std::vector<std::string>& args,
                                     const Environment& environment, Options& options) {
    for (const auto& spec : specs) {
        if (spec.env == nullptr) {
            continue;
        }
        if (const auto value = environment(spec.env)) {
            if (auto error = spec.set(options, *value)) {
                return {CommandLineOutcome::error, fmt::format("environment variable {}={}: {}", spec.env, *value, *error)};
            }
        }
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            return {CommandLineOutcome::help, {}};
        }
        const auto equals = arg.find('=');
        const std::string flag = arg.substr(0, equals);
        const FlagSpec<Options>* spec = nullptr;
        for (const auto& candidate : specs) {
            if (flag == candidate.flag) {
                spec = &candidate;
            }
        }
        if (spec == nullptr) {
            return {CommandLineOutcome::error, fmt::format("unknown option '{}' (see --help)", arg)};
        }
        std::string value;
        if (equals != std::string::npos) {
            value = arg.substr(equals + 1);
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return {CommandLineOutcome::error, fmt::format("option {} needs a value ({})", flag, spec->value_name)};
        }
        if (auto error = spec->set(options, value)) {
            return {CommandLineOutcome::error, fmt::format("option {} {}: {}", flag, value, *error)};
        }
    }
    return {};
}

// "Options:" lines for --help: flag, value, help, and the environment variable.
template <typename Options>
std::string describe_flags(const std::vector<FlagSpec<Options>>& specs) {
    std::string text;
    for (const auto& spec : specs) {
        const std::string left = fmt::format("{} {}", spec.flag, spec.value_name);
        text += fmt::format("  {:<28} {}", left, spec.help);
        if (spec.env != nullptr) {
            text += fmt::format(" [env {}]", spec.env);
        }
        text += '\n';
    }
    text += fmt::format("  {:<28} {}\n", "--help", "show this help and exit");
    return text;
}

// Value parsers shared by the binaries' flag tables. Each returns an error message, or nullopt
// after storing the value.
std::optional<unsigned> parse_unsigned(std::string_view text, unsigned min, unsigned max);
std::optional<std::string> set_port(std::uint16_t& target, const std::string& value, std::uint16_t min = 0);
std::optional<std::string> set_positive_duration(std::chrono::milliseconds& target, const std::string& value);
std::optional<std::string> set_non_empty(std::string& target, const std::string& value);
// Whole seconds ("5", as the seed documents intervals) or a duration ("500ms").
std::optional<std::string> set_seconds_or_duration(std::chrono::milliseconds& target, const std::string& value);
// A byte count: plain bytes ("65536"), or a number with a unit: KiB, MiB, GiB (powers of 1024)
// or KB, MB, GB (powers of 1000), case-insensitive ("64MiB", "32MB"). Zero and values that do
// not fit in 64 bits are refused. nullopt on any other text.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);
std::optional<std::string> set_byte_size(std::uint64_t& target, const std::string& value);
// The same switch both binaries use for features: "on" or "off" (also true/false, 1/0).
std::optional<std::string> set_on_off(bool& target, const std::string& value);

}  // namespace cell::util
