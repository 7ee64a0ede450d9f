"""The command line every code generator under `crates/*/gen/` shares: argument parsing
and the write-or `--check` step.

A generator computes the full text of its output file, then hands it to `emit`:
without `--check` the file is (re)written; with `--check` nothing is written and the
exit status says whether the committed file is byte-for-byte what the generator would
write (0, printing "... is up to date") or not (1, naming the file and the command that
regenerates it). `tests/generators.sh` runs every generator's `--check` for CI.

Arguments are parsed strictly: an unknown option or a stray positional argument is an
error (exit 2), never mistaken for a source path.
"""

import argparse
import os
import sys

from cargo_sources import REPO


def rel(path):
    """`path` relative to the repository root, for messages."""
    return os.path.relpath(os.path.abspath(path), REPO)


def parser(script, description, sources=("k8s-openapi",)):
    """An argument parser with `--check` and one `--<crate> DIR` override per source
    crate (stored as `args.<crate with _>`, None when not given)."""
    p = argparse.ArgumentParser(
        prog=f"python3 {rel(script)}",
        description=description,
        allow_abbrev=False,
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the committed output differs from what would be generated",
    )
    for name in sources:
        p.add_argument(
            f"--{name}",
            metavar="DIR",
            help=f"read this {name} source tree (the directory of its Cargo.toml) instead of "
            "the version the Cargo.lock pins",
        )
    return p


def emit(script, out, text, check, summary):
    """Write `text` to `out`, or with `check` compare it with what `out` holds."""
    data = text.encode("utf-8")
    if check:
        try:
            with open(out, "rb") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != data:
            state = "is missing" if current is None else "is out of date"
            print(f"{rel(out)} {state}; regenerate it with: python3 {rel(script)}", file=sys.stderr)
            sys.exit(1)
        print(f"{rel(out)} is up to date")
        return
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as f:
        f.write(data)
    print(f"wrote {rel(out)}: {summary}")
