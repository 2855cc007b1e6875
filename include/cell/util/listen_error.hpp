#pragma once
// The message a binary prints when one of its listeners cannot be opened: which listener, on
// which address and port, what the system said, and which flag changes it.

#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

namespace cell::util {

// How a listener's address and port are set on the command line.
struct ListenerFlags {
    std::string_view port_flag;     // e.g. "--admin-port"
    std::string_view port_env;      // e.g. "ADMIN_PORT"
    std::string_view address_flag;  // e.g. "--admin-listen"
    std::string_view address_env;   // e.g. "ADMIN_LISTEN_ADDRESS"
    std::string_view off_hint;      // how to turn the listener off, or empty when it cannot be
};

// "cannot open the admin listener on 127.0.0.1:9901: Address already in use; another process
// listens there: stop it, or choose another port with --admin-port (env ADMIN_PORT; 0 turns it off)".
// Uses ec.message() only: no library source locations.
std::string describe_listen_failure(std::string_view listener, std::string_view address, unsigned port,
                                    const boost::system::error_code& ec, const ListenerFlags& flags);

}  // namespace cell::util
