//! Starting a workflow on the local stack and reading back what it did: status, output or
//! error and cause, and the states it went through.

use std::time::{Duration, Instant};

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use serde_json::Value;

use crate::BoxError;

#[derive(Debug, Clone)]
pub struct Report {
    pub execution_arn: String,
    pub status: String,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// State names in the order they were entered.
    pub states: Vec<String>,
    /// Lambda task invocations (retries included).
    pub lambda_invocations: usize,
    /// From the execution's start to its end, as Step Functions recorded them.
    pub run_time: Option<Duration>,
    /// What saw each awaited stack operation end (wait-stack's answer, `reportedBy`): `event`
    /// (CloudFormation's, through EventBridge) or `check` (the wait's own read of the stack).
    pub reported_by: Vec<String>,
}

impl Report {
    pub fn outcome(&self) -> Option<&str> {
        self.output.as_ref()?.get("outcome")?.as_str()
    }

    pub fn entered(&self, state: &str) -> bool {
        self.states.iter().any(|s| s == state)
    }
}

pub async fn start(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    name: &str,
    input: &Value,
) -> Result<String, BoxError> {
    let started = sfn
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(name)
        .input(input.to_string())
        .send()
        .await?;
    Ok(started.execution_arn().to_string())
}

/// Polls until the execution ends (or `timeout` passes) and reads its history.
pub async fn wait(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    timeout: Duration,
) -> Result<Report, BoxError> {
    let started = Instant::now();
    let described = loop {
        let described = sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await?;
        if described.status() != &ExecutionStatus::Running {
            break described;
        }
        if started.elapsed() > timeout {
            return Err(
                format!("execution {execution_arn} still running after {timeout:?}").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut states = Vec::new();
    let mut reported_by = Vec::new();
    let mut lambda_invocations = 0;
    let mut error = described.error().map(str::to_string);
    let mut cause = described.cause().map(str::to_string);
    for event in history(sfn, execution_arn).await? {
        if let Some(entered) = event.state_entered_event_details() {
            states.push(entered.name().to_string());
        }
        if event.r#type() == &HistoryEventType::TaskScheduled
            && event
                .task_scheduled_event_details()
                .is_some_and(|d| d.resource_type() == "lambda")
        {
            lambda_invocations += 1;
        }
        if let Some(output) = event
            .task_succeeded_event_details()
            .and_then(|d| d.output())
            .and_then(|o| serde_json::from_str::<Value>(o).ok())
        {
            if let Some(by) = output.get("reportedBy").and_then(Value::as_str) {
                reported_by.push(by.to_string());
            }
        }
        if let Some(failed) = event.execution_failed_event_details() {
            error = error.or_else(|| failed.error().map(str::to_string));
            cause = cause.or_else(|| failed.cause().map(str::to_string));
        }
    }
    Ok(Report {
        execution_arn: execution_arn.to_string(),
        status: described.status().as_str().to_string(),
        output: described
            .output()
            .and_then(|o| serde_json::from_str(o).ok()),
        error,
        cause,
        states,
        lambda_invocations,
        run_time: described.stop_date().and_then(|stopped| {
            let seconds = stopped.as_secs_f64() - described.start_date().as_secs_f64();
            Duration::try_from_secs_f64(seconds).ok()
        }),
        reported_by,
    })
}

/// Every event of an execution's history, all pages.
/// Every value an execution's history holds (inputs, outputs, task parameters, errors, causes),
/// unredacted: what anyone with `states:GetExecutionHistory` can read. (The events' `Debug`
/// redacts these fields, so a search of it would prove nothing.)
pub fn history_values(events: &[aws_sdk_sfn::types::HistoryEvent]) -> Vec<String> {
    let mut values: Vec<Option<&str>> = Vec::new();
    for e in events {
        if let Some(d) = e.execution_started_event_details() {
            values.push(d.input());
        }
        if let Some(d) = e.execution_succeeded_event_details() {
            values.push(d.output());
        }
        if let Some(d) = e.execution_failed_event_details() {
            values.extend([d.error(), d.cause()]);
        }
        if let Some(d) = e.state_entered_event_details() {
            values.push(d.input());
        }
        if let Some(d) = e.state_exited_event_details() {
            values.push(d.output());
        }
        if let Some(d) = e.task_scheduled_event_details() {
            values.push(Some(d.parameters()));
        }
        if let Some(d) = e.task_succeeded_event_details() {
            values.push(d.output());
        }
        if let Some(d) = e.task_submitted_event_details() {
            values.push(d.output());
        }
        if let Some(d) = e.task_failed_event_details() {
            values.extend([d.error(), d.cause()]);
        }
        if let Some(d) = e.lambda_function_scheduled_event_details() {
            values.push(d.input());
        }
        if let Some(d) = e.lambda_function_succeeded_event_details() {
            values.push(d.output());
        }
        if let Some(d) = e.lambda_function_failed_event_details() {
            values.extend([d.error(), d.cause()]);
        }
        if let Some(d) = e.activity_scheduled_event_details() {
            values.push(d.input());
        }
        if let Some(d) = e.activity_succeeded_event_details() {
            values.push(d.output());
        }
    }
    values.into_iter().flatten().map(str::to_string).collect()
}

pub async fn history(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> Result<Vec<aws_sdk_sfn::types::HistoryEvent>, BoxError> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .max_results(1000)
            .set_next_token(token.take())
            .send()
            .await?;
        events.extend(page.events().iter().cloned());
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(events),
        }
    }
}

pub async fn run(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    name: &str,
    input: &Value,
    timeout: Duration,
) -> Result<Report, BoxError> {
    let arn = start(sfn, state_machine_arn, name, input).await?;
    wait(sfn, &arn, timeout).await
}
