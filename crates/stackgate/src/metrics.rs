//! Operators' figures as CloudWatch embedded-metric-format (EMF) lines on standard output: Lambda
//! sends them to the function's log group, and CloudWatch Logs turns them into metrics. No SDK call,
//! no permission beyond the logs the functions already write, nothing on the request's path.
//!
//! Every dimension value is one of stackgate's own words (an outcome, an error type, a decision) or
//! an environment name the operator configured, never a caller's free text: a metric's dimensions
//! are public to anyone who can read the account's metrics, and a value may not be a secret.

use std::cell::RefCell;
use std::io::Write;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

/// The namespace when the operator sets none (`METRICS_NAMESPACE`).
pub const DEFAULT_NAMESPACE: &str = "stackgate";

/// The dimension that names the environment; every metric is also published without it, so a
/// dashboard or an alarm can read the total.
pub const ENVIRONMENT: &str = "Environment";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One figure and what it is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub value: f64,
    pub dimensions: Vec<(&'static str, String)>,
}

impl Metric {
    pub fn count(name: &'static str) -> Self {
        Metric {
            name,
            unit: Unit::Count,
            value: 1.0,
            dimensions: Vec::new(),
        }
    }

    pub fn seconds(name: &'static str, seconds: f64) -> Self {
        Metric {
            name,
            unit: Unit::Seconds,
            value: seconds.max(0.0),
            dimensions: Vec::new(),
        }
    }

    pub fn with(mut self, dimension: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((dimension, value.into()));
        self
    }

    /// The environment, where it is known (an unknown one leaves only the total).
    pub fn in_environment(self, environment: Option<&str>) -> Self {
        match environment.filter(|e| !e.is_empty()) {
            Some(environment) => self.with(ENVIRONMENT, environment),
            None => self,
        }
    }
}

/// The figures stackgate publishes, by name: one list, so the dashboard, the alarm and the local
/// report name the same metrics as the functions.
pub mod names {
    /// A deployment or deletion's end: `Outcome` (CREATED, UPDATED, NO_CHANGES, DELETED, REFUSED,
    /// FAILED) and the environment.
    pub const DEPLOYMENTS: &str = "Deployments";
    /// A request stackgate refused: `Reason` (the error type, e.g. UnsafeChangeSet).
    pub const REFUSALS: &str = "Refusals";
    /// A judged change set: `Verdict` (SAFE, UNSAFE, EMPTY).
    pub const PLANS: &str = "Plans";
    /// Creating and judging a change set, in seconds.
    pub const PLAN_SECONDS: &str = "PlanSeconds";
    /// A stack operation, from its wait's registration to its end, in seconds: `Operation`.
    pub const STACK_OPERATION_SECONDS: &str = "StackOperationSeconds";
    /// An approval or manual task asked of people: `Kind`.
    pub const APPROVALS_REQUESTED: &str = "ApprovalsRequested";
    /// A decision taken: `Decision` (APPROVED, REJECTED).
    pub const APPROVALS_DECIDED: &str = "ApprovalsDecided";
    /// How long a decided approval waited for its decision, in seconds.
    pub const APPROVAL_AGE_SECONDS: &str = "ApprovalAgeSeconds";
    /// A CodePipeline job answered: `Answer` (STARTED, CONTINUE, SUCCEEDED, FAILED).
    pub const PIPELINE_JOBS_ANSWERED: &str = "PipelineJobsAnswered";

    pub const ALL: [&str; 9] = [
        DEPLOYMENTS,
        REFUSALS,
        PLANS,
        PLAN_SECONDS,
        STACK_OPERATION_SECONDS,
        APPROVALS_REQUESTED,
        APPROVALS_DECIDED,
        APPROVAL_AGE_SECONDS,
        PIPELINE_JOBS_ANSWERED,
    ];
}

/// The EMF document for one metric: its dimensions, and the same without the environment.
pub fn document(metric: &Metric, namespace: &str, timestamp_ms: u64) -> Value {
    let all: Vec<&str> = metric.dimensions.iter().map(|(name, _)| *name).collect();
    let mut sets = vec![all.clone()];
    if all.contains(&ENVIRONMENT) {
        sets.push(all.into_iter().filter(|d| *d != ENVIRONMENT).collect());
    }
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": sets,
                "Metrics": [{"Name": metric.name, "Unit": metric.unit.as_str()}],
            }],
        }),
    );
    for (name, value) in &metric.dimensions {
        document.insert((*name).to_string(), Value::String(value.clone()));
    }
    document.insert(metric.name.into(), json!(metric.value));
    Value::Object(document)
}

fn namespace() -> &'static str {
    static NAMESPACE: OnceLock<String> = OnceLock::new();
    NAMESPACE.get_or_init(|| {
        crate::config::env_var("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into())
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

thread_local! {
    static CAPTURED: RefCell<Option<Vec<Value>>> = const { RefCell::new(None) };
}

/// Whether this process serves a Lambda runtime API (in AWS, under cargo-lambda, in the
/// benchmark's harness): only there does standard output reach a log that metrics are read from.
fn in_lambda() -> bool {
    static IN_LAMBDA: OnceLock<bool> = OnceLock::new();
    *IN_LAMBDA.get_or_init(|| crate::config::env_var("AWS_LAMBDA_RUNTIME_API").is_some())
}

/// Writes the metric's line to standard output (or to this thread's capture). A closed output
/// loses the figure, never the request. Outside a Lambda runtime (tests, tools) an uncaptured
/// metric is dropped rather than mixed into their output.
pub fn emit(metric: Metric) {
    let document = document(&metric, namespace(), now_ms());
    let captured = CAPTURED.with(|captured| match captured.borrow_mut().as_mut() {
        Some(lines) => {
            lines.push(document.clone());
            true
        }
        None => false,
    });
    if !captured && in_lambda() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{document}");
    }
}

/// A request stackgate said no to (`TaskError::is_refusal`): the deployment's end and its reason.
/// Other errors are retried or reported by the workflow, and are not counted here.
pub fn refused(environment: Option<&str>, error: &crate::TaskError) {
    if !error.is_refusal() {
        return;
    }
    emit(
        Metric::count(names::DEPLOYMENTS)
            .in_environment(environment)
            .with("Outcome", "REFUSED"),
    );
    emit(
        Metric::count(names::REFUSALS)
            .in_environment(environment)
            .with("Reason", error.error_type()),
    );
}

/// Holds the metrics this thread emits until dropped, for tests of what a handler publishes (a
/// `#[tokio::test]` runs the handler on its own thread).
pub struct Capture(());

impl Capture {
    pub fn start() -> Self {
        CAPTURED.with(|captured| *captured.borrow_mut() = Some(Vec::new()));
        Capture(())
    }

    /// The documents emitted so far.
    pub fn documents(&self) -> Vec<Value> {
        CAPTURED.with(|captured| captured.borrow().clone().unwrap_or_default())
    }

    /// `name` with its dimensions, for each metric emitted so far (e.g. `Deployments
    /// Environment=api Outcome=CREATED`).
    pub fn summaries(&self) -> Vec<String> {
        self.documents().iter().filter_map(summary).collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURED.with(|captured| *captured.borrow_mut() = None);
    }
}

/// One EMF document read back: its metrics, each with its dimensions' values, and its namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub namespace: String,
    pub name: String,
    pub unit: String,
    pub value: f64,
    pub dimensions: Vec<(String, String)>,
}

/// Reads a log line as EMF (any other line is `None`): what the local stack reports, and what
/// tests check the functions wrote.
pub fn read(line: &str) -> Vec<Reading> {
    let Ok(Value::Object(document)) = serde_json::from_str::<Value>(line.trim()) else {
        return Vec::new();
    };
    let Some(directives) = document
        .get("_aws")
        .and_then(|aws| aws.get("CloudWatchMetrics"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let mut readings = Vec::new();
    for directive in directives {
        let namespace = directive["Namespace"].as_str().unwrap_or_default();
        let dimension_names: Vec<&str> = directive["Dimensions"]
            .as_array()
            .and_then(|sets| sets.first())
            .and_then(Value::as_array)
            .map(|set| set.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let Some(name) = metric["Name"].as_str() else {
                continue;
            };
            let Some(value) = document.get(name).and_then(Value::as_f64) else {
                continue;
            };
            readings.push(Reading {
                namespace: namespace.to_string(),
                name: name.to_string(),
                unit: metric["Unit"].as_str().unwrap_or("None").to_string(),
                value,
                dimensions: dimension_names
                    .iter()
                    .map(|d| {
                        let value = document.get(*d).and_then(Value::as_str).unwrap_or_default();
                        (d.to_string(), value.to_string())
                    })
                    .collect(),
            });
        }
    }
    readings
}

fn summary(document: &Value) -> Option<String> {
    let reading = read(&document.to_string()).into_iter().next()?;
    let mut text = reading.name;
    for (name, value) in reading.dimensions {
        text.push_str(&format!(" {name}={value}"));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_follows_the_embedded_metric_format() {
        let metric = Metric::count(names::DEPLOYMENTS)
            .in_environment(Some("api"))
            .with("Outcome", "CREATED");
        let document = document(&metric, "stackgate", 1_700_000_000_123);
        assert_eq!(
            document,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_123u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "stackgate",
                        "Dimensions": [["Environment", "Outcome"], ["Outcome"]],
                        "Metrics": [{"Name": "Deployments", "Unit": "Count"}],
                    }],
                },
                "Environment": "api",
                "Outcome": "CREATED",
                "Deployments": 1.0,
            })
        );
        // One line: Lambda hands CloudWatch Logs a line per event.
        assert!(!document.to_string().contains('\n'));
    }

    #[test]
    fn an_unknown_environment_publishes_only_the_total() {
        let metric = Metric::seconds(names::PLAN_SECONDS, 2.5).in_environment(None);
        let document = document(&metric, "ns", 1);
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
        let metric = Metric::seconds(names::PLAN_SECONDS, 2.5).in_environment(Some("api"));
        assert_eq!(
            document_dimensions(&metric),
            json!([["Environment"], []]),
            "the environment's series and the total"
        );
    }

    fn document_dimensions(metric: &Metric) -> Value {
        document(metric, "ns", 1)["_aws"]["CloudWatchMetrics"][0]["Dimensions"].clone()
    }

    #[test]
    fn a_negative_duration_is_zero() {
        assert_eq!(Metric::seconds("x", -3.0).value, 0.0);
    }

    #[test]
    fn documents_read_back_with_their_dimensions() {
        let metric = Metric::count(names::REFUSALS)
            .in_environment(Some("prod"))
            .with("Reason", "UnsafeChangeSet");
        let line = document(&metric, "stackgate", 5).to_string();
        assert_eq!(
            read(&line),
            vec![Reading {
                namespace: "stackgate".into(),
                name: "Refusals".into(),
                unit: "Count".into(),
                value: 1.0,
                dimensions: vec![
                    ("Environment".into(), "prod".into()),
                    ("Reason".into(), "UnsafeChangeSet".into())
                ],
            }]
        );
        for other in [
            "",
            "not json",
            "{\"level\":\"INFO\",\"message\":\"x\"}",
            "{\"_aws\":{}}",
            "[1,2]",
            "{\"_aws\":{\"CloudWatchMetrics\":[{\"Metrics\":[{\"Name\":\"M\"}]}]}}",
        ] {
            assert!(read(other).is_empty(), "{other}");
        }
    }

    #[test]
    fn a_capture_holds_this_threads_metrics_until_dropped() {
        {
            let capture = Capture::start();
            emit(Metric::count(names::PLANS).with("Verdict", "SAFE"));
            assert_eq!(capture.summaries(), vec!["Plans Verdict=SAFE"]);
        }
        CAPTURED.with(|captured| assert!(captured.borrow().is_none()));
    }
}
