//! CloudFormation's "Stack Status Change" events, as EventBridge delivers them: how a stack
//! operation's end reaches stackgate when it is delivered rather than polled (issue 20, part 2).
//! The local stack emits the same shape when an operation ends (`to_event`), so that both sides of
//! the wait are tested against one definition.
//!
//! The event names the stack by id and carries the operation's `ClientRequestToken`: stackgate
//! executes every change set with a token of its own, so an event of an earlier operation on the
//! same stack is never taken for the one being waited on.
//!
//! A wait is stored (`StackWait`, keyed by stack id) by `wait-stack`, which then reads the stack once:
//! whichever of the two sees the operation's end first, that read or the event, answers the task.

use crate::destination::Destination;
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

/// Which stack operation a wait is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    Deploy,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Deploy => "DEPLOY",
            Operation::Delete => "DELETE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "DEPLOY" => Some(Operation::Deploy),
            "DELETE" => Some(Operation::Delete),
            _ => None,
        }
    }
}

/// How long a stored wait outlives its registration. The state machine registers again after
/// each task timeout (10 minutes), so an older item belongs to an execution that ended.
pub const WAIT_RETENTION_SECONDS: u64 = 2 * 3600;

/// A deployment waiting on the end of one stack operation, stored while CloudFormation works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackWait {
    pub stack_id: String,
    /// The operation's `ClientRequestToken`.
    pub request_token: String,
    /// The Step Functions task to answer; never logged.
    pub task_token: String,
    pub operation: Operation,
    /// The deployment's rollback alarms (ARNs): a rollback one of them caused is named as such.
    pub rollback_alarms: Vec<String>,
    pub expires_at: u64,
    /// Where the stack lives: its account's and Region's CloudFormation is read there.
    pub destination: Destination,
}

impl StackStatusChange {
    /// Whether the operation has ended (no `_IN_PROGRESS` status): only then does a wait end.
    pub fn settled(&self) -> bool {
        lifecycle::is_settled(&self.status_details.status)
    }

    /// Whether this event may be the end of the operation `wait` waits on: it has ended, on that
    /// stack, and carries that operation's token. An event without a token is not refused, since
    /// the stack is read again before anyone is answered, and only a settled stack answers.
    pub fn may_end(&self, wait: &StackWait) -> bool {
        self.settled()
            && self.stack_id == wait.stack_id
            && self
                .client_request_token
                .as_deref()
                .is_none_or(|token| token == wait.request_token)
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

    fn wait(stack_id: &str, token: &str) -> StackWait {
        StackWait {
            destination: Destination::default(),
            stack_id: stack_id.into(),
            request_token: token.into(),
            task_token: "AQB8-token".into(),
            operation: Operation::Deploy,
            rollback_alarms: vec![],
            expires_at: 0,
        }
    }

    #[test]
    fn the_documented_event_is_read_and_ends_its_own_operation_only() {
        let change = parse(documented()).unwrap();
        assert_eq!(change.stack_id, STACK);
        assert_eq!(change.status_details.status, "UPDATE_COMPLETE");
        assert!(change.may_end(&wait(STACK, "stackgate-0123456789abcdef")));
        assert!(!change.may_end(&wait(STACK, "stackgate-an-earlier-operation")));
        assert!(!change.may_end(&wait(
            &STACK.replace("/app/", "/other/"),
            "stackgate-0123456789abcdef"
        )));
        let mut untokened = change.clone();
        untokened.client_request_token = None;
        assert!(untokened.may_end(&wait(STACK, "stackgate-0123456789abcdef")));
    }

    #[test]
    fn operations_read_back_as_written() {
        for operation in [Operation::Deploy, Operation::Delete] {
            assert_eq!(Operation::parse(operation.as_str()), Some(operation));
        }
        assert_eq!(Operation::parse("deploy"), None);
    }

    #[test]
    fn an_operation_under_way_ends_no_wait() {
        let mut event = documented();
        event["detail"]["status-details"]["status"] = json!("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS");
        let change = parse(event).unwrap();
        assert!(!change.settled());
        assert!(!change.may_end(&wait(STACK, "stackgate-0123456789abcdef")));
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
