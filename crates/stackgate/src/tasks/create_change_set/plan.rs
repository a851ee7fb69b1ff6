//! The plan itself: authorize the request, take the stack, read it, make (or adopt) the change
//! set and judge it; what it cannot use is deleted, not left behind.

use serde_json::Value;

use super::applying::{
    applies_own_plan, approved_as_judged, discard_unapplied_plan, release_approval,
};
use super::{
    change_set, change_set_name, check_stack, drift_check, inspect_change_set, Deps, Input, Output,
    Plan, PlanStatus, Readiness, Target, PLAN_KEY,
};
use crate::aws::cloudformation;
use crate::drift;
use crate::guard::OnFailure;
use crate::lifecycle::StackAction;
use crate::policy::{disposition, Disposition};
use crate::TaskError;

pub(super) async fn plan(
    deps: &Deps,
    input: &Input,
    budget: std::time::Duration,
) -> Result<Plan, TaskError> {
    let mut request = input.request.clone();
    if let Value::Object(object) = &mut request {
        object.remove(PLAN_KEY);
    }
    let result = plan_request(deps, input, &request, budget).await;
    if let Err(error) = &result {
        discard_unapplied_plan(deps, input, &request, error).await;
    }
    result
}

async fn plan_request(
    deps: &Deps,
    input: &Input,
    request: &Value,
    budget: std::time::Duration,
) -> Result<Plan, TaskError> {
    let deployment = check_stack::authorized(deps, request, &input.execution_name)?;
    if deployment.apply_plan.is_some() && !applies_own_plan(&deployment, &input.execution_name) {
        return Err(TaskError::invalid(
            "applyPlan",
            "a plan is applied only by the execution the stacks API starts for it (POST /stacks with planId)",
        ));
    }
    // Read first: a plan that names an approval it does not have never takes the stack.
    let approved = release_approval(deps, &deployment).await?;
    // One execution per stack, taken before the stack is read: a deployment queued behind another
    // must not see that one's operation in progress as a busy stack.
    let destination = &deployment.destination;
    deps.leases
        .take(
            &destination.lease_key(deployment.stack_name.as_str()),
            &input.execution_arn,
        )
        .await?;
    if input.target == Target::BlueGreen {
        // The new stack's name is one another request may deploy to directly: it is held too.
        deps.leases
            .take(
                &destination.lease_key(deployment.blue_green_stack_name.as_str()),
                &input.execution_arn,
            )
            .await?;
    }
    let mut check = check_stack::read(deps, deployment).await?;
    if !check.deployment.allow_data_loss.is_empty() && !deps.stateful.intent.request {
        return Err(TaskError::invalid(
            "allowDataLoss",
            "is not accepted here: the operator does not let a request accept a data loss (DataLossIntent)",
        ));
    }
    // Applying a plan: its change set, never a new one (a blue/green stack is always new).
    let plan = match input.target {
        Target::Primary => check.deployment.apply_plan.clone(),
        Target::BlueGreen => None,
    };
    let name = match &plan {
        Some(plan) => change_set_name(plan, Target::Primary),
        None => change_set_name(&input.execution_name, input.target),
    };
    if input.target == Target::BlueGreen {
        blue_green_stack_is_new(deps, &check.deployment.blue_green_stack_name, &name).await?;
    }
    if input.target == Target::Primary && check.stack.action == StackAction::Recreate {
        // A CREATE change set of this execution leaves the new stack in REVIEW_IN_PROGRESS: on a
        // retried task that stack is ours, not a failed one to delete.
        let ours = cloudformation::change_set(&deps.cloudformation, &check.stack.stack_name, &name)
            .await?
            .is_some();
        if let (false, Some(plan)) = (ours, &plan) {
            return Err(TaskError::PlanObsolete {
                plan: plan.clone(),
                stack: check.stack.stack_name,
                reason:
                    "the stack is no longer the one planned for (its first create failed since)"
                        .to_string(),
            });
        }
        if !ours {
            // Only a stack stackgate made is deleted to be made again.
            if !check.stack.managed {
                return Err(TaskError::StackNotManaged {
                    stack: check.stack.stack_name,
                });
            }
            return Ok(Plan {
                status: PlanStatus::StackUnusable,
                check,
                change_set: None,
                inspection: None,
                release_approval: None,
            });
        }
        check.stack.change_set_type = "CREATE";
    }
    let started = std::time::Instant::now();
    let drift = drift_check::before_update(deps, &check, input.target, budget, &name).await?;
    let change_set = match &plan {
        Some(plan) => {
            change_set::adopt(
                deps,
                &check.deployment,
                check.stack.change_set_type,
                &name,
                plan,
            )
            .await?
        }
        None => {
            change_set::create_and_wait(
                deps,
                &check.deployment,
                check.stack.change_set_type,
                &input.execution_name,
                input.target,
                budget.saturating_sub(started.elapsed()),
            )
            .await?
        }
    };
    if change_set.status == Readiness::NoChanges {
        discard(deps, &change_set).await?;
        return Ok(Plan {
            status: PlanStatus::NoChanges,
            check,
            change_set: Some(change_set),
            inspection: None,
            release_approval: None,
        });
    }
    let inspection = judge(deps, &check, &change_set, input.target, drift).await?;
    Ok(Plan {
        status: PlanStatus::Ready,
        release_approval: approved_as_judged(approved, input.target, &inspection),
        check,
        change_set: Some(change_set),
        inspection: Some(inspection),
    })
}

/// The blue/green stack is always a new one: never another stack of that name (say, another
/// deployment's first create under review), unless it is this execution's own (a retry).
async fn blue_green_stack_is_new(deps: &Deps, stack: &str, name: &str) -> Result<(), TaskError> {
    if cloudformation::describe_stack(&deps.cloudformation, stack)
        .await?
        .is_some()
        && cloudformation::change_set(&deps.cloudformation, stack, name)
            .await?
            .is_none()
    {
        return Err(TaskError::invalid(
            "blueGreenSuffix",
            "names a stack that exists already; the blue/green stack is always a new one",
        ));
    }
    Ok(())
}

async fn discard(deps: &Deps, change_set: &Output) -> Result<(), TaskError> {
    cloudformation::delete_change_set(
        &deps.cloudformation,
        &change_set.stack_name,
        &change_set.change_set_name,
    )
    .await
    .map(drop)
}

/// Judges every change; a change set the request says to refuse is deleted and the task fails.
async fn judge(
    deps: &Deps,
    check: &check_stack::Output,
    change_set: &Output,
    target: Target,
    drift: Option<drift::Report>,
) -> Result<inspect_change_set::Output, TaskError> {
    let inspection = match inspect_change_set::inspect(
        deps,
        &change_set.stack_name,
        &change_set.change_set_name,
        change_set.outcome == "UPDATED",
        &check.deployment,
    )
    .await
    {
        Ok(inspection) => match drift {
            Some(drift) => inspection.with_drift(drift),
            None => inspection,
        },
        Err(error) => {
            // Not left behind unjudged; the inspection error is what the workflow reports.
            let _ = discard(deps, change_set).await;
            return Err(error);
        }
    };
    if !inspection.guard_failures.is_empty() && deps.guard.on_failure == OnFailure::Refuse {
        discard(deps, change_set).await?;
        tracing::warn!(stack = %change_set.stack_name, change_set = %change_set.change_set_name, failed = inspection.guard_failures.len(), "change set failing Guard rules refused and deleted");
        return Err(TaskError::GuardRuleFailed {
            stack: change_set.stack_name.clone(),
            change_set: change_set.change_set_name.clone(),
            failed: inspection.guard_failures.len(),
            summary: inspection.guard_failures.join("\n"),
        });
    }
    let blue_green = target == Target::BlueGreen;
    let security_sensitive = inspection.security_sensitive_changes > 0;
    if disposition(
        inspection.verdict,
        check.deployment.on_unsafe,
        blue_green,
        security_sensitive,
    ) == Disposition::Refuse
    {
        discard(deps, change_set).await?;
        tracing::warn!(stack = %change_set.stack_name, change_set = %change_set.change_set_name, unsafe_changes = inspection.unsafe_changes, "unsafe change set refused and deleted");
        return Err(TaskError::UnsafeChangeSet {
            stack: change_set.stack_name.clone(),
            change_set: change_set.change_set_name.clone(),
            unsafe_changes: inspection.unsafe_changes,
            total_changes: inspection.total_changes,
            summary: inspection.summary,
        });
    }
    Ok(inspection)
}
