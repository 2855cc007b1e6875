#include "cell/transport/tls_client.hpp"

namespace cell::transport {

boost::asio::ssl::context make_upstream_tls_context(const std::string& extra_ca_file) {
    using boost::asio::ssl::context;
    context tls(context::tls_client);
    tls.set_options(context::default_workarounds | context::no_sslv2 | context::no_sslv3 | context::no_tlsv1 |
                    context::no_tlsv1_1);
    tls.set_default_verify_paths();
    if (!extra_ca_file.empty()) {
        tls.load_verify_file(extra_ca_file);
    }
    return tls;
}

}  // namespace cell::transport
