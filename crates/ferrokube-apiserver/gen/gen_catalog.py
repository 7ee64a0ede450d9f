#!/usr/bin/env python3
"""Generate crates/ferrokube-apiserver/src/catalog/generated.rs from k8s-openapi's sources.

Usage: python3 crates/ferrokube-apiserver/gen/gen_catalog.py [--check] [--k8s-openapi DIR]
  --check            write nothing; exit 1 if generated.rs is not what the generator
                     would write (tests/generators.sh runs it in CI)
  --k8s-openapi DIR  read this k8s-openapi source tree instead of the pinned one

The types are read from module v1_37 of the exact k8s-openapi release the workspace's
Cargo.lock pins, located with `cargo metadata` (gen/cargo_sources.py at the repository
root). Each type there with
`impl crate::Resource` names its group, version, kind, plural (URL_PATH_SEGMENT) and
scope; `impl crate::ListableResource` means it is listed and watched; a `status` field
means the status subresource is served. Facts the types do not carry (short names,
categories, scale subresources, create-only verbs) come from the FACTS tables below.
"""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ next to the sources
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "gen"))
import cargo_sources  # noqa: E402  (locates k8s-openapi through cargo metadata)
import generator_cli  # noqa: E402  (argument parsing, write or --check)

OUT = os.path.join(HERE, "..", "src", "catalog", "generated.rs")
K8S_VERSION = "v1_37"

# ---- hand-written facts merged into what k8s-openapi says ---------------------------

# plural (group-independent, as kube's short names are) -> short names.
SHORT_NAMES = {
    ("", "pods"): ["po"], ("", "services"): ["svc"], ("apps", "deployments"): ["deploy"],
    ("", "namespaces"): ["ns"], ("", "nodes"): ["no"], ("", "configmaps"): ["cm"],
    ("apps", "replicasets"): ["rs"], ("apps", "statefulsets"): ["sts"],
    ("apps", "daemonsets"): ["ds"], ("batch", "cronjobs"): ["cj"],
    ("autoscaling", "horizontalpodautoscalers"): ["hpa"],
    ("", "persistentvolumeclaims"): ["pvc"], ("", "persistentvolumes"): ["pv"],
    ("", "serviceaccounts"): ["sa"], ("", "endpoints"): ["ep"], ("", "events"): ["ev"],
    ("events.k8s.io", "events"): ["ev"],
    ("networking.k8s.io", "ingresses"): ["ing"], ("networking.k8s.io", "networkpolicies"): ["netpol"],
    ("policy", "poddisruptionbudgets"): ["pdb"],
    ("apiextensions.k8s.io", "customresourcedefinitions"): ["crd", "crds"],
    ("certificates.k8s.io", "certificatesigningrequests"): ["csr"],
    ("", "limitranges"): ["limits"], ("", "resourcequotas"): ["quota"],
    ("", "replicationcontrollers"): ["rc"], ("storage.k8s.io", "storageclasses"): ["sc"],
    ("scheduling.k8s.io", "priorityclasses"): ["pc"], ("", "componentstatuses"): ["cs"],
    ("networking.k8s.io", "ipaddresses"): ["ip"],
    ("storage.k8s.io", "volumeattributesclasses"): ["vac"],
}

# (group, plural) -> categories.
ALL = ["all"]
CATEGORIES = {
    ("", "pods"): ALL, ("", "services"): ALL, ("apps", "deployments"): ALL,
    ("apps", "replicasets"): ALL, ("apps", "statefulsets"): ALL, ("apps", "daemonsets"): ALL,
    ("batch", "jobs"): ALL, ("batch", "cronjobs"): ALL, ("", "replicationcontrollers"): ALL,
    ("autoscaling", "horizontalpodautoscalers"): ALL,
    ("apiextensions.k8s.io", "customresourcedefinitions"): ["api-extensions"],
    ("apiregistration.k8s.io", "apiservices"): ["api-extensions"],
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): ["api-extensions"],
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): ["api-extensions"],
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): ["api-extensions"],
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): ["api-extensions"],
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"): ["api-extensions"],
    ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings"): ["api-extensions"],
}

# (group, plural) with a scale subresource.
SCALE = {("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"),
         ("", "replicationcontrollers")}

FULL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
CREATE_ONLY = ["create"]
# (group, plural) -> verbs, where the general rule (listable: all verbs; otherwise
# create only) is wrong.
VERBS = {
    ("", "componentstatuses"): ["get", "list"],
    # kube's namespace storage has no DeleteCollection.
    ("", "namespaces"): ["create", "delete", "get", "list", "patch", "update", "watch"],
}

# Resource kinds that are subresources of another resource, not top-level resources:
# (group, plural as k8s-openapi spells it).
SUBRESOURCE_KINDS = {
    ("autoscaling", "scale"),        # <resource>/scale
    ("policy", "eviction"),          # pods/eviction
    ("authentication.k8s.io", "token"),  # serviceaccounts/token
}

# ---- reading k8s-openapi --------------------------------------------------------------

RESOURCE_RE = re.compile(r"impl crate::Resource for (\w+) \{(.*?)\n\}", re.S)
CONST_RE = re.compile(r"const (\w+): &'static str = \"([^\"]*)\";")
SCOPE_RE = re.compile(r"type Scope = crate::(\w+);")


def version_rank(v):
    """Sort key: GA first, then beta, then alpha, newer numbers first (kube's order)."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (3, 0, 0)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    return ({None: 0, "beta": 1, "alpha": 2}[stage], -major, -minor)


def read_resources(src):
    out = []
    for path in sorted(glob.glob(src + "/**/*.rs", recursive=True)):
        if "/apimachinery/" in path:
            continue
        text = open(path, encoding="utf-8").read()
        for m in RESOURCE_RE.finditer(text):
            name, body = m.group(1), m.group(2)
            consts = dict(CONST_RE.findall(body))
            scope = SCOPE_RE.search(body)
            if not consts.get("URL_PATH_SEGMENT") or scope is None:
                continue
            struct = re.search(r"pub struct " + name + r" \{(.*?)\n\}", text, re.S)
            has_status = bool(struct and re.search(r"\n\s*pub status:", struct.group(1)))
            listable = ("impl crate::ListableResource for " + name) in text
            out.append(dict(
                group=consts["GROUP"], version=consts["VERSION"], kind=consts["KIND"],
                plural=consts["URL_PATH_SEGMENT"],
                namespaced=scope.group(1) == "NamespaceResourceScope",
                listable=listable, has_status=has_status,
                source=os.path.relpath(path, src)))
    return out


def select(resources):
    """Drop subresource kinds and alpha and beta versions: kube-apiserver 1.37 serves
    no alpha or beta version by default (beta APIs are off by default since 1.24, and
    every older beta has gone)."""
    chosen = []
    for r in resources:
        key = (r["group"], r["plural"])
        stage = version_rank(r["version"])[0]
        if key in SUBRESOURCE_KINDS or stage != 0:
            continue
        chosen.append(r)
    chosen.sort(key=lambda r: (r["group"] != "", r["group"], version_rank(r["version"]), r["plural"]))
    return chosen


def rust_strs(items):
    return "&[" + ", ".join('"%s"' % s for s in items) + "]"


def render(resources, src_label):
    lines = [
        "//! The built-in resources served by ferrokube-apiserver.",
        "//!",
        "//! generated by crates/ferrokube-apiserver/gen/gen_catalog.py from k8s-openapi",
        "//! (%s), do not edit; change the facts tables in the generator and rerun it." % src_label,
        "",
        "use super::ResourceDef;",
        "",
        "/// Every built-in resource, core group first, then groups by name, versions by",
        "/// preference (GA, beta).",
        "pub static RESOURCES: &[ResourceDef] = &[",
    ]
    for r in resources:
        key = (r["group"], r["plural"])
        if key in VERBS:
            verbs = VERBS[key]
        else:
            verbs = FULL_VERBS if r["listable"] else CREATE_ONLY
        lines += [
            "    // " + r["source"],
            "    ResourceDef {",
            '        group: "%s",' % r["group"],
            '        version: "%s",' % r["version"],
            '        plural: "%s",' % r["plural"],
            '        singular: "%s",' % r["kind"].lower(),
            '        kind: "%s",' % r["kind"],
            "        namespaced: %s," % str(r["namespaced"]).lower(),
            "        verbs: %s," % rust_strs(verbs),
            "        short_names: %s," % rust_strs(SHORT_NAMES.get(key, [])),
            "        categories: %s," % rust_strs(CATEGORIES.get(key, [])),
            # A create-only kind (the reviews) is answered, never stored: no status
            # subresource even though its type has a status.
            "        has_status: %s," % str(r["has_status"] and verbs != CREATE_ONLY).lower(),
            "        has_scale: %s," % str(key in SCALE).lower(),
            "    },",
        ]
    lines.append("];")
    return "\n".join(lines) + "\n"


def main():
    args = generator_cli.parser(__file__, "Generate the server's catalog of built-in resources.").parse_args()
    k8s = cargo_sources.crate("k8s-openapi", args.k8s_openapi)
    src = k8s.dir("src", K8S_VERSION)
    resources = select(read_resources(src))
    if not resources:
        sys.exit(f"no resources found under {src}")
    label = f"{k8s.label} {K8S_VERSION}"
    generator_cli.emit(__file__, OUT, render(resources, label), args.check, f"{len(resources)} resources")


if __name__ == "__main__":
    main()
