#pragma once
// The access log line of one exchange (docs/observability.md lists its fields).

#include "cell/proxy/exchange.hpp"

namespace cell::proxy {

// Writes the exchange's line, unless the access log is off (then nothing is formatted either).
void write_access_log(const Exchange& exchange);

}  // namespace cell::proxy
