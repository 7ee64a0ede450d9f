#!/usr/bin/env bash
# realkube + ferrokube-kubelet: a real Kubernetes v1.37.2 control plane with simulated
# nodes rolls a Deployment out end to end. Starts realkube, then
# `ferrokube-kubelet --nodes 3`, and checks with kubectl: the nodes are Ready with
# addresses, capacity and nodeInfo; their Leases in kube-node-lease are held and
# renewed; a 3-replica Deployment rolls out (kube-scheduler binds, the simulated
# kubelet runs: pods Running and Ready with distinct IPs from their node's podCIDR,
# ReplicaSet and Deployment available, kubelet Events); a scale-down deletes pods
# gracefully; a pod with a finalizer waits for it; deleting the Deployment empties the
# namespace; after the kubelet is killed the control plane marks its nodes NotReady, and
# a restarted one makes them and their pods Ready again; SIGTERM stops the kubelet with
# status 0.
#
#   tests/realkube/kubelet-smoke.sh
#
# realkube: $REALKUBE, else built by build.sh. kubectl: $KUBECTL, else
# target/go/bin/kubectl-v1.37.2, else built by tests/compat/kubectl/build.sh.
# ferrokube-kubelet: $FERROKUBE_KUBELET, else built with cargo. Prints the rollout time;
# exits non-zero with a message on the first failure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WANT_VERSION=v1.37.2
NODES=3

passed=0
fail() {
    echo "kubelet-smoke: FAIL: $*" >&2
    for f in realkube.err kubelet.err kubelet2.err; do
        if [[ -n ${TMP:-} && -s $TMP/$f ]]; then
            echo "--- $f (last 30 lines) ---" >&2
            tail -n 30 "$TMP/$f" >&2
        fi
    done
    echo "kubelet smoke: $passed passed, 1 failed"
    exit 1
}
ok() {
    passed=$((passed + 1))
    echo "kubelet-smoke: ok: $*"
}
now_ms() { date +%s%3N; }

BIN="${REALKUBE:-}"
[[ -n $BIN ]] || BIN="$("$HERE/build.sh")" || fail "building realkube failed"
if [[ -z ${KUBECTL:-} ]]; then
    KUBECTL="$ROOT/target/go/bin/kubectl-$WANT_VERSION"
    [[ -x $KUBECTL ]] || KUBECTL="$("$ROOT/tests/compat/kubectl/build.sh")" || fail "building kubectl failed"
fi
KUBELET="${FERROKUBE_KUBELET:-}"
if [[ -z $KUBELET ]]; then
    (cd "$ROOT" && cargo build --quiet --bin ferrokube-kubelet) || fail "cargo build --bin ferrokube-kubelet failed"
    KUBELET="${CARGO_TARGET_DIR:-$ROOT/target}/debug/ferrokube-kubelet"
fi

TMP="$(mktemp -d)"
RK_PID=
KL_PID=
cleanup() {
    for pid in $KL_PID $RK_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

# wait_line FILE PREFIX PID WHAT: waits (up to 3 minutes) for a line of FILE starting
# with PREFIX while PID lives; prints the line.
wait_line() {
    local line
    for _ in $(seq 1 1800); do
        if line="$(grep -m 1 -- "^$2" "$1" 2>/dev/null)"; then
            echo "$line"
            return 0
        fi
        kill -0 "$3" 2>/dev/null || fail "$4 exited before it was ready"
        sleep 0.1
    done
    fail "$4 not ready after 3 minutes"
}

"$BIN" --secure-port 0 --write-kubeconfig "$TMP/kc" >"$TMP/realkube.out" 2>"$TMP/realkube.err" &
RK_PID=$!
wait_line "$TMP/realkube.out" "serving on https://" "$RK_PID" realkube >/dev/null
ok "realkube is serving"
k() { "$KUBECTL" --kubeconfig "$TMP/kc" "$@"; }

t0=$(now_ms)
"$KUBELET" --kubeconfig "$TMP/kc" --nodes "$NODES" --node-name-prefix smoke-node- \
    >"$TMP/kubelet.out" 2>"$TMP/kubelet.err" &
KL_PID=$!
line="$(wait_line "$TMP/kubelet.out" "nodes ready: " "$KL_PID" ferrokube-kubelet)"
[[ $line == "nodes ready: smoke-node-0 smoke-node-1 smoke-node-2" ]] || fail "unexpected ready line: $line"
ok "ferrokube-kubelet: $NODES nodes ready after $(($(now_ms) - t0)) ms"

# Nodes: Ready, addresses, capacity, nodeInfo, podCIDR.
out="$(k get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.status.addresses[?(@.type=="InternalIP")].address} {.status.allocatable.pods} {.status.nodeInfo.kubeletVersion} {.spec.podCIDR}{"\n"}{end}')"
expected="smoke-node-0 True 172.18.0.2 110 v1.37.0 10.244.0.0/24
smoke-node-1 True 172.18.0.3 110 v1.37.0 10.244.1.0/24
smoke-node-2 True 172.18.0.4 110 v1.37.0 10.244.2.0/24"
[[ $out == "$expected" ]] || fail "nodes: got
$out
want
$expected"
ok "nodes Ready with InternalIP, allocatable, nodeInfo and podCIDR"

# Leases: held by the node, 40 s, owned by the Node, renewed every 10 s.
out="$(k -n kube-node-lease get lease smoke-node-0 -o jsonpath='{.spec.holderIdentity} {.spec.leaseDurationSeconds} {.metadata.ownerReferences[0].kind}')"
[[ $out == "smoke-node-0 40 Node" ]] || fail "lease smoke-node-0: $out"
renew1="$(k -n kube-node-lease get lease smoke-node-0 -o jsonpath='{.spec.renewTime}')"
ok "lease kube-node-lease/smoke-node-0: holder, 40 s, owner Node (renewTime $renew1)"

# A Deployment rolls out: kube-scheduler binds, the simulated kubelet runs the pods.
k create deployment web --image=nginx:1.27 --replicas=3 >/dev/null || fail "kubectl create deployment"
t0=$(now_ms)
k rollout status deployment/web --timeout=120s >/dev/null || fail "the Deployment did not roll out in 120 s"
rollout_ms=$(($(now_ms) - t0))
ok "3-replica Deployment rolled out in ${rollout_ms} ms (pod startup delay 1 s)"
echo "rollout: ${rollout_ms} ms for 3 replicas on $NODES simulated nodes"

out="$(k get deploy web -o jsonpath='{.status.availableReplicas} {.status.readyReplicas} {.status.conditions[?(@.type=="Available")].status}')"
[[ $out == "3 3 True" ]] || fail "deployment status: $out"
out="$(k get rs -l app=web -o jsonpath='{.items[0].status.readyReplicas} {.items[0].status.availableReplicas}')"
[[ $out == "3 3" ]] || fail "replicaset status: $out"
ok "ReplicaSet and Deployment report 3 available, Available=True"

pods="$(k get pods -l app=web -o jsonpath='{range .items[*]}{.status.phase} {.status.conditions[?(@.type=="Ready")].status} {.spec.nodeName} {.status.hostIP} {.status.podIP} {.status.containerStatuses[0].state.running.startedAt}{"\n"}{end}')"
[[ $(grep -c '^Running True smoke-node-[0-2] 172\.18\.0\.[2-4] 10\.244\.[0-2]\.[0-9]* 20' <<<"$pods") == 3 ]] ||
    fail "pods not all Running/Ready with host and pod IPs:
$pods"
[[ $(awk '{print $5}' <<<"$pods" | sort -u | wc -l) == 3 ]] || fail "pod IPs not distinct: $pods"
while read -r _ _ node host ip _; do
    n="${node#smoke-node-}"
    [[ $host == "172.18.0.$((n + 2))" && $ip == 10.244.$n.* ]] || fail "pod on $node has hostIP $host, podIP $ip"
done <<<"$pods"
ok "pods Running and Ready, podIP in their node's podCIDR, hostIP their node's address"

reasons="$(k get events --field-selector involvedObject.kind=Pod -o jsonpath='{range .items[*]}{.reportingComponent}/{.reason}{"\n"}{end}' | sort -u | tr '\n' ' ')"
for want in default-scheduler/Scheduled kubelet/Pulled kubelet/Created kubelet/Started; do
    [[ " $reasons" == *" $want "* ]] || fail "no $want event (events: $reasons)"
done
ok "events: Scheduled (kube-scheduler), Pulled, Created, Started (kubelet)"

# Graceful deletion: scale to 1; two pods go Terminating, then away.
k scale deployment web --replicas=1 >/dev/null
t0=$(now_ms)
for _ in $(seq 1 300); do
    [[ $(k get pods -l app=web --no-headers 2>/dev/null | wc -l) == 1 ]] && break
    sleep 0.1
done
[[ $(k get pods -l app=web --no-headers | wc -l) == 1 ]] || fail "scale-down: pods left: $(k get pods -l app=web --no-headers)"
ok "scale to 1: two pods terminated and deleted in $(($(now_ms) - t0)) ms"
reasons="$(k get events --field-selector reason=Killing -o jsonpath='{range .items[*]}{.source.component}{"\n"}{end}' | sort -u)"
[[ $reasons == kubelet ]] || fail "no Killing event from the kubelet"
ok "Killing events recorded"

# A finalizer holds a deleted pod until it is removed (the kubelet's final delete does
# not force it away).
k run held --image=busybox --restart=Never --command -- sleep 3600 >/dev/null
k wait --for=condition=Ready pod/held --timeout=60s >/dev/null || fail "pod held not Ready"
k patch pod held --type=merge -p '{"metadata":{"finalizers":["smoke.ferrokube.dev/hold"]}}' >/dev/null
k delete pod held --wait=false >/dev/null
for _ in $(seq 1 100); do
    [[ $(k get pod held -o jsonpath='{.status.phase}') == Succeeded ]] && break
    sleep 0.1
done
[[ $(k get pod held -o jsonpath='{.status.phase}') == Succeeded ]] || fail "pod held not stopped: $(k get pod held -o yaml)"
ok "deleted pod with a finalizer: containers stopped (Succeeded), object kept"
k patch pod held --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]' >/dev/null
k wait --for=delete pod/held --timeout=30s >/dev/null || fail "pod held not gone after its finalizer was removed"
ok "finalizer removed: pod gone"

# Deleting the Deployment empties the namespace (garbage collector + kubelet).
k delete deployment web >/dev/null
k wait --for=delete pod -l app=web --timeout=60s >/dev/null || fail "pods of web left after its deletion"
ok "Deployment deleted: its pods are gone"

# The Lease was renewed meanwhile (the checks above take more than 10 s on this path
# only sometimes; wait for a renewal explicitly, up to 15 s).
for _ in $(seq 1 150); do
    [[ $(k -n kube-node-lease get lease smoke-node-0 -o jsonpath='{.spec.renewTime}') != "$renew1" ]] && break
    sleep 0.1
done
renew2="$(k -n kube-node-lease get lease smoke-node-0 -o jsonpath='{.spec.renewTime}')"
[[ $renew2 != "$renew1" ]] || fail "lease not renewed within 15 s ($renew1)"
ok "lease renewed ($renew1 -> $renew2)"

# An outage (SMOKE_OUTAGE=0 skips it, about 1.5 minutes): the kubelet dies, its Leases
# expire, kube-controller-manager's node lifecycle controller marks the nodes NotReady
# (taint unreachable) and their pods not Ready; a restarted kubelet brings both back.
if [[ ${SMOKE_OUTAGE:-1} != 0 ]]; then
    k create deployment steady --image=nginx:1.27 --replicas=2 >/dev/null
    k rollout status deployment/steady --timeout=60s >/dev/null || fail "steady did not roll out"
    kill -KILL "$KL_PID"
    wait "$KL_PID" 2>/dev/null || true
    KL_PID=
    t0=$(now_ms)
    ready() { k get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'; }
    for _ in $(seq 1 1200); do
        [[ $(ready smoke-node-0) != True ]] && break
        sleep 0.1
    done
    [[ $(ready smoke-node-0) != True ]] || fail "smoke-node-0 still Ready 120 s after the kubelet died"
    ok "kubelet killed: node lifecycle marked smoke-node-0 $(ready smoke-node-0) after $(($(now_ms) - t0)) ms"
    pods_ready() {
        k get pods -l app=steady -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
            sort -u | tr '\n' ' '
    }
    for _ in $(seq 1 300); do
        [[ $(pods_ready) == *False* ]] && break
        sleep 0.1
    done
    [[ $(pods_ready) == *False* ]] || fail "pods of steady still Ready on NotReady nodes: $(pods_ready)"
    ok "their pods marked not Ready"
    "$KUBELET" --kubeconfig "$TMP/kc" --nodes "$NODES" --node-name-prefix smoke-node- \
        >"$TMP/kubelet2.out" 2>"$TMP/kubelet2.err" &
    KL_PID=$!
    t0=$(now_ms)
    wait_line "$TMP/kubelet2.out" "nodes ready: " "$KL_PID" "ferrokube-kubelet (restarted)" >/dev/null
    k wait --for=condition=Ready pod -l app=steady --timeout=60s >/dev/null || fail "steady's pods not Ready again"
    for _ in $(seq 1 300); do
        [[ -z $(k get node smoke-node-0 -o jsonpath='{.spec.taints}') ]] && break
        sleep 0.1
    done
    [[ -z $(k get node smoke-node-0 -o jsonpath='{.spec.taints}') ]] ||
        fail "smoke-node-0 keeps taints: $(k get node smoke-node-0 -o jsonpath='{.spec.taints}')"
    ok "kubelet restarted: nodes Ready, untainted, pods Ready again after $(($(now_ms) - t0)) ms"
fi

# SIGTERM: the kubelet stops with status 0.
kill -TERM "$KL_PID"
t0=$(now_ms)
rc=0
wait "$KL_PID" || rc=$?
KL_PID=
[[ $rc == 0 ]] || fail "ferrokube-kubelet exited $rc after SIGTERM"
ok "SIGTERM: ferrokube-kubelet exits 0 after $(($(now_ms) - t0)) ms"
if cat "$TMP"/kubelet*.err | grep -qiE 'warn|error'; then
    fail "ferrokube-kubelet logged warnings or errors: $(cat "$TMP"/kubelet*.err | grep -iE 'warn|error' | head -5)"
fi
ok "no warnings or errors from ferrokube-kubelet"

echo "kubelet smoke: $passed passed, 0 failed"
