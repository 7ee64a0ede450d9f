#!/usr/bin/env python3
"""Generate crates/ferrokube-apimachinery/src/protobuf/generated.rs: the field tables
of the Kubernetes protobuf wire format (`application/vnd.kubernetes.protobuf`) that the
decoder and encoder of ferrokube-apimachinery/src/protobuf/ walk.

Usage: python3 crates/ferrokube-apimachinery/gen/gen_protobuf.py [--check] [--k8s-openapi DIR] [--go-module-dir MODULE=DIR ...]
  --check             write nothing; exit 1 if generated.rs is not what the generator
                      would write (tests/generators.sh runs it in CI)
  --k8s-openapi DIR   read this k8s-openapi source tree instead of the pinned one
  --go-module-dir M=D read Go module M (e.g. k8s.io/api) from directory D instead of
                      the pinned version `go mod download` fetches

Sources, pinned to the Kubernetes release of the k8s-openapi module used (v1_37):
- the `generated.proto` files of the Go modules k8s.io/api, k8s.io/apimachinery,
  k8s.io/apiextensions-apiserver, k8s.io/kube-aggregator and k8s.io/metrics at
  GO_VERSION below, located with `go mod download -json <module>@<version>` (which
  fetches a missing module through the Go module proxy once): message names, field
  numbers, wire types and message types;
- the Go type definitions next to each generated.proto (the `.go` files of the same
  package): each field's JSON name (its `json:"..."` tag, matched to the proto field by
  its `protobuf:"...,<number>,..."` tag), which fields are embedded structs whose JSON
  is inlined into the parent (`PersistentVolumeSpec.persistentVolumeSource`,
  `IngressRule.ingressRuleValue`, ...: the INLINE table), which scalar fields' zero Go's
  JSON leaves out (non-pointer with `omitempty`: OMIT_ZERO), and which types are a Go
  `[]string` (STRING_LISTS);
- k8s-openapi (the release the workspace's Cargo.lock pins, located with `cargo
  metadata`, gen/cargo_sources.py at the repository root): from its `impl
  crate::Resource`, which message a given apiVersion/kind is (the KINDS table).

Until 0.1 the message tables came from k8s-pb 0.9.0's prost types, which lack fields
and messages Kubernetes 1.37 has (PodSpec 43-44, ListMeta.shardInfo, the v1
MutatingAdmissionPolicy, ...) and whose names lose the JSON spelling of acronyms; the
.proto files are Kubernetes' own definitions. Message keys are `<proto package without
k8s.io, dots as slashes>/<message name>`, e.g. `api/core/v1/HTTPGetAction`.
"""
import glob
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ next to the sources
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "gen"))
import cargo_sources  # noqa: E402  (locates k8s-openapi through cargo metadata)
import generator_cli  # noqa: E402  (argument parsing, write or --check)

OUT = os.path.join(HERE, "..", "src", "protobuf", "generated.rs")
K8S_VERSION = "v1_37"
GO_VERSION = "v0.37.2"
GO_MODULES = [
    "k8s.io/api",
    "k8s.io/apimachinery",
    "k8s.io/apiextensions-apiserver",
    "k8s.io/kube-aggregator",
    "k8s.io/metrics",
]
SCALARS = {"string": "Kind::String", "bytes": "Kind::Bytes", "bool": "Kind::Bool", "int32": "Kind::Int32",
           "int64": "Kind::Int64", "double": "Kind::Double"}

FIELD_RE = re.compile(r"^\s*(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;", re.M)
MAP_RE = re.compile(r"^\s*map\s*<\s*string\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;", re.M)
MESSAGE_RE = re.compile(r"^message (\w+) \{\n(.*?)^\}", re.M | re.S)
GO_STRUCT_RE = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.M | re.S)
GO_FIELD_RE = re.compile(r"^\s*((?:\w+\s+)?)([*\[\]\w.]+)\s+`([^`]*)`", re.M)


def go_module_dir(module, overrides):
    if module in overrides:
        return overrides[module]
    out = subprocess.run(
        ["go", "mod", "download", "-json", "%s@%s" % (module, GO_VERSION)],
        check=True, capture_output=True, text=True, cwd=HERE,
        env=dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="on"),
    )
    return json.loads(out.stdout)["Dir"]


def go_string_lists(pkg_dir):
    """Names of the package's `type X []string` types: their message is `{items}`, their
    JSON a plain array of strings."""
    out = set()
    for path in sorted(glob.glob(os.path.join(pkg_dir, "*.go"))):
        if not path.endswith("_test.go"):
            out.update(re.findall(r"^type (\w+) \[\]string$", open(path, encoding="utf-8").read(), re.M))
    return out


def go_fields(pkg_dir):
    """(struct name, proto field number) -> (JSON name, embedded and inlined, whether Go's
    JSON encoder omits the field's zero value (a value type with `omitempty`/`omitzero`),
    whether it is a value type (not a pointer, slice or map), its Go type, `omitzero`)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(pkg_dir, "*.go"))):
        if path.endswith("_test.go") or os.path.basename(path).startswith(("generated.", "zz_generated")):
            continue
        text = open(path, encoding="utf-8").read()
        for sm in GO_STRUCT_RE.finditer(text):
            for fm in GO_FIELD_RE.finditer(sm.group(2)):
                name, tag = fm.group(1).strip(), fm.group(3)
                pm = re.search(r'protobuf:"\w+,(\d+),', tag)
                if not pm:
                    continue
                jm = re.search(r'json:"([^",]*)([^"]*)"', tag)
                json_name = jm.group(1) if jm else ""
                inline = not name and json_name == ""
                options = jm.group(2).split(",") if jm else []
                gotype = fm.group(2)
                value_type = not gotype.startswith(("*", "[]", "map["))
                omits_zero = value_type and ("omitempty" in options or "omitzero" in options)
                out[(sm.group(1), int(pm.group(1)))] = (
                    json_name if json_name not in ("", "-") else None, inline, omits_zero, value_type, gotype,
                    "omitzero" in options)
    return out


def main():
    p = generator_cli.parser(__file__, "Generate the protobuf field tables of the Kubernetes types.", ("k8s-openapi",))
    p.add_argument("--go-module-dir", action="append", default=[], metavar="MODULE=DIR",
                   help="read this Go module from DIR instead of the pinned version")
    args = p.parse_args()
    overrides = dict(o.split("=", 1) for o in args.go_module_dir)
    oa = cargo_sources.crate("k8s-openapi", args.k8s_openapi)
    oa_src = oa.dir("src", K8S_VERSION)

    protos = []
    for module in GO_MODULES:
        root = go_module_dir(module, overrides)
        for path in sorted(glob.glob(root + "/**/generated.proto", recursive=True)):
            if "/testdata/" in path:
                continue
            protos.append(path)

    messages, inline, string_lists, omit_zero, always = {}, set(), set(), set(), set()
    for path in protos:
        text = re.sub(r"//[^\n]*", "", open(path, encoding="utf-8").read())
        package = re.search(r"^package ([\w.]+);", text, re.M).group(1)
        prefix = package[len("k8s.io."):].replace(".", "/")
        gofields = go_fields(os.path.dirname(path))
        lists = go_string_lists(os.path.dirname(path))

        def resolve(t):
            if t in SCALARS:
                return SCALARS[t]
            t = t.lstrip(".")
            if t.startswith("k8s.io."):
                pkg, _, name = t[len("k8s.io."):].rpartition(".")
                return 'Kind::Message("%s/%s")' % (pkg.replace(".", "/"), name)
            return 'Kind::Message("%s/%s")' % (prefix, t)

        for mm in MESSAGE_RE.finditer(text):
            name, body = mm.group(1), mm.group(2)
            key = prefix + "/" + name
            fields = []
            for fm in FIELD_RE.finditer(body):
                label, ftype, fname, tag = fm.group(1), fm.group(2), fm.group(3), int(fm.group(4))
                json_name, is_inline, omits, value_type, gotype, omitzero = gofields.get(
                    (name, tag), (None, False, False, False, "", False))
                if is_inline:
                    inline.add((key, tag))
                if omits and label != "repeated" and (ftype in SCALARS or omitzero):
                    omit_zero.add((key, tag))
                if value_type and label != "repeated" and ftype != "bytes" and gotype.split(".")[-1] not in lists:
                    always.add((key, tag))
                fields.append((tag, json_name or fname, resolve(ftype), label == "repeated"))
            for fm in MAP_RE.finditer(body):
                vtype, fname, tag = fm.group(1), fm.group(2), int(fm.group(3))
                json_name = gofields.get((name, tag), (None,))[0]
                fields.append((tag, json_name or fname, "Kind::Map(&%s)" % resolve(vtype), False))
            fields.sort(key=lambda f: body.index("= %d;" % f[0]) if ("= %d;" % f[0]) in body else f[0])
            messages[key] = fields
            if name in lists:
                string_lists.add(key)

    kinds = []
    lower = {k.lower(): k for k in messages}
    for path in sorted(glob.glob(oa_src + "/**/*.rs", recursive=True)):
        text = open(path, encoding="utf-8").read()
        for m in re.finditer(r"impl crate::Resource for (\w+) \{(.*?)\n\}", text, re.S):
            consts = dict(re.findall(r"const (\w+): &'static str = \"([^\"]*)\";", m.group(2)))
            mod = os.path.relpath(os.path.dirname(path), oa_src)
            key = lower.get((mod + "/" + m.group(1)).lower())
            if key and consts.get("KIND"):
                kinds.append((consts["API_VERSION"], consts["KIND"], key))
    kinds.append(("v1", "DeleteOptions", "apimachinery/pkg/apis/meta/v1/DeleteOptions"))
    kinds.append(("meta.k8s.io/v1", "DeleteOptions", "apimachinery/pkg/apis/meta/v1/DeleteOptions"))

    out = [
        "//! Protobuf field tables of the Kubernetes types.",
        "//!",
        "//! generated by crates/ferrokube-apimachinery/gen/gen_protobuf.py from the generated.proto files",
        "//! and Go types of k8s.io/{api,apimachinery,apiextensions-apiserver,kube-aggregator,metrics} %s" % GO_VERSION,
        "//! and %s %s, do not edit." % (oa.label, K8S_VERSION),
        "",
        "use super::{FieldDef, Kind, MessageDef};",
        "",
        "/// Every message, sorted by key (`<module path>/<name>`).",
        "pub static MESSAGES: &[MessageDef] = &[",
    ]
    for key in sorted(messages):
        out.append('    MessageDef { key: "%s", fields: &[' % key)
        for tag, json_name, kind, repeated in messages[key]:
            out.append('        FieldDef { tag: %d, json: "%s", kind: %s, repeated: %s },' % (
                tag, json_name, kind, "true" if repeated else "false"))
        out.append("    ] },")
    out.append("];")
    out.append("")
    out.append("/// `(apiVersion, kind, message key)` of every top-level kind.")
    out.append("pub static KINDS: &[(&str, &str, &str)] = &[")
    for av, k, key in sorted(set(kinds)):
        out.append('    ("%s", "%s", "%s"),' % (av, k, key))
    out.append("];")
    out.append("")
    out.append("/// `(message key, field number)` of the embedded Go structs whose JSON is inlined")
    out.append("/// into the parent object (the field has no JSON name of its own), sorted.")
    out.append("pub static INLINE: &[(&str, u32)] = &[")
    for key, tag in sorted(inline):
        out.append('    ("%s", %d),' % (key, tag))
    out.append("];")
    out.append("")
    out.append("/// `(message key, field number)` of the fields Go's protobuf encoder writes even when")
    out.append("/// zero (value types: not a pointer, slice, map or `[]byte`); sorted.")
    out.append("pub static ALWAYS_WRITTEN: &[(&str, u32)] = &[")
    for key, tag in sorted(always):
        out.append('    ("%s", %d),' % (key, tag))
    out.append("];")
    out.append("")
    out.append("/// `(message key, field number)` of the fields whose zero value Go's JSON encoder")
    out.append("/// leaves out (non-pointer scalars with `omitempty`, structs with `omitzero`) while")
    out.append("/// its protobuf encoder writes it; sorted. A zero of any other field is meaningful")
    out.append("/// (a Go pointer set to zero, or a field JSON always writes).")
    out.append("pub static OMIT_ZERO: &[(&str, u32)] = &[")
    for key, tag in sorted(omit_zero):
        out.append('    ("%s", %d),' % (key, tag))
    out.append("];")
    out.append("")
    out.append("/// Message keys of the Go `[]string` types (`ExtraValue`, `Verbs`, ...): a message")
    out.append("/// `{items}` on the wire, a plain array of strings in JSON; sorted.")
    out.append("pub static STRING_LISTS: &[&str] = &[")
    for key in sorted(string_lists):
        out.append('    "%s",' % key)
    out.append("];")
    generator_cli.emit(
        __file__, OUT, "\n".join(out) + "\n", args.check,
        "%d messages, %d kinds, %d inlined fields" % (len(messages), len(kinds), len(inline)),
    )


if __name__ == "__main__":
    main()
