//! How a resource change that DescribeChangeSet lists is read for the policy: what it may
//! replace, which properties it changes, the values it shows (masked), and a nested stack's
//! template URL.

use std::collections::BTreeSet;

use aws_sdk_cloudformation::types::ResourceChange;

use crate::policy::TemplateRef;
use crate::values;

/// CloudFormation writes `{{changeSet:KNOWN_AFTER_APPLY}}` for a new value it cannot know before
/// execution. Whether the resource is then replaced depends on it when the property holding it can
/// force a replacement: a `Properties` detail whose `RequiresRecreation` is not `Never` (absent
/// counts as may), whose new value is unknown (its `AfterValue`, or the change's `AfterContext`
/// where the detail carries no value).
pub(super) fn replacement_known_after_apply(resource: &ResourceChange) -> bool {
    const UNKNOWN: &str = "{{changeSet:KNOWN_AFTER_APPLY}}";
    let context_unknown = resource
        .after_context()
        .is_some_and(|after| after.contains(UNKNOWN));
    resource.details().iter().any(|d| {
        d.target().is_some_and(|t| {
            t.attribute().map(|a| a.as_str()) == Some("Properties")
                && t.requires_recreation().map(|r| r.as_str()) != Some("Never")
                && match t.after_value() {
                    Some(value) => value.contains(UNKNOWN),
                    None => context_unknown,
                }
        })
    })
}

/// Where a nested stack (`AWS::CloudFormation::Stack`) or a stack set reads its template from, by
/// its `AfterContext` (`{"Properties": {...}}`); `None` for types that read no template.
pub(super) fn template_ref(
    resource_type: &str,
    after_context: Option<&str>,
) -> Option<TemplateRef> {
    let stack_set = match resource_type {
        "AWS::CloudFormation::Stack" => false,
        "AWS::CloudFormation::StackSet" => true,
        _ => return None,
    };
    let properties = after_context
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|context| context.get("Properties").cloned());
    let Some(properties) = properties else {
        return Some(TemplateRef::Unknown);
    };
    Some(match properties.get("TemplateURL") {
        Some(serde_json::Value::String(url)) => TemplateRef::Url(url.clone()),
        None if stack_set && properties.get("TemplateBody").is_some() => TemplateRef::Inline,
        _ => TemplateRef::Unknown,
    })
}

/// The changed properties that force or may force a replacement, in the order CloudFormation
/// lists them.
pub(super) fn replacing_properties(resource: &ResourceChange) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for target in resource.details().iter().filter_map(|d| d.target()) {
        let recreates = matches!(
            target.requires_recreation().map(|r| r.as_str()),
            Some("Always" | "Conditionally")
        );
        if target.attribute().map(|a| a.as_str()) == Some("Properties") && recreates {
            if let Some(name) = target.name().filter(|n| !names.iter().any(|m| m == n)) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// The changed properties' values, masked as they are read (an unmasked one is never kept). A
/// path's entries are taken together: one caused by a secret parameter masks the path. Inside a
/// nested stack every value a parameter causes is masked (the parent may pass it a secret through a
/// parameter the child does not declare NoEcho).
pub(super) fn shown_values(
    resource: &ResourceChange,
    secret_parameters: &BTreeSet<String>,
    nested: bool,
) -> Vec<values::ShownValue> {
    let resource_type = resource.resource_type().unwrap_or_default();
    // (path, before, after, caused by a secret), in CloudFormation's order.
    let mut paths: Vec<(&str, Option<&str>, Option<&str>, bool)> = Vec::new();
    for detail in resource.details() {
        let Some(target) = detail.target() else {
            continue;
        };
        if target.attribute().map(|a| a.as_str()) != Some("Properties") {
            continue;
        }
        let path = target.path().or(target.name()).unwrap_or_default();
        let by_parameter = detail.change_source().map(|s| s.as_str()) == Some("ParameterReference");
        let secret = by_parameter
            && (nested
                || detail
                    .causing_entity()
                    .is_some_and(|p| secret_parameters.contains(p)));
        match paths.iter_mut().find(|(p, ..)| *p == path) {
            Some(entry) => {
                entry.1 = entry.1.or(target.before_value());
                entry.2 = entry.2.or(target.after_value());
                entry.3 |= secret;
            }
            None => paths.push((path, target.before_value(), target.after_value(), secret)),
        }
    }
    paths
        .into_iter()
        .filter(|(_, before, after, _)| before.is_some() || after.is_some())
        .take(values::MAX_VALUES_PER_CHANGE)
        .map(|(path, before, after, caused_by_secret)| {
            values::shown(&values::DescribedValue {
                path,
                resource_type,
                before,
                after,
                caused_by_secret,
            })
        })
        .collect()
}

/// The properties a change touches: those its Details name, and for an addition every property it
/// is created with (for a modification, `AfterContext` lists unchanged properties too).
pub(super) fn changed_properties(resource: &ResourceChange) -> Vec<String> {
    let mut names: Vec<String> = resource
        .details()
        .iter()
        .filter_map(|d| d.target())
        .filter(|t| t.attribute().map(|a| a.as_str()) == Some("Properties"))
        .filter_map(|t| t.name().map(str::to_string))
        .collect();
    if resource.action().map(|a| a.as_str()) == Some("Add") {
        names.extend(crate::sensitive::context_properties(
            resource.after_context(),
        ));
    }
    names.sort();
    names.dedup();
    names
}
