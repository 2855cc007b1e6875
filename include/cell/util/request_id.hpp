#pragma once

#include <string>

namespace cell::util {

// 128 random bits as 32 lowercase hex characters. Thread safety: each thread has its own
// generator, seeded once from std::random_device.
std::string generate_request_id();

}  // namespace cell::util
