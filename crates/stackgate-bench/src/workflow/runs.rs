//! The paths run on the local stack: stackgate's, and the polling baseline's on the same stack,
//! each execution's cost read from its history, and the orchestration overhead between them.

use super::*;

/// One execution of a path: what it cost and how long it ran.
#[derive(Debug, Clone, Copy)]
pub struct PathRun {
    pub counts: Counts,
    /// StartExecution to the outcome, as Step Functions recorded them.
    pub run_time: Duration,
    /// Wait states entered (the polling baseline's fixed 10-second polls).
    pub waits: u64,
    /// How long the local stack held stack operations in progress (`STACKGATE_STACK_SECONDS` for
    /// each stack wait): CloudFormation's time, not stackgate's.
    pub held: Duration,
}

/// The local stack's modelled CloudFormation time per stack operation (`scripts/moto-server.py`).
pub fn local_stack_seconds() -> Duration {
    std::env::var("STACKGATE_STACK_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(Duration::from_secs(2))
}

/// States that wait on a stack operation the local stack holds in progress.
const STACK_WAITS: [&str; 2] = ["WaitForStackOperation", "WaitForStackDeleted"];

fn path_run(
    events: &[HistoryEvent],
    lambdas: &HashSet<String>,
    report: &execution::Report,
) -> Result<PathRun, BenchError> {
    // A run without its dates would count as instantaneous: refuse it rather than flatter.
    let run_time = report.run_time.ok_or_else(|| {
        BenchError::Measure(format!(
            "{} has no start and stop dates",
            report.execution_arn
        ))
    })?;
    let stack_waits = report
        .states
        .iter()
        .filter(|s| STACK_WAITS.contains(&s.as_str()))
        .count() as u32;
    Ok(PathRun {
        counts: count(events, lambdas),
        run_time,
        waits: events
            .iter()
            .filter(|e| e.r#type() == &HistoryEventType::WaitStateEntered)
            .count() as u64,
        held: local_stack_seconds() * stack_waits,
    })
}

/// Runs the four safe-deploy paths on the local stack, `rounds` times (each round on a stack of
/// its own); the runs of each round, in `PATHS` order.
pub async fn stackgate_paths(
    clients: &LocalClients,
    rounds: usize,
) -> Result<Vec<Vec<PathRun>>, BenchError> {
    let machine = stackgate_local::deploy::state_machine_arn("SafeDeployStateMachine");
    let mut all = Vec::new();
    for _ in 0..rounds.max(1) {
        let stack = stackgate_local::unique_name("bench-");
        let mut round = Vec::new();
        for path in PATHS {
            let key = format!("bench/{stack}/{}.zip", path.polling_path());
            let input = upload_revision(
                clients,
                &key,
                &sample_template(path.template())?,
                // A managed environment of the local stack: the plan refuses any other.
                "demo",
                &stack,
            )
            .await?;
            let report = execution::run(
                &clients.sfn,
                &machine,
                &format!("{stack}-{}", path.polling_path()),
                &input,
                Duration::from_secs(300),
            )
            .await?;
            let expected = match path {
                DeployPath::Create => report.outcome() == Some("CREATED"),
                DeployPath::SafeUpdate => report.outcome() == Some("UPDATED"),
                DeployPath::NoChanges => report.outcome() == Some("NO_CHANGES"),
                DeployPath::UnsafeRefused => report.error.as_deref() == Some("UnsafeChangeSet"),
            };
            if !expected {
                return Err(BenchError::Measure(format!(
                    "safe-deploy {} ended unexpectedly: {report:?}",
                    path.label()
                )));
            }
            let events = execution::history(&clients.sfn, &report.execution_arn).await?;
            round.push(path_run(&events, &HashSet::new(), &report)?);
        }
        all.push(round);
    }
    Ok(all)
}

/// Creates the polling baseline's state machine on the local stack; returns its ARN and Lambda states.
pub async fn deploy_polling_baseline(
    clients: &LocalClients,
    repo: &Path,
) -> Result<(String, HashSet<String>), BenchError> {
    let definition = std::fs::read_to_string(repo.join("benches/polling-baseline.asl.json"))?;
    let lambdas = lambda_states(&serde_json::from_str(&definition)?);
    let name = stackgate_local::unique_name("PollingBaseline-");
    let created = clients
        .sfn
        .create_state_machine()
        .name(&name)
        .definition(definition)
        .role_arn(format!(
            "arn:aws:iam::{}:role/polling-baseline",
            stackgate_local::template::ACCOUNT
        ))
        .send()
        .await
        .map_err(|e| BenchError::Local(format!("creating the polling baseline: {e}")))?;
    Ok((created.state_machine_arn().to_string(), lambdas))
}

/// Runs the polling baseline for `path` under `latency`.
pub async fn polling_path(
    clients: &LocalClients,
    machine: &str,
    lambdas: &HashSet<String>,
    path: DeployPath,
    latency: &Latency,
) -> Result<PathRun, BenchError> {
    let report = execution::run(
        &clients.sfn,
        machine,
        &stackgate_local::unique_name("polling-baseline-"),
        &polling_input(path, latency),
        Duration::from_secs(120),
    )
    .await?;
    let succeeded = matches!(path, DeployPath::Create | DeployPath::SafeUpdate);
    if (report.status == "SUCCEEDED") != succeeded {
        return Err(BenchError::Measure(format!(
            "polling baseline {} ended {}",
            path.label(),
            report.status
        )));
    }
    let events = execution::history(&clients.sfn, &report.execution_arn).await?;
    path_run(&events, lambdas, &report)
}

/// What stackgate itself adds to a deployment: StartExecution to the outcome on the local stack,
/// where CloudFormation takes ~0 s, over every run of a path; next to the polling baseline's run on
/// the same stack with its waits at 0 s plus the 10-second polls its design waits.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overhead {
    pub path: DeployPath,
    pub runs: usize,
    pub stackgate_p50_ms: f64,
    pub stackgate_p99_ms: f64,
    pub polling_runs: usize,
    pub polling_p50_ms: f64,
    pub polling_p99_ms: f64,
}

/// The overhead of each path from stackgate's runs (less the time the local stack held its stack
/// operation) and the polling baseline's (its waits at 0 s; each Wait it entered counts its 10 seconds).
pub fn overhead(path: DeployPath, ours: &[PathRun], polling: &[PathRun]) -> Option<Overhead> {
    let ms = |runs: &[PathRun], waits: bool| -> Vec<f64> {
        runs.iter()
            .map(|r| {
                millis(r.run_time.saturating_sub(r.held))
                    + if waits {
                        r.waits as f64 * POLLING_SECONDS * 1000.0
                    } else {
                        0.0
                    }
            })
            .collect()
    };
    let (ours, theirs) = (ms(ours, false), ms(polling, true));
    Some(Overhead {
        path,
        runs: ours.len(),
        stackgate_p50_ms: percentile(&ours, 50.0)?,
        stackgate_p99_ms: percentile(&ours, 99.0)?,
        polling_runs: theirs.len(),
        polling_p50_ms: percentile(&theirs, 50.0)?,
        polling_p99_ms: percentile(&theirs, 99.0)?,
    })
}
