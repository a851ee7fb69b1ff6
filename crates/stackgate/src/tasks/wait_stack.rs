//! `wait-stack`: waits for a stack operation to settle and says how it ended, naming the root cause
//! of a failure. Bounded: past its budget it raises `StackStillInProgress` for the state machine to retry.

use std::collections::BTreeMap;
use std::time::Instant;

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{parse_input, to_output, wait_budget};
use crate::aws::cloudformation;
use crate::config::Polling;
use crate::lifecycle::{delete_outcome, deploy_outcome, is_settled, OperationEnd};
use crate::root_cause;
use crate::TaskError;

/// What the wait needs, read once per process.
#[derive(Debug, Clone)]
pub struct Deps {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub polling: Polling,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        Ok(Deps {
            cloudformation: aws_sdk_cloudformation::Client::new(&crate::aws::sdk::sdk_config()),
            polling: Polling::from_env(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    Deploy,
    Delete,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    /// A name or, for deletes, preferably the stack id (a deleted stack is only visible by id).
    stack_name: String,
    operation: Operation,
    /// The deployment's rollback alarms (ARNs): a rollback one of them caused is named as such.
    #[serde(default)]
    rollback_alarms: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub stack_name: String,
    pub stack_id: String,
    pub status: String,
    pub outputs: BTreeMap<String, String>,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let deadline = event.context.deadline;
    let input: Input = parse_input(event.payload)?;
    let budget = wait_budget(deps.polling.wait_budget, deadline);
    let output = wait(
        deps,
        &input.stack_name,
        input.operation,
        &input.rollback_alarms,
        budget,
    )
    .await?;
    to_output(&output)
}

pub async fn wait(
    deps: &Deps,
    stack: &str,
    operation: Operation,
    rollback_alarms: &[String],
    budget: std::time::Duration,
) -> Result<Output, TaskError> {
    let started = Instant::now();
    loop {
        let summary = cloudformation::describe_stack(&deps.cloudformation, stack).await?;
        let Some(summary) = summary else {
            return match operation {
                Operation::Delete => Ok(Output {
                    stack_name: stack.to_string(),
                    stack_id: stack.to_string(),
                    status: "DELETE_COMPLETE".into(),
                    outputs: BTreeMap::new(),
                }),
                Operation::Deploy => Err(TaskError::StackOperationFailed(format!(
                    "stack {stack} disappeared while it was being deployed"
                ))),
            };
        };
        if is_settled(&summary.status) {
            let end = match operation {
                Operation::Deploy => deploy_outcome(&summary.status),
                Operation::Delete => delete_outcome(&summary.status),
            };
            if end == OperationEnd::Failed {
                return Err(failure(deps, stack, &summary, rollback_alarms).await);
            }
            tracing::info!(stack, status = %summary.status, "stack settled");
            return Ok(Output {
                stack_name: stack.to_string(),
                stack_id: summary.stack_id,
                status: summary.status,
                outputs: summary.outputs,
            });
        }
        if started.elapsed() + deps.polling.interval > budget {
            return Err(TaskError::StackStillInProgress {
                stack: stack.to_string(),
                status: summary.status,
            });
        }
        tokio::time::sleep(deps.polling.interval).await;
    }
}

/// Builds the failure message from the root-cause event (falling back to the stack's own reason);
/// a rollback one of the deployment's alarms caused says so.
async fn failure(
    deps: &Deps,
    stack: &str,
    summary: &cloudformation::StackSummary,
    rollback_alarms: &[String],
) -> TaskError {
    let events = cloudformation::recent_events(&deps.cloudformation, &summary.stack_id).await;
    let stack_name = stack
        .rsplit('/')
        .nth(1)
        .filter(|_| stack.starts_with("arn:"))
        .unwrap_or(stack);
    if let Ok(events) = &events {
        if let Some(alarm) = root_cause::alarm_that_rolled_back(events, stack_name, rollback_alarms)
        {
            return TaskError::RolledBackByAlarm {
                stack: stack_name.to_string(),
                status: summary.status.clone(),
                alarm: alarm.to_string(),
            };
        }
    }
    let cause = match events {
        Ok(events) => root_cause::find(&events, stack_name).map(|c| c.to_string()),
        Err(error) => Some(format!("(stack events unavailable: {error})")),
    };
    let cause = cause
        .or_else(|| summary.status_reason.clone())
        .unwrap_or_else(|| "no failure reason was recorded".into());
    TaskError::StackOperationFailed(format!(
        "stack {stack_name} ended in {}; root cause: {cause}",
        summary.status
    ))
}
