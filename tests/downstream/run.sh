#!/usr/bin/env bash
# Builds and runs tests/downstream (the README's Rust blocks in a crate outside the
# workspace) once with the oldest and once with the newest Kubernetes version that
# k8s-openapi supports. Its own target folder, tests/downstream/target (ignored).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for v in v1_33 v1_37; do
    echo "== downstream crate with k8s-openapi/$v" >&2
    # The repository's own K8S_OPENAPI_ENABLED_VERSION must not leak in: the feature decides.
    env -u K8S_OPENAPI_ENABLED_VERSION cargo run -q --manifest-path "$HERE/Cargo.toml" --features "$v"
done
