#!/usr/bin/env bash
# Builds kubectl from the k8s.io/kubectl module pinned in go.mod into target/go/bin and
# prints its path. The version string kubectl reports is set to the module's release.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION="$(cd "$HERE" && go list -m -f '{{.Version}}' k8s.io/kubectl)" # v0.37.2
GIT_VERSION="v1.${VERSION#v0.}"                                          # v1.37.2
MINOR="$(echo "$GIT_VERSION" | cut -d. -f2)"
flags="-X k8s.io/client-go/pkg/version.gitVersion=$GIT_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$MINOR"
flags="$flags -X k8s.io/component-base/version.gitVersion=$GIT_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$MINOR"
exec "$HERE/../../go/build.sh" "$HERE" "kubectl-$GIT_VERSION" . -- -ldflags "-s -w $flags"
