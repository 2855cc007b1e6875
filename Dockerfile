# cellrouter images: shared build stages, four runtime targets.
#
#   docker build --target router        -t cellrouter-router .
#   docker build --target control-plane -t cellrouter-control-plane .
#   docker build --target cell          -t cellrouter-cell .
#   docker build --target etcd          -t cellrouter-etcd .
#
# Every stage starts from debian:bookworm; the build uses Debian 12's own packages.
#
# BINARIES chooses where the four binaries come from:
#   source    (the default) compiled here, in the build stages below;
#   prebuilt  taken from build/image-binaries/ (cell-router, cell-control-plane, cellctl, cell):
#             binaries built on Debian 12 against the same packages, such as the Release build
#             a CI run has just tested (scripts/stage-image-binaries.sh puts them there). The
#             build stages are then skipped.
#   docker build --build-arg BINARIES=prebuilt --target router -t cellrouter-router .
ARG BINARIES=source

############################################################ build
FROM debian:bookworm AS build
WORKDIR /src

# Toolchain and libraries first, so that source edits do not reinstall them.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*

COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY include/ include/
COPY src/ src/
COPY cells/ cells/

# Release binaries only: no tests or benchmarks, no compiler cache inside the image.
ENV CCACHE_DISABLE=1
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCELLROUTER_BUILD_TESTS=OFF -DCELLROUTER_BUILD_BENCHMARKS=OFF

# The cell compiles alone; the servers share a stage.
FROM build AS build-cell-source
RUN cmake --build build -j "$(nproc)" --target cell && strip build/cells/cell

# Router, control plane and cellctl share most of their code: one stage builds them.
FROM build AS build-servers-source
RUN cmake --build build -j "$(nproc)" --target cell-router cell-control-plane cellctl \
 && strip build/cell-router build/cell-control-plane build/cellctl

# The same files at the same paths, from build/image-binaries/ (BINARIES=prebuilt).
FROM debian:bookworm AS binaries-prebuilt
COPY build/image-binaries/cell /src/build/cells/cell
COPY build/image-binaries/cell-router build/image-binaries/cell-control-plane build/image-binaries/cellctl /src/build/
FROM binaries-prebuilt AS build-cell-prebuilt
FROM binaries-prebuilt AS build-servers-prebuilt

FROM build-cell-${BINARIES} AS build-cell
FROM build-servers-${BINARIES} AS build-servers

############################################################ runtime base
FROM debian:bookworm AS runtime
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libboost-url1.81.0 libspdlog1.10 libfmt9 libssl3 libstdc++6 libmimalloc2.0 libzstd1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin cellrouter
WORKDIR /app

############################################################ cell
FROM runtime AS cell
COPY --from=build-cell /src/build/cells/cell /app/cell
# Fails the image build if a shared library is missing from the runtime stage.
RUN ! ldd /app/cell | grep 'not found'
ENV CELL_NAME=cell \
    PORT=9001
USER cellrouter
EXPOSE 9001
HEALTHCHECK --interval=5s --timeout=2s --start-period=5s --retries=3 \
  CMD curl -fsS -m 2 -o /dev/null "http://127.0.0.1:${PORT}/health" || exit 1
ENTRYPOINT ["/app/cell"]

############################################################ router
FROM runtime AS router
COPY --from=build-servers /src/build/cell-router /app/cell-router
RUN ! ldd /app/cell-router | grep 'not found'
# The default configuration; docker-compose mounts ./config over it (read-only) for hot reload.
COPY config/ /app/config/
ENV CONFIG_PATH=/app/config/routing.json \
    PORT=8080 \
    ADMIN_PORT=9901 \
    LISTEN_ADDRESS=0.0.0.0 \
    RELOAD_INTERVAL=5
USER cellrouter
EXPOSE 8080 9901
# The admin port's /health (not access-logged); /debug/config on the proxy port when admin is off.
HEALTHCHECK --interval=5s --timeout=2s --start-period=5s --retries=3 \
  CMD if [ "${ADMIN_PORT:-0}" != 0 ]; then url="http://127.0.0.1:${ADMIN_PORT}/health"; \
      else url="http://127.0.0.1:${PORT:-8080}/debug/config"; fi; \
      curl -fsS -m 2 -o /dev/null "$url" || exit 1
ENTRYPOINT ["/app/cell-router"]

############################################################ control plane
FROM runtime AS control-plane
COPY --from=build-servers /src/build/cell-control-plane /app/cell-control-plane
# cellctl beside it: `docker exec <container> /app/cellctl status` needs no other image.
COPY --from=build-servers /src/build/cellctl /app/cellctl
RUN ! ldd /app/cell-control-plane | grep 'not found' && ! ldd /app/cellctl | grep 'not found'
# The default configuration; docker-compose mounts ./config over it (read-only).
COPY config/ /app/config/
ENV CONFIG_PATH=/app/config/routing.json \
    PORT=8081 \
    LISTEN_ADDRESS=0.0.0.0 \
    POLL_INTERVAL=2
USER cellrouter
EXPOSE 8081
HEALTHCHECK --interval=5s --timeout=2s --start-period=5s --retries=3 \
  CMD curl -fsS -m 2 -o /dev/null "http://127.0.0.1:${PORT}/health" || exit 1
ENTRYPOINT ["/app/cell-control-plane"]

############################################################ etcd
# The config store of the control plane's etcd mode (docs/milestones/m6-control-plane-ha.md):
# Debian 12's etcd 3.4, the version the tests run against. A single member by default; the
# client URL it advertises is set where the container's name is known (docker-compose.yml).
FROM debian:bookworm AS etcd
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && (id -u etcd >/dev/null 2>&1 || useradd --system --user-group --home-dir /var/lib/etcd --shell /usr/sbin/nologin etcd) \
 && install -d -o etcd -g etcd -m 0700 /var/lib/etcd
# Peers stay on loopback: one member has none. The data directory is a subdirectory, so a
# volume mounted on /var/lib/etcd keeps it and etcd creates it with the modes it wants.
ENV ETCD_NAME=etcd \
    ETCD_DATA_DIR=/var/lib/etcd/member-data \
    ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379 \
    ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:2379 \
    ETCD_LISTEN_PEER_URLS=http://127.0.0.1:2380 \
    ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:2380 \
    ETCD_INITIAL_CLUSTER=etcd=http://127.0.0.1:2380
USER etcd
WORKDIR /var/lib/etcd
EXPOSE 2379
HEALTHCHECK --interval=5s --timeout=2s --start-period=5s --retries=3 \
  CMD curl -fsS -m 2 -o /dev/null http://127.0.0.1:2379/health || exit 1
ENTRYPOINT ["/usr/bin/etcd"]
