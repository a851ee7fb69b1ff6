//! Releases on the local stack: 1, 5 and 20 stacks, the 20 spread over every account and Region the
//! local stack has (its own and three target accounts, two Regions each), each started as a
//! pipeline starts one (a CodePipeline job whose source holds the manifest). Counted from the
//! histories of the release and of every plan and apply it started; how near the release comes to
//! Step Functions' limits on one execution.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use stackgate_local::demo::{sample_template, zip_of, ARTIFACT_BUCKET, TEMPLATE_PATH};
use stackgate_local::deploy::{state_machine_arn, OTHER_REGION, TARGET_ACCOUNTS};
use stackgate_local::{endpoint, execution, pipeline, LocalClients, REGION};

use crate::workflow::{self, Counts, DeployPath, LATENCIES};
use crate::BenchError;

/// The releases measured, by number of stacks.
pub const SIZES: [usize; 3] = [1, 5, 20];
/// Stacks per wave: stack `i` depends on stack `i - WAVE`.
const WAVE: usize = 5;
/// Step Functions' limits on one execution: its history's events, and one state's input or output.
pub const MAX_HISTORY_EVENTS: usize = 25_000;
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// One release, measured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRun {
    pub stacks: usize,
    /// Accounts × Regions its stacks went to.
    pub places: usize,
    pub waves: usize,
    /// The release's own execution.
    pub release: Counts,
    /// Every plan and apply execution it started, summed.
    pub deployments: Counts,
    /// Events in the release's own history (each plan and apply has a history of its own).
    pub history_events: usize,
    /// The largest input or output of a state of the release.
    pub largest_payload_bytes: usize,
    /// From the job's first call to the release's end.
    pub run_seconds: f64,
    /// USD per 1,000 releases, one per modelled latency (`LATENCIES`).
    pub usd_per_1000: Vec<LatencyCost>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencyCost {
    pub latency: &'static str,
    pub transitions: u64,
    pub lambda_invocations: u64,
    pub usd: f64,
}

/// Every account and Region a release may deploy to on the local stack: stackgate's own first.
pub fn places() -> Vec<(Option<&'static str>, &'static str)> {
    [None]
        .into_iter()
        .chain(TARGET_ACCOUNTS.iter().copied().map(Some))
        .flat_map(|account| [(account, REGION), (account, OTHER_REGION)])
        .collect()
}

/// A release of `stacks` stacks, each from the template in the job's source, spread over
/// `places` in turn, in waves of five (each stack after the one five before it).
pub fn manifest(
    release: &str,
    stacks: usize,
    places: &[(Option<&str>, &str)],
) -> Result<Value, BenchError> {
    if places.is_empty() {
        return Err(BenchError::Measure("no place to deploy to".into()));
    }
    let name = |i: usize| format!("{release}-{i:02}");
    let entries: Vec<Value> = (0..stacks)
        .map(|i| {
            let (account, region) = places[i % places.len()];
            let mut stack = json!({"stackName": name(i), "templatePath": TEMPLATE_PATH});
            if let Some(account) = account {
                stack["account"] = json!(account);
            }
            if region != REGION {
                stack["region"] = json!(region);
            }
            if i >= WAVE {
                stack["dependsOn"] = json!([name(i - WAVE)]);
            }
            stack
        })
        .collect();
    Ok(
        json!({"environmentName": "demo", "release": release, "stacks": entries,
              "waves": {"maxConcurrency": WAVE}}),
    )
}

/// The cost of 1,000 releases of `stacks` stacks that counted `measured` on the local stack, under
/// `latency`: each stack waits as one created stack does (`workflow::stackgate_under`).
pub fn cost(
    stacks: usize,
    measured: Counts,
    latency: &workflow::Latency,
    per_invocation_ms: f64,
) -> LatencyCost {
    let zero = Counts {
        transitions: 0,
        lambda_invocations: 0,
    };
    let (extra, extra_seconds) =
        workflow::stackgate_under(DeployPath::Create, zero, latency, per_invocation_ms);
    let n = stacks as u64;
    let counts = Counts {
        transitions: measured.transitions + n * extra.transitions,
        lambda_invocations: measured.lambda_invocations + n * extra.lambda_invocations,
    };
    let seconds = workflow::billed_seconds(measured.lambda_invocations, per_invocation_ms)
        + stacks as f64 * extra_seconds;
    LatencyCost {
        latency: latency.name,
        transitions: counts.transitions,
        lambda_invocations: counts.lambda_invocations,
        usd: workflow::cost_per_1000(counts, seconds),
    }
}

fn sum(a: Counts, b: Counts) -> Counts {
    Counts {
        transitions: a.transitions + b.transitions,
        lambda_invocations: a.lambda_invocations + b.lambda_invocations,
    }
}

/// The largest input or output of a state in a history.
fn largest_payload(events: &[aws_sdk_sfn::types::HistoryEvent]) -> usize {
    events
        .iter()
        .flat_map(|e| {
            [
                e.state_entered_event_details()
                    .and_then(|d| d.input())
                    .map_or(0, str::len),
                e.state_exited_event_details()
                    .and_then(|d| d.output())
                    .map_or(0, str::len),
            ]
        })
        .max()
        .unwrap_or(0)
}

fn execution_arn(machine: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn(machine).replace(":stateMachine:", ":execution:")
    )
}

/// Runs a release of `stacks` stacks through a CodePipeline job and measures it.
pub async fn run(
    clients: &LocalClients,
    stacks: usize,
    per_invocation_ms: f64,
) -> Result<ReleaseRun, BenchError> {
    let job_id = pipeline::fresh_job_id();
    let release = stackgate_local::unique_name("bench-r");
    let places = places();
    let used = places.len().min(stacks);
    let manifest = manifest(&release, stacks, &places)?.to_string();
    let template = sample_template("app-v1.yaml")?;
    let key = format!("bench/{job_id}/release.zip");
    clients
        .s3
        .put_object()
        .bucket(ARTIFACT_BUCKET)
        .key(&key)
        .body(
            zip_of(&[
                (TEMPLATE_PATH, template.as_bytes()),
                ("release.json", manifest.as_bytes()),
            ])?
            .into(),
        )
        .send()
        .await
        .map_err(|e| BenchError::Local(format!("uploading the release's source: {e}")))?;
    let event = pipeline::job_event(&job_id, &json!({"releaseManifest": "release.json"}), &key);
    let record = pipeline::run_job(
        &endpoint(),
        event,
        Duration::from_secs(1),
        Duration::from_secs(1800),
    )
    .await?;
    if record["status"] != "Succeeded" {
        return Err(BenchError::Measure(format!(
            "the {stacks}-stack release's job ended {record}"
        )));
    }
    let arn = execution_arn(
        "ReleaseStateMachine",
        &stackgate::pipeline::release_execution_name(&job_id),
    );
    let described = clients
        .sfn
        .describe_execution()
        .execution_arn(&arn)
        .send()
        .await
        .map_err(|e| BenchError::Local(format!("describing {arn}: {e}")))?;
    let run_seconds = described
        .stop_date()
        .map(|stop| (stop.as_secs_f64() - described.start_date().as_secs_f64()).max(0.0))
        .ok_or_else(|| BenchError::Measure(format!("{arn} has not ended")))?;
    let input: Value = serde_json::from_str(described.input().unwrap_or("{}"))?;
    let history = execution::history(&clients.sfn, &arn).await?;
    let none = HashSet::new();
    let mut deployments = Counts {
        transitions: 0,
        lambda_invocations: 0,
    };
    for stack in input["stacks"].as_array().into_iter().flatten() {
        for field in ["planName", "applyName"] {
            let name = stack[field].as_str().unwrap_or_default();
            let events =
                execution::history(&clients.sfn, &execution_arn("SafeDeployStateMachine", name))
                    .await?;
            deployments = sum(deployments, workflow::count(&events, &none));
        }
    }
    let measured = workflow::count(&history, &none);
    let total = sum(measured, deployments);
    Ok(ReleaseRun {
        stacks,
        places: used,
        waves: stacks.div_ceil(WAVE),
        release: measured,
        deployments,
        history_events: history.len(),
        largest_payload_bytes: largest_payload(&history),
        run_seconds,
        usd_per_1000: LATENCIES
            .iter()
            .map(|latency| cost(stacks, total, latency, per_invocation_ms))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_release_goes_to_every_place_in_waves_of_five() {
        let places = places();
        assert_eq!(places.len(), 8, "four accounts, two Regions");
        let m = manifest("r", 20, &places).unwrap();
        let stacks = m["stacks"].as_array().unwrap();
        assert_eq!(stacks.len(), 20);
        assert!(stacks[0].get("account").is_none() && stacks[0].get("region").is_none());
        assert_eq!(stacks[3]["account"], TARGET_ACCOUNTS[0]);
        assert_eq!(stacks[3]["region"], OTHER_REGION);
        assert!(stacks[4].get("dependsOn").is_none());
        assert_eq!(stacks[19]["dependsOn"], json!(["r-14"]));
        // The manifest is one the pipeline takes.
        let from_the_job = stackgate::pipeline::release_manifest(
            m.to_string().as_bytes(),
            (ARTIFACT_BUCKET, "bench/release.zip"),
            "job-1",
        )
        .unwrap();
        let parsed = stackgate::request::release::parse_release(
            &Value::Object(from_the_job),
            "release-bench",
        );
        let parsed = parsed.map_err(|e| e.to_string());
        assert!(parsed.is_ok(), "{parsed:?}");
        assert_eq!(parsed.unwrap().waves.len(), 4);
    }

    #[test]
    fn a_release_costs_what_it_counted_plus_each_stack_s_waits() {
        let measured = Counts {
            transitions: 100,
            lambda_invocations: 10,
        };
        let local = cost(5, measured, &LATENCIES[0], 2.0);
        assert_eq!((local.transitions, local.lambda_invocations), (100, 15));
        let slow = cost(5, measured, &LATENCIES[2], 2.0);
        // Each stack's 30-minute operation outlasts two 10-minute task timeouts: two retries each.
        assert_eq!(slow.transitions, 100 + 5 * 2);
        assert!(slow.usd > local.usd);
    }
}
