//! A release's one approval: each stack as its plan judged it, and when that yes lets a plan
//! execute without a decision of its own.

use serde::{Deserialize, Serialize};

use super::{ApprovalKind, Status, StoredApproval};

/// One stack of a release as its plan judged it: what a person approves it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedStack {
    pub stack_name: String,
    /// The plan (its execution name): the apply executes exactly this plan's change set.
    pub plan: String,
    pub change_set_name: String,
    /// Where it is deployed: shown as stackgate's own account and Region when none.
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    pub verdict: String,
    pub unsafe_changes: u64,
    pub total_changes: u64,
    /// The diff as `+ / ~ / -` lines, cut to its share of the stored request.
    pub summary: String,
    /// SHA-256 of the whole diff, uncut: the apply executes on this approval only while its own
    /// judgement is the one people saw (`PlannedStack::judged_alike`).
    #[serde(default)]
    pub summary_digest: String,
}

impl PlannedStack {
    /// Whether a judgement made again at apply time is the one people approved: the same verdict,
    /// the same counts and the same diff (drift found since, a Guard rule added since, a changed
    /// retention all change it). Anything else goes to a person again.
    pub fn judged_alike(
        &self,
        verdict: &str,
        unsafe_changes: u64,
        total_changes: u64,
        summary: &str,
    ) -> bool {
        !self.summary_digest.is_empty()
            && self.verdict == verdict
            && self.unsafe_changes == unsafe_changes
            && self.total_changes == total_changes
            && self.summary_digest == summary_digest(summary)
    }
}

/// SHA-256 of a diff, in hex.
pub fn summary_digest(summary: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(summary.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a stored approval holds at most of a release's diffs: a DynamoDB item is at most 400 KB.
pub const RELEASE_SUMMARY_BYTES: usize = 300_000;

/// A stack's diff cut at a line to `budget` bytes, saying how much was cut and where it all is.
pub fn cut_summary(summary: &str, budget: usize, plan: &str) -> String {
    if summary.len() <= budget {
        return summary.to_string();
    }
    let mut kept = String::new();
    let lines: Vec<&str> = summary.lines().collect();
    let mut shown = 0;
    for line in &lines {
        if kept.len() + line.len() + 1 > budget {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
        shown += 1;
    }
    kept.push_str(&format!(
        "... and {} more lines: the plan {plan} holds the whole diff",
        lines.len() - shown
    ));
    kept
}

/// Whether a stored approval lets a release's `plan` execute without a decision of its own: a
/// release's approval that a person approved and whose stacks include exactly that plan (which it
/// returns, as people saw it). `Err` says why not.
pub fn release_approves<'a>(
    stored: &'a StoredApproval,
    plan: &str,
) -> Result<&'a PlannedStack, &'static str> {
    if stored.request.kind != ApprovalKind::Release {
        return Err("is not a release's approval");
    }
    if stored.status != Status::Approved {
        return Err("was not approved by a person");
    }
    stored
        .request
        .stacks
        .iter()
        .find(|s| s.plan == plan)
        .ok_or("does not list this plan")
}
