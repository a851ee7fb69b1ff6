//! CloudFormation's "Stack Status Change" events, as EventBridge delivers them: how a stack
//! operation's end reaches stackgate when it is delivered rather than polled (issue 20, part 2).
//! The local stack emits the same shape when an operation ends (`to_event`), so that both sides of
//! the wait are tested against one definition.
//!
//! The event names the stack by id and carries the operation's `ClientRequestToken`: stackgate
//! executes every change set with a token of its own, so an event of an earlier operation on the
//! same stack is never taken for the one being waited on.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::parse_input;
use crate::lifecycle;
use crate::TaskError;

pub const SOURCE: &str = "aws.cloudformation";
pub const DETAIL_TYPE: &str = "CloudFormation Stack Status Change";

/// The `detail` of a Stack Status Change event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackStatusChange {
    #[serde(rename = "stack-id")]
    pub stack_id: String,
    #[serde(rename = "status-details")]
    pub status_details: StatusDetails,
    /// Absent on operations started without a token (none of stackgate's).
    #[serde(
        rename = "client-request-token",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_request_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDetails {
    pub status: String,
    #[serde(
        rename = "status-reason",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_reason: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: Value,
}

/// Reads a delivered event. Anything but a CloudFormation Stack Status Change is refused with the
/// field that says so (a rule's pattern should never let one through).
pub fn parse(event: Value) -> Result<StackStatusChange, TaskError> {
    let envelope: Envelope = parse_input(event)?;
    if envelope.source != SOURCE {
        return Err(TaskError::invalid("source", "not aws.cloudformation"));
    }
    if envelope.detail_type != DETAIL_TYPE {
        return Err(TaskError::invalid(
            "detail-type",
            "not a CloudFormation Stack Status Change",
        ));
    }
    let detail: StackStatusChange = parse_input(envelope.detail).map_err(|error| match error {
        TaskError::InvalidInput { field, message } => TaskError::InvalidInput {
            field: format!("detail.{field}"),
            message,
        },
        other => other,
    })?;
    if !detail.stack_id.starts_with("arn:") {
        return Err(TaskError::invalid("detail.stack-id", "not a stack ARN"));
    }
    Ok(detail)
}

impl StackStatusChange {
    /// Whether the operation has ended (no `_IN_PROGRESS` status): only then does a wait end.
    pub fn settled(&self) -> bool {
        lifecycle::is_settled(&self.status_details.status)
    }

    /// Whether this event is the end of the operation started with `token` on `stack_id`.
    pub fn ends(&self, stack_id: &str, token: &str) -> bool {
        self.settled()
            && self.stack_id == stack_id
            && self.client_request_token.as_deref() == Some(token)
    }

    /// The whole event as EventBridge delivers it (`id` and `time` as EventBridge sets them).
    pub fn to_event(&self, id: &str, time: &str, account: &str, region: &str) -> Value {
        json!({
            "version": "0",
            "id": id,
            "detail-type": DETAIL_TYPE,
            "source": SOURCE,
            "account": account,
            "time": time,
            "region": region,
            "resources": [self.stack_id],
            "detail": self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str =
        "arn:aws:cloudformation:us-east-1:111122223333:stack/app/3f0b7c20-1a2b-11ef-8a6b-0a1b2c3d4e5f";

    /// The example of AWS's documentation (Stack Status Change event detail), whole.
    fn documented() -> Value {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "CloudFormation Stack Status Change",
            "source": "aws.cloudformation",
            "account": "111122223333",
            "time": "2017-12-22T18:43:48Z",
            "region": "us-east-1",
            "resources": [STACK],
            "detail": {
                "stack-id": STACK,
                "status-details": {
                    "status": "UPDATE_COMPLETE",
                    "status-reason": ""
                },
                "client-request-token": "stackgate-0123456789abcdef"
            }
        })
    }

    #[test]
    fn the_documented_event_is_read_and_ends_its_own_operation_only() {
        let change = parse(documented()).unwrap();
        assert_eq!(change.stack_id, STACK);
        assert_eq!(change.status_details.status, "UPDATE_COMPLETE");
        assert!(change.ends(STACK, "stackgate-0123456789abcdef"));
        assert!(!change.ends(STACK, "stackgate-an-earlier-operation"));
        assert!(!change.ends(
            &STACK.replace("/app/", "/other/"),
            "stackgate-0123456789abcdef"
        ));
    }

    #[test]
    fn an_operation_under_way_ends_no_wait() {
        let mut event = documented();
        event["detail"]["status-details"]["status"] = json!("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS");
        let change = parse(event).unwrap();
        assert!(!change.settled());
        assert!(!change.ends(STACK, "stackgate-0123456789abcdef"));
        for settled in [
            "UPDATE_ROLLBACK_COMPLETE",
            "ROLLBACK_COMPLETE",
            "DELETE_FAILED",
        ] {
            let mut event = documented();
            event["detail"]["status-details"]["status"] = json!(settled);
            assert!(parse(event).unwrap().settled(), "{settled}");
        }
    }

    #[test]
    fn the_local_stacks_event_is_the_documented_shape() {
        let change = parse(documented()).unwrap();
        let emitted = change.to_event(
            "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "2017-12-22T18:43:48Z",
            "111122223333",
            "us-east-1",
        );
        assert_eq!(emitted, documented());
        assert_eq!(parse(emitted).unwrap(), change);
    }

    #[test]
    fn other_events_are_refused_by_field_without_echoing_values() {
        let mut other_source = documented();
        other_source["source"] = json!("my.app secret-value");
        let error = parse(other_source).unwrap_err();
        assert!(matches!(&error, TaskError::InvalidInput { field, .. } if field == "source"));
        assert!(!format!("{error:?}").contains("secret-value"));

        let mut other_type = documented();
        other_type["detail-type"] = json!("CloudFormation Resource Status Change");
        assert!(matches!(parse(other_type).unwrap_err(),
            TaskError::InvalidInput { field, .. } if field == "detail-type"));

        let mut no_status = documented();
        no_status["detail"]["status-details"] = json!({});
        let error = parse(no_status).unwrap_err();
        assert!(
            matches!(&error, TaskError::InvalidInput { field, .. } if field.starts_with("detail.status-details")),
            "{error:?}"
        );

        let mut not_an_arn = documented();
        not_an_arn["detail"]["stack-id"] = json!("app secret-value");
        let error = parse(not_an_arn).unwrap_err();
        assert!(
            matches!(&error, TaskError::InvalidInput { field, .. } if field == "detail.stack-id")
        );
        assert!(!format!("{error:?}").contains("secret-value"));
    }
}
