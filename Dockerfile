# syntax=docker/dockerfile:1
# Kelp's image: one static `kelp` binary (musl) on distroless/static, run as non-root.
#   docker build -t kelp:dev .
# The agent's DaemonSet runs it as uid 0 without capabilities (deploy/kubernetes/
# agent-daemonset.yaml says why); the server runs as the image's user.
# Checked by crates/kelp/tests/deploy/ (stages, USER, ENTRYPOINT).

FROM rust:1.95-bookworm AS builder
# zstd-sys compiles C: musl-gcc links it statically.
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/*
RUN rustup target add "$(uname -m)-unknown-linux-musl"
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY corpus ./corpus
# The release profile keeps line tables (for profiling); the image drops them: 139 MB
# of binary become 30 MB, function names kept for backtraces (docs/operations.md, "The
# image").
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo build --release --locked -p kelp --target "$(uname -m)-unknown-linux-musl" \
    && install -D -m 0755 "target/$(uname -m)-unknown-linux-musl/release/kelp" /out/kelp

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=builder /out/kelp /usr/local/bin/kelp
# distroless's `nonroot` user.
USER 65532:65532
EXPOSE 3100 3101
ENTRYPOINT ["/usr/local/bin/kelp"]
CMD ["server", "--listen", "0.0.0.0:3100", "--data-dir", "/var/lib/kelp"]
