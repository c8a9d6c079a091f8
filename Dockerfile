# syntax=docker/dockerfile:1
# A static (musl) build of the hook, shipped alone on distroless as a non-root user:
#   docker build -t ghcr.io/prometheus-replica-operator/prometheus-replica-operator:0.1.0 .

FROM docker.io/library/rust:1.95-bookworm AS build
# ring builds C code: musl-gcc makes it link statically.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cargo.toml declares the criterion bench, and cargo refuses a manifest whose targets are missing.
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl --bin prometheus-replica-operator \
 && cp target/x86_64-unknown-linux-musl/release/prometheus-replica-operator /prometheus-replica-operator

FROM gcr.io/distroless/static-debian12:nonroot
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
