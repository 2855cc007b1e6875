#pragma once

#include <string>

namespace cell::util {

// This machine's host name (gethostname), or "unknown-host" when it has none.
std::string host_name();

}  // namespace cell::util
