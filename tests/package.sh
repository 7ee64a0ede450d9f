#!/usr/bin/env bash
# `cargo package` of both crates, verification build included: what crates.io would
# receive builds on its own. The library enables no Kubernetes version (the
# application picks one), so K8S_OPENAPI_ENABLED_VERSION picks one for the
# verification build, as for `cargo doc`; `cargo publish` needs the same.
# --allow-dirty: generated or edited files in a working copy do not stop the check.
set -euo pipefail
cd "$(dirname "$0")/.."
for crate in ferrokube ferrokube-apiserver; do
    echo "== package: $crate" >&2
    K8S_OPENAPI_ENABLED_VERSION=1.37 cargo package -q -p "$crate" --allow-dirty
done
echo "package: both crates package and build from their tarballs"
