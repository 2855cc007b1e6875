# Every dependency comes from Debian 12's packages (scripts/install-deps.sh).
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED CONFIG COMPONENTS url)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(spdlog 1.10 REQUIRED)
find_package(OpenSSL REQUIRED)
# zstd compresses the config's chunks in etcd (docs/milestones/m6-control-plane-ha.md).
find_package(PkgConfig REQUIRED)
pkg_check_modules(zstd REQUIRED IMPORTED_TARGET libzstd)

# The router's allocator. A proxied request makes about two dozen small allocations (coroutine
# frames, Beast's header fields, strings); glibc's malloc spent 7,400 instructions per request
# on them, mimalloc under 1,400 (docs/benchmarks.md, "Third round, third step"). Only the
# router links it, and only without sanitizers, which bring their own allocator.
set(CELLROUTER_ALLOCATOR "mimalloc" CACHE STRING "The router's allocator: mimalloc or system")
set_property(CACHE CELLROUTER_ALLOCATOR PROPERTY STRINGS mimalloc system)
if(CELLROUTER_SANITIZE AND CELLROUTER_ALLOCATOR STREQUAL "mimalloc")
  message(STATUS "cellrouter: sanitizers on, so the router uses the system allocator")
  set(CELLROUTER_ROUTER_ALLOCATOR system)
else()
  set(CELLROUTER_ROUTER_ALLOCATOR ${CELLROUTER_ALLOCATOR})
endif()
if(CELLROUTER_ROUTER_ALLOCATOR STREQUAL "mimalloc")
  find_package(mimalloc 2.0 REQUIRED CONFIG)
elseif(NOT CELLROUTER_ROUTER_ALLOCATOR STREQUAL "system")
  message(FATAL_ERROR "CELLROUTER_ALLOCATOR must be mimalloc or system, not '${CELLROUTER_ALLOCATOR}'")
endif()
