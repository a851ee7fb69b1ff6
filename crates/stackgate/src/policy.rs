//! The change-set safety policy: nothing is removed or replaced, and no access changes, without a
//! human saying yes.
//!
//! Fails closed: an action or replacement value this code does not know is unsafe.

use serde::{Deserialize, Serialize};

use crate::sensitive::SensitiveTypes;

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

/// Why a change is unsafe, or `None` when it is safe.
pub fn unsafe_reason(change: &ResourceChange) -> Option<String> {
    match change.action.as_str() {
        "Add" | "Import" | "SyncWithActual" => None,
        "Remove" => Some("the resource would be deleted".into()),
        "Dynamic" => Some(
            "the change is only decided at execution time (dynamic reference or macro); it may delete or replace"
                .into(),
        ),
        "Modify" => match change.replacement.as_deref() {
            None | Some("False") => None,
            Some("True") => Some("the resource would be replaced (deleted and re-created)".into()),
            Some("Conditional") => {
                Some("the resource may be replaced, depending on property values".into())
            }
            Some(other) => Some(format!("unknown replacement value {other:?}")),
        },
        other => Some(format!("unknown change action {other:?}")),
    }
}

fn qualified_id(change: &ResourceChange) -> String {
    let mut parts = change.nested_path.clone();
    parts.push(change.logical_resource_id.clone());
    parts.join("/")
}

/// Judges every change and the change set as a whole.
pub fn judge(
    changes: &[ResourceChange],
    sensitive: &SensitiveTypes,
) -> (Verdict, Vec<JudgedChange>) {
    let judged: Vec<JudgedChange> = changes
        .iter()
        .map(|change| {
            let security = security_reason(change, sensitive);
            let reasons: Vec<String> = security
                .iter()
                .cloned()
                .chain(unsafe_reason(change))
                .collect();
            JudgedChange {
                action: change.action.clone(),
                logical_resource_id: qualified_id(change),
                resource_type: change.resource_type.clone(),
                replacement: change.replacement.clone(),
                safe: reasons.is_empty(),
                security_sensitive: security.is_some(),
                reason: if reasons.is_empty() {
                    match change.action.as_str() {
                        "Add" => "new resource".into(),
                        "Modify" => "updated in place".into(),
                        _ => "does not delete or replace".into(),
                    }
                } else {
                    reasons.join("; ")
                },
            }
        })
        .collect();
    let verdict = if judged.is_empty() {
        Verdict::Empty
    } else if judged.iter().any(|c| !c.safe) {
        Verdict::Unsafe
    } else {
        Verdict::Safe
    };
    (verdict, judged)
}

/// The diff as `+ / ~ / -` lines, replacements marked; unsafe lines first.
pub fn render_diff(judged: &[JudgedChange]) -> String {
    let mut lines: Vec<(bool, String)> = judged
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
            (
                c.safe,
                format!(
                    "{sign} {} ({}){marker}{security}",
                    c.logical_resource_id, c.resource_type
                ),
            )
        })
        .collect();
    lines.sort_by_key(|(safe, line)| (*safe, !line.ends_with("[SECURITY]")));
    lines
        .into_iter()
        .map(|(_, line)| line)
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
        }
    }

    fn judge(changes: &[ResourceChange]) -> (Verdict, Vec<JudgedChange>) {
        super::judge(changes, &SensitiveTypes::default())
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
        assert!(render_diff(&judged).ends_with("[SECURITY]"));
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
                let safe = unsafe_reason(&change(action, replacement)).is_none();
                let expected = matches!(
                    (action, replacement),
                    ("Add" | "Import" | "SyncWithActual", _) | ("Modify", None | Some("False"))
                );
                assert_eq!(safe, expected, "{action} / {replacement:?}");
            }
        }
    }

    #[test]
    fn remove_is_unsafe_unlike_the_original_sample() {
        // The original sample looked for "Delete", which CloudFormation never sends.
        let (verdict, judged) = judge(&[change("Add", None), change("Remove", None)]);
        assert_eq!(verdict, Verdict::Unsafe);
        assert!(judged[1].reason.contains("deleted"));
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
        assert_eq!(lines[0], "~ Res (AWS::S3::Bucket) [REPLACE]");
        assert_eq!(lines[1], "- Res (AWS::S3::Bucket)");
        assert_eq!(lines[2], "+ Res (AWS::S3::Bucket)");
    }
}
