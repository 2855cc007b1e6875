#pragma once
// The lock around a worker's own state (connection pool, relay buffers, session registry,
// current table). In the thread-per-core router only the worker's thread touches that state,
// so the lock compiles to nothing. The shared-io_context variant built for the runtime
// benchmark (CELLROUTER_SHARED_IO_CONTEXT) runs one worker's state on every thread, and there
// it is a real mutex: that cost is part of what the benchmark measures.

#ifdef CELLROUTER_SHARED_IO_CONTEXT
#include <mutex>
#endif

namespace cell::runtime {

#ifdef CELLROUTER_SHARED_IO_CONTEXT
using WorkerLock = std::mutex;
#else
struct WorkerLock {
    void lock() {}
    void unlock() {}
};
#endif

}  // namespace cell::runtime
