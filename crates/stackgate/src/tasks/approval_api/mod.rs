//! `approval-api`: the approvals API, served from signed links only. Two resources:
//! - `/approvals/{id}` (`approvals`): the approval page of a person's decision;
//! - `/tasks/{id}/result` (`task_results`): an external job's report.
//!
//! Links are checked against their signature, kind and expiry before anything is read.

mod approvals;
mod task_results;

use lambda_http::http::header::{HeaderValue, CACHE_CONTROL};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

use crate::approval::{self, LinkKind, PresentedLink, StoredApproval};
use crate::aws::dynamodb;
use crate::aws::sfn::{self, Delivery};
use crate::aws::ssm::SigningKeySource;
use crate::config::required_env;
use crate::http::{self, header, paths, problem_response, query, Problem, Route};
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

#[derive(Debug, Clone, Copy)]
enum Op {
    Show,
    Decide,
    JobResult,
}

const ROUTES: &[Route<Op>] = &[
    Route {
        method: "GET",
        pattern: "/approvals/{id}",
        target: Op::Show,
    },
    Route {
        method: "POST",
        pattern: "/approvals/{id}",
        target: Op::Decide,
    },
    Route {
        method: "POST",
        pattern: "/tasks/{id}/result",
        target: Op::JobResult,
    },
];

/// How the caller wants the answer: a browser gets HTML, a program that sent JSON gets JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Html,
    Json,
}

pub async fn handle(
    deps: &Deps,
    request: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    let (path, _) = paths(&request);
    let is_json = http::media_type(header(&request, "content-type")) == "application/json";
    let format = if is_json { Format::Json } else { Format::Html };
    let routed = http::route(ROUTES, request.method().as_str(), &path);
    // Ids are hex digests: anything else is no request of ours.
    let routed = routed.and_then(|(op, params)| match params.first() {
        Some(id) if id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok((op, id.clone()))
        }
        _ => Err(Problem::not_found("There is no such request.")),
    });
    let response = match routed {
        Ok((Op::Show, id)) => approvals::show(deps, &request, &id, format).await,
        Ok((Op::Decide, id)) => approvals::decide(deps, &request, &id, format).await,
        Ok((Op::JobResult, id)) => task_results::report(deps, &request, &id).await,
        Err(problem) => Ok(refusal(format, problem)),
    };
    let response = response.unwrap_or_else(|error| {
        tracing::error!(error_type = error.error_type(), "request failed");
        refusal(
            format,
            Problem::unavailable("The request could not be handled just now; nothing was decided."),
        )
    });
    tracing::info!(method = %request.method(), status = response.status().as_u16(), "approvals API answered");
    Ok(secure(response))
}

/// Every answer: never cached, never framed, no scripts, and the link (which carries its
/// signature) never leaked through Referer.
fn secure(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ),
    );
    response
}

/// A page for a browser, JSON for a program.
fn respond(format: Format, status: u16, html: String, json_body: Value) -> Response<Body> {
    match format {
        Format::Html => http::response(status, "text/html; charset=utf-8", html),
        Format::Json => http::json_response(status, &json_body),
    }
}

/// A refusal: a short page for a browser, a problem document for a program.
fn refusal(format: Format, problem: Problem) -> Response<Body> {
    match format {
        Format::Html => {
            let html = plain_page(problem.title, &problem.detail);
            let mut response = http::response(problem.status, "text/html; charset=utf-8", html);
            if let Some(allow) = problem.allow.as_deref().and_then(|a| a.parse().ok()) {
                response.headers_mut().insert("allow", allow);
            }
            response
        }
        Format::Json => problem_response(&problem),
    }
}

/// Why a decision or report was not taken, as a problem document.
fn refused(refusal: approval::Refusal) -> Problem {
    let (kind, title) = match refusal {
        approval::Refusal::NotFound => ("not-found", "Not found"),
        approval::Refusal::AlreadyDecided => ("already-decided", "Refused"),
        approval::Refusal::Expired => ("expired", "Refused"),
    };
    Problem::new(refusal.status(), kind, title, refusal.message())
}

/// A successful answer without a page of its own.
fn done(format: Format, status: u16, title: &str, message: &str) -> Response<Body> {
    respond(
        format,
        status,
        plain_page(title, message),
        json!({"status": status, "title": title, "detail": message}),
    )
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

/// A forged, altered or incomplete link: refused before anything is read.
fn forbidden(format: Format) -> Response<Body> {
    refusal(
        format,
        Problem::new(
            403,
            "invalid-link",
            "Invalid link",
            "This link is not valid. Use the link from the email.",
        ),
    )
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

async fn load(deps: &Deps, id: &str) -> Result<Option<(StoredApproval, String)>, TaskError> {
    dynamodb::get_approval(&deps.dynamodb, &deps.table, id, true).await
}

/// Records a decision (the conditional write that makes a link single-use): `Ok(Ok(()))` when this
/// call decided, `Ok(Err(current))` when someone else did or it expired.
async fn record_decision(
    deps: &Deps,
    id: &str,
    status: approval::Status,
    by: &str,
    comment: Option<&str>,
    now: u64,
) -> Result<Result<(), Option<StoredApproval>>, TaskError> {
    let nonce = decision_nonce();
    let table = &deps.table;
    if dynamodb::decide(&deps.dynamodb, table, id, status, by, comment, now, &nonce).await? {
        return Ok(Ok(()));
    }
    Ok(Err(load(deps, id).await?.map(|(stored, _)| stored)))
}

/// The history is read only if the send itself took less than this, and for at most
/// `HISTORY_CHECK_TIME`: the approvals API has 29 s, and a failed send must still be undone.
const HISTORY_CHECK_AFTER_AT_MOST: std::time::Duration = std::time::Duration::from_secs(15);
const HISTORY_CHECK_TIME: std::time::Duration = std::time::Duration::from_secs(6);

/// Tells the waiting task. A reply can be lost after Step Functions took the answer; the SDK's
/// retry then finds the task gone (or the retries fail), so whenever the task seems gone or the
/// call failed, the waiting execution's history decides: if it holds this very answer, it was
/// delivered. Without a known execution the call's own result stands.
async fn tell(
    deps: &Deps,
    stored: &StoredApproval,
    token: &str,
    answer: &sfn::TaskAnswer,
) -> Result<Delivery, TaskError> {
    let started = std::time::Instant::now();
    let sent = sfn::send_answer(&deps.sfn, token, answer).await;
    if matches!(sent, Ok(Delivery::Delivered)) {
        return sent;
    }
    let Some(execution) = stored.execution_arn.as_deref() else {
        return sent;
    };
    // Within the function's 29 s: a failed send must still be undone (`revert_to_pending`).
    if started.elapsed() > HISTORY_CHECK_AFTER_AT_MOST {
        return sent;
    }
    let arrived = tokio::time::timeout(
        HISTORY_CHECK_TIME,
        sfn::answer_arrived(&deps.sfn, execution, answer),
    )
    .await
    .unwrap_or(Ok(false));
    match arrived {
        Ok(true) => {
            tracing::info!(approval_id = %stored.id, "the answer's reply was lost; the execution's history shows it arrived");
            Ok(Delivery::Delivered)
        }
        Ok(false) => sent,
        Err(error) => {
            tracing::warn!(approval_id = %stored.id, error_type = error.error_type(), "the execution's history could not be read");
            sent
        }
    }
}

/// A value no other call writes: this process's clock in nanoseconds, its id and a counter.
fn decision_nonce() -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!(
        "{nanos}/{}/{}",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    );
    Sha256::digest(seed.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
