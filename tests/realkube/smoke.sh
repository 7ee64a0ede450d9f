#!/usr/bin/env bash
# Smoke test of realkube: builds it, starts it on a free port, and checks with kubectl
# that it is a working Kubernetes v1.37 control plane: version, namespaces, a
# Deployment that makes a ReplicaSet and Pods (Pending and Unschedulable: there are no
# nodes), garbage collection of the ReplicaSet, RBAC, a static token, a client CA
# from --client-ca-file, the service account token controller, and a clean stop. Extra arguments go to realkube, e.g.
#   tests/realkube/smoke.sh --storage=kine
# realkube: $REALKUBE, else built by build.sh. kubectl: $KUBECTL, else target/go/bin/kubectl-v1.37.2, else built by
# tests/compat/kubectl/build.sh. Exits non-zero with a message on the first failure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WANT_VERSION=v1.37.2

passed=0
fail() {
    echo "smoke: FAIL: $*" >&2
    if [[ -n ${TMP:-} && -f $TMP/stderr ]]; then
        echo "--- realkube stderr (last 30 lines) ---" >&2
        tail -n 30 "$TMP/stderr" >&2
    fi
    echo "realkube smoke: $passed passed, 1 failed"
    exit 1
}
ok() {
    passed=$((passed + 1))
    echo "smoke: ok: $*"
}

BIN="${REALKUBE:-}"
build_args=()
[[ " $* " == *kine* ]] && build_args=(--with-kine)
[[ -n $BIN ]] || BIN="$("$HERE/build.sh" "${build_args[@]}")" || fail "building realkube failed"
if [[ -z ${KUBECTL:-} ]]; then
    KUBECTL="$ROOT/target/go/bin/kubectl-$WANT_VERSION"
    [[ -x $KUBECTL ]] || KUBECTL="$("$ROOT/tests/compat/kubectl/build.sh")" || fail "building kubectl failed"
fi

TMP="$(mktemp -d)"
mkdir -p "$TMP/tmp"
PID=
cleanup() {
    if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

TOKEN=smoke-token-$RANDOM$RANDOM
printf '%s,alice,uid-alice\n' "$TOKEN" >"$TMP/tokens.csv"

# An extra client CA for --client-ca-file, and a certificate it signed (user carol).
EXTRA_CA_ARGS=()
if command -v openssl >/dev/null; then
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout "$TMP/extra-ca.key" -out "$TMP/extra-ca.crt" -subj /CN=smoke-extra-ca -days 1 2>/dev/null ||
        fail "openssl: extra CA"
    openssl req "${ec[@]}" -keyout "$TMP/carol.key" -out "$TMP/carol.csr" -subj "/CN=carol/O=smoke-group" 2>/dev/null ||
        fail "openssl: carol's request"
    printf 'extendedKeyUsage=clientAuth\n' >"$TMP/client.ext"
    openssl x509 -req -in "$TMP/carol.csr" -CA "$TMP/extra-ca.crt" -CAkey "$TMP/extra-ca.key" -CAcreateserial \
        -out "$TMP/carol.crt" -days 1 -extfile "$TMP/client.ext" 2>/dev/null || fail "openssl: carol's certificate"
    EXTRA_CA_ARGS=(--client-ca-file "$TMP/extra-ca.crt")
fi

# Start; TMPDIR points its temporary data folder into $TMP so that the clean stop
# (which removes it) can be checked.
start=$(date +%s.%N)
TMPDIR="$TMP/tmp" "$BIN" --secure-port 0 --write-kubeconfig "$TMP/kc" --token-auth-file "$TMP/tokens.csv" "${EXTRA_CA_ARGS[@]}" "$@" \
    >"$TMP/stdout" 2>"$TMP/stderr" &
PID=$!
URL=
for _ in $(seq 1 1800); do
    if line="$(head -n 1 "$TMP/stdout" 2>/dev/null)" && [[ $line == "serving on https://"* ]]; then
        URL="${line#serving on }"
        break
    fi
    kill -0 "$PID" 2>/dev/null || fail "realkube exited before it was ready"
    sleep 0.1
done
[[ -n $URL ]] || fail "no 'serving on' line after 180 s"
ready=$(date +%s.%N)
ok "started in $(awk "BEGIN{printf \"%.1f\", $ready - $start}") s: $URL"
[[ $(wc -l <"$TMP/stdout") -eq 1 ]] || fail "stdout has more than the serving line: $(cat "$TMP/stdout")"

k() { "$KUBECTL" --kubeconfig "$TMP/kc" --request-timeout=20s "$@"; }
# waitfor DESCRIPTION SECONDS COMMAND...: retries COMMAND until it succeeds.
waitfor() {
    local what=$1 secs=$2
    shift 2
    for _ in $(seq 1 $((secs * 5))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    fail "$what: not within $secs s"
}

# Version.
out="$(k version 2>&1)" || fail "kubectl version: $out"
grep -q "^Server Version: $WANT_VERSION\$" <<<"$out" || fail "kubectl version: want Server Version $WANT_VERSION, got: $out"
ok "kubectl version: Server Version $WANT_VERSION"

# Namespaces.
out="$(k get ns -o name)" || fail "get ns: $out"
for ns in default kube-system kube-public; do
    grep -qx "namespace/$ns" <<<"$out" || fail "get ns: $ns missing from: $out"
done
ok "get ns lists default, kube-system, kube-public"

# A Deployment makes a ReplicaSet and Pods; the pods stay Pending and the scheduler
# marks them Unschedulable (no nodes).
k create deployment smoke --image=registry.k8s.io/pause:3.10 --replicas=2 >/dev/null || fail "create deployment"
rs_exists() { [[ -n "$(k get rs -l app=smoke -o name)" ]]; }
waitfor "ReplicaSet of deployment smoke" 60 rs_exists
two_pods() { [[ "$(k get pods -l app=smoke -o name | wc -l)" -eq 2 ]]; }
waitfor "2 pods of deployment smoke" 60 two_pods
owner="$(k get pods -l app=smoke -o jsonpath='{range .items[*]}{.metadata.ownerReferences[0].kind}{" "}{end}')"
[[ $owner == "ReplicaSet ReplicaSet " ]] || fail "pods' owner: want ReplicaSet, got '$owner'"
phase="$(k get pods -l app=smoke -o jsonpath='{range .items[*]}{.status.phase}{" "}{end}')"
[[ $phase == "Pending Pending " ]] || fail "pods' phase: want Pending, got '$phase'"
unschedulable() {
    [[ "$(k get pods -l app=smoke -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="PodScheduled")].reason}{" "}{end}')" == "Unschedulable Unschedulable " ]]
}
waitfor "scheduler marking the pods Unschedulable" 60 unschedulable
ok "deployment -> ReplicaSet -> 2 Pods (Pending, Unschedulable)"

# Deleting the Deployment garbage-collects its ReplicaSet and Pods.
k delete deployment smoke --wait=false >/dev/null || fail "delete deployment"
rs_gone() { [[ -z "$(k get rs -l app=smoke -o name)" ]]; }
waitfor "garbage collection of the ReplicaSet" 60 rs_gone
pods_gone() { [[ -z "$(k get pods -l app=smoke -o name)" ]]; }
waitfor "garbage collection of the Pods" 60 pods_gone
ok "deleting the Deployment garbage-collects its ReplicaSet and Pods"

# RBAC.
set +e
out="$(k auth can-i --as=bob get pods 2>&1)"
rc=$?
set -e
[[ $rc -ne 0 && $out == no* ]] || fail "auth can-i --as=bob get pods: want no, got '$out' (exit $rc)"
out="$(k auth can-i get pods)" || fail "auth can-i get pods (admin): $out"
[[ $out == yes ]] || fail "auth can-i get pods (admin): want yes, got '$out'"
ok "RBAC: bob may not get pods, the admin may"

# A token from --token-auth-file authenticates; a wrong one does not.
k config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$TMP/ca.crt"
kt() { "$KUBECTL" --kubeconfig /dev/null --server "$URL" --certificate-authority "$TMP/ca.crt" --request-timeout=20s "$@"; }
out="$(kt --token "$TOKEN" auth whoami -o jsonpath='{.status.userInfo.username}')" || fail "auth whoami with the token: $out"
[[ $out == alice ]] || fail "auth whoami with the token: want alice, got '$out'"
if out="$(kt --token wrong-token get ns 2>&1)"; then fail "a wrong token was accepted"; fi
grep -qi unauthorized <<<"$out" || fail "wrong token: want Unauthorized, got: $out"
if out="$(kt --token "$TOKEN" get pods 2>&1)"; then fail "alice (no RBAC grants) may list pods"; fi
grep -qi forbidden <<<"$out" || fail "alice get pods: want Forbidden, got: $out"
ok "token auth: alice authenticates (and is forbidden by RBAC), a wrong token is Unauthorized"

# A client certificate signed by the CA of --client-ca-file authenticates.
if [[ ${#EXTRA_CA_ARGS[@]} -gt 0 ]]; then
    out="$(kt --client-certificate "$TMP/carol.crt" --client-key "$TMP/carol.key" auth whoami \
        -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}')" || fail "whoami as carol: $out"
    [[ $out == "carol "*smoke-group* ]] || fail "whoami as carol: want carol in smoke-group, got '$out'"
    ok "client certificate from the --client-ca-file CA: carol in smoke-group"
else
    echo "smoke: skipped: --client-ca-file check (no openssl)"
fi

# Service accounts: TokenRequest, the legacy token controller (the generated key),
# and the root CA published into each namespace.
out="$(k create token default)" || fail "create token default: $out"
[[ $out == *.*.* ]] || fail "create token default: not a JWT: $out"
sa_out="$(kt --token "$out" auth whoami -o jsonpath='{.status.userInfo.username}')" || fail "whoami with the service account token: $sa_out"
[[ $sa_out == system:serviceaccount:default:default ]] || fail "service account token user: $sa_out"
k apply -f - >/dev/null <<'YAML' || fail "create service-account-token secret"
apiVersion: v1
kind: Secret
metadata:
  name: smoke-sa-token
  annotations:
    kubernetes.io/service-account.name: default
type: kubernetes.io/service-account-token
YAML
token_filled() { [[ -n "$(k get secret smoke-sa-token -o jsonpath='{.data.token}')" ]]; }
waitfor "the token controller filling secret smoke-sa-token" 60 token_filled
root_ca() { [[ "$(k get configmap kube-root-ca.crt -o jsonpath='{.data.ca\.crt}')" == *"BEGIN CERTIFICATE"* ]]; }
waitfor "configmap kube-root-ca.crt" 60 root_ca
ok "service accounts: TokenRequest, token controller, kube-root-ca.crt"

# A clean stop: SIGTERM, exit 0, temporary data removed.
kill -TERM "$PID"
stopped=
for _ in $(seq 1 600); do
    if ! kill -0 "$PID" 2>/dev/null; then stopped=1; break; fi
    sleep 0.1
done
[[ -n $stopped ]] || fail "realkube still running 60 s after SIGTERM"
set +e
wait "$PID"
rc=$?
set -e
PID=
[[ $rc -eq 0 ]] || fail "realkube exited with status $rc after SIGTERM"
left="$(ls -A "$TMP/tmp")"
[[ -z $left ]] || fail "temporary data left behind: $left"
ok "SIGTERM: exit 0, temporary data removed"

echo "realkube smoke: $passed passed, 0 failed"
