#!/usr/bin/env bash
# Installs what the compatibility suite needs, idempotently, on a fresh Debian machine
# of this project's image (CI included: nothing there is installed by hand).
#
#   * the newest kubectl, built with Go from the k8s.io/kubectl module pinned in
#     tests/compat/kubectl/go.mod (into target/go/bin, reused when present),
#   * Debian's kubectl 1.20 (package kubernetes-client), which conflicts with the Google
#     Cloud CLI on `apt-get install`, so it is downloaded and unpacked with `dpkg -x`,
#   * the official Python client (`kubernetes` on PyPI, pinned below) in a venv,
#   * client-go's example programs, built from the k8s.io/client-go module pinned in
#     tests/compat/clientgo/go.mod (into target/go/bin, reused when present).
#
# Everything else goes into tests/compat/.tools/ (gitignored). At the end it writes
# tests/compat/.tools/env.sh, which run.sh sources. Any missing piece is an error:
# the suite never skips a client silently.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$HERE/.tools"
# The version of the official Python client the suite is checked with (see README.md).
PY_CLIENT_VERSION="${FERROKUBE_COMPAT_PY_CLIENT:-37.0.2}"

die() { echo "compat setup: ERROR: $*" >&2; exit 1; }
log() { echo "compat setup: $*" >&2; }

mkdir -p "$TOOLS"

# --- 1. newest kubectl, built from the k8s.io/kubectl module ------------------------------
# Built by tests/compat/kubectl/build.sh from the go.mod pinned there (v0.37.2 -> kubectl
# v1.37.2) into target/go/bin, reused when present. The same kubectl on every machine,
# whether or not its image has a Google Cloud CLI. KUBECTL_NEWEST overrides it.
NEWEST="${KUBECTL_NEWEST:-}"
if [[ -z $NEWEST ]]; then
    command -v go >/dev/null 2>&1 || die "go not found: the newest kubectl is built from k8s.io/kubectl (Go 1.26 is on the project's machines)"
    NEWEST="$("$HERE/kubectl/build.sh")" || die "building kubectl from k8s.io/kubectl failed (tests/compat/kubectl/build.sh)"
fi
"$NEWEST" version --client >/dev/null 2>&1 || die "newest kubectl '$NEWEST' does not run"
log "newest kubectl: $NEWEST ($("$NEWEST" version --client 2>/dev/null | head -1))"

# --- 1b. client-go's own example programs, built from the k8s.io/client-go module --------
# tests/compat/clientgo/build.sh builds k8s.io/client-go/examples/{create-update-delete-
# deployment,dynamic-create-update-delete-deployment,out-of-cluster-client-configuration,
# workqueue,leader-election} with the go.mod pinned there into target/go/bin/clientgo-*.
command -v go >/dev/null 2>&1 || die "go not found: client-go's example programs are built from k8s.io/client-go (Go 1.26 is on the project's machines)"
CLIENTGO_BIN="$("$HERE/clientgo/build.sh")" || die "building client-go's example programs failed (tests/compat/clientgo/build.sh)"
CLIENTGO_VERSION="$(cd "$HERE/clientgo" && go list -m -f '{{.Version}}' k8s.io/client-go)" ||
    die "cannot read the k8s.io/client-go version from tests/compat/clientgo/go.mod"
log "client-go $CLIENTGO_VERSION examples: $CLIENTGO_BIN/clientgo-*"

# --- 2. Debian's kubectl 1.20 (kubernetes-client), unpacked, not installed ------------
OLD_ROOT="$TOOLS/kubernetes-client"
OLDEST="$OLD_ROOT/usr/bin/kubectl"
if ! [[ -x $OLDEST ]] || ! "$OLDEST" version --client >/dev/null 2>&1; then
    command -v apt-get >/dev/null || die "apt-get not found: cannot fetch Debian's kubernetes-client (kubectl 1.20)"
    dl="$TOOLS/deb"
    rm -rf "$dl" "$OLD_ROOT"
    mkdir -p "$dl"
    chmod 0777 "$dl" 2>/dev/null || true # lets apt's _apt user write there (no sandbox warning)
    log "downloading Debian package kubernetes-client"
    if ! (cd "$dl" && apt-get download kubernetes-client >&2); then
        log "apt-get download failed; running apt-get update and retrying"
        apt-get update >&2 || die "apt-get update failed"
        (cd "$dl" && apt-get download kubernetes-client >&2) ||
            die "apt-get download kubernetes-client failed (Debian's kubectl 1.20)"
    fi
    deb="$(ls "$dl"/kubernetes-client_*.deb 2>/dev/null | head -1)"
    [[ -n $deb ]] || die "apt-get download produced no kubernetes-client .deb"
    dpkg -x "$deb" "$OLD_ROOT" || die "dpkg -x $deb failed"
    rm -rf "$dl"
    [[ -x $OLDEST ]] || die "$deb did not contain usr/bin/kubectl"
fi
OLDEST="${KUBECTL_OLDEST:-$OLDEST}"
"$OLDEST" version --client >/dev/null 2>&1 || die "$OLDEST does not run"
log "oldest kubectl: $OLDEST ($("$OLDEST" version --client 2>/dev/null | grep -oE 'GitVersion:"[^"]+"' | head -1))"

# --- 3. the official Python client in a venv -------------------------------------------
VENV="$TOOLS/venv"
PY="$VENV/bin/python"
have_client() {
    [[ -x $PY ]] && [[ "$("$PY" -c 'import kubernetes; print(kubernetes.__version__)' 2>/dev/null)" == "$PY_CLIENT_VERSION" ]]
}
if ! have_client; then
    command -v python3 >/dev/null || die "python3 not found"
    if ! [[ -x $PY ]]; then
        python3 -m venv "$VENV" 2>/dev/null || {
            log "python3 -m venv failed; installing python3-venv"
            (apt-get install -y python3-venv >&2 || { apt-get update >&2 && apt-get install -y python3-venv >&2; }) ||
                die "cannot install python3-venv"
            rm -rf "$VENV"
            python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
        }
    fi
    log "installing kubernetes==$PY_CLIENT_VERSION (official Python client) into $VENV"
    "$PY" -m pip install --disable-pip-version-check -q "kubernetes==$PY_CLIENT_VERSION" >&2 ||
        die "pip install kubernetes==$PY_CLIENT_VERSION failed"
    have_client || die "kubernetes $PY_CLIENT_VERSION not importable from $PY after install"
fi
log "python client: kubernetes $("$PY" -c 'import kubernetes; print(kubernetes.__version__)') ($PY)"

# --- 4. curl (the anonymous-request checks) ---------------------------------------------
if ! command -v curl >/dev/null 2>&1; then
    log "installing curl"
    (apt-get install -y curl >&2 || { apt-get update >&2 && apt-get install -y curl >&2; }) || die "cannot install curl"
fi

cat >"$TOOLS/env.sh" <<EOF
# Written by tests/compat/setup.sh; sourced by tests/compat/run.sh.
KUBECTL_NEWEST='$NEWEST'
KUBECTL_OLDEST='$OLDEST'
COMPAT_PYTHON='$PY'
CLIENTGO_BIN='$CLIENTGO_BIN'
CLIENTGO_VERSION='$CLIENTGO_VERSION'
EOF
log "ok: wrote $TOOLS/env.sh"
