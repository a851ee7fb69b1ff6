//! `stack-operation`: the CloudFormation calls the workflows make on a stack they planned (execute
//! a change set, delete one, delete a stack whose first create failed) in the stack's account and
//! Region (`crate::aws::reach`). Step Functions' own SDK integrations reach only the state
//! machine's Region. Every operation is idempotent: a retry after a lost answer finds it done.
//!
//! It acts only for a running safe-deploy or release execution that scheduled this very task
//! (its history, read with the execution's id it passes): whoever else may invoke the function
//! cannot use it around the workflows' verdicts and approvals, nor to reach the target accounts.

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{parse_input, to_output};
use crate::aws::reach::Reach;
use crate::aws::{cloudformation, sfn};
use crate::destination::Destination;
use crate::TaskError;

/// What the operations need, read once per process.
#[derive(Debug, Clone)]
pub struct Deps {
    pub reach: Reach,
    /// Reads the histories of the executions it acts for.
    pub sfn: aws_sdk_sfn::Client,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        let config = crate::aws::sdk::sdk_config();
        Ok(Deps {
            reach: Reach::from_env(&config, "stack-operation"),
            sfn: aws_sdk_sfn::Client::new(&config),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    ExecuteChangeSet,
    DeleteChangeSet,
    DeleteStack,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    operation: Operation,
    /// `$$.Execution.Id` of the execution it acts for.
    execution_arn: String,
    /// The stack's name or id.
    stack_name: String,
    /// The change set's name (both change-set operations).
    #[serde(default)]
    change_set_name: Option<String>,
    /// Makes a retried ExecuteChangeSet or DeleteStack the same operation.
    #[serde(default)]
    client_request_token: Option<String>,
    /// Where the stack lives; stackgate's own account and Region when absent.
    #[serde(default)]
    destination: Destination,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub operation: Operation,
    /// The operation had already been done (a retry, or a change set already gone).
    pub already_done: bool,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let payload = event.payload;
    let input: Input = parse_input(payload.clone())?;
    let Destination { account, region } = input.destination.clone();
    let destination = Destination::new(account, region)?;
    let stack = non_empty("stackName", Some(&input.stack_name))?;
    let change_set = || non_empty("changeSetName", input.change_set_name.as_ref());
    let token = || non_empty("clientRequestToken", input.client_request_token.as_ref());
    if !(input.execution_arn.starts_with("arn:") && input.execution_arn.contains(":execution:")) {
        return Err(TaskError::invalid(
            "executionArn",
            "must be an execution ARN",
        ));
    }
    if let Operation::ExecuteChangeSet | Operation::DeleteChangeSet = input.operation {
        change_set()?;
    }
    if let Operation::ExecuteChangeSet | Operation::DeleteStack = input.operation {
        token()?;
    }
    // Checked before any call: a malformed request reaches no account, and none reaches one
    // that no running execution of stackgate's asked for, with these very arguments.
    if !sfn::scheduled(&deps.sfn, &input.execution_arn, &payload).await? {
        return Err(TaskError::invalid(
            "executionArn",
            "names no running stackgate execution that asked for this operation",
        ));
    }
    let already_done = match input.operation {
        Operation::ExecuteChangeSet => {
            let (change_set, token) = (change_set()?, token()?);
            let client = deps.reach.cloudformation(&destination).await?;
            cloudformation::execute_change_set(&client, stack, change_set, token).await?
        }
        Operation::DeleteChangeSet => {
            let change_set = change_set()?;
            let client = deps.reach.cloudformation(&destination).await?;
            !cloudformation::delete_change_set(&client, stack, change_set).await?
        }
        Operation::DeleteStack => {
            let token = token()?;
            let client = deps.reach.cloudformation(&destination).await?;
            cloudformation::delete_stack(&client, stack, token).await?;
            false
        }
    };
    to_output(&Output {
        operation: input.operation,
        already_done,
    })
}

fn non_empty<'a>(field: &str, value: Option<&'a String>) -> Result<&'a str, TaskError> {
    match value.map(|v| v.trim()) {
        Some(v) if !v.is_empty() && v.len() <= 2048 => Ok(v),
        _ => Err(TaskError::invalid(field, "is required: a name or ARN")),
    }
}
