//! `approval-emailer`: the `lambda:invoke.waitForTaskToken` task of an approval. It stores the task
//! token under an opaque id and emails each approver a link of their own to the approval page,
//! signed for that address and expiring: whoever decides is recorded by the link they used. The
//! token is never logged, put in a link, or returned.

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::parse_input;
use crate::approval::{self, ApprovalRequest, Status, StoredApproval};
use crate::aws::{dynamodb, ses, ApprovalClients};
use crate::TaskError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    task_token: String,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    request: ApprovalRequest,
}

// Deliberately no Debug: the input holds the task token.

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub approval_id: String,
    pub expires_at: String,
    /// Approvers emailed, each with their own link.
    pub emailed: usize,
}

pub async fn handle(
    clients: &ApprovalClients,
    event: LambdaEvent<Value>,
) -> Result<Value, TaskError> {
    let input: Input = parse_input(event.payload)?;
    if input.task_token.trim().is_empty() {
        return Err(TaskError::invalid("taskToken", "is required"));
    }
    let output = request_approval(
        clients,
        &input.task_token,
        input.request,
        input.timeout_seconds,
    )
    .await?;
    serde_json::to_value(&output).map_err(|e| TaskError::invalid("$", e.to_string()))
}

/// Stores the token under its opaque id and emails each approver a link signed for them; shared
/// with the activity dispatcher's manual tasks.
pub async fn request_approval(
    clients: &ApprovalClients,
    task_token: &str,
    request: ApprovalRequest,
    timeout_seconds: Option<u64>,
) -> Result<Output, TaskError> {
    let sender = clients
        .sender
        .as_deref()
        .ok_or_else(|| TaskError::invalid("SENDER", "no SES sender identity is configured"))?;
    let base_url = clients.base_url.as_deref().ok_or_else(|| {
        TaskError::invalid("APPROVAL_BASE_URL", "no approval page URL is configured")
    })?;
    if clients.approvers.is_empty() {
        return Err(TaskError::invalid(
            "APPROVERS",
            "no approvers are configured",
        ));
    }
    let stored = store(clients, task_token, request, timeout_seconds).await?;
    let keys = clients.key.keys().await?;
    for approver in &clients.approvers {
        let link = approval::approval_link(
            base_url,
            &keys.current,
            &stored.id,
            stored.expires_at,
            approver,
        );
        let email =
            approval::render_email(&stored.request, &link, stored.created_at, stored.expires_at)?;
        ses::send_email(&clients.ses, sender, std::slice::from_ref(approver), &email).await?;
    }
    tracing::info!(approval_id = %stored.id, recipients = clients.approvers.len(), "approval requested");
    Ok(Output {
        approval_id: stored.id,
        expires_at: approval::timestamp(stored.expires_at),
        emailed: clients.approvers.len(),
    })
}

/// Stores a pending request for a task token (once: a retried call finds the stored one).
pub async fn store(
    clients: &ApprovalClients,
    task_token: &str,
    request: ApprovalRequest,
    timeout_seconds: Option<u64>,
) -> Result<StoredApproval, TaskError> {
    let request = request.normalised()?;
    let now = approval::now();
    let stored = StoredApproval {
        id: approval::approval_id(&clients.key.keys().await?.current, task_token),
        status: Status::Pending,
        created_at: now,
        // The link expires a little before the workflow stops waiting (the task started before this
        // call), so it never offers a decision the workflow can no longer take.
        expires_at: now
            + approval::timeout_seconds(timeout_seconds)
                .saturating_sub(approval::EXPIRY_MARGIN_SECONDS),
        request,
        decided_by: None,
        decided_at: None,
        comment: None,
    };
    if dynamodb::put_approval(&clients.dynamodb, &clients.table, &stored, task_token).await? {
        return Ok(stored);
    }
    Ok(
        dynamodb::get_approval(&clients.dynamodb, &clients.table, &stored.id)
            .await?
            .map(|(existing, _)| existing)
            .unwrap_or(stored),
    )
}
