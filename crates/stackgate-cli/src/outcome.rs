//! Exit codes: what a CI job branches on. Documented in `stackgate --help` and docs/cli.md.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Deployed, deleted, or nothing to change.
    Done = 0,
    /// Any other failure: the stack operation failed, the API or the network did.
    Failed = 1,
    /// The command line or the request was refused as malformed.
    BadInput = 2,
    /// stackgate refused the change as unsafe, or a person said no.
    Refused = 3,
    /// The workflow waits for a person's decision.
    Waiting = 4,
}

/// The errors that mean "refused as unsafe": by the policy, the Guard rules, drift, or a person.
pub const REFUSALS: [&str; 6] = [
    "UnsafeChangeSet",
    "UnsafeDeletion",
    "GuardRuleFailed",
    "StackDrifted",
    "ChangeSetRejected",
    "DeletionRejected",
];

/// The states in which a workflow waits for people (safe deploy's and safe delete's).
pub const WAITING_FOR_PEOPLE: [&str; 1] = ["RequestApproval"];

impl Exit {
    /// An execution as `GET /executions/{id}` shows it. A running one is `Waiting` when its last
    /// state asks people, else `Done` (the query itself succeeded; `--follow` waits for the end).
    pub fn of_execution(execution: &Value) -> Exit {
        let status = execution["status"].as_str().unwrap_or_default();
        match status {
            "SUCCEEDED" => Exit::Done,
            "RUNNING" if waits_for_people(execution) => Exit::Waiting,
            "RUNNING" => Exit::Done,
            _ => match execution["error"].as_str() {
                Some(error) if REFUSALS.contains(&error) => Exit::Refused,
                Some("InvalidInput") => Exit::BadInput,
                _ => Exit::Failed,
            },
        }
    }

    /// A plan as `GET /plans/{id}` shows it: judged (whatever its verdict: applying decides), or
    /// nothing to change, is done; refused as it stands is a refusal.
    pub fn of_plan(plan: &Value) -> Exit {
        match plan["status"].as_str().unwrap_or_default() {
            "READY" | "NO_CHANGES" | "APPLIED" => Exit::Done,
            "REFUSED" if plan["error"] == "InvalidInput" => Exit::BadInput,
            "REFUSED" => Exit::Refused,
            _ => Exit::Failed,
        }
    }

    /// A release as `GET /releases/{id}` shows it: running is waiting when its one approval is
    /// out; refused, rejected or timed out is a refusal.
    pub fn of_release(release: &Value) -> Exit {
        match release["status"].as_str().unwrap_or_default() {
            "SUCCEEDED" => Exit::Done,
            "RUNNING" if release["waitingFor"] == "approval" => Exit::Waiting,
            "RUNNING" => Exit::Done,
            _ => match release["error"].as_str() {
                Some("ReleaseRefused" | "ReleaseRejected" | "ApprovalTimedOut") => Exit::Refused,
                _ => Exit::Failed,
            },
        }
    }

    /// An API problem: malformed requests are bad input, anything else a failure.
    pub fn of_problem(status: u16) -> Exit {
        match status {
            400 | 405 | 413 | 415 | 422 => Exit::BadInput,
            _ => Exit::Failed,
        }
    }
}

/// The execution runs and its last state waits for a person.
pub fn waits_for_people(execution: &Value) -> bool {
    execution["status"] == "RUNNING"
        && execution["states"]
            .as_array()
            .and_then(|states| states.last())
            .and_then(Value::as_str)
            .is_some_and(|state| WAITING_FOR_PEOPLE.contains(&state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_state_of_a_plan_has_its_exit_code() {
        let plan = |status: &str, error: Option<&str>| json!({"status": status, "error": error});
        assert_eq!(Exit::of_plan(&plan("READY", None)), Exit::Done);
        assert_eq!(Exit::of_plan(&plan("NO_CHANGES", None)), Exit::Done);
        assert_eq!(
            Exit::of_plan(&plan("REFUSED", Some("UnsafeChangeSet"))),
            Exit::Refused
        );
        assert_eq!(
            Exit::of_plan(&plan("REFUSED", Some("InvalidInput"))),
            Exit::BadInput
        );
        assert_eq!(Exit::of_plan(&plan("EXPIRED", None)), Exit::Failed);
        assert_eq!(
            Exit::of_plan(&plan("FAILED", Some("States.Timeout"))),
            Exit::Failed
        );
    }

    #[test]
    fn each_end_of_a_workflow_has_its_exit_code() {
        let cases = [
            (
                json!({"status": "SUCCEEDED", "output": {"outcome": "CREATED"}}),
                Exit::Done,
            ),
            (
                json!({"status": "SUCCEEDED", "output": {"outcome": "NO_CHANGES"}}),
                Exit::Done,
            ),
            (
                json!({"status": "FAILED", "error": "UnsafeChangeSet"}),
                Exit::Refused,
            ),
            (
                json!({"status": "FAILED", "error": "UnsafeDeletion"}),
                Exit::Refused,
            ),
            (
                json!({"status": "FAILED", "error": "GuardRuleFailed"}),
                Exit::Refused,
            ),
            (
                json!({"status": "FAILED", "error": "ChangeSetRejected"}),
                Exit::Refused,
            ),
            (
                json!({"status": "FAILED", "error": "InvalidInput"}),
                Exit::BadInput,
            ),
            (
                json!({"status": "FAILED", "error": "StackOperationFailed"}),
                Exit::Failed,
            ),
            (json!({"status": "TIMED_OUT"}), Exit::Failed),
            (json!({"status": "ABORTED"}), Exit::Failed),
            (
                json!({"status": "RUNNING", "states": ["PlanChangeSet", "RouteChangeSet", "RequestApproval"]}),
                Exit::Waiting,
            ),
            (
                json!({"status": "RUNNING", "states": ["PlanChangeSet"]}),
                Exit::Done,
            ),
            // Approved and going on: no longer waiting.
            (
                json!({"status": "RUNNING", "states": ["RequestApproval", "IsApproved", "KeepLease"]}),
                Exit::Done,
            ),
        ];
        for (execution, exit) in cases {
            assert_eq!(Exit::of_execution(&execution), exit, "{execution}");
        }
    }

    #[test]
    fn malformed_requests_are_bad_input_and_the_rest_failures() {
        for status in [400, 405, 413, 415] {
            assert_eq!(Exit::of_problem(status), Exit::BadInput);
        }
        for status in [403, 404, 409, 500, 503] {
            assert_eq!(Exit::of_problem(status), Exit::Failed);
        }
    }
}
