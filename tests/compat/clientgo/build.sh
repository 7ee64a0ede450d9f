#!/usr/bin/env bash
# Builds client-go's own example programs straight from the k8s.io/client-go module
# pinned in go.mod (they are packages of that module, k8s.io/client-go/examples/...,
# listed as `tool` lines so that go.sum covers their imports; no source is copied here)
# into target/go/bin/clientgo-<example>, reused when up to date. Prints the folder.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EXAMPLES=(
    create-update-delete-deployment
    dynamic-create-update-delete-deployment
    out-of-cluster-client-configuration
    workqueue
    leader-election
)
bin=""
for ex in "${EXAMPLES[@]}"; do
    bin="$("$HERE/../../go/build.sh" "$HERE" "clientgo-$ex" "k8s.io/client-go/examples/$ex")"
done
dirname "$bin"
