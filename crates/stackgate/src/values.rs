//! Before and after values of the properties a change modifies, as approvers read them: short, and
//! never a secret. A value is masked when it comes from a `NoEcho` parameter, is or holds a dynamic
//! reference, or sits under a name that says secret (`Password`, `Token`, …), also inside a JSON
//! value (a function's environment variables). Masking happens where the change set is read, so an
//! unmasked value is never held, logged or put in the workflow's state.

use std::collections::BTreeSet;

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
    "passphrase",
    "secret",
    "token",
    "privatekey",
    "credential",
    "apikey",
    "accesskey",
    "authkey",
    "connectionstring",
    "sessionkey",
];

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

/// A property change as the change set describes it (a `Details` entry's target).
#[derive(Clone, Copy)]
pub struct DescribedValue<'a> {
    pub path: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    /// The parameter that caused the change (`ChangeSource: ParameterReference`).
    pub causing_parameter: Option<&'a str>,
}

// No Debug for DescribedValue: it holds values before masking.

/// Whether a property or key name says its value is a secret.
pub fn names_a_secret(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| folded.contains(s))
}

/// The value as shown: masked where it may be a secret, JSON made compact, cut to length.
pub fn shown(described: &DescribedValue, secret_parameters: &BTreeSet<String>) -> ShownValue {
    let whole_secret = names_a_secret(described.path)
        || described
            .causing_parameter
            .is_some_and(|p| secret_parameters.contains(p));
    let show = |value: Option<&str>| value.map(|v| one_value(v, whole_secret));
    ShownValue {
        path: described.path.to_string(),
        before: show(described.before),
        after: show(described.after),
    }
}

fn one_value(value: &str, secret: bool) -> String {
    if secret {
        return "(masked)".into();
    }
    if value.contains(KNOWN_AFTER_APPLY) {
        return "(known after apply)".into();
    }
    let text = match serde_json::from_str::<Value>(value) {
        Ok(Value::String(inner)) => masked_text(&inner),
        Ok(mut json @ (Value::Object(_) | Value::Array(_))) => {
            mask_json(&mut json);
            json.to_string()
        }
        _ => masked_text(value),
    };
    cut(&text)
}

fn masked_text(text: &str) -> String {
    if text.contains(DYNAMIC_REFERENCE) {
        "(dynamic reference)".into()
    } else {
        text.to_string()
    }
}

/// Masks what a JSON value holds under secret names, and every dynamic reference in it.
fn mask_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                if names_a_secret(key) {
                    *inner = Value::String("(masked)".into());
                } else {
                    mask_json(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        Value::String(text) if text.contains(DYNAMIC_REFERENCE) => {
            *text = "(dynamic reference)".into();
        }
        _ => {}
    }
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_VALUE_CHARS) {
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
            before,
            after,
            causing_parameter: None,
        };
        shown(&described, &BTreeSet::new())
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

        let no_echo = BTreeSet::from(["DbPassword".to_string(), "Plain".to_string()]);
        let caused = DescribedValue {
            path: "/Properties/Description",
            before: Some("old"),
            after: Some(SECRET),
            causing_parameter: Some("Plain"),
        };
        let shown = shown(&caused, &no_echo);
        assert_eq!(
            shown.after.as_deref(),
            Some("(masked)"),
            "a NoEcho parameter's value"
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
