#!/usr/bin/env python3
"""Generate `src/openapi/definitions.json` (the OpenAPI schemas of the built-in types).

The embedded server publishes `/openapi/v2` and `/openapi/v3` so that kubectl can
validate manifests and compute strategic merge patches. The schemas come from
k8s-openapi (the crate ferrokube uses for its types), read from module v1_37 of the exact
release the workspace's Cargo.lock pins (located with `cargo metadata`, see
gen/cargo_sources.py at the repository root):

  * each type's `impl crate::schemars::JsonSchema` holds a `json_schema!({...})` literal
    with the type's description, `type`, `format`, `properties` and `required`; nested
    types appear as `__gen.subschema_for::<crate::path::Type>()` (optionally with a
    description inserted), which become `$ref`s to the nested type's definition name;
  * the list and map merge strategies come from the `DeepMerge` impls, parsed by
    `gen_patch_schema.py` (the same facts the server's strategic merge patch uses); they
    become kube's `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
    `x-kubernetes-patch-merge-key`, `x-kubernetes-patch-strategy` and
    `x-kubernetes-map-type` extensions;
  * `impl crate::Resource` gives the `x-kubernetes-group-version-kind` of top-level
    kinds; `<Kind>List` definitions (k8s-openapi has one generic `List<T>`) are
    synthesized for every kind that has a list type.

The output is one JSON object keyed by definition name (compact, one definition per
line), in Swagger 2.0 form (`$ref: "#/definitions/<name>"`); the server rewrites
references for OpenAPI 3 and encodes the v2 document as protobuf for kubectl.

Usage:
    python3 crates/ferrokube-apiserver/gen/gen_openapi.py [--check] [--k8s-openapi DIR]
  --check            write nothing; exit 1 if definitions.json is not what the
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
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..", "..", "gen")]
import gen_patch_schema as patch_gen  # noqa: E402  (shares the DeepMerge parsing)
import cargo_sources  # noqa: E402  (locates k8s-openapi through cargo metadata)
import generator_cli  # noqa: E402  (argument parsing, write or --check)

OUT = os.path.join(HERE, "..", "src", "openapi", "definitions.json")

IMPL_RE = re.compile(
    r"impl crate::schemars::JsonSchema for (\w+) \{\s*fn schema_name\(\)[^{]*\{\s*\"([^\"]+)\"\.into\(\)\s*\}"
    r".*?crate::schemars::json_schema!\(", re.S)
SUB_DESC_RE = re.compile(
    r"\(\{\s*let mut schema_obj = __gen\.subschema_for::<([\w:]+)>\(\);\s*"
    r"schema_obj\.ensure_object\(\)\.insert\(\"description\"\.into\(\), (\"(?:[^\"\\]|\\.)*\")\.into\(\)\);\s*"
    r"schema_obj\s*\}\)", re.S)
SUB_RE = re.compile(r"\(__gen\.subschema_for::<([\w:]+)>\(\)\)|__gen\.subschema_for::<([\w:]+)>\(\)")
REF_MARK = "\u0000ref:"


def macro_body(src, start):
    """The text of the `{...}` literal starting at `start` (balanced braces, strings skipped)."""
    depth, i, in_str = 0, start, False
    while i < len(src):
        c = src[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return src[start:i + 1]
        i += 1
    raise ValueError("unbalanced json_schema! literal")


def rust_str_to_json(lit):
    """A Rust string literal (with quotes) as a JSON string literal."""
    inner = lit[1:-1]
    inner = re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: "\\u%04x" % int(m.group(1), 16), inner)
    inner = inner.replace("\\'", "'").replace("\\0", "\\u0000")
    return '"' + inner + '"'


def to_json(body):
    def sub_desc(m):
        return '{"$ref": %s, "description": %s}' % (
            json.dumps(REF_MARK + m.group(1)), rust_str_to_json(m.group(2)))
    body = SUB_DESC_RE.sub(sub_desc, body)
    body = SUB_RE.sub(lambda m: '{"$ref": %s}' % json.dumps(REF_MARK + (m.group(1) or m.group(2))), body)
    body = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: rust_str_to_json(m.group(0)), body)
    body = re.sub(r",(\s*[}\]])", r"\1", body)
    return json.loads(body)


def main():
    args = generator_cli.parser(__file__, "Generate the OpenAPI definitions the server publishes.").parse_args()
    root = cargo_sources.crate("k8s-openapi", args.k8s_openapi).dir("src", patch_gen.K8S_VERSION_DIR)
    schemas = {}       # rust path -> (definition, schema with REF_MARK refs)
    structs = {}       # rust path -> gen_patch_schema.Struct
    for path in sorted(glob.glob(os.path.join(root, "**", "*.rs"), recursive=True)):
        rel = os.path.relpath(path, root)
        if os.path.basename(rel) in ("mod.rs", "list.rs"):
            continue
        module_path = "crate::" + "::".join(os.path.dirname(rel).split(os.sep))
        src = open(path, encoding="utf-8").read()
        for st in patch_gen.parse_file(path, module_path):
            structs[st.rust_path] = st
        for m in IMPL_RE.finditer(src):
            rust_name, definition = m.group(1), m.group(2)
            try:
                schema = to_json(macro_body(src, m.end()))
            except (ValueError, json.JSONDecodeError) as e:
                sys.exit(f"{rel}: cannot read the json_schema! literal of {rust_name}: {e}")
            schemas[module_path + "::" + rust_name] = (definition, schema)

    def_of = {p: d for p, (d, _) in schemas.items()}

    def resolve(node):
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "$ref" and isinstance(v, str) and v.startswith(REF_MARK):
                    target = v[len(REF_MARK):]
                    if target not in def_of:
                        sys.exit(f"reference to a type without a schema: {target}")
                    out[k] = "#/definitions/" + def_of[target]
                else:
                    out[k] = resolve(v)
            return out
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    definitions = {}
    resources = []
    for rust_path, (definition, schema) in sorted(schemas.items()):
        schema = resolve(schema)
        st = structs.get(rust_path)
        if st is not None:
            props = schema.get("properties", {})
            for rust_field, (kind, keys) in st.strategies.items():
                json_name = st.json_names.get(rust_field)
                prop = props.get(json_name) if json_name else None
                if prop is None:
                    continue
                retain = (definition, json_name) in patch_gen.RETAIN_KEYS
                if kind == "list::map":
                    json_keys = [k for k in keys]
                    if any(("." in k or "(" in k) for k in json_keys) or not json_keys:
                        prop["x-kubernetes-list-type"] = "atomic"
                        continue
                    item_ref = prop.get("items", {}).get("$ref", "")
                    item_def = item_ref.rsplit("/", 1)[-1]
                    item_struct = next((s for s in structs.values() if s.definition == item_def), None)
                    names = [item_struct.json_names.get(k, k) if item_struct else k for k in json_keys]
                    prop["x-kubernetes-list-type"] = "map"
                    prop["x-kubernetes-list-map-keys"] = names
                    prop["x-kubernetes-patch-merge-key"] = names[0]
                    prop["x-kubernetes-patch-strategy"] = "merge,retainKeys" if retain else "merge"
                elif kind == "list::set":
                    prop["x-kubernetes-list-type"] = "set"
                    prop["x-kubernetes-patch-strategy"] = "merge"
                elif kind == "list::atomic":
                    prop["x-kubernetes-list-type"] = "atomic"
                elif kind == "map::atomic":
                    prop["x-kubernetes-map-type"] = "atomic"
            for (d, field) in patch_gen.RETAIN_KEYS:
                if d == definition and field in props and "x-kubernetes-patch-strategy" not in props[field]:
                    props[field]["x-kubernetes-patch-strategy"] = "retainKeys"
            if st.resource:
                g, v, k = st.resource
                schema["x-kubernetes-group-version-kind"] = [{"group": g, "kind": k, "version": v}]
                resources.append((definition, g, v, k))
        definitions[definition] = schema

    # `<Kind>List` definitions for the kinds that have list types in k8s-openapi.
    listable = set(re.findall(r"impl crate::ListableResource for (\w+)", "".join(
        open(p, encoding="utf-8").read()
        for p in glob.glob(os.path.join(root, "**", "*.rs"), recursive=True))))
    for definition, g, v, k in resources:
        if k not in listable or not definition.endswith("." + k):
            continue
        list_def = definition + "List"
        if list_def in definitions:
            continue
        definitions[list_def] = {
            "description": f"{k}List is a list of {k} objects.",
            "type": "object",
            "properties": {
                "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an object.", "type": "string"},
                "items": {"description": f"The {k} objects.", "type": "array",
                          "items": {"$ref": "#/definitions/" + definition}},
                "kind": {"description": "Kind is a string value representing the REST resource this object represents.", "type": "string"},
                "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
                             "description": "Standard list metadata."},
            },
            "required": ["items"],
            "x-kubernetes-group-version-kind": [{"group": g, "kind": k + "List", "version": v}],
        }

    # Compact, but one definition per line, so that a regeneration diffs by definition.
    out = ["{\n"]
    names = sorted(definitions)
    for i, name in enumerate(names):
        body = json.dumps(definitions[name], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        out.append(json.dumps(name) + ":" + body + ("," if i + 1 < len(names) else "") + "\n")
    out.append("}\n")
    text = "".join(out)
    generator_cli.emit(
        __file__, OUT, text, args.check,
        f"{len(definitions)} definitions, {len(resources)} kinds, {len(text.encode('utf-8'))} bytes",
    )


if __name__ == "__main__":
    main()
