#!/usr/bin/env bash
# Clean release build time of the same minimal "deployment" program
# (create/get/update/list/delete a Deployment) with each client: ferrokube and kube-rs
# (bench/build-time/*-deployment), and client-go's own example
# k8s.io/client-go/examples/create-update-delete-deployment, built straight from the
# k8s.io/client-go v0.37.2 module pinned in tests/compat/clientgo/go.mod.
# Not part of the default benchmark run: it builds every dependency from scratch.
#
#   bench/build_time.sh                       # all three, sequentially
#   JOBS=2 bench/build_time.sh                # cargo -j / go build -p (default: all cores)
#   CLIENTS="client-go" bench/build_time.sh   # a subset of: ferrokube kube-rs client-go
#
# Dependencies must already be downloaded (cargo fetch / go mod download first, untimed).
# Rust: `cargo build --release` with an empty CARGO_TARGET_DIR and no sccache. Go:
# `go build -trimpath` with an empty GOCACHE (so the standard library and every module
# are compiled again; Go's equivalent of an empty target directory), default flags (the
# binary keeps its symbol table and DWARF, like the Rust release profile's symbols).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
jobs="${JOBS:-$(nproc)}"
clients="${CLIENTS:-ferrokube kube-rs client-go}"
printf '%-12s %10s\n' client seconds
for client in $clients; do
  out="$(mktemp -d "${TMPDIR:-/tmp}/ferrokube-buildtime-$client.XXXXXX")"
  case $client in
    ferrokube | kube-rs)
      crate=$([ "$client" = kube-rs ] && echo kube || echo ferrokube)
      dir="$here/build-time/$crate-deployment"
      (cd "$dir" && cargo fetch --quiet)
      start=$(date +%s.%N)
      (cd "$dir" && RUSTC_WRAPPER= CARGO_TARGET_DIR="$out" cargo build --release --quiet -j "$jobs")
      end=$(date +%s.%N)
      bin="$out/release/$crate-deployment"
      ;;
    client-go)
      dir="$here/../tests/compat/clientgo"
      pkg=k8s.io/client-go/examples/create-update-delete-deployment
      (cd "$dir" && go mod download && go list -deps "$pkg" >/dev/null)
      start=$(date +%s.%N)
      (cd "$dir" && GOCACHE="$out/gocache" GOFLAGS=-buildvcs=false go build -mod=readonly -trimpath -p "$jobs" -o "$out/client-go-deployment" "$pkg")
      end=$(date +%s.%N)
      bin="$out/client-go-deployment"
      ;;
    *) echo "unknown client $client (ferrokube, kube-rs or client-go)" >&2; exit 2 ;;
  esac
  size=$(stat -c %s "$bin")
  printf '%-12s %10.1f   (binary %s bytes)\n' "$client" "$(echo "$end - $start" | bc)" "$size"
  rm -rf "$out"
done
