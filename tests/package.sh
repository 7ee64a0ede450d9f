#!/usr/bin/env bash
# `cargo package` of the published crates, verification build included: what crates.io
# would receive builds on its own. They are packaged in one call, so ferrokube-apiserver's
# dependency on ferrokube-apimachinery resolves to the tarball packaged beside it (cargo's
# multi-package packaging), as it will once both are published. The library enables no
# Kubernetes version (the application picks one), so K8S_OPENAPI_ENABLED_VERSION picks one
# for the verification build, as for `cargo doc`; `cargo publish` needs the same.
# --allow-dirty: generated or edited files in a working copy do not stop the check.
set -euo pipefail
cd "$(dirname "$0")/.."
crates=(ferrokube-apimachinery ferrokube ferrokube-apiserver)
echo "== package: ${crates[*]}" >&2
K8S_OPENAPI_ENABLED_VERSION=1.37 cargo package -q "${crates[@]/#/-p=}" --allow-dirty
echo "package: ${#crates[@]} crates package and build from their tarballs"
