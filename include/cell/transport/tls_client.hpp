#pragma once
// The client-side TLS settings for https:// cells, shared by the proxy's upstream pools and the
// health prober. Include only from .cpp files.

#include <string>

#include <boost/asio/ssl/context.hpp>

namespace cell::transport {

// The system's trusted CAs, plus `extra_ca_file` (PEM) when not empty, for cells whose
// certificates come from a private CA; TLS 1.2 or later. Throws boost::system::system_error
// when the file cannot be loaded.
boost::asio::ssl::context make_upstream_tls_context(const std::string& extra_ca_file);

}  // namespace cell::transport
