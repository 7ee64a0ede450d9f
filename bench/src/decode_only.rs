//! Decode only, in memory: the client CPU per object of turning a LIST body and a watch
//! stream into typed pods, ferrokube over JSON and over Kubernetes protobuf against
//! kube-rs (JSON; it has no protobuf), with no server and no HTTP.
//!
//! Why in memory: without HTTP and the server's share of the two cores, this isolates
//! what the wire format changes (the decode), on the same generated pods as the other workloads
//! (`data::pod`, ~10 KB of JSON each). The bodies are made here: the JSON with
//! serde_json from the typed pods, the protobuf with ferrokube's encoder (checked to
//! decode to the same pods as the JSON first). Each client decodes the way its list and
//! watch calls do: ferrokube `rest::list_decode::decode_list_bytes` /
//! `decode_protobuf_list` (items on several threads, all counted) and `WatchDecoder` /
//! `LengthDelimitedFramer` + `decode_protobuf_event` fed 16 KiB chunks; kube-rs
//! `from_utf8` + `serde_json::from_str::<ObjectList<Pod>>` and, per watch line,
//! `serde_json::from_str::<kube::core::WatchEvent<Pod>>`. Watch events are applied to a
//! `HashMap<namespace/name, Arc<Pod>>` as in the watch workload. Client CPU is the
//! process's (`alloc::client_cpu_seconds`) summed over alternating rounds;
//! decoded lists are dropped after the CPU reading.

use std::collections::HashMap;
use std::sync::Arc;

use ferrokube::tools::cache::WithoutManagedFields;
use ferrokube_apimachinery::protobuf::{encode_object, envelope};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::List;

use crate::alloc::client_cpu_seconds;
use crate::report::{Cell, Row};

fn cpu() -> Result<f64, String> {
    client_cpu_seconds().ok_or_else(|| "no /proc CPU accounting".to_owned())
}

fn pods(n: usize) -> Result<Vec<Pod>, String> {
    (0..n)
        .map(|i| {
            let mut v = crate::data::pod(i, "bench");
            v["metadata"]["resourceVersion"] = serde_json::json!((1000 + i).to_string());
            v["metadata"]["uid"] = serde_json::json!(format!("00000000-0000-0000-0000-{i:012}"));
            serde_json::from_value(v).map_err(|e| e.to_string())
        })
        .collect()
}

/// Runs `f` `rounds` times per variant, alternating, and returns the client CPU
/// seconds of each variant summed over its rounds.
/// What a variant decoded, dropped after the CPU reading.
type Decoded = Result<Box<dyn std::any::Any>, String>;

fn alternate<const N: usize>(rounds: usize, fs: [&dyn Fn() -> Decoded; N]) -> Result<[f64; N], String> {
    let mut total = [0.0; N];
    for round in 0..rounds {
        for k in 0..N {
            // AB BA: reverse the order every other round.
            let i = if round % 2 == 0 { k } else { N - 1 - k };
            let before = cpu()?;
            let decoded = fs[i]()?;
            total[i] += cpu()? - before;
            drop(decoded);
        }
    }
    Ok(total)
}

fn key(p: &Pod) -> String {
    format!("{}/{}", p.metadata.namespace.as_deref().unwrap_or(""), p.metadata.name.as_deref().unwrap_or(""))
}

/// The decode-only rows: LIST and watch, client CPU per object, for ferrokube over
/// JSON and over protobuf, each beside kube-rs.
pub fn rows(list_n: usize, watch_n: usize, rounds: usize, log: &dyn Fn(String)) -> Result<Vec<Row>, String> {
    let items = pods(list_n)?;
    let mut list = List::<Pod> { items, ..Default::default() };
    list.metadata.resource_version = Some("99999".into());
    let json = serde_json::to_vec(&list).map_err(|e| e.to_string())?;
    let pb = encode_object("v1", "PodList", &list).map_err(|e| e.to_string())?;
    let check: List<Pod> = ferrokube::rest::list_decode::decode_protobuf_list(&pb).map_err(|e| e.to_string())?;
    if check != list {
        let (a, b) =
            (serde_json::to_value(&check).unwrap_or_default(), serde_json::to_value(&list).unwrap_or_default());
        let first = a["items"][0].as_object().and_then(|o| {
            o.iter().find(|(k, v)| b["items"][0].get(k.as_str()) != Some(*v)).map(|(k, v)| format!("{k}: {v}"))
        });
        return Err(format!(
            "the protobuf list does not decode to the pods it was made from (first pod, first difference: {first:?})"
        ));
    }
    log(format!(
        "decode only: LIST body {} pods: JSON {} KB, protobuf {} KB",
        list_n,
        json.len() / 1024,
        pb.len() / 1024
    ));

    // Watch streams: ADDED for each pod, then MODIFIED events, `watch_n` in all.
    let mut json_stream = Vec::new();
    let mut pb_stream = Vec::new();
    for i in 0..watch_n {
        let mut pod = list.items[i % list_n].clone();
        pod.metadata.resource_version = Some((100_000 + i).to_string());
        let kind = if i < list_n { "ADDED" } else { "MODIFIED" };
        let obj = serde_json::to_string(&pod).map_err(|e| e.to_string())?;
        json_stream.extend_from_slice(format!("{{\"type\":\"{kind}\",\"object\":{obj}}}\n").as_bytes());
        let raw = encode_object("v1", "Pod", &pod).map_err(|e| e.to_string())?;
        pb_stream.extend_from_slice(&envelope::encode_watch_frame(kind, &raw));
    }
    log(format!(
        "decode only: watch stream {} events: JSON {} MB, protobuf {} MB",
        watch_n,
        json_stream.len() >> 20,
        pb_stream.len() >> 20
    ));

    let ferro_json = || -> Decoded {
        let l: List<Pod> = ferrokube::rest::list_decode::decode_list_bytes(&json).map_err(|e| e.to_string())?;
        Ok(Box::new(l))
    };
    let ferro_pb = || -> Decoded {
        let l: List<Pod> = ferrokube::rest::list_decode::decode_protobuf_list(&pb).map_err(|e| e.to_string())?;
        Ok(Box::new(l))
    };
    let kube = || -> Decoded {
        let text = std::str::from_utf8(&json).map_err(|e| e.to_string())?;
        let l: kube::core::ObjectList<Pod> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(Box::new(l))
    };
    let [fj, fp, k] = alternate(rounds, [&ferro_json, &ferro_pb, &kube])?;
    let per = |s: f64| s * 1e6 / (rounds * list_n) as f64;
    // managedFields stripped: ferrokube skips them while decoding (JSON: parsed, not
    // built; protobuf: not even parsed); kube-rs decodes them and takes them out. In
    // all three the freeing happens after the CPU reading.
    let ferro_json_s = || -> Decoded {
        let l: List<WithoutManagedFields<Pod>> =
            ferrokube::rest::list_decode::decode_list_bytes(&json).map_err(|e| e.to_string())?;
        Ok(Box::new(l))
    };
    let ferro_pb_s = || -> Decoded {
        let l: List<WithoutManagedFields<Pod>> =
            ferrokube::rest::list_decode::decode_protobuf_list(&pb).map_err(|e| e.to_string())?;
        Ok(Box::new(l))
    };
    let kube_s = || -> Decoded {
        let text = std::str::from_utf8(&json).map_err(|e| e.to_string())?;
        let mut l: kube::core::ObjectList<Pod> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let taken: Vec<_> = l.items.iter_mut().map(|p| p.metadata.managed_fields.take()).collect();
        Ok(Box::new((l, taken)))
    };
    let [fjs, fps, ks] = alternate(rounds, [&ferro_json_s, &ferro_pb_s, &kube_s])?;
    let lm = |what: &str, fmt: &str| {
        format!("LIST {list_n} pods{what}, decode only in memory: client CPU per object, ferrokube ({fmt})")
    };
    let list_rows = [
        (lm("", "JSON"), per(fj), per(k)),
        (lm("", "protobuf"), per(fp), per(k)),
        (lm(", managedFields stripped", "JSON"), per(fjs), per(ks)),
        (lm(", managedFields stripped", "protobuf"), per(fps), per(ks)),
    ];

    let watch_ferro_json = || -> Decoded {
        let mut cache: HashMap<String, Arc<Pod>> = HashMap::new();
        let mut d = ferrokube::watch::WatchDecoder::new();
        for chunk in json_stream.chunks(16 * 1024) {
            d.push(chunk);
            while let Some(ev) = d.next_event::<Pod>() {
                match ev.map_err(|e| e.to_string())? {
                    ferrokube::watch::WatchEvent::Added(p) | ferrokube::watch::WatchEvent::Modified(p) => {
                        cache.insert(key(&p), Arc::new(p));
                    }
                    _ => {}
                }
            }
        }
        Ok(Box::new(cache))
    };
    let watch_ferro_pb = || -> Decoded {
        let mut cache: HashMap<String, Arc<Pod>> = HashMap::new();
        let mut f = ferrokube::watch::LengthDelimitedFramer::new();
        for chunk in pb_stream.chunks(16 * 1024) {
            f.push(chunk);
            while let Some(frame) = f.next_frame().map_err(|e| e.to_string())? {
                match ferrokube::watch::event::decode_protobuf_event::<Pod>(&frame).map_err(|e| e.to_string())? {
                    ferrokube::watch::WatchEvent::Added(p) | ferrokube::watch::WatchEvent::Modified(p) => {
                        cache.insert(key(&p), Arc::new(p));
                    }
                    _ => {}
                }
            }
        }
        Ok(Box::new(cache))
    };
    let watch_kube = || -> Decoded {
        let mut cache: HashMap<String, Arc<Pod>> = HashMap::new();
        for line in json_stream.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let text = std::str::from_utf8(line).map_err(|e| e.to_string())?;
            match serde_json::from_str::<kube::core::WatchEvent<Pod>>(text).map_err(|e| e.to_string())? {
                kube::core::WatchEvent::Added(p) | kube::core::WatchEvent::Modified(p) => {
                    cache.insert(key(&p), Arc::new(p));
                }
                _ => {}
            }
        }
        Ok(Box::new(cache))
    };
    let [wj, wp, wk] = alternate(rounds, [&watch_ferro_json, &watch_ferro_pb, &watch_kube])?;
    let wper = |s: f64| s * 1e6 / (rounds * watch_n) as f64;
    let watch_ferro_json_s = || -> Decoded {
        let mut cache: HashMap<String, Arc<Pod>> = HashMap::new();
        let mut d = ferrokube::watch::WatchDecoder::new();
        for chunk in json_stream.chunks(16 * 1024) {
            d.push(chunk);
            while let Some(ev) = d.next_event::<WithoutManagedFields<Pod>>() {
                match ev.map_err(|e| e.to_string())? {
                    ferrokube::watch::WatchEvent::Added(p) | ferrokube::watch::WatchEvent::Modified(p) => {
                        cache.insert(key(&p.0), Arc::new(p.0));
                    }
                    _ => {}
                }
            }
        }
        Ok(Box::new(cache))
    };
    let watch_ferro_pb_s = || -> Decoded {
        let mut cache: HashMap<String, Arc<Pod>> = HashMap::new();
        let mut f = ferrokube::watch::LengthDelimitedFramer::new();
        for chunk in pb_stream.chunks(16 * 1024) {
            f.push(chunk);
            while let Some(frame) = f.next_frame().map_err(|e| e.to_string())? {
                let ev = ferrokube::watch::event::decode_protobuf_event::<WithoutManagedFields<Pod>>(&frame);
                match ev.map_err(|e| e.to_string())? {
                    ferrokube::watch::WatchEvent::Added(p) | ferrokube::watch::WatchEvent::Modified(p) => {
                        cache.insert(key(&p.0), Arc::new(p.0));
                    }
                    _ => {}
                }
            }
        }
        Ok(Box::new(cache))
    };
    let watch_kube_s = || -> Decoded {
        let mut cache: HashMap<String, Arc<Pod>> = HashMap::new();
        let mut taken = Vec::new();
        for line in json_stream.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let text = std::str::from_utf8(line).map_err(|e| e.to_string())?;
            match serde_json::from_str::<kube::core::WatchEvent<Pod>>(text).map_err(|e| e.to_string())? {
                kube::core::WatchEvent::Added(mut p) | kube::core::WatchEvent::Modified(mut p) => {
                    taken.push(p.metadata.managed_fields.take());
                    cache.insert(key(&p), Arc::new(p));
                }
                _ => {}
            }
        }
        Ok(Box::new((cache, taken)))
    };
    let [wjs, wps, wks] = alternate(rounds, [&watch_ferro_json_s, &watch_ferro_pb_s, &watch_kube_s])?;
    let wm = |what: &str, fmt: &str| {
        format!(
            "Watch {watch_n} events into a map{what}, decode only in memory: client CPU per event, ferrokube ({fmt})"
        )
    };
    let watch_rows = [
        (wm("", "JSON"), wper(wj), wper(wk)),
        (wm("", "protobuf"), wper(wp), wper(wk)),
        (wm(", managedFields stripped", "JSON"), wper(wjs), wper(wks)),
        (wm(", managedFields stripped", "protobuf"), wper(wps), wper(wks)),
    ];

    let mut rows = Vec::new();
    for (measure, ferro, kube_rs) in list_rows.into_iter().chain(watch_rows) {
        let unit = if measure.starts_with("LIST") { "us/object" } else { "us/event" };
        let mut row = Row::new(measure, unit, false);
        row.ferrokube = Cell::Val(ferro);
        row.kube_rs = Cell::Val(kube_rs);
        row.client_go_json = Cell::Na("decode only: not measured for client-go".into());
        row.client_go_protobuf = row.client_go_json.clone();
        row.python = Cell::Na("not measured".into());
        row.server = Cell::Na("in memory: no server".into());
        log(format!(
            "{}: ferrokube {ferro:.1} us, kube-rs {kube_rs:.1} us, ratio {:.2}x",
            row.measure,
            kube_rs / ferro
        ));
        rows.push(row);
    }
    Ok(rows)
}

/// `--profile-decode list|watch|list-json|watch-json[:seconds]`: decodes the protobuf
/// (or JSON) LIST body of 5,000 pods, or a 10,000-event watch stream, in a loop on the
/// calling thread for the given seconds (default 10), for `perf record` or
/// `valgrind --tool=callgrind`. Prints the client CPU per object/event at the end; no
/// comparison.
pub fn profile(spec: &str) -> Result<(), String> {
    let (what, secs) = match spec.split_once(':') {
        Some((w, s)) => (w, s.parse::<f64>().map_err(|e| format!("--profile-decode seconds: {e}"))?),
        None => (spec, 10.0),
    };
    let n = 5_000;
    let mut list = List::<Pod> { items: pods(n)?, ..Default::default() };
    list.metadata.resource_version = Some("99999".into());
    let json = serde_json::to_vec(&list).map_err(|e| e.to_string())?;
    let pb = encode_object("v1", "PodList", &list).map_err(|e| e.to_string())?;
    let watch_n = 10_000;
    let (mut json_stream, mut pb_stream) = (Vec::new(), Vec::new());
    if what.starts_with("watch") {
        for i in 0..watch_n {
            let mut pod = list.items[i % n].clone();
            pod.metadata.resource_version = Some((100_000 + i).to_string());
            let kind = if i < n { "ADDED" } else { "MODIFIED" };
            let obj = serde_json::to_string(&pod).map_err(|e| e.to_string())?;
            json_stream.extend_from_slice(format!("{{\"type\":\"{kind}\",\"object\":{obj}}}\n").as_bytes());
            let raw = encode_object("v1", "Pod", &pod).map_err(|e| e.to_string())?;
            pb_stream.extend_from_slice(&envelope::encode_watch_frame(kind, &raw));
        }
    }
    let (mut one_pb, mut one_json) = (Vec::new(), Vec::new());
    if what.starts_with("get") {
        for pod in list.items.iter().take(100) {
            let mut v = serde_json::to_value(pod).map_err(|e| e.to_string())?;
            v["apiVersion"] = "v1".into();
            v["kind"] = "Pod".into();
            one_json.push(serde_json::to_vec(&v).map_err(|e| e.to_string())?);
            one_pb.push(encode_object("v1", "Pod", pod).map_err(|e| e.to_string())?);
        }
    }
    drop(list);
    let start = std::time::Instant::now();
    let cpu0 = cpu()?;
    let mut units = 0usize;
    // At least one pass (`:0` under valgrind counts one pass's allocations).
    let mut first = true;
    while std::mem::take(&mut first) || start.elapsed().as_secs_f64() < secs {
        match what {
            "list" => {
                let parts = envelope::split_list(&pb).map_err(|e| e.to_string())?;
                let items: Vec<Pod> = parts
                    .items
                    .iter()
                    .map(|i| parts.decode_item(i))
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?;
                units += items.len();
            }
            "list-json" => {
                let l: List<Pod> = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
                units += l.items.len();
            }
            "watch" => {
                let mut cache: HashMap<String, Arc<Pod>> = HashMap::new();
                let mut f = ferrokube::watch::LengthDelimitedFramer::new();
                for chunk in pb_stream.chunks(16 * 1024) {
                    f.push(chunk);
                    while let Some(frame) = f.next_frame().map_err(|e| e.to_string())? {
                        if let ferrokube::watch::WatchEvent::Added(p) | ferrokube::watch::WatchEvent::Modified(p) =
                            ferrokube::watch::event::decode_protobuf_event::<Pod>(&frame).map_err(|e| e.to_string())?
                        {
                            cache.insert(key(&p), Arc::new(p));
                        }
                        units += 1;
                    }
                }
            }
            "watch-json" => {
                let mut cache: HashMap<String, Arc<Pod>> = HashMap::new();
                let mut d = ferrokube::watch::WatchDecoder::new();
                for chunk in json_stream.chunks(16 * 1024) {
                    d.push(chunk);
                    while let Some(ev) = d.next_event::<Pod>() {
                        if let ferrokube::watch::WatchEvent::Added(p) | ferrokube::watch::WatchEvent::Modified(p) =
                            ev.map_err(|e| e.to_string())?
                        {
                            cache.insert(key(&p), Arc::new(p));
                        }
                        units += 1;
                    }
                }
            }
            // One object at a time, as a GET decodes it (each freed before the next).
            "get" | "get-json" => {
                for i in 0..n {
                    let p: Pod = if what == "get" {
                        ferrokube_apimachinery::protobuf::decode_object(&one_pb[i % one_pb.len()])
                            .map_err(|e| e.to_string())?
                    } else {
                        serde_json::from_slice(&one_json[i % one_json.len()]).map_err(|e| e.to_string())?
                    };
                    drop(p);
                    units += 1;
                }
            }
            other => {
                return Err(format!(
                    "--profile-decode: unknown {other:?} (list, watch, get, list-json, watch-json, get-json)"
                ))
            }
        }
    }
    let cpu = cpu()? - cpu0;
    println!("{what}: {units} decoded, {:.1} us CPU each", cpu * 1e6 / units as f64);
    Ok(())
}
