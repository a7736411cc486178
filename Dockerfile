# syntax=docker/dockerfile:1.7
#
# One image with every trmm-rs binary. The service is chosen by the command, not by the image:
#
#   docker run IMAGE trmm-api            (the default command)
#   docker run IMAGE trmm-websocket | trmm-nats-api | trmm-worker | trmm-beat
#   docker run IMAGE trmm-api migrate | trmm-api createsuperuser ... | trmm-nats-api nats-config ...
#
# docker-compose.yml and k8s/ use it that way; docs/deploy.md explains the deployment.
# Build: docker build -t trmm-rs:local .   (BuildKit; the cargo registry and target dir are cached
# between builds, so a rebuild after a code change only recompiles what changed.)

ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

# --- build ------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
# protoc comes from the protoc-bin-vendored crate (shared/rpc/build.rs): no system packages needed.
COPY . .
# The target dir is a cache mount, so the binaries are copied out of it inside the same RUN.
RUN --mount=type=cache,id=trmm-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=trmm-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=trmm-target,target=/src/target,sharing=locked \
    cargo build --release --locked --bins \
    && mkdir -p /out \
    && cp target/release/trmm-api target/release/trmm-websocket target/release/trmm-nats-api \
          target/release/trmm-worker target/release/trmm-beat target/release/trmm-agent \
          target/release/trmm-loadgen /out/

# --- runtime ----------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to NATS/HTTPS endpoints; curl: container healthchecks (docker-compose.yml)
# and the Kubernetes init Job that stores the generated NATS keys in a Secret (k8s/init/).
# Not version-pinned on purpose: a rebuild picks up Debian's security updates.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# A fixed non-root uid/gid (10001) so volumes, securityContext and the nats container agree.
# /secrets is where `trmm-nats-api nats-config` writes in docker compose; a named volume mounted
# there starts out owned by this user.
RUN groupadd --system --gid 10001 trmm \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin trmm \
    && install -d -o 10001 -g 10001 -m 0700 /secrets
COPY --from=build /out/ /usr/local/bin/

LABEL org.opencontainers.image.title="trmm-rs" \
      org.opencontainers.image.description="trmm-rs server suite: trmm-api, trmm-websocket, trmm-nats-api, trmm-worker, trmm-beat" \
      org.opencontainers.image.licenses="MIT"

USER 10001:10001
# api, websocket, nats-api (health), worker (health), beat (health), nats-api (gRPC AgentGateway)
EXPOSE 8000 8001 8002 8003 8004 50051
# Every service exits 0 on SIGTERM (the default stop signal) and handles it as PID 1 itself.
CMD ["trmm-api"]
