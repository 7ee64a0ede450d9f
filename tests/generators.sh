#!/usr/bin/env bash
# Runs every code generator's `--check` (crates/*/gen/gen_*.py): each regenerates its
# output in memory from the crate sources its Cargo.lock pins (located with
# `cargo metadata`, see gen/cargo_sources.py) and compares it with the committed file.
# Exits non-zero if any generated file is out of date; each failing generator names the
# file and the command that regenerates it. `cargo metadata` may download a pinned crate
# that is not in the registry cache yet.
set -uo pipefail
cd "$(dirname "$0")/.."

generators=(crates/*/gen/gen_*.py bench/gen_readme_table.py)
failed=()
for generator in "${generators[@]}"; do
    if ! python3 "$generator" --check; then
        failed+=("$generator")
    fi
done

if ((${#failed[@]})); then
    echo "generators: ${#failed[@]} of ${#generators[@]} outputs out of date (${failed[*]})" >&2
    exit 1
fi
echo "generators: all ${#generators[@]} outputs up to date"
