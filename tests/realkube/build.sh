#!/usr/bin/env bash
# Builds realkube (a real Kubernetes control plane from the k8s.io/kubernetes module
# pinned in go.mod) into target/go/bin with tests/go/build.sh, and prints its path.
# With --with-kine, also realkube-kine (kine's SQLite backend, for --storage=kine; a
# separate module and about 300 s more on a cold cache, so only when asked). The
# version the components report (/version, kubectl version) is set to the module's
# release. Test tooling only: never shipped.
#
#   tests/realkube/build.sh [--with-kine]
set -euo pipefail
with_kine=false
case ${1:-} in
    "") ;;
    --with-kine) with_kine=true ;;
    *) echo "tests/realkube/build.sh: unknown argument $1 (usage: build.sh [--with-kine])" >&2; exit 2 ;;
esac
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO_BUILD="$HERE/../go/build.sh"
VERSION="$(cd "$HERE" && go list -m -f '{{.Version}}' k8s.io/kubernetes)" # v1.37.2
MINOR="$(echo "$VERSION" | cut -d. -f2)"
flags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags="$flags -X $pkg.gitVersion=$VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR"
    flags="$flags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
if $with_kine; then
    "$GO_BUILD" "$HERE/kine" realkube-kine . -- -ldflags "-s -w" >/dev/null
fi
exec "$GO_BUILD" "$HERE" realkube ./cmd/realkube -- -ldflags "-s -w$flags"
