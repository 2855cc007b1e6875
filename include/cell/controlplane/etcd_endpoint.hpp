#pragma once
// One etcd client URL, as cell-control-plane's --etcd lists them.

#include <optional>
#include <string>
#include <string_view>

namespace cell::controlplane {

struct EtcdEndpoint {
    std::string url;  // as given, for messages
    std::string host;
    std::string port;
};

// Accepts http://host[:port][/] (port 2379 when absent); nullopt for anything else (https is not
// supported: the gateway is reached on a trusted network or loopback).
std::optional<EtcdEndpoint> parse_etcd_endpoint(std::string_view url);

}  // namespace cell::controlplane
