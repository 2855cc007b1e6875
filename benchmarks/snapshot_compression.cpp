// What permessage-deflate does to a snapshot: compresses the snapshot frame of a config file with
// Beast's deflate (the code behind websocket::permessage_deflate) at each level asked for, with
// the window bits and memory level the control plane uses, and prints the compressed size and
// the CPU time of one compression (the control plane pays it once per router and snapshot).
//
//   snapshot_compression CONFIG.json [LEVEL ...]        (default levels: 1 3 6 8)

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/beast/zlib/deflate_stream.hpp>

#include "cell/controlplane/protocol.hpp"
#include "cell/controlplane/ws_compression.hpp"

namespace {

namespace zlib = boost::beast::zlib;

double cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// Deflates `input` as one permessage-deflate message: in 64 KiB pieces, as the control plane
// writes fragments, ending with a sync flush. Returns the compressed size.
std::size_t deflate_message(const std::string& input, int level) {
    zlib::deflate_stream stream;
    stream.reset(level, cell::controlplane::ws_compression_window_bits, cell::controlplane::ws_compression_memory_level,
                 zlib::Strategy::normal);
    constexpr std::size_t piece = 64 * 1024;
    std::vector<unsigned char> out(piece + 1024);
    std::size_t total = 0;
    std::size_t offset = 0;
    for (;;) {
        const std::size_t n = std::min(piece, input.size() - offset);
        const bool last = offset + n == input.size();
        zlib::z_params params;
        params.next_in = input.data() + offset;
        params.avail_in = n;
        do {
            params.next_out = out.data();
            params.avail_out = out.size();
            boost::system::error_code ec;
            stream.write(params, last ? zlib::Flush::sync : zlib::Flush::none, ec);
            if (ec && ec != zlib::error::need_buffers) {
                std::fprintf(stderr, "snapshot_compression: deflate failed: %s\n", ec.message().c_str());
                std::exit(1);
            }
            total += out.size() - params.avail_out;
        } while (params.avail_in > 0 || params.avail_out == 0);
        offset += n;
        if (last) {
            return total;
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: snapshot_compression CONFIG.json [LEVEL ...]\n");
        return 2;
    }
    std::ifstream file(argv[1], std::ios::binary);
    if (!file) {
        std::fprintf(stderr, "snapshot_compression: cannot read %s\n", argv[1]);
        return 1;
    }
    std::ostringstream text;
    text << file.rdbuf();
    const std::string frame = cell::controlplane::encode_snapshot(text.str());
    if (frame.empty()) {
        std::fprintf(stderr, "snapshot_compression: %s is not a JSON object\n", argv[1]);
        return 1;
    }
    std::vector<int> levels;
    for (int i = 2; i < argc; ++i) {
        levels.push_back(std::atoi(argv[i]));
    }
    if (levels.empty()) {
        levels = {1, 3, 6, 8};
    }
    std::printf("snapshot frame: %zu bytes; window bits %d, memory level %d\n", frame.size(),
                cell::controlplane::ws_compression_window_bits, cell::controlplane::ws_compression_memory_level);
    std::printf("%-6s %14s %8s %10s %12s\n", "level", "bytes", "ratio", "cpu ms", "MB/s in");
    for (const int level : levels) {
        if (level < 0 || level > 9) {
            std::fprintf(stderr, "snapshot_compression: level %d is not 0..9\n", level);
            return 2;
        }
        const double started = cpu_seconds();
        const std::size_t compressed = deflate_message(frame, level);
        const double spent = cpu_seconds() - started;
        std::printf("%-6d %14zu %7.1f%% %10.0f %12.0f\n", level, compressed, 100.0 * compressed / frame.size(),
                    spent * 1000, frame.size() / spent / 1e6);
    }
    return 0;
}
