//! The stack leases table (one deployment of a stack at a time) and the stack waits table (a
//! workflow waiting on CloudFormation's event for its stack).

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{n, number, s, text};
use crate::aws::classify;
use crate::destination::Destination;
use crate::lease::Lease;
use crate::stack_events::{Operation, StackWait};
use crate::TaskError;

/// Takes a stack's lease: written only if nobody holds it, this holder already does (a retried
/// call), the stored lease expired, or (`from`) it is still held by an ended execution the caller
/// takes it over from. Returns whether the lease is the caller's now.
pub async fn take_lease(
    client: &Client,
    table: &str,
    lease: &Lease,
    from: Option<&str>,
) -> Result<bool, TaskError> {
    let put = client
        .put_item()
        .table_name(table)
        .item("stackName", s(&lease.stack_name))
        .item("holder", s(&lease.holder))
        .item("takenAt", n(lease.taken_at))
        .item("expiresAt", n(lease.expires_at))
        // DynamoDB's own clean-up of leases nobody gave back (their holders aborted).
        .item("ttl", n(lease.expires_at))
        .expression_attribute_values(":me", s(&lease.holder));
    let put = match from {
        None => put
            .condition_expression(
                "attribute_not_exists(stackName) OR holder = :me OR expiresAt < :now",
            )
            .expression_attribute_values(":now", n(lease.taken_at)),
        Some(previous) => put
            .condition_expression("holder = :previous OR holder = :me")
            .expression_attribute_values(":previous", s(previous)),
    };
    match put.send().await {
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

/// A stack's lease as stored (read consistently), if anyone holds it.
pub async fn read_lease(
    client: &Client,
    table: &str,
    stack_name: &str,
) -> Result<Option<Lease>, TaskError> {
    let output = client
        .get_item()
        .table_name(table)
        .key("stackName", s(stack_name))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| classify("GetItem", &e))?;
    let Some(item) = output.item() else {
        return Ok(None);
    };
    // Only stackgate's own writes make these items: one without a holder is not "free".
    let holder = text(item, "holder").ok_or_else(|| TaskError::Aws {
        operation: "GetItem".into(),
        message: format!(
            "the lease of {stack_name} names no holder; an operator should delete the item"
        ),
    })?;
    Ok(Some(Lease {
        stack_name: stack_name.to_string(),
        holder: holder.to_string(),
        taken_at: number(item, "takenAt").unwrap_or_default(),
        expires_at: number(item, "expiresAt").unwrap_or_default(),
    }))
}

/// Stores a wait, replacing the stack's previous one: a wait registered again after its task timed
/// out carries a new task token, and the old one can no longer be answered.
pub async fn put_wait(client: &Client, table: &str, wait: &StackWait) -> Result<(), TaskError> {
    let alarms = wait.rollback_alarms.iter().map(|a| s(a.as_str())).collect();
    let place = [
        ("account", &wait.destination.account),
        ("region", &wait.destination.region),
    ];
    let place = place
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_string(), s(value.as_deref()?))));
    client
        .put_item()
        .table_name(table)
        .set_item(Some(place.collect()))
        .item("stackId", s(&wait.stack_id))
        .item("requestToken", s(&wait.request_token))
        .item("taskToken", s(&wait.task_token))
        .item("operation", s(wait.operation.as_str()))
        .item("rollbackAlarms", AttributeValue::L(alarms))
        .item("expiresAt", n(wait.expires_at))
        .item("ttl", n(wait.expires_at))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("PutItem", &e))
}

/// The wait stored for a stack (read consistently), if a deployment waits on it.
pub async fn read_wait(
    client: &Client,
    table: &str,
    stack_id: &str,
) -> Result<Option<StackWait>, TaskError> {
    let output = client
        .get_item()
        .table_name(table)
        .key("stackId", s(stack_id))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| classify("GetItem", &e))?;
    let Some(item) = output.item() else {
        return Ok(None);
    };
    let field = |name: &str| {
        text(item, name).ok_or_else(|| TaskError::Aws {
            operation: "GetItem".into(),
            message: format!("the wait on {stack_id} has no {name}; an operator should delete it"),
        })
    };
    let operation = Operation::parse(field("operation")?).ok_or_else(|| TaskError::Aws {
        operation: "GetItem".into(),
        message: format!("the wait on {stack_id} names no known operation"),
    })?;
    let rollback_alarms = item
        .get("rollbackAlarms")
        .and_then(|v| v.as_l().ok())
        .map(|list| list.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
        .unwrap_or_default();
    Ok(Some(StackWait {
        stack_id: stack_id.to_string(),
        request_token: field("requestToken")?.to_string(),
        task_token: field("taskToken")?.to_string(),
        operation,
        rollback_alarms,
        expires_at: number(item, "expiresAt").unwrap_or_default(),
        // A value a table's writer could not have written is not a place to assume a role in.
        destination: Destination::new(
            text(item, "account").map(str::to_string),
            text(item, "region").map(str::to_string),
        )
        .map_err(|_| TaskError::Aws {
            operation: "GetItem".into(),
            message: format!("the wait on {stack_id} names no account or Region stackgate wrote; an operator should delete it"),
        })?,
    }))
}

/// Removes a wait once its task is answered; a wait registered since (a new task token) stays.
pub async fn delete_wait(client: &Client, table: &str, wait: &StackWait) -> Result<(), TaskError> {
    let deleted = client
        .delete_item()
        .table_name(table)
        .key("stackId", s(&wait.stack_id))
        .condition_expression("taskToken = :answered")
        .expression_attribute_values(":answered", s(&wait.task_token))
        .send()
        .await;
    match deleted {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(classify("DeleteItem", &error)),
    }
}
