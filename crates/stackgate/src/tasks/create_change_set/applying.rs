//! Applying a plan (`POST /stacks {"planId"}`): which execution may, and what a failed apply
//! leaves (nothing: the plan's change set is deleted).

use serde_json::Value;

use super::{change_set_name, check_stack, Deps, Input, Target};
use crate::aws::cloudformation;
use crate::TaskError;

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
