//! The check, the first step of create-change-set's plan: validates the deployment request and
//! decides create / update / recreate. Also a handler of its own (the benchmark's check-stack).

use std::collections::BTreeMap;

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Deps;
use crate::aws::cloudformation;
use crate::guardrails::is_managed;
use crate::lifecycle::{decide, Blocked, StackAction, StackState};
use crate::request::{parse_deployment, Deployment};
use crate::tasks::{parse_input, to_output};
use crate::TaskError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    /// The workflow's raw input.
    request: Value,
    /// `$$.Execution.Name`: seeds names that must be stable across retries.
    execution_name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub deployment: Deployment,
    pub stack: StackFacts,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackFacts {
    pub stack_name: String,
    /// The stack's lease (`Destination::lease_key`), which the workflow keeps and gives back.
    pub lease_key: String,
    pub action: StackAction,
    /// CREATE or UPDATE: the change set type once any recreate delete has happened.
    pub change_set_type: &'static str,
    pub stack_id: Option<String>,
    pub status: Option<String>,
    pub outputs: BTreeMap<String, String>,
    /// The stack carries stackgate's tags for its environment (false when there is no stack).
    pub managed: bool,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let input: Input = parse_input(event.payload)?;
    let output = check(deps, &input.request, &input.execution_name).await?;
    to_output(&output)
}

/// Validates the request against the input contract and the operator's guardrails, then reads the
/// stack. A stack stackgate did not make is refused, except an empty one under review, which the
/// plan decides on (it may be this execution's own first change set).
pub async fn check(
    deps: &Deps,
    request: &Value,
    execution_name: &str,
) -> Result<Output, TaskError> {
    read(deps, authorized(deps, request, execution_name)?).await
}

/// The request, valid and within the operator's guardrails; nothing is read yet.
pub fn authorized(
    deps: &Deps,
    request: &Value,
    execution_name: &str,
) -> Result<Deployment, TaskError> {
    let deployment = parse_deployment(request, execution_name)?;
    deps.guardrails.authorize(&deployment)?;
    Ok(deployment)
}

/// Reads the stack an authorized deployment is about and decides create / update / recreate.
pub async fn read(deps: &Deps, deployment: Deployment) -> Result<Output, TaskError> {
    let name = deployment.stack_name.to_string();
    let summary = cloudformation::describe_stack(&deps.cloudformation, &name).await?;
    let managed = summary
        .as_ref()
        .is_some_and(|s| is_managed(&s.tags, &deployment.environment_name));
    if summary
        .as_ref()
        .is_some_and(|s| !managed && s.status != "REVIEW_IN_PROGRESS")
    {
        return Err(TaskError::StackNotManaged { stack: name });
    }
    let has_resources = match &summary {
        Some(s) if s.status == "REVIEW_IN_PROGRESS" => {
            cloudformation::has_resources(&deps.cloudformation, &name).await?
        }
        _ => false,
    };
    let state = summary.as_ref().map(|s| StackState {
        status: &s.status,
        has_resources,
    });
    let status = summary.as_ref().map(|s| s.status.clone());
    let action = decide(state.as_ref()).map_err(|blocked| {
        let status = status.clone().unwrap_or_default();
        match blocked {
            Blocked::Busy => TaskError::StackBusy {
                stack: name.clone(),
                status,
            },
            Blocked::NeedsAttention(hint) => TaskError::StackNeedsAttention {
                stack: name.clone(),
                status,
                hint: hint.to_string(),
            },
        }
    })?;
    tracing::info!(stack = %name, ?action, status = status.as_deref().unwrap_or("MISSING"), "stack checked");
    Ok(Output {
        stack: StackFacts {
            lease_key: deployment.destination.lease_key(&name),
            stack_name: name,
            action,
            change_set_type: match action {
                StackAction::Update => "UPDATE",
                StackAction::Create | StackAction::Recreate => "CREATE",
            },
            stack_id: summary.as_ref().map(|s| s.stack_id.clone()),
            status,
            outputs: summary.map(|s| s.outputs).unwrap_or_default(),
            managed,
        },
        deployment,
    })
}
