#!/usr/bin/env bash
# Builds realkube if needed and runs it with the given flags, e.g.
#   tests/realkube/start.sh --secure-port 0 --write-kubeconfig /tmp/kc
# It prints "serving on https://HOST:PORT" on stdout when the cluster is ready and
# stops (removing its temporary data) on SIGINT/SIGTERM. See README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build_args=()
[[ " $* " == *kine* ]] && build_args=(--with-kine)
BIN="$("$HERE/build.sh" "${build_args[@]}")"
exec "$BIN" "$@"
