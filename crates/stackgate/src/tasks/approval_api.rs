//! `approval-api`: the approval page. `GET /approvals/{id}` only shows the request and a form;
//! `POST /approvals/{id}` decides, once: a conditional write makes the link single-use, then the
//! waiting task gets SendTaskSuccess or SendTaskFailure. Links are checked against their signature
//! and expiry before anything is read.

use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};

use crate::activities;
use crate::approval::{
    self, DecisionForm, LinkKind, PresentedLink, Refusal, Status, StoredApproval,
};
use crate::aws::sfn::Delivery;
use crate::aws::ssm::SigningKeySource;
use crate::aws::{dynamodb, sfn};
use crate::config::required_env;
use crate::TaskError;

/// What the approval page needs, read once per process.
#[derive(Debug, Clone)]
pub struct Deps {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sfn: aws_sdk_sfn::Client,
    /// `APPROVALS_TABLE`
    pub table: String,
    pub key: SigningKeySource,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        let config = crate::aws::sdk::sdk_config();
        Ok(Deps {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sfn: aws_sdk_sfn::Client::new(&config),
            table: required_env("APPROVALS_TABLE")?,
            key: crate::config::signing_keys(&config)?,
        })
    }
}

const MAX_FORM_BYTES: usize = 16 * 1024;

/// How the caller wants the answer: a browser gets HTML, a program that sent JSON gets JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Json,
}

fn respond(format: Format, status: u16, html: String, json_body: Value) -> Response<Body> {
    let (content_type, body) = match format {
        Format::Html => ("text/html; charset=utf-8", html),
        Format::Json => ("application/json", json_body.to_string()),
    };
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(status).unwrap_or_default();
    let headers = response.headers_mut();
    let set =
        |headers: &mut lambda_http::http::HeaderMap, name: &'static str, value: &'static str| {
            headers.insert(name, lambda_http::http::HeaderValue::from_static(value));
        };
    headers.insert(
        CONTENT_TYPE,
        lambda_http::http::HeaderValue::from_static(content_type),
    );
    headers.insert(
        CACHE_CONTROL,
        lambda_http::http::HeaderValue::from_static("no-store"),
    );
    // The link carries its signature: never leak it through Referer; no framing, no scripts.
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-frame-options", "DENY");
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    );
    response
}

fn plain_page(title: &str, message: &str) -> String {
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head><body style=\"font-family: sans-serif\"><h2>{}</h2><p>{}</p></body></html>",
        escape(title),
        escape(title),
        escape(message)
    )
}

fn simple(format: Format, status: u16, title: &str, message: &str) -> Response<Body> {
    respond(
        format,
        status,
        plain_page(title, message),
        json!({"status": status, "title": title, "detail": message}),
    )
}

/// `/approvals/{id}` -> id
fn approval_id(path: &str) -> Option<&str> {
    let id = path.trim_end_matches('/').strip_prefix("/approvals/")?;
    (!id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit())).then_some(id)
}

pub async fn handle(
    deps: &Deps,
    request: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    let raw = request.raw_http_path();
    let path = if raw.is_empty() {
        request.uri().path()
    } else {
        raw
    }
    .to_string();
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let format = if is_json { Format::Json } else { Format::Html };
    if let Some(id) = job_result_id(&path) {
        let response = if request.method() == "POST" {
            job_result(deps, &request, id).await
        } else {
            Ok(simple(
                Format::Json,
                405,
                "Method not allowed",
                "Report results with POST.",
            ))
        };
        let response = response.unwrap_or_else(|error| {
            tracing::error!(error_type = error.error_type(), "job result failed");
            simple(
                Format::Json,
                503,
                "Try again",
                "The result could not be recorded just now; report it again.",
            )
        });
        return Ok(response);
    }
    let response = match (request.method().as_str(), approval_id(&path)) {
        (_, None) => Ok(simple(
            format,
            404,
            "Not found",
            "There is no such request.",
        )),
        ("GET", Some(id)) => show(deps, &request, id, format).await,
        ("POST", Some(id)) => decide(deps, &request, id, format, is_json).await,
        _ => {
            let mut response = simple(
                format,
                405,
                "Method not allowed",
                "Use GET to review and POST to decide.",
            );
            response.headers_mut().insert(
                "allow",
                lambda_http::http::HeaderValue::from_static("GET, POST"),
            );
            Ok(response)
        }
    };
    let response = response.unwrap_or_else(|error| {
        tracing::error!(error_type = error.error_type(), "approval request failed");
        simple(
            format,
            503,
            "Try again",
            "The request could not be handled just now; nothing was decided.",
        )
    });
    tracing::info!(method = %request.method(), status = response.status().as_u16(), "approval page answered");
    Ok(response)
}

/// `/tasks/{id}/result` -> id
fn job_result_id(path: &str) -> Option<&str> {
    let id = path
        .trim_end_matches('/')
        .strip_prefix("/tasks/")?
        .strip_suffix("/result")?;
    (!id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit())).then_some(id)
}

/// An external job's report: a heartbeat, or its final result, taken once.
async fn job_result(deps: &Deps, request: &Request, id: &str) -> Result<Response<Body>, TaskError> {
    let json_body = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !json_body {
        return Ok(simple(
            Format::Json,
            415,
            "Unsupported media type",
            "Send the result as application/json.",
        ));
    }
    if request.body().len() > MAX_FORM_BYTES * 4 {
        return Ok(simple(
            Format::Json,
            413,
            "Too large",
            "The result is too large.",
        ));
    }
    let mut report: activities::JobReport = match serde_json::from_slice(request.body().as_ref()) {
        Ok(report) => report,
        Err(e) => {
            return Ok(simple(
                Format::Json,
                400,
                "Bad request",
                &format!(
                    "The result could not be read: {}",
                    crate::error::describe_json_error(&e)
                ),
            ))
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
        Err(e) => return Ok(simple(Format::Json, 400, "Bad request", &e.to_string())),
    };
    let Some((stored, token)) = load(deps, id).await? else {
        return Ok(simple(
            Format::Json,
            404,
            "Not found",
            Refusal::NotFound.message(),
        ));
    };
    // A job-result link answers only an external job, never an approval or a manual task.
    if !LinkKind::JobResult.serves(&stored.request.kind) {
        return Ok(forbidden(Format::Json));
    }
    let now = approval::now();
    if let Err(refusal) = approval::can_decide(Some(&stored), now) {
        return Ok(simple(
            Format::Json,
            refusal.status(),
            "Refused",
            refusal.message(),
        ));
    }
    let gone = |deps: &Deps| {
        let table = deps.table.clone();
        let dynamodb = deps.dynamodb.clone();
        async move {
            dynamodb::mark_expired(&dynamodb, &table, id).await?;
            Ok::<_, TaskError>(simple(
                Format::Json,
                410,
                "Gone",
                "The workflow no longer waits for this task.",
            ))
        }
    };
    // Ok(output) to succeed the task, Err((error, cause)) to fail it.
    let (status, answer) = match outcome {
        activities::JobOutcome::Heartbeat => {
            return match sfn::send_task_heartbeat(&deps.sfn, &token).await? {
                Delivery::Delivered => {
                    Ok(simple(Format::Json, 202, "Running", "Heartbeat recorded."))
                }
                Delivery::TaskGone => gone(deps).await,
            };
        }
        activities::JobOutcome::Succeeded(output) => (Status::Approved, Ok(output)),
        activities::JobOutcome::Failed { error, cause } => (Status::Rejected, Err((error, cause))),
    };
    let comment = answer.as_ref().err().map(|(_, cause)| cause.as_str());
    if !dynamodb::decide(
        &deps.dynamodb,
        &deps.table,
        id,
        status,
        approval::JOB_RECIPIENT,
        comment,
        now,
    )
    .await?
    {
        return Ok(simple(
            Format::Json,
            409,
            "Refused",
            Refusal::AlreadyDecided.message(),
        ));
    }
    let delivery = match answer {
        Ok(output) => sfn::send_task_success(&deps.sfn, &token, &output.to_string()).await,
        Err((error, cause)) => sfn::send_task_failure(&deps.sfn, &token, &error, &cause).await,
    };
    match delivery {
        Ok(Delivery::Delivered) => {
            tracing::info!(
                task_id = id,
                result = status.as_str(),
                "job result delivered"
            );
            Ok(simple(
                Format::Json,
                200,
                "Recorded",
                "The result was passed to the workflow.",
            ))
        }
        Ok(Delivery::TaskGone) => gone(deps).await,
        Err(error) => {
            dynamodb::revert_to_pending(&deps.dynamodb, &deps.table, id).await?;
            Err(error)
        }
    }
}

/// The link's parts, from the body where given, else from the query string.
fn presented_link(
    request: &Request,
    exp: Option<String>,
    kid: Option<String>,
    to: Option<String>,
    sig: Option<String>,
) -> PresentedLink {
    let part = |given: Option<String>, name: &str| {
        given.or_else(|| query(request, name)).unwrap_or_default()
    };
    PresentedLink {
        exp: part(exp, "exp"),
        kid: part(kid, "kid"),
        to: part(to, "to"),
        sig: part(sig, "sig"),
    }
}

/// The recipient a link of `kind` was signed for, if its signature holds under a current key.
async fn signed(
    deps: &Deps,
    kind: LinkKind,
    id: &str,
    link: &PresentedLink,
) -> Result<Option<String>, TaskError> {
    let keys = deps.key.keys().await?;
    Ok(approval::verify_link(&keys, kind, id, link))
}

/// A forged, altered or incomplete link: refused before anything is read.
fn forbidden(format: Format) -> Response<Body> {
    simple(
        format,
        403,
        "Invalid link",
        "This link is not valid. Use the link from the email.",
    )
}

fn query(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_string)
}

async fn load(deps: &Deps, id: &str) -> Result<Option<(StoredApproval, String)>, TaskError> {
    dynamodb::get_approval(&deps.dynamodb, &deps.table, id).await
}

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

async fn show(
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
        return Ok(simple(
            format,
            404,
            "Not found",
            Refusal::NotFound.message(),
        ));
    };
    if !LinkKind::Decision.serves(&stored.request.kind) {
        return Ok(forbidden(format));
    }
    let (status, message, open) = match approval::can_decide(Some(&stored), approval::now()) {
        Ok(()) => (200, None, true),
        Err(refusal) => (refusal.status(), Some(refusal.message()), false),
    };
    let html = page(&stored, id, &link, message, open)?;
    Ok(respond(format, status, html, status_json(&stored, message)))
}

async fn decide(
    deps: &Deps,
    request: &Request,
    id: &str,
    format: Format,
    is_json: bool,
) -> Result<Response<Body>, TaskError> {
    let body = request.body().as_ref();
    if body.len() > MAX_FORM_BYTES {
        return Ok(simple(format, 413, "Too large", "The form is too large."));
    }
    let parsed: Result<DecisionForm, String> = if is_json {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
    };
    let mut form = match parsed {
        Ok(form) => form,
        Err(_) => {
            return Ok(simple(
                format,
                400,
                "Bad request",
                "The form could not be read.",
            ))
        }
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
        return Ok(simple(
            format,
            404,
            "Not found",
            Refusal::NotFound.message(),
        ));
    };
    // A decision link answers only an approval or a manual task, never an external job.
    if !LinkKind::Decision.serves(&stored.request.kind) {
        return Ok(forbidden(format));
    }
    let now = approval::now();
    if let Err(refusal) = approval::can_decide(Some(&stored), now) {
        let html = page(&stored, id, &link, Some(refusal.message()), false)?;
        return Ok(respond(
            format,
            refusal.status(),
            html,
            status_json(&stored, Some(refusal.message())),
        ));
    }
    let decision = match approval::parse_decision(&form, &approver) {
        Ok(decision) => decision,
        Err(error) => {
            let message = error.to_string();
            let html = page(&stored, id, &link, Some(&message), true)?;
            return Ok(respond(
                format,
                400,
                html,
                status_json(&stored, Some(&message)),
            ));
        }
    };
    let status = match decision.decision {
        approval::Decision::Approve => Status::Approved,
        approval::Decision::Reject => Status::Rejected,
    };
    let won = dynamodb::decide(
        &deps.dynamodb,
        &deps.table,
        id,
        status,
        &decision.approver,
        decision.comment.as_deref(),
        now,
    )
    .await?;
    if !won {
        // Someone else decided first, or it expired meanwhile.
        let current = load(deps, id).await?.map(|(s, _)| s);
        let refusal = approval::can_decide(current.as_ref(), now)
            .err()
            .unwrap_or(Refusal::AlreadyDecided);
        let shown = current.unwrap_or(stored);
        let html = page(&shown, id, &link, Some(refusal.message()), false)?;
        return Ok(respond(
            format,
            refusal.status(),
            html,
            status_json(&shown, Some(refusal.message())),
        ));
    }
    let decided_at = approval::timestamp(now);
    let delivery = match approval::task_result(&stored.request, &decision, &decided_at) {
        Ok(output) => sfn::send_task_success(&deps.sfn, &token, &output.to_string()).await,
        Err((error, cause)) => sfn::send_task_failure(&deps.sfn, &token, &error, &cause).await,
    };
    let delivery = match delivery {
        Ok(delivery) => delivery,
        Err(error) => {
            // Not delivered: undo, so that the decision can be taken again.
            dynamodb::revert_to_pending(&deps.dynamodb, &deps.table, id).await?;
            return Err(error);
        }
    };
    let mut decided = stored.clone();
    decided.status = status;
    decided.decided_by = Some(decision.approver.clone());
    if delivery == Delivery::TaskGone {
        dynamodb::mark_expired(&deps.dynamodb, &deps.table, id).await?;
        decided.status = Status::Expired;
        let message = "The workflow had already stopped waiting (it timed out or ended); your decision was not applied.";
        let html = page(&decided, id, &link, Some(message), false)?;
        return Ok(respond(
            format,
            410,
            html,
            status_json(&decided, Some(message)),
        ));
    }
    tracing::info!(
        approval_id = id,
        decision = status.as_str(),
        "decision delivered"
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
    let html = page(&decided, id, &link, Some(&message), false)?;
    Ok(respond(
        format,
        200,
        html,
        status_json(&decided, Some(&message)),
    ))
}
