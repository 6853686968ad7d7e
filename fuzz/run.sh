#!/usr/bin/env bash
# Bounded cargo-fuzz run of every target: fuzz/run.sh [SECONDS_PER_TARGET] (default 20).
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain
# (or RUSTC_BOOTSTRAP=1 on stable). See docs/reliability.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-20}"
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
for target in snapshot scheduler_message cron image_pull; do
  mkdir -p "fuzz/corpus/$target"
  if [[ $target == snapshot && -z "$(ls -A fuzz/corpus/snapshot)" ]]; then
    find tests/fixtures -name '*.yaml' -exec cp {} fuzz/corpus/snapshot/ \;
  fi
  echo "==> cargo fuzz run $target (${seconds}s)"
  cargo "${toolchain[@]}" fuzz run -O "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=262144
done
