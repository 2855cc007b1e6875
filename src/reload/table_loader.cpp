#include "cell/reload/table_loader.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "cell/config/load.hpp"
#include "cell/config/proxy_settings.hpp"
#include "cell/util/sha256.hpp"

namespace cell::reload {

std::variant<std::string, LoadFailure> read_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return LoadFailure{"cannot open " + path + ": " + std::strerror(errno), {}};
    }
    std::ostringstream contents;
    contents << file.rdbuf();
    if (file.bad()) {
        return LoadFailure{"cannot read " + path + ": " + std::strerror(errno), {}};
    }
    return std::move(contents).str();
}

std::variant<LoadedTable, LoadFailure> build_table(const std::string& text, const std::string& content_hash,
                                                   const std::string& path,
                                                   const config::ProxySettingsOverrides& flag_overrides,
                                                   const std::string& source,
                                                   resilience::PlacementStateRegistry* states) {
    auto loaded = config::load_config(text);
    if (!loaded.ok()) {
        return LoadFailure{config::describe(loaded.errors), content_hash};
    }
    const auto settings = config::resolve_proxy_settings(loaded.config->proxy, flag_overrides);
    routing::TableOrigin origin{source, path, content_hash, std::chrono::system_clock::now()};
    return LoadedTable{routing::Table::build(*loaded.config, settings, std::move(origin), states), content_hash};
}

std::variant<LoadedTable, LoadFailure> load_table_file(const std::string& path,
                                                       const config::ProxySettingsOverrides& flag_overrides,
                                                       const std::string& source,
                                                       resilience::PlacementStateRegistry* states) {
    auto text = read_file(path);
    if (auto* failure = std::get_if<LoadFailure>(&text)) {
        return std::move(*failure);
    }
    const auto& contents = std::get<std::string>(text);
    return build_table(contents, util::sha256_hex(contents), path, flag_overrides, source, states);
}

}  // namespace cell::reload
