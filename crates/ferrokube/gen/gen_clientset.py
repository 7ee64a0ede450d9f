#!/usr/bin/env python3
"""Generates crates/ferrokube/src/kubernetes/generated.rs: the typed Clientset's
group/version accessors and per-resource constructors.

Source of truth: k8s-openapi's generated sources for one Kubernetes version (module
v1_37) of the exact k8s-openapi release the workspace's Cargo.lock pins, located with
`cargo metadata` (see gen/cargo_sources.py at the repository root). Every type
with `impl crate::Resource for X` contributes its API_VERSION, GROUP, KIND, VERSION,
URL_PATH_SEGMENT and scope; `impl crate::ListableResource` marks list/watch support
and a `pub status:` field marks a status subresource. Sub-resource types
(`SubResourceScope`: Scale, Eviction, TokenRequest) get no accessor: they are reached
through the methods of their parent resource.

The generated code is deliberately thin: one struct per group/version holding the
shared RESTClient, one one-line constructor per resource returning the generic
`ResourceClient<K>`, and marker-trait impls. All behaviour lives in
`src/kubernetes/resource.rs`, so it is compiled once and monomorphized only for the
types a program uses.

Usage: python3 crates/ferrokube/gen/gen_clientset.py [--check] [--k8s-openapi DIR]
  --check            write nothing; exit 1 if generated.rs is not what the generator
                     would write (tests/generators.sh runs it in CI)
  --k8s-openapi DIR  read this k8s-openapi source tree instead of the pinned one
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

OUT = os.path.join(HERE, "..", "src", "kubernetes", "generated.rs")
K8S_VERSION = "v1_37"
# Every Kubernetes version k8s-openapi 0.29 supports (its `earliest` to `latest`). The
# application chooses one; accessors of resources that appear later than the earliest
# are wrapped in k8s-openapi's `k8s_if_ge_1_NN!` macros so the library builds with each.
K8S_VERSIONS = ["v1_33", "v1_34", "v1_35", "v1_36", "v1_37"]

# Resources with a `scale` subresource (autoscaling/v1 Scale). k8s-openapi does not
# record subresources, so this small table is kept here; it matches kube-apiserver.
SCALE = {
    ("apps", "v1", "deployments"),
    ("apps", "v1", "replicasets"),
    ("apps", "v1", "statefulsets"),
    ("", "v1", "replicationcontrollers"),
}

RUST_KEYWORDS = {"type", "match", "mod", "ref", "self", "use", "where", "move", "loop", "impl", "static", "crate"}


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def method_name(kind, plural):
    """snake_case plural of the kind whose letters spell the URL segment:
    CSIStorageCapacity + csistoragecapacities -> csi_storage_capacities."""
    words = snake(kind).split("_")
    prefix = "".join(words[:-1])
    if words[:-1] and plural.startswith(prefix) and len(plural) > len(prefix):
        name = "_".join(words[:-1] + [plural[len(prefix):]])
    else:
        name = plural
    return name + "_" if name in RUST_KEYWORDS else name


def group_struct(group, version):
    first = group.split(".")[0] if group else "core"
    return first[0].upper() + first[1:] + version[0].upper() + version[1:]


def group_method(group, version):
    first = group.split(".")[0] if group else "core"
    return f"{first}_{version}"


def const(text, name):
    m = re.search(r"const %s: &'static str = \"([^\"]*)\";" % name, text)
    return m.group(1) if m else None


def first_version(src, rel, ty):
    """The earliest of K8S_VERSIONS from which on `ty` exists at `rel` (as a Resource)."""
    since = K8S_VERSION
    for v in reversed(K8S_VERSIONS):
        path = os.path.join(src, v, rel)
        if not os.path.exists(path) or f"impl crate::Resource for {ty} {{" not in open(path, encoding="utf-8").read():
            break
        since = v
    return since


def gated(since, item_lines, indent=""):
    """`item_lines` as they are, or wrapped in k8s-openapi's version macro when the
    resource appeared after the earliest supported version."""
    if since == K8S_VERSIONS[0]:
        return item_lines
    minor = since.split("_")[1]
    out = [f"{indent}k8s_openapi::k8s_if_ge_1_{minor}! {{"]
    out += ["    " + l if l else l for l in item_lines]
    out.append(f"{indent}}}")
    return out


def scan(src):
    root = os.path.join(src, K8S_VERSION)
    out = []
    for path in sorted(glob.glob(os.path.join(root, "**", "*.rs"), recursive=True)):
        text = open(path, encoding="utf-8").read()
        m = re.search(r"impl crate::Resource for (\w+) \{", text)
        if not m:
            continue
        rel = os.path.relpath(path, root)
        parts = rel[:-3].split(os.sep)
        if parts[0] == "apimachinery" or parts == ["list"]:
            continue
        rust_type = "k8s_openapi::" + "::".join(parts[:-1]) + "::" + m.group(1)
        scope = re.search(r"type Scope = crate::(\w+);", text).group(1)
        struct_body = re.search(r"pub struct %s \{(.*?)\n\}" % m.group(1), text, re.S)
        out.append(
            dict(
                ty=m.group(1),
                rust=rust_type,
                group=const(text, "GROUP"),
                version=const(text, "VERSION"),
                kind=const(text, "KIND"),
                plural=const(text, "URL_PATH_SEGMENT"),
                scope=scope,
                listable="impl crate::ListableResource for" in text,
                since=first_version(src, rel, m.group(1)),
                status=bool(struct_body and re.search(r"^\s*pub status: ", struct_body.group(1), re.M)),
            )
        )
    return out


def render(res, label):
    groups = {}
    for r in res:
        if r["scope"] == "SubResourceScope":
            continue
        groups.setdefault((r["group"], r["version"]), []).append(r)

    def order(gv):
        g, v = gv
        return ("" if g == "" else "1" + g, v)

    lines = [
        "// generated by gen/gen_clientset.py; do not edit.",
        f"// Source: {label}, module {K8S_VERSION}.",
        "//! Group/version accessors of the typed [`Clientset`], one constructor per",
        "//! resource. Generated by `gen/gen_clientset.py` from k8s-openapi's resource",
        "//! metadata; every method is a one-line constructor of [`ResourceClient`].",
        "",
        "use super::{Clientset, HasScale, HasStatus, ResourceClient};",
        "use crate::rest::RESTClient;",
        "",
        "impl Clientset {",
    ]
    def gv_since(gv):
        return min((r["since"] for r in groups[gv]), key=K8S_VERSIONS.index)

    for gv in sorted(groups, key=order):
        g, v = gv
        gvs = f"{g}/{v}" if g else v
        lines += gated(
            gv_since(gv),
            [
                f"    /// The `{gvs}` API: one client per resource of that group version.",
                f"    pub fn {group_method(g, v)}(&self) -> {group_struct(g, v)} {{",
                f"        {group_struct(g, v)}(self.client.clone())",
                "    }",
            ],
            "    ",
        )
    lines.append("}")

    for gv in sorted(groups, key=order):
        g, v = gv
        gvs = f"{g}/{v}" if g else v
        st = group_struct(g, v)
        block = [
            f"/// Resource clients of the `{gvs}` API (client-go `{st}Interface`). Cheap to",
            "/// clone; shares the Clientset's connection pool and rate limiter.",
            "#[derive(Clone, Debug)]",
            f"pub struct {st}(RESTClient);",
            "",
            f"impl {st} {{",
        ]
        for r in sorted(groups[gv], key=lambda r: r["plural"]):
            name = method_name(r["kind"], r["plural"])
            verbs = "" if r["listable"] else " Create-only: the server offers no list/get for it."
            if r["scope"] == "NamespaceResourceScope":
                method = [
                    f"    /// `{r['plural']}` ({r['kind']}) in `namespace`; `\"\"` means all namespaces for list and watch.{verbs}",
                    f"    pub fn {name}(&self, namespace: &str) -> ResourceClient<{r['rust']}> {{",
                    "        ResourceClient::namespaced(self.0.clone(), namespace)",
                ]
            else:
                method = [
                    f"    /// `{r['plural']}` ({r['kind']}), cluster-scoped.{verbs}",
                    f"    pub fn {name}(&self) -> ResourceClient<{r['rust']}> {{",
                    "        ResourceClient::cluster(self.0.clone())",
                ]
            method.append("    }")
            block += method if r["since"] == gv_since(gv) else gated(r["since"], method, "    ")
        block.append("}")
        lines.append("")
        lines += gated(gv_since(gv), block)

    lines.append("")
    for r in res:
        if r["scope"] != "SubResourceScope" and r["status"] and r["listable"]:
            lines += gated(r["since"], [f"impl HasStatus for {r['rust']} {{}}"])
    for r in res:
        if (r["group"], r["version"], r["plural"]) in SCALE:
            lines += gated(r["since"], [f"impl HasScale for {r['rust']} {{}}"])

    lines += [
        "",
        "// Calls `$m!` with one `(group, version, kind, Type)` tuple per k8s-openapi",
        "// resource type (sub-resource types included), for tests that iterate over all",
        f"// built-in types; defined when the application's version is {K8S_VERSION}.",
        f"k8s_openapi::k8s_if_{K8S_VERSION[1:]}! {{",
        "    #[doc(hidden)]",
        "    #[macro_export]",
        "    macro_rules! __ferrokube_for_each_builtin_type {",
        "        ($m:ident) => {",
        "            $m! {",
    ]
    for r in res:
        lines.append(f"                (\"{r['group']}\", \"{r['version']}\", \"{r['kind']}\", {r['rust']}),")
    lines += ["            }", "        };", "    }", "}", ""]
    return "\n".join(lines)


def main():
    args = generator_cli.parser(__file__, "Generate the typed Clientset's accessors.").parse_args()
    k8s = cargo_sources.crate("k8s-openapi", args.k8s_openapi)
    src = k8s.dir("src")
    k8s.dir("src", K8S_VERSION)
    res = scan(src)
    if not res:
        sys.exit(f"no resources found under {src}/{K8S_VERSION}")
    n_gv = len({(r["group"], r["version"]) for r in res if r["scope"] != "SubResourceScope"})
    generator_cli.emit(
        __file__, OUT, render(res, k8s.label), args.check, f"{len(res)} types, {n_gv} group versions"
    )


if __name__ == "__main__":
    main()
