#include "etcd_cluster.hpp"

#include <csignal>
#include <filesystem>
#include <stdexcept>

namespace cell::testing {
namespace {

constexpr const char* etcd_binary = "/usr/bin/etcd";
constexpr int clean_exit_code = 128 + SIGTERM;

}  // namespace

EtcdCluster::EtcdCluster(int members) {
    if (!std::filesystem::exists(etcd_binary)) {
        throw std::runtime_error(std::string(etcd_binary) + " not found: scripts/install-deps.sh installs etcd-server");
    }
    for (int i = 0; i < members; ++i) {
        Member member;
        member.name = "m" + std::to_string(i);
        member.client_port = free_port();
        member.peer_port = free_port();
        initial_cluster_ += (initial_cluster_.empty() ? "" : ",") + member.name + "=http://127.0.0.1:" +
                            std::to_string(member.peer_port);
        members_.push_back(std::move(member));
    }
    for (int i = 0; i < members; ++i) {
        launch(i, true);
    }
    for (int i = 0; i < members; ++i) {
        if (!wait_healthy(i)) {
            std::string output;
            for (const auto& member : members_) {
                output += "--- " + member.name + "\n" + member.process->stderr_text();
            }
            throw std::runtime_error("etcd did not become healthy:\n" + output);
        }
    }
}

EtcdCluster::~EtcdCluster() {
    for (auto& member : members_) {
        member.process.reset();  // SIGTERM, and a clean exit is asserted
    }
}

void EtcdCluster::launch(int index, bool new_cluster) {
    auto& member = members_.at(index);
    const std::string client = "http://127.0.0.1:" + std::to_string(member.client_port);
    const std::string peer = "http://127.0.0.1:" + std::to_string(member.peer_port);
    std::vector<std::string> argv{etcd_binary,
                                  "--name", member.name,
                                  "--data-dir", (dir_.path() / member.name).string(),
                                  "--listen-client-urls", client,
                                  "--advertise-client-urls", client,
                                  "--listen-peer-urls", peer,
                                  "--initial-advertise-peer-urls", peer,
                                  "--initial-cluster", initial_cluster_,
                                  "--initial-cluster-token", "cellrouter-test",
                                  "--initial-cluster-state", new_cluster ? "new" : "existing",
                                  // Loopback members elect fast; the defaults are for real networks.
                                  "--heartbeat-interval", "50",
                                  "--election-timeout", "500",
                                  "--log-level", "warn",
                                  "--logger", "zap"};
    member.process = std::make_unique<Process>(argv, dir_.path(), "etcd-" + member.name);
    // etcd shuts down cleanly on SIGTERM and then re-raises the signal, so its clean exit is
    // "terminated by SIGTERM".
    member.process->expect_exit_code(clean_exit_code);
}

std::string EtcdCluster::endpoint(int member) const {
    return "http://127.0.0.1:" + std::to_string(members_.at(member).client_port);
}

std::string EtcdCluster::endpoints() const {
    std::string list;
    for (int i = 0; i < size(); ++i) {
        list += (list.empty() ? "" : ",") + endpoint(i);
    }
    return list;
}

void EtcdCluster::kill(int member) {
    if (!members_.at(member).process->kill_abruptly()) {
        throw std::runtime_error("etcd member " + members_.at(member).name + " did not die");
    }
}

void EtcdCluster::stop(int member) {
    const auto code = members_.at(member).process->terminate();
    if (code != clean_exit_code) {
        throw std::runtime_error("etcd member " + members_.at(member).name + " did not exit cleanly");
    }
}

void EtcdCluster::start(int member) {
    members_.at(member).process.reset();
    launch(member, false);
    // A restarted member keeps its data directory, so "existing" and "new" both work; it joins
    // the cluster it was part of.
}

bool EtcdCluster::healthy(int member) const {
    try {
        const auto response = request(members_.at(member).client_port, "GET", "/health");
        return response.status == 200 && response.body.find("\"true\"") != std::string::npos;
    } catch (const std::exception&) {
        return false;
    }
}

bool EtcdCluster::wait_healthy(int member, std::chrono::milliseconds timeout) const {
    return eventually([&] { return healthy(member); }, timeout);
}

}  // namespace cell::testing
