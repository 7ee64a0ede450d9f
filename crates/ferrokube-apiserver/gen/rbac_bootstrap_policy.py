#!/usr/bin/env python3
"""Regenerate src/auth/rbac/bootstrap_policy.json from a running reference cluster.

kube-apiserver creates its bootstrap RBAC policy (ClusterRoles, ClusterRoleBindings,
and the Roles and RoleBindings of kube-system and kube-public) when it first starts.
This script reads that policy from a fresh realkube (tests/realkube, Kubernetes
v1.37.2) with kubectl and writes it as data, one object per line:

    tests/realkube/start.sh --secure-port 0 --write-kubeconfig /tmp/kc &
    python3 crates/ferrokube-apiserver/gen/rbac_bootstrap_policy.py \
        --kubeconfig /tmp/kc --kubectl target/go/bin/kubectl-v1.37.2 \
        > crates/ferrokube-apiserver/src/auth/rbac/bootstrap_policy.json

Only objects labelled kubernetes.io/bootstrapping=rbac-defaults are kept. Metadata is
reduced to name, namespace and the labels that matter (the bootstrapping label and the
autoupdate annotation are added back by the server). Aggregated ClusterRoles keep their
aggregationRule with no rules: the server's aggregation controller fills them.
"""

import argparse
import json
import subprocess
import sys

BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"


def get(kubectl, kubeconfig, kind, all_namespaces):
    cmd = [kubectl, "--kubeconfig", kubeconfig, "get", kind, "-o", "json"]
    if all_namespaces:
        cmd.append("-A")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    items = json.loads(out)["items"]
    return [i for i in items if i["metadata"].get("labels", {}).get(BOOTSTRAP_LABEL) == "rbac-defaults"]


def slim(item):
    meta = item["metadata"]
    out = {}
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    out["name"] = meta["name"]
    labels = {k: v for k, v in meta.get("labels", {}).items() if k != BOOTSTRAP_LABEL}
    if labels:
        out["labels"] = labels
    if "aggregationRule" in item:
        out["aggregationRule"] = item["aggregationRule"]
        out["rules"] = []
    elif "rules" in item:
        out["rules"] = item["rules"] or []
    if "roleRef" in item:
        out["roleRef"] = {"kind": item["roleRef"]["kind"], "name": item["roleRef"]["name"]}
    if "subjects" in item:
        out["subjects"] = item["subjects"]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--kubectl", default="kubectl")
    a = p.parse_args()
    sections = [
        ("clusterRoles", "clusterroles", False),
        ("clusterRoleBindings", "clusterrolebindings", False),
        ("roles", "roles", True),
        ("roleBindings", "rolebindings", True),
    ]
    out = sys.stdout
    out.write("{\n")
    for n, (key, kind, namespaced) in enumerate(sections):
        items = [slim(i) for i in get(a.kubectl, a.kubeconfig, kind, namespaced)]
        out.write(f'"{key}": [\n')
        out.write(",\n".join(json.dumps(i, separators=(",", ":"), sort_keys=False) for i in items))
        out.write("\n]" + (",\n" if n + 1 < len(sections) else "\n"))
    out.write("}\n")


if __name__ == "__main__":
    main()
