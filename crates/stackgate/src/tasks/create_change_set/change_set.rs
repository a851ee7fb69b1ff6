//! Creating the change set and waiting until CloudFormation has computed it.

use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::ChangeSetType;

use super::{change_set_name, means_no_changes, template_source, Deps, Output, Readiness, Target};
use crate::aws::cloudformation;
use crate::guardrails::with_managed_tags;
use crate::request::Deployment;
use crate::TaskError;

pub async fn create_and_wait(
    deps: &Deps,
    deployment: &Deployment,
    change_set_type: &str,
    execution_name: &str,
    target: Target,
    budget: Duration,
) -> Result<Output, TaskError> {
    let started = Instant::now();
    let (stack_name, change_set_type, outcome) = match target {
        Target::BlueGreen => (
            deployment.blue_green_stack_name.as_str(),
            ChangeSetType::Create,
            "BLUE_GREEN",
        ),
        Target::Primary => match change_set_type {
            "CREATE" => (
                deployment.stack_name.as_str(),
                ChangeSetType::Create,
                "CREATED",
            ),
            "UPDATE" => (
                deployment.stack_name.as_str(),
                ChangeSetType::Update,
                "UPDATED",
            ),
            _ => {
                return Err(TaskError::invalid(
                    "changeSetType",
                    "must be CREATE or UPDATE",
                ))
            }
        },
    };
    let name = change_set_name(execution_name, target);
    let staged_key = format!("templates/{stack_name}/{name}.template");
    let template = template_source::locate(deps, &deployment.source, &staged_key).await?;
    if !deployment.parameters.is_empty() {
        // Secret parameters only by reference: CloudFormation says which ones the template
        // declares NoEcho.
        let declared = cloudformation::declared_parameters(
            &deps.cloudformation,
            template.body.as_deref(),
            template.url.as_deref(),
        )
        .await?;
        crate::request::check_secret_parameters(deployment, &declared)?;
    }
    let rollback = rollback(deps, deployment)?;
    let rollback_alarms = rollback.alarm_arns(deps.alarm_arn_prefix.as_deref())?;
    let description = format!("stackgate execution {execution_name}");
    let tags = with_managed_tags(&deployment.tags, &deployment.environment_name);
    cloudformation::create_change_set(
        &deps.cloudformation,
        &cloudformation::ChangeSetRequest {
            stack_name,
            change_set_name: &name,
            change_set_type,
            template_body: template.body.as_deref(),
            template_url: template.url.as_deref(),
            parameters: &deployment.parameters,
            tags: &tags,
            capabilities: &deployment.capabilities,
            role_arn: deps.cloudformation_role_arn.as_deref(),
            client_token: &name,
            description: &description,
            rollback_alarms: &rollback_alarms,
            monitoring_minutes: rollback.monitoring_minutes,
        },
    )
    .await?;
    tracing::info!(stack = %stack_name, change_set = %name, "change set requested");
    let (status, readiness) = wait_until_computed(deps, stack_name, &name, started, budget).await?;
    Ok(Output {
        stack_name: stack_name.to_string(),
        change_set_name: name,
        change_set_id: status.change_set_id,
        stack_id: status.stack_id,
        status: readiness,
        outcome,
        rollback_alarms,
    })
}

/// The operator's alarms for the environment, and the request's.
fn rollback(deps: &Deps, deployment: &Deployment) -> Result<crate::request::Rollback, TaskError> {
    deployment.rollback.with_floor(
        deps.rollback_floors
            .get(deployment.environment_name.as_str()),
    )
}

/// The change set a plan made and judged (`name`), taken as it is to be judged again and executed;
/// never a new one. It must still be there and executable: CloudFormation deletes a stack's other
/// change sets when one is executed and marks them obsolete when the stack changes otherwise, and
/// an expired plan's is deleted.
pub async fn adopt(
    deps: &Deps,
    deployment: &Deployment,
    change_set_type: &str,
    name: &str,
    plan: &str,
) -> Result<Output, TaskError> {
    let stack_name = deployment.stack_name.as_str();
    let obsolete = |reason: String| TaskError::PlanObsolete {
        plan: plan.to_string(),
        stack: stack_name.to_string(),
        reason,
    };
    let status = cloudformation::change_set(&deps.cloudformation, stack_name, name)
        .await?
        .ok_or_else(|| {
                obsolete(format!(
                    "its change set {name} no longer exists: the stack changed since the plan, or the plan expired"
                ))
            })?;
    if status.status != "CREATE_COMPLETE" || !status.executable {
        return Err(obsolete(format!(
            "its change set {name} can no longer be executed ({}): the stack changed since the plan",
            status.status
        )));
    }
    let rollback_alarms =
        rollback(deps, deployment)?.alarm_arns(deps.alarm_arn_prefix.as_deref())?;
    tracing::info!(stack = %stack_name, change_set = %name, plan, "planned change set adopted");
    Ok(Output {
        stack_name: stack_name.to_string(),
        change_set_name: name.to_string(),
        change_set_id: status.change_set_id,
        stack_id: status.stack_id,
        status: Readiness::Ready,
        outcome: if change_set_type == "CREATE" {
            "CREATED"
        } else {
            "UPDATED"
        },
        rollback_alarms,
    })
}

/// Polls until the change set is computed (ready, or empty), within the invocation's budget; a
/// failed change set is deleted and its reason reported.
async fn wait_until_computed(
    deps: &Deps,
    stack_name: &str,
    name: &str,
    started: Instant,
    budget: Duration,
) -> Result<(cloudformation::ChangeSetStatus, Readiness), TaskError> {
    loop {
        let status = cloudformation::change_set(&deps.cloudformation, stack_name, name)
            .await?
            .ok_or_else(|| TaskError::ChangeSetFailed {
                change_set: name.to_string(),
                reason: "the change set no longer exists (deleted while it was computed)"
                    .to_string(),
            })?;
        let readiness = match status.status.as_str() {
            "CREATE_COMPLETE" => Some(Readiness::Ready),
            "FAILED" if status.reason.as_deref().is_some_and(means_no_changes) => {
                Some(Readiness::NoChanges)
            }
            "FAILED" => {
                // Not left on the stack: the failure is reported, the change set is gone.
                cloudformation::delete_change_set(&deps.cloudformation, stack_name, name).await?;
                return Err(TaskError::ChangeSetFailed {
                    change_set: name.to_string(),
                    reason: status
                        .reason
                        .as_deref()
                        .map_or_else(|| "no reason given".to_string(), crate::error::without_urls),
                });
            }
            "DELETE_FAILED" | "DELETE_COMPLETE" | "DELETE_IN_PROGRESS" => {
                return Err(TaskError::ChangeSetFailed {
                    change_set: name.to_string(),
                    reason: status.reason.as_deref().map_or_else(
                        || format!("change set is {}", status.status),
                        crate::error::without_urls,
                    ),
                })
            }
            _ => None,
        };
        if let Some(readiness) = readiness {
            tracing::info!(stack = %stack_name, change_set = %name, ?readiness, "change set settled");
            return Ok((status, readiness));
        }
        if started.elapsed() + deps.polling.interval > budget {
            return Err(TaskError::ChangeSetPending(name.to_string()));
        }
        tokio::time::sleep(deps.polling.interval).await;
    }
}
