#!/usr/bin/env python3
"""Generate crates/ferrokube-apiserver/src/handlers/protobuf/generated.rs: the field
tables the server needs to decode Kubernetes protobuf request bodies into JSON.

Usage: python3 crates/ferrokube-apiserver/gen/gen_protobuf.py [K8S_PB_SRC] [K8S_OPENAPI_SRC]

Why: kubectl 1.33's typed commands (`kubectl create namespace`, `create deployment`, ...)
send `Content-Type: application/vnd.kubernetes.protobuf` bodies and do not retry in JSON
after a 415. The decoder (handlers/protobuf/mod.rs) walks the wire format with these
tables and produces the same JSON the object would have.

Sources: k8s-pb (prost types generated from Kubernetes' generated.proto files) gives
message names, field numbers and wire types; k8s-openapi gives each field's JSON name
(matched case-insensitively, ignoring underscores, to the prost field name) and, from
its `impl crate::Resource`, which message a given apiVersion/kind is.
k8s-openapi is a workspace dependency (`cargo fetch` brings it); k8s-pb is not a build
dependency (only its tables are used): fetch it once with a scratch crate, e.g.
`cargo new /tmp/pb && cd /tmp/pb && cargo add k8s-pb@0.9 && cargo fetch`.
"""
import glob
import os
import re
import sys

HOME = os.path.expanduser("~")


def newest(pattern):
    c = sorted(glob.glob(HOME + "/.cargo/registry/src/*/" + pattern))
    if not c:
        sys.exit("not found: %s (run cargo fetch)" % pattern)
    return c[-1]


PB = sys.argv[1] if len(sys.argv) > 1 else newest("k8s-pb-0.*/src")
OA = sys.argv[2] if len(sys.argv) > 2 else newest("k8s-openapi-0.29.*/src/v1_37")

STRUCT_RE = re.compile(r"\npub struct (\w+) \{\n(.*?)\n\}", re.S)
FIELD_RE = re.compile(r"#\[prost\(([^]]*)\)\]\s*pub (?:r#)?(\w+):\s*(.*?),\s*(?=(?:///|#\[prost|$))", re.S)
TAG_RE = re.compile(r'tag = "(\d+)"')


def norm(name):
    return name.replace("_", "").replace("$", "").lower()


def json_names():
    """(module dir, lowercased struct name) -> {normalized field: JSON name}."""
    out = {}
    for path in glob.glob(OA + "/**/*.rs", recursive=True):
        text = open(path, encoding="utf-8").read()
        structs = re.findall(r"\npub struct (\w+) \{", text)
        if len(structs) != 1:
            continue
        keys = re.findall(r'"([^"]+)" => Field::Key_\w+', text)
        mod = os.path.relpath(os.path.dirname(path), OA)
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
    names = json_names()
    messages = {}
    for path in sorted(glob.glob(PB + "/**/mod.rs", recursive=True)):
        mod = os.path.relpath(os.path.dirname(path), PB)
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
    for path in sorted(glob.glob(OA + "/**/*.rs", recursive=True)):
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"impl crate::Resource for (\w+) \{(.*?)\n\}", text, re.S):
            consts = dict(re.findall(r"const (\w+): &'static str = \"([^\"]*)\";", m.group(2)))
            mod = os.path.relpath(os.path.dirname(path), OA)
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
        "//! generated by crates/ferrokube-apiserver/gen/gen_protobuf.py from %s and %s," % (
            re.sub(r".*/(k8s-pb-[^/]+).*", r"\1", PB), re.sub(r".*/(k8s-openapi-[^/]+)/src/(\w+).*", r"\1 \2", OA)),
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
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(here, "..", "src", "handlers", "protobuf", "generated.rs")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    print("wrote %d messages, %d kinds to %s" % (len(messages), len(kinds), os.path.normpath(target)))


if __name__ == "__main__":
    main()
