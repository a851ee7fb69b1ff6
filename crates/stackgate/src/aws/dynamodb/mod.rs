//! DynamoDB adapter: the approvals table here, the stack leases and stack waits tables in `stacks`. The task token is stored
//! beside the approval and read only to answer Step Functions; it is never returned to callers.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::classify;
use crate::approval::{ApprovalRequest, Status, StoredApproval, RETENTION_SECONDS};
use crate::TaskError;

mod stacks;
pub use stacks::*;

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Stores a new approval; an existing one with the same id (a retried invocation) is kept as is.
/// Returns whether it was created now.
pub async fn put_approval(
    client: &Client,
    table: &str,
    approval: &StoredApproval,
    task_token: &str,
) -> Result<bool, TaskError> {
    let request = serde_json::to_string(&approval.request)
        .map_err(|e| TaskError::invalid("request", e.to_string()))?;
    let mut put = client
        .put_item()
        .table_name(table)
        .item("id", s(&approval.id))
        .item("taskToken", s(task_token))
        .item("status", s(approval.status.as_str()))
        .item("createdAt", n(approval.created_at))
        .item("expiresAt", n(approval.expires_at))
        .item("ttl", n(approval.expires_at + RETENTION_SECONDS))
        .item("request", s(request))
        .condition_expression("attribute_not_exists(id)");
    if let Some(execution) = &approval.execution_arn {
        put = put.item("executionArn", s(execution));
    }
    let result = put.send().await;
    match result {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(error) => Err(classify("PutItem", &error)),
    }
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// Reads an approval (strongly consistent) with its task token.
///
/// The task token is read only when `token` asks for it; otherwise the read leaves it in the table
/// (a projection the reader's policy can require: `dynamodb:Attributes`) and it comes back empty.
pub async fn get_approval(
    client: &Client,
    table: &str,
    id: &str,
    token: bool,
) -> Result<Option<(StoredApproval, String)>, TaskError> {
    let mut get = client
        .get_item()
        .table_name(table)
        .key("id", s(id))
        .consistent_read(true);
    if !token {
        // Every name through a placeholder: `status` and `request` are reserved words.
        let mut projection = Vec::new();
        for (i, name) in [
            "id",
            "status",
            "createdAt",
            "expiresAt",
            "request",
            "decidedBy",
            "decidedAt",
            "executionArn",
        ]
        .into_iter()
        .enumerate()
        {
            projection.push(format!("#a{i}"));
            get = get.expression_attribute_names(format!("#a{i}"), name);
        }
        get = get.projection_expression(projection.join(", "));
    }
    let output = get.send().await.map_err(|e| classify("GetItem", &e))?;
    let Some(item) = output.item() else {
        return Ok(None);
    };
    let corrupt = |field: &str| TaskError::Aws {
        operation: "GetItem".into(),
        message: format!("approval {id} has no valid {field}"),
    };
    let request: ApprovalRequest =
        serde_json::from_str(text(item, "request").ok_or_else(|| corrupt("request"))?)
            .map_err(|_| corrupt("request"))?;
    let approval = StoredApproval {
        id: id.to_string(),
        status: text(item, "status")
            .and_then(Status::parse)
            .ok_or_else(|| corrupt("status"))?,
        created_at: number(item, "createdAt").unwrap_or_default(),
        expires_at: number(item, "expiresAt").ok_or_else(|| corrupt("expiresAt"))?,
        request,
        decided_by: text(item, "decidedBy").map(str::to_string),
        decided_at: number(item, "decidedAt"),
        comment: text(item, "comment").map(str::to_string),
        execution_arn: text(item, "executionArn").map(str::to_string),
    };
    let token = match token {
        true => text(item, "taskToken")
            .ok_or_else(|| corrupt("taskToken"))?
            .to_string(),
        false => String::new(),
    };
    Ok(Some((approval, token)))
}

/// Records a decision if, and only if, the approval is still pending and unexpired: the
/// conditional write is what makes a link single-use. Returns whether this call decided it. The
/// write carries the call's own `nonce`: when the condition fails because this call's earlier
/// attempt landed (its answer lost, the SDK retried), the stored nonce is this one, and the
/// decision is this call's; a concurrent second submission of the same link has another nonce.
#[allow(clippy::too_many_arguments)] // one conditional write: each argument is one of its fields
pub async fn decide(
    client: &Client,
    table: &str,
    id: &str,
    status: Status,
    decided_by: &str,
    comment: Option<&str>,
    now: u64,
    nonce: &str,
) -> Result<bool, TaskError> {
    let mut update = client
        .update_item()
        .table_name(table)
        .key("id", s(id))
        .update_expression(
            "SET #status = :decided, decidedBy = :by, decidedAt = :now, decisionId = :nonce",
        )
        .condition_expression("#status = :pending AND expiresAt > :now")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":decided", s(status.as_str()))
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .expression_attribute_values(":by", s(decided_by))
        .expression_attribute_values(":now", n(now))
        .expression_attribute_values(":nonce", s(nonce));
    if let Some(comment) = comment {
        update = update
            .update_expression(
                "SET #status = :decided, decidedBy = :by, decidedAt = :now, decisionId = :nonce, #comment = :comment",
            )
            .expression_attribute_names("#comment", "comment")
            .expression_attribute_values(":comment", s(comment));
    }
    match update.send().await {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(decision_id(client, table, id).await?.as_deref() == Some(nonce))
        }
        Err(error) => Err(classify("UpdateItem", &error)),
    }
}

/// The nonce of the call that decided an approval (read consistently: it was just written).
pub async fn decision_id(
    client: &Client,
    table: &str,
    id: &str,
) -> Result<Option<String>, TaskError> {
    let current = client
        .get_item()
        .table_name(table)
        .key("id", s(id))
        .consistent_read(true)
        .projection_expression("decisionId")
        .send()
        .await
        .map_err(|e| classify("GetItem", &e))?;
    Ok(current
        .item()
        .and_then(|item| text(item, "decisionId"))
        .map(str::to_string))
}

/// Marks an approval whose workflow stopped waiting (its token timed out) as expired.
pub async fn mark_expired(client: &Client, table: &str, id: &str) -> Result<(), TaskError> {
    client
        .update_item()
        .table_name(table)
        .key("id", s(id))
        .update_expression("SET #status = :expired")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":expired", s(Status::Expired.as_str()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("UpdateItem", &e))
}

/// Undoes a decision whose delivery to Step Functions failed, so that it can be taken again.
pub async fn revert_to_pending(client: &Client, table: &str, id: &str) -> Result<(), TaskError> {
    client
        .update_item()
        .table_name(table)
        .key("id", s(id))
        .update_expression(
            "SET #status = :pending REMOVE decidedBy, decidedAt, decisionId, #comment",
        )
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#comment", "comment")
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("UpdateItem", &e))
}
