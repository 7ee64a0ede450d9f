#!/usr/bin/env python3
"""Compatibility checks of ferrokube-apiserver with the official Python client.

Run by tests/compat/run.sh with the venv of tests/compat/setup.sh:

    python_client_check.py --kubeconfig PATH [--namespace NS]

Prints one "PASS <check>" or "FAIL <check>: <why>" line per check and exits non-zero
if any check failed. Each check states the kube-apiserver behaviour it expects.
"""

import argparse
import sys
import threading
import time
import traceback

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

FAILURES = []
PASSES = 0


def check(name):
    """Decorator-like runner: run fn, print PASS/FAIL, never raise."""

    def run(fn):
        global PASSES
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            detail = describe(e)
            FAILURES.append(name)
            print(f"FAIL [python] {name}: {detail}", flush=True)
            if not isinstance(e, (AssertionError, ApiException)):
                traceback.print_exc(limit=3, file=sys.stdout)
            return False
        PASSES += 1
        print(f"PASS [python] {name}", flush=True)
        return True

    return run


def describe(e):
    if isinstance(e, ApiException):
        body = (e.body or "")
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        return f"ApiException status={e.status} reason={e.reason!r} body={body[:400]!r}"
    return f"{type(e).__name__}: {e}"


def expect_api_error(fn, status, reason=None):
    """Call fn; it must raise ApiException with this HTTP status (and Status reason)."""
    try:
        fn()
    except ApiException as e:
        assert e.status == status, f"expected HTTP {status}, got {describe(e)}"
        if reason is not None:
            body = e.body.decode() if isinstance(e.body, bytes) else (e.body or "")
            assert f'"reason":"{reason}"' in body.replace(" ", ""), (
                f"expected a Status with reason {reason}, got body {body[:400]!r}"
            )
        return
    raise AssertionError(f"expected ApiException {status}, but the call succeeded")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--namespace", default="compat-python")
    args = ap.parse_args()
    ns = args.namespace
    T = 20  # client-side _request_timeout, seconds: a hung server fails the check

    config.load_kube_config(config_file=args.kubeconfig)
    v1 = client.CoreV1Api()
    apps = client.AppsV1Api()
    label = {"suite": "compat"}

    def cm(name, labels=None, data=None):
        return client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=name, labels=labels),
            data=data or {"k": "v"},
        )

    @check("get /version (VersionApi)")
    def _():
        v = client.VersionApi().get_code(_request_timeout=T)
        assert v.git_version and v.git_version.startswith("v1."), f"git_version={v.git_version!r}"
        assert v.major == "1", f"major={v.major!r}"

    @check(f"create namespace {ns}")
    def _():
        created = v1.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)), _request_timeout=T
        )
        assert created.metadata.name == ns
        assert created.metadata.uid, "no uid"
        assert created.metadata.resource_version, "no resourceVersion"
        got = v1.read_namespace(ns, _request_timeout=T)
        assert got.status.phase == "Active", f"phase={got.status.phase!r}"

    names = [f"cm-{i:02d}" for i in range(25)]

    @check("create 25 labelled configmaps")
    def _():
        for i, n in enumerate(names):
            labels = dict(label, parity="even" if i % 2 == 0 else "odd", idx=str(i))
            out = v1.create_namespaced_config_map(ns, cm(n, labels, {"i": str(i)}), _request_timeout=T)
            assert out.metadata.name == n and out.metadata.namespace == ns
            assert out.metadata.creation_timestamp is not None, "no creationTimestamp"

    def list_all(page_hook=None, **kw):
        seen, cont, pages, rvs = [], None, 0, set()
        while True:
            page = v1.list_namespaced_config_map(
                ns, limit=10, _continue=cont, label_selector="suite=compat", _request_timeout=T, **kw
            )
            pages += 1
            assert len(page.items) <= 10, f"page {pages} has {len(page.items)} items > limit 10"
            seen += [i.metadata.name for i in page.items]
            rvs.add(page.metadata.resource_version)
            cont = page.metadata._continue
            if page_hook:
                page_hook(pages)
            if not cont:
                return seen, pages, rvs
            assert pages < 10, "more than 10 pages for 25 items: continue token does not advance"

    @check("list limit=10 + continue: 3 pages, all 25 exactly once")
    def _():
        seen, pages, rvs = list_all()
        assert pages == 3, f"{pages} pages, expected 3"
        dup = sorted({n for n in seen if seen.count(n) > 1})
        assert not dup, f"duplicates across pages: {dup}"
        assert sorted(seen) == names, f"got {sorted(seen)}"
        assert len(rvs) == 1, f"pages report different list resourceVersions {rvs} (not one snapshot)"

    @check("list limit=10 + continue is a consistent snapshot (object created mid-paging not seen)")
    def _():
        def hook(page):
            if page == 1:
                v1.create_namespaced_config_map(ns, cm("cm-99", dict(label, parity="odd")), _request_timeout=T)

        try:
            seen, _, _ = list_all(page_hook=hook)
            assert sorted(seen) == names, f"got {len(seen)} names, extra: {sorted(set(seen) - set(names))}"
        finally:
            try:
                v1.delete_namespaced_config_map("cm-99", ns, _request_timeout=T)
            except ApiException:
                pass

    @check("list limit=10 without selectors reports remainingItemCount = total - 10")
    def _():
        # kube-apiserver leaves remainingItemCount unset when a selector is given, so none here.
        total = len(v1.list_namespaced_config_map(ns, _request_timeout=T).items)
        page = v1.list_namespaced_config_map(ns, limit=10, _request_timeout=T)
        want = total - 10
        assert page.metadata.remaining_item_count == want, (
            f"remainingItemCount={page.metadata.remaining_item_count}, expected {want} ({total} items)"
        )

    def count(**kw):
        return sorted(i.metadata.name for i in v1.list_namespaced_config_map(ns, _request_timeout=T, **kw).items)

    @check("label_selector: =, !=, in, notin, exists, !")
    def _():
        even = [n for i, n in enumerate(names) if i % 2 == 0]
        odd = [n for i, n in enumerate(names) if i % 2 == 1]
        cases = {
            "parity=even": even,
            "parity==odd": odd,
            "suite=compat,parity!=even": odd,
            "parity in (odd)": odd,
            "suite=compat,parity notin (odd)": even,
            "suite": names,
            "suite,!nosuchlabel": names,
            "idx in (3,4,5),parity=odd": ["cm-03", "cm-05"],
            "nosuchlabel": [],
        }
        for sel, want in cases.items():
            got = count(label_selector=sel)
            assert got == want, f"label_selector {sel!r}: got {got}, expected {want}"

    @check("field_selector: metadata.name=, metadata.name!=, metadata.namespace=")
    def _():
        got = count(field_selector="metadata.name=cm-07")
        assert got == ["cm-07"], f"metadata.name=cm-07: {got}"
        got = count(field_selector="metadata.name!=cm-07", label_selector="suite=compat")
        assert got == [n for n in names if n != "cm-07"], f"metadata.name!=cm-07: {len(got)} items"
        got = count(field_selector=f"metadata.namespace={ns},metadata.name=cm-08")
        assert got == ["cm-08"], f"namespace+name: {got}"
        # across namespaces
        allns = v1.list_config_map_for_all_namespaces(
            field_selector="metadata.name=cm-09", label_selector="suite=compat", _request_timeout=T
        )
        got = [(i.metadata.namespace, i.metadata.name) for i in allns.items]
        assert got == [(ns, "cm-09")], f"all namespaces, metadata.name=cm-09: {got}"

    @check("get of a missing configmap -> 404 NotFound")
    def _():
        expect_api_error(lambda: v1.read_namespaced_config_map("no-such-cm", ns, _request_timeout=T), 404, "NotFound")

    @check("create of a duplicate configmap -> 409 AlreadyExists")
    def _():
        expect_api_error(
            lambda: v1.create_namespaced_config_map(ns, cm("cm-00", label), _request_timeout=T), 409, "AlreadyExists"
        )

    @check("replace with a stale resourceVersion -> 409 Conflict; with the current one succeeds")
    def _():
        old = v1.read_namespaced_config_map("cm-01", ns, _request_timeout=T)
        fresh = v1.read_namespaced_config_map("cm-01", ns, _request_timeout=T)
        fresh.data = {"i": "1", "changed": "yes"}
        updated = v1.replace_namespaced_config_map("cm-01", ns, fresh, _request_timeout=T)
        assert updated.metadata.resource_version != old.metadata.resource_version, "resourceVersion unchanged by update"
        old.data = {"stale": "write"}
        expect_api_error(lambda: v1.replace_namespaced_config_map("cm-01", ns, old, _request_timeout=T), 409, "Conflict")
        now = v1.read_namespaced_config_map("cm-01", ns, _request_timeout=T)
        assert now.data == {"i": "1", "changed": "yes"}, f"stale write changed data: {now.data}"

    @check("create with dry_run=All returns the object but stores nothing")
    def _():
        out = v1.create_namespaced_config_map(ns, cm("dry", label), dry_run="All", _request_timeout=T)
        assert out.metadata.name == "dry", f"name={out.metadata.name!r}"
        expect_api_error(lambda: v1.read_namespaced_config_map("dry", ns, _request_timeout=T), 404, "NotFound")

    @check("create with generateName gets a generated name with that prefix")
    def _():
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-"), data={"a": "b"})
        out = v1.create_namespaced_config_map(ns, body, _request_timeout=T)
        assert out.metadata.name and out.metadata.name.startswith("gen-") and len(out.metadata.name) > 4, (
            f"name={out.metadata.name!r}"
        )
        v1.delete_namespaced_config_map(out.metadata.name, ns, _request_timeout=T)

    @check("create in a missing namespace -> 404 NotFound")
    def _():
        expect_api_error(
            lambda: v1.create_namespaced_config_map("no-such-namespace-xyz", cm("x"), _request_timeout=T), 404, "NotFound"
        )

    @check("watch from a list resourceVersion sees ADDED, MODIFIED, DELETED made from a thread")
    def _():
        rv = v1.list_namespaced_config_map(ns, _request_timeout=T).metadata.resource_version
        assert rv, "list has no resourceVersion"
        errors = []

        def mutate():
            try:
                time.sleep(0.5)
                v1.create_namespaced_config_map(ns, cm("watched", {"w": "1"}), _request_timeout=T)
                v1.patch_namespaced_config_map(
                    "watched", ns, {"data": {"k": "v2"}}, _content_type="application/merge-patch+json", _request_timeout=T
                )
                v1.delete_namespaced_config_map("watched", ns, _request_timeout=T)
            except Exception as e:  # noqa: BLE001
                errors.append(describe(e))

        th = threading.Thread(target=mutate, daemon=True)
        w = watch.Watch()
        events = []
        th.start()
        deadline = time.time() + 15
        for ev in w.stream(v1.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10, _request_timeout=T):
            obj = ev["object"]
            name = obj.metadata.name if hasattr(obj, "metadata") else ev["raw_object"].get("metadata", {}).get("name")
            if ev["type"] == "ERROR":
                events.append(("ERROR", str(ev["raw_object"])[:300]))
                break
            if name == "watched":
                assert isinstance(obj, client.V1ConfigMap), f"event object is {type(obj).__name__}"
                events.append((ev["type"], obj.data.get("k") if obj.data else None))
            if ev["type"] == "DELETED" and name == "watched":
                break
            if time.time() > deadline:
                break
        w.stop()
        th.join(timeout=10)
        assert not errors, f"mutating thread failed: {errors}"
        types = [t for t, _ in events]
        assert types == ["ADDED", "MODIFIED", "DELETED"], f"events for 'watched': {events}"
        assert events[1][1] == "v2", f"MODIFIED event carries data k={events[1][1]!r}"

    @check("watch with label_selector only sees matching objects")
    def _():
        rv = v1.list_namespaced_config_map(ns, _request_timeout=T).metadata.resource_version

        def mutate():
            time.sleep(0.5)
            v1.create_namespaced_config_map(ns, cm("w-nomatch", {"watch": "no"}), _request_timeout=T)
            v1.create_namespaced_config_map(ns, cm("w-match", {"watch": "yes"}), _request_timeout=T)

        th = threading.Thread(target=mutate, daemon=True)
        th.start()
        w = watch.Watch()
        seen = []
        for ev in w.stream(
            v1.list_namespaced_config_map, ns, resource_version=rv, label_selector="watch=yes", timeout_seconds=8,
            _request_timeout=T,
        ):
            seen.append((ev["type"], ev["raw_object"].get("metadata", {}).get("name")))
            if seen[-1][1] == "w-match":
                break
        w.stop()
        th.join(timeout=10)
        assert seen == [("ADDED", "w-match")], f"events: {seen}"

    @check("watch from a too-old resourceVersion -> 410 Gone (or an ERROR event with code 410)")
    def _():
        try:
            for ev in watch.Watch().stream(
                v1.list_namespaced_config_map, ns, resource_version="1", timeout_seconds=3, _request_timeout=T
            ):
                if ev["type"] == "ERROR":
                    assert ev["raw_object"].get("code") == 410, f"ERROR event {ev['raw_object']}"
                    return
                # a server with full history since rv 1 may legitimately replay: accept that
                return
        except ApiException as e:
            assert e.status == 410, describe(e)

    @check("dynamic client: discovery, configmaps by label selector, deployments (short names, scale subresource)")
    def _():
        import os
        import tempfile

        from kubernetes import dynamic

        cache = os.path.join(tempfile.mkdtemp(prefix="compat-dyn-"), "discovery.json")
        dc = dynamic.DynamicClient(client.ApiClient(), cache_file=cache)
        cms = dc.resources.get(api_version="v1", kind="ConfigMap")
        assert cms.namespaced and cms.name == "configmaps", f"{cms.name} namespaced={cms.namespaced}"
        got = cms.get(namespace=ns, label_selector="suite=compat,parity=even")
        assert len(got.items) == 13, f"{len(got.items)} items"
        deps = dc.resources.get(api_version="apps/v1", kind="Deployment")
        assert "deploy" in (deps.short_names or []), f"short names {deps.short_names}"
        assert deps.get(namespace=ns).items == [], "deployments listed before any was created"
        scale = dc.resources.get(api_version="apps/v1", kind="Deployment").subresources.get("scale")
        assert scale is not None, "deployments/scale not discovered"

    @check("delete configmap, then get -> 404")
    def _():
        st = v1.delete_namespaced_config_map("cm-02", ns, _request_timeout=T)
        assert st is not None
        expect_api_error(lambda: v1.read_namespaced_config_map("cm-02", ns, _request_timeout=T), 404, "NotFound")
        expect_api_error(lambda: v1.delete_namespaced_config_map("cm-02", ns, _request_timeout=T), 404, "NotFound")

    @check("delete_collection with label_selector")
    def _():
        v1.delete_collection_namespaced_config_map(ns, label_selector="parity=odd", _request_timeout=T)
        left = count(label_selector="suite=compat")
        want = [n for i, n in enumerate(names) if i % 2 == 0 and n != "cm-02"]
        assert left == want, f"left after deleting parity=odd: {left}"

    dep_name = "pyweb"

    @check("create deployment (AppsV1Api)")
    def _():
        body = client.V1Deployment(
            metadata=client.V1ObjectMeta(name=dep_name, labels={"app": dep_name}),
            spec=client.V1DeploymentSpec(
                replicas=1,
                selector=client.V1LabelSelector(match_labels={"app": dep_name}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": dep_name}),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx:1.27")]),
                ),
            ),
        )
        out = apps.create_namespaced_deployment(ns, body, _request_timeout=T)
        assert out.metadata.name == dep_name
        assert out.metadata.generation == 1, f"generation={out.metadata.generation}"
        assert out.spec.replicas == 1

    @check("read_namespaced_deployment_scale")
    def _():
        sc = apps.read_namespaced_deployment_scale(dep_name, ns, _request_timeout=T)
        assert isinstance(sc, client.V1Scale), type(sc).__name__
        assert sc.spec.replicas == 1, f"scale spec.replicas={sc.spec.replicas}"
        assert sc.metadata.name == dep_name

    @check("patch_namespaced_deployment_scale (merge patch) to 4; deployment spec.replicas follows")
    def _():
        sc = apps.patch_namespaced_deployment_scale(
            dep_name, ns, {"spec": {"replicas": 4}}, _content_type="application/merge-patch+json", _request_timeout=T
        )
        assert sc.spec.replicas == 4, f"scale spec.replicas={sc.spec.replicas}"
        d = apps.read_namespaced_deployment(dep_name, ns, _request_timeout=T)
        assert d.spec.replicas == 4, f"deployment spec.replicas={d.spec.replicas}"
        assert d.metadata.generation == 2, f"generation={d.metadata.generation} after a spec change"

    @check("patch_namespaced_deployment_scale (client default: strategic merge patch) to 2")
    def _():
        sc = apps.patch_namespaced_deployment_scale(dep_name, ns, {"spec": {"replicas": 2}}, _request_timeout=T)
        assert sc.spec.replicas == 2, f"scale spec.replicas={sc.spec.replicas}"

    @check("replace_namespaced_deployment_scale to 5")
    def _():
        # The deployment controller writes the status concurrently (new resourceVersions),
        # so a read-modify-replace can meet 409 Conflict, as with kube-apiserver: retry on
        # conflict like client-go's retry.RetryOnConflict (at most 10 times).
        for attempt in range(10):
            sc = apps.read_namespaced_deployment_scale(dep_name, ns, _request_timeout=T)
            sc.spec.replicas = 5
            try:
                out = apps.replace_namespaced_deployment_scale(dep_name, ns, sc, _request_timeout=T)
                break
            except ApiException as e:
                if e.status != 409 or attempt == 9:
                    raise
        assert out.spec.replicas == 5
        assert apps.read_namespaced_deployment(dep_name, ns, _request_timeout=T).spec.replicas == 5

    @check("read_namespaced_deployment_status")
    def _():
        d = apps.read_namespaced_deployment_status(dep_name, ns, _request_timeout=T)
        assert isinstance(d, client.V1Deployment), type(d).__name__
        assert d.metadata.name == dep_name
        assert d.spec.replicas == 5, f"spec.replicas={d.spec.replicas}"

    @check("delete deployment")
    def _():
        apps.delete_namespaced_deployment(dep_name, ns, _request_timeout=T)
        expect_api_error(lambda: apps.read_namespaced_deployment(dep_name, ns, _request_timeout=T), 404, "NotFound")

    # --- apply-like flows (server-side apply), deployment status, scale subresource ----
    from kubernetes import dynamic as _dynamic
    import os as _os
    import tempfile as _tempfile

    dyn = _dynamic.DynamicClient(
        client.ApiClient(), cache_file=_os.path.join(_tempfile.mkdtemp(prefix="compat-ssa-"), "discovery.json")
    )
    dcm = dyn.resources.get(api_version="v1", kind="ConfigMap")
    ddep = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    ssa_cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "py-ssa"}, "data": {"owner": "py-a", "n": "1"}}

    @check("server-side apply (DynamicClient.server_side_apply) creates; same apply again is a no-op")
    def _():
        a = dcm.server_side_apply(body=ssa_cm, namespace=ns, field_manager="py-a", _request_timeout=T)
        assert a.data.owner == "py-a" and a.data.n == "1", f"data={a.data}"
        managers = [(m.manager, m.operation) for m in a.metadata.managedFields]
        assert ("py-a", "Apply") in managers, f"managedFields {managers}"
        b = dcm.server_side_apply(body=ssa_cm, namespace=ns, field_manager="py-a", _request_timeout=T)
        assert b.metadata.resourceVersion == a.metadata.resourceVersion, (
            f"identical apply changed resourceVersion {a.metadata.resourceVersion} -> {b.metadata.resourceVersion}"
        )

    @check("server-side apply by a second field manager of an owned field -> 409 Conflict; force=True takes it")
    def _():
        other = {**ssa_cm, "data": {"owner": "py-b"}}
        expect_api_error(
            lambda: dcm.server_side_apply(body=other, namespace=ns, field_manager="py-b", _request_timeout=T),
            409, "Conflict",
        )
        got = v1.read_namespaced_config_map("py-ssa", ns, _request_timeout=T)
        assert got.data == {"owner": "py-a", "n": "1"}, f"conflicting apply changed data: {got.data}"
        out = dcm.server_side_apply(
            body=other, namespace=ns, field_manager="py-b", force_conflicts=True, _request_timeout=T
        )
        assert out.data.owner == "py-b" and out.data.n == "1", f"data={out.data}"

    def raw_apply(path, body, manager, force=False):
        """PATCH application/apply-patch+yaml through ApiClient.param_serialize + call_api."""
        api = client.ApiClient()
        q = [("fieldManager", manager)] + ([("force", "true")] if force else [])
        params = api.param_serialize(
            "PATCH", path, query_params=q,
            header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
            body=body, auth_settings=["BearerToken"],
        )
        resp = api.call_api(*params, _request_timeout=T)
        resp.read()
        return api.response_deserialize(resp, {"200": "V1ConfigMap", "201": "V1ConfigMap"}).data

    @check("server-side apply via ApiClient.call_api (application/apply-patch+yaml, fieldManager, force)")
    def _():
        path = f"/api/v1/namespaces/{ns}/configmaps/py-ssa"
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "py-ssa"}, "data": {"n": "2", "owner": "py-a"}}
        out = raw_apply(path, body, "py-a", force=True)
        assert isinstance(out, client.V1ConfigMap), type(out).__name__
        assert out.data == {"n": "2", "owner": "py-a"}, f"data={out.data}"
        # py-b now applies only "extra": it gives up "owner" (not in its config any more),
        # which py-a co-owns, so the value stays; "extra" is added
        raw_apply(path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "py-ssa"}, "data": {"extra": "b"}}, "py-b")
        got = v1.read_namespaced_config_map("py-ssa", ns, _request_timeout=T)
        assert got.data == {"n": "2", "owner": "py-a", "extra": "b"}, f"data={got.data}"
        # and a conflict through call_api is a 409 ApiException too
        expect_api_error(lambda: raw_apply(path, {**body, "data": {"n": "3"}}, "py-b"), 409, "Conflict")

    ssa_dep_name = "pyssa"

    def ssa_deployment(replicas):
        return {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": ssa_dep_name, "labels": {"app": ssa_dep_name}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": ssa_dep_name}},
                "template": {
                    "metadata": {"labels": {"app": ssa_dep_name}},
                    "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
                },
            },
        }

    def poll(what, fn, secs=40):
        deadline = time.time() + secs
        last = None
        while time.time() < deadline:
            ok, last = fn()
            if ok:
                return last
            time.sleep(0.5)
        raise AssertionError(f"{what}: not reached within {secs}s; last: {last}")

    def pods_of(app):
        items = v1.list_namespaced_pod(ns, label_selector=f"app={app}", _request_timeout=T).items
        return [p.metadata.name for p in items if p.metadata.deletion_timestamp is None], len(items)

    @check("server-side apply of a deployment (3 replicas); read_namespaced_deployment_status reaches availableReplicas=3")
    def _():
        d = ddep.server_side_apply(body=ssa_deployment(3), namespace=ns, field_manager="py-a", _request_timeout=T)
        assert d.spec.replicas == 3, f"spec.replicas={d.spec.replicas}"

        def ready():
            s = apps.read_namespaced_deployment_status(ssa_dep_name, ns, _request_timeout=T)
            st = s.status
            got = (st.replicas, st.updated_replicas, st.ready_replicas, st.available_replicas, st.observed_generation)
            return (st.available_replicas == 3 and st.updated_replicas == 3 and st.replicas == 3
                    and st.observed_generation == s.metadata.generation), got

        poll("status (replicas, updated, ready, available, observedGeneration) == 3s", ready)
        conds = {c.type: c.status for c in apps.read_namespaced_deployment_status(ssa_dep_name, ns, _request_timeout=T).status.conditions or []}
        assert conds.get("Available") == "True", f"conditions {conds}"
        poll("3 running pods", lambda: (lambda p: (len(p[0]) == 3 and p[1] == 3, p))(pods_of(ssa_dep_name)))

    @check("scale subresource: read shows 3 (spec and status); patch to 1 -> pods converge to 1, status.replicas 1")
    def _():
        sc = apps.read_namespaced_deployment_scale(ssa_dep_name, ns, _request_timeout=T)
        assert sc.spec.replicas == 3 and sc.status.replicas == 3, f"scale spec={sc.spec.replicas} status={sc.status.replicas}"
        assert sc.status.selector == f"app={ssa_dep_name}", f"scale status.selector={sc.status.selector!r}"
        apps.patch_namespaced_deployment_scale(
            ssa_dep_name, ns, {"spec": {"replicas": 1}}, _content_type="application/merge-patch+json", _request_timeout=T
        )
        poll("exactly 1 pod", lambda: (lambda p: (len(p[0]) == 1 and p[1] == 1, p))(pods_of(ssa_dep_name)))
        poll("scale status.replicas == 1", lambda: (lambda s: (s.status.replicas == 1, s.status.replicas))(
            apps.read_namespaced_deployment_scale(ssa_dep_name, ns, _request_timeout=T)))

    @check("server-side apply of replicas=3 by a new manager after the scale patch (spec.replicas owned by the patcher) -> 409 Conflict")
    def _():
        # the scale patch took ownership of spec.replicas from py-a (as with kube-apiserver,
        # whose scale subresource records its own manager); applying 3 again conflicts.
        expect_api_error(
            lambda: ddep.server_side_apply(body=ssa_deployment(3), namespace=ns, field_manager="py-other", _request_timeout=T),
            409, "Conflict",
        )

    @check("server-side apply with force raises replicas back to 2; pods converge to 2")
    def _():
        ddep.server_side_apply(body=ssa_deployment(2), namespace=ns, field_manager="py-a", force_conflicts=True, _request_timeout=T)
        poll("exactly 2 pods", lambda: (lambda p: (len(p[0]) == 2 and p[1] == 2, p))(pods_of(ssa_dep_name)))
        apps.delete_namespaced_deployment(ssa_dep_name, ns, _request_timeout=T)

    @check(f"delete namespace {ns}")
    def _():
        v1.delete_namespace(ns, _request_timeout=T)
        try:
            got = v1.read_namespace(ns, _request_timeout=T)
            assert got.status.phase == "Terminating", f"phase={got.status.phase!r} after delete"
        except ApiException as e:
            assert e.status == 404, describe(e)

    total = PASSES + len(FAILURES)
    print(f"python: {PASSES} passed, {len(FAILURES)} failed (of {total})", flush=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
