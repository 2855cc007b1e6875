#include "cell/config/proxy_settings.hpp"

namespace cell::config {
namespace {

template <typename T>
void layer(T& value, const std::optional<T>& from_file, const std::optional<T>& from_flags) {
    if (from_flags) {
        value = *from_flags;
    } else if (from_file) {
        value = *from_file;
    }
}

}  // namespace

ProxySettings resolve_proxy_settings(const ProxySettingsOverrides& from_file,
                                     const ProxySettingsOverrides& from_flags) {
    ProxySettings settings;
    layer(settings.max_header_bytes, from_file.max_header_bytes, from_flags.max_header_bytes);
    layer(settings.header_timeout, from_file.header_timeout, from_flags.header_timeout);
    layer(settings.idle_timeout, from_file.idle_timeout, from_flags.idle_timeout);
    layer(settings.connect_timeout, from_file.connect_timeout, from_flags.connect_timeout);
    layer(settings.request_timeout, from_file.request_timeout, from_flags.request_timeout);
    layer(settings.drain_timeout, from_file.drain_timeout, from_flags.drain_timeout);
    layer(settings.max_connections, from_file.max_connections, from_flags.max_connections);
    return settings;
}

}  // namespace cell::config
