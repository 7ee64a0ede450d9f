#!/usr/bin/env bash
# Builds one of the project's Go reference programs (tests and bench only; never shipped).
#
#   tests/go/build.sh MODULE_DIR NAME [PACKAGE] [-- go build flags...]
#
# MODULE_DIR holds a committed go.mod + go.sum with pinned versions; PACKAGE (default
# ".") is the main package inside it. The binary goes to target/go/bin/NAME (ignored
# by git) and is reused as long as it is newer than every file of the module, so a
# second run costs nothing. Go's own build cache (GOCACHE) makes a rebuild after a
# small change incremental. The binary's path is the only line printed on stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
die() { echo "go build: ERROR: $*" >&2; exit 1; }

[[ $# -ge 2 ]] || die "usage: tests/go/build.sh MODULE_DIR NAME [PACKAGE] [-- go build flags...]"
MOD="$(cd "$1" && pwd)" || die "module folder '$1' not found"
NAME=$2
shift 2
PKG=.
if [[ $# -gt 0 && $1 != -- ]]; then PKG=$1; shift; fi
[[ ${1:-} == -- ]] && shift
[[ -f $MOD/go.mod ]] || die "$MOD has no go.mod"
[[ -f $MOD/go.sum ]] || die "$MOD has no go.sum (run go mod tidy there and commit it)"
command -v go >/dev/null || die "go not found on PATH (the project's machines have Go 1.26)"

OUT_DIR="${FERROKUBE_GO_BIN:-$ROOT/target/go/bin}"
OUT="$OUT_DIR/$NAME"
mkdir -p "$OUT_DIR"

if [[ -x $OUT ]] && [[ -z "$(find "$MOD" -type f -newer "$OUT" -print -quit)" ]]; then
    echo "$OUT"
    exit 0
fi

echo "go build: building $NAME from ${MOD#"$ROOT"/} ($(go version | awk '{print $3}'))" >&2
start=$(date +%s)
(cd "$MOD" && GOFLAGS=-buildvcs=false go build -mod=readonly -trimpath -o "$OUT.tmp" "$@" "$PKG") ||
    die "building $NAME from $MOD failed"
mv -f "$OUT.tmp" "$OUT"
echo "go build: $NAME built in $(($(date +%s) - start)) s -> $OUT" >&2
echo "$OUT"
