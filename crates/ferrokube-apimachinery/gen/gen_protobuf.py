#!/usr/bin/env python3
"""Generate crates/ferrokube-apimachinery/src/protobuf/generated.rs: the field
tables the server needs to decode Kubernetes protobuf request bodies into JSON.

Usage: python3 crates/ferrokube-apimachinery/gen/gen_protobuf.py [--check] [--k8s-pb DIR] [--k8s-openapi DIR]
  --check            write nothing; exit 1 if generated.rs is not what the generator
                     would write (tests/generators.sh runs it in CI)
  --k8s-pb DIR       read this k8s-pb source tree instead of the pinned one
  --k8s-openapi DIR  read this k8s-openapi source tree instead of the pinned one

Why: kubectl 1.33's typed commands (`kubectl create namespace`, `create deployment`, ...)
send `Content-Type: application/vnd.kubernetes.protobuf` bodies and do not retry in JSON
after a 415. The decoder (ferrokube-apimachinery/src/protobuf/mod.rs) walks the wire format with these
tables and produces the same JSON the object would have.

Sources: k8s-pb (prost types generated from Kubernetes' generated.proto files) gives
message names, field numbers and wire types; k8s-openapi gives each field's JSON name
(matched case-insensitively, ignoring underscores, to the prost field name) and, from
its `impl crate::Resource`, which message a given apiVersion/kind is.
Both are located with `cargo metadata` (gen/cargo_sources.py at the repository root).
k8s-openapi: the release the workspace's Cargo.lock pins, module v1_37. k8s-pb is not a
dependency of the workspace (only its tables are used): its exact version is pinned by
the small manifest `pb-sources/Cargo.toml` next to this script (`k8s-pb = "=0.9.0"`,
with its own Cargo.lock; its own workspace, never built), and `cargo metadata
--manifest-path pb-sources/Cargo.toml` fetches it into the registry cache when missing.
To move to another k8s-pb, change the version there, run `cargo update --manifest-path
crates/ferrokube-apimachinery/gen/pb-sources/Cargo.toml` and regenerate.
"""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ next to the sources
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "gen"))
import cargo_sources  # noqa: E402  (locates k8s-pb and k8s-openapi through cargo metadata)
import generator_cli  # noqa: E402  (argument parsing, write or --check)

OUT = os.path.join(HERE, "..", "src", "protobuf", "generated.rs")
PB_MANIFEST = os.path.join(HERE, "pb-sources", "Cargo.toml")
K8S_VERSION = "v1_37"

STRUCT_RE = re.compile(r"\npub struct (\w+) \{\n(.*?)\n\}", re.S)
FIELD_RE = re.compile(r"#\[prost\(([^]]*)\)\]\s*pub (?:r#)?(\w+):\s*(.*?),\s*(?=(?:///|#\[prost|$))", re.S)
TAG_RE = re.compile(r'tag = "(\d+)"')


def norm(name):
    return name.replace("_", "").replace("$", "").lower()


def json_names(oa_src):
    """(module dir, lowercased struct name) -> {normalized field: JSON name}."""
    out = {}
    for path in glob.glob(oa_src + "/**/*.rs", recursive=True):
        text = open(path, encoding="utf-8").read()
        structs = re.findall(r"\npub struct (\w+) \{", text)
        if len(structs) != 1:
            continue
        keys = re.findall(r'"([^"]+)" => Field::Key_\w+', text)
        mod = os.path.relpath(os.path.dirname(path), oa_src)
        out[(mod, structs[0].lower())] = {norm(k): k for k in keys}
    return out


def resolve(mod_parts, rust_type):
    """Message key ("api/core/v1/Pod") of a prost field type, relative to its module."""
    t = rust_type.replace(" ", "").replace("\n", "").replace(",>", ">")
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while t.startswith(wrapper):
            t = t[len(wrapper):-1]
    m = re.match(r"::prost::alloc::collections::BTreeMap<[^,]+,(.*)>$", t)
    if m:
        t = m.group(1)
    parts = t.split("::")
    base = list(mod_parts)
    while parts and parts[0] == "super":
        parts.pop(0)
        base.pop()
    return "/".join(base + parts)


def camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def main():
    args = generator_cli.parser(
        __file__, "Generate the protobuf field tables of the Kubernetes types.", ("k8s-pb", "k8s-openapi")
    ).parse_args()
    pb = cargo_sources.crate("k8s-pb", args.k8s_pb, PB_MANIFEST)
    oa = cargo_sources.crate("k8s-openapi", args.k8s_openapi)
    pb_src, oa_src = pb.dir("src"), oa.dir("src", K8S_VERSION)
    names = json_names(oa_src)
    messages = {}
    for path in sorted(glob.glob(pb_src + "/**/mod.rs", recursive=True)):
        mod = os.path.relpath(os.path.dirname(path), pb_src)
        mod_parts = mod.split("/")
        text = open(path, encoding="utf-8").read()
        for sm in STRUCT_RE.finditer(text):
            struct, body = sm.group(1), sm.group(2)
            jnames = names.get((mod, struct.lower()), {})
            fields = []
            for fm in FIELD_RE.finditer(body + "\n"):
                attr, fname, ftype = fm.group(1), fm.group(2), fm.group(3)
                tag = int(TAG_RE.search(attr).group(1))
                json = jnames.get(norm(fname)) or camel(fname)
                repeated = "repeated" in attr
                kind = attr.split(",")[0].strip()
                if kind.startswith("btree_map"):
                    value = re.search(r'btree_map = "string, (\w+)"', attr).group(1)
                    if value == "message":
                        kind = 'Kind::Map(&Kind::Message("%s"))' % resolve(mod_parts, ftype)
                    else:
                        kind = "Kind::Map(&Kind::%s)" % {"string": "String", "bytes": "Bytes"}[value]
                elif kind == "message":
                    kind = 'Kind::Message("%s")' % resolve(mod_parts, ftype)
                elif kind.startswith("bytes"):
                    kind = "Kind::Bytes"
                else:
                    kind = "Kind::" + {"string": "String", "bool": "Bool", "int32": "Int32",
                                       "int64": "Int64", "double": "Double"}[kind]
                fields.append((tag, json, kind, repeated))
            messages[mod + "/" + struct] = fields
        for empty in re.findall(r"\npub struct (\w+) \{\}", text):
            messages[mod + "/" + empty] = []

    kinds = []
    for path in sorted(glob.glob(oa_src + "/**/*.rs", recursive=True)):
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"impl crate::Resource for (\w+) \{(.*?)\n\}", text, re.S):
            consts = dict(re.findall(r"const (\w+): &'static str = \"([^\"]*)\";", m.group(2)))
            mod = os.path.relpath(os.path.dirname(path), oa_src)
            key = None
            for k in messages:
                if k.lower() == (mod + "/" + m.group(1)).lower():
                    key = k
            if key and consts.get("KIND"):
                kinds.append((consts["API_VERSION"], consts["KIND"], key))
    kinds.append(("v1", "DeleteOptions", "apimachinery/pkg/apis/meta/v1/DeleteOptions"))
    kinds.append(("meta.k8s.io/v1", "DeleteOptions", "apimachinery/pkg/apis/meta/v1/DeleteOptions"))

    out = [
        "//! Protobuf field tables of the Kubernetes types.",
        "//!",
        "//! generated by crates/ferrokube-apimachinery/gen/gen_protobuf.py from %s and %s %s," % (
            pb.label, oa.label, K8S_VERSION),
        "//! do not edit.",
        "",
        "use super::{FieldDef, Kind, MessageDef};",
        "",
        "/// Every message, sorted by key (`<module path>/<name>`).",
        "pub static MESSAGES: &[MessageDef] = &[",
    ]
    for key in sorted(messages):
        out.append('    MessageDef { key: "%s", fields: &[' % key)
        for tag, json, kind, repeated in messages[key]:
            out.append('        FieldDef { tag: %d, json: "%s", kind: %s, repeated: %s },' % (
                tag, json, kind, "true" if repeated else "false"))
        out.append("    ] },")
    out.append("];")
    out.append("")
    out.append("/// `(apiVersion, kind, message key)` of every top-level kind.")
    out.append("pub static KINDS: &[(&str, &str, &str)] = &[")
    for av, k, key in sorted(set(kinds)):
        out.append('    ("%s", "%s", "%s"),' % (av, k, key))
    out.append("];")
    generator_cli.emit(
        __file__, OUT, "\n".join(out) + "\n", args.check, "%d messages, %d kinds" % (len(messages), len(kinds))
    )


if __name__ == "__main__":
    main()
