"""The server-side-apply markers of the Kubernetes Go types, read from their sources.

kube-apiserver's server-side apply (structured-merge-diff) learns how each list, map and
struct merges from the OpenAPI extensions that the Go types' comment markers become:

    // +listType=map            x-kubernetes-list-type: map
    // +listMapKey=containerPort  x-kubernetes-list-map-keys: [containerPort, protocol]
    // +listMapKey=protocol
    // +structType=atomic       (on a type) x-kubernetes-map-type: atomic

These can differ from the strategic-merge-patch tags (`patchMergeKey:"containerPort"`)
that k8s-openapi's `DeepMerge` impls carry, so a generator that needs apply's view reads
the markers here. The Go modules are pinned by version (GO_VERSION, the Kubernetes
release of the k8s-openapi module used) and located with `go mod download -json
<module>@<version>`, which fetches a missing module through the Go module proxy once.

`markers()` returns, by OpenAPI definition name (`io.k8s.api.core.v1.Container`):
  * `fields[(definition, json name)] = (list type or None, [list-map keys])`,
  * `atomic_structs`: the definitions whose type has `+structType=atomic`,
  * `omitted`: the (definition, json name) of the pointer, slice and map fields with
    `omitempty`, which the JSON of the type's zero value leaves out (kube's field
    manager owns such a field itself when a write adds it: `".": {}`),
  * `defaults[(definition, json name)]`: a field's `+default=` marker, as written (a
    JSON value: `"TCP"`, `0`).
The fields of a struct embedded with `json:",inline"` (or `json:""`) count as its parent's.
Only the plain markers count; the declarative-validation twins (`+k8s:listMapKey=...`)
say the same for validation and are ignored.
"""

import glob
import json
import os
import re
import subprocess

GO_VERSION = "v0.37.2"

# (module, package directory inside it, OpenAPI definition prefix of its types)
PACKAGES_GLOB = [
    ("k8s.io/api", "*/*", "io.k8s.api"),
    ("k8s.io/apimachinery", "pkg/apis/meta/v1", "io.k8s.apimachinery.pkg.apis.meta.v1"),
    ("k8s.io/apiextensions-apiserver", "pkg/apis/apiextensions/v1", "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1"),
    ("k8s.io/kube-aggregator", "pkg/apis/apiregistration/v1", "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1"),
]

TYPE_RE = re.compile(r"^type (\w+) struct \{$")
FIELD_RE = re.compile(r"^\t(?:\w+\s+)?([*\[\]\w.]+)\s+`[^`]*json:\"([^\",]*)([^\"]*)\"")
INLINE_RE = re.compile(r"^\t(\w+)\s+`json:\"(?:,inline)?\"")
MARKER_RE = re.compile(r"^\s*//\s*\+(listType|listMapKey|structType|mapType|default)=(\S+)\s*$")


def module_dir(module, overrides=None):
    """The source directory of Go module `module` at GO_VERSION."""
    if overrides and module in overrides:
        return overrides[module]
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{GO_VERSION}"],
        check=True, capture_output=True, text=True, cwd=os.path.dirname(os.path.abspath(__file__)),
        env=dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="on"),
    )
    return json.loads(out.stdout)["Dir"]


def _parse_package(pkg_dir, prefix, fields, atomic_structs, inlined, omitted, defaults):
    for path in sorted(glob.glob(os.path.join(pkg_dir, "*.go"))):
        base = os.path.basename(path)
        if base.endswith("_test.go") or base.startswith(("generated.", "zz_generated")):
            continue
        comment = []  # marker (name, value) pairs of the comment block just above
        current = None  # the struct being read
        for line in open(path, encoding="utf-8"):
            line = line.rstrip("\n")
            stripped = line.strip()
            if stripped.startswith("//"):
                m = MARKER_RE.match(line)
                if m:
                    comment.append((m.group(1), m.group(2)))
                continue
            if current is None:
                m = TYPE_RE.match(line)
                if m:
                    current = f"{prefix}.{m.group(1)}"
                    if ("structType", "atomic") in comment:
                        atomic_structs.add(current)
                comment = []
                continue
            if line == "}":
                current = None
                comment = []
                continue
            m = INLINE_RE.match(line)
            if m:
                inlined.append((current, f"{prefix}.{m.group(1)}"))
            m = FIELD_RE.match(line)
            if m and m.group(2) not in ("", "-"):
                gotype, json_name, options = m.group(1), m.group(2), m.group(3).split(",")
                list_type = next((v for k, v in comment if k == "listType"), None)
                keys = [v for k, v in comment if k == "listMapKey"]
                if list_type or keys:
                    fields[(current, json_name)] = (list_type, keys)
                if gotype.startswith(("*", "[]", "map[")) and "omitempty" in options:
                    omitted.add((current, json_name))
                default = next((v for k, v in comment if k == "default"), None)
                if default is not None:
                    defaults[(current, json_name)] = default
            if stripped:
                comment = []


def markers(overrides=None):
    """The markers of every type of the pinned modules (see the module docs)."""
    fields, atomic_structs, inlined, omitted, defaults = {}, set(), [], set(), {}
    for module, pattern, prefix in PACKAGES_GLOB:
        root = module_dir(module, overrides)
        for pkg_dir in sorted(glob.glob(os.path.join(root, pattern))):
            if not os.path.isdir(pkg_dir):
                continue
            rel = os.path.relpath(pkg_dir, root)
            pkg_prefix = prefix if pattern != "*/*" else f"{prefix}.{rel.replace(os.sep, '.')}"
            _parse_package(pkg_dir, pkg_prefix, fields, atomic_structs, inlined, omitted, defaults)
    # An embedded struct's fields are its parent's (EphemeralContainer inlines
    # EphemeralContainerCommon).
    for parent, child in inlined:
        for (definition, name), marker in list(fields.items()):
            if definition == child:
                fields.setdefault((parent, name), marker)
        for definition, name in list(omitted):
            if definition == child:
                omitted.add((parent, name))
    return fields, atomic_structs, omitted, defaults


if __name__ == "__main__":
    f, a, _, _ = markers()
    print(len(f), "list fields,", len(a), "atomic structs")
    for (d, n), (t, k) in sorted(f.items()):
        if len(k) > 1:
            print(d, n, t, k)
