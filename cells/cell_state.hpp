#pragma once

#include "cell_body_pattern.hpp"

#include <atomic>
#include <string>
#include <utility>

namespace cell::demo {

// State shared by every connection (and every thread with --threads).
struct CellState {
  CellState(std::string cell_name, double failure_rate)
      : name(std::move(cell_name)), fail_rate(failure_rate) {}

  const std::string name;
  // Set at start by --fail-rate, changed by POST /admin/fail-rate?rate=F (an injected error spike).
  std::atomic<double> fail_rate;
  std::atomic<bool> healthy{true};
  // Set on SIGTERM so long background work (hashing generated bodies) gives up.
  std::atomic<bool> stopping{false};
  PatternDigestCache digests;
};

}  // namespace cell::demo
