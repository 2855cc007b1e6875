#pragma once
// Debian's etcd (3.4) for the M6 tests: a cluster of one or more members on loopback ports with
// a temporary data directory, started and stopped by pid like every other test process.

#include <memory>
#include <string>
#include <vector>

#include "harness.hpp"

namespace cell::testing {

class EtcdCluster {
public:
    // Starts `members` members and waits until the cluster answers /health. Throws (with the
    // members' output) when it does not within 20 s, or when etcd is not installed.
    explicit EtcdCluster(int members = 1);
    ~EtcdCluster();
    EtcdCluster(const EtcdCluster&) = delete;
    EtcdCluster& operator=(const EtcdCluster&) = delete;

    int size() const { return static_cast<int>(members_.size()); }
    // "http://127.0.0.1:P1,http://127.0.0.1:P2,..." for cell-control-plane --etcd.
    std::string endpoints() const;
    std::string endpoint(int member) const;
    unsigned short client_port(int member) const { return members_.at(member).client_port; }

    // SIGKILL: the member vanishes without a goodbye.
    void kill(int member);
    // SIGTERM and a clean exit.
    void stop(int member);
    // Starts a stopped or killed member again on the same ports and data directory.
    void start(int member);
    bool healthy(int member) const;
    // Waits until member `member` answers /health with "true".
    bool wait_healthy(int member, std::chrono::milliseconds timeout = 20s) const;

private:
    struct Member {
        std::string name;
        unsigned short client_port = 0;
        unsigned short peer_port = 0;
        std::unique_ptr<Process> process;
    };
    void launch(int member, bool new_cluster);

    TempDir dir_;
    std::vector<Member> members_;
    std::string initial_cluster_;
};

}  // namespace cell::testing
