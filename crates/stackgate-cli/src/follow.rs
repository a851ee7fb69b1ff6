//! Following an execution: its states as it enters them and, once it works on the stack,
//! CloudFormation's resource events as they happen, until it ends or waits for a person. The
//! workflow runs in Step Functions either way: stopping the CLI stops only the following.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use aws_smithy_types::date_time::{DateTime, Format};
use serde_json::Value;

use crate::client::{Api, CliError};
use crate::outcome::waits_for_people;
use crate::render::Printer;

/// How often the execution is read (`STACKGATE_FOLLOW_MS`, for tests; default 1 s).
pub fn interval() -> Duration {
    std::env::var("STACKGATE_FOLLOW_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

/// The states in which CloudFormation works on the stack: from then on its events are shown.
const STACK_OPERATION_STATES: [&str; 4] = [
    "ExecuteChangeSet",
    "DeleteUnusableStack",
    "DeleteStack",
    "WaitForStackOperation",
];

/// The states an execution entered, in order.
pub fn states(execution: &Value) -> Vec<String> {
    execution["states"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// A resource's event, as `GET /stacks/{name}/events` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceEvent {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
}

/// What has been shown of a stack's events during one execution, and how far its resources are.
#[derive(Debug, Default)]
pub struct StackProgress {
    shown: HashSet<String>,
    /// Each resource's latest status.
    latest: BTreeMap<String, String>,
}

impl StackProgress {
    /// The events (oldest first) not shown yet that happened since `since` (the execution's start;
    /// older ones belong to earlier operations). The stack's own events are counted as no resource.
    pub fn new_events(
        &mut self,
        events: &Value,
        since: Option<&str>,
        stack: &str,
    ) -> Vec<ResourceEvent> {
        let since = since.and_then(|s| DateTime::from_str(s, Format::DateTime).ok());
        let mut fresh = Vec::new();
        for event in events["events"].as_array().into_iter().flatten() {
            let text = |key: &str| event[key].as_str().unwrap_or_default().to_string();
            let id = text("eventId");
            if id.is_empty() || self.shown.contains(&id) {
                continue;
            }
            let at = event["timestamp"]
                .as_str()
                .and_then(|t| DateTime::from_str(t, Format::DateTime).ok());
            if let (Some(since), Some(at)) = (since, at) {
                if (at.secs(), at.subsec_nanos()) < (since.secs(), since.subsec_nanos()) {
                    continue;
                }
            }
            self.shown.insert(id);
            let logical_id = text("logicalResourceId");
            let status = text("status");
            if logical_id != stack {
                self.latest.insert(logical_id.clone(), status.clone());
            }
            fresh.push(ResourceEvent {
                logical_id,
                resource_type: text("resourceType"),
                status,
                reason: event["reason"]
                    .as_str()
                    .filter(|r| !r.is_empty())
                    .map(str::to_string),
            });
        }
        fresh
    }

    /// Resources whose latest status is final, of those seen.
    pub fn done(&self) -> (usize, usize) {
        let done = self
            .latest
            .values()
            .filter(|s| !s.ends_with("_IN_PROGRESS"))
            .count();
        (done, self.latest.len())
    }
}

/// Reads the execution until it ends or waits for a person, printing each state once and, for a
/// `stack`, its resource events; returns the execution as last read.
pub async fn execution(
    api: &Api,
    id: &str,
    printer: &Printer,
    stack: Option<&str>,
) -> Result<Value, CliError> {
    let mut shown = 0;
    let mut progress = StackProgress::default();
    loop {
        let reply = api
            .send(hyper::Method::GET, &format!("/executions/{id}"), None, None)
            .await?
            .ok()?;
        let entered = states(&reply.body);
        let ended = reply.body["status"] != "RUNNING";
        // While it runs, its states come first; once it has ended, the stack's last events (which
        // happened before its final states) do.
        if !ended {
            printer.states(&entered, shown);
        }
        let working = entered
            .iter()
            .any(|s| STACK_OPERATION_STATES.contains(&s.as_str()));
        if let (Some(stack), true) = (stack, working) {
            // The events are a view: one that cannot be read now is read at the next turn.
            if let Ok(Ok(events)) = api
                .send(
                    hyper::Method::GET,
                    &format!("/stacks/{stack}/events"),
                    None,
                    None,
                )
                .await
                .map(|r| r.ok())
            {
                let since = reply.body["startDate"].as_str();
                for event in progress.new_events(&events.body, since, stack) {
                    printer.resource_event(&event);
                }
                let (done, seen) = progress.done();
                printer.progress(done, seen);
            }
        }
        if ended {
            printer.states(&entered, shown);
        }
        shown = shown.max(entered.len());
        if ended || waits_for_people(&reply.body) {
            return Ok(reply.body);
        }
        tokio::time::sleep(interval()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(id: &str, at: &str, logical: &str, status: &str) -> Value {
        json!({"eventId": id, "timestamp": at, "logicalResourceId": logical,
               "resourceType": "AWS::SQS::Queue", "status": status, "reason": null})
    }

    #[test]
    fn each_event_is_shown_once_and_earlier_operations_not_at_all() {
        let mut progress = StackProgress::default();
        let first = json!({"events": [
            event("old", "2026-12-03T07:00:00Z", "Queue", "CREATE_COMPLETE"),
            event("older", "2026-12-03T07:10:00.1Z", "Queue", "CREATE_COMPLETE"),
            event("e1", "2026-12-03T07:10:01Z", "api-web", "UPDATE_IN_PROGRESS"),
            event("e2", "2026-12-03T07:10:02.5Z", "Queue", "UPDATE_IN_PROGRESS"),
        ]});
        // Within the same second as the start, an earlier event is still an earlier operation's.
        let since = Some("2026-12-03T07:10:00.117Z");
        let shown: Vec<String> = progress
            .new_events(&first, since, "api-web")
            .into_iter()
            .map(|e| format!("{} {}", e.logical_id, e.status))
            .collect();
        assert_eq!(
            shown,
            ["api-web UPDATE_IN_PROGRESS", "Queue UPDATE_IN_PROGRESS"]
        );
        assert_eq!(progress.done(), (0, 1), "the stack itself is no resource");

        let second = json!({"events": [
            event("e1", "2026-12-03T07:10:01Z", "api-web", "UPDATE_IN_PROGRESS"),
            event("e2", "2026-12-03T07:10:02.5Z", "Queue", "UPDATE_IN_PROGRESS"),
            event("e3", "2026-12-03T07:10:04Z", "Queue", "UPDATE_COMPLETE"),
            event("e4", "2026-12-03T07:10:04Z", "Topic", "CREATE_FAILED"),
        ]});
        let shown = progress.new_events(&second, since, "api-web");
        assert_eq!(shown.len(), 2);
        assert_eq!(progress.done(), (2, 2));
    }
}
