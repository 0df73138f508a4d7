# syntax=docker/dockerfile:1
# The sportello server image: a release build in the Rust image, then only the binary on Debian
# slim, run as an unprivileged user. The bundle is not in this image: it comes from a versioned
# bundle image (deploy/bundle.Dockerfile) through an init container, see deploy/k8s/.
#
#   docker build -t registry.example.org/sportello:0.1.0 .
#
# Not built in CI (no container engine there): scripts/test lints this file with hadolint.

# --- build -----------------------------------------------------------------------------------
# Bookworm, so the binary links against the same glibc (2.36) as the runtime image below.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY data ./data
# Cargo.toml names the benchmark targets, so their sources come along (they are not built).
COPY benches ./benches
# The cache mounts keep the registry and compiled dependencies between builds; the binary is
# copied out of the cached target directory, which is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin sportello \
    && install -m 0755 target/release/sportello /usr/local/bin/sportello

# --- run -------------------------------------------------------------------------------------
FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="sportello" \
      org.opencontainers.image.description="Finds the help desk nearest to a migrant worker, in their language, for their need" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"
# A fixed numeric id, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
RUN groupadd --system --gid 10001 sportello \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin sportello
COPY --from=builder /usr/local/bin/sportello /usr/local/bin/sportello
# In a container the server must listen on every interface. Without SPORTELLO_BUNDLE (set by
# the Kubernetes ConfigMap) it serves the embedded illustrative sample:
#   docker run --rm -p 8080:8080 registry.example.org/sportello:0.1.0
ENV SPORTELLO_LISTEN=0.0.0.0:8080
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["sportello"]
CMD ["serve"]
