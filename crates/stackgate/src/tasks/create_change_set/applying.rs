//! Applying a plan (`POST /stacks {"planId"}`): which execution may, and what a failed apply
//! leaves (nothing: the plan's change set is deleted).

use serde::Serialize;
use serde_json::Value;

use super::{change_set_name, check_stack, Deps, Input, Target};
use crate::approval::PlannedStack;
use crate::aws::{cloudformation, dynamodb, sfn};
use crate::TaskError;

/// The approval a release's plan executes on: who said yes to the whole release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseApproval {
    pub approval_id: String,
    pub approved_by: String,
}

/// The release's approval a request names (`releaseApproval`), read from the approvals table: it
/// must be a release's, approved by a person, list the very plan this execution applies, and its
/// release must still be running (a stopped or ended release's yes executes nothing more). Anything
/// else refuses the request before the stack is taken. Returns the plan as people saw it, for
/// `approved_as_judged` once the apply has judged it again.
pub(super) async fn release_approval(
    deps: &Deps,
    deployment: &crate::request::Deployment,
) -> Result<Option<(ReleaseApproval, PlannedStack)>, TaskError> {
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
    let planned = crate::approval::release_approves(&stored, plan).map_err(refused)?;
    let release = stored
        .execution_arn
        .as_deref()
        .filter(|arn| crate::approval::is_execution_arn(arn))
        .ok_or_else(|| refused("names an approval no release waited for"))?;
    let running = sfn::describe_if_exists(&approvals.sfn, release)
        .await?
        .is_some_and(|release| release.status == "RUNNING");
    if !running {
        return Err(refused("belongs to a release that no longer runs"));
    }
    tracing::info!(
        plan,
        approval_id = id,
        "a release's plan, approved with its release"
    );
    Ok(Some((
        ReleaseApproval {
            approval_id: id.to_string(),
            approved_by: stored.decided_by.clone().unwrap_or_default(),
        },
        planned.clone(),
    )))
}

/// The release's approval, if the apply's own judgement of the primary stack's change set is the
/// one people approved; otherwise none, and the workflow asks a person as for any apply.
pub(super) fn approved_as_judged(
    approved: Option<(ReleaseApproval, PlannedStack)>,
    target: Target,
    inspection: &super::inspect_change_set::Output,
) -> Option<ReleaseApproval> {
    let (approval, planned) = approved?;
    let verdict = serde_json::to_value(inspection.verdict).ok()?;
    let alike = target == Target::Primary
        && planned.judged_alike(
            verdict.as_str()?,
            inspection.unsafe_changes as u64,
            inspection.total_changes as u64,
            &inspection.summary,
        );
    if !alike {
        tracing::warn!(plan = %planned.plan, "the apply judged the plan otherwise than its release's approval showed: a person decides again");
        return None;
    }
    Some(approval)
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
