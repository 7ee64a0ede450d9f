#!/usr/bin/env bash
# Checks ferrokube with its optional Cargo features off (see the features table in the
# crate docs, crates/ferrokube/src/lib.rs):
#
# - the library alone, without default features, with each crypto provider: it builds
#   and is clippy-clean (no code left dangling when exec, oidc, socks5, native-roots and
#   gzip are compiled out);
# - every target (tests, examples) without default features: they still compile, each
#   test that needs a feature says so with #[cfg(feature = ...)];
# - the unit tests without default features, which include the tests proving that a
#   kubeconfig or server asking for a missing feature gets an error naming it.
#
# The library enables no Kubernetes version: K8S_OPENAPI_ENABLED_VERSION picks one for
# the library-only builds (tests get `latest` from the dev-dependency).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { echo "== features: $*" >&2; "$@"; }
for provider in aws-lc-rs ring; do
    run env K8S_OPENAPI_ENABLED_VERSION=1.37 cargo clippy -q -p ferrokube --lib --no-default-features --features "$provider" -- -D warnings
done
run cargo clippy -q -p ferrokube --all-targets --no-default-features --features aws-lc-rs -- -D warnings
run cargo test -q -p ferrokube --lib --no-default-features --features aws-lc-rs
echo "features: ferrokube builds and its unit tests pass without default features (aws-lc-rs, ring)"
