#!/usr/bin/env bash
# The differential suite: replays tests/differential/corpus against realkube
# (kube-apiserver v1.37.2) and the embedded server, prints `differential: N/M identical`,
# writes target/differential/report.md and fails only for differences that neither
# tests/differential/deliberate.yaml (kept on purpose, with reasons) nor
# tests/differential/pending.txt (known, to be fixed in the embedded server) lists.
# Extra arguments go to the runner (e.g. --only crud).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -n "${FERROKUBE_REALKUBE:-}" ]; then
  REALKUBE="$FERROKUBE_REALKUBE"
else
  REALKUBE="$("$ROOT/tests/realkube/build.sh")"
fi
cd "$ROOT"
exec cargo run --quiet -p ferrokube-differential -- \
  --realkube "$REALKUBE" --report "$TARGET/differential/report.md" "$@"
