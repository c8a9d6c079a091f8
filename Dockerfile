# syntax=docker/dockerfile:1
# The hook, shipped alone on distroless as a non-root user. No image is published: build your own and push it
# to your registry (docs/install.md):
#   docker build -t registry.example.com/monitoring/prometheus-replica-operator:0.1.0 .
#
# The image ships the binary CI tests: the glibc target x86_64-unknown-linux-gnu, built by Rust 1.95 on Debian 12
# with `cargo build --release --locked`, the command `.ci/run` also runs on its Debian 12 machine before serving a
# sync with the result (every other test there runs the same target and toolchain). The final stage is distroless
# `cc` for Debian 12, so the binary runs on the glibc it was linked against. An earlier musl build was a binary,
# and a mimalloc, that no check ever ran.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cargo.toml declares the criterion bench, and cargo refuses a manifest whose targets are missing.
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin prometheus-replica-operator \
 && cp target/release/prometheus-replica-operator /prometheus-replica-operator

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="prometheus-replica-operator" \
      org.opencontainers.image.description="A stateless Metacontroller sync hook that runs Prometheus with Thanos from one PrometheusReplica object" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/prometheus-replica-operator/prometheus-replica-operator"
COPY --from=build /prometheus-replica-operator /prometheus-replica-operator
USER 65532:65532
# 8443: the HTTPS hook (/sync, /customize); 8080: admin (/healthz, /readyz, /metrics).
EXPOSE 8443 8080
ENTRYPOINT ["/prometheus-replica-operator"]
CMD ["serve"]
