#pragma once
// The client-side TLS settings for https:// cells, shared by the proxy's upstream pools and the
// health prober. Include only from .cpp files.

#include <optional>
#include <string>

#include <boost/asio/ssl/context.hpp>

namespace cell::transport {

// The system's trusted CAs, plus `extra_ca_file` (PEM) when not empty, for cells whose
// certificates come from a private CA; TLS 1.2 or later. Throws boost::system::system_error
// when the file cannot be loaded.
boost::asio::ssl::context make_upstream_tls_context(const std::string& extra_ca_file);

// The same context, built the first time an https:// cell needs it: loading the system's CA
// bundle takes about half a megabyte of heap and library pages per copy, which a router whose
// cells all speak plain HTTP never uses.
// Thread safety: one thread (the worker's or the health checker's) uses each instance.
class UpstreamTlsContext {
public:
    explicit UpstreamTlsContext(std::string extra_ca_file) : extra_ca_file_(std::move(extra_ca_file)) {}
    UpstreamTlsContext(const UpstreamTlsContext&) = delete;
    UpstreamTlsContext& operator=(const UpstreamTlsContext&) = delete;

    // Throws boost::system::system_error when the CA file cannot be loaded (the router checks
    // it once at startup, so that means it changed since).
    boost::asio::ssl::context& get() {
        if (!context_) {
            context_.emplace(make_upstream_tls_context(extra_ca_file_));
        }
        return *context_;
    }
    bool built() const { return context_.has_value(); }

private:
    std::string extra_ca_file_;
    std::optional<boost::asio::ssl::context> context_;
};

}  // namespace cell::transport
