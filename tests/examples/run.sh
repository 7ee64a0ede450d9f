#!/usr/bin/env bash
# Runs the examples of crates/ferrokube/examples against the embedded API server and
# checks their output. Used by CI; also handy locally:
#
#   tests/examples/run.sh                  # build once, run every example
#   tests/examples/run.sh discovery        # only the named example(s)
#   EXAMPLE_TIMEOUT=120 tests/examples/run.sh
#   tests/examples/run.sh --server realkube [NAMES...]
#
# --server embedded (the default): each example starts its own embedded API server
# (`--embedded`, or no kubeconfig at all), whose controllers run the pods.
# --server realkube: every example runs unchanged against one real Kubernetes v1.37.2
# control plane (tests/realkube; $REALKUBE, else built by tests/realkube/build.sh)
# whose pods run on `ferrokube-kubelet --nodes 2` (crates/ferrokube-kubelet), through
# `--kubeconfig` with realkube's admin kubeconfig. The checks are the same; only the
# first line differs (no embedded-server notice). On both, the in-cluster example's
# service account gets the `view` ClusterRole (both enforce RBAC).
#
# Each check prints PASS or FAIL; the script exits non-zero if any check failed. When
# an example fails a check, its whole output is printed once to help the diagnosis.
#
# To add an example: write a `check_<example_name>` function below that calls
# `run_example <example_name> [flags...]` and then `expect` / `expect_fixed` /
# `expect_absent` on its output, and add the name to EXAMPLES.

set -u

cd "$(dirname "$0")/../.." || exit 2

EXAMPLES=(
    create_update_delete_deployment
    in_cluster_client_configuration
    out_of_cluster_client_configuration
    dynamic_create_update_delete_deployment
    discovery
    custom_resource
    workqueue
    controller
    leader_election
    fake_client
)
TIMEOUT="${EXAMPLE_TIMEOUT:-60}"
BIN_DIR="${CARGO_TARGET_DIR:-target}/debug/examples"
OUT_DIR="$(mktemp -d)"
RK_PID=""       # realkube and ferrokube-kubelet (--server realkube)
KL_PID=""
stop_realkube() {
    local pid
    for pid in $KL_PID $RK_PID; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    KL_PID=""
    RK_PID=""
}
trap 'stop_realkube; rm -rf "$OUT_DIR"' EXIT

SERVER=embedded
case "${1:-}" in
    --server) SERVER="${2:-}"; shift 2 || true ;;
    --server=*) SERVER="${1#--server=}"; shift ;;
esac
case "$SERVER" in
    embedded | realkube) ;;
    *) echo "unknown --server ${SERVER:-(none)}: expected embedded or realkube" >&2; exit 2 ;;
esac
RK_DIR="$OUT_DIR/realkube"   # realkube's kubeconfig, token file and logs (--server realkube)

FAILURES=0
CURRENT=""      # the example whose output the expect* functions look at
OUTPUT=""       # the file holding that output (stdout and stderr)
SHOWN=""        # examples whose output was already printed after a failure

pass() { echo "PASS  $CURRENT: $1"; }
fail() {
    echo "FAIL  $CURRENT: $1"
    FAILURES=$((FAILURES + 1))
    case " $SHOWN " in
        *" $CURRENT "*) ;;
        *)
            SHOWN="$SHOWN $CURRENT"
            echo "----- output of $CURRENT -----"
            sed 's/^/    /' "$OUTPUT"
            echo "----- end of output -----"
            ;;
    esac
}

# run_example NAME [ARGS...]: runs target/debug/examples/NAME with ARGS under a
# timeout, keeps its output for the expect* functions and checks that it exits 0.
run_example() {
    CURRENT="$1"
    shift
    OUTPUT="$OUT_DIR/$CURRENT.out"
    timeout "$TIMEOUT" "$BIN_DIR/$CURRENT" "$@" >"$OUTPUT" 2>&1
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "exits 0 ($*)"
    elif [ "$rc" -eq 124 ]; then
        fail "timed out after ${TIMEOUT}s ($*)"
    else
        fail "exits $rc ($*)"
    fi
}

# expect REGEX [DESCRIPTION]: some output line matches the extended regex.
expect() {
    if grep -Eq -- "$1" "$OUTPUT"; then pass "${2:-/$1/}"; else fail "${2:-/$1/} not found"; fi
}

# expect_fixed TEXT: some output line contains TEXT literally.
expect_fixed() {
    if grep -Fq -- "$1" "$OUTPUT"; then pass "\"$1\""; else fail "\"$1\" not found"; fi
}

# expect_absent REGEX DESCRIPTION: no output line matches the extended regex.
expect_absent() {
    if grep -Eq -- "$1" "$OUTPUT"; then fail "$2"; else pass "$2"; fi
}

# expect_before FIRST LATER: the first line containing FIRST comes before the first
# line containing LATER (both literal).
expect_before() {
    local a b
    a=$(grep -nF -- "$1" "$OUTPUT" | head -n 1 | cut -d: -f1)
    b=$(grep -nF -- "$2" "$OUTPUT" | head -n 1 | cut -d: -f1)
    if [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]; then
        pass "\"$1\" before \"$2\""
    else
        fail "\"$1\" not before \"$2\""
    fi
}

# expect_first_line REGEX: the first output line matches (the embedded-server notice).
expect_first_line() {
    if head -n 1 "$OUTPUT" | grep -Eq -- "$1"; then pass "first line /$1/"; else fail "first line is not /$1/"; fi
}

EMBEDDED_NOTICE='^Using an embedded ferrokube API server at https://[^ ]+ \(--embedded given\)$'

# The flags that point an example at the server under test. Against a configured
# cluster the controller examples (workqueue, controller) run until Ctrl-C unless
# given --once, as client-go's do; demo_flags adds it there.
server_flags() {
    if [ "$SERVER" = realkube ]; then
        echo --kubeconfig "$RK_DIR/kubeconfig"
    else
        echo --embedded
    fi
}

demo_flags() {
    if [ "$SERVER" = realkube ]; then
        echo --kubeconfig "$RK_DIR/kubeconfig" --once
    else
        echo --embedded
    fi
}

# expect_server_notice: the embedded server's notice on the first line, or (realkube)
# no such notice anywhere: the example talked to the configured cluster.
expect_server_notice() {
    if [ "$SERVER" = realkube ]; then
        expect_absent '^Using an embedded' 'uses the configured cluster (realkube), not an embedded server'
    else
        expect_first_line "$EMBEDDED_NOTICE"
    fi
}

check_create_update_delete_deployment() {
    if [ "$SERVER" = realkube ]; then
        # The README's main job against a cluster: the kubeconfig in KUBECONFIG.
        KUBECONFIG="$RK_DIR/kubeconfig" run_example create_update_delete_deployment
        expect_server_notice
    else
        # The README's main job, as on a fresh machine: no KUBECONFIG, no ~/.kube/config.
        mkdir -p "$OUT_DIR/empty-home"
        HOME="$OUT_DIR/empty-home" KUBECONFIG="" run_example create_update_delete_deployment
        expect_first_line '^Using an embedded ferrokube API server at https://[^ ]+ \(no kubeconfig found\)$'
    fi
    expect_fixed 'Created deployment "demo-deployment".'
    expect '^   pod demo-deployment-[a-z0-9]+-[a-z0-9]{5}: ContainerCreating$' 'pods seen creating'
    expect '^   pod demo-deployment-[a-z0-9]+-[a-z0-9]{5}: Running \(ready\)$' 'pods seen running'
    expect_fixed 'Deployment "demo-deployment" rolled out: 2 of 2 replicas available.'
    expect_fixed 'Updated deployment...'
    expect_fixed 'Deployment "demo-deployment" rolled out: 1 of 1 replicas available.'
    expect '^ \* demo-deployment \(1 replicas\)$'
    expect '^   pod demo-deployment-[a-z0-9]+-[a-z0-9]{5}: Terminating$' 'pods seen terminating'
    expect '^   pod demo-deployment-[a-z0-9]+-[a-z0-9]{5}: Deleted$' 'pods seen deleted'
    expect '^Deleted deployment\.$'
}

# The static token of the in-cluster example's service account (kube-apiserver's CSV).
in_cluster_tokens() {
    echo 'in-cluster-token,system:serviceaccount:default:demo,uid-demo,"system:serviceaccounts"'
}

check_in_cluster_client_configuration() {
    # A pod's environment, faked outside a pod: the ferrokube-apiserver binary as "the
    # cluster", its service-account files under a root directory given with --root.
    # (realkube: the shared cluster, started with the same token file.)
    local dir="$OUT_DIR/in-cluster" sa server="" port=""
    sa="$dir/root/var/run/secrets/kubernetes.io/serviceaccount"
    mkdir -p "$sa"
    if [ "$SERVER" = realkube ]; then
        cp "$RK_DIR/kubeconfig" "$dir/kubeconfig"
        port=$(sed -n 's#^serving on https://127.0.0.1:\([0-9]*\)$#\1#p' "$RK_DIR/realkube.out")
    else
        in_cluster_tokens >"$dir/tokens.csv"
        "${CARGO_TARGET_DIR:-target}/debug/ferrokube-apiserver" --secure-port 0 \
            --token-auth-file "$dir/tokens.csv" --write-kubeconfig "$dir/kubeconfig" >"$dir/server.out" 2>&1 &
        server=$!
        for _ in $(seq 100); do
            port=$(sed -n 's#^serving on https://127.0.0.1:\([0-9]*\)$#\1#p' "$dir/server.out")
            [ -n "$port" ] && break
            sleep 0.1
        done
    fi
    sed -n 's/^ *certificate-authority-data: //p' "$dir/kubeconfig" | base64 -d >"$sa/ca.crt"
    printf 'in-cluster-token' >"$sa/token"
    printf 'default' >"$sa/namespace"
    if [ -n "$server" ]; then
        # The embedded server enforces RBAC too: grant the account `view`, as for realkube.
        local admin_token
        admin_token=$(sed -n 's/^ *token: //p' "$dir/kubeconfig" | head -1)
        curl -sS --fail --max-time 15 --cacert "$sa/ca.crt" -H "Authorization: Bearer $admin_token" \
            -H 'Content-Type: application/json' -o "$dir/grant.out" \
            -d '{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"in-cluster-demo-view"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"},"subjects":[{"kind":"ServiceAccount","name":"demo","namespace":"default"}]}' \
            "https://127.0.0.1:$port/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" 2>>"$dir/grant.out" ||
            echo "granting view to default:demo failed: $(cat "$dir/grant.out")"
    fi
    KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$port" \
        run_example in_cluster_client_configuration --root "$dir/root" --once
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null
        wait "$server" 2>/dev/null
    fi
    expect '^There are [0-9]+ pods in the cluster$'
    expect_fixed 'Pod example-xxxxx in namespace default not found'
}

check_out_of_cluster_client_configuration() {
    run_example out_of_cluster_client_configuration $(server_flags) --once
    expect_server_notice
    expect '^There are [0-9]+ pods in the cluster$'
    expect_fixed 'Pod example-xxxxx in namespace default not found'
}

check_dynamic_create_update_delete_deployment() {
    run_example dynamic_create_update_delete_deployment $(server_flags)
    expect_server_notice
    expect_fixed 'Creating deployment...'
    expect_fixed 'Created deployment "demo-deployment".'
    expect_fixed 'Updating deployment...'
    expect_fixed 'Updated deployment...'
    expect_fixed 'Listing deployments in namespace "default":'
    expect '^ \* demo-deployment \(1 replicas\)$'
    expect_fixed 'Deleting deployment...'
    expect '^Deleted deployment\.$'
}

check_discovery() {
    run_example discovery $(server_flags)
    expect_server_notice
    expect '^Server version: v[0-9]+\.[0-9]+' 'server version printed'
    expect '^NAME +SHORTNAMES +APIVERSION +NAMESPACED +KIND$' 'table header'
    expect '^bindings +v1 +true +Binding$'
    expect '^pods +po +v1 +true +Pod$'
    expect '^namespaces +ns +v1 +false +Namespace$'
    expect '^deployments +deploy +apps/v1 +true +Deployment$'
    expect '^customresourcedefinitions +crd,crds +apiextensions\.k8s\.io/v1 +false +CustomResourceDefinition$'
    expect_absent '^[a-z0-9.-]+/[a-z]' 'no subresources (NAME with a slash)'
    # Rows sorted as kubectl sorts them: by group (core "" first), then by name.
    local keys="$OUT_DIR/discovery.keys"
    awk '/^NAME +SHORTNAMES/ { table = 1; next }
         table { v = $(NF-2); g = (index(v, "/") ? substr(v, 1, index(v, "/") - 1) : ""); print g "\t" $1 }' \
        "$OUTPUT" >"$keys"
    if [ -s "$keys" ] && LC_ALL=C sort -c -t "$(printf '\t')" -k1,1 -k2,2 "$keys" 2>/dev/null; then
        pass "rows sorted by group, then name ($(wc -l <"$keys") rows)"
    else
        fail "rows not sorted by group, then name"
    fi
}

check_custom_resource() {
    run_example custom_resource $(server_flags)
    expect_server_notice
    expect_fixed 'Creating CustomResourceDefinition "crontabs.stable.example.com"...'
    expect_fixed 'CustomResourceDefinition "crontabs.stable.example.com" is established.'
    expect_fixed 'Created CronTab "my-new-cron-object".'
    expect_fixed 'Created CronTab "my-second-cron-object".'
    expect '^ \* my-new-cron-object \(cronSpec "\* \* \* \* \*/5", .*replicas 1\)$' \
        'my-new-cron-object listed with replicas 1 (defaulted)'
    expect '^ \* my-second-cron-object \(cronSpec "0 3 \* \* \*", .*replicas 1\)$' \
        'my-second-cron-object listed with replicas 1 (defaulted)'
    expect '^Watch event: MODIFIED my-new-cron-object .*replicas 3\)$' 'watch saw the update'
    expect '^Watch event: DELETED my-second-cron-object ' 'watch saw the delete'
    expect_fixed 'Deleted CustomResourceDefinition "crontabs.stable.example.com".'
}

check_workqueue() {
    run_example workqueue $(demo_flags)
    expect_server_notice
    expect_fixed 'Starting Pod controller'
    # The pod the cache was warmed up with is not on the server: the first list drops it.
    expect_fixed 'Pod default/mypod does not exist anymore'
    expect_fixed 'Sync/Add/Update for Pod workqueue-demo'
    expect_fixed 'Pod default/workqueue-demo does not exist anymore'
    expect_before 'Sync/Add/Update for Pod workqueue-demo' 'Pod default/workqueue-demo does not exist anymore'
    expect_absent '^Error syncing|^Dropping pod' 'no sync errors'
    expect '^Stopping Pod controller$'
}

check_controller() {
    run_example controller $(demo_flags)
    expect_server_notice
    expect_fixed 'Installed CustomResourceDefinition "echoes.demo.ferrokube.dev".'
    expect_fixed 'Starting controller "echo-operator"'
    expect_fixed '[echo-operator] Created ConfigMap "echo-hello" for Echo "hello"'
    expect '^\[echo-operator\] Echo "hello" status: Ready \(observed generation 1\)$' 'status Ready for generation 1'
    expect_fixed 'Echo "hello" is Ready: ConfigMap "echo-hello" says "Hello, world!"'
    expect_fixed '[echo-operator] Updated ConfigMap "echo-hello" for Echo "hello"'
    expect '^\[echo-operator\] Echo "hello" status: Ready \(observed generation 2\)$' 'status Ready for generation 2'
    expect_fixed 'Echo "hello" is Ready: ConfigMap "echo-hello" says "Hello again!"'
    expect_fixed 'The controller recreated ConfigMap "echo-hello"'
    expect_fixed 'Echo "hello" has finalizers ["demo.ferrokube.dev/cleanup"]'
    expect_fixed '[echo-operator] Cleaning up Echo "hello": deleting ConfigMap "echo-hello"'
    expect_before '[echo-operator] Cleaning up Echo "hello"' 'Echo "hello" is gone'
    expect_fixed 'ConfigMap "echo-hello" is gone'
    expect_before 'Stopping the controller' 'Controller stopped.'
    expect_fixed 'Deleted CustomResourceDefinition "echoes.demo.ferrokube.dev".'
}

check_leader_election() {
    # One process, its own embedded server: it leads, then (--once) releases and exits.
    run_example leader_election $(server_flags) --id solo --lease-lock-name example --lease-lock-namespace default --once
    expect_server_notice
    expect_fixed 'new leader elected: solo'
    expect_fixed 'solo: I am the leader'
    expect_fixed 'leader lost: solo'
    leader_election_processes
}

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# le_wait_leader IDS...: waits (up to 40 s) until one of the processes IDS prints
# "ID: I am the leader"; prints that ID. Returns 1 on timeout.
le_wait_leader() {
    local deadline=$(($(now_ms) + 40000)) id
    while [ "$(now_ms)" -lt "$deadline" ]; do
        for id in "$@"; do
            if grep -Fqx "$id: I am the leader" "$LE_DIR/$id.out"; then
                echo "$id"
                return 0
            fi
        done
        sleep 0.02
    done
    return 1
}


# Gathers the processes' output into $OUTPUT, for the failure report.
le_collect() {
    local f
    : >"$OUTPUT"
    for f in "$LE_DIR"/server.out "$LE_DIR"/a.out "$LE_DIR"/b.out "$LE_DIR"/c.out; do
        [ -f "$f" ] && { echo "== $(basename "$f")"; cat "$f"; } >>"$OUTPUT"
    done
}

leader_election_processes() {
    # Three example processes against one ferrokube-apiserver process, as three
    # replicas of a controller against one cluster. Timings are the core components'
    # (lease 15 s, renew deadline 10 s, retry period 2 s).
    CURRENT="leader_election (3 processes)"
    LE_DIR="$OUT_DIR/leader-election"
    OUTPUT="$LE_DIR/all.out"
    mkdir -p "$LE_DIR"
    local server="" id
    if [ "$SERVER" = realkube ]; then
        cp "$RK_DIR/kubeconfig" "$LE_DIR/kubeconfig"
        : >"$LE_DIR/server.out"
    else
        "${CARGO_TARGET_DIR:-target}/debug/ferrokube-apiserver" --secure-port 0 --controllers=false \
            --write-kubeconfig "$LE_DIR/kubeconfig" >"$LE_DIR/server.out" 2>&1 &
        server=$!
        for _ in $(seq 100); do
            grep -q '^serving on https://' "$LE_DIR/server.out" && break
            sleep 0.1
        done
    fi
    declare -A pid
    for id in a b c; do
        "$BIN_DIR/leader_election" --kubeconfig "$LE_DIR/kubeconfig" --id "$id" \
            --lease-lock-name example --lease-lock-namespace default >"$LE_DIR/$id.out" 2>&1 &
        pid[$id]=$!
    done

    local first second third rest t0 dt
    if first=$(le_wait_leader a b c); then
        pass "one process leads: $first"
    else
        le_collect; fail "no process became the leader"
        kill "${pid[@]}" "$server" 2>/dev/null; wait 2>/dev/null; return
    fi
    rest=$(printf '%s\n' a b c | grep -vx "$first" | tr '\n' ' ')
    sleep 1
    for id in $rest; do
        if grep -Fqx "new leader elected: $first" "$LE_DIR/$id.out" && ! grep -Fq ': I am the leader' "$LE_DIR/$id.out"; then
            pass "$id follows $first"
        else
            le_collect; fail "$id does not report $first as the leader, or leads as well"
        fi
    done

    # SIGTERM: the leader releases the lease; another takes over at once.
    t0=$(now_ms)
    kill -TERM "${pid[$first]}"
    # shellcheck disable=SC2086
    if second=$(le_wait_leader $rest); then
        dt=$(($(now_ms) - t0))
        echo "      handover after SIGTERM: ${dt} ms"
        if [ "$dt" -le 3000 ]; then pass "$second took over ${dt} ms after SIGTERM of $first (<= 3 s)"
        else le_collect; fail "$second took over only ${dt} ms after SIGTERM of $first (> 3 s)"; fi
    else
        le_collect; fail "nobody took over after SIGTERM of $first"
    fi
    if wait "${pid[$first]}"; then pass "$first exits 0 after SIGTERM"; else le_collect; fail "$first exits non-zero after SIGTERM"; fi
    if grep -Fqx "leader lost: $first" "$LE_DIR/$first.out"; then pass "$first reports: leader lost"; else le_collect; fail "$first does not report losing the lead"; fi

    # SIGKILL: no release; another takes over when the lease expires (15 s after the
    # last renewal), within lease duration + retry period of the kill.
    third=$(printf '%s\n' $rest | grep -vx "$second")
    t0=$(now_ms)
    kill -KILL "${pid[$second]}"
    wait "${pid[$second]}" 2>/dev/null
    if le_wait_leader "$third" >/dev/null; then
        dt=$(($(now_ms) - t0))
        echo "      failover after SIGKILL: ${dt} ms"
        if [ "$dt" -le 17000 ]; then pass "$third took over ${dt} ms after SIGKILL of $second (<= 15 s + 2 s)"
        else le_collect; fail "$third took over only ${dt} ms after SIGKILL of $second (> 17 s)"; fi
    else
        le_collect; fail "$third did not take over after SIGKILL of $second"
    fi
    if grep -Fqx "new leader elected: $second" "$LE_DIR/$third.out" && grep -Fqx "new leader elected: $third" "$LE_DIR/$third.out"; then
        pass "$third reported every change ($first, $second, $third)"
    else
        le_collect; fail "$third did not report every change of leader"
    fi
    local leaders
    leaders=$(grep -lFx -e "a: I am the leader" -e "b: I am the leader" -e "c: I am the leader" "$LE_DIR"/[abc].out | wc -l)
    if [ "$leaders" -eq 3 ] && [ "$(cat "$LE_DIR"/[abc].out | grep -c ': I am the leader$')" -eq 3 ]; then
        pass "each process led once, in turn"
    else
        le_collect; fail "the processes did not each lead exactly once"
    fi

    kill -TERM "${pid[$third]}"
    if wait "${pid[$third]}"; then pass "$third exits 0 after SIGTERM"; else le_collect; fail "$third exits non-zero"; fi
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
}

check_fake_client() {
    run_example fake_client $(server_flags)
    expect_server_notice
    expect '^Informer cache synced \([0-9]+ pods in default\)$'
    expect_fixed 'Created pod fake-client-demo'
    expect '^informer saw pod fake-client-demo in [0-9]+ ms$'
    expect_before 'Created pod fake-client-demo' 'informer saw pod fake-client-demo'
    expect_fixed 'Deleted pod fake-client-demo'
}

# --- main ---------------------------------------------------------------------------

if [ "$#" -gt 0 ]; then
    EXAMPLES=("$@")
fi
for name in "${EXAMPLES[@]}"; do
    if ! declare -F "check_$name" >/dev/null; then
        echo "unknown example $name (no check_$name function in $0)" >&2
        exit 2
    fi
done

echo "Building the examples..."
if ! cargo build --quiet --examples --bin ferrokube-apiserver; then
    echo "FAIL  build: cargo build --examples --bin ferrokube-apiserver"
    exit 1
fi

# start_realkube: realkube (with the in-cluster example's token) and
# `ferrokube-kubelet --nodes 2`, both ready; the in-cluster example's service account
# may read the cluster (ClusterRole view).
start_realkube() {
    CURRENT="realkube"
    OUTPUT="$RK_DIR/all.out"
    mkdir -p "$RK_DIR"
    local realkube="${REALKUBE:-}" kubectl="${KUBECTL:-target/go/bin/kubectl-v1.37.2}"
    if [ -z "$realkube" ]; then
        realkube="$(tests/realkube/build.sh)" || { echo "FAIL  build: tests/realkube/build.sh"; exit 1; }
    fi
    if ! cargo build --quiet --bin ferrokube-kubelet; then
        echo "FAIL  build: cargo build --bin ferrokube-kubelet"
        exit 1
    fi
    [ -x "$kubectl" ] || kubectl="$(tests/compat/kubectl/build.sh)" || { echo "FAIL  build: kubectl"; exit 1; }
    in_cluster_tokens >"$RK_DIR/tokens.csv"
    "$realkube" --secure-port 0 --write-kubeconfig "$RK_DIR/kubeconfig" --token-auth-file "$RK_DIR/tokens.csv" \
        >"$RK_DIR/realkube.out" 2>"$RK_DIR/realkube.err" &
    RK_PID=$!
    for _ in $(seq 1800); do
        grep -q '^serving on https://' "$RK_DIR/realkube.out" && break
        kill -0 "$RK_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q '^serving on https://' "$RK_DIR/realkube.out"; then
        cat "$RK_DIR/realkube.err" >"$OUTPUT"; fail "realkube did not start"; exit 1
    fi
    "${CARGO_TARGET_DIR:-target}/debug/ferrokube-kubelet" --kubeconfig "$RK_DIR/kubeconfig" --nodes 2 \
        >"$RK_DIR/kubelet.out" 2>"$RK_DIR/kubelet.err" &
    KL_PID=$!
    for _ in $(seq 600); do
        grep -q '^nodes ready: ' "$RK_DIR/kubelet.out" && break
        kill -0 "$KL_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q '^nodes ready: ' "$RK_DIR/kubelet.out"; then
        cat "$RK_DIR/kubelet.err" >"$OUTPUT"; fail "ferrokube-kubelet's nodes not ready"; exit 1
    fi
    if ! "$kubectl" --kubeconfig "$RK_DIR/kubeconfig" create clusterrolebinding in-cluster-demo-view \
        --clusterrole=view --serviceaccount=default:demo >"$OUTPUT" 2>&1; then
        fail "granting view to default:demo"; exit 1
    fi
    pass "$(sed -n 's/^serving on //p' "$RK_DIR/realkube.out"), $(cat "$RK_DIR/kubelet.out")"
}

if [ "$SERVER" = realkube ]; then
    start_realkube
fi

for name in "${EXAMPLES[@]}"; do
    "check_$name"
done

if [ "$SERVER" = realkube ]; then
    CURRENT="ferrokube-kubelet"
    OUTPUT="$RK_DIR/kubelet.err"
    expect_absent 'WARN|ERROR' 'no warnings or errors from ferrokube-kubelet'
    stop_realkube
fi

if [ "$FAILURES" -gt 0 ]; then
    echo "$FAILURES check(s) failed"
    exit 1
fi
echo "All checks passed"
