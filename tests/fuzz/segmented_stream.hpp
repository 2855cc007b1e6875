#pragma once
// A synchronous read stream over the fuzzer's bytes that hands them out `segment` bytes at a
// time, then reports end of stream: the proxy's parsers see the input as TCP could deliver it.

#include <algorithm>
#include <cstddef>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

namespace cell::fuzz {

class SegmentedStream {
public:
    SegmentedStream(std::string_view data, std::size_t segment) : data_(data), segment_(std::max<std::size_t>(segment, 1)) {}

    template <typename MutableBufferSequence>
    std::size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
        if (data_.empty()) {
            ec = boost::asio::error::eof;
            return 0;
        }
        ec = {};
        const auto n = boost::asio::buffer_copy(
            buffers, boost::asio::buffer(data_.data(), std::min(segment_, data_.size())));
        data_.remove_prefix(n);
        return n;
    }

    template <typename MutableBufferSequence>
    std::size_t read_some(const MutableBufferSequence& buffers) {
        boost::system::error_code ec;
        const auto n = read_some(buffers, ec);
        if (ec) {
            throw boost::system::system_error(ec);
        }
        return n;
    }

    std::size_t remaining() const { return data_.size(); }

private:
    std::string_view data_;
    std::size_t segment_;
};

}  // namespace cell::fuzz
