//! A judgement as the workflow keeps it and people read it: capped, unsafe first, with its diff.

use serde::Serialize;

use super::{JudgedChange, Verdict};

/// Changes listed in a judgement at most; unsafe ones come first, so none of them is cut before a
/// safe one. Keeps the state well under Step Functions' 256 KB limit.
pub const MAX_LISTED_CHANGES: usize = 200;

/// Listed changes that show their values (the first ones: unsafe, then security-sensitive).
pub const MAX_CHANGES_WITH_VALUES: usize = 10;

/// A judgement as the workflow keeps it and people read it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Judgement {
    pub verdict: Verdict,
    pub changes: Vec<JudgedChange>,
    pub total_changes: usize,
    pub unsafe_changes: usize,
    /// Changes that alter access; blue/green cannot route around them.
    pub security_sensitive_changes: usize,
    /// The diff as `+ ~ -` lines, unsafe first: what a person reads in a notification.
    pub summary: String,
    /// Drift found before the change set was made (`drift::Report`), for an update.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<crate::drift::Report>,
    /// The Guard rules the template failed (`RULE: Resource, …`), first in the summary.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guard_failures: Vec<String>,
    /// A safe plan goes to a person all the same: the drift needs one (`onDrift: approve`), or a
    /// Guard rule failed and the operator asks people (`GuardOnFailure=approve`).
    pub needs_approval: bool,
}

impl Judgement {
    pub fn new(verdict: Verdict, mut judged: Vec<JudgedChange>) -> Self {
        // Unsafe first, and among them the access changes, so that none is cut before a safe one.
        judged.sort_by_key(|c| (c.safe, !c.security_sensitive));
        let total_changes = judged.len();
        let unsafe_changes = judged.iter().filter(|c| !c.safe).count();
        let security_sensitive_changes = judged.iter().filter(|c| c.security_sensitive).count();
        judged
            .iter_mut()
            .skip(MAX_CHANGES_WITH_VALUES)
            .for_each(|c| c.values.clear());
        let summary = render_diff(&judged[..total_changes.min(MAX_LISTED_CHANGES)]);
        judged.truncate(MAX_LISTED_CHANGES);
        Judgement {
            verdict,
            changes: judged,
            total_changes,
            unsafe_changes,
            security_sensitive_changes,
            summary,
            drift: None,
            guard_failures: Vec::new(),
            needs_approval: false,
        }
    }

    /// The drift found before planning: listed first in the summary, so that people read it first.
    pub fn with_drift(mut self, report: crate::drift::Report) -> Self {
        let lines = report.lines();
        if !lines.is_empty() {
            self.summary = if self.summary.is_empty() {
                lines
            } else {
                format!("{lines}\n{}", self.summary)
            };
        }
        self.needs_approval |= report.decision == crate::drift::Decision::NeedsPerson;
        self.drift = Some(report);
        self
    }

    /// The Guard rules the template failed (each `RULE: Resource, …`), listed first in the summary;
    /// `ask` a person about them (the operator's `GuardOnFailure=approve`).
    pub fn with_guard_failures(mut self, failures: Vec<String>, ask: bool) -> Self {
        if failures.is_empty() {
            return self;
        }
        let lines: Vec<String> = failures.iter().map(|f| format!("! Guard {f}")).collect();
        let lines = lines.join("\n");
        self.summary = if self.summary.is_empty() {
            lines
        } else {
            format!("{lines}\n{}", self.summary)
        };
        self.needs_approval |= ask;
        self.guard_failures = failures;
        self
    }
}

/// The diff as `+ / ~ / -` lines, replacements marked, unsafe lines first with their reason.
pub fn render_diff(judged: &[JudgedChange]) -> String {
    let mut lines: Vec<(bool, bool, String)> = judged
        .iter()
        .map(|c| {
            let sign = match c.action.as_str() {
                "Add" | "Import" => '+',
                "Remove" => '-',
                _ => '~',
            };
            let marker = match c.replacement.as_deref() {
                Some("True") => " [REPLACE]",
                Some("Conditional") => " [MAY REPLACE]",
                _ if c.action == "Dynamic" => " [DYNAMIC]",
                _ => "",
            };
            let security = if c.security_sensitive {
                " [SECURITY]"
            } else {
                ""
            };
            let why = if c.safe {
                String::new()
            } else {
                format!(": {}", c.reason)
            };
            let mut line = format!(
                "{sign} {} ({}){marker}{security}{why}",
                c.logical_resource_id, c.resource_type
            );
            for value in &c.values {
                let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
                line.push_str(&format!(
                    "\n    {}: {} -> {}",
                    value.path,
                    or_none(&value.before),
                    or_none(&value.after)
                ));
            }
            (c.safe, !c.security_sensitive, line)
        })
        .collect();
    lines.sort_by_key(|(safe, not_security, _)| (*safe, *not_security));
    lines
        .into_iter()
        .map(|(_, _, line)| line)
        .collect::<Vec<_>>()
        .join("\n")
}
