//! The change-set safety policy: no data is lost, and no access changes, without a person saying
//! yes. A change is judged by what it does to the resource's data (`stateful`: what a type holds;
//! `retention`: whether a retain or snapshot policy keeps it) and to access (`sensitive`), not by
//! the churn of logical ids: a SAM code update that removes a retained Lambda version is safe,
//! removing a table that a `Delete` policy would take with it is not.
//!
//! Fails closed: an action, replacement value or type this code does not know is unsafe.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::retention::{deletion_keeps_data, replacement_keeps_data, Policies, SNAPSHOT_TYPES};
use crate::sensitive::SensitiveTypes;
use crate::stateful::{Holds, StatefulTypes};
use crate::values::ShownValue;

use acceptance::{accepted_by, qualified_id, Loss, NESTED_STACK};

mod acceptance;
mod judgement;
#[cfg(test)]
mod tests;

pub use judgement::{render_diff, Judgement, MAX_CHANGES_WITH_VALUES, MAX_LISTED_CHANGES};

/// One resource change, as read from DescribeChangeSet (of the root or of a nested stack).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceChange {
    pub action: String,
    pub logical_resource_id: String,
    pub resource_type: String,
    /// `True`, `False`, `Conditional`, or absent.
    pub replacement: Option<String>,
    /// Logical ids of the nested stacks leading to this change, outermost first.
    pub nested_path: Vec<String>,
    /// Properties the change modifies, where CloudFormation names them (`Details`).
    pub changed_properties: Vec<String>,
    /// What CloudFormation will do with the physical resource (`PolicyAction`: `Delete`, `Retain`,
    /// `Snapshot`, `ReplaceAndDelete`, `ReplaceAndRetain`, `ReplaceAndSnapshot`), where it says.
    pub policy_action: Option<String>,
    /// A nested stack whose changes the change set does not list (no nested change set).
    pub nested_changes_unlisted: bool,
    /// The nested stack's own change set (its ARN), where the change set lists one: its template is
    /// what the Guard rules read of that stack.
    pub nested_change_set: Option<String>,
    /// The change's new values hold `{{changeSet:KNOWN_AFTER_APPLY}}` (known only at execution) and
    /// a property it changes may force a replacement (`RequiresRecreation` other than `Never`).
    pub replacement_known_after_apply: bool,
    /// The changed properties that force or may force the replacement (`RequiresRecreation`
    /// `Always` or `Conditionally`), named in the reason so that the author knows what to undo.
    pub replacing_properties: Vec<String>,
    /// Before and after values of the changed properties, masked (`values::shown`).
    pub values: Vec<ShownValue>,
    /// Where a nested stack or a stack set reads its template from, as the change set will use it
    /// (its `AfterContext`); `None` for types that read no template.
    pub template: Option<TemplateRef>,
}

/// The template a nested stack or stack set deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateRef {
    /// `TemplateURL`.
    Url(String),
    /// A stack set's own `TemplateBody`, part of the template judged.
    Inline,
    /// Not known before execution, masked, or not said.
    Unknown,
}

/// What the judgement takes besides the changes.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub sensitive: &'a SensitiveTypes,
    pub stateful: &'a StatefulTypes,
    /// The stack's resources' policies, from its current template (`retention::policies`); nested
    /// stacks' resources are judged by `PolicyAction` alone.
    pub policies: &'a BTreeMap<String, Policies>,
    /// The same from the change set's template: a replacement keeps its data only if both say so
    /// (which of the two CloudFormation applies is not something to bet data on).
    pub next_policies: &'a BTreeMap<String, Policies>,
    /// The stack's name, for the operator's protected logical ids written `stack:LogicalId`.
    pub stack: &'a str,
    /// Logical ids whose loss of data the request accepts (`allowDataLoss`); they count only where
    /// the operator lets requests say so.
    pub allow_data_loss: &'a [String],
}

/// The judgement on one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JudgedChange {
    pub action: String,
    /// Nested changes are named `Parent/Child`.
    pub logical_resource_id: String,
    pub resource_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    pub safe: bool,
    /// The change alters access (identities, policies, keys, network rules).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub security_sensitive: bool,
    pub reason: String,
    /// What the change does to its properties' values, masked and cut (`values::shown`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<ShownValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Safe,
    Unsafe,
    Empty,
}

/// What the planning step does with a change set it has judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Hand it to the workflow: executed when safe, else by approval or blue/green.
    Keep,
    /// Delete it and fail with `UnsafeChangeSet`.
    Refuse,
}

/// Unsafe change sets are refused when the request says to fail on them, and always on the
/// blue/green stack (which should only ever be created). A security-sensitive change cannot be
/// routed around by blue/green: a new stack would make the same access change.
pub fn disposition(
    verdict: Verdict,
    on_unsafe: crate::request::OnUnsafe,
    blue_green_target: bool,
    security_sensitive: bool,
) -> Disposition {
    use crate::request::OnUnsafe;
    match (verdict, on_unsafe) {
        (Verdict::Unsafe, OnUnsafe::Fail) => Disposition::Refuse,
        (Verdict::Unsafe, _) if blue_green_target => Disposition::Refuse,
        (Verdict::Unsafe, OnUnsafe::BlueGreen) if security_sensitive => Disposition::Refuse,
        _ => Disposition::Keep,
    }
}

/// Why a change alters access, or `None`.
pub fn security_reason(change: &ResourceChange, sensitive: &SensitiveTypes) -> Option<String> {
    if sensitive.matches(&change.resource_type) {
        return Some(format!(
            "security-sensitive: {} changes access",
            change.resource_type
        ));
    }
    crate::sensitive::access_property(&change.changed_properties)
        .map(|property| format!("security-sensitive: changes {property}, which decides access"))
}

/// What a removal or replacement does to the data: kept (`Ok`, with how), or lost (`Err`, with
/// why). `PolicyAction`, where the change set gives it, is what CloudFormation will do; else the
/// policies written in the templates. A snapshot counts only for types CloudFormation can snapshot.
fn data_kept(change: &ResourceChange, rules: &Rules, replacing: bool) -> Result<String, String> {
    let snapshots = SNAPSHOT_TYPES.contains(&change.resource_type.as_str());
    if let Some(action) = change.policy_action.as_deref() {
        let keeps = match (replacing, action) {
            (false, "Retain") | (true, "ReplaceAndRetain") => true,
            (false, "Snapshot") | (true, "ReplaceAndSnapshot") => snapshots,
            _ => false,
        };
        return if keeps {
            Ok(format!("PolicyAction {action}: the data is kept"))
        } else {
            Err(format!("PolicyAction {action}: data lost"))
        };
    }
    let written = |policies: &BTreeMap<String, Policies>| {
        change
            .nested_path
            .is_empty()
            .then(|| policies.get(&change.logical_resource_id))
            .flatten()
            .and_then(|p| {
                if replacing {
                    p.update_replace.clone()
                } else {
                    p.deletion.clone()
                }
            })
    };
    let now = written(rules.policies);
    let (attribute, keeps) = if replacing {
        let next = written(rules.next_policies);
        let keeps = replacement_keeps_data(now.as_deref(), &change.resource_type)
            && replacement_keeps_data(next.as_deref(), &change.resource_type);
        ("UpdateReplacePolicy", keeps)
    } else {
        let keeps = deletion_keeps_data(now.as_deref(), &change.resource_type);
        ("DeletionPolicy", keeps)
    };
    // Only CloudFormation's own words are repeated.
    let shown = now
        .as_deref()
        .filter(|w| ["Retain", "Snapshot", "RetainExceptOnCreate", "Delete"].contains(w))
        .unwrap_or("Delete");
    if keeps {
        Ok(format!("{attribute} {shown}: the data is kept"))
    } else if now.as_deref() == Some("Snapshot") && !snapshots {
        Err(format!(
            "{attribute} Snapshot, which this type does not support: data lost"
        ))
    } else if replacing && shown != "Delete" {
        Err(format!(
            "{attribute} {shown} now, not in the new template: data lost"
        ))
    } else {
        Err(format!("{attribute} {shown}: data lost"))
    }
}

/// Why a change is unsafe (`Err`), or what it does when it is safe (`Ok`).
pub fn judge_change(change: &ResourceChange, rules: &Rules) -> Result<String, String> {
    let mut what = format!("{} {}", change.resource_type, qualified_id(change));
    if change.action == "Modify" && !change.replacing_properties.is_empty() {
        what = format!(
            "{what} (changing {})",
            change.replacing_properties.join(", ")
        );
    }
    let id = qualified_id(change);
    let holds = rules
        .stateful
        .holds_resource(rules.stack, &id, &change.resource_type);
    let no_data = |verb: &str| format!("{verb} {what}: holds no data");
    if change.nested_changes_unlisted {
        return Err(format!(
            "{what}: the nested stack's changes are not listed, so they cannot be judged"
        ));
    }
    // An update that may happen in place (whatever else it may do) can expire data.
    let shortened = (change.action == "Modify"
        && change.replacement.as_deref() != Some("True")
        && holds != Holds::Nothing)
        .then(|| {
            crate::in_place::data_shortened(
                &change.resource_type,
                &change.changed_properties,
                &change.values,
            )
        })
        .flatten();
    let judgement = match (change.action.as_str(), change.replacement.as_deref()) {
        ("Add" | "Import", _) => Ok("new resource".into()),
        ("SyncWithActual", _) => Ok("synchronised with the resource as it is".into()),
        ("Modify", None | Some("False"))
            if change.replacement_known_after_apply && holds != Holds::Nothing =>
        {
            Err(format!(
                "may replace {what}: a property that can force a replacement takes a value known only at execution ({{{{changeSet:KNOWN_AFTER_APPLY}}}}): data may be lost"
            ))
        }
        ("Modify", None | Some("False")) if shortened.is_some() => Err(format!(
            "updates {what} in place: {}",
            shortened.as_deref().unwrap_or_default()
        )),
        ("Modify", None | Some("False")) => Ok("updated in place".into()),
        ("Remove", _) if holds == Holds::Nothing => Ok(no_data("removes")),
        ("Remove", _) => data_kept(change, rules, false)
            .map(|kept| format!("removes {what}; {kept}"))
            .map_err(|lost| format!("removes {what}; {lost}")),
        ("Modify", Some("True")) if holds == Holds::Nothing => Ok(no_data("replaces")),
        ("Modify", Some("True")) => data_kept(change, rules, true)
            .map(|kept| format!("replaces {what}; {kept}"))
            .map_err(|lost| format!("replaces {what}; {lost}")),
        ("Modify", Some("Conditional")) if holds == Holds::Nothing => {
            Ok(no_data("may replace"))
        }
        ("Modify", Some("Conditional")) => Err(format!(
            "may replace {what}, depending on values known only at execution: data may be lost"
        )),
        ("Dynamic", _) if holds == Holds::Nothing => Ok(no_data("decided at execution for")),
        ("Dynamic", _) => Err(format!(
            "{what} is only decided at execution time (dynamic reference or macro): it may be deleted or replaced"
        )),
        ("Modify", Some(_)) => return Err(format!("{what}: an unknown replacement value")),
        _ => return Err(format!("{what}: an unknown change action")),
    };
    let loss = match (change.action.as_str(), change.replacement.as_deref()) {
        ("Remove", _) => Loss::Removal,
        ("Dynamic", _) => Loss::Either,
        _ if shortened.is_some() => Loss::InPlace,
        _ => Loss::Replacement,
    };
    let judgement = match (judgement, &shortened) {
        // A replacement that may not happen: if it does not, the update in place expires data.
        (Err(lost), Some(why)) if !lost.contains(why.as_str()) => {
            Err(format!("{lost}; if updated in place, it {why}"))
        }
        (judgement, _) => judgement,
    };
    judgement.or_else(|lost| match accepted_by(change, &id, rules, loss) {
        Some(who) => Ok(format!("{lost}; accepted by {who}")),
        None => Err(lost),
    })
}

/// Judges every change and the change set as a whole.
pub fn judge(changes: &[ResourceChange], rules: &Rules) -> (Verdict, Vec<JudgedChange>) {
    let judged: Vec<JudgedChange> = changes
        .iter()
        .map(|change| {
            judged_change(
                change,
                security_reason(change, rules.sensitive),
                judge_change(change, rules),
            )
        })
        .collect();
    (verdict_of(&judged), judged)
}

/// Judges the deletion of a whole stack: every resource in it is removed. Each is judged for its
/// data as a removal (`DeletionPolicy` in the stack's current template). Access only shrinks when
/// identities and grants go, so a security-sensitive type is no reason by itself; but removing a
/// resource policy that may deny (a bucket policy refusing plain HTTP or other accounts) may open
/// what it protected, a retained store of the stack or a resource outside it, and that is unsafe. A nested stack takes
/// everything in it along, which is not judged resource by resource: unsafe unless it is retained.
pub fn judge_deletion(resources: &[ResourceChange], rules: &Rules) -> (Verdict, Vec<JudgedChange>) {
    // Deleting a stack is asked for by name, not written in a template: only its retain policies,
    // or a person, keep its data (no template's or request's word accepts the loss).
    let mut stateful = rules.stateful.clone();
    stateful.intent = crate::stateful::DataLossIntent::default();
    let rules = &Rules {
        stateful: &stateful,
        ..*rules
    };
    let removals: Vec<ResourceChange> = resources
        .iter()
        .map(|r| ResourceChange {
            action: "Remove".into(),
            replacement: None,
            policy_action: None,
            nested_changes_unlisted: false,
            ..r.clone()
        })
        .collect();
    let judged: Vec<JudgedChange> = removals
        .iter()
        .map(|removal| {
            // A resource kept by its own policy is not removed, so it opens nothing.
            let removed = data_kept(removal, rules, false).is_err();
            let security = (removed && MAY_DENY.contains(&removal.resource_type.as_str())).then(|| {
                format!(
                    "security-sensitive: removes {}, whose denials may protect data in this stack or outside it",
                    removal.resource_type
                )
            });
            let judgement = if removal.resource_type == NESTED_STACK {
                data_kept(removal, rules, false)
                    .map(|how| format!("removes nested stack {}; {how}", removal.logical_resource_id))
                    .map_err(|_| format!(
                        "removes nested stack {} and everything in it, which is not judged resource by resource: data may be lost",
                        removal.logical_resource_id
                    ))
            } else {
                judge_change(removal, rules)
            };
            judged_change(removal, security, judgement)
        })
        .collect();
    (verdict_of(&judged), judged)
}

/// Resource policies and rules that can deny: removing one can open what it protected.
const MAY_DENY: &[&str] = &[
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SecretsManager::ResourcePolicy",
    "AWS::Events::EventBusPolicy",
    "AWS::Logs::ResourcePolicy",
    "AWS::ECR::RegistryPolicy",
    "AWS::EC2::NetworkAcl",
    "AWS::EC2::NetworkAclEntry",
];

fn judged_change(
    change: &ResourceChange,
    security: Option<String>,
    judgement: Result<String, String>,
) -> JudgedChange {
    let reason = match (&security, &judgement) {
        (Some(security), Ok(what) | Err(what)) => format!("{security}; {what}"),
        (None, Ok(what) | Err(what)) => what.clone(),
    };
    JudgedChange {
        action: change.action.clone(),
        logical_resource_id: qualified_id(change),
        resource_type: change.resource_type.clone(),
        replacement: change.replacement.clone(),
        safe: security.is_none() && judgement.is_ok(),
        security_sensitive: security.is_some(),
        reason,
        values: change.values.clone(),
    }
}

fn verdict_of(judged: &[JudgedChange]) -> Verdict {
    if judged.is_empty() {
        Verdict::Empty
    } else if judged.iter().any(|c| !c.safe) {
        Verdict::Unsafe
    } else {
        Verdict::Safe
    }
}
