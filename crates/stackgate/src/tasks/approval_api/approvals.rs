//! `/approvals/{id}`: the approval page. `GET` only shows the request and a form; `POST` decides,
//! once: a conditional write makes the link single-use, then the waiting task gets
//! SendTaskSuccess or SendTaskFailure.

use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use super::{forbidden, load, presented_link, refusal, refused, respond, signed, Deps, Format};
use crate::approval::{
    self, DecisionForm, LinkKind, PresentedLink, Refusal, Status, StoredApproval,
};
use crate::aws::dynamodb;
use crate::aws::sfn::{Delivery, TaskAnswer};
use crate::http::{self, header, Problem};
use crate::metrics::{self, names, Metric};
use crate::TaskError;

const MAX_FORM_BYTES: usize = 16 * 1024;

fn page(
    stored: &StoredApproval,
    path_id: &str,
    link: &PresentedLink,
    message: Option<&str>,
    open: bool,
) -> Result<String, TaskError> {
    // The form posts back to the same relative path (the page's own URL, signature included).
    approval::render_page(stored, path_id, link, message, open)
}

fn status_json(stored: &StoredApproval, message: Option<&str>) -> Value {
    json!({
        "approvalId": stored.id,
        "status": stored.status.as_str(),
        "expiresAt": approval::timestamp(stored.expires_at),
        "decidedBy": stored.decided_by,
        "message": message,
    })
}

/// The page with what this approval is about, as it stands now.
fn answer(
    format: Format,
    status: u16,
    stored: &StoredApproval,
    id: &str,
    link: &PresentedLink,
    message: Option<&str>,
    open: bool,
) -> Result<Response<Body>, TaskError> {
    let html = page(stored, id, link, message, open)?;
    Ok(respond(format, status, html, status_json(stored, message)))
}

pub(super) async fn show(
    deps: &Deps,
    request: &Request,
    id: &str,
    format: Format,
) -> Result<Response<Body>, TaskError> {
    let link = presented_link(request, None, None, None, None);
    if signed(deps, LinkKind::Decision, id, &link).await?.is_none() {
        return Ok(forbidden(format));
    }
    let Some((stored, _)) = load(deps, id).await? else {
        return Ok(refusal(format, refused(Refusal::NotFound)));
    };
    if !LinkKind::Decision.serves(stored.request.kind) {
        return Ok(forbidden(format));
    }
    let (status, message, open) = match approval::can_decide(Some(&stored), approval::now()) {
        Ok(()) => (200, None, true),
        Err(refusal) => (refusal.status(), Some(refusal.message()), false),
    };
    answer(format, status, &stored, id, &link, message, open)
}

/// The decision form, from a browser (form-encoded) or a program (JSON).
fn read_form(request: &Request, format: Format) -> Result<DecisionForm, Problem> {
    let body = request.body().as_ref();
    if body.len() > MAX_FORM_BYTES {
        return Err(Problem::new(
            413,
            "payload-too-large",
            "Too large",
            "The form is too large.",
        ));
    }
    let parsed = match format {
        Format::Json => serde_json::from_slice(body).ok(),
        Format::Html => {
            let media = http::media_type(header(request, "content-type"));
            (media.is_empty() || media == "application/x-www-form-urlencoded")
                .then(|| serde_urlencoded::from_bytes(body).ok())
                .flatten()
        }
    };
    parsed.ok_or_else(|| Problem::invalid("$", "The form could not be read."))
}

pub(super) async fn decide(
    deps: &Deps,
    request: &Request,
    id: &str,
    format: Format,
) -> Result<Response<Body>, TaskError> {
    let mut form = match read_form(request, format) {
        Ok(form) => form,
        Err(problem) => return Ok(refusal(format, problem)),
    };
    let link = presented_link(
        request,
        form.exp.take(),
        form.kid.take(),
        form.to.take(),
        form.sig.take(),
    );
    let Some(approver) = signed(deps, LinkKind::Decision, id, &link).await? else {
        return Ok(forbidden(format));
    };
    let Some((stored, token)) = load(deps, id).await? else {
        return Ok(refusal(format, refused(Refusal::NotFound)));
    };
    // A decision link answers only an approval or a manual task, never an external job.
    if !LinkKind::Decision.serves(stored.request.kind) {
        return Ok(forbidden(format));
    }
    let now = approval::now();
    if let Err(refusal) = approval::can_decide(Some(&stored), now) {
        let message = Some(refusal.message());
        return answer(format, refusal.status(), &stored, id, &link, message, false);
    }
    let decision = match approval::parse_decision(&form, &approver) {
        Ok(decision) => decision,
        Err(error) => {
            let message = error.to_string();
            return answer(format, 400, &stored, id, &link, Some(&message), true);
        }
    };
    let status = match decision.decision {
        approval::Decision::Approve => Status::Approved,
        approval::Decision::Reject => Status::Rejected,
    };
    let recorded = super::record_decision(
        deps,
        id,
        status,
        &decision.approver,
        decision.comment.as_deref(),
        now,
    )
    .await?;
    if let Err(current) = recorded {
        // Someone else decided first, or it expired meanwhile.
        let refusal = approval::can_decide(current.as_ref(), now)
            .err()
            .unwrap_or(Refusal::AlreadyDecided);
        let shown = current.unwrap_or(stored);
        let message = Some(refusal.message());
        return answer(format, refusal.status(), &shown, id, &link, message, false);
    }
    let decided = Decided {
        stored,
        token,
        decision,
        status,
        decided_at: approval::timestamp(now),
    };
    deliver(deps, id, format, &link, decided).await
}

/// A decision recorded (the link is spent), to pass to the waiting workflow.
struct Decided {
    stored: StoredApproval,
    token: String,
    decision: approval::ValidDecision,
    status: Status,
    decided_at: String,
}

/// Passes the decision on; if it cannot be, the record is put back so the decision can be taken
/// again, and if the workflow stopped waiting, the approval is marked expired.
async fn deliver(
    deps: &Deps,
    id: &str,
    format: Format,
    link: &PresentedLink,
    decided: Decided,
) -> Result<Response<Body>, TaskError> {
    let Decided {
        stored,
        token,
        decision,
        status,
        decided_at,
    } = decided;
    let told = match approval::task_result(&stored, &decision, &decided_at) {
        Ok(output) => TaskAnswer::Success {
            output: output.to_string(),
        },
        Err((error, cause)) => TaskAnswer::Failure { error, cause },
    };
    let delivery = match super::tell(deps, &stored, &token, &told).await {
        Ok(delivery) => delivery,
        Err(error) => {
            // Not delivered: undo, so that the decision can be taken again.
            dynamodb::revert_to_pending(&deps.dynamodb, &deps.table, id).await?;
            return Err(error);
        }
    };
    let mut shown = stored;
    shown.status = status;
    shown.decided_by = Some(decision.approver.clone());
    if delivery == Delivery::TaskGone {
        dynamodb::mark_expired(&deps.dynamodb, &deps.table, id).await?;
        shown.status = Status::Expired;
        let message = "The workflow had already stopped waiting (it timed out or ended); your decision was not applied.";
        return answer(format, 410, &shown, id, link, Some(message), false);
    }
    tracing::info!(
        approval_id = id,
        decision = status.as_str(),
        "decision delivered"
    );
    let kind = shown.request.kind.as_str();
    let decision_name = match status {
        Status::Approved => "APPROVED",
        _ => "REJECTED",
    };
    metrics::emit(
        Metric::count(names::APPROVALS_DECIDED)
            .with("Kind", kind)
            .with("Decision", decision_name),
    );
    metrics::emit(
        Metric::seconds(
            names::APPROVAL_AGE_SECONDS,
            approval::now().saturating_sub(shown.created_at) as f64,
        )
        .with("Kind", kind),
    );
    let message = match status {
        Status::Approved => format!(
            "Approved by {} at {decided_at}. The workflow continues.",
            decision.approver
        ),
        _ => format!(
            "Rejected by {} at {decided_at}. The workflow stops.",
            decision.approver
        ),
    };
    answer(format, 200, &shown, id, link, Some(&message), false)
}
