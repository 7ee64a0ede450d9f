#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time from its committed seed corpus
# (fuzz/corpus/<target>/, copied first so the run leaves the checkout clean) and fails
# on any crash, panic or timeout libFuzzer reports. Installs what it needs: the nightly
# toolchain (minimal profile) and cargo-fuzz (into $TARGET/tools, reused).
#
#   tests/fuzz.sh                 # every target, FUZZ_SECONDS (default 20) each
#   tests/fuzz.sh json_patch      # these targets only
#
# Environment: FUZZ_SECONDS, CARGO_TARGET_DIR as for cargo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
SECONDS_EACH="${FUZZ_SECONDS:-20}"
cd "$ROOT"

rustup toolchain install nightly --profile minimal >/dev/null 2>&1 ||
    { echo "fuzz: could not install the nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }
TOOLS="$TARGET/tools"
if [ ! -x "$TOOLS/bin/cargo-fuzz" ]; then
    echo "fuzz: installing cargo-fuzz into $TOOLS" >&2
    cargo install --quiet --locked --root "$TOOLS" cargo-fuzz ||
        { echo "fuzz: cargo install cargo-fuzz failed" >&2; exit 1; }
fi
export PATH="$TOOLS/bin:$PATH"

mapfile -t all < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^ferrokube-fuzz$')
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# Without AddressSanitizer: the crates forbid `unsafe`, so what is looked for is panics,
# overflows (debug assertions are on), hangs and memory blow-ups; it builds and runs faster.
FUZZ=(cargo +nightly fuzz)
FLAGS=(--fuzz-dir fuzz --sanitizer none --target-dir "$TARGET/fuzz")
echo "fuzz: building ${#targets[@]} targets" >&2
"${FUZZ[@]}" build "${FLAGS[@]}" >"$TARGET/fuzz-build.log" 2>&1 ||
    { tail -n 30 "$TARGET/fuzz-build.log" >&2; echo "fuzz: build failed (log: $TARGET/fuzz-build.log)" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$WORK/$t" "$WORK/artifacts/$t"
    cp -r "fuzz/corpus/$t/." "$WORK/$t/"
    seeds=$(find "fuzz/corpus/$t" -type f | wc -l)
    log="$TARGET/fuzz-$t.log"
    if "${FUZZ[@]}" run "${FLAGS[@]}" "$t" "$WORK/$t" -- -max_total_time="$SECONDS_EACH" \
        -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$WORK/artifacts/$t/" >"$log" 2>&1; then
        runs=$(grep -oE 'Done [0-9]+ runs' "$log" | tail -n 1 || true)
        echo "fuzz: $t: 0 crashes ($seeds seeds, ${runs:-no summary} in ${SECONDS_EACH}s)"
    else
        failed+=("$t")
        echo "fuzz: $t: FAILED (log: $log)"
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -n 8 | sed 's/^/  | /'
        for a in "$WORK/artifacts/$t"/*; do
            [ -f "$a" ] && echo "  | input (base64): $(head -c 2000 "$a" | base64 -w0)"
        done
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets, 0 crashes"
