#!/usr/bin/env bash
# Clean release build time of the same minimal "deployment" program
# (create/get/update/list/delete a Deployment) with each client.
# Not part of the default benchmark run: it builds every dependency from scratch twice.
#
#   bench/build_time.sh            # both clients, sequentially, each into a fresh target dir
#   JOBS=2 bench/build_time.sh     # cargo -j (default: all cores)
#
# Dependencies must already be downloaded (cargo fetch is run first, untimed); the timed
# part is `cargo build --release` with an empty CARGO_TARGET_DIR and no sccache.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
jobs="${JOBS:-$(nproc)}"
printf '%-12s %10s\n' client seconds
for client in ferrokube kube; do
  dir="$here/build-time/$client-deployment"
  target="$(mktemp -d "${TMPDIR:-/tmp}/ferrokube-buildtime-$client.XXXXXX")"
  (cd "$dir" && cargo fetch --quiet)
  start=$(date +%s.%N)
  (cd "$dir" && RUSTC_WRAPPER= CARGO_TARGET_DIR="$target" cargo build --release --quiet -j "$jobs")
  end=$(date +%s.%N)
  size=$(stat -c %s "$target/release/$client-deployment")
  printf '%-12s %10.1f   (binary %s bytes)\n' "$([ $client = kube ] && echo kube-rs || echo ferrokube)" "$(echo "$end - $start" | bc)" "$size"
  rm -rf "$target"
done
