# syntax=docker/dockerfile:1
# kubedx image: a static binary on distroless/static, running as uid 65532.
#
#   docker build -t ghcr.io/kubedx/kubedx:0.1.0 .
#   docker run --rm ghcr.io/kubedx/kubedx:0.1.0 --version
#
# The build stage links a fully static binary for x86_64-unknown-linux-musl (the
# usual choice: musl's static linking is complete, e.g. for getaddrinfo). The
# alternative, used where the musl target is not installed (this repository's CI
# has no Docker engine and cannot add rustup targets), is a static glibc binary:
#   RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu
# which scripts/static-build.sh builds and checks (`file`, `ldd`, --version, an
# offline diagnosis). Either binary runs on distroless/static: it needs no libc,
# no shell, no CA bundle (kubedx talks only to the in-cluster API with the
# ServiceAccount's CA).

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# ring's C/assembly parts are built with musl-gcc (picked by the cc crate)
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl --bin kubedx \
 && cp target/x86_64-unknown-linux-musl/release/kubedx /kubedx \
 && /kubedx --version

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.title="kubedx" \
      org.opencontainers.image.description="Kubernetes diagnosis operator: finds the broken edge of a target's object graph and names the root cause" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/kubedx/kubedx"
COPY --from=build /kubedx /usr/local/bin/kubedx
# the kubectl plugin: `kubectl dx ...` (same binary; the name comes from argv[0])
COPY --from=build /kubedx /usr/local/bin/kubectl-dx
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kubedx"]
CMD ["controller"]
