#!/usr/bin/env python3
"""The Python column of ferrokube-bench: the official client (`pip install kubernetes`)
running the same LIST, watch and GET workloads against the same embedded server.

The harness (bench/src/main.rs) runs this with the server's kubeconfig, one workload per
invocation, and reads one JSON object from stdout:

  python_bench.py --kubeconfig K list  --expect N [--limit L]          -> objects_per_s
  python_bench.py --kubeconfig K watch --rv RV --events N              -> events_per_s
  python_bench.py --kubeconfig K get   --name P --concurrency C --duration S
                                                                      -> rps, p50_ms, p99_ms
Objects are deserialized into the client's typed models (V1Pod), as the Rust clients
decode into k8s-openapi's Pod.
"""
import argparse
import concurrent.futures
import json
import sys
import threading
import time

from kubernetes import client, config, watch

NAMESPACE = "default"


def api(kubeconfig, pool=4):
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
    cfg.connection_pool_maxsize = pool
    return client.CoreV1Api(client.ApiClient(cfg))


def do_list(v1, expect, limit):
    def once():
        n, cont = 0, None
        while True:
            kw = {}
            if limit:
                kw["limit"] = limit
            if cont:
                kw["_continue"] = cont
            pods = v1.list_namespaced_pod(NAMESPACE, **kw)
            n += len(pods.items)
            cont = pods.metadata._continue
            if not limit or not cont:
                return n

    once() if expect <= 1000 else None  # warm-up (connection, imports) when cheap
    start, cpu0 = time.perf_counter(), time.process_time()
    n = once()
    secs, cpu = time.perf_counter() - start, time.process_time() - cpu0
    if n != expect:
        raise SystemExit(f"listed {n} pods, expected {expect}")
    return {"objects_per_s": n / secs, "seconds": secs, "cpu_us": cpu * 1e6 / n}


def do_watch(v1, rv, events):
    cache = {}
    seen = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_pod, NAMESPACE, resource_version=str(rv), timeout_seconds=3600):
        t = ev["type"]
        if t in ("ADDED", "MODIFIED"):
            p = ev["object"]
            cache[f"{p.metadata.namespace}/{p.metadata.name}"] = p
            seen += 1
        elif t == "DELETED":
            p = ev["object"]
            cache.pop(f"{p.metadata.namespace}/{p.metadata.name}", None)
            seen += 1
        elif t == "ERROR":
            raise SystemExit(f"watch ERROR event: {ev['raw_object']}")
        if seen >= events:
            break
    secs, cpu = time.perf_counter() - start, time.process_time() - cpu0
    w.stop()
    if seen < events:
        raise SystemExit(f"watch ended after {seen} of {events} events")
    return {"events_per_s": seen / secs, "seconds": secs, "cpu_us": cpu * 1e6 / seen}


def do_get(v1, name, concurrency, duration):
    def phase(dur):
        deadline = time.perf_counter() + dur
        lat = []
        lock = threading.Lock()

        def worker():
            mine = []
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                v1.read_namespaced_pod(name, NAMESPACE)
                mine.append(time.perf_counter() - t)
            with lock:
                lat.extend(mine)

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as ex:
            for f in [ex.submit(worker) for _ in range(concurrency)]:
                f.result()
        return lat, time.perf_counter() - start

    phase(duration / 5)  # warm-up: connections
    cpu0 = time.process_time()
    lat, secs = phase(duration)
    cpu = time.process_time() - cpu0
    lat.sort()

    def pct(q):
        i = min(max(int(-(-len(lat) * q // 1)), 1), len(lat)) - 1
        return lat[i] * 1e3

    return {"rps": len(lat) / secs, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "requests": len(lat), "cpu_us": cpu * 1e6 / len(lat)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kubeconfig", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("list")
    l.add_argument("--expect", type=int, required=True)
    l.add_argument("--limit", type=int, default=0)
    w = sub.add_parser("watch")
    w.add_argument("--rv", required=True)
    w.add_argument("--events", type=int, required=True)
    g = sub.add_parser("get")
    g.add_argument("--name", required=True)
    g.add_argument("--concurrency", type=int, default=1)
    g.add_argument("--duration", type=float, default=2.0)
    a = p.parse_args()
    if a.cmd == "list":
        out = do_list(api(a.kubeconfig), a.expect, a.limit)
    elif a.cmd == "watch":
        out = do_watch(api(a.kubeconfig), a.rv, a.events)
    else:
        out = do_get(api(a.kubeconfig, pool=max(4, a.concurrency)), a.name, a.concurrency, a.duration)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
