"""Where the code generators find the Rust crates they read: the exact version a
Cargo.lock pins, located through `cargo metadata`.

Every generator under `crates/*/gen/` reads the sources of a published crate
(k8s-openapi's generated types) and writes Rust or JSON tables
from them. The version read must be the one the build uses, not whichever happens to be
the newest folder in `~/.cargo/registry`, or two machines would generate different
files. So a generator asks cargo: `cargo metadata --format-version 1 --locked
--manifest-path <manifest>` resolves the manifest's dependency graph exactly as its
Cargo.lock says (`--locked`: an out-of-date lock is an error, never rewritten), downloads
any crate missing from the registry cache (this may need the network once), and reports
each package's `manifest_path`, whose directory is the crate's source tree.

The manifest is the workspace's own (`Cargo.toml` at the repository root, for
k8s-openapi, a dependency of ferrokube); `crate()` also takes the manifest of a small
pinning workspace for a crate the workspace does not depend on. (The protobuf tables'
generator reads Kubernetes' `.proto` files from Go modules pinned by version, located
with `go mod download`, not through cargo.)

A generator may be pointed at another source tree instead (`--k8s-openapi DIR`); then
the crate's name and version are read from that tree's Cargo.toml.
"""

import json
import os
import re
import subprocess
import sys
from typing import NamedTuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKSPACE_MANIFEST = os.path.join(REPO, "Cargo.toml")


class Crate(NamedTuple):
    """One crate's source tree: `root` is the directory holding its Cargo.toml."""

    name: str
    version: str
    root: str

    @property
    def label(self):
        """`name-version`, as the registry names the folder (k8s-openapi-0.29.0)."""
        return f"{self.name}-{self.version}"

    def dir(self, *parts):
        """A directory inside the crate; exits with a clear message if it is missing
        (for example a Kubernetes version module the pinned release does not have)."""
        path = os.path.join(self.root, *parts)
        if not os.path.isdir(path):
            sys.exit(f"{self.label} has no {os.path.join(*parts)}/ (looked in {self.root})")
        return path


def locked(name, manifest=WORKSPACE_MANIFEST):
    """The source tree of crate `name` at the version `manifest`'s Cargo.lock pins."""
    cargo = os.environ.get("CARGO", "cargo")
    cmd = [cargo, "metadata", "--format-version", "1", "--locked", "--manifest-path", manifest]
    try:
        run = subprocess.run(cmd, stdout=subprocess.PIPE, check=False)
    except FileNotFoundError:
        sys.exit(f"`{cargo}` not found: the generators locate their sources with `cargo metadata`")
    if run.returncode != 0:
        sys.exit(f"`{' '.join(cmd)}` failed (exit {run.returncode}); see cargo's message above")
    found = [p for p in json.loads(run.stdout)["packages"] if p["name"] == name and p["source"]]
    if len(found) != 1:
        versions = ", ".join(sorted(p["version"] for p in found)) or "none"
        sys.exit(f"expected exactly one {name} in the dependency graph of {manifest}, found: {versions}")
    pkg = found[0]
    return Crate(name, pkg["version"], os.path.dirname(pkg["manifest_path"]))


def at(root, name):
    """The crate whose source tree is `root` (an explicit override); its Cargo.toml must
    name the crate `name`."""
    manifest = os.path.join(root, "Cargo.toml")
    try:
        text = open(manifest, encoding="utf-8").read()
    except OSError as e:
        sys.exit(f"{root} is not a crate's source tree: cannot read {manifest}: {e.strerror}")
    package = re.search(r"^\[package\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    fields = dict(re.findall(r'^(name|version)\s*=\s*"([^"]*)"', package.group(1) if package else "", re.M))
    if fields.get("name") != name or "version" not in fields:
        sys.exit(f"{manifest} is not the manifest of {name}")
    return Crate(name, fields["version"], os.path.abspath(root))


def crate(name, override=None, manifest=WORKSPACE_MANIFEST):
    """`at(override, name)` when a directory was given, else `locked(name, manifest)`."""
    return at(override, name) if override else locked(name, manifest)
