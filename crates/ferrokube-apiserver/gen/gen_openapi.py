#!/usr/bin/env python3
"""Generate `src/openapi/kube_openapi.json.gz`: kube-apiserver's published OpenAPI documents.

The embedded server publishes `/openapi/v2` and `/openapi/v3[/<path>]` as kube-apiserver
v1.37.2 does, so that kubectl validates manifests, computes strategic merge patches and
finds the `fieldValidation` parameter exactly as against a real cluster. The documents
are Kubernetes' own, as released in the `k8s.io/kubernetes` Go module (pinned by
KUBE_VERSION, located with `go mod download -json`, which fetches it once through the Go
module proxy):

  * `api/openapi-spec/v3/<path>_openapi.json`, one OpenAPI 3.0 document per path of the
    v3 index (`api__v1` is `api/v1`, `apis__apps` the group document `apis/apps`,
    `.well-known__openid-configuration`, `version`, ...);
  * `api/openapi-spec/swagger.json`, the Swagger 2.0 document.

Kubernetes generates these with every API and feature gate enabled; two things differ in
what a default kube-apiserver v1.37.2 serves, and are adjusted here:

  * the CBOR media types (`application/cbor`, `application/cbor-seq`,
    `application/apply-patch+cbor`) are listed only while the CBOR serving feature is on,
    which it is not by default (nor does the embedded server speak CBOR): dropped from
    the v3 `content` maps and the v2 `consumes`/`produces` lists;
  * `info.version` is the server's `major.minor` (`1.37`), not `unversioned`;
  * the published files carry no enums, while kube-apiserver serves the `enum` values of
    string fields with a `+enum` type and their "Possible enum values" description, as
    its generated definitions (`pkg/generated/openapi/zz_generated.openapi.go` of the
    same module) hold them: added by definition and property.

Which documents the server lists is the server's business (its catalog of served
group-versions: alpha and beta versions are off by default); the data holds every
published document.

Output, to keep the repository and the binary small: one gzip (mtime 0) of one compact
JSON object (keys sorted)

    {"info_version": "1.37",
     "schemas": {name: schema},            # the union of every v3 document's
                                            # components.schemas (first seen)
     "v3": {path: {"doc": document without components.schemas,
                   "schemas": [names of its components.schemas found in "schemas"],
                   "own": {name: schema}}},  # those that differ from "schemas" (the
                                            # group-version-kinds of DeleteOptions and
                                            # WatchEvent are per document)
     "v2": the Swagger 2.0 document}

from which the server rebuilds every document value for value.

Usage:
    python3 crates/ferrokube-apiserver/gen/gen_openapi.py [--check] [--kubernetes DIR]
  --check           write nothing; exit 1 if the committed data (compared decompressed)
                    is not what the generator would write (tests/generators.sh runs it)
  --kubernetes DIR  read this k8s.io/kubernetes module directory instead of the pinned one
"""

import argparse
import gzip
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ next to the sources

OUT = os.path.join(HERE, "..", "src", "openapi", "kube_openapi.json.gz")
KUBE_MODULE = "k8s.io/kubernetes"
KUBE_VERSION = "v1.37.2"
CBOR_TYPES = {"application/cbor", "application/cbor-seq", "application/apply-patch+cbor"}


def rel(path):
    return os.path.relpath(os.path.abspath(path), os.path.join(HERE, "..", "..", ".."))


def module_dir():
    """The source directory of k8s.io/kubernetes at KUBE_VERSION (downloaded if missing)."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{KUBE_MODULE}@{KUBE_VERSION}"],
        check=True, capture_output=True, text=True, cwd=HERE,
        env=dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="on"),
    )
    return json.loads(out.stdout)["Dir"]


def drop_cbor_v3(node):
    """Remove the CBOR media types from every `content` map of a v3 document."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "content" and isinstance(v, dict):
                v = {t: s for t, s in v.items() if t not in CBOR_TYPES}
            out[k] = drop_cbor_v3(v)
        return out
    if isinstance(node, list):
        return [drop_cbor_v3(v) for v in node]
    return node


def drop_cbor_v2(paths):
    """Remove the CBOR media types from the `consumes`/`produces` of every v2 operation."""
    for item in paths.values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for key in ("consumes", "produces"):
                if isinstance(op.get(key), list):
                    op[key] = [t for t in op[key] if t not in CBOR_TYPES]
    return paths


FUNC_RE = re.compile(r"^func schema_(?:k8sio_)?(\w+)\(")
PROP_RE = re.compile(r'^\t+"([^"]+)": \{$')
DESC_RE = re.compile(r'^\t+Description:\s+(".*"),$')
ENUM_RE = re.compile(r'^\t+Enum:\s+\[\]interface\{\}\{(.*)\},?$')
ENUM_MARK = "\n\nPossible enum values:"


def type_key(definition):
    """The suffix of kube's generated function for a definition name
    (`io.k8s.api.core.v1.Pod` -> `api_core_v1_Pod`; the types of the other modules go by
    their package path inside the module: `io.k8s.apimachinery.pkg.apis.meta.v1.Time`
    -> `pkg_apis_meta_v1_Time`)."""
    rest = definition.removeprefix("io.k8s.")
    module, _, inside = rest.partition(".")
    if inside.startswith("pkg."):
        rest = inside
    return re.sub(r"[.-]", "_", rest)


def enum_table(kube_dir):
    """The enums of kube's generated OpenAPI definitions
    (`pkg/generated/openapi/zz_generated.openapi.go`): by (type key, property name), the
    property's description when it names the enum values (else None), the values, and
    where they sit (None: the property; `items` or `additionalProperties`)."""
    table = {}
    func = prop = desc = level = None
    path = os.path.join(kube_dir, "pkg", "generated", "openapi", "zz_generated.openapi.go")
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            m = FUNC_RE.match(line)
            if m:
                func, prop = m.group(1), None
                continue
            m = PROP_RE.match(line)
            if m:
                prop, desc, level = m.group(1), None, None
                continue
            if "Items: &spec.SchemaOrArray" in line:
                level = "items"
                continue
            if "AdditionalProperties: &spec.SchemaOrBool" in line:
                level = "additionalProperties"
                continue
            m = DESC_RE.match(line)
            if m and level is None:
                desc = json.loads(m.group(1))
                continue
            m = ENUM_RE.match(line)
            if m and func and prop:
                full = desc if desc and ENUM_MARK in desc else None
                table[(func, prop)] = (full, json.loads("[" + m.group(1) + "]"), level)
    return table


def add_enums(definition, schema, table):
    """Give the properties of a definition kube's enum values and enum descriptions."""
    key = type_key(definition)
    for name, prop in schema.get("properties", {}).items():
        hit = table.get((key, name))
        if hit is None:
            continue
        full, values, level = hit
        if full is not None:
            prop["description"] = full
        target = prop.get(level) if level else prop
        if isinstance(target, dict):
            target["enum"] = values


def main():
    p = argparse.ArgumentParser(
        prog=f"python3 {rel(__file__)}",
        description="Store kube-apiserver's published OpenAPI documents for the embedded server.",
        allow_abbrev=False,
    )
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if the committed data differs from what would be generated")
    p.add_argument("--kubernetes", metavar="DIR",
                   help=f"read this {KUBE_MODULE} module directory instead of {KUBE_VERSION} from the Go module cache")
    args = p.parse_args()

    kube_dir = args.kubernetes or module_dir()
    spec_dir = os.path.join(kube_dir, "api", "openapi-spec")
    enums = enum_table(kube_dir)
    major, minor = KUBE_VERSION.lstrip("v").split(".")[:2]
    info_version = f"{major}.{minor}"

    schemas, v3 = {}, {}
    v3_dir = os.path.join(spec_dir, "v3")
    for name in sorted(os.listdir(v3_dir)):
        if not name.endswith("_openapi.json"):
            continue
        key = name[: -len("_openapi.json")].replace("__", "/")
        with open(os.path.join(v3_dir, name), encoding="utf-8") as f:
            doc = drop_cbor_v3(json.load(f))
        doc["info"]["version"] = info_version
        components = doc.get("components", {})
        shared, own = [], {}
        for sname, schema in components.pop("schemas", {}).items():
            add_enums(sname, schema, enums)
            if schemas.setdefault(sname, schema) == schema:
                shared.append(sname)
            else:
                own[sname] = schema
        v3[key] = {"doc": doc, "schemas": sorted(shared), "own": own}

    with open(os.path.join(spec_dir, "swagger.json"), encoding="utf-8") as f:
        v2 = json.load(f)
    v2["info"]["version"] = info_version
    drop_cbor_v2(v2["paths"])
    for dname, schema in v2["definitions"].items():
        add_enums(dname, schema, enums)

    data = {"info_version": info_version, "schemas": schemas, "v3": v3, "v2": v2}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    if args.check:
        try:
            with open(OUT, "rb") as f:
                current = gzip.decompress(f.read())
        except (FileNotFoundError, OSError, EOFError):
            current = None
        if current != text:
            state = "is missing" if current is None else "is out of date"
            print(f"{rel(OUT)} {state}; regenerate it with: python3 {rel(__file__)}", file=sys.stderr)
            sys.exit(1)
        print(f"{rel(OUT)} is up to date")
        return
    blob = gzip.compress(text, compresslevel=9, mtime=0)
    with open(OUT, "wb") as f:
        f.write(blob)
    print(f"wrote {rel(OUT)}: {len(v3)} v3 documents, {len(schemas)} v3 schemas, "
          f"{len(v2['definitions'])} v2 definitions; {len(text)} bytes of JSON, {len(blob)} gzipped")


if __name__ == "__main__":
    main()
