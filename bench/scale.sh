#!/usr/bin/env bash
# The embedded server's scale curve, with its controllers on: for each size, a fresh
# release `ferrokube-apiserver` rolls out Deployments of 1,000 replicas (one for
# 1,000 pods), created back to back with kubectl, and the run reports
#   - the time until every Deployment reports all replicas available, and pods/s;
#   - resident memory after the rollout, and per pod; the peak during it (VmHWM);
#   - CPU used while idle (10 s with no write), in % of one core;
#   - the slowest answer a new client got during the rollout: a fresh TLS connection
#     and `GET /livez` (curl), every 200 ms, the issue's "answer within 1 s".
#
# usage: bench/scale.sh [SIZES...]        (default: 1000 10000)
# env:   KUBECTL (default: the compat suite's build), OUT (default:
#        bench/results/scale.md), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("${@:-1000 10000}")
# shellcheck disable=SC2206
SIZES=(${SIZES[*]})
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-bench/results/scale.md}
if [ -z "${KUBECTL:-}" ] && [ -f tests/compat/.tools/env.sh ]; then
  # shellcheck disable=SC1091
  . tests/compat/.tools/env.sh
  KUBECTL=$KUBECTL_NEWEST
fi
KUBECTL=${KUBECTL:-}
if [ -z "$KUBECTL" ] || [ ! -x "$KUBECTL" ]; then
  echo "bench/scale.sh: no kubectl (set KUBECTL, or run tests/compat/setup.sh first)" >&2
  exit 2
fi
cargo build --release -p ferrokube-apiserver --features cli >&2
BIN=$TARGET/release/ferrokube-apiserver
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
peak_kb() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }

run_size() {
  local pods=$1 per=1000 deployments
  [ "$pods" -lt "$per" ] && per=$pods
  deployments=$(( (pods + per - 1) / per ))
  rm -f "$WORK/kc"
  "$BIN" --secure-port 0 --write-kubeconfig "$WORK/kc" >"$WORK/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do
    [ -s "$WORK/kc" ] && "$KUBECTL" --kubeconfig "$WORK/kc" get --raw /readyz >/dev/null 2>&1 && break
    sleep 0.05
  done
  local server
  server=$(awk '/server:/{print $2; exit}' "$WORK/kc")
  # The probe: a new client (new TLS connection) every 200 ms; the slowest answer wins.
  (
    max=0
    while [ ! -e "$WORK/stop" ]; do
      t=$(curl -sk -o /dev/null -w '%{time_total}' --max-time 30 "$server/livez" || echo 30)
      max=$(echo "if ($t > $max) $t else $max" | bc -l)
      echo "$max" >"$WORK/probe"
      sleep 0.2
    done
  ) &
  local probe=$!
  local t0 t1
  t0=$(date +%s.%N)
  for d in $(seq "$deployments"); do
    "$KUBECTL" --kubeconfig "$WORK/kc" create deployment "web$d" --image=nginx --replicas="$per" >/dev/null
  done
  for d in $(seq "$deployments"); do
    "$KUBECTL" --kubeconfig "$WORK/kc" rollout status "deployment/web$d" --timeout=3600s >/dev/null
  done
  t1=$(date +%s.%N)
  touch "$WORK/stop"
  wait "$probe" || true
  rm -f "$WORK/stop"
  local secs rss peak c0 c1
  secs=$(echo "$t1 - $t0" | bc -l)
  rss=$(rss_kb "$pid")
  peak=$(peak_kb "$pid")
  sleep 2
  c0=$(ticks "$pid")
  sleep 10
  c1=$(ticks "$pid")
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  printf '| %s | %s | %.1f | %.0f | %.0f | %.0f | %.0f | %.1f | %.2f |\n' \
    "$pods" "$deployments" "$secs" "$(echo "$pods / $secs" | bc -l)" "$((rss / 1024))" \
    "$(echo "$rss / $pods" | bc -l)" "$((peak / 1024))" "$(echo "($c1 - $c0) / 10" | bc -l)" "$(cat "$WORK/probe")"
}

{
  echo "# Embedded server scale curve"
  echo
  echo "Commit $(git rev-parse --short HEAD)$(git diff --quiet -- . ":(exclude)$OUT" || echo ' (with local changes)'), $(date -u +%Y-%m-%d), $(nproc) cores;"
  echo "command: \`bench/scale.sh ${SIZES[*]}\`. Controllers on, release build,"
  echo "Deployments of 1,000 replicas created back to back with kubectl."
  echo
  echo "| pods | deployments | rollout s | pods/s | RSS MB | RSS KB/pod | peak RSS MB | idle CPU % of a core | slowest new-client answer s |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for n in "${SIZES[@]}"; do run_size "$n"; done
  echo
  echo "Machine load average at the end (1, 5, 15 min): $(cut -d' ' -f1-3 /proc/loadavg)."
} | tee "$OUT"
