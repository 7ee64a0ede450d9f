//! The Job controller: runs pods until `spec.completions` of them have succeeded.
//!
//! Pods are created from the template with generateName `<job>-` and the labels kube
//! gives Job pods (`batch.kubernetes.io/job-name`, `job-name`,
//! `batch.kubernetes.io/controller-uid`, `controller-uid`), at most
//! `spec.parallelism` at a time. The simulated kubelet lets run-to-completion pods
//! succeed after a short run, so a Job completes: status `succeeded`, `active`,
//! `ready`, `startTime`, `completionTime` and the `SuccessCriteriaMet` and `Complete`
//! conditions (event `Completed`). `spec.suspend` deletes active pods and creates
//! none. Pods are owned through their controller reference only (the registry does
//! not generate Job selectors); backoffLimit, indexed completions, pod failure
//! policies and TTL-after-finished are not simulated (simulated pods never fail).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::client::{is_conflict, is_not_found};
use super::compact::Node;
use super::informer::Waiter;
use super::objects::{self, Json};
use super::ownership::{self, Owner};
use super::Context;

const COMPONENT: &str = "job-controller";

fn finished(job: &Node) -> bool {
    objects::condition_true(job, "Complete") || objects::condition_true(job, "Failed")
}

fn set_count(st: &mut Map<String, Value>, key: &str, n: usize) {
    if n == 0 {
        st.remove(key);
    } else {
        st.insert(key.into(), json!(n));
    }
}

/// The pod template of `job` with the labels kube adds to Job pods.
fn template_with_labels(job: &Node) -> Value {
    let mut template = objects::at(job, &["spec", "template"]).map(Json::to_value).unwrap_or_else(|| json!({}));
    let name = objects::name(job).to_owned();
    let uid = objects::uid(job).to_owned();
    let md = objects::meta_mut(&mut template);
    let labels = md.entry("labels").or_insert_with(|| json!({}));
    if let Some(l) = labels.as_object_mut() {
        l.insert("batch.kubernetes.io/job-name".into(), json!(name));
        l.insert("job-name".into(), json!(name));
        l.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
        l.insert("controller-uid".into(), json!(uid));
    }
    template
}

/// Drives `job` with the pods it controls, `owned`.
async fn sync_job(ctx: &Context, job: &Node, owned: &[Arc<Node>]) {
    let c = &ctx.client;
    let uid = objects::uid(job);
    let owned: Vec<&Node> = owned.iter().map(|p| p.as_ref()).collect();
    let succeeded = owned.iter().filter(|p| objects::phase(p) == "Succeeded").count();
    let failed = owned.iter().filter(|p| objects::phase(p) == "Failed").count();
    let active: Vec<&&Node> = owned.iter().filter(objects::pod_active).collect();
    let ready = active.iter().filter(objects::pod_ready).count();
    let parallelism = objects::int_at(job, &["spec", "parallelism"], 1).max(0) as usize;
    let completions = objects::at(job, &["spec", "completions"]).and_then(Json::as_i64).map(|n| n.max(0) as usize);
    let suspended = objects::bool_at(job, &["spec", "suspend"]);
    let done = match completions {
        Some(n) => succeeded >= n,
        // Work-queue Jobs are done when any pod succeeded and none is running.
        None => succeeded > 0 && active.is_empty(),
    };

    let mut status = job.get("status").map(Json::to_value).filter(Value::is_object).unwrap_or_else(|| json!({}));
    let mut holder;
    if done {
        let now = objects::now();
        holder = json!({"status": status});
        if let Some(st) = holder["status"].as_object_mut() {
            st.entry("completionTime").or_insert_with(|| json!(now));
            st.entry("startTime").or_insert_with(|| json!(now));
        }
        objects::set_condition(
            &mut holder,
            "SuccessCriteriaMet",
            "True",
            Some("CompletionsReached"),
            Some("Reached expected number of succeeded pods"),
            false,
        );
        objects::set_condition(
            &mut holder,
            "Complete",
            "True",
            Some("CompletionsReached"),
            Some("Reached expected number of succeeded pods"),
            false,
        );
        ctx.event(job, "Normal", "Completed", "Job completed", COMPONENT).await;
    } else {
        if suspended {
            for p in &active {
                let _ = c.delete(&c.res.pods, objects::namespace(p), objects::name(p), &json!({})).await;
            }
        } else {
            let remaining = completions.map_or(parallelism, |n| n.saturating_sub(succeeded));
            let want = parallelism.min(remaining);
            if active.len() < want {
                let selector = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
                let owner = Owner { object: job, api_version: "batch/v1", kind: "Job", selector: &selector };
                let pod = ownership::pod_from_template(
                    &template_with_labels(job),
                    &owner,
                    None,
                    &format!("{}-", objects::name(job)),
                );
                for _ in active.len()..want {
                    match c.create(&c.res.pods, objects::namespace(job), &pod).await {
                        Ok(created) => {
                            let msg = format!("Created pod: {}", objects::name(&created));
                            ctx.event(job, "Normal", "SuccessfulCreate", &msg, COMPONENT).await;
                        }
                        Err(e) => {
                            tracing::debug!(job = %objects::name(job), error = %e.message, "job: create pod failed");
                            break;
                        }
                    }
                }
            }
        }
        if let Some(st) = status.as_object_mut() {
            if !suspended {
                st.entry("startTime").or_insert_with(|| json!(objects::now()));
            }
        }
        holder = json!({"status": status});
        if suspended {
            objects::set_condition(
                &mut holder,
                "Suspended",
                "True",
                Some("JobSuspended"),
                Some("Job suspended"),
                false,
            );
        } else if objects::condition(&holder, "Suspended").is_some() {
            objects::set_condition(&mut holder, "Suspended", "False", Some("JobResumed"), Some("Job resumed"), false);
        }
    }
    if let Some(st) = holder["status"].as_object_mut() {
        set_count(st, "active", if done { 0 } else { active.len() });
        set_count(st, "succeeded", succeeded);
        set_count(st, "failed", failed);
        st.insert("ready".into(), json!(if done { 0 } else { ready }));
        st.insert("terminating".into(), json!(0));
        st.insert("uncountedTerminatedPods".into(), json!({}));
    }
    let status = holder["status"].take();
    if !job.get("status").is_some_and(|s| *s == status) {
        let mut updated = job.to_value();
        if let Some(m) = updated.as_object_mut() {
            m.insert("status".into(), status);
        }
        if let Err(e) = c.update_status(&c.res.jobs, &updated).await {
            if !is_conflict(&e) && !is_not_found(&e) {
                tracing::warn!(job = %objects::name(job), error = %e.message, "job: status update failed");
            }
        }
    }
}

/// One pass over every Job.
pub async fn reconcile(ctx: &Context) -> Option<Duration> {
    let c = &ctx.client;
    let jobs = ctx.informers.list(&c.res.jobs).await;
    let pods = ctx.informers.fresh(&c.res.pods).await;
    for job in jobs.iter().filter(|j| !objects::is_deleting(j) && !finished(j)) {
        sync_job(ctx, job, &pods.controlled_by(objects::uid(job))).await;
    }
    None
}

/// The Job controller loop.
pub async fn run(ctx: Context, mut waiter: Waiter) {
    loop {
        let next = reconcile(&ctx).await;
        if !waiter.wait(next).await {
            return;
        }
    }
}
