//! Before and after values of the properties a change modifies, as approvers read them: short, and
//! never a secret. A value is masked when it comes from a `NoEcho` parameter, is or holds a dynamic
//! reference, or sits under a name that says secret (`Password`, `Token`, …), also inside a JSON
//! value (a function's environment variables). Masking happens where the change set is read, so an
//! unmasked value is never held, logged or put in the workflow's state.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Characters of one value shown at most.
pub const MAX_VALUE_CHARS: usize = 80;
/// Values shown per change at most.
pub const MAX_VALUES_PER_CHANGE: usize = 6;

/// What CloudFormation writes for a `NoEcho` parameter's value.
pub const NO_ECHO_MASK: &str = "****";
const KNOWN_AFTER_APPLY: &str = "{{changeSet:KNOWN_AFTER_APPLY}}";
const DYNAMIC_REFERENCE: &str = "{{resolve:";

/// Name parts that say a value is a secret (compared without case, `_` or `-`).
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "privatekey",
    "credential",
    "apikey",
    "accesskey",
    "authkey",
    "signingkey",
    "connectionstring",
    "sessionkey",
    "authorization",
    "bearer",
    "signature",
];

/// Keys that name the value beside them (`{"Name": "DB_PASSWORD", "Value": ...}`), folded.
const NAME_KEYS: &[&str] = &[
    "name",
    "key",
    "parameterkey",
    "parametername",
    "optionname",
    "attributename",
    "variablename",
];

/// Path segments under which a value is one of a set of named values (environment variables,
/// secrets): where the name is not in the path, the value is masked.
const NAMED_VALUE_CONTAINERS: &[&str] = &[
    "environment",
    "environmentvariables",
    "variables",
    "secrets",
    "secretoptions",
];

/// Types whose every value is a secret or a key.
const SECRET_TYPES: &[&str] = &[
    "AWS::ApiGateway::ApiKey",
    "AWS::AppSync::ApiKey",
    "AWS::IAM::AccessKey",
    "AWS::SecretsManager::Secret",
    "AWS::SSM::Parameter",
];

/// Characters of a property path shown at most.
const MAX_PATH_CHARS: usize = 120;
const MASKED: &str = "(masked)";

/// One changed property's values, safe to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShownValue {
    /// `/Properties/...`, as CloudFormation names it.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// A property change as the change set describes it (its `Details` entries for one path).
#[derive(Clone, Copy)]
pub struct DescribedValue<'a> {
    pub path: &'a str,
    pub resource_type: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    /// An entry for the path names a secret parameter as its cause (`ParameterReference`).
    pub caused_by_secret: bool,
}

// No Debug for DescribedValue: it holds values before masking.

fn folded(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Whether a property or key name says its value is a secret.
pub fn names_a_secret(name: &str) -> bool {
    let name = folded(name);
    SECRET_NAMES.iter().any(|s| name.contains(s))
}

/// The value as shown: masked where it may be a secret, JSON made compact, cut to length, with
/// control and direction characters escaped (a value cannot forge a line of the diff).
pub fn shown(described: &DescribedValue) -> ShownValue {
    let segments: Vec<String> = described.path.split('/').map(folded).collect();
    // A scalar whose name is not in its path is not shown: under a named-value container, or an
    // element of a list (`/OptionSettings/3/Value`: its name is a sibling the path does not carry).
    let in_container = segments.iter().any(|s| {
        NAMED_VALUE_CONTAINERS.contains(&s.as_str())
            || (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
    });
    let whole_secret = described.caused_by_secret
        || names_a_secret(described.path)
        || SECRET_TYPES.contains(&described.resource_type);
    let show = |value: Option<&str>| {
        value.map(|v| {
            if whole_secret {
                MASKED.to_string()
            } else {
                cut(&escaped(&one_value(v, in_container)), MAX_VALUE_CHARS)
            }
        })
    };
    ShownValue {
        path: cut(&escaped(described.path), MAX_PATH_CHARS),
        before: show(described.before),
        after: show(described.after),
    }
}

/// A value as text: JSON (also JSON held in a string) with what it holds under secret names masked;
/// a scalar under a named-value container masked; text that looks like JSON but is not readable
/// (CloudFormation truncates large values) masked whole.
fn one_value(value: &str, in_container: bool) -> String {
    if value.contains(KNOWN_AFTER_APPLY) {
        return "(known after apply)".into();
    }
    let parsed = serde_json::from_str::<Value>(value).unwrap_or(Value::String(value.to_string()));
    let mut json = match parsed {
        Value::String(text) => from_text(&text),
        other => other,
    };
    if in_container && !json.is_object() && !json.is_array() {
        return MASKED.into();
    }
    mask_json(&mut json);
    match json {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// Text that holds JSON is read as JSON (again, however deeply it was encoded).
fn from_text(text: &str) -> Value {
    let trimmed = text.trim_start();
    // `{{resolve:...}}` and CloudFormation's own markers are text, not JSON.
    if (trimmed.starts_with('{') && !trimmed.starts_with("{{")) || trimmed.starts_with('[') {
        return match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::String(inner)) => from_text(&inner),
            Ok(json) => json,
            Err(_) => Value::String(MASKED.into()),
        };
    }
    Value::String(text.to_string())
}

/// Masks what a JSON value holds under secret names (keys, or a `Name`/`Key` beside a `Value`),
/// every dynamic reference and credentials in URLs, and reads JSON held in strings.
fn mask_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let named_secret = map
                .iter()
                .filter(|(k, _)| NAME_KEYS.contains(&folded(k).as_str()))
                .filter_map(|(_, v)| v.as_str())
                .any(names_a_secret);
            for (key, inner) in map.iter_mut() {
                let is_value = folded(key).ends_with("value");
                if names_a_secret(key) || (named_secret && is_value) {
                    *inner = Value::String(MASKED.into());
                } else {
                    mask_json(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        Value::String(text) => {
            let mut read = from_text(text);
            match &mut read {
                Value::String(plain) => *text = masked_text(plain),
                json => {
                    mask_json(json);
                    *text = json.to_string();
                }
            }
        }
        _ => {}
    }
}

fn masked_text(text: &str) -> String {
    if text.contains(DYNAMIC_REFERENCE) {
        "(dynamic reference)".into()
    } else if holds_credentials(text) || assigns_a_secret(text) {
        MASKED.into()
    } else {
        text.to_string()
    }
}

/// A URL with user information (`scheme://user:password@host`) or a query string (`?token=`).
fn holds_credentials(text: &str) -> bool {
    text.split_once("://").is_some_and(|(_, rest)| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        authority.contains('@') || rest.contains('?')
    })
}

/// Text that sets something a secret name names (`DB_PASSWORD=...`, `password: x`, a script's
/// `export API_TOKEN=...`): the whole text is masked, whatever the syntax.
fn assigns_a_secret(text: &str) -> bool {
    names_a_secret(text) && text.contains(['=', ':'])
}

/// Control and bidirectional-formatting characters written as escapes.
fn escaped(text: &str) -> String {
    text.chars()
        .map(|c| {
            let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || bidi {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Text from a template or a live resource as a line of a summary: escaped and cut.
pub fn printable(text: &str, max: usize) -> String {
    cut(&escaped(text), max)
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(path: &str, before: Option<&str>, after: Option<&str>) -> ShownValue {
        let described = DescribedValue {
            path,
            resource_type: "AWS::Lambda::Function",
            before,
            after,
            caused_by_secret: false,
        };
        shown(&described)
    }

    #[test]
    fn plain_values_are_shown_compact_and_cut_to_length() {
        let capacity = show("/Properties/ReadCapacityUnits", Some("5"), Some("10"));
        assert_eq!(capacity.before.as_deref(), Some("5"));
        assert_eq!(capacity.after.as_deref(), Some("10"));
        let quoted = show(
            "/Properties/TableName",
            Some("\"orders\""),
            Some("orders-v2"),
        );
        assert_eq!(quoted.before.as_deref(), Some("orders"));
        assert_eq!(quoted.after.as_deref(), Some("orders-v2"));
        let long = "x".repeat(500);
        let cut = show("/Properties/Description", None, Some(&long));
        assert_eq!(cut.after.unwrap().chars().count(), MAX_VALUE_CHARS + 1);
        assert_eq!(cut.before, None, "an added property has no value before");
        let multibyte = "é".repeat(200);
        assert!(show("/Properties/D", Some(&multibyte), None)
            .before
            .unwrap()
            .ends_with('…'));
    }

    #[test]
    fn secrets_are_never_shown() {
        const SECRET: &str = "hunter2-s3cr3t";
        let by_name = show(
            "/Properties/MasterUserPassword",
            Some(SECRET),
            Some("other"),
        );
        assert_eq!(by_name.before.as_deref(), Some("(masked)"));
        assert_eq!(by_name.after.as_deref(), Some("(masked)"));
        let reference = show(
            "/Properties/Description",
            None,
            Some("{{resolve:secretsmanager:prod/db:SecretString:password}}"),
        );
        assert_eq!(reference.after.as_deref(), Some("(dynamic reference)"));
        let environment = format!(
            r#"{{"Variables":{{"DB_PASSWORD":"{SECRET}","Api-Token":"{SECRET}","MODE":"fast","URL":"{{{{resolve:ssm-secure:/x}}}}"}}}}"#
        );
        let nested = show("/Properties/Environment", None, Some(&environment));
        let after = nested.after.unwrap();
        assert!(
            !after.contains(SECRET) && !after.contains("resolve"),
            "{after}"
        );
        assert!(
            after.contains("fast"),
            "what is not secret is shown: {after}"
        );

        let caused = DescribedValue {
            path: "/Properties/Description",
            resource_type: "AWS::Lambda::Function",
            before: Some("old"),
            after: Some(SECRET),
            caused_by_secret: true,
        };
        let masked = Some("(masked)");
        assert_eq!(
            shown(&caused).after.as_deref(),
            masked,
            "a NoEcho parameter's value"
        );
        let key = DescribedValue {
            path: "/Properties/Name",
            resource_type: "AWS::ApiGateway::ApiKey",
            caused_by_secret: false,
            ..caused
        };
        assert_eq!(
            shown(&key).after.as_deref(),
            masked,
            "a secret type's value"
        );
        for name in [
            "ClientSecret",
            "auth_key",
            "SSHPrivateKey",
            "APIKey",
            "Passphrase",
        ] {
            assert!(names_a_secret(name), "{name}");
        }
        for name in ["BucketName", "ReadCapacityUnits", "KmsKeyId", "Tags"] {
            assert!(!names_a_secret(name), "{name}");
        }
    }

    /// What an attacker's review found shown, each now masked: named values in arrays, an
    /// element's path without its name, JSON held in strings, JSON cut short, credentials in URLs,
    /// names the first list missed, and a value that forges a line of the diff.
    #[test]
    fn secrets_in_arrays_strings_truncations_and_urls_are_masked() {
        const SECRET: &str = "hunter2-s3cr3t";
        let cases = [
            (
                "/Properties/ContainerDefinitions",
                format!(
                    r#"[{{"Environment":[{{"Name":"DB_PASSWORD","Value":"{SECRET}"}},{{"Name":"MODE","Value":"fast"}}]}}]"#
                ),
            ),
            (
                "/Properties/ContainerDefinitions/0/Environment/1/Value",
                SECRET.to_string(),
            ),
            (
                "/Properties/Targets",
                format!(r#"[{{"Input":"{{\"password\":\"{SECRET}\"}}"}}]"#),
            ),
            (
                "/Properties/Description",
                format!(r#""{{\"cfg\":\"{{\\\"token\\\":\\\"{SECRET}\\\"}}\"}}""#),
            ),
            (
                "/Properties/Environment",
                format!(r#"{{"Variables":{{"MODE":"fast","DB_PASSWORD":"{SECRET}","#),
            ),
            (
                "/Properties/Description",
                format!("postgres://app:{SECRET}@db.internal:5432/app"),
            ),
            (
                "/Properties/Environment",
                format!(r#"{{"Variables":{{"DB_PASS":"{SECRET}"}}}}"#),
            ),
        ];
        for (path, value) in cases {
            let shown = show(path, None, Some(&value));
            let after = shown.after.unwrap();
            assert!(!after.contains(SECRET), "{path}: {after}");
        }
        let names = show(
            "/Properties/ContainerDefinitions",
            None,
            Some(r#"[{"Environment":[{"Name":"MODE","Value":"fast"}]}]"#),
        );
        assert!(
            names.after.unwrap().contains("fast"),
            "named values that are not secret are shown"
        );
        let forged = show(
            "/Properties/Description",
            None,
            Some("ok\n~ Fake (AWS::X) looks fine\u{202e}"),
        );
        let after = forged.after.unwrap();
        assert!(
            !after.contains('\n') && !after.contains('\u{202e}'),
            "{after}"
        );
    }

    /// A second review's list, each masked: positional values, other name/value key spellings,
    /// secrets assigned in text, headers and URLs with query strings.
    #[test]
    fn positional_values_other_pairs_and_assignments_in_text_are_masked() {
        const SECRET: &str = "hunter2-s3cr3t";
        let cases = [
            ("/Properties/OptionSettings/3/Value", SECRET.to_string()),
            (
                "/Properties/SourceConfiguration",
                format!(
                    r#"{{"RuntimeEnvironmentVariables":[{{"Name":"DB_PASSWORD","Value":"{SECRET}"}}]}}"#
                ),
            ),
            (
                "/Properties/OptionSettings",
                format!(r#"[{{"OptionName":"DB_PASSWORD","Value":"{SECRET}"}}]"#),
            ),
            (
                "/Properties/Attributes",
                format!(r#"[{{"AttributeName":"api_token","AttributeValue":"{SECRET}"}}]"#),
            ),
            (
                "/Properties/Pairs",
                format!(r#"[{{"NAME":"PASSWORD","VALUE":"{SECRET}"}}]"#),
            ),
            (
                "/Properties/UserData",
                format!("#!/bin/sh\nexport DB_PASSWORD={SECRET}\n"),
            ),
            ("/Properties/Description", format!("password: {SECRET}")),
            (
                "/Properties/Headers",
                format!("Authorization: Bearer {SECRET}"),
            ),
            (
                "/Properties/Endpoint",
                format!("https://hooks.example/x?token={SECRET}"),
            ),
        ];
        for (path, value) in cases {
            let after = show(path, None, Some(&value)).after.unwrap();
            assert!(!after.contains(SECRET), "{path}: {after}");
        }
    }

    #[test]
    fn a_value_known_only_after_apply_says_so() {
        let unknown = show(
            "/Properties/Role",
            Some("arn:aws:iam::1:role/a"),
            Some("{{changeSet:KNOWN_AFTER_APPLY}}"),
        );
        assert_eq!(unknown.after.as_deref(), Some("(known after apply)"));
    }
}
