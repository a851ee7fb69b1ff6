//! `docs/reliability.md` from the records the hardening tests write when `STACKGATE_REPORT_DIR` is
//! set (`scripts/test.sh` sets it; each record is written after its test's assertions passed):
//! `fuzz/` (cases and outcomes per handler), `faults/` (the call-site matrix, and the end-to-end
//! suites run under injected faults: `stackgate-local fault-report`), `guarantees/`
//! ("nothing lost" tests) and `secrets/` (the functions checked for secrets in their logs).
//! The report holds no time or machine detail, so the same code gives the same report and CI can
//! tell a stale one.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde_json::Value;

use crate::BoxError;

/// Writes one record when `STACKGATE_REPORT_DIR` is set (tests call it after their assertions;
/// stackgate's own integration tests have the same helper in `tests/common`).
pub fn record(kind: &str, name: &str, value: &Value) {
    let Some(dir) = std::env::var_os("STACKGATE_REPORT_DIR") else {
        return;
    };
    let dir = Path::new(&dir).join(kind);
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::write(
            dir.join(format!("{name}.json")),
            serde_json::to_vec_pretty(value).unwrap_or_default(),
        )
    });
    if let Err(error) = written {
        panic!("cannot write the reliability record {kind}/{name}: {error}");
    }
}

/// The records of one kind, by file name.
fn records(dir: &Path, kind: &str) -> Result<BTreeMap<String, Value>, BoxError> {
    let mut found = BTreeMap::new();
    let dir = dir.join(kind);
    if !dir.is_dir() {
        return Ok(found);
    }
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            found.insert(name, serde_json::from_slice(&std::fs::read(&path)?)?);
        }
    }
    Ok(found)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a complete set of records must hold; a report from fewer would understate what ran.
fn require(condition: bool, what: &str) -> Result<(), BoxError> {
    if condition {
        Ok(())
    } else {
        Err(format!("reliability records incomplete: {what}").into())
    }
}

/// Renders the report; fails when a section has no records (its tests did not run or failed).
// Long by design: the page written top to bottom, one section after another, so that the
// code reads like the page it makes.
pub fn render(dir: &Path) -> Result<String, BoxError> {
    let fuzz = records(dir, "fuzz")?;
    let faults = records(dir, "faults")?;
    let guarantees = records(dir, "guarantees")?;
    let secrets = records(dir, "secrets")?;
    require(!fuzz.is_empty(), "no fuzz records")?;
    require(faults.contains_key("matrix"), "no fault matrix")?;
    require(!guarantees.is_empty(), "no nothing-lost records")?;
    require(!secrets.is_empty(), "no secrets records")?;

    let mut out = String::new();
    writeln!(out, "# Reliability figures")?;
    writeln!(out)?;
    writeln!(
        out,
        "Produced by `scripts/reliability.sh` (the test suite, `scripts/test.sh`, writing one record \
         per passed hardening test, then `stackgate-local reliability-report`). CI regenerates it \
         and fails when this file differs. Do not edit by hand."
    )?;

    // --- malformed input
    let total: u64 = fuzz.values().filter_map(|r| r["cases"].as_u64()).sum();
    writeln!(out)?;
    writeln!(
        out,
        "## Malformed input (proptest, `crates/stackgate/tests/fuzz.rs`)"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{total} cases over {} handlers, fixed seed. Every case ended in a result or a typed \
         error naming the field (HTTP handlers: a response), with no panic and no AWS call before \
         a refusal.",
        fuzz.len()
    )?;
    writeln!(out)?;
    writeln!(out, "| test | cases | how they ended |")?;
    writeln!(out, "|---|---:|---|")?;
    for record in fuzz.values() {
        let outcomes = record["outcomes"]
            .as_object()
            .map(|o| {
                let sorted: BTreeMap<_, _> = o.iter().collect();
                sorted
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        writeln!(
            out,
            "| `{}` | {} | {outcomes} |",
            text(&record["test"]),
            record["cases"]
        )?;
    }

    // --- AWS faults
    let matrix = &faults["matrix"];
    let sites = matrix["sites"].as_array().cloned().unwrap_or_default();
    let fault_names: Vec<String> = matrix["faults"]
        .as_array()
        .map(|f| f.iter().map(text).collect())
        .unwrap_or_default();
    let in_source = matrix["sitesInSource"].as_u64().unwrap_or_default();
    let covered = sites
        .iter()
        .filter(|s| {
            s["faults"]
                .as_object()
                .is_some_and(|f| f.len() == fault_names.len())
        })
        .count();
    writeln!(out)?;
    writeln!(
        out,
        "## AWS faults at every call site (aws-smithy-mocks, `crates/stackgate/tests/faults.rs`)"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Call sites covered: **{covered} / {in_source}** (every SDK call in `crates/stackgate/src/aws/`, \
         found by reading the source). Faults per site: {} ({} cases), answered on the wire as each \
         service's protocol sends them, through the functions' one retry configuration.",
        fault_names.join(", "),
        covered * fault_names.len()
    )?;
    writeln!(out)?;
    let mut verdicts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for site in &sites {
        for (fault, verdict) in site["faults"].as_object().into_iter().flatten() {
            *verdicts
                .entry(fault.clone())
                .or_default()
                .entry(text(verdict))
                .or_default() += 1;
        }
    }
    writeln!(out, "| fault | outcome (sites) |")?;
    writeln!(out, "|---|---|")?;
    for fault in &fault_names {
        let outcome = verdicts
            .get(fault)
            .map(|v| {
                v.iter()
                    .map(|(verdict, n)| format!("{verdict} ({n})"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        writeln!(out, "| {fault} | {outcome} |")?;
    }
    if let Some(workflows) = faults.get("workflows") {
        writeln!(out)?;
        writeln!(
            out,
            "### Across whole workflows (the local stack's front door, `STACKGATE_FAULTS`)"
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "The end-to-end suites {} ran on a local stack injecting `{}` into the calls the \
             functions and the state machines make over the Query, JSON, Lambda and SES REST and \
             S3 protocols (throttles and server errors in each service's own error shape; \
             `timeout`: the call is carried out and its answer lost; not injected: what the spec \
             exempts, moto's own polling of `.sync` child executions, and lost answers to the \
             workflows' own nested starts and `CreateAccount`, which stay inside AWS), each function and state \
             machine running under its own IAM role from the template. Every test passed, each deployment ending \
             as it should; like a client, the tests try a 503 from the API again. \
             At least {} faults of each kind were injected (asserted; the exact counts depend on \
             the order of concurrent calls and are in the CI log).",
            workflows["suites"]
                .as_array()
                .map(|s| s
                    .iter()
                    .map(|x| format!("`{}`", text(x)))
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            text(&workflows["spec"]),
            workflows["minimum"]
        )?;
    }
    writeln!(out)?;
    writeln!(out, "<details><summary>The call sites</summary>")?;
    writeln!(out)?;
    for site in &sites {
        writeln!(
            out,
            "- `{}` ({})",
            text(&site["function"]),
            text(&site["operation"])
        )?;
    }
    writeln!(out)?;
    writeln!(out, "</details>")?;

    // --- nothing lost
    writeln!(out)?;
    writeln!(out, "## Nothing lost")?;
    writeln!(out)?;
    writeln!(out, "| guarantee | test (passed) |")?;
    writeln!(out, "|---|---|")?;
    let mut rows: Vec<(String, String)> = guarantees
        .values()
        .map(|r| {
            let cases = r["cases"]
                .as_u64()
                .map_or_else(String::new, |n| format!(", {n} cases"));
            (
                text(&r["guarantee"]),
                format!("`{}`{cases}", text(&r["test"])),
            )
        })
        .collect();
    rows.sort();
    for (guarantee, test) in rows {
        writeln!(out, "| {guarantee} | {test} |")?;
    }

    // --- secrets
    writeln!(out)?;
    writeln!(out, "## Secrets stay out of logs and answers")?;
    writeln!(out)?;
    writeln!(
        out,
        "Each function's real binary under a Lambda Runtime API, logging at TRACE, against the \
         local stack (`crates/stackgate-bench/tests/secrets.rs`); the dispatcher's task tokens \
         in-process, as moto cannot hand out activity tasks."
    )?;
    writeln!(out)?;
    writeln!(out, "| function | invocations | secrets planted |")?;
    writeln!(out, "|---|---:|---|")?;
    for record in secrets.values() {
        let kinds = record["secrets"]
            .as_array()
            .map(|k| k.iter().map(text).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let function = if record["inProcess"] == true {
            format!("{} (in-process)", text(&record["function"]))
        } else {
            text(&record["function"])
        };
        writeln!(out, "| {function} | {} | {kinds} |", record["invocations"])?;
    }
    Ok(out)
}

/// The load section, from the figures `stackgate-local load --record docs/load.json` wrote on a
/// freshly started local stack (CI runs the same load after the other suites, on a stack they have
/// filled, so its timings are not the committed ones).
pub fn load_section(load: &Value) -> Result<String, BoxError> {
    let mut out = String::new();
    writeln!(out)?;
    writeln!(out, "## Load held (`stackgate-local load`)")?;
    writeln!(out)?;
    writeln!(
        out,
        "{} concurrent requests to the stacks API ({} at a time) on the local stack, with IAM \
         enforced: {} distinct stacks, {} duplicates (the same Idempotency-Key and body) and {} \
         deployments of {} shared stacks (`ConcurrentDeployments=queue`). Every request was \
         answered 202 with exactly one execution ({} executions); every duplicate named its \
         original's execution; deployments of one stack never overlapped (each planned only \
         after the one before had ended); every deployment ended as it should ({}). The API \
         answered in p50 {} ms, p99 {} ms, max {} ms ({} answers of 503 tried again); the \
         requests took {} s and the deployments {} s in all.",
        load["requests"],
        load["concurrency"],
        load["distinct"],
        load["duplicates"],
        load["shared"],
        load["sharedStacks"],
        load["executions"],
        load["outcomes"]
            .as_object()
            .map(|o| o
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        load["apiP50Ms"],
        load["apiP99Ms"],
        load["apiMaxMs"],
        load["retried503"],
        load["apiSeconds"],
        load["totalSeconds"],
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, kind: &str, name: &str, value: Value) {
        std::fs::create_dir_all(dir.join(kind)).unwrap();
        std::fs::write(
            dir.join(kind).join(format!("{name}.json")),
            value.to_string(),
        )
        .unwrap();
    }

    #[test]
    fn a_report_from_records_and_none_from_missing_ones() {
        let dir =
            std::env::temp_dir().join(format!("stackgate-reliability-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(
            &dir,
            "fuzz",
            "a",
            json!({"test": "a_fuzz", "cases": 10, "outcomes": {"handled": 4, "InvalidInput": 6}}),
        );
        assert!(render(&dir).is_err(), "incomplete records give no report");
        write(
            &dir,
            "faults",
            "matrix",
            json!({
                "faults": ["Timeout", "AccessDenied"],
                "sitesInSource": 2,
                "sites": [
                    {"function": "s3::get_object", "operation": "GetObject", "faults": {"Timeout": "retried", "AccessDenied": "terminal"}},
                    {"function": "s3::put_template", "operation": "PutObject", "faults": {"Timeout": "retried"}}
                ]
            }),
        );
        write(
            &dir,
            "guarantees",
            "g",
            json!({"guarantee": "never lost", "test": "t::x", "cases": 3}),
        );
        write(
            &dir,
            "secrets",
            "f",
            json!({"function": "check-stack", "invocations": 1, "secrets": ["AWS session token"]}),
        );
        let report = render(&dir).unwrap();
        assert!(
            report.contains("**1 / 2**"),
            "a site missing a fault is not covered:\n{report}"
        );
        assert!(
            report.contains("| `a_fuzz` | 10 | InvalidInput: 6; handled: 4 |"),
            "{report}"
        );
        assert!(
            report.contains("| never lost | `t::x`, 3 cases |"),
            "{report}"
        );
        assert!(
            report.contains("| check-stack | 1 | AWS session token |"),
            "{report}"
        );
        assert!(report.contains("| Timeout | retried (2) |"), "{report}");
        assert_eq!(
            report,
            render(&dir).unwrap(),
            "the same records give the same report"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
