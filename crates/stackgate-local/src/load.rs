//! `stackgate-local load`: many concurrent requests to the stacks API on the local stack, and what
//! must hold under them: every 202 names exactly one execution, a duplicate (the same
//! Idempotency-Key and body) starts nothing new, deployments of one stack never overlap, and every
//! deployment ends as it should. The API's latency is reported as p50/p99.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::demo::{sample_template, ARTIFACT_BUCKET};
use crate::{api_url, endpoint, execution, http, unique_name, BoxError, LocalClients};

/// The environment the load deploys into (one of the local stack's managed environments).
pub const ENVIRONMENT: &str = "load";

/// How long one API request may take before the load fails (rather than hangs).
const ANSWER_WITHIN: Duration = Duration::from_secs(120);

/// How long all deployments may take to end, from the first request.
const ALL_ENDED_WITHIN: Duration = Duration::from_secs(1800);

/// What one request of the load is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A stack of its own, created once.
    Distinct,
    /// The same request as the earlier one at this index, with the same Idempotency-Key.
    Duplicate(usize),
    /// One of a few stacks every such request deploys, each with a key of its own.
    Shared(usize),
}

/// The requests of a load of `n`: of every five, three distinct stacks, one duplicate of the
/// latest distinct one, and one deployment of a shared stack (round robin over `shared`).
pub fn compose(n: usize, shared: usize) -> Vec<Kind> {
    let shared = shared.max(1);
    let mut kinds = Vec::with_capacity(n);
    let mut last_distinct = None;
    for i in 0..n {
        let kind = match (i % 5, last_distinct) {
            (3, Some(original)) => Kind::Duplicate(original),
            (4, _) => Kind::Shared((i / 5) % shared),
            _ => Kind::Distinct,
        };
        if kind == Kind::Distinct {
            last_distinct = Some(i);
        }
        kinds.push(kind);
    }
    kinds
}

/// The value at quantile `q` (0..=1) of sorted `values` (nearest rank).
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Pairs of intervals (start, end) that overlap, by index, of intervals sorted by start.
pub fn overlapping<T: PartialOrd + Copy>(intervals: &[(T, T)]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..intervals.len()).collect();
    order.sort_by(|a, b| {
        intervals[*a]
            .0
            .partial_cmp(&intervals[*b].0)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    order
        .windows(2)
        .filter(|w| intervals[w[1]].0 < intervals[w[0]].1)
        .map(|w| (w[0], w[1]))
        .collect()
}

/// One answered request.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    execution_arn: Option<String>,
    millis: u64,
    /// 503s tried again (a client's retry with the same key).
    retries: u32,
}

/// Runs the load; returns its figures, or an error naming the first property that did not hold.
pub async fn run(requests: usize, shared: usize, concurrency: usize) -> Result<Value, BoxError> {
    let clients = LocalClients::connect(&endpoint()).await;
    let run_id = unique_name("");
    let key = format!("load/{run_id}/app-v1.yaml");
    clients
        .s3
        .put_object()
        .bucket(ARTIFACT_BUCKET)
        .key(&key)
        .body(sample_template("app-v1.yaml")?.into_bytes().into())
        .send()
        .await?;
    // moto reads a TemplateURL path-style only when its host is "localhost".
    let template_url = format!(
        "{}/{ARTIFACT_BUCKET}/{key}",
        endpoint().replace("127.0.0.1", "localhost")
    );
    let kinds = compose(requests, shared);
    let body = |i: usize| -> (String, String) {
        let (stack, key) = match kinds[i] {
            Kind::Distinct => (format!("l{run_id}-{i}"), format!("load-{run_id}-{i}")),
            Kind::Duplicate(original) => (
                format!("l{run_id}-{original}"),
                format!("load-{run_id}-{original}"),
            ),
            Kind::Shared(s) => (format!("l{run_id}-shared{s}"), format!("load-{run_id}-{i}")),
        };
        let body = json!({"environmentName": ENVIRONMENT, "stackName": stack,
                          "templateUrl": template_url});
        (body.to_string(), key)
    };

    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(requests);
    for i in 0..requests {
        let (body, key) = body(i);
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            post(&body, &key).await
        }));
    }
    let mut answers = Vec::with_capacity(requests);
    for task in tasks {
        answers.push(task.await??);
    }
    let api_seconds = started.elapsed().as_secs_f64();

    // Every request answered 202 with an execution; duplicates name their original's.
    for (i, answer) in answers.iter().enumerate() {
        if answer.status != 202 || answer.execution_arn.is_none() {
            return Err(format!(
                "request {i} ({:?}) was answered {} without an execution",
                kinds[i], answer.status
            )
            .into());
        }
        if let Kind::Duplicate(original) = kinds[i] {
            if answer.execution_arn != answers[original].execution_arn {
                return Err(format!(
                    "request {i}, a duplicate of {original}, started an execution of its own"
                )
                .into());
            }
        }
    }
    let executions: BTreeSet<&str> = answers
        .iter()
        .filter_map(|a| a.execution_arn.as_deref())
        .collect();
    let expected = kinds
        .iter()
        .filter(|k| !matches!(k, Kind::Duplicate(_)))
        .count();
    if executions.len() != expected {
        return Err(format!(
            "{} executions for {expected} distinct requests",
            executions.len()
        )
        .into());
    }

    // Every deployment ends as it should; deployments of one stack never overlap.
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_stack: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
    for (i, answer) in answers.iter().enumerate() {
        if matches!(kinds[i], Kind::Duplicate(_)) {
            continue;
        }
        let arn = answer.execution_arn.as_deref().unwrap_or_default();
        let left = ALL_ENDED_WITHIN.saturating_sub(started.elapsed());
        let report = execution::wait(&clients.sfn, arn, left.max(Duration::from_secs(1))).await?;
        let outcome = report.outcome().unwrap_or(&report.status).to_string();
        let fine = match kinds[i] {
            Kind::Distinct => outcome == "CREATED",
            _ => matches!(outcome.as_str(), "CREATED" | "UPDATED" | "NO_CHANGES"),
        };
        if report.status != "SUCCEEDED" || !fine {
            return Err(format!(
                "request {i} ({:?}) ended {} ({outcome}): {:?} {:?}",
                kinds[i], report.status, report.error, report.cause
            )
            .into());
        }
        *outcomes.entry(outcome).or_default() += 1;
        if let Kind::Shared(s) = kinds[i] {
            by_stack
                .entry(s)
                .or_default()
                .push(decided_until_end(&clients, arn).await?);
        }
    }
    for (stack, intervals) in &by_stack {
        let created = intervals.len();
        if let Some((a, b)) = overlapping(intervals).first() {
            return Err(format!(
                "two deployments of shared stack {stack} overlapped ({a} and {b} of {created})"
            )
            .into());
        }
    }

    let mut millis: Vec<u64> = answers.iter().map(|a| a.millis).collect();
    millis.sort_unstable();
    let count = |wanted: fn(&Kind) -> bool| kinds.iter().filter(|k| wanted(k)).count();
    Ok(json!({
        "requests": requests,
        "concurrency": concurrency,
        "distinct": count(|k| matches!(k, Kind::Distinct)),
        "duplicates": count(|k| matches!(k, Kind::Duplicate(_))),
        "shared": count(|k| matches!(k, Kind::Shared(_))),
        "sharedStacks": by_stack.len(),
        "executions": executions.len(),
        "outcomes": outcomes,
        "retried503": answers.iter().map(|a| u64::from(a.retries)).sum::<u64>(),
        "apiP50Ms": quantile(&millis, 0.50),
        "apiP99Ms": quantile(&millis, 0.99),
        "apiMaxMs": millis.last().copied().unwrap_or_default(),
        "apiSeconds": (api_seconds * 10.0).round() / 10.0,
        "totalSeconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    }))
}

/// `POST /stacks` as a well-behaved client: a 503 ("try again") is tried again with the same key.
async fn post(body: &str, key: &str) -> Result<Answer, BoxError> {
    let url = format!("{}/stacks", api_url());
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", key),
    ];
    let started = Instant::now();
    let mut retries = 0;
    loop {
        let sent = http::send(Method::POST, &url, &headers, body.as_bytes().to_vec());
        let (status, _, bytes) = tokio::time::timeout(ANSWER_WITHIN, sent)
            .await
            .map_err(|_| format!("the API did not answer within {ANSWER_WITHIN:?}"))??;
        if status == 503 && retries < 10 {
            retries += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let reply: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        return Ok(Answer {
            status,
            execution_arn: reply["executionArn"].as_str().map(str::to_string),
            millis: started.elapsed().as_millis() as u64,
            retries,
        });
    }
}

/// From when the execution's plan had taken the stack (the plan's last attempt succeeded: it
/// enters RouteChangeSet) to when it ended, in seconds since the epoch.
async fn decided_until_end(clients: &LocalClients, arn: &str) -> Result<(f64, f64), BoxError> {
    let events = execution::history(&clients.sfn, arn).await?;
    let entered = events
        .iter()
        .find(|e| {
            e.state_entered_event_details()
                .is_some_and(|d| d.name() == "RouteChangeSet")
        })
        .ok_or_else(|| format!("{arn} never planned"))?
        .timestamp()
        .as_secs_f64();
    let ended = events
        .last()
        .ok_or_else(|| format!("{arn} has no history"))?
        .timestamp()
        .as_secs_f64();
    Ok((entered, ended))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_mixes_distinct_duplicate_and_shared_requests() {
        let kinds = compose(10, 2);
        assert_eq!(
            kinds,
            [
                Kind::Distinct,
                Kind::Distinct,
                Kind::Distinct,
                Kind::Duplicate(2),
                Kind::Shared(0),
                Kind::Distinct,
                Kind::Distinct,
                Kind::Distinct,
                Kind::Duplicate(7),
                Kind::Shared(1),
            ]
        );
        let big = compose(200, 4);
        let shared = big.iter().filter(|k| matches!(k, Kind::Shared(_))).count();
        assert_eq!(shared, 40);
        assert!(big.iter().all(|k| match k {
            Kind::Duplicate(i) => big[*i] == Kind::Distinct,
            _ => true,
        }));
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&values, 0.5), 50);
        assert_eq!(quantile(&values, 0.99), 99);
        assert_eq!(quantile(&values, 1.0), 100);
        assert_eq!(quantile(&[7], 0.99), 7);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn overlapping_intervals_are_found_whatever_their_order() {
        assert!(overlapping(&[(0.0, 1.0), (1.0, 2.0), (2.5, 3.0)]).is_empty());
        assert_eq!(overlapping(&[(2.0, 4.0), (0.0, 1.0), (3.0, 5.0)]), [(0, 2)]);
    }
}
