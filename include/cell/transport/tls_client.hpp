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

// The same context, built only for a router that has https:// cells: loading the system's CA
// bundle takes about half a megabyte of heap and library pages per copy, and 20 ms, which a
// router whose cells all speak plain HTTP never needs. The proxy's workers have it built ahead
// of the first request that needs it (get() at startup, or adopt() of one built on the
// publishing thread); the health checker builds it with get() at its first https probe.
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

    // Takes a context built elsewhere (on a thread that may stall), unless one is built already.
    void adopt(boost::asio::ssl::context&& context) {
        if (!context_) {
            context_.emplace(std::move(context));
        }
    }

private:
    std::string extra_ca_file_;
    std::optional<boost::asio::ssl::context> context_;
};

}  // namespace cell::transport
