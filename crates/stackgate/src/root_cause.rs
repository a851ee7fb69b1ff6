//! Finds *why* a stack operation failed: the first `*_FAILED` event with a reason, in the latest
//! operation, preferring a resource over the stack's own summary ("The following resource(s) failed…").

/// A stack event, reduced to what the search needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StackEvent {
    /// CloudFormation's id of the event: what a reader following the stack has seen.
    pub event_id: String,
    /// When it happened, RFC 3339.
    pub timestamp: Option<String>,
    pub logical_resource_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCause {
    pub logical_resource_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
}

impl std::fmt::Display for RootCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) {}: {}",
            self.logical_resource_id, self.resource_type, self.status, self.reason
        )
    }
}

const STACK_TYPE: &str = "AWS::CloudFormation::Stack";

/// Whether an event opens an operation of the stack itself (the boundary of "the latest operation").
fn starts_operation(event: &StackEvent, stack_name: &str) -> bool {
    event.resource_type == STACK_TYPE
        && event.logical_resource_id == stack_name
        && matches!(
            event.status.as_str(),
            "CREATE_IN_PROGRESS"
                | "UPDATE_IN_PROGRESS"
                | "DELETE_IN_PROGRESS"
                | "IMPORT_IN_PROGRESS"
        )
}

/// `events` come newest first, as DescribeStackEvents returns them.
pub fn find(events: &[StackEvent], stack_name: &str) -> Option<RootCause> {
    let operation_len = events
        .iter()
        .position(|e| starts_operation(e, stack_name))
        .map_or(events.len(), |i| i + 1);
    let operation = &events[..operation_len];
    let failed = |e: &&StackEvent| {
        e.status.ends_with("_FAILED") && e.reason.as_deref().is_some_and(|r| !r.trim().is_empty())
    };
    // Oldest first: the first failure is the cause, later ones are its consequences.
    let resource = operation
        .iter()
        .rev()
        .filter(failed)
        .find(|e| !(e.resource_type == STACK_TYPE && e.logical_resource_id == stack_name));
    let chosen = resource.or_else(|| operation.iter().rev().find(failed))?;
    Some(RootCause {
        logical_resource_id: chosen.logical_resource_id.clone(),
        resource_type: chosen.resource_type.clone(),
        status: chosen.status.clone(),
        reason: chosen.reason.clone().unwrap_or_default(),
    })
}

/// The rollback alarm that rolled the latest operation back: one of `alarms` (ARNs) named in the
/// reason of the stack's own rollback event. Only by ARN: a name could be a resource's logical id in
/// "The following resource(s) failed…".
pub fn alarm_that_rolled_back<'a>(
    events: &[StackEvent],
    stack_name: &str,
    alarms: &'a [String],
) -> Option<&'a str> {
    let operation_len = events
        .iter()
        .position(|e| starts_operation(e, stack_name))
        .map_or(events.len(), |i| i + 1);
    let rollback_reasons: Vec<&str> = events[..operation_len]
        .iter()
        .filter(|e| {
            e.resource_type == STACK_TYPE
                && e.logical_resource_id == stack_name
                && e.status.ends_with("ROLLBACK_IN_PROGRESS")
        })
        .filter_map(|e| e.reason.as_deref())
        .collect();
    alarms
        .iter()
        .map(String::as_str)
        .find(|arn| rollback_reasons.iter().any(|reason| reason.contains(arn)))
}

/// The root cause of the most recent operation that failed, even when later ones succeeded
/// (for showing a stack's last failure).
pub fn last_failure(events: &[StackEvent], stack_name: &str) -> Option<RootCause> {
    let failed = |e: &StackEvent| {
        e.status.ends_with("_FAILED") && e.reason.as_deref().is_some_and(|r| !r.trim().is_empty())
    };
    let newest_failure = events.iter().position(failed)?;
    let start = events[..newest_failure]
        .iter()
        .rposition(|e| starts_operation(e, stack_name))
        .map_or(0, |newer_start| newer_start + 1);
    find(&events[start..], stack_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, ty: &str, status: &str, reason: Option<&str>) -> StackEvent {
        StackEvent {
            logical_resource_id: id.into(),
            resource_type: ty.into(),
            status: status.into(),
            reason: reason.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn first_resource_failure_of_the_latest_operation() {
        // Newest first.
        let events = vec![
            ev("app", STACK_TYPE, "UPDATE_ROLLBACK_COMPLETE", None),
            ev(
                "Queue",
                "AWS::SQS::Queue",
                "UPDATE_FAILED",
                Some("Resource update cancelled"),
            ),
            ev(
                "app",
                STACK_TYPE,
                "UPDATE_ROLLBACK_IN_PROGRESS",
                Some("The following resource(s) failed to update: [Bucket]"),
            ),
            ev(
                "Bucket",
                "AWS::S3::Bucket",
                "UPDATE_FAILED",
                Some("bucket name already exists"),
            ),
            ev(
                "app",
                STACK_TYPE,
                "UPDATE_IN_PROGRESS",
                Some("User Initiated"),
            ),
            // An older operation's failure must not be picked.
            ev(
                "Old",
                "AWS::SNS::Topic",
                "CREATE_FAILED",
                Some("old failure"),
            ),
        ];
        let cause = find(&events, "app").unwrap();
        assert_eq!(cause.logical_resource_id, "Bucket");
        assert_eq!(cause.reason, "bucket name already exists");
        assert_eq!(
            cause.to_string(),
            "Bucket (AWS::S3::Bucket) UPDATE_FAILED: bucket name already exists"
        );
    }

    #[test]
    fn falls_back_to_the_stack_event_and_ignores_empty_reasons() {
        let events = vec![
            ev("app", STACK_TYPE, "DELETE_FAILED", Some("role is gone")),
            ev("Bucket", "AWS::S3::Bucket", "DELETE_FAILED", Some("  ")),
            ev(
                "app",
                STACK_TYPE,
                "DELETE_IN_PROGRESS",
                Some("User Initiated"),
            ),
        ];
        let cause = find(&events, "app").unwrap();
        assert_eq!(cause.logical_resource_id, "app");
        assert_eq!(cause.reason, "role is gone");
    }

    #[test]
    fn last_failure_looks_past_later_successful_operations() {
        let events = vec![
            ev("app", STACK_TYPE, "UPDATE_COMPLETE", None),
            ev(
                "app",
                STACK_TYPE,
                "UPDATE_IN_PROGRESS",
                Some("User Initiated"),
            ),
            ev("app", STACK_TYPE, "UPDATE_ROLLBACK_COMPLETE", None),
            ev(
                "Bucket",
                "AWS::S3::Bucket",
                "UPDATE_FAILED",
                Some("access denied"),
            ),
            ev(
                "app",
                STACK_TYPE,
                "UPDATE_IN_PROGRESS",
                Some("User Initiated"),
            ),
            ev("Old", "AWS::SNS::Topic", "CREATE_FAILED", Some("older")),
        ];
        assert_eq!(find(&events, "app"), None, "the latest operation succeeded");
        let last = last_failure(&events, "app").unwrap();
        assert_eq!(last.logical_resource_id, "Bucket");
        assert_eq!(last_failure(&events[..2], "app"), None);
    }

    #[test]
    fn no_failure_no_cause() {
        let events = vec![ev("app", STACK_TYPE, "CREATE_COMPLETE", None)];
        assert_eq!(find(&events, "app"), None);
        assert_eq!(find(&[], "app"), None);
    }
}
