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
# The verification builds see ferrokube-apimachinery 0.1.0 as a registry crate, and cargo
# never re-checks a registry crate's sources: an unpacked copy or a compiled artifact left
# by an earlier run of this script (same name and version, older code) would be used
# instead of this tree's. So the verification gets its own target folder, in which this
# project's crates are always rebuilt (third-party ones stay cached), and the unpacked
# copies in cargo's temporary registries (folder names starting with '-') are dropped.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/package-verify"
rm -rf "$CARGO_TARGET_DIR"/package "$CARGO_TARGET_DIR"/debug/.fingerprint/ferrokube*
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/ferrokube-*
echo "== package: ${crates[*]}" >&2
K8S_OPENAPI_ENABLED_VERSION=1.37 cargo package -q "${crates[@]/#/-p=}" --allow-dirty
echo "package: ${#crates[@]} crates package and build from their tarballs"
