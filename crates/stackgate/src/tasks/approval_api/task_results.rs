//! `POST /tasks/{id}/result`: an external job reports back through the signed link it was given.

use lambda_http::{Body, Request, Response};

use super::{done, forbidden, load, presented_link, refusal, refused, signed, Deps, Format};
use crate::activities;
use crate::approval::{self, LinkKind, Refusal, Status, StoredApproval};
use crate::aws::sfn::{Delivery, TaskAnswer};
use crate::aws::{dynamodb, sfn};
use crate::http::{self, header, Problem};
use crate::TaskError;

/// The largest report taken.
const MAX_REPORT_BYTES: usize = 64 * 1024;

/// An external job's report: a heartbeat, or its final result, taken once.
pub(super) async fn report(
    deps: &Deps,
    request: &Request,
    id: &str,
) -> Result<Response<Body>, TaskError> {
    let body = request.body().as_ref();
    if let Err(problem) =
        http::check_json_body(header(request, "content-type"), body, MAX_REPORT_BYTES)
    {
        return Ok(refusal(Format::Json, problem));
    }
    let mut report: activities::JobReport = match serde_json::from_slice(body) {
        Ok(report) => report,
        Err(e) => {
            let detail = format!(
                "The result could not be read: {}",
                crate::error::describe_json_error(&e)
            );
            return Ok(refusal(Format::Json, Problem::invalid("$", detail)));
        }
    };
    let presented = presented_link(
        request,
        report.exp.take(),
        report.kid.take(),
        None,
        report.sig.take(),
    );
    if signed(deps, LinkKind::JobResult, id, &presented)
        .await?
        .is_none()
    {
        return Ok(forbidden(Format::Json));
    }
    let outcome = match activities::parse_report(&report) {
        Ok(outcome) => outcome,
        Err(e) => return Ok(refusal(Format::Json, Problem::from(e))),
    };
    let Some((stored, token)) = load(deps, id).await? else {
        return Ok(refusal(Format::Json, refused(Refusal::NotFound)));
    };
    // A job-result link answers only an external job, never an approval or a manual task.
    if !LinkKind::JobResult.serves(stored.request.kind) {
        return Ok(forbidden(Format::Json));
    }
    let now = approval::now();
    if let Err(refusal) = approval::can_decide(Some(&stored), now) {
        return Ok(super::refusal(Format::Json, refused(refusal)));
    }
    deliver(deps, &stored, &token, outcome, now).await
}

/// The workflow stopped waiting: the task is marked expired.
async fn gone(deps: &Deps, id: &str) -> Result<Response<Body>, TaskError> {
    dynamodb::mark_expired(&deps.dynamodb, &deps.table, id).await?;
    Ok(refusal(
        Format::Json,
        Problem::new(
            410,
            "gone",
            "Gone",
            "The workflow no longer waits for this task.",
        ),
    ))
}

/// Passes a checked report on: a heartbeat as it is, a result once (the record is written first,
/// and put back if the workflow could not be told).
async fn deliver(
    deps: &Deps,
    stored: &StoredApproval,
    token: &str,
    outcome: activities::JobOutcome,
    now: u64,
) -> Result<Response<Body>, TaskError> {
    let id = stored.id.as_str();
    let (status, answer) = match outcome {
        activities::JobOutcome::Heartbeat => {
            return match sfn::send_task_heartbeat(&deps.sfn, token).await? {
                Delivery::Delivered => {
                    Ok(done(Format::Json, 202, "Running", "Heartbeat recorded."))
                }
                Delivery::TaskGone => gone(deps, id).await,
            };
        }
        activities::JobOutcome::Succeeded(output) => (
            Status::Approved,
            TaskAnswer::Success {
                output: output.to_string(),
            },
        ),
        activities::JobOutcome::Failed { error, cause } => {
            (Status::Rejected, TaskAnswer::Failure { error, cause })
        }
    };
    let comment = match &answer {
        TaskAnswer::Failure { cause, .. } => Some(cause.as_str()),
        TaskAnswer::Success { .. } => None,
    };
    let recorded =
        super::record_decision(deps, id, status, approval::JOB_RECIPIENT, comment, now).await?;
    if recorded.is_err() {
        return Ok(refusal(Format::Json, refused(Refusal::AlreadyDecided)));
    }
    match super::tell(deps, stored, token, &answer).await {
        Ok(Delivery::Delivered) => {
            tracing::info!(
                task_id = id,
                result = status.as_str(),
                "job result delivered"
            );
            Ok(done(
                Format::Json,
                200,
                "Recorded",
                "The result was passed to the workflow.",
            ))
        }
        Ok(Delivery::TaskGone) => gone(deps, id).await,
        Err(error) => {
            dynamodb::revert_to_pending(&deps.dynamodb, &deps.table, id).await?;
            Err(error)
        }
    }
}
