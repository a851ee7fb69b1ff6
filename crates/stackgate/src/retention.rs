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
    /// The template's own word that replacing the resource may lose its data (`Metadata:
    /// stackgate: allowReplace: true`); it counts only where the operator lets templates say so.
    pub allow_replace: bool,
    /// The same for removing it (`allowRemove: true`).
    pub allow_remove: bool,
}

/// Types CloudFormation can snapshot; `Snapshot` on any other type deletes it.
pub const SNAPSHOT_TYPES: &[&str] = &[
    "AWS::EC2::Volume",
    "AWS::ElastiCache::CacheCluster",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::Neptune::DBCluster",
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBInstance",
    "AWS::Redshift::Cluster",
    "AWS::DocDB::DBCluster",
];

/// Whether a `DeletionPolicy` keeps the data of a resource of `resource_type`.
pub fn deletion_keeps_data(policy: Option<&str>, resource_type: &str) -> bool {
    match policy {
        Some("Retain" | "RetainExceptOnCreate") => true,
        Some("Snapshot") => SNAPSHOT_TYPES.contains(&resource_type),
        _ => false,
    }
}

/// Whether an `UpdateReplacePolicy` keeps the data of a replaced resource of `resource_type`.
pub fn replacement_keeps_data(policy: Option<&str>, resource_type: &str) -> bool {
    match policy {
        Some("Retain") => true,
        Some("Snapshot") => SNAPSHOT_TYPES.contains(&resource_type),
        _ => false,
    }
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
                    let intent = |key: &str| {
                        resource
                            .pointer(&format!("/Metadata/stackgate/{key}"))
                            .is_some_and(|v| v == &Value::Bool(true))
                    };
                    let policies = Policies {
                        deletion: word(resource, "DeletionPolicy"),
                        update_replace: word(resource, "UpdateReplacePolicy"),
                        allow_replace: intent("allowReplace"),
                        allow_remove: intent("allowRemove"),
                    };
                    (id.clone(), policies)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A line without its comment, and its indentation; `None` for blank and comment-only lines.
/// `Err` when the line ends inside a quoted string (a scalar spread over lines), or a double-quoted
/// string holds an escape (`\"` does not close it, so where it ends is YAML's to say, not ours).
#[allow(clippy::type_complexity)]
fn content(line: &str) -> Result<Option<(usize, &str)>, ()> {
    let mut quote = None;
    let mut end = line.len();
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (Some('"'), '\\') => return Err(()),
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if at == 0 || line[..at].ends_with(char::is_whitespace) => {
                end = at;
                break;
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err(());
    }
    let text = line[..end].trim_end();
    let body = text.trim_start_matches(' ');
    if body.starts_with('\t') {
        return Err(());
    }
    Ok((!body.is_empty()).then(|| (text.len() - body.len(), body)))
}

/// Brackets outside quoted strings, opened minus closed.
fn flow_depth(body: &str) -> i64 {
    let mut quote = None;
    let mut depth = 0;
    for c in body.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// Block-style YAML, line by line. `None` (nothing known) wherever indentation may stop saying what
/// belongs to what, or a key may be read twice: flow collections or quoted scalars spread over
/// lines, anchors and merge keys, line breaks other than `\n`, document markers, tabs, a logical
/// id, `Resources` or a policy seen twice (CloudFormation takes the last of duplicate keys),
/// quoted or escaped attribute keys, and a policy that is not a plain word.
fn yaml_policies(template: &str) -> Option<BTreeMap<String, Policies>> {
    if template
        .replace("\r\n", "\n")
        .contains(['\r', '\u{85}', '\u{2028}', '\u{2029}'])
    {
        return None;
    }
    let mut found: BTreeMap<String, Policies> = BTreeMap::new();
    let mut seen_resources = false;
    let mut in_resources = false;
    let mut resource_indent = None;
    let mut attribute_indent = None;
    let mut current: Option<String> = None;
    let mut metadata = MetadataReader::default();
    // Resources whose intent is written twice (CloudFormation takes the last): no intent.
    let mut unclear: std::collections::BTreeSet<String> = Default::default();
    let mut metadata_seen = false;
    for line in template.lines() {
        let Some((indent, body)) = content(line).ok()? else {
            continue;
        };
        let anchors = body
            .split_whitespace()
            .any(|token| token.starts_with(['&', '*']) || token.starts_with("<<:"));
        if flow_depth(body) != 0 || anchors || body.starts_with("---") || body.starts_with("...") {
            return None;
        }
        if indent == 0 {
            in_resources = body == "Resources:";
            if in_resources && std::mem::replace(&mut seen_resources, true) {
                return None;
            }
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
            // A resource on one line (flow style), a quoted id or anything unexpected: nothing is known.
            let id = body
                .strip_suffix(':')
                .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))?;
            if found.insert(id.to_string(), Policies::default()).is_some() {
                return None;
            }
            current = Some(id.to_string());
            attribute_indent = None;
            metadata_seen = false;
            continue;
        }
        let Some(id) = &current else {
            continue;
        };
        let attributes_at = *attribute_indent.get_or_insert(indent);
        if indent > attributes_at {
            if metadata.read(indent, body, found.get_mut(id)?).is_err() {
                unclear.insert(id.clone());
            }
            continue;
        }
        metadata = MetadataReader::default();
        if indent != attributes_at {
            continue;
        }
        if body.starts_with("- ") || body == "-" {
            // An item of a sequence written at its key's indentation (`DependsOn:` then `- A`).
            continue;
        }
        // Anything at the attribute level but a plain `Key:` (a complex `? key`, a tagged
        // `!!str key`, a quoted or escaped key, a scalar's continuation) may be a policy read
        // differently by CloudFormation.
        let (key, value) = body.split_once(':')?;
        let key = key.trim_end();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        if !(value.is_empty() || value.starts_with(' ')) {
            return None;
        }
        let slot = match key {
            "Metadata" => {
                if std::mem::replace(&mut metadata_seen, true) {
                    unclear.insert(id.clone());
                }
                metadata.open = value.trim().is_empty();
                continue;
            }
            "DeletionPolicy" => &mut found.get_mut(id)?.deletion,
            "UpdateReplacePolicy" => &mut found.get_mut(id)?.update_replace,
            _ => continue,
        };
        let word = value.trim().trim_matches(|c| c == '"' || c == '\'');
        if slot.is_some() || word.is_empty() || !word.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        *slot = Some(word.to_string());
    }
    for id in unclear {
        if let Some(policies) = found.get_mut(&id) {
            policies.allow_replace = false;
            policies.allow_remove = false;
        }
    }
    Some(found)
}

/// A resource's `Metadata` in block style, for `stackgate:` and its `allowReplace: true` and
/// `allowRemove: true`. Anything else (flow style, quotes, another spelling of `true`) says nothing,
/// so an intent that is not plainly written is not taken; one written twice (`Err`) is unclear.
#[derive(Debug, Default)]
struct MetadataReader {
    open: bool,
    keys_at: Option<usize>,
    in_stackgate: bool,
    stackgate_seen: bool,
    intents_at: Option<usize>,
    intents_seen: Vec<String>,
}

/// A mapping key as YAML reads it, quotes taken off.
fn key_of(body: &str) -> &str {
    body.split_once(':')
        .map_or(body, |(key, _)| key)
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
}

impl MetadataReader {
    fn read(&mut self, indent: usize, body: &str, policies: &mut Policies) -> Result<(), ()> {
        if !self.open {
            return Ok(());
        }
        let keys_at = *self.keys_at.get_or_insert(indent);
        if indent < keys_at {
            self.open = false;
            return Ok(());
        }
        if indent == keys_at {
            self.in_stackgate = body == "stackgate:";
            self.intents_at = None;
            if key_of(body) == "stackgate" && std::mem::replace(&mut self.stackgate_seen, true) {
                return Err(());
            }
            return Ok(());
        }
        if !self.in_stackgate || indent != *self.intents_at.get_or_insert(indent) {
            return Ok(());
        }
        let key = key_of(body).to_string();
        if self.intents_seen.contains(&key) {
            return Err(());
        }
        self.intents_seen.push(key);
        match body {
            "allowReplace: true" => policies.allow_replace = true,
            "allowRemove: true" => policies.allow_remove = true,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequence_at_its_keys_indentation_is_read_past() {
        let yaml = "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    DependsOn:\n    - A\n    - B\n    DeletionPolicy: Retain\n";
        assert_eq!(policies(yaml)["T"].deletion.as_deref(), Some("Retain"));
    }

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
        assert!(deletion_keeps_data(
            Some("Snapshot"),
            "AWS::RDS::DBInstance"
        ));
        assert!(deletion_keeps_data(
            Some("RetainExceptOnCreate"),
            "AWS::S3::Bucket"
        ));
        // Snapshot on a type CloudFormation cannot snapshot deletes it.
        assert!(!deletion_keeps_data(
            Some("Snapshot"),
            "AWS::DynamoDB::Table"
        ));
        assert!(!replacement_keeps_data(
            Some("RetainExceptOnCreate"),
            "AWS::S3::Bucket"
        ));
        assert!(!deletion_keeps_data(Some("Delete"), "AWS::S3::Bucket"));
        assert!(!deletion_keeps_data(None, "AWS::S3::Bucket"));
    }

    #[test]
    fn a_resources_intent_is_read_from_its_metadata_and_only_there() {
        let yaml = "Resources:\n  Cache:\n    Type: AWS::DynamoDB::Table\n    Metadata:\n      aws:cdk:path: App/Cache\n      stackgate:\n        allowReplace: true # a cache\n        note: rebuilt from Orders\n    Properties:\n      stackgate:\n        allowRemove: true\n  Orders:\n    Type: AWS::DynamoDB::Table\n    Metadata:\n      other:\n        allowReplace: true\n      stackgate:\n        allowRemove: \"true\"\n        nested:\n          allowReplace: true\n  Gone:\n    Type: AWS::SQS::Queue\n    Metadata:\n      stackgate:\n        allowRemove: true\n";
        let found = policies(yaml);
        assert!(found["Cache"].allow_replace);
        assert!(!found["Cache"].allow_remove, "a property is not metadata");
        assert!(!found["Orders"].allow_replace && !found["Orders"].allow_remove);
        assert!(found["Gone"].allow_remove && !found["Gone"].allow_replace);
        let json = r#"{"Resources": {"Cache": {"Type": "AWS::DynamoDB::Table",
            "Metadata": {"stackgate": {"allowReplace": true, "allowRemove": "true"}}},
            "Orders": {"Type": "AWS::DynamoDB::Table", "Properties": {"stackgate": {"allowReplace": true}}}}}"#;
        let found = policies(json);
        assert!(found["Cache"].allow_replace && !found["Cache"].allow_remove);
        assert!(!found["Orders"].allow_replace);
        // Written twice: CloudFormation takes the last, so the intent is unclear and not taken.
        for twice in [
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    Metadata:\n      stackgate:\n        allowRemove: true\n        allowRemove: false\n",
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    Metadata:\n      stackgate:\n        allowRemove: true\n      \"stackgate\":\n        note: none\n",
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    Metadata:\n      stackgate:\n        allowRemove: true\n    Metadata: {}\n",
        ] {
            assert!(!policies(twice)["T"].allow_remove, "{twice}");
        }
        // Flow style is not followed: no intent, and the policies read as before.
        let flow = "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    Metadata: {stackgate: {allowRemove: true}}\n    DeletionPolicy: Retain\n";
        let found = policies(flow);
        assert!(!found["T"].allow_remove);
        assert_eq!(found["T"].deletion.as_deref(), Some("Retain"));
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
            // A lone carriage return is a line break to YAML, not to a line reader.
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\r  O:\r    Type: AWS::SNS::Topic\n    DeletionPolicy: Retain\n",
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\u{2028}  O:\n    DeletionPolicy: Retain\n",
            // Duplicate keys: CloudFormation takes the last.
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n  T:\n    Type: AWS::S3::Bucket\n",
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n    DeletionPolicy:\n      Delete\n",
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n    \"Deletion\\u0050olicy\": Delete\n",
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n    DeletionPolicy: !!str Delete\n",
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\nResources:\n  T:\n    Type: AWS::S3::Bucket\n",
            // Brackets and line breaks inside quotes.
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    Metadata: {Note: \"}\",\n    DeletionPolicy: Retain\n    , X: \"{\"}\n",
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    Metadata: \"x\n    DeletionPolicy: Retain\"\n",
            // An escaped quote does not close a string: the policy below is part of a tag's value
            // (found by an attacker's review; lenient YAML parsers take the short continuation).
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    Properties:\n      Tags:\n        - Key: n\n          Value: \"a\\\"\n    DeletionPolicy: Retain\n          b\\\"\"\n",
            // Keys that are not plain words after a visible policy: a complex key, a tagged key.
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n    ? DeletionPolicy\n    : Delete\n",
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n    !!str DeletionPolicy: Delete\n",
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n    DeletionPolicy:Retain\n",
            // Documents and tabs.
            "Resources:\n  T:\n    Type: AWS::S3::Bucket\n---\nResources:\n  T:\n    DeletionPolicy: Retain\n",
            "Resources:\n  T:\n\tDeletionPolicy: Retain\n",
        ] {
            let found = policies(template);
            let policy = found.get("T").and_then(|p| p.deletion.as_deref());
            assert!(
                !deletion_keeps_data(policy, "AWS::S3::Bucket"),
                "{template:?}: {found:?}"
            );
        }
    }
}
