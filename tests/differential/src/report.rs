//! The report (`target/differential/report.md`): the counts, then every step whose
//! responses differ, unexpected ones first, each with its differing paths (realkube's
//! value as expected, the embedded server's as actual), the deliberate entry that
//! excuses it if any, and both normalised responses in full.

use std::fmt::Write;
use std::time::Duration;

use serde_json::Value;

use crate::compare::Deliberate;
use crate::run::StepResult;

/// The counts of a run.
#[derive(Debug, Default)]
pub struct Summary {
    /// Steps compared.
    pub compared: usize,
    /// Steps with no difference.
    pub identical: usize,
    /// Steps whose every difference is deliberate.
    pub deliberate: usize,
    /// Steps with a difference no entry excuses and `pending.txt` does not list: these
    /// fail the run.
    pub unexpected: Vec<String>,
    /// Steps with a difference no entry excuses that `pending.txt` lists (known, to be
    /// fixed in the embedded server; they do not fail the run).
    pub pending: Vec<String>,
    /// Steps `pending.txt` lists that no longer differ unexpectedly (to be removed from
    /// it; a note, not a failure, since a step may pass by timing).
    pub no_longer_pending: Vec<String>,
}

fn is_excused(result: &StepResult, deliberate: &[Deliberate]) -> Vec<bool> {
    result.differences.iter().map(|d| deliberate.iter().any(|e| e.excuses(&result.key, d))).collect()
}

/// Counts the results; `pending` holds the keys of the steps known to differ.
pub fn summarize(
    results: &[StepResult],
    deliberate: &[Deliberate],
    pending: &std::collections::BTreeSet<String>,
) -> Summary {
    let mut summary = Summary::default();
    for result in results.iter().filter(|r| r.compared) {
        summary.compared += 1;
        if result.differences.is_empty() {
            summary.identical += 1;
        } else if is_excused(result, deliberate).iter().all(|x| *x) {
            summary.deliberate += 1;
        } else if pending.contains(&result.key) {
            summary.pending.push(result.key.clone());
            continue;
        } else {
            summary.unexpected.push(result.key.clone());
            continue;
        }
        if pending.contains(&result.key) {
            summary.no_longer_pending.push(result.key.clone());
        }
    }
    summary
}

/// The longest prefix of `text` of at most `max` bytes ending on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn short(v: &Option<Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(v) => {
            let text = serde_json::to_string(v).unwrap_or_default();
            if text.len() > 600 {
                format!("{}… ({} bytes)", cut(&text, 600), text.len())
            } else {
                text
            }
        }
    }
}

/// The report as Markdown.
pub fn render(
    results: &[StepResult],
    deliberate: &[Deliberate],
    summary: &Summary,
    took: Duration,
    ready: Duration,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Differential report: embedded server vs kube-apiserver v1.37.2 (realkube)\n");
    let _ = writeln!(
        out,
        "differential: {}/{} identical; {} with only deliberate differences; {} known and pending \
         (tests/differential/pending.txt); {} unexpected. Run: {:.0} s (servers ready after {:.0} s).\n",
        summary.identical,
        summary.compared,
        summary.deliberate,
        summary.pending.len(),
        summary.unexpected.len(),
        took.as_secs_f64(),
        ready.as_secs_f64()
    );
    let _ = writeln!(out, "Expected = realkube, actual = embedded; both normalised (see normalize.rs).\n");
    let mut ordered: Vec<(&StepResult, Vec<bool>)> =
        results.iter().filter(|r| !r.differences.is_empty()).map(|r| (r, is_excused(r, deliberate))).collect();
    ordered.sort_by_key(|(_, excused)| excused.iter().all(|x| *x));
    for (result, excused) in ordered {
        let all = excused.iter().all(|x| *x);
        let _ = writeln!(
            out,
            "## {} {}\n\n`{}`\n",
            match (all, summary.pending.contains(&result.key)) {
                (true, _) => "deliberate:",
                (false, true) => "pending (known, to fix):",
                (false, false) => "UNEXPECTED:",
            },
            result.key,
            result.request
        );
        for (d, ok) in result.differences.iter().zip(&excused) {
            let reason = if *ok {
                deliberate
                    .iter()
                    .find(|e| e.excuses(&result.key, d))
                    .map(|e| match &e.issue {
                        Some(issue) => format!(" — deliberate ({issue}): {}", e.reason.trim()),
                        None => format!(" — deliberate: {}", e.reason.trim()),
                    })
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let _ = writeln!(out, "- `{}`{reason}", d.path);
            let _ = writeln!(out, "  - expected: `{}`", short(&d.expected).replace('`', "'"));
            let _ = writeln!(out, "  - actual:   `{}`", short(&d.actual).replace('`', "'"));
        }
        let pretty = |v: &Value| {
            let text = serde_json::to_string_pretty(v).unwrap_or_default();
            if text.len() > 6000 {
                format!("{}\n… ({} bytes)", cut(&text, 6000), text.len())
            } else {
                text
            }
        };
        let _ = writeln!(
            out,
            "\n<details><summary>normalised responses</summary>\n\nexpected (realkube):\n```json\n{}\n```\nactual (embedded):\n```json\n{}\n```\n</details>\n",
            pretty(&result.expected.to_value()),
            pretty(&result.actual.to_value())
        );
    }
    out
}
