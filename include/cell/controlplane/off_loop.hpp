#pragma once
// Runs CPU-heavy config work (parsing and validating a table of a million keys takes most of a
// second) on a worker thread and resumes the calling coroutine on its own event loop with the
// result, so the loop keeps serving routers meanwhile.
//
// Heavy (Asio): include only from .cpp files.

#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "cell/transport/io.hpp"

namespace cell::controlplane {

// NOTE: `pool` must be joined before the caller's io_context is destroyed: a finished job posts
// its result to that loop. Not a coroutine itself: `function` goes straight into the operation,
// never into a coroutine frame as a parameter.
template <typename Result, typename Function>
awaitable<Result> run_off_loop(net::thread_pool& pool, Function function) {
    return net::async_initiate<const net::use_awaitable_t<io_executor>&, void(Result)>(
        [&pool](auto handler, Function job) {
            // The awaiting coroutine's own loop: the result is handed back there.
            const auto loop = net::get_associated_executor(handler);
            net::post(pool, [loop, job = std::move(job), handler = std::move(handler)]() mutable {
                Result result = job();
                net::post(loop, [handler = std::move(handler), result = std::move(result)]() mutable {
                    std::move(handler)(std::move(result));
                });
            });
        },
        net::use_awaitable_t<io_executor>{}, std::move(function));
}

}  // namespace cell::controlplane
