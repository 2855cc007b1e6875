#include "cell/util/listen_error.hpp"

#include <boost/system/errc.hpp>

#include <fmt/format.h>

namespace cell::util {

std::string describe_listen_failure(std::string_view listener, std::string_view address, unsigned port,
                                    const boost::system::error_code& ec, const ListenerFlags& flags) {
    namespace errc = boost::system::errc;
    const bool ipv6 = address.find(':') != std::string_view::npos;
    std::string message = fmt::format("cannot open the {} listener on {}{}{}:{}: {}", listener, ipv6 ? "[" : "",
                                      address, ipv6 ? "]" : "", port, ec.message());
    const std::string choose_port = fmt::format("choose another port with {} (env {}{}{})", flags.port_flag,
                                                flags.port_env, flags.off_hint.empty() ? "" : "; ", flags.off_hint);
    if (ec == errc::address_in_use) {
        message += "; another process listens there: stop it, or " + choose_port;
    } else if (ec == errc::permission_denied) {
        message += "; ports below 1024 need privileges: " + choose_port;
    } else if (ec == errc::address_not_available) {
        message += fmt::format("; {} is not an address of this host: change it with {} (env {})", address,
                               flags.address_flag, flags.address_env);
    } else {
        message += fmt::format("; change the address with {} (env {}) or {}", flags.address_flag, flags.address_env,
                               choose_port);
    }
    return message;
}

}  // namespace cell::util
