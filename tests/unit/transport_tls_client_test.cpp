// The upstream TLS context is built only when asked for (or handed over ready-made), once, and
// a CA file that cannot be loaded is reported then as an error, not a crash.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "cell/transport/tls_client.hpp"

namespace cell::transport {
namespace {

TEST(UpstreamTlsContext, NothingIsLoadedUntilACellNeedsIt) {
    UpstreamTlsContext tls("");
    EXPECT_FALSE(tls.built());
    boost::asio::ssl::context& first = tls.get();
    EXPECT_TRUE(tls.built());
    EXPECT_EQ(&first, &tls.get()) << "the context must be built once and kept";
}

TEST(UpstreamTlsContext, UnreadableCaFileIsAnErrorAtFirstUse) {
    const auto missing = std::filesystem::temp_directory_path() / ("cellrouter-no-such-ca-" + std::to_string(::getpid()) + ".pem");
    std::filesystem::remove(missing);
    UpstreamTlsContext tls(missing.string());
    EXPECT_THROW(tls.get(), boost::system::system_error);
    EXPECT_FALSE(tls.built());
}

TEST(UpstreamTlsContext, GarbageCaFileIsRefused) {
    const auto garbage = std::filesystem::temp_directory_path() / ("cellrouter-garbage-ca-" + std::to_string(::getpid()) + ".pem");
    std::ofstream(garbage) << "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
    UpstreamTlsContext tls(garbage.string());
    EXPECT_THROW(tls.get(), boost::system::system_error);
    std::filesystem::remove(garbage);
}

TEST(UpstreamTlsContext, AdoptsAContextBuiltElsewhereOnlyWhenItHasNone) {
    UpstreamTlsContext tls("");
    tls.adopt(make_upstream_tls_context(""));
    EXPECT_TRUE(tls.built());
    boost::asio::ssl::context& adopted = tls.get();
    tls.adopt(make_upstream_tls_context(""));
    EXPECT_EQ(&adopted, &tls.get()) << "a second context must not replace the one in use";
}

}  // namespace
}  // namespace cell::transport
