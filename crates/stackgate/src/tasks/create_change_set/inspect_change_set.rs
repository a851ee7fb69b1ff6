//! Inspection, a step of create-change-set's plan: judges every change (all pages, nested stacks)
//! against the safety policy, with the retain policies of the stack's current template.

use serde::Serialize;

use std::collections::BTreeMap;

use super::Deps;
use crate::aws::cloudformation;
use crate::policy::{judge, render_diff, JudgedChange, Rules, Verdict};
use crate::retention;
use crate::TaskError;

/// Changes listed in the output at most; unsafe ones come first, so none of them is cut before a safe one.
/// Keeps the state well under Step Functions' 256 KB limit.
pub const MAX_LISTED_CHANGES: usize = 200;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub verdict: Verdict,
    pub changes: Vec<JudgedChange>,
    pub total_changes: usize,
    pub unsafe_changes: usize,
    /// Changes that alter access; blue/green cannot route around them.
    pub security_sensitive_changes: usize,
    /// The diff as `+ ~ -` lines, unsafe first: what a person reads in a notification.
    pub summary: String,
}

/// Judges a change set. `stack_exists`: the change set updates a stack whose current template
/// holds the retain policies of what it removes or replaces.
pub async fn inspect(
    deps: &Deps,
    stack: &str,
    change_set: &str,
    stack_exists: bool,
) -> Result<Output, TaskError> {
    let changes = cloudformation::all_changes(&deps.cloudformation, stack, change_set).await?;
    let removes_or_replaces = changes.iter().any(|c| {
        c.action != "Add" && !(c.action == "Modify" && c.replacement.as_deref() == Some("False"))
    });
    let (policies, next_policies) = if stack_exists && removes_or_replaces {
        (
            retain_policies(deps, stack, None).await?,
            retain_policies(deps, stack, Some(change_set)).await?,
        )
    } else {
        (BTreeMap::new(), BTreeMap::new())
    };
    let rules = Rules {
        sensitive: &deps.sensitive,
        stateful: &deps.stateful,
        policies: &policies,
        next_policies: &next_policies,
    };
    let output = summarise(&changes, &rules);
    tracing::info!(stack, change_set, verdict = ?output.verdict, total = output.total_changes, unsafe_changes = output.unsafe_changes, "change set inspected");
    Ok(output)
}

/// The retain policies of the stack's current template, or of the change set's.
async fn retain_policies(
    deps: &Deps,
    stack: &str,
    change_set: Option<&str>,
) -> Result<BTreeMap<String, retention::Policies>, TaskError> {
    Ok(
        cloudformation::current_template(&deps.cloudformation, stack, change_set)
            .await?
            .map(|text| retention::policies(&text))
            .unwrap_or_default(),
    )
}

pub fn summarise(changes: &[crate::policy::ResourceChange], rules: &Rules) -> Output {
    let (verdict, mut judged) = judge(changes, rules);
    // Unsafe first, and among them the access changes, so that none is cut before a safe one.
    judged.sort_by_key(|c| (c.safe, !c.security_sensitive));
    let total_changes = judged.len();
    let unsafe_changes = judged.iter().filter(|c| !c.safe).count();
    let security_sensitive_changes = judged.iter().filter(|c| c.security_sensitive).count();
    let summary = render_diff(&judged[..total_changes.min(MAX_LISTED_CHANGES)]);
    judged.truncate(MAX_LISTED_CHANGES);
    Output {
        verdict,
        changes: judged,
        total_changes,
        unsafe_changes,
        security_sensitive_changes,
        summary,
    }
}
