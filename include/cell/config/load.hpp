#pragma once
// The one entry point used by the file poller, the control plane and its clients:
// text -> parsed and fully validated Config, or every error found.

#include <optional>
#include <string_view>

#include "cell/config/errors.hpp"
#include "cell/config/types.hpp"

namespace cell::config {

struct LoadResult {
    std::optional<Config> config;  // set only when the text is valid as a whole
    ConfigErrors errors;
    ConfigErrors warnings;

    bool ok() const { return config.has_value(); }
};

LoadResult load_config(std::string_view json_text);

// The same checks for a Config put together in memory (a router applying a delta to the table
// it serves): everything load_config(text) checks after parsing.
LoadResult load_config(Config config);

}  // namespace cell::config
