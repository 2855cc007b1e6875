#pragma once
// The control plane's fleet page (GET / on its HTTP port): one self-contained HTML document that
// polls /status. Its source is src/controlplane/fleet_page.html, compiled into the binary at
// build time (cmake/EmbedText.cmake).

#include <string_view>

namespace cell::controlplane {

std::string_view fleet_page_html();

}  // namespace cell::controlplane
