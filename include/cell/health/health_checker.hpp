#pragma once
// Active health checks, off the request path: one prober per placement that has a
// `health_check`, sending `GET <path>` on a fresh connection at a jittered interval and feeding
// the result into the placement's resilience::HealthTracker, which the request path reads.
//
// Thread safety: update() may be called from any thread (it hands the table to the checker's
// own thread); start(), stop() and the destructor from one controlling thread, never from
// the checker's thread. All prober state lives on the checker's thread, so it needs no lock;
// the request path only reads the HealthTracker's atomics.

#include <memory>
#include <string>

#include "cell/routing/table.hpp"

namespace cell::health {

class HealthChecker {
public:
    // `upstream_ca_file`: extra CA PEM for https cells, as for the proxy ("" = system CAs
    // only). It is loaded at the first https probe; a file that cannot be loaded then fails
    // that probe (the router checks the file at startup).
    explicit HealthChecker(const std::string& upstream_ca_file);
    ~HealthChecker();  // stops and joins
    HealthChecker(const HealthChecker&) = delete;
    HealthChecker& operator=(const HealthChecker&) = delete;

    // Starts the checker's thread, probing the placements of `initial` (or of a table passed
    // to update() before, which is newer). Later calls do nothing.
    void start(routing::TableConstPtr initial);

    // Follows a newly published table: probers start, stop or take the new settings by
    // placement name. Tables handed over faster than the checker applies them are coalesced.
    void update(routing::TableConstPtr table);

    // Cancels everything in flight and joins the thread; no probe is recorded afterwards.
    // Idempotent.
    void stop();

private:
    // Keeps Asio and Beast out of this header.
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace cell::health
