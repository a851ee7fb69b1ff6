//! Workflow cost: state transitions and Lambda invocations of each safe-deploy path, read from the
//! execution history on the local stack, next to the polling baseline (benches/polling-baseline.asl.json,
//! run on the same stack), and what 1,000 deployments cost at published prices.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType};
use serde::Serialize;
use serde_json::{json, Value};
use stackgate_local::demo::{sample_template, upload_revision};
use stackgate_local::{execution, LocalClients};

use crate::stats::{millis, percentile};
use crate::BenchError;

mod runs;
pub use runs::*;

/// Step Functions Standard, us-east-1: USD per state transition ($0.025 per 1,000).
pub const PRICE_PER_TRANSITION: f64 = 0.025 / 1000.0;
/// Lambda requests: USD per invocation ($0.20 per million).
pub const PRICE_PER_INVOCATION: f64 = 0.20 / 1_000_000.0;
/// Lambda arm64 duration, USD per GB-second (first pricing tier), and the functions' memory.
pub const PRICE_PER_GB_SECOND_ARM64: f64 = 0.000_013_333_4;
pub const MEMORY_GB: f64 = 128.0 / 1024.0;
/// The polling baseline's fixed polling interval.
pub const POLLING_SECONDS: f64 = 10.0;
/// stackgate's in-Lambda wait budget per invocation (`STACKGATE_WAIT_SECONDS`, template default):
/// the change set's creation is still polled inside the plan (CloudFormation sends no change set events).
pub const WAIT_BUDGET_SECONDS: f64 = 600.0;
/// The stack wait's task timeout (`WaitForStackOperation`'s `TimeoutSeconds`): the event ends the
/// wait, and each timeout before it is one retry (a transition and a registration).
pub const STACK_WAIT_TIMEOUT_SECONDS: f64 = 600.0;

/// The safe-deploy paths the benchmark runs, in order (each builds on the previous stack).
pub const PATHS: [DeployPath; 4] = [
    DeployPath::Create,
    DeployPath::SafeUpdate,
    DeployPath::NoChanges,
    DeployPath::UnsafeRefused,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DeployPath {
    Create,
    SafeUpdate,
    NoChanges,
    UnsafeRefused,
}

impl DeployPath {
    pub fn label(self) -> &'static str {
        match self {
            DeployPath::Create => "create",
            DeployPath::SafeUpdate => "safe update",
            DeployPath::NoChanges => "no changes",
            DeployPath::UnsafeRefused => "unsafe refused",
        }
    }

    /// The sample template this path submits (after the previous paths).
    fn template(self) -> &'static str {
        match self {
            DeployPath::Create => "app-v1.yaml",
            DeployPath::SafeUpdate | DeployPath::NoChanges => "app-v2-safe.yaml",
            DeployPath::UnsafeRefused => "app-v3-unsafe.yaml",
        }
    }

    /// The polling baseline's input `path`.
    fn polling_path(self) -> &'static str {
        match self {
            DeployPath::Create => "create",
            DeployPath::SafeUpdate => "update",
            DeployPath::NoChanges => "noChanges",
            DeployPath::UnsafeRefused => "unsafe",
        }
    }

    /// The CloudFormation waits on this path: (change set creation?, stack operation?).
    fn waits(self) -> (bool, bool) {
        match self {
            DeployPath::Create | DeployPath::SafeUpdate => (true, true),
            DeployPath::NoChanges | DeployPath::UnsafeRefused => (true, false),
        }
    }
}

/// How long CloudFormation takes, per kind of wait.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub name: &'static str,
    pub change_set_seconds: f64,
    pub stack_seconds: f64,
}

/// The scenarios the cost table shows: the local stack (CloudFormation completes at once), a
/// typical AWS deployment, and a slow one.
pub const LATENCIES: [Latency; 3] = [
    Latency {
        name: "local stack",
        change_set_seconds: 0.0,
        stack_seconds: 0.0,
    },
    Latency {
        name: "typical (change set 15 s, stack 2 min)",
        change_set_seconds: 15.0,
        stack_seconds: 120.0,
    },
    Latency {
        name: "slow (change set 1 min, stack 30 min)",
        change_set_seconds: 60.0,
        stack_seconds: 1800.0,
    },
];

/// Transitions and invocations of one execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// State entries plus retries (Step Functions bills both).
    pub transitions: u64,
    pub lambda_invocations: u64,
}

/// Counts a history. `lambda_states` names states that stand for a Lambda call (the polling baseline's
/// Pass states); Lambda task scheduling events are counted as invocations too.
pub fn count(events: &[HistoryEvent], lambda_states: &HashSet<String>) -> Counts {
    let mut counts = Counts {
        transitions: 0,
        lambda_invocations: 0,
    };
    let mut scheduled_in_state = 0u64;
    for event in events {
        if let Some(entered) = event.state_entered_event_details() {
            counts.transitions += 1;
            scheduled_in_state = 0;
            if lambda_states.contains(entered.name()) {
                counts.lambda_invocations += 1;
            }
        }
        if event.r#type() == &HistoryEventType::TaskScheduled {
            scheduled_in_state += 1;
            if scheduled_in_state > 1 {
                counts.transitions += 1; // a retry
            }
            if event
                .task_scheduled_event_details()
                .is_some_and(|d| d.resource_type() == "lambda")
            {
                counts.lambda_invocations += 1;
            }
        }
    }
    counts
}

/// The states of a definition whose Comment starts with "Lambda:".
pub fn lambda_states(definition: &Value) -> HashSet<String> {
    definition["States"]
        .as_object()
        .map(|states| {
            states
                .iter()
                .filter(|(_, state)| {
                    state["Comment"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("Lambda:"))
                })
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls the polling baseline does for a wait of `seconds`: one at least, one per 10 s.
pub fn polling_polls(seconds: f64) -> u64 {
    ((seconds / POLLING_SECONDS).ceil() as u64).max(1)
}

/// Extra invocations (each a retry transition too) stackgate needs when a wait outlasts one
/// invocation's budget.
pub fn budget_retries(seconds: f64) -> u64 {
    ((seconds / WAIT_BUDGET_SECONDS).ceil() as u64).saturating_sub(1)
}

/// Retries of the stack wait's task (each a transition and a registration) before its event.
pub fn timeout_retries(seconds: f64) -> u64 {
    ((seconds / STACK_WAIT_TIMEOUT_SECONDS).ceil() as u64).saturating_sub(1)
}

/// One path's counts for both designs under one latency, and their cost.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathCost {
    pub path: DeployPath,
    pub latency: &'static str,
    pub stackgate: Counts,
    pub polling: Counts,
    /// Seconds of Lambda time per deployment.
    pub stackgate_lambda_seconds: f64,
    pub polling_lambda_seconds: f64,
    pub stackgate_usd_per_1000: f64,
    pub polling_usd_per_1000: f64,
}

/// USD for 1,000 deployments of `counts` with `lambda_seconds` of 128 MB arm64 time each.
pub fn cost_per_1000(counts: Counts, lambda_seconds: f64) -> f64 {
    1000.0
        * (counts.transitions as f64 * PRICE_PER_TRANSITION
            + counts.lambda_invocations as f64 * PRICE_PER_INVOCATION
            + lambda_seconds * MEMORY_GB * PRICE_PER_GB_SECOND_ARM64)
}

/// Billed Lambda seconds: each invocation rounded up to the millisecond.
pub fn billed_seconds(invocations: u64, per_invocation_ms: f64) -> f64 {
    invocations as f64 * per_invocation_ms.ceil() / 1000.0
}

/// stackgate's counts under `latency`, from the counts measured on the local stack. The change set's
/// creation is polled inside one invocation (one retry per budget it outlasts; the waiting is Lambda
/// time). The stack operation is waited on by task token: no Lambda runs while CloudFormation works;
/// its end is one `stack-status` invocation (EventBridge's, not in the history), and each task
/// timeout it outlasts is one retry (a transition and a registration).
pub fn stackgate_under(
    path: DeployPath,
    local: Counts,
    latency: &Latency,
    per_invocation_ms: f64,
) -> (Counts, f64) {
    let (change_set, stack) = path.waits();
    let mut waited = 0.0;
    let mut extra = 0;
    if change_set {
        waited += latency.change_set_seconds;
        extra += budget_retries(latency.change_set_seconds);
    }
    let mut events = 0;
    if stack {
        extra += timeout_retries(latency.stack_seconds);
        events += 1;
    }
    let counts = Counts {
        transitions: local.transitions + extra,
        lambda_invocations: local.lambda_invocations + extra + events,
    };
    (
        counts,
        billed_seconds(counts.lambda_invocations, per_invocation_ms) + waited,
    )
}

/// The polling baseline's input for `path` under `latency` (waits of 0 s locally: the count is the same).
pub fn polling_input(path: DeployPath, latency: &Latency) -> Value {
    json!({
        "path": path.polling_path(),
        "stackExists": path != DeployPath::Create,
        "waitSeconds": 0,
        "latency": {
            "changeSetPolls": polling_polls(latency.change_set_seconds),
            "stackPolls": polling_polls(latency.stack_seconds),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::types::{StateEnteredEventDetails, TaskScheduledEventDetails};
    use aws_smithy_types::DateTime;

    fn entered(name: &str) -> HistoryEvent {
        HistoryEvent::builder()
            .timestamp(DateTime::from_secs(0))
            .r#type(HistoryEventType::TaskStateEntered)
            .id(1)
            .state_entered_event_details(
                StateEnteredEventDetails::builder()
                    .name(name)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    fn scheduled(resource_type: &str) -> HistoryEvent {
        HistoryEvent::builder()
            .timestamp(DateTime::from_secs(0))
            .r#type(HistoryEventType::TaskScheduled)
            .id(2)
            .task_scheduled_event_details(
                TaskScheduledEventDetails::builder()
                    .resource_type(resource_type)
                    .resource("invoke")
                    .region("us-east-1")
                    .parameters("{}")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn retries_count_as_transitions_and_invocations() {
        let events = [
            entered("Wait"),
            scheduled("lambda"),
            scheduled("lambda"),
            scheduled("lambda"),
            entered("Next"),
        ];
        assert_eq!(
            count(&events, &HashSet::new()),
            Counts {
                transitions: 4,
                lambda_invocations: 3
            }
        );
    }

    #[test]
    fn the_polling_baselines_lambda_steps_are_counted_by_state() {
        let lambdas = HashSet::from(["GetStatus".to_string()]);
        let events = [
            entered("Wait"),
            entered("GetStatus"),
            entered("Choice"),
            entered("GetStatus"),
        ];
        assert_eq!(
            count(&events, &lambdas),
            Counts {
                transitions: 4,
                lambda_invocations: 2
            }
        );
        let model: Value = serde_json::from_str(
            &std::fs::read_to_string(
                stackgate_local::repo_root().join("benches/polling-baseline.asl.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let named = lambda_states(&model);
        assert!(
            named.contains("CheckStackExistence") && named.contains("GetChangeSetStatus"),
            "{named:?}"
        );
        assert!(!named.contains("WaitStackCreation"));
    }

    #[test]
    fn baseline_polling_grows_with_latency_and_stackgate_only_per_timeout() {
        assert_eq!(polling_polls(0.0), 1);
        assert_eq!(polling_polls(120.0), 12);
        assert_eq!(budget_retries(120.0), 0);
        assert_eq!(budget_retries(1800.0), 2);
        assert_eq!(timeout_retries(120.0), 0);
        assert_eq!(timeout_retries(1800.0), 2);
        let local = Counts {
            transitions: 9,
            lambda_invocations: 5,
        };
        let (slow, seconds) = stackgate_under(DeployPath::Create, local, &LATENCIES[2], 10.0);
        // Two task timeouts in 30 minutes, one event; only the change set's minute is Lambda time.
        assert_eq!(
            slow,
            Counts {
                transitions: 11,
                lambda_invocations: 8
            }
        );
        assert!((seconds - (60.0 + 0.08)).abs() < 1e-9, "{seconds}");
        let (refused, _) = stackgate_under(DeployPath::UnsafeRefused, local, &LATENCIES[2], 10.0);
        assert_eq!(refused, local, "no stack wait on a refused change");
    }

    #[test]
    fn the_models_stack_wait_timeout_is_the_workflows() {
        let definition: Value = serde_json::from_str(
            &std::fs::read_to_string(
                stackgate_local::repo_root().join("statemachines/safe-deploy.asl.json"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            definition["States"]["WaitForStackOperation"]["TimeoutSeconds"].as_f64(),
            Some(STACK_WAIT_TIMEOUT_SECONDS)
        );
    }

    #[test]
    fn cost_adds_transitions_requests_and_duration() {
        let counts = Counts {
            transitions: 1000,
            lambda_invocations: 0,
        };
        assert!((cost_per_1000(counts, 0.0) - 25.0).abs() < 1e-9);
        let one_gb_second = 1.0 / MEMORY_GB;
        let counts = Counts {
            transitions: 0,
            lambda_invocations: 1,
        };
        let expected = 1000.0 * (PRICE_PER_INVOCATION + PRICE_PER_GB_SECOND_ARM64);
        assert!((cost_per_1000(counts, one_gb_second) - expected).abs() < 1e-12);
    }

    #[test]
    fn overhead_adds_the_baselines_waits_and_takes_percentiles() {
        let run = |ms: u64, waits: u64| PathRun {
            held: Duration::ZERO,
            counts: Counts {
                transitions: 1,
                lambda_invocations: 1,
            },
            run_time: Duration::from_millis(ms),
            waits,
        };
        let ours: Vec<PathRun> = (1..=20).map(|i| run(i * 100, 0)).collect();
        let polling = vec![run(50, 2), run(70, 2)];
        let o = overhead(DeployPath::Create, &ours, &polling).unwrap();
        assert_eq!(
            (o.runs, o.stackgate_p50_ms, o.stackgate_p99_ms),
            (20, 1000.0, 2000.0)
        );
        assert_eq!((o.polling_p50_ms, o.polling_p99_ms), (20050.0, 20070.0));
        assert!(overhead(DeployPath::Create, &[], &polling).is_none());
    }

    #[test]
    fn the_polling_input_encodes_the_path_and_the_polls() {
        let input = polling_input(DeployPath::SafeUpdate, &LATENCIES[1]);
        assert_eq!(input["path"], "update");
        assert_eq!(input["stackExists"], true);
        assert_eq!(input["latency"]["changeSetPolls"], 2);
        assert_eq!(input["latency"]["stackPolls"], 12);
    }
}
