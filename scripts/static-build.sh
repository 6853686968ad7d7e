#!/usr/bin/env bash
# Builds kubedx as a fully static x86_64 Linux binary (what the image ships, see
# Dockerfile) and checks it: no program interpreter and no shared library
# (readelf, ldd), `kubedx --version`, and an offline diagnosis of examples/shop.
#
#   scripts/static-build.sh            build into target/static/ and check; prints the binary's path last
#
# Target: x86_64-unknown-linux-musl when that rustup target and musl-gcc are
# installed (the Dockerfile's choice), else x86_64-unknown-linux-gnu with
# `-C target-feature=+crt-static` (glibc's static libraries come with libc6-dev,
# which gcc depends on). A separate target dir keeps the shared one unlocked.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "static-build: $*" >&2; exit 1; }

if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl && command -v musl-gcc >/dev/null 2>&1; then
  target=x86_64-unknown-linux-musl
else
  target=x86_64-unknown-linux-gnu
  [[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || die "glibc's static libraries are missing: apt-get install libc6-dev"
fi
out="${KUBEDX_STATIC_TARGET_DIR:-target/static}"
bin="$out/$target/release/kubedx"

t0=$SECONDS
echo "static-build: cargo build --release --target $target (crt-static) into $out" >&2
CARGO_TARGET_DIR="$out" RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --locked --target "$target" --bin kubedx
echo "static-build: built in $((SECONDS - t0))s" >&2

# 1. statically linked: no PT_INTERP (no dynamic loader) and no DT_NEEDED library
headers="$(readelf --program-headers --wide "$bin")"
dynamic="$(readelf --dynamic --wide "$bin")"
if grep -q INTERP <<<"$headers"; then
  die "$bin asks for a program interpreter: $(grep -A1 INTERP <<<"$headers" | tail -1)"
fi
if grep -q '(NEEDED)' <<<"$dynamic"; then
  die "$bin needs shared libraries: $(grep '(NEEDED)' <<<"$dynamic")"
fi
if ldd_out="$(ldd "$bin" 2>&1)"; then
  # glibc's ldd prints "statically linked" for a static-pie and exits 0 on some versions
  grep -qiE 'statically linked|not a dynamic executable' <<<"$ldd_out" || die "ldd lists libraries: $ldd_out"
fi
if command -v file >/dev/null 2>&1; then
  file_out="$(file -b "$bin")"
  grep -qE 'statically linked|static-pie linked' <<<"$file_out" || die "file: $file_out"
  echo "static-build: file: $file_out" >&2
fi

# 2. it runs, with no dynamic loader involved
version="$("$bin" --version)"
[[ "$version" == "kubedx "* ]] || die "--version printed: $version"
report="$("$bin" diagnose deploy/storefront -n shop --snapshot examples/shop -o json)"
grep -q '"ruleId": *"ConfigMapNotFound"' <<<"$report" || die "the offline diagnosis of examples/shop lacks ConfigMapNotFound"
echo "static-build: $version, statically linked ($target), offline diagnosis ok" >&2
echo "$bin"
