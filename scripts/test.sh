#!/usr/bin/env bash
# kubedx's one test command: builds what is missing (the test control plane's
# components from their pinned Go modules, then the crate) and runs every check.
# The real-apiserver tests need Go; without it this fails, it never skips them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v go >/dev/null 2>&1; then
  echo "scripts/test.sh: Go is required: the test control plane (kube-apiserver, etcd, kwok, ...) is built from source." >&2
  echo "Install Go >= 1.26 (see tests/cluster/go.mod), e.g. from go.dev/dl or your distribution's golang package, and re-run." >&2
  exit 1
fi

step "real node: Debian packages (containerd, runc, CNI plugins, busybox-static, iptables, iproute2, gcc)"
# the real node (tests/real_node*.rs) runs a real kubelet and containerd: root and these packages
tests/cluster/install-real-node-deps

step "test control plane: build, with the real node (cached under target/testcluster/)"
tests/cluster/testcluster build --real-node

step "packaging, lint and monitoring tools: helm and kubeconform (tests/tools/go.mod), kube-score (tests/tools/lint/go.mod); prometheus, promtool, alertmanager, kube-state-metrics (tests/tools/monitoring/ and siblings), cached under target/tools/"
tests/tools/build --monitoring

step "tests/cluster: gofmt, go vet, go test"
unformatted="$(gofmt -l tests/cluster)"
if [[ -n "$unformatted" ]]; then
  echo "gofmt needed on:" >&2
  echo "$unformatted" >&2
  exit 1
fi
(cd tests/cluster && go vet -trimpath ./... && go test -trimpath -count=1 ./...)
(cd tests/cluster/registry && go vet -trimpath ./...)

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo test"
# every test binary runs even after one failed: one run reports every failure
cargo test --no-fail-fast

if [[ -n "${KUBEDX_FUZZ_SECONDS:-}" ]]; then
  # opt-in: needs cargo-fuzz and nightly; CI's fuzzing is tests/reliability.rs (docs/reliability.md)
  step "cargo fuzz: ${KUBEDX_FUZZ_SECONDS}s per target"
  fuzz/run.sh "$KUBEDX_FUZZ_SECONDS"
fi
