//! The typed errors a task returns. Each has a stable `errorType` so that the state machines'
//! `Retry`/`Catch` can target it by name (`ErrorEquals`).

use lambda_runtime::Diagnostic;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TaskError {
    /// The request itself is wrong; retrying cannot help.
    #[error("invalid input: field `{field}`: {message}")]
    InvalidInput { field: String, message: String },
    #[error("stack {stack} is busy ({status}); try again when its current operation has finished")]
    StackBusy { stack: String, status: String },
    #[error("stack {stack} is in {status} and needs an operator: {hint}")]
    StackNeedsAttention {
        stack: String,
        status: String,
        hint: String,
    },
    /// The stack exists but stackgate did not make it (it lacks the `stackgate:managed` tag of its
    /// environment): it is neither updated nor deleted.
    #[error("stack {stack} exists but was not created by stackgate (no stackgate:managed tag for its environment); an operator may adopt it by tagging it (docs/security.md)")]
    StackNotManaged { stack: String },
    #[error("template: {0}")]
    InvalidTemplate(String),
    /// The change set would delete or replace resources, or change access, and the request says to
    /// refuse that; the change set has been deleted, the stack is untouched.
    #[error("Refused change set {change_set} of stack {stack}: {unsafe_changes} of {total_changes} changes are unsafe (they delete, replace or change access). {summary}")]
    UnsafeChangeSet {
        stack: String,
        change_set: String,
        unsafe_changes: usize,
        total_changes: usize,
        summary: String,
    },
    #[error("change set {change_set} failed: {reason}")]
    ChangeSetFailed { change_set: String, reason: String },
    /// Raised when a wait ran out of its in-function budget; the state machine retries it (bounded).
    #[error("change set {0} is still being created")]
    ChangeSetPending(String),
    /// Raised when a wait ran out of its in-function budget; the state machine retries it (bounded).
    #[error("stack {stack} is still {status}")]
    StackStillInProgress { stack: String, status: String },
    #[error("{0}")]
    StackOperationFailed(String),
    /// The application on an instance is not ready yet; the workflow waits and checks again.
    #[error("instance {instance} is not ready: {reason}")]
    InstanceNotReady { instance: String, reason: String },
    /// Throttling, 5xx, timeouts: worth a retry.
    #[error("transient AWS error in {operation}: {message}")]
    AwsTransient { operation: String, message: String },
    #[error("access denied in {operation}: {message}")]
    AwsAccessDenied { operation: String, message: String },
    #[error("AWS error in {operation}: {message}")]
    Aws { operation: String, message: String },
}

impl TaskError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        TaskError::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The `errorType` the Lambda runtime reports and the state machines match on.
    pub fn error_type(&self) -> &'static str {
        match self {
            TaskError::InvalidInput { .. } => "InvalidInput",
            TaskError::StackBusy { .. } => "StackBusy",
            TaskError::StackNeedsAttention { .. } => "StackNeedsAttention",
            TaskError::StackNotManaged { .. } => "StackNotManaged",
            TaskError::InvalidTemplate(_) => "InvalidTemplate",
            TaskError::UnsafeChangeSet { .. } => "UnsafeChangeSet",
            TaskError::ChangeSetFailed { .. } => "ChangeSetFailed",
            TaskError::ChangeSetPending(_) => "ChangeSetPending",
            TaskError::StackStillInProgress { .. } => "StackStillInProgress",
            TaskError::StackOperationFailed(_) => "StackOperationFailed",
            TaskError::InstanceNotReady { .. } => "InstanceNotReady",
            TaskError::AwsTransient { .. } => "AwsTransientError",
            TaskError::AwsAccessDenied { .. } => "AwsAccessDenied",
            TaskError::Aws { .. } => "AwsError",
        }
    }
}

impl From<TaskError> for Diagnostic {
    fn from(error: TaskError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}
