#pragma once
// The router's admin page (GET / on the admin port): one self-contained HTML document that
// polls /debug/config, /debug/placements and /metrics. Its source is src/admin/router_page.html,
// compiled into the binary at build time (cmake/EmbedText.cmake).

#include <string_view>

namespace cell::admin {

std::string_view router_page_html();

}  // namespace cell::admin
