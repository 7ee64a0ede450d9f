#!/usr/bin/env python3
"""Generate `src/patch/generated_schema.rs` from k8s-openapi's sources.

The strategic-merge-patch and server-side-apply code in `src/patch/` needs to know, for
every built-in Kubernetes type, which of its fields are nested objects, which lists merge
by which key(s), which lists are sets of primitives, which are atomic, and which fields
are maps. k8s-openapi (the crate ferrokube uses for its types) encodes exactly this in
its generated `DeepMerge` impls:

    crate::merge_strategies::list::map(&mut self.x, other.x, &[|lhs, rhs| lhs.name == rhs.name], ..)
    crate::merge_strategies::list::set(&mut self.x, other.x)
    crate::merge_strategies::list::atomic(&mut self.x, other.x)
    crate::merge_strategies::map::granular(&mut self.x, other.x, ..)
    crate::merge_strategies::map::atomic(&mut self.x, other.x)

This program reads, for each `.rs` file under `src/v1_37/` of the exact k8s-openapi
release the workspace's Cargo.lock pins (located with `cargo metadata`, see
gen/cargo_sources.py at the repository root):
  * the definition name from the `// Generated from definition io.k8s...` header,
  * the struct's fields (`pub <rust_name>: <Type>,`),
  * the JSON names from the Deserialize field visitor (`"containerPort" => Field::Key_container_port`),
  * the merge strategies from the DeepMerge impl (forms above),
  * `impl crate::Resource for X { GROUP, VERSION, KIND }` for top-level resources,
and writes a table of `TypeSchema` statics (only fields that are objects, lists or maps are
listed: scalars need no metadata) plus a table of (group, version, kind) -> root type.

Server-side apply keys some lists by more fields than strategic merge patch does
(container `ports` by `containerPort` and `protocol`, the merge key being only
`containerPort`), and treats some structs as one value (`+structType=atomic`:
LabelSelector, OwnerReference, RoleRef, ...). k8s-openapi carries neither, so both come
from the markers of the Kubernetes Go types (gen/go_markers.py at the repository root,
reading the Go modules pinned by version through `go mod download`): a keyed list gets
all its `+listMapKey`s, the strategic merge key first; the atomic structs are listed in
`ATOMIC_STRUCTS`, and the fields a Go zero value omits (pointers, slices and maps with
`omitempty`, which apply's bookkeeping owns themselves when a write adds them) in
`OMITTED_WHEN_EMPTY`; the `+default=`s of list-map key fields in `KEY_DEFAULTS`.

`retainKeys` is a strategic-merge-patch strategy that k8s-openapi does not carry; the few
fields that have it are listed in RETAIN_KEYS below, transcribed from the
`patchStrategy:"...retainKeys"` struct tags of the Kubernetes Go types.

Usage (from the repository root or anywhere):
    python3 crates/ferrokube-apiserver/gen/gen_patch_schema.py [--check] [--k8s-openapi DIR]
  --check            write nothing; exit 1 if generated_schema.rs is not what the
                     generator would write (tests/generators.sh runs it in CI)
  --k8s-openapi DIR  read this k8s-openapi source tree instead of the pinned one
"""

import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ next to the sources
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "gen"))
import cargo_sources  # noqa: E402  (locates k8s-openapi through cargo metadata)
import generator_cli  # noqa: E402  (argument parsing, write or --check)
import go_markers  # noqa: E402  (the server-side-apply markers of the Go types)

OUT = os.path.join(HERE, "..", "src", "patch", "generated_schema.rs")
K8S_VERSION_DIR = "v1_37"

# (definition name, JSON field name) pairs with patchStrategy retainKeys in the Go types.
RETAIN_KEYS = {
    ("io.k8s.api.apps.v1.DeploymentSpec", "strategy"),
    ("io.k8s.api.core.v1.PodSpec", "volumes"),
    ("io.k8s.api.core.v1.PodSpec", "resourceClaims"),
}

PRIMITIVES = {
    "bool", "i32", "i64", "f64", "std::string::String", "crate::ByteString",
    "crate::jiff::Timestamp", "crate::serde_json::Value", "serde_json::Value",
}


class Struct:
    def __init__(self, rust_path, definition):
        self.rust_path = rust_path          # crate::api::core::v1::Container
        self.definition = definition        # io.k8s.api.core.v1.Container
        self.fields = []                    # [(rust_name, rust_type)]
        self.json_names = {}                # rust_name -> json name
        self.strategies = {}                # rust_name -> (kind, keys)
        self.resource = None                # (group, version, kind)


STRUCT_RE = re.compile(r"^pub struct (\w+) \{\n(.*?)^\}", re.S | re.M)
FIELD_RE = re.compile(r"^    pub (r#)?(\w+): (.+),$", re.M)
JSON_NAME_RE = re.compile(r'"([^"]+)" => Field::Key_(\w+),')
DEF_RE = re.compile(r"^// Generated from definition (\S+)", re.M)
STRAT_RE = re.compile(
    r"crate::merge_strategies::(list::map|list::set|list::atomic|map::granular|map::atomic)\(\s*"
    r"&mut self\.(\w+),\s*other\.\w+(,\s*&\[(.*?)\],)?", re.S)
KEY_RE = re.compile(r"\|lhs, rhs\| lhs\.([\w.()]+) == rhs\.")
RESOURCE_RE = re.compile(
    r"impl crate::Resource for (\w+) \{.*?const GROUP: &'static str = \"([^\"]*)\";.*?"
    r"const KIND: &'static str = \"([^\"]*)\";.*?const VERSION: &'static str = \"([^\"]*)\";", re.S)


def parse_file(path, module_path):
    src = open(path, encoding="utf-8").read()
    m = DEF_RE.search(src)
    definition = m.group(1) if m else None
    out = []
    for sm in STRUCT_RE.finditer(src):
        name, body = sm.group(1), sm.group(2)
        st = Struct(module_path + "::" + name, definition or name)
        for fm in FIELD_RE.finditer(body):
            st.fields.append((fm.group(2), fm.group(3).strip()))
        for jm in JSON_NAME_RE.finditer(src):
            st.json_names[jm.group(2)] = jm.group(1)
        for stm in STRAT_RE.finditer(src):
            kind, field, keys_src = stm.group(1), stm.group(2), stm.group(4)
            keys = KEY_RE.findall(keys_src) if keys_src else []
            st.strategies[field] = (kind, keys)
        for rm in RESOURCE_RE.finditer(src):
            if rm.group(1) == name:
                st.resource = (rm.group(2), rm.group(4), rm.group(3))
        out.append(st)
    return out


def strip_wrappers(ty):
    changed = True
    while changed:
        changed = False
        for w in ("Option<", "std::option::Option<", "Box<", "std::boxed::Box<"):
            if ty.startswith(w) and ty.endswith(">"):
                ty = ty[len(w):-1].strip()
                changed = True
    return ty


def split_generic_args(s):
    depth, cur, parts = 0, "", []
    for ch in s:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def static_name(st):
    name = st.definition
    for prefix in ("io.k8s.apimachinery.pkg.", "io.k8s.", "io."):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def main():
    opts = generator_cli.parser(__file__, "Generate the strategic-merge-patch schema tables.").parse_args()
    root = cargo_sources.crate("k8s-openapi", opts.k8s_openapi).dir("src", K8S_VERSION_DIR)
    structs = {}
    for path in sorted(glob.glob(os.path.join(root, "**", "*.rs"), recursive=True)):
        rel = os.path.relpath(path, root)
        if os.path.basename(rel) in ("mod.rs", "list.rs"):
            continue
        module_path = "crate::" + "::".join(os.path.dirname(rel).split(os.sep))
        for st in parse_file(path, module_path):
            structs[st.rust_path] = st

    go_fields, atomic_structs, omitted, go_defaults = go_markers.markers()

    def struct_of(ty):
        return structs.get(ty) if ty.startswith("crate::") else None

    # Describe a field: (kind, strategy, keys, elem_struct_or_None).
    def describe(st, rust_name, rust_ty):
        ty = strip_wrappers(rust_ty)
        strat = st.strategies.get(rust_name)
        if ty.startswith("std::vec::Vec<"):
            item = strip_wrappers(ty[len("std::vec::Vec<"):-1].strip())
            elem = struct_of(item)
            kind, keys = strat if strat else ("list::atomic", [])
            if kind == "list::map":
                if any(("." in k or "(" in k) for k in keys) or elem is None:
                    # Keys that are nested paths (metadata.name) cannot be expressed as
                    # list-map keys: treat the list as atomic, as kube-apiserver does.
                    return ("List", "Atomic", [], elem)
                keys = [elem.json_names.get(k, k) for k in keys]
                go_type, go_keys = go_fields.get((st.definition, st.json_names.get(rust_name)), (None, []))
                if go_type == "map" and go_keys and set(keys) <= set(go_keys):
                    # Apply's keys: all of the Go type's list-map keys, merge key first.
                    keys = keys + [k for k in go_keys if k not in keys]
                return ("List", "Map", keys, elem)
            if kind == "list::set":
                return ("List", "Set", [], elem)
            return ("List", "Atomic", [], elem)
        if ty.startswith("std::collections::BTreeMap<"):
            args = split_generic_args(ty[len("std::collections::BTreeMap<"):-1])
            value = strip_wrappers(args[-1])
            elem = struct_of(value)
            kind = strat[0] if strat else "map::granular"
            return ("Map", "Atomic" if kind == "map::atomic" else "Granular", [], elem)
        elem = struct_of(ty)
        if elem is not None and elem.fields:
            return ("Struct", None, [], elem)
        return None  # scalar (primitives, newtypes such as Quantity/Time, IntOrString)

    # Types reachable from top-level resources.
    roots = sorted((st for st in structs.values() if st.resource), key=lambda s: s.resource)
    reachable, order, stack = set(), [], [s.rust_path for s in roots]
    described = {}
    while stack:
        p = stack.pop()
        if p in reachable:
            continue
        reachable.add(p)
        order.append(p)
        st = structs[p]
        rows = []
        for rust_name, rust_ty in st.fields:
            d = describe(st, rust_name, rust_ty)
            if d is None:
                continue
            json_name = st.json_names.get(rust_name)
            if json_name is None:
                continue
            rows.append((json_name, d))
            if d[3] is not None and d[3].rust_path not in reachable:
                stack.append(d[3].rust_path)
        rows.sort(key=lambda r: r[0])
        described[p] = rows

    types = sorted((structs[p] for p in order), key=lambda s: s.definition)
    names = [static_name(st) for st in types]
    if len(set(names)) != len(names):
        sys.exit("static name collision in generated schema")
    if len({st.definition for st in types}) != len(types):
        sys.exit("duplicate definition names among reachable types")
    lines = []
    w = lines.append
    w("// @generated by crates/ferrokube-apiserver/gen/gen_patch_schema.py from k8s-openapi 0.29")
    w(f"// ({K8S_VERSION_DIR}). Do not edit by hand: edit the generator and re-run it.")
    w("//")
    w("// Field constructors: s = nested struct, la/ls/lm = atomic list / set / keyed list,")
    w("// mg/ma = granular / atomic map; `r` variants have the retainKeys strategy.")
    w("")
    w("#![allow(dead_code)] // not every constructor is used by every k8s-openapi version")
    w("")
    w("use super::schema::{FieldKind, FieldSchema, ListStrategy, MapStrategy, ResourceRoot, TypeSchema};")
    w("")
    w("type E = Option<&'static TypeSchema>;")
    w("type K = &'static [&'static str];")
    w("const fn f(name: &'static str, kind: FieldKind, keys: K, elem: E, retain_keys: bool) -> FieldSchema {")
    w("    FieldSchema { name, kind, keys, elem, retain_keys }")
    w("}")
    w("const fn s(n: &'static str, e: E) -> FieldSchema { f(n, FieldKind::Struct, &[], e, false) }")
    w("const fn sr(n: &'static str, e: E) -> FieldSchema { f(n, FieldKind::Struct, &[], e, true) }")
    w("const fn la(n: &'static str, e: E) -> FieldSchema { f(n, FieldKind::List(ListStrategy::Atomic), &[], e, false) }")
    w("const fn ls(n: &'static str, e: E) -> FieldSchema { f(n, FieldKind::List(ListStrategy::Set), &[], e, false) }")
    w("const fn lm(n: &'static str, k: K, e: E) -> FieldSchema { f(n, FieldKind::List(ListStrategy::Map), k, e, false) }")
    w("const fn lmr(n: &'static str, k: K, e: E) -> FieldSchema { f(n, FieldKind::List(ListStrategy::Map), k, e, true) }")
    w("const fn mg(n: &'static str, e: E) -> FieldSchema { f(n, FieldKind::Map(MapStrategy::Granular), &[], e, false) }")
    w("const fn ma(n: &'static str, e: E) -> FieldSchema { f(n, FieldKind::Map(MapStrategy::Atomic), &[], e, false) }")
    w("")
    ctor = {
        ("List", "Atomic"): "la", ("List", "Set"): "ls", ("List", "Map"): "lm",
        ("Map", "Granular"): "mg", ("Map", "Atomic"): "ma", ("Struct", None): "s",
    }
    for st in types:
        rows = described[st.rust_path]
        if not rows:
            w(f'pub(super) static {static_name(st)}: TypeSchema = TypeSchema {{ name: "{st.definition}", fields: &[] }};')
            continue
        w(f"pub(super) static {static_name(st)}: TypeSchema = TypeSchema {{")
        w(f'    name: "{st.definition}",')
        if True:
            w("    fields: &[")
            for json_name, (kind, strategy, keys, elem) in rows:
                c = ctor[(kind, strategy)]
                if (st.definition, json_name) in RETAIN_KEYS:
                    if c not in ("s", "lm"):
                        sys.exit(f"retainKeys on unsupported field kind: {st.definition}.{json_name}")
                    c += "r"
                elem_s = f"Some(&{static_name(elem)})" if elem is not None and elem.rust_path in reachable else "None"
                args = [f'"{json_name}"']
                if kind == "List" and strategy == "Map":
                    args.append("&[" + ", ".join('"%s"' % key for key in keys) + "]")
                args.append(elem_s)
                w(f"        {c}({', '.join(args)}),")
            w("    ],")
        w("};")
    w("")
    w("/// The types server-side apply treats as one value (`+structType=atomic` in Go),")
    w("/// sorted by definition name.")
    w("pub(super) static ATOMIC_STRUCTS: &[&str] = &[")
    for st in types:
        if st.definition in atomic_structs:
            w(f'    "{st.definition}",')
    w("];")
    w("")
    w("/// The (type, field) pairs among the non-scalar fields above that the JSON of the")
    w("/// type's Go zero value leaves out (pointer, slice and map fields with `omitempty`),")
    w("/// sorted.")
    w("pub(super) static OMITTED_WHEN_EMPTY: &[(&str, &str)] = &[")
    for st in types:
        for json_name, _ in described[st.rust_path]:
            if (st.definition, json_name) in omitted:
                w(f'    ("{st.definition}", "{json_name}"),')
    w("];")
    w("")
    w("/// The defaults (`+default=` in Go) of list-map key fields, by item type and field,")
    w("/// sorted: server-side apply keys an item that leaves such a key out by its default")
    w("/// (a container port without `protocol` is `{containerPort, protocol: TCP}`).")
    w("pub(super) static KEY_DEFAULTS: &[(&str, &str, &str)] = &[")
    key_defaults = set()
    for st in types:
        for json_name, (kind, strategy, keys, elem) in described[st.rust_path]:
            if kind == "List" and strategy == "Map" and elem is not None:
                for k in keys:
                    d = go_defaults.get((elem.definition, k))
                    if d is not None:
                        key_defaults.add((elem.definition, k, d))
    for definition, k, d in sorted(key_defaults):
        w(f'    ("{definition}", "{k}", {json.dumps(d)}),')
    w("];")
    w("")
    w("/// Every type reachable from a top-level resource, sorted by definition name.")
    w("pub(super) static TYPES: &[&TypeSchema] = &[")
    for st in types:
        w(f"    &{static_name(st)},")
    w("];")
    w("")
    w("/// Top-level resources, sorted by (group, kind, version).")
    w("pub(super) static RESOURCES: &[ResourceRoot] = &[")
    for st in sorted(roots, key=lambda s: (s.resource[0], s.resource[2], s.resource[1])):
        g, v, k = st.resource
        w(f'    ResourceRoot {{ group: "{g}", version: "{v}", kind: "{k}", root: &{static_name(st)} }},')
    w("];")
    known = {(st.definition, name) for st in types for name, _ in described[st.rust_path]}
    missing = RETAIN_KEYS - known
    if missing:
        sys.exit(f"RETAIN_KEYS entries not found in k8s-openapi (update the list): {sorted(missing)}")
    generator_cli.emit(
        __file__, OUT, "\n".join(lines) + "\n", opts.check, f"{len(types)} types, {len(roots)} resources"
    )


if __name__ == "__main__":
    main()
