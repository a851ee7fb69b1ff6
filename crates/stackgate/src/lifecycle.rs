//! What to do with a stack, given its CloudFormation status: the decisions behind "Check Stack".

use serde::{Deserialize, Serialize};

/// Which stack a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// The requested stack.
    Primary,
    /// The separate stack of a blue/green deployment.
    BlueGreen,
}

/// A change set name (and client token) stable for one execution and target: a plan's change set
/// is `change_set_name(plan, Primary)`, which its apply (and a release) finds it by.
pub fn change_set_name(execution_name: &str, target: Target) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{execution_name}/{target:?}").as_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("stackgate-{hex}")
}

/// The next step for a deployment, decided from the stack's current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StackAction {
    /// No stack: create one through a CREATE change set.
    Create,
    /// A stack that accepts an UPDATE change set.
    Update,
    /// A stack that never came up and cannot be updated: delete it, wait, then create.
    Recreate,
}

/// Why a stack cannot be deployed to right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// An operation is under way; fail fast instead of queueing behind it.
    Busy,
    /// A failed state that only a person can resolve safely.
    NeedsAttention(&'static str),
}

/// What a stack looks like to the decision: its status and, where it matters, whether it holds resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackState<'a> {
    pub status: &'a str,
    pub has_resources: bool,
}

/// Decides the action for a stack, or `None` status when the stack does not exist.
pub fn decide(stack: Option<&StackState<'_>>) -> Result<StackAction, Blocked> {
    let Some(stack) = stack else {
        return Ok(StackAction::Create);
    };
    match stack.status {
        "CREATE_COMPLETE"
        | "UPDATE_COMPLETE"
        | "UPDATE_ROLLBACK_COMPLETE"
        | "IMPORT_COMPLETE"
        | "IMPORT_ROLLBACK_COMPLETE"
        // An update with rollback disabled stopped here; CloudFormation accepts a new update.
        | "UPDATE_FAILED" => Ok(StackAction::Update),
        // A deleted stack is only visible by id; for a name it is as good as missing.
        "DELETE_COMPLETE" => Ok(StackAction::Create),
        // The first create never succeeded: nothing worth keeping, and no update is accepted.
        "ROLLBACK_COMPLETE" | "CREATE_FAILED" | "ROLLBACK_FAILED" => Ok(StackAction::Recreate),
        // A CREATE change set that was never executed leaves an empty stack in review.
        "REVIEW_IN_PROGRESS" if !stack.has_resources => Ok(StackAction::Recreate),
        "REVIEW_IN_PROGRESS" => Err(Blocked::NeedsAttention(
            "the stack is in review but holds resources; execute or delete its change set",
        )),
        "DELETE_FAILED" => Err(Blocked::NeedsAttention(
            "a delete failed and left resources behind; delete the stack (retaining what must stay) first",
        )),
        "UPDATE_ROLLBACK_FAILED" | "IMPORT_ROLLBACK_FAILED" => Err(Blocked::NeedsAttention(
            "the rollback failed; run ContinueUpdateRollback after fixing the failed resources",
        )),
        status if status.ends_with("_IN_PROGRESS") => Err(Blocked::Busy),
        _ => Err(Blocked::NeedsAttention(
            "unknown stack status; refusing to guess what is safe",
        )),
    }
}

/// Whether a status is final for a deploy/delete wait (no operation under way).
pub fn is_settled(status: &str) -> bool {
    !status.ends_with("_IN_PROGRESS")
}

/// How a finished stack operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationEnd {
    Succeeded,
    Failed,
}

/// Classifies a settled status after a deploy: only `CREATE_COMPLETE`/`UPDATE_COMPLETE`/`IMPORT_COMPLETE`
/// succeed; rollbacks and failures fail the deployment.
pub fn deploy_outcome(status: &str) -> OperationEnd {
    match status {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" => OperationEnd::Succeeded,
        _ => OperationEnd::Failed,
    }
}

/// Classifies a settled status after a delete.
pub fn delete_outcome(status: &str) -> OperationEnd {
    match status {
        "DELETE_COMPLETE" => OperationEnd::Succeeded,
        _ => OperationEnd::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::StackStatus;

    fn decide_status(status: &str) -> Result<StackAction, Blocked> {
        decide(Some(&StackState {
            status,
            has_resources: false,
        }))
    }

    #[test]
    fn missing_stack_is_created() {
        assert_eq!(decide(None), Ok(StackAction::Create));
    }

    #[test]
    fn every_cloudformation_status_has_a_deliberate_decision() {
        for status in StackStatus::values() {
            let decision = decide_status(status);
            let expected = match *status {
                "CREATE_COMPLETE"
                | "UPDATE_COMPLETE"
                | "UPDATE_ROLLBACK_COMPLETE"
                | "IMPORT_COMPLETE"
                | "IMPORT_ROLLBACK_COMPLETE"
                | "UPDATE_FAILED" => Ok(StackAction::Update),
                "DELETE_COMPLETE" => Ok(StackAction::Create),
                "ROLLBACK_COMPLETE" | "CREATE_FAILED" | "ROLLBACK_FAILED"
                | "REVIEW_IN_PROGRESS" => Ok(StackAction::Recreate),
                "DELETE_FAILED" | "UPDATE_ROLLBACK_FAILED" | "IMPORT_ROLLBACK_FAILED" => {
                    assert!(
                        matches!(decision, Err(Blocked::NeedsAttention(_))),
                        "{status}"
                    );
                    continue;
                }
                s if s.ends_with("_IN_PROGRESS") => Err(Blocked::Busy),
                other => panic!("status {other} has no expectation: add one"),
            };
            assert_eq!(decision, expected, "{status}");
        }
    }

    #[test]
    fn review_with_resources_is_not_deleted() {
        let state = StackState {
            status: "REVIEW_IN_PROGRESS",
            has_resources: true,
        };
        assert!(matches!(
            decide(Some(&state)),
            Err(Blocked::NeedsAttention(_))
        ));
    }

    #[test]
    fn unknown_status_is_refused() {
        assert!(matches!(
            decide_status("SOMETHING_NEW"),
            Err(Blocked::NeedsAttention(_))
        ));
    }

    #[test]
    fn outcomes_after_an_operation() {
        assert_eq!(deploy_outcome("UPDATE_COMPLETE"), OperationEnd::Succeeded);
        assert_eq!(deploy_outcome("CREATE_COMPLETE"), OperationEnd::Succeeded);
        for failed in [
            "UPDATE_ROLLBACK_COMPLETE",
            "ROLLBACK_COMPLETE",
            "CREATE_FAILED",
            "UPDATE_ROLLBACK_FAILED",
            "ROLLBACK_FAILED",
            "UPDATE_FAILED",
        ] {
            assert_eq!(deploy_outcome(failed), OperationEnd::Failed, "{failed}");
        }
        assert_eq!(delete_outcome("DELETE_COMPLETE"), OperationEnd::Succeeded);
        assert_eq!(delete_outcome("DELETE_FAILED"), OperationEnd::Failed);
        assert!(is_settled("UPDATE_ROLLBACK_COMPLETE"));
        assert!(!is_settled("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"));
        assert!(!is_settled("REVIEW_IN_PROGRESS"));
    }
}
