//! `wait-stack`: registers a deployment's wait on a stack operation's end, then reads the stack once.
//! The state machine calls it as a `.waitForTaskToken` task: the task is answered here if the
//! operation has already ended, or else by `stack-status` when CloudFormation's event arrives. A
//! lost event is reconciled by the task's timeout: its retry registers again and reads again.
//! No Lambda runs while CloudFormation works.

use std::collections::BTreeMap;

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{parse_input, to_output};
use crate::approval::now;
use crate::aws::reach::Reach;
use crate::aws::sfn::TaskAnswer;
use crate::aws::{cloudformation, dynamodb, sfn};
use crate::config::required_env;
use crate::destination::Destination;
use crate::guardrails::ENVIRONMENT_TAG;
use crate::lifecycle::{delete_outcome, deploy_outcome, is_settled, OperationEnd};
use crate::metrics::{self, names, Metric};
use crate::root_cause;
use crate::stack_events::{Operation, StackWait, WAIT_RETENTION_SECONDS};
use crate::TaskError;

/// What the wait needs, read once per process (`stack-status` needs the same).
#[derive(Debug, Clone)]
pub struct Deps {
    /// CloudFormation where each stack lives (stackgate's own at home).
    pub reach: Reach,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sfn: aws_sdk_sfn::Client,
    /// `STACK_WAITS_TABLE`
    pub table: String,
    /// `MANAGED_ENVIRONMENTS`: the only environment names a metric may carry.
    pub environments: Vec<String>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        let config = crate::aws::sdk::sdk_config();
        Ok(Deps {
            reach: Reach::from_env(&config, "wait-stack"),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sfn: aws_sdk_sfn::Client::new(&config),
            table: required_env("STACK_WAITS_TABLE")?,
            environments: crate::config::env_list("MANAGED_ENVIRONMENTS"),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    /// The stack's id: the event names it so, and a deleted stack is only visible by id.
    stack_id: String,
    operation: Operation,
    /// The `ClientRequestToken` the operation was started with.
    client_request_token: String,
    /// `$$.Task.Token`
    task_token: String,
    #[serde(default)]
    rollback_alarms: Vec<String>,
    /// Where the stack lives (the deployment's); stackgate's own account and Region when absent.
    #[serde(default)]
    destination: Destination,
}

/// What the waiting task is answered on success.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub stack_name: String,
    pub stack_id: String,
    pub status: String,
    pub outputs: BTreeMap<String, String>,
    /// `event` or `check` (the registration's own read): what saw the end first.
    pub reported_by: &'static str,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let input: Input = parse_input(event.payload)?;
    if !is_stack_arn(&input.stack_id) {
        return Err(TaskError::invalid("stackId", "not a stack ARN"));
    }
    for (field, value) in [
        ("clientRequestToken", &input.client_request_token),
        ("taskToken", &input.task_token),
    ] {
        if value.is_empty() {
            return Err(TaskError::invalid(field, "must not be empty"));
        }
    }
    let Destination { account, region } = input.destination;
    let wait = StackWait {
        destination: Destination::new(account, region)?,
        stack_id: input.stack_id,
        request_token: input.client_request_token,
        task_token: input.task_token,
        operation: input.operation,
        rollback_alarms: input.rollback_alarms,
        expires_at: now() + WAIT_RETENTION_SECONDS,
    };
    if !wait
        .destination
        .holds(&wait.stack_id, &deps.reach.home_region())
    {
        return Err(TaskError::invalid(
            "destination",
            "does not name the account and Region of the stack's ARN",
        ));
    }
    // Stored before the read: an end the read misses is then one the event finds a wait for.
    dynamodb::put_wait(&deps.dynamodb, &deps.table, &wait).await?;
    let answered = answer_if_ended(deps, &wait, "check").await?;
    to_output(&json!({"stackId": wait.stack_id, "answered": answered}))
}

fn is_stack_arn(text: &str) -> bool {
    text.starts_with("arn:") && text.contains(":stack/")
}

/// Reads the stack once; if the operation has ended, answers the waiting task (success with the
/// stack's outputs, or the failure with its root cause) and removes the wait. Answering twice (the
/// event and the read both saw the end) is harmless: the second finds the task gone.
pub async fn answer_if_ended(
    deps: &Deps,
    wait: &StackWait,
    reported_by: &'static str,
) -> Result<bool, TaskError> {
    let Some((end, about)) = end_of(deps, wait, reported_by).await? else {
        return Ok(false);
    };
    let answer = match &end {
        Ok(output) => TaskAnswer::Success {
            output: serde_json::to_string(output).map_err(|e| TaskError::Aws {
                operation: "SendTaskSuccess".into(),
                message: e.to_string(),
            })?,
        },
        Err(error) => TaskAnswer::Failure {
            error: error.error_type().to_string(),
            cause: error.to_string(),
        },
    };
    let delivery = sfn::send_answer(&deps.sfn, &wait.task_token, &answer).await?;
    tracing::info!(stack = %wait.stack_id, reported_by, ?delivery, "stack operation ended");
    // Counted by whoever delivered the answer: the event and the read never both do.
    if delivery == sfn::Delivery::Delivered {
        publish(wait, &end, &about);
    }
    dynamodb::delete_wait(&deps.dynamodb, &deps.table, wait).await?;
    Ok(true)
}

/// The operation's end as operators see it: the deployment's outcome and how long it took.
/// What the metrics say about the stack beside its end: its environment (where stackgate's tag
/// names a managed one) and when the operation started (CloudFormation's LastUpdatedTime).
#[derive(Debug, Default)]
struct About {
    environment: Option<String>,
    started: Option<String>,
}

fn publish(wait: &StackWait, end: &Result<Output, TaskError>, about: &About) {
    let environment = about.environment.as_deref();
    let outcome = match (end, wait.operation) {
        (Err(_), _) => "FAILED",
        (Ok(_), Operation::Delete) => "DELETED",
        (Ok(output), Operation::Deploy) if output.status.starts_with("CREATE") => "CREATED",
        (Ok(_), Operation::Deploy) => "UPDATED",
    };
    metrics::emit(
        Metric::count(names::DEPLOYMENTS)
            .in_environment(environment)
            .with("Outcome", outcome),
    );
    // From the operation's start as CloudFormation recorded it; the wait's registration (renewed
    // at each retry of the task) only where the stack no longer says.
    let started = about
        .started
        .as_deref()
        .and_then(|t| {
            aws_smithy_types::DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime)
                .ok()
        })
        .and_then(|t| u64::try_from(t.secs()).ok())
        .unwrap_or_else(|| wait.expires_at.saturating_sub(WAIT_RETENTION_SECONDS));
    metrics::emit(
        Metric::seconds(
            names::STACK_OPERATION_SECONDS,
            now().saturating_sub(started) as f64,
        )
        .in_environment(environment)
        .with("Operation", wait.operation.as_str()),
    );
}

/// How the operation ended (and the stack's environment, from stackgate's tag), or `None` while it
/// runs.
async fn end_of(
    deps: &Deps,
    wait: &StackWait,
    reported_by: &'static str,
) -> Result<Option<(Result<Output, TaskError>, About)>, TaskError> {
    let stack = wait.stack_id.as_str();
    // A wait names its stack by ARN and says where it lives: both, or neither is read.
    if !wait.destination.holds(stack, &deps.reach.home_region()) {
        return Err(TaskError::invalid(
            "destination",
            "does not name the account and Region of the stack's ARN",
        ));
    }
    let cloudformation = deps.reach.cloudformation(&wait.destination).await?;
    let Some(summary) = cloudformation::describe_stack(&cloudformation, stack).await? else {
        let end = match wait.operation {
            Operation::Delete => Ok(Output {
                stack_name: stack_name(stack).to_string(),
                stack_id: stack.to_string(),
                status: "DELETE_COMPLETE".into(),
                outputs: BTreeMap::new(),
                reported_by,
            }),
            Operation::Deploy => Err(TaskError::StackOperationFailed(format!(
                "stack {stack} disappeared while it was being deployed"
            ))),
        };
        return Ok(Some((end, About::default())));
    };
    if !is_settled(&summary.status) {
        return Ok(None);
    }
    // The tag only where it names a managed environment that is the stack name's own prefix:
    // anyone allowed to tag stacks in the account could set it to any text.
    let environment = summary
        .tags
        .get(ENVIRONMENT_TAG)
        .filter(|env| {
            deps.environments.contains(env) && stack_name(stack).starts_with(&format!("{env}-"))
        })
        .cloned();
    let about = About {
        environment,
        started: summary.last_updated.clone(),
    };
    let end = match wait.operation {
        Operation::Deploy => deploy_outcome(&summary.status),
        Operation::Delete => delete_outcome(&summary.status),
    };
    if end == OperationEnd::Failed {
        let failure = failure(&cloudformation, stack, &summary, &wait.rollback_alarms).await;
        return Ok(Some((Err(failure), about)));
    }
    let output = Output {
        stack_name: stack_name(stack).to_string(),
        stack_id: summary.stack_id,
        status: summary.status,
        outputs: summary.outputs,
        reported_by,
    };
    Ok(Some((Ok(output), about)))
}

/// The name inside a stack ARN (`…:stack/<name>/<uuid>`), or the text itself.
fn stack_name(stack: &str) -> &str {
    stack
        .rsplit('/')
        .nth(1)
        .filter(|_| stack.starts_with("arn:"))
        .unwrap_or(stack)
}

/// Builds the failure message from the root-cause event (falling back to the stack's own reason);
/// a rollback one of the deployment's alarms caused says so.
async fn failure(
    cloudformation: &aws_sdk_cloudformation::Client,
    stack: &str,
    summary: &cloudformation::StackSummary,
    rollback_alarms: &[String],
) -> TaskError {
    let events = cloudformation::recent_events(cloudformation, &summary.stack_id).await;
    let stack_name = stack_name(stack);
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
