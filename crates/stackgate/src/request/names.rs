//! Validated names: a value of these types has passed its rule, wherever it was read from (a
//! request, the workflow's state, the operator's settings). Errors say what the rule is, never
//! what was given.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::TaskError;

/// CloudFormation's own limit for a stack name.
pub const MAX_STACK_NAME: usize = 128;

/// Why a name breaks CloudFormation's rule (a letter, then letters, digits and hyphens; at most
/// 128 characters).
pub fn stack_name_rule(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_STACK_NAME {
        return Err(format!(
            "must be at most {MAX_STACK_NAME} characters (got {})",
            name.len()
        ));
    }
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err("must start with a letter".into());
    }
    if chars.any(|c| !(c.is_ascii_alphanumeric() || c == '-')) {
        return Err("may hold only letters, digits and hyphens".into());
    }
    Ok(())
}

/// Checks a name against CloudFormation's rule; the error names `field`.
pub fn validate_stack_name(field: &str, name: &str) -> Result<(), TaskError> {
    stack_name_rule(name).map_err(|message| TaskError::invalid(field, message))
}

/// A path inside the revision zip: relative, without `..`, so it cannot escape the archive root.
pub fn validate_template_path(path: &str) -> Result<String, TaskError> {
    validate_archive_path("templatePath", path)
}

/// The same rule for any file of an archive; the error names `field`.
pub fn validate_archive_path(field: &str, path: &str) -> Result<String, TaskError> {
    template_path_rule(path).map_err(|message| TaskError::invalid(field, message))
}

fn template_path_rule(path: &str) -> Result<String, &'static str> {
    if path.is_empty() {
        return Err("must not be empty");
    }
    if path.contains('\\') || path.contains('\0') {
        return Err("must use '/' separators only");
    }
    if path.starts_with('/') {
        return Err("must be relative to the revision root");
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err("must not contain '..'");
    }
    if parts.is_empty() {
        return Err("must name a file");
    }
    Ok(parts.join("/"))
}

/// A string type that holds only values its rule accepts; (de)serialised as the string.
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, String> {
                let value = value.into();
                let rule: fn(&str) -> Result<String, String> = $rule;
                rule(&value).map($name)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                $name::parse(value).map_err(crate::error::rule)
            }
        }
    };
}

validated_string!(
    /// A full stack name, `<environment>-<name>`, by CloudFormation's rule.
    StackName,
    |name| stack_name_rule(name).map(|()| name.to_string())
);

validated_string!(
    /// A managed environment's name: the first part of its stacks' names.
    EnvironmentName,
    |name| stack_name_rule(name).map(|()| name.to_string())
);

validated_string!(
    /// A template's path inside a revision zip, normalised (`./a//b.yaml` is `a/b.yaml`).
    TemplatePath,
    |path| template_path_rule(path).map_err(str::to_string)
);

/// A capability a deployment may acknowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Capability {
    #[serde(rename = "CAPABILITY_IAM")]
    Iam,
    #[serde(rename = "CAPABILITY_NAMED_IAM")]
    NamedIam,
    #[serde(rename = "CAPABILITY_AUTO_EXPAND")]
    AutoExpand,
}

impl Capability {
    pub const ALL: [Capability; 3] = [
        Capability::Iam,
        Capability::NamedIam,
        Capability::AutoExpand,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Iam => "CAPABILITY_IAM",
            Capability::NamedIam => "CAPABILITY_NAMED_IAM",
            Capability::AutoExpand => "CAPABILITY_AUTO_EXPAND",
        }
    }

    pub fn parse(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The names, for messages.
    pub fn names() -> String {
        Capability::ALL.map(Capability::as_str).join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_name_rule_matches_cloudformation() {
        assert!(validate_stack_name("f", "a").is_ok());
        assert!(validate_stack_name("f", &"a".repeat(128)).is_ok());
        assert!(validate_stack_name("f", &"a".repeat(129)).is_err());
        assert!(validate_stack_name("f", "a-B-9").is_ok());
        assert!(validate_stack_name("f", "9a").is_err());
        assert!(validate_stack_name("f", "a.b").is_err());
        assert!(validate_stack_name("f", "").is_err());
    }

    #[test]
    fn template_path_is_normalised_and_confined() {
        assert_eq!(
            validate_template_path("./infra//t.yaml").unwrap(),
            "infra/t.yaml"
        );
        for bad in ["", "/t", "a/../../t", "..", "a\\b", ".", "./"] {
            assert!(validate_template_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_cannot_be_read_from_state_unless_valid_and_errors_never_repeat_them() {
        let name: StackName = serde_json::from_value(serde_json::json!("prod-app")).unwrap();
        assert_eq!(name, "prod-app");
        assert_eq!(serde_json::to_value(&name).unwrap(), "prod-app");
        let error = serde_json::from_value::<StackName>(serde_json::json!("prod_hunter2"))
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert_eq!(
            crate::error::redact_values(&error),
            "may hold only letters, digits and hyphens"
        );
        let path: TemplatePath = serde_json::from_value(serde_json::json!("./a//b.yaml")).unwrap();
        assert_eq!(path, "a/b.yaml");
        assert!(serde_json::from_value::<TemplatePath>(serde_json::json!("../x")).is_err());
        assert_eq!(Capability::parse("CAPABILITY_IAM"), Some(Capability::Iam));
        assert_eq!(Capability::parse("CAPABILITY_ROOT"), None);
    }
}
