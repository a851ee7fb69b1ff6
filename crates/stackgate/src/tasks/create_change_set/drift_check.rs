//! Drift before an update, a step of create-change-set's plan: detect, wait within a bound, list,
//! and let `onDrift` decide. A refusal happens here, before any change set is made.

use std::time::{Duration, Instant};

use super::{check_stack, Deps, Target};
use crate::aws::cloudformation::{self, DetectionState};
use crate::drift::{self, Detection, DriftedResource};
use crate::TaskError;

/// Longest the plan waits for drift detection (CloudFormation usually takes seconds).
const BOUND: Duration = Duration::from_secs(120);

/// An update of the stack in place first detects its drift; `onDrift` then decides. Creates and
/// blue/green stacks have no drift. With drift detection off, a request that names `onDrift` is
/// refused rather than silently not checked.
pub async fn before_update(
    deps: &Deps,
    check: &check_stack::Output,
    target: Target,
    budget: Duration,
    change_set_name: &str,
) -> Result<Option<drift::Report>, TaskError> {
    if !deps.detect_drift {
        return match check.deployment.on_drift {
            Some(_) => Err(TaskError::invalid(
                "onDrift",
                "drift detection is off in this installation (the operator enables it with DriftDetectionPolicyArn)",
            )),
            None => Ok(None),
        };
    }
    let stack_id = match (&check.stack.stack_id, check.stack.change_set_type, target) {
        (Some(id), "UPDATE", Target::Primary) => id,
        _ => return Ok(None),
    };
    let (detection, drifted) = detect(deps, stack_id, BOUND.min(budget / 2)).await?;
    let report = drift::Report::new(
        &check.stack.stack_name,
        detection,
        drifted,
        check.deployment.on_drift,
        &deps.stateful,
    );
    tracing::info!(stack = %check.stack.stack_name, detection = ?report.detection, drifted = report.total_drifted, decision = ?report.decision, "drift detected before the update");
    if report.decision == drift::Decision::Refuse {
        // A retried plan (its first attempt ran out of time waiting) leaves no change set behind.
        let stack = &check.stack.stack_name;
        if cloudformation::change_set(&deps.cloudformation, stack, change_set_name)
            .await?
            .is_some()
        {
            cloudformation::delete_change_set(&deps.cloudformation, stack, change_set_name).await?;
        }
        return Err(TaskError::StackDrifted {
            stack: check.stack.stack_name.clone(),
            drifted: report.total_drifted,
            summary: report.lines(),
        });
    }
    Ok(Some(report))
}

/// Detects and waits at most `bound`. A detection that fails (some resources could not be
/// checked) or does not settle in time is `Unknown`, with what was found.
async fn detect(
    deps: &Deps,
    stack_id: &str,
    bound: Duration,
) -> Result<(Detection, Vec<DriftedResource>), TaskError> {
    let started = Instant::now();
    let client = &deps.cloudformation;
    let id = cloudformation::start_drift_detection(client, stack_id).await?;
    loop {
        match cloudformation::drift_detection_status(client, &id).await? {
            DetectionState::Complete => {
                let (drifted, complete) =
                    cloudformation::drifted_resources(client, stack_id).await?;
                let detection = if !complete {
                    Detection::Unknown
                } else if drifted.is_empty() {
                    Detection::InSync
                } else {
                    Detection::Drifted
                };
                return Ok((detection, drifted));
            }
            DetectionState::Failed => {
                tracing::warn!(
                    stack = stack_id,
                    "drift detection could not check every resource"
                );
                let (drifted, _) = cloudformation::drifted_resources(client, stack_id).await?;
                return Ok((Detection::Unknown, drifted));
            }
            DetectionState::InProgress => {}
        }
        if started.elapsed() + deps.polling.interval > bound {
            tracing::warn!(stack = stack_id, "drift detection did not finish in time");
            return Ok((Detection::Unknown, Vec::new()));
        }
        tokio::time::sleep(deps.polling.interval).await;
    }
}
