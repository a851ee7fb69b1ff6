//! Applying a plan (`POST /stacks {"planId"}`): which execution may, and what a failed apply
//! leaves (nothing: the plan's change set is deleted).

use serde::Serialize;
use serde_json::Value;

use super::{change_set_name, check_stack, Deps, Input, Target};
use crate::aws::{cloudformation, dynamodb};
use crate::TaskError;

/// The approval a release's plan executes on: who said yes to the whole release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseApproval {
    pub approval_id: String,
    pub approved_by: String,
}

/// The release's approval a request names (`releaseApproval`), read from the approvals table: it
/// must be a release's, approved by a person, and list the very plan this execution applies.
/// Anything else refuses the request before the stack is taken.
pub(super) async fn release_approval(
    deps: &Deps,
    deployment: &crate::request::Deployment,
) -> Result<Option<ReleaseApproval>, TaskError> {
    let Some(id) = deployment.release_approval.as_deref() else {
        return Ok(None);
    };
    let refused = |why: &str| TaskError::invalid("releaseApproval", why.to_string());
    let approvals = deps
        .approvals
        .as_ref()
        .ok_or_else(|| refused("cannot be read here: the plan step has no APPROVALS_TABLE"))?;
    let plan = deployment.apply_plan.as_deref().unwrap_or_default();
    let stored = dynamodb::get_approval(&approvals.dynamodb, &approvals.table, id, false)
        .await?
        .map(|(stored, _)| stored)
        .ok_or_else(|| refused("names no approval"))?;
    crate::approval::release_approves(&stored, plan).map_err(refused)?;
    tracing::info!(
        plan,
        approval_id = id,
        "a release's plan, approved with its release"
    );
    Ok(Some(ReleaseApproval {
        approval_id: id.to_string(),
        approved_by: stored.decided_by.unwrap_or_default(),
    }))
}

/// Whether this execution may apply the plan it names: only the execution the stacks API starts
/// for that plan and the caller who made it (`api::plans::apply_execution_name`), never an input
/// that merely names a plan (a pipeline's input file, say).
pub(super) fn applies_own_plan(
    deployment: &crate::request::Deployment,
    execution_name: &str,
) -> bool {
    deployment.apply_plan.as_deref().is_some_and(|plan| {
        execution_name == crate::api::plans::apply_execution_name(plan, &deployment.requested_by)
    })
}

/// An apply that fails for good before its change set is executed consumes the plan: the plan's
/// execution was stopped when the apply started, so nothing else would delete its change set. Not
/// on what the workflow asks again (a queued stack, a pending change set, a transient error).
pub(super) async fn discard_unapplied_plan(
    deps: &Deps,
    input: &Input,
    request: &Value,
    error: &TaskError,
) {
    if input.target != Target::Primary
        || matches!(
            error,
            TaskError::StackQueued { .. }
                | TaskError::ChangeSetPending(_)
                | TaskError::AwsTransient { .. }
                | TaskError::PlanObsolete { .. }
        )
    {
        return;
    }
    let Ok(deployment) = check_stack::authorized(deps, request, &input.execution_name) else {
        return;
    };
    if !applies_own_plan(&deployment, &input.execution_name) {
        return;
    }
    let Some(plan) = deployment.apply_plan.as_deref() else {
        return;
    };
    let name = change_set_name(plan, Target::Primary);
    if cloudformation::delete_change_set(
        &deps.cloudformation,
        deployment.stack_name.as_str(),
        &name,
    )
    .await
    .is_ok()
    {
        tracing::warn!(stack = %deployment.stack_name, change_set = %name, plan, "the apply failed: the plan's change set was deleted");
    }
}
