#!/usr/bin/env bash
# Builds realkube (a real Kubernetes control plane from the k8s.io/kubernetes module
# pinned in go.mod) and realkube-kine (kine's SQLite backend, for --storage=kine) into
# target/go/bin with tests/go/build.sh, and prints realkube's path. The version the
# components report (/version, kubectl version) is set to the module's release.
# Test tooling only: never shipped.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO_BUILD="$HERE/../go/build.sh"
VERSION="$(cd "$HERE" && go list -m -f '{{.Version}}' k8s.io/kubernetes)" # v1.37.2
MINOR="$(echo "$VERSION" | cut -d. -f2)"
flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags="$flags -X $pkg.gitVersion=$VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR"
    flags="$flags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
"$GO_BUILD" "$HERE/kine" realkube-kine . -- -ldflags "-s -w" >/dev/null
exec "$GO_BUILD" "$HERE" realkube ./cmd/realkube -- -ldflags "-s -w$flags"
