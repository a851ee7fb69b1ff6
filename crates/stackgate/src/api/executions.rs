//! The API's executions: which workflow an id names, how a request's execution is named (the same
//! request, the same execution), and who may read one.

use super::*;

/// The workflows the API starts; an execution id begins with its workflow's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workflow {
    Deploy,
    Delete,
    Vend,
    Release,
}

impl Workflow {
    pub const ALL: [Workflow; 4] = [
        Workflow::Deploy,
        Workflow::Delete,
        Workflow::Vend,
        Workflow::Release,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workflow::Deploy => "deploy",
            Workflow::Delete => "delete",
            Workflow::Vend => "vend",
            Workflow::Release => "release",
        }
    }
}

/// Execution names for API requests: from the caller and the `Idempotency-Key` (so a replay by the
/// same caller finds the same execution, and two callers' keys never meet), or from the request id.
/// Prefixed by workflow so an id names its state machine. Reading an execution also checks the
/// caller (`may_read_execution`), so a guessed name is worth nothing to anyone else.
pub fn execution_name(
    workflow: Workflow,
    idempotency_key: Option<&str>,
    request_id: &str,
    caller: &str,
) -> String {
    match idempotency_key {
        Some(key) => format!("{}-k{}", workflow.name(), name_hash(&[caller, key])),
        None => format!("{}-r{}", workflow.name(), name_hash(&[request_id])),
    }
}

/// 32 hex digits of SHA-256 over the parts, each length-prefixed (no two lists of parts meet).
pub(super) fn name_hash(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for part in parts {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    digest
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `caller` may read an execution started with `input`: only the caller who asked for it.
pub fn may_read_execution(input: Option<&str>, caller: &str) -> bool {
    input
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|input| {
            input
                .get("requestedBy")
                .and_then(Value::as_str)
                .map(|who| who == caller)
        })
        .unwrap_or(false)
}

/// The workflow an execution id belongs to, from its prefix.
pub fn execution_workflow(id: &str) -> Option<Workflow> {
    let valid = id.len() <= 80
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return None;
    }
    Workflow::ALL.into_iter().find(|workflow| {
        id.strip_prefix(workflow.name())
            .is_some_and(|rest| rest.starts_with('-'))
    })
}
