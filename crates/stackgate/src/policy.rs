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
    /// The change's new values hold `{{changeSet:KNOWN_AFTER_APPLY}}` (known only at execution) and
    /// a property it changes may force a replacement (`RequiresRecreation` other than `Never`).
    pub replacement_known_after_apply: bool,
    /// The changed properties that force or may force the replacement (`RequiresRecreation`
    /// `Always` or `Conditionally`), named in the reason so that the author knows what to undo.
    pub replacing_properties: Vec<String>,
    /// Before and after values of the changed properties, masked (`values::shown`).
    pub values: Vec<ShownValue>,
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

/// How a change may lose a resource's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loss {
    Removal,
    Replacement,
    /// Decided at execution (`Dynamic`): either.
    Either,
    /// An update in place that expires data (`in_place`): only the request may accept it, naming
    /// the resource; the template has no word for it.
    InPlace,
}

/// Who accepted that this removal or replacement loses data, where the operator lets them and
/// did not protect the resource: the request (`allowDataLoss`), or the template's own `Metadata`
/// (`allowReplace` in the change set's template for a replacement, `allowRemove` in the current
/// one for a removal: the template that still holds the resource; both for a `Dynamic` change).
/// Resources in nested stacks are accepted only by the request, by their `Parent/Child` id.
fn accepted_by(
    change: &ResourceChange,
    id: &str,
    rules: &Rules,
    loss: Loss,
) -> Option<&'static str> {
    let intent = rules.stateful.intent;
    // What a stack holds is not judged resource by resource: its loss may take protected data.
    if CONTAINERS.contains(&change.resource_type.as_str())
        || rules
            .stateful
            .operator_protects(rules.stack, id, &change.resource_type)
    {
        return None;
    }
    if intent.request && rules.allow_data_loss.iter().any(|a| a == id) {
        return Some("the request (allowDataLoss)");
    }
    if !intent.template || !change.nested_path.is_empty() {
        return None;
    }
    let replace = rules.next_policies.get(id).is_some_and(|p| p.allow_replace);
    let remove = rules.policies.get(id).is_some_and(|p| p.allow_remove);
    match loss {
        Loss::Replacement if replace => Some("the template (Metadata stackgate.allowReplace)"),
        Loss::Removal if remove => Some("the template (Metadata stackgate.allowRemove)"),
        Loss::Either if replace && remove => {
            Some("the template (Metadata stackgate.allowReplace and allowRemove)")
        }
        _ => None,
    }
}

fn qualified_id(change: &ResourceChange) -> String {
    let mut parts = change.nested_path.clone();
    parts.push(change.logical_resource_id.clone());
    parts.join("/")
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

const NESTED_STACK: &str = "AWS::CloudFormation::Stack";

/// Resources that are whole stacks: removing or replacing one removes everything in it.
const CONTAINERS: &[&str] = &[
    NESTED_STACK,
    "AWS::ServiceCatalog::CloudFormationProvisionedProduct",
];

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
    /// The drift needs a person (`onDrift: approve`): a safe plan goes to approval all the same.
    pub drift_needs_approval: bool,
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
            drift_needs_approval: false,
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
        self.drift_needs_approval = report.decision == crate::drift::Decision::NeedsPerson;
        self.drift = Some(report);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unsafe_change_sets_are_refused_and_only_when_asked_or_on_the_blue_green_stack() {
        use crate::request::OnUnsafe::*;
        use Disposition::{Keep, Refuse};
        for on_unsafe in [Fail, Approve, BlueGreen] {
            for blue_green in [false, true] {
                for security in [false, true] {
                    assert_eq!(
                        disposition(Verdict::Safe, on_unsafe, blue_green, security),
                        Keep
                    );
                    assert_eq!(
                        disposition(Verdict::Empty, on_unsafe, blue_green, security),
                        Keep
                    );
                }
            }
        }
        for (on_unsafe, blue_green, expected) in [
            (Fail, false, Refuse),
            (Approve, false, Keep),
            (BlueGreen, false, Keep),
            (BlueGreen, true, Refuse),
            (Approve, true, Refuse),
        ] {
            assert_eq!(
                disposition(Verdict::Unsafe, on_unsafe, blue_green, false),
                expected,
                "{on_unsafe:?}, blue/green target {blue_green}"
            );
        }
    }

    fn change(action: &str, replacement: Option<&str>) -> ResourceChange {
        ResourceChange {
            action: action.into(),
            logical_resource_id: "Res".into(),
            resource_type: "AWS::S3::Bucket".into(),
            replacement: replacement.map(str::to_string),
            nested_path: vec![],
            changed_properties: vec![],
            ..ResourceChange::default()
        }
    }

    /// Every way a data store may lose its data is accepted by the right word only: the request's
    /// id, the template's intent for that kind of loss; never an access change or an unknown action.
    #[test]
    fn a_data_loss_is_accepted_only_by_who_the_operator_lets_and_only_for_its_kind() {
        use crate::stateful::DataLossIntent;
        let both = DataLossIntent {
            template: true,
            request: true,
        };
        let intent = |replace: bool, remove: bool| {
            BTreeMap::from([(
                "Res".to_string(),
                Policies {
                    allow_replace: replace,
                    allow_remove: remove,
                    ..Policies::default()
                },
            )])
        };
        let judge = |change: &ResourceChange,
                     intent_now: &BTreeMap<String, Policies>,
                     intent_next: &BTreeMap<String, Policies>,
                     allow: &[String],
                     who: DataLossIntent| {
            let stateful = StatefulTypes::default().with_operator_floor(vec![], who);
            let rules = Rules {
                sensitive: &SensitiveTypes::default(),
                stateful: &stateful,
                policies: intent_now,
                next_policies: intent_next,
                stack: "dev-app",
                allow_data_loss: allow,
            };
            judge_change(change, &rules)
        };
        let none = BTreeMap::new();
        let known_after_apply = ResourceChange {
            replacement_known_after_apply: true,
            ..change("Modify", Some("False"))
        };
        let replacements = [
            change("Modify", Some("True")),
            change("Modify", Some("Conditional")),
            known_after_apply,
        ];
        for replacement in &replacements {
            assert!(judge(replacement, &none, &none, &[], both).is_err());
            let accepted = judge(replacement, &none, &intent(true, false), &[], both);
            assert!(
                accepted
                    .as_ref()
                    .is_ok_and(|r| r.contains("accepted by the template")),
                "{accepted:?}"
            );
            // The removal's word, or the word in the current template only, is not a replacement's.
            assert!(judge(
                replacement,
                &intent(true, true),
                &intent(false, true),
                &[],
                both
            )
            .is_err());
            // The operator did not let templates say so.
            let request_only = DataLossIntent {
                template: false,
                request: true,
            };
            assert!(judge(replacement, &none, &intent(true, false), &[], request_only).is_err());
            assert!(judge(replacement, &none, &none, &["Res".into()], request_only).is_ok());
        }
        let removal = change("Remove", None);
        assert!(judge(&removal, &none, &intent(false, true), &[], both).is_err());
        assert!(judge(&removal, &intent(false, true), &none, &[], both).is_ok());
        // A change decided at execution may be either: the template says both, or nothing.
        let dynamic = change("Dynamic", None);
        assert!(judge(&dynamic, &none, &intent(true, false), &[], both).is_err());
        assert!(judge(
            &dynamic,
            &intent(true, true),
            &intent(true, true),
            &[],
            both
        )
        .is_ok());
        // What is not a data loss is not accepted away.
        let unknown = change("Modify", Some("Sometimes"));
        assert!(judge(&unknown, &none, &none, &["Res".into()], both).is_err());
        let unlisted = ResourceChange {
            nested_changes_unlisted: true,
            ..change("Modify", Some("True"))
        };
        assert!(judge(&unlisted, &none, &none, &["Res".into()], both).is_err());
        // Nested resources: only the request, by their full id.
        let nested = ResourceChange {
            nested_path: vec!["Data".into()],
            ..change("Remove", None)
        };
        assert!(judge(&nested, &intent(true, true), &intent(true, true), &[], both).is_err());
        assert!(judge(&nested, &none, &none, &["Res".into()], both).is_err());
        assert!(judge(&nested, &none, &none, &["Data/Res".into()], both).is_ok());
    }

    #[test]
    fn data_expired_in_place_needs_a_person_or_the_requests_word_never_the_templates() {
        use crate::stateful::DataLossIntent;
        let shorter = ResourceChange {
            action: "Modify".into(),
            replacement: Some("False".into()),
            logical_resource_id: "Logs".into(),
            resource_type: "AWS::Logs::LogGroup".into(),
            changed_properties: vec!["RetentionInDays".into()],
            values: vec![ShownValue {
                path: "/Properties/RetentionInDays".into(),
                before: Some("30".into()),
                after: Some("7".into()),
            }],
            ..ResourceChange::default()
        };
        let intent = BTreeMap::from([(
            "Logs".to_string(),
            Policies {
                allow_replace: true,
                allow_remove: true,
                ..Policies::default()
            },
        )]);
        let stateful = StatefulTypes::default().with_operator_floor(
            vec![],
            DataLossIntent {
                template: true,
                request: true,
            },
        );
        let judge = |allow: &[String], stateful: &StatefulTypes| {
            judge_change(
                &shorter,
                &Rules {
                    sensitive: &SensitiveTypes::default(),
                    stateful,
                    policies: &intent,
                    next_policies: &intent,
                    stack: "dev-app",
                    allow_data_loss: allow,
                },
            )
        };
        let refused = judge(&[], &stateful).unwrap_err();
        assert_eq!(
            refused,
            "updates AWS::Logs::LogGroup Logs in place: shortens RetentionInDays: data older than the new period is deleted"
        );
        assert!(judge(&["Logs".into()], &stateful)
            .is_ok_and(|r| r.ends_with("accepted by the request (allowDataLoss)")));
        // A log group the operator released holds nothing to lose.
        let released = StatefulTypes::new(vec![], vec!["AWS::Logs::LogGroup".into()]);
        assert!(judge(&[], &released).is_ok());
    }

    /// Found by an attacker's review: a whole stack's removal, a stack's deletion, and a retention
    /// cut hidden behind a replacement that may not happen are not accepted by a template's word.
    #[test]
    fn what_a_word_cannot_accept_stacks_deletions_and_expiry_behind_a_replacement() {
        use crate::stateful::DataLossIntent;
        let stateful = StatefulTypes::default().with_operator_floor(
            vec![],
            DataLossIntent {
                template: true,
                request: true,
            },
        );
        let intent = |id: &str| {
            BTreeMap::from([(
                id.to_string(),
                Policies {
                    allow_replace: true,
                    allow_remove: true,
                    ..Policies::default()
                },
            )])
        };
        let sensitive = SensitiveTypes::default();
        let rules = |policies, allow| Rules {
            sensitive: &sensitive,
            stateful: &stateful,
            policies,
            next_policies: policies,
            stack: "dev-app",
            allow_data_loss: allow,
        };
        let data = &intent("Data");
        let allow_data: &[String] = &["Data".to_string()];
        let nested = with_type(change("Remove", None), "AWS::CloudFormation::Stack", "Data");
        assert!(judge_change(&nested, &rules(data, &[])).is_err());
        assert!(judge_change(&nested, &rules(data, allow_data)).is_err());
        let product = with_type(
            change("Remove", None),
            "AWS::ServiceCatalog::CloudFormationProvisionedProduct",
            "Data",
        );
        assert!(judge_change(&product, &rules(data, allow_data)).is_err());

        // Deleting the stack: the table's own word does not keep its data.
        let table = with_type(change("Remove", None), "AWS::DynamoDB::Table", "Data");
        assert!(
            judge_change(&table, &rules(data, &[])).is_ok(),
            "an update's removal"
        );
        let (verdict, judged) = judge_deletion(&[table], &rules(data, &[]));
        assert_eq!(verdict, Verdict::Unsafe, "{judged:?}");

        // A conditional replacement that also cuts the retention: if updated in place, data
        // expires, which only the request may accept.
        let logs = ResourceChange {
            changed_properties: vec!["RetentionInDays".into(), "LogGroupName".into()],
            values: vec![ShownValue {
                path: "/Properties/RetentionInDays".into(),
                before: Some("3653".into()),
                after: Some("1".into()),
            }],
            ..with_type(
                change("Modify", Some("Conditional")),
                "AWS::Logs::LogGroup",
                "Data",
            )
        };
        let refused = judge_change(&logs, &rules(data, &[])).unwrap_err();
        assert!(
            refused.contains("if updated in place, it shortens RetentionInDays"),
            "{refused}"
        );
        assert!(judge_change(&logs, &rules(data, allow_data)).is_ok());
    }

    #[test]
    fn an_accepted_data_loss_is_still_an_access_change_when_it_is_one() {
        let stateful = StatefulTypes::new(vec![], vec![]).with_operator_floor(
            vec![],
            crate::stateful::DataLossIntent {
                template: true,
                request: true,
            },
        );
        let key = ResourceChange {
            action: "Remove".into(),
            logical_resource_id: "Key".into(),
            resource_type: "AWS::KMS::Key".into(),
            ..ResourceChange::default()
        };
        let rules = Rules {
            sensitive: &SensitiveTypes::default(),
            stateful: &stateful,
            policies: &BTreeMap::new(),
            next_policies: &BTreeMap::new(),
            stack: "dev-app",
            allow_data_loss: &["Key".to_string()],
        };
        let (verdict, judged) = super::judge(&[key], &rules);
        assert_eq!(verdict, Verdict::Unsafe);
        assert!(
            judged[0].reason.starts_with("security-sensitive"),
            "{}",
            judged[0].reason
        );
        assert!(judged[0].reason.contains("accepted by the request"));
    }

    fn with_type(mut change: ResourceChange, resource_type: &str, id: &str) -> ResourceChange {
        change.resource_type = resource_type.into();
        change.logical_resource_id = id.into();
        change
    }

    fn judge(changes: &[ResourceChange]) -> (Verdict, Vec<JudgedChange>) {
        judge_with(changes, &BTreeMap::new())
    }

    fn judge_with(
        changes: &[ResourceChange],
        policies: &BTreeMap<String, Policies>,
    ) -> (Verdict, Vec<JudgedChange>) {
        let rules = Rules {
            sensitive: &SensitiveTypes::default(),
            stateful: &StatefulTypes::default(),
            policies,
            next_policies: policies,
            stack: "dev-app",
            allow_data_loss: &[],
        };
        super::judge(changes, &rules)
    }

    #[test]
    fn security_sensitive_changes_are_unsafe_whatever_the_action_and_never_blue_green() {
        use crate::request::OnUnsafe::*;
        for action in ["Add", "Modify", "Remove", "Import"] {
            let mut user = change(action, Some("False"));
            user.resource_type = "AWS::IAM::AccessKey".into();
            let (verdict, judged) = judge(&[change("Add", None), user]);
            assert_eq!(verdict, Verdict::Unsafe, "{action}");
            assert!(judged[1].security_sensitive);
            assert!(
                judged[1].reason.starts_with("security-sensitive"),
                "{}",
                judged[1].reason
            );
        }
        let mut policy = change("Modify", Some("False"));
        policy.resource_type = "AWS::ECR::Repository".into();
        policy.changed_properties = vec!["RepositoryPolicyText".into()];
        let (verdict, judged) = judge(&[policy]);
        assert_eq!(verdict, Verdict::Unsafe);
        assert!(judged[0].reason.contains("RepositoryPolicyText"));
        assert!(render_diff(&judged).contains("[SECURITY]: security-sensitive"));
        assert_eq!(
            disposition(Verdict::Unsafe, BlueGreen, false, true),
            Disposition::Refuse
        );
        assert_eq!(
            disposition(Verdict::Unsafe, Approve, false, true),
            Disposition::Keep
        );
        assert_eq!(
            disposition(Verdict::Unsafe, BlueGreen, false, false),
            Disposition::Keep
        );
    }

    #[test]
    fn every_action_and_replacement_combination() {
        let replacements = [
            None,
            Some("True"),
            Some("False"),
            Some("Conditional"),
            Some("Maybe"),
        ];
        for action in [
            "Add",
            "Modify",
            "Remove",
            "Import",
            "Dynamic",
            "SyncWithActual",
            "Delete",
            "Teleport",
        ] {
            for replacement in replacements {
                let rules = Rules {
                    sensitive: &SensitiveTypes::default(),
                    stateful: &StatefulTypes::default(),
                    policies: &BTreeMap::new(),
                    next_policies: &BTreeMap::new(),
                    stack: "dev-app",
                    allow_data_loss: &[],
                };
                let safe = judge_change(&change(action, replacement), &rules).is_ok();
                let expected = matches!(
                    (action, replacement),
                    ("Add" | "Import" | "SyncWithActual", _) | ("Modify", None | Some("False"))
                );
                assert_eq!(safe, expected, "{action} / {replacement:?}");
            }
        }
    }

    #[test]
    fn removing_a_data_store_without_a_retain_policy_is_unsafe_and_says_why() {
        // CloudFormation says "Remove", never "Delete" (which the first design looked for).
        let (verdict, judged) = judge(&[change("Add", None), change("Remove", None)]);
        assert_eq!(verdict, Verdict::Unsafe);
        assert_eq!(
            judged[1].reason,
            "removes AWS::S3::Bucket Res; DeletionPolicy Delete: data lost"
        );
    }

    #[test]
    fn churn_of_stateless_resources_is_safe() {
        // A SAM code update: a new version, the old (retained) one removed, the alias and the
        // function updated; an API change renames the deployment.
        let changes = [
            with_type(change("Add", None), "AWS::Lambda::Version", "FnVersion5e6f"),
            with_type(
                change("Remove", None),
                "AWS::Lambda::Version",
                "FnVersion1a2b",
            ),
            with_type(
                change("Modify", Some("False")),
                "AWS::Lambda::Alias",
                "FnAlias",
            ),
            with_type(
                change("Modify", Some("False")),
                "AWS::Lambda::Function",
                "Fn",
            ),
            with_type(
                change("Remove", None),
                "AWS::ApiGateway::Deployment",
                "ApiDeploymentA1",
            ),
            with_type(
                change("Modify", Some("True")),
                "AWS::ApiGateway::Stage",
                "ApiStage",
            ),
            with_type(
                change("Modify", Some("Conditional")),
                "AWS::Lambda::Function",
                "Other",
            ),
        ];
        let (verdict, judged) = judge(&changes);
        assert_eq!(verdict, Verdict::Safe, "{judged:#?}");
        assert_eq!(
            judged[1].reason,
            "removes AWS::Lambda::Version FnVersion1a2b: holds no data"
        );
    }

    #[test]
    fn data_kept_by_a_policy_is_safe_data_lost_is_not() {
        let table = |action, replacement| {
            with_type(change(action, replacement), "AWS::DynamoDB::Table", "Table")
        };
        let policies = |deletion: Option<&str>, update_replace: Option<&str>| {
            BTreeMap::from([(
                "Table".to_string(),
                Policies {
                    deletion: deletion.map(str::to_string),
                    update_replace: update_replace.map(str::to_string),
                    ..Policies::default()
                },
            )])
        };
        let verdict = |change: ResourceChange, written: &BTreeMap<String, Policies>| {
            let (verdict, judged) = judge_with(&[change], written);
            (verdict, judged[0].reason.clone())
        };
        assert_eq!(
            verdict(table("Remove", None), &policies(Some("Retain"), None)),
            (
                Verdict::Safe,
                "removes AWS::DynamoDB::Table Table; DeletionPolicy Retain: the data is kept"
                    .into()
            )
        );
        // DynamoDB cannot be snapshotted by CloudFormation: Snapshot deletes the table.
        assert_eq!(
            verdict(table("Remove", None), &policies(Some("Snapshot"), None)),
            (
                Verdict::Unsafe,
                "removes AWS::DynamoDB::Table Table; DeletionPolicy Snapshot, which this type does not support: data lost".into()
            )
        );
        let mut database = table("Remove", None);
        database.resource_type = "AWS::RDS::DBInstance".into();
        assert_eq!(
            verdict(database, &policies(Some("Snapshot"), None)).0,
            Verdict::Safe
        );
        // The policy that counts for a replacement is UpdateReplacePolicy.
        assert_eq!(
            verdict(
                table("Modify", Some("True")),
                &policies(Some("Retain"), None)
            ),
            (
                Verdict::Unsafe,
                "replaces AWS::DynamoDB::Table Table; UpdateReplacePolicy Delete: data lost".into()
            )
        );
        assert_eq!(
            verdict(
                table("Modify", Some("True")),
                &policies(None, Some("Retain"))
            )
            .0,
            Verdict::Safe
        );
        // CloudFormation cannot promise what a conditional or dynamic change does: a data store
        // stays unsafe whatever its policies.
        let retained = policies(Some("Retain"), Some("Retain"));
        assert_eq!(
            verdict(table("Modify", Some("Conditional")), &retained).0,
            Verdict::Unsafe
        );
        assert_eq!(
            verdict(table("Dynamic", None), &retained).0,
            Verdict::Unsafe
        );
        // A policy in a nested stack's template is not read: only PolicyAction speaks for it.
        let mut nested = table("Remove", None);
        nested.nested_path = vec!["Data".into()];
        assert_eq!(verdict(nested, &retained).0, Verdict::Unsafe);
        // An unknown type holds data until the operator says otherwise.
        let unknown = with_type(change("Remove", None), "AWS::Something::New", "X");
        assert_eq!(verdict(unknown, &BTreeMap::new()).0, Verdict::Unsafe);
    }

    #[test]
    fn a_replacement_keeps_its_data_only_if_both_templates_say_so() {
        let retained = BTreeMap::from([(
            "Table".to_string(),
            Policies {
                deletion: None,
                update_replace: Some("Retain".into()),
                ..Policies::default()
            },
        )]);
        let none = BTreeMap::new();
        let replace = with_type(
            change("Modify", Some("True")),
            "AWS::DynamoDB::Table",
            "Table",
        );
        for (now, next, safe) in [
            (&retained, &retained, true),
            (&retained, &none, false),
            (&none, &retained, false),
        ] {
            let rules = Rules {
                sensitive: &SensitiveTypes::default(),
                stateful: &StatefulTypes::default(),
                policies: now,
                next_policies: next,
                stack: "dev-app",
                allow_data_loss: &[],
            };
            assert_eq!(judge_change(&replace, &rules).is_ok(), safe);
        }
    }

    #[test]
    fn values_known_only_at_execution_count_as_dynamic_for_data_stores() {
        let mut table = with_type(
            change("Modify", Some("False")),
            "AWS::DynamoDB::Table",
            "Orders",
        );
        table.replacement_known_after_apply = true;
        let (verdict, judged) = judge(&[table.clone()]);
        assert_eq!(verdict, Verdict::Unsafe);
        assert_eq!(
            judged[0].reason,
            "may replace AWS::DynamoDB::Table Orders: a property that can force a replacement takes a value known only at execution ({{changeSet:KNOWN_AFTER_APPLY}}): data may be lost"
        );
        // Nothing to lose: a function may be replaced at execution.
        let mut function = with_type(
            change("Modify", Some("False")),
            "AWS::Lambda::Function",
            "Fn",
        );
        function.replacement_known_after_apply = true;
        assert_eq!(judge(&[function]).0, Verdict::Safe);
        // Values known only at execution for properties that never replace: updated in place.
        table.replacement_known_after_apply = false;
        assert_eq!(judge(&[table]).0, Verdict::Safe);
    }

    #[test]
    fn a_nested_stack_whose_changes_are_not_listed_is_unsafe() {
        let mut nested = with_type(
            change("Modify", Some("False")),
            "AWS::CloudFormation::Stack",
            "Data",
        );
        nested.nested_changes_unlisted = true;
        let (verdict, judged) = judge(&[nested]);
        assert_eq!(verdict, Verdict::Unsafe);
        assert!(
            judged[0].reason.contains("not listed"),
            "{}",
            judged[0].reason
        );
    }

    #[test]
    fn policy_action_is_what_cloudformation_will_do_and_wins_over_the_template() {
        let retained = BTreeMap::from([(
            "Db".to_string(),
            Policies {
                deletion: Some("Retain".into()),
                update_replace: Some("Retain".into()),
                ..Policies::default()
            },
        )]);
        for (action, replacement, policy_action, safe) in [
            ("Remove", None, "Retain", true),
            ("Remove", None, "Snapshot", true),
            ("Remove", None, "Delete", false),
            ("Modify", Some("True"), "ReplaceAndRetain", true),
            ("Modify", Some("True"), "ReplaceAndSnapshot", true),
            ("Modify", Some("True"), "ReplaceAndDelete", false),
            ("Modify", Some("True"), "Retain", false),
            ("Remove", None, "SomethingNew", false),
        ] {
            let mut db = with_type(change(action, replacement), "AWS::RDS::DBInstance", "Db");
            db.policy_action = Some(policy_action.into());
            let (verdict, judged) = judge_with(&[db], &retained);
            assert_eq!(
                verdict == Verdict::Safe,
                safe,
                "{policy_action}: {}",
                judged[0].reason
            );
            assert!(judged[0]
                .reason
                .contains(&format!("PolicyAction {policy_action}")));
        }
    }

    #[test]
    fn security_sensitive_changes_stay_unsafe_even_when_they_hold_no_data() {
        let mut permission = with_type(change("Remove", None), "AWS::Lambda::Permission", "Invoke");
        permission.policy_action = Some("Delete".into());
        let (verdict, judged) = judge(&[permission]);
        assert_eq!(verdict, Verdict::Unsafe);
        assert!(
            judged[0].reason.starts_with("security-sensitive"),
            "{}",
            judged[0].reason
        );
    }

    #[test]
    fn a_replacement_names_the_properties_that_force_it_and_a_removal_names_none() {
        let mut table = with_type(
            change("Modify", Some("Conditional")),
            "AWS::DynamoDB::Table",
            "myDynamoDBTable",
        );
        table.replacing_properties = vec!["KeySchema".into()];
        let (_, judged) = judge(&[table.clone()]);
        assert_eq!(
            judged[0].reason,
            "may replace AWS::DynamoDB::Table myDynamoDBTable (changing KeySchema), depending on values known only at execution: data may be lost"
        );
        table.action = "Remove".into();
        let (_, judged) = judge(&[table]);
        assert!(
            !judged[0].reason.contains("changing"),
            "{}",
            judged[0].reason
        );
    }

    #[test]
    fn verdicts() {
        assert_eq!(judge(&[]).0, Verdict::Empty);
        assert_eq!(
            judge(&[change("Add", None), change("Modify", Some("False"))]).0,
            Verdict::Safe
        );
        assert_eq!(
            judge(&[change("Modify", Some("Conditional"))]).0,
            Verdict::Unsafe
        );
        assert_eq!(judge(&[change("Dynamic", None)]).0, Verdict::Unsafe);
    }

    #[test]
    fn nested_changes_are_named_by_path_and_judged() {
        let mut nested = change("Modify", Some("True"));
        nested.nested_path = vec!["Network".into()];
        nested.logical_resource_id = "Vpc".into();
        let (verdict, judged) = judge(&[change("Modify", Some("False")), nested]);
        assert_eq!(verdict, Verdict::Unsafe);
        assert_eq!(judged[1].logical_resource_id, "Network/Vpc");
    }

    #[test]
    fn diff_lines_mark_replacements_and_put_unsafe_first() {
        let (_, judged) = judge(&[
            change("Add", None),
            change("Modify", Some("True")),
            change("Remove", None),
        ]);
        let diff = render_diff(&judged);
        let lines: Vec<&str> = diff.lines().collect();
        assert_eq!(
            lines[0],
            "~ Res (AWS::S3::Bucket) [REPLACE]: replaces AWS::S3::Bucket Res; UpdateReplacePolicy Delete: data lost"
        );
        assert_eq!(
            lines[1],
            "- Res (AWS::S3::Bucket): removes AWS::S3::Bucket Res; DeletionPolicy Delete: data lost"
        );
        assert_eq!(lines[2], "+ Res (AWS::S3::Bucket)");
    }

    fn judge_deletion_with(
        resources: &[(&str, &str)],
        retained: &[&str],
    ) -> (Verdict, Vec<JudgedChange>) {
        let resources: Vec<ResourceChange> = resources
            .iter()
            .map(|(id, resource_type)| with_type(change("Remove", None), resource_type, id))
            .collect();
        let policies: BTreeMap<String, Policies> = retained
            .iter()
            .map(|id| {
                (
                    id.to_string(),
                    Policies {
                        deletion: Some("Retain".into()),
                        update_replace: None,
                        ..Policies::default()
                    },
                )
            })
            .collect();
        let rules = Rules {
            sensitive: &SensitiveTypes::default(),
            stateful: &StatefulTypes::default(),
            policies: &policies,
            next_policies: &BTreeMap::new(),
            stack: "dev-app",
            allow_data_loss: &[],
        };
        super::judge_deletion(&resources, &rules)
    }

    #[test]
    fn deleting_a_stack_loses_the_data_its_stores_do_not_retain() {
        let app = [
            ("Fn", "AWS::Lambda::Function"),
            ("FnRole", "AWS::IAM::Role"),
            ("FnVersion1a2b", "AWS::Lambda::Version"),
            ("Orders", "AWS::DynamoDB::Table"),
        ];
        // Without a policy on the table its data goes with the stack.
        let (verdict, judged) = judge_deletion_with(&app, &[]);
        assert_eq!(verdict, Verdict::Unsafe);
        let unsafe_ones: Vec<&str> = judged
            .iter()
            .filter(|c| !c.safe)
            .map(|c| c.logical_resource_id.as_str())
            .collect();
        assert_eq!(unsafe_ones, ["Orders"], "{judged:#?}");
        assert_eq!(
            judged[3].reason,
            "removes AWS::DynamoDB::Table Orders; DeletionPolicy Delete: data lost"
        );
        // Access only shrinks when nothing is kept: the role is no reason.
        assert!(judged[1].safe && !judged[1].security_sensitive);

        // A stateless stack goes without a person; so does an empty one.
        assert_eq!(judge_deletion_with(&app[..3], &[]).0, Verdict::Safe);
        assert_eq!(judge_deletion_with(&[], &[]).0, Verdict::Empty);
        // An unknown type holds data until the operator says otherwise.
        assert_eq!(
            judge_deletion_with(&[("Thing", "Custom::Thing")], &[]).0,
            Verdict::Unsafe
        );
    }

    #[test]
    fn deleting_a_stack_that_keeps_a_store_must_not_remove_what_guarded_it() {
        let stack = [
            ("Data", "AWS::S3::Bucket"),
            ("DataPolicy", "AWS::S3::BucketPolicy"),
            ("Fn", "AWS::Lambda::Function"),
            ("FnRole", "AWS::IAM::Role"),
        ];
        // The bucket outlives the stack; its policy (which may deny) would not.
        let (verdict, judged) = judge_deletion_with(&stack, &["Data"]);
        // Nor would a policy protecting a bucket outside the stack.
        assert_eq!(
            judge_deletion_with(&stack[1..], &[]).0,
            Verdict::Unsafe,
            "a bucket policy alone"
        );
        assert_eq!(verdict, Verdict::Unsafe);
        assert!(judged[0].safe, "{}", judged[0].reason);
        assert!(judged[1].security_sensitive && !judged[1].safe);
        assert!(
            judged[1]
                .reason
                .contains("whose denials may protect data in this stack or outside it"),
            "{}",
            judged[1].reason
        );
        // Grants only take access away.
        assert!(judged[2].safe && judged[3].safe, "{judged:#?}");
        // Retaining the policy too makes it safe.
        assert_eq!(
            judge_deletion_with(&stack, &["Data", "DataPolicy"]).0,
            Verdict::Safe
        );
    }

    #[test]
    fn deleting_a_nested_stack_is_judged_unsafe_unless_it_is_retained() {
        let nested = [("Network", "AWS::CloudFormation::Stack")];
        let (verdict, judged) = judge_deletion_with(&nested, &[]);
        assert_eq!(verdict, Verdict::Unsafe);
        assert!(judged[0].reason.contains("not judged resource by resource"));
        assert_eq!(judge_deletion_with(&nested, &["Network"]).0, Verdict::Safe);
    }

    /// The largest judgement a change set can give (every listed change with a long id and a long
    /// reason, the first ones with their most and longest values) stays well under Step Functions'
    /// 256 KB state limit, with room for the rest of the plan.
    #[test]
    fn the_largest_judgement_fits_in_the_workflows_state() {
        use crate::values::{shown, DescribedValue, MAX_VALUES_PER_CHANGE};
        let long = "v".repeat(4000);
        let values: Vec<ShownValue> = (0..MAX_VALUES_PER_CHANGE * 3)
            .map(|i| {
                let path = format!("/Properties/{}{i}", "P".repeat(60));
                let described = DescribedValue {
                    path: &path,
                    resource_type: "AWS::ElasticLoadBalancingV2::ListenerRule",
                    before: Some(&long),
                    after: Some(&long),
                    caused_by_secret: false,
                };
                shown(&described)
            })
            .take(MAX_VALUES_PER_CHANGE)
            .collect();
        let judged: Vec<JudgedChange> = (0..1000)
            .map(|i| JudgedChange {
                action: "Modify".into(),
                logical_resource_id: format!("{}{i:04}", "L".repeat(60)),
                resource_type: "AWS::ElasticLoadBalancingV2::ListenerRule".into(),
                replacement: Some("Conditional".into()),
                safe: false,
                security_sensitive: true,
                reason: "security-sensitive: changes SecurityGroupIngress, which decides access; may replace AWS::ElasticLoadBalancingV2::ListenerRule (changing Conditions, Actions)".into(),
                values: values.clone(),
            })
            .collect();
        let judgement = Judgement::new(Verdict::Unsafe, judged);
        let size = serde_json::to_string(&judgement).unwrap().len();
        assert!(size < 192 * 1024, "{size} bytes");
        assert_eq!(judgement.changes.len(), MAX_LISTED_CHANGES);
        assert!(judgement.changes[MAX_CHANGES_WITH_VALUES].values.is_empty());
    }
}
