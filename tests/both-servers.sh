#!/usr/bin/env bash
# Runs the client's server-facing integration tests against the embedded
# ferrokube-apiserver and against realkube (a real Kubernetes v1.37.2 control plane,
# tests/realkube), and prints pass/fail/skip counts and times per test binary and
# server. The switch is FERROKUBE_TEST_SERVER (crates/ferrokube/tests/support/cluster.rs).
#
#   tests/both-servers.sh                      # the default binaries, both servers
#   tests/both-servers.sh --server realkube    # realkube only
#   tests/both-servers.sh pager rest_embedded  # these test binaries only
#
# Environment: FERROKUBE_REALKUBE (use this realkube binary instead of building one),
# FERROKUBE_REALKUBE_ARGS (extra launcher flags, e.g. "--storage kine"),
# CARGO_TARGET_DIR / CARGO_BUILD_JOBS as for cargo. Each run's full output is kept
# under target/both-servers/. Exit status: 0 when every binary passed on every server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEFAULT_TESTS=(clients_typed clients_dynamic clients_discovery pager rest_embedded leaderelection record controller tools_cache informer_factory tools_watch exec_reauth workloads)
servers=(embedded realkube)
tests=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --server) servers=("$2"); shift 2 ;;
        --server=*) servers=("${1#--server=}"); shift ;;
        -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "both-servers: unknown flag $1" >&2; exit 2 ;;
        *) tests+=("$1"); shift ;;
    esac
done
[[ ${#tests[@]} -gt 0 ]] || tests=("${DEFAULT_TESTS[@]}")
for s in "${servers[@]}"; do
    [[ $s == embedded || $s == realkube ]] || { echo "both-servers: --server embedded|realkube" >&2; exit 2; }
done

cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
RUN_DIR="$TARGET/both-servers/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN_DIR"

if [[ " ${servers[*]} " == *" realkube "* && -z ${FERROKUBE_REALKUBE:-} ]]; then
    build_args=()
    [[ " ${FERROKUBE_REALKUBE_ARGS:-} " == *kine* ]] && build_args=(--with-kine)
    FERROKUBE_REALKUBE="$("$ROOT/tests/realkube/build.sh" "${build_args[@]}")"
fi
export FERROKUBE_REALKUBE="${FERROKUBE_REALKUBE:-}"
# Realkube's nodes: ferrokube-kubelet runs beside it (support/cluster.rs).
if [[ " ${servers[*]} " == *" realkube "* && -z ${FERROKUBE_KUBELET:-} ]]; then
    cargo build --quiet --bin ferrokube-kubelet || { echo "both-servers: building ferrokube-kubelet failed" >&2; exit 1; }
    export FERROKUBE_KUBELET="$TARGET/debug/ferrokube-kubelet"
fi

# No `-p ferrokube` in these cargo calls: with the workspace's default members cargo
# unifies features as `cargo test` does, and reuses the binaries it built instead of
# building every test binary a second time (CI's disk is finite).
test_args=()
for t in "${tests[@]}"; do test_args+=(--test "$t"); done
echo "both-servers: building ${tests[*]}" >&2
cargo test "${test_args[@]}" --no-run >"$RUN_DIR/build.log" 2>&1 || {
    tail -n 30 "$RUN_DIR/build.log" >&2
    echo "both-servers: build failed (log: $RUN_DIR/build.log)" >&2
    exit 1
}

rows=()
status=0
for server in "${servers[@]}"; do
    server_start=$(date +%s.%N)
    for t in "${tests[@]}"; do
        log="$RUN_DIR/$t.$server.log"
        # Realkube's temporary folders (the test harness's and realkube's own) go
        # here, so leftovers of this run, and only of this run, can be checked.
        tmp="$RUN_DIR/tmp-$t-$server"
        mkdir -p "$tmp"
        echo "both-servers: $t on $server" >&2
        start=$(date +%s.%N)
        rc=0
        TMPDIR="$tmp" FERROKUBE_TEST_SERVER="$server" \
            cargo test -q --test "$t" >"$log" 2>&1 || rc=$?
        secs=$(echo "$(date +%s.%N) - $start" | bc)
        result=$(grep -E '^test result:' "$log" | tail -n 1 || true)
        passed=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$result")
        failed=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$result")
        skipped=$( (grep -o 'SKIPPED (' "$log" || true) | wc -l)
        note=""
        if [[ -z $result ]]; then
            note="no test result (exit $rc), see $log"
            status=1
        elif [[ $rc -ne 0 || ${failed:-0} -ne 0 ]]; then
            note="failures: $(grep -E '^    [a-z_0-9:]+$' "$log" | tr -d ' ' | paste -sd, -)"
            status=1
        fi
        if [[ $server == realkube ]]; then
            # The test binary's exit closes the watchdog's pipe; realkube then stops
            # (a few seconds) and removes its folders. Wait for that and say so.
            waited=0
            while pgrep -f -- "$tmp/" >/dev/null && [[ $waited -lt 60 ]]; do
                sleep 1
                waited=$((waited + 1))
            done
            if pgrep -f -- "$tmp/" >/dev/null; then
                note="$note ORPHANS: $(pgrep -f -- "$tmp/" | paste -sd' ' -)"
                status=1
            elif [[ -n "$(ls -A "$tmp")" ]]; then
                note="$note leftover files in $tmp"
            else
                note="$note stopped ${waited}s after the tests"
                rmdir "$tmp"
            fi
        else
            rmdir "$tmp" 2>/dev/null || true
        fi
        rows+=("$(printf '%-18s %-9s %6s %6s %7s %8.1f  %s' "$t" "$server" "${passed:--}" "${failed:--}" \
            "$skipped" "$secs" "$note")")
    done
    total=$(echo "$(date +%s.%N) - $server_start" | bc)
    rows+=("$(printf '%-18s %-9s %6s %6s %7s %8.1f' "(all)" "$server" "" "" "" "$total")")
done

echo
printf '%-18s %-9s %6s %6s %7s %8s  %s\n' "test binary" server passed failed skipped seconds notes
for r in "${rows[@]}"; do echo "$r"; done
echo
echo "logs: $RUN_DIR"
exit $status
