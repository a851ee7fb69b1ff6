//! The data-keeping attributes of a stack's resources (`DeletionPolicy`, `UpdateReplacePolicy`),
//! read from its current template: what happens to a resource's data when a change removes or
//! replaces it. On AWS the change set says so itself (`PolicyAction`); this covers change sets
//! that do not (nested stacks' are judged by `PolicyAction` only).
//!
//! Fails closed: a value that is not a plain word (an intrinsic function), a resource written in a
//! form this reader does not follow (flow style, anchors), or a template it cannot read gives no
//! policy, which reads as `Delete`. It never reads a policy that is not there.

use std::collections::BTreeMap;

use serde_json::Value;

/// A resource's policies, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    pub deletion: Option<String>,
    pub update_replace: Option<String>,
}

/// Whether a policy keeps the data: the resource (or a snapshot of it) outlives the change.
pub fn keeps_data(policy: Option<&str>) -> bool {
    matches!(policy, Some("Retain" | "Snapshot" | "RetainExceptOnCreate"))
}

/// Every resource's policies in a template, JSON or YAML.
pub fn policies(template: &str) -> BTreeMap<String, Policies> {
    let trimmed = template.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str::<Value>(trimmed)
            .map(|value| json_policies(&value))
            .unwrap_or_default();
    }
    yaml_policies(template).unwrap_or_default()
}

fn json_policies(template: &Value) -> BTreeMap<String, Policies> {
    let word = |resource: &Value, key: &str| {
        resource
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    template
        .get("Resources")
        .and_then(Value::as_object)
        .map(|resources| {
            resources
                .iter()
                .map(|(id, resource)| {
                    let policies = Policies {
                        deletion: word(resource, "DeletionPolicy"),
                        update_replace: word(resource, "UpdateReplacePolicy"),
                    };
                    (id.clone(), policies)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A line without its comment, and its indentation; `None` for blank and comment-only lines.
fn content(line: &str) -> Option<(usize, &str)> {
    let mut quote = None;
    let mut end = line.len();
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if at == 0 || line[..at].ends_with(char::is_whitespace) => {
                end = at;
                break;
            }
            _ => {}
        }
    }
    let text = line[..end].trim_end();
    let body = text.trim_start();
    (!body.is_empty()).then(|| (text.len() - body.len(), body))
}

/// `key: word` with an optional quoted key and value; `None` for anything else.
fn key_and_word(body: &str) -> Option<(&str, &str)> {
    let (key, value) = body.split_once(':')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
    (!value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric())).then_some((key, value))
}

/// Block-style YAML, line by line. `None` (nothing known) when the template uses flow collections
/// or anchors across lines, where indentation stops saying what belongs to what.
fn yaml_policies(template: &str) -> Option<BTreeMap<String, Policies>> {
    let mut found = BTreeMap::new();
    let mut in_resources = false;
    let mut resource_indent = None;
    let mut attribute_indent = None;
    let mut current: Option<String> = None;
    for line in template.lines() {
        let Some((indent, body)) = content(line) else {
            continue;
        };
        let opens = body.matches(['{', '[']).count();
        let closes = body.matches(['}', ']']).count();
        let anchors = body
            .split_whitespace()
            .any(|token| token.starts_with(['&', '*']) || token.starts_with("<<:"));
        if opens != closes || anchors {
            return None;
        }
        if indent == 0 {
            in_resources = body.trim_end() == "Resources:";
            resource_indent = None;
            current = None;
            continue;
        }
        if !in_resources {
            continue;
        }
        let resources_at = *resource_indent.get_or_insert(indent);
        if indent < resources_at {
            return None;
        }
        if indent == resources_at {
            let id = body
                .strip_suffix(':')
                .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()));
            // A resource on one line (flow style) or something unexpected: nothing is known.
            current = Some(id?.to_string());
            attribute_indent = None;
            continue;
        }
        let Some(id) = &current else {
            continue;
        };
        if indent != *attribute_indent.get_or_insert(indent) {
            continue;
        }
        let entry: &mut Policies = found.entry(id.clone()).or_default();
        match key_and_word(body) {
            Some(("DeletionPolicy", word)) => entry.deletion = Some(word.to_string()),
            Some(("UpdateReplacePolicy", word)) => entry.update_replace = Some(word.to_string()),
            _ => {}
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_block_yaml_templates_give_their_policies() {
        let json = r#"{"Resources": {"Table": {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
                       "UpdateReplacePolicy": "Snapshot"}, "Fn": {"Type": "AWS::Lambda::Function"}}}"#;
        let found = policies(json);
        assert_eq!(found["Table"].deletion.as_deref(), Some("Retain"));
        assert_eq!(found["Table"].update_replace.as_deref(), Some("Snapshot"));
        assert_eq!(found["Fn"], Policies::default());
        let yaml = "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Table:\n    Type: AWS::DynamoDB::Table # the data\n    DeletionPolicy: \"Retain\"\n    Properties:\n      DeletionPolicy: Delete\n      KeySchema:\n        - AttributeName: id\n          KeyType: HASH\n  Old:\n    Type: AWS::Lambda::Version\n    UpdateReplacePolicy: Retain\n    Properties:\n      FunctionName: !Ref Fn\nOutputs:\n  X:\n    DeletionPolicy: Retain\n";
        let found = policies(yaml);
        assert_eq!(found["Table"].deletion.as_deref(), Some("Retain"));
        assert_eq!(found["Table"].update_replace, None);
        assert_eq!(found["Old"].update_replace.as_deref(), Some("Retain"));
        assert!(!found.contains_key("X"));
        assert!(keeps_data(Some("Snapshot")) && keeps_data(Some("RetainExceptOnCreate")));
        assert!(!keeps_data(Some("Delete")) && !keeps_data(None));
    }

    #[test]
    fn what_the_reader_cannot_follow_reads_as_no_policy() {
        for template in [
            // A property named like the attribute, deeper than the attributes.
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    Properties:\n      DeletionPolicy: Retain\n",
            // A flow mapping spread over lines puts a property at the attributes' indentation.
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    Properties: {\n    DeletionPolicy: Retain }\n",
            // A resource in flow style.
            "Resources:\n  T: {Type: AWS::S3::Bucket, DeletionPolicy: Retain}\n",
            // An intrinsic function.
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: !If [Keep, Retain, Delete]\n",
            // Merge keys.
            "Resources:\n  T:\n    <<: *retained\n    Type: AWS::S3::Bucket\n",
            "not a template at all {",
        ] {
            let found = policies(template);
            assert!(
                found.get("T").is_none_or(|p| !keeps_data(p.deletion.as_deref())),
                "{template:?}: {found:?}"
            );
        }
    }
}
