//! What people read: the approval email and the confirmation page, rendered from the templates
//! compiled in (`templates/approval-*`).

use serde_json::{json, Value};

use super::{timestamp, ApprovalKind, ApprovalRequest, PresentedLink, StoredApproval};
use crate::TaskError;

/// The email: subject, text and HTML bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The templates, parsed once per process. They are files in the repository, compiled in;
/// `.html` ones are auto-escaped. A template that does not parse fails the unit tests.
fn environment() -> &'static minijinja::Environment<'static> {
    static ENVIRONMENT: std::sync::OnceLock<minijinja::Environment<'static>> =
        std::sync::OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        for (name, source) in [
            (
                "approval-email.txt",
                include_str!("../../templates/approval-email.txt"),
            ),
            (
                "approval-email.html",
                include_str!("../../templates/approval-email.html"),
            ),
            (
                "approval-page.html",
                include_str!("../../templates/approval-page.html"),
            ),
            (
                "approval-release.html",
                include_str!("../../templates/approval-release.html"),
            ),
        ] {
            if let Err(error) = env.add_template(name, source) {
                tracing::error!(template = name, %error, "template does not parse");
            }
        }
        env
    })
}

fn render(name: &str, context: Value) -> Result<String, TaskError> {
    environment()
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(&context)))
        .map_err(|e| TaskError::invalid("template", format!("{name}: {e}")))
}

pub fn render_email(
    request: &ApprovalRequest,
    link: &str,
    created_at: u64,
    expires_at: u64,
) -> Result<Email, TaskError> {
    let context = json!({
        "request": request,
        "link": link,
        "requestedAt": timestamp(created_at),
        "expiresAt": timestamp(expires_at),
    });
    Ok(Email {
        subject: format!("[stackgate] {}", request.title),
        text: render("approval-email.txt", context.clone())?,
        html: render("approval-email.html", context)?,
    })
}

/// The confirmation page: the request, and the form only while a decision can be taken. The form
/// carries the link's signed parts back; the recipient is shown, not asked for.
pub fn render_page(
    stored: &StoredApproval,
    action: &str,
    link: &PresentedLink,
    message: Option<&str>,
    open: bool,
) -> Result<String, TaskError> {
    render(
        "approval-page.html",
        json!({
            "request": stored.request,
            "requestedAt": timestamp(stored.created_at),
            "expiresAt": timestamp(stored.expires_at),
            "message": message,
            "open": open,
            "action": action,
            "exp": link.exp,
            "kid": link.kid,
            "to": link.to,
            "sig": link.sig,
            "approveValue": "approve",
            "approveLabel": match stored.request.kind {
                ApprovalKind::Deployment => "Approve and deploy",
                ApprovalKind::Deletion => "Approve and delete",
                ApprovalKind::Release => "Approve and release",
                ApprovalKind::ManualTask | ApprovalKind::ExternalJob => "Mark as done",
            },
            "rejectLabel": match stored.request.kind {
                ApprovalKind::Deployment | ApprovalKind::Deletion | ApprovalKind::Release => "Reject",
                ApprovalKind::ManualTask | ApprovalKind::ExternalJob => "Mark as failed",
            },
        }),
    )
}
