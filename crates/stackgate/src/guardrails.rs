//! The operator's rules for every deployment, whoever asks for it (the API, CodePipeline, account
//! vending or a direct StartExecution): which environments are managed, which buckets templates may
//! come from, which capabilities may be acknowledged, and the tags that mark a stack as stackgate's.
//! The plan step applies them to every request; the API applies the same rules to answer early.

use std::collections::BTreeMap;

use crate::request::{Capability, Deployment, TemplateSource};
use crate::{s3_url, TaskError};

/// Every stack stackgate creates carries these tags; a stack without them is not stackgate's.
pub const MANAGED_TAG: &str = "stackgate:managed";
pub const ENVIRONMENT_TAG: &str = "stackgate:environment";
/// Tag keys a request may not set (they are stackgate's to set).
pub const RESERVED_TAG_PREFIX: &str = "stackgate:";
/// Where the stacks API keeps an inline template (`templateBody`): the staging bucket, under this
/// prefix and the body's SHA-256, which only the stacks API writes.
pub const INLINE_PREFIX: &str = "inline/";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Guardrails {
    /// Environments whose stacks (`<environment>-<name>`) stackgate may create, read and delete;
    /// no name is a prefix of another's (`prod` and `prod-eu` would share `prod-eu-app`).
    pub environments: Vec<String>,
    /// Buckets `templateUrl` and `templateS3Bucket` may name.
    pub template_buckets: Vec<String>,
    /// The bucket CodePipeline revisions (zips) come from.
    pub artifact_bucket: Option<String>,
    /// Hosts of path-style S3 URLs other than AWS's (the local stack's S3 endpoint).
    pub path_style_hosts: Vec<String>,
    /// Capabilities a request may acknowledge; none by default.
    pub capabilities: Vec<Capability>,
    /// The staging bucket, when the operator allows inline templates (`INLINE_TEMPLATES=on`): its
    /// `inline/<sha256>` objects count as allowed, and nothing else of it does.
    pub inline_bucket: Option<String>,
}

/// The key of an inline template: its SHA-256, so that the same body is the same object.
pub fn inline_key(body: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{INLINE_PREFIX}{hex}")
}

/// Whether a key is an inline template's, as `inline_key` makes them and nothing more.
fn is_inline_key(key: &str) -> bool {
    key.strip_prefix(INLINE_PREFIX).is_some_and(|hash| {
        hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

pub fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Guardrails {
    /// Validates the operator's settings: a mistake here is named by the setting it is in.
    pub fn new(
        environments: Vec<String>,
        template_buckets: Vec<String>,
        artifact_bucket: Option<String>,
        path_style_hosts: Vec<String>,
        capabilities: Vec<String>,
    ) -> Result<Self, TaskError> {
        const ENVIRONMENTS: &str = "MANAGED_ENVIRONMENTS";
        if environments.is_empty() {
            return Err(TaskError::invalid(ENVIRONMENTS, "names no environment"));
        }
        for environment in &environments {
            crate::request::validate_stack_name(ENVIRONMENTS, environment)?;
        }
        if let Some((short, long)) = overlapping(&environments) {
            return Err(TaskError::invalid(
                ENVIRONMENTS,
                format!("{short:?} and {long:?} overlap: the stack {long}-app would belong to both; rename one"),
            ));
        }
        for bucket in template_buckets.iter().chain(&artifact_bucket) {
            if !s3_url::valid_bucket_name(bucket) {
                return Err(TaskError::invalid(
                    "ALLOWED_TEMPLATE_BUCKETS",
                    format!("{bucket:?} is not a bucket name"),
                ));
            }
        }
        let capabilities = capabilities
            .iter()
            .map(|name| {
                Capability::parse(name).ok_or_else(|| {
                    TaskError::invalid(
                        "ALLOWED_CAPABILITIES",
                        format!(
                            "{name:?} is not a capability; expected {}",
                            Capability::names()
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Guardrails {
            environments,
            template_buckets,
            artifact_bucket,
            path_style_hosts,
            capabilities,
            inline_bucket: None,
        })
    }

    /// Inline templates allowed, kept in this (staging) bucket.
    pub fn with_inline_templates(self, staging_bucket: String) -> Self {
        Guardrails {
            inline_bucket: Some(staging_bucket),
            ..self
        }
    }

    /// A template bucket the operator allowed, or an inline template the stacks API stored.
    fn allows_template(&self, bucket: &str, key: &str) -> bool {
        self.template_buckets.iter().any(|b| b == bucket) || self.is_inline(bucket, key)
    }

    /// Whether a template's parts (a nested stack's template, an included file) may come from a
    /// bucket: the template buckets and the revisions' (where `sam package` puts nested templates),
    /// never the staging bucket, whose inline templates are the API's alone.
    pub fn allows_nested_template(&self, bucket: &str) -> bool {
        self.nested_template_buckets().contains(&bucket)
    }

    pub fn nested_template_buckets(&self) -> Vec<&str> {
        self.template_buckets
            .iter()
            .chain(&self.artifact_bucket)
            .map(String::as_str)
            .collect()
    }

    /// Whether an S3 object is an inline template (allowed only with the option on).
    pub fn is_inline(&self, bucket: &str, key: &str) -> bool {
        self.inline_bucket.as_deref() == Some(bucket) && is_inline_key(key)
    }

    pub fn manages(&self, environment: &str) -> bool {
        self.environments.iter().any(|e| e == environment)
    }

    /// The managed environment a full stack name belongs to, if any (at most one: they do not
    /// overlap).
    pub fn environment_of(&self, stack_name: &str) -> Option<&str> {
        self.environments
            .iter()
            .find(|env| {
                stack_name.len() > env.len() + 1
                    && stack_name.starts_with(env.as_str())
                    && stack_name.as_bytes()[env.len()] == b'-'
            })
            .map(String::as_str)
    }

    /// Whether the request stays inside what the operator allowed. Errors name the field and
    /// never repeat its value.
    pub fn authorize(&self, deployment: &Deployment) -> Result<(), TaskError> {
        if !self.manages(&deployment.environment_name) {
            return Err(TaskError::invalid(
                "environmentName",
                format!(
                    "is not an environment stackgate manages here ({})",
                    self.environments.join(", ")
                ),
            ));
        }
        let (field, allowed) = match &deployment.source {
            TemplateSource::Url { url } => {
                let object = s3_url::parse(url, &self.path_style_hosts)
                    .map_err(|rule| TaskError::invalid("templateUrl", rule))?;
                // Never an inline template: CloudFormation would read it unchecked (the plan step
                // verifies an inline object's digest when it reads the object itself).
                (
                    "templateUrl",
                    self.template_buckets.contains(&object.bucket),
                )
            }
            TemplateSource::S3Object { bucket, key } => {
                ("templateS3Bucket", self.allows_template(bucket, key))
            }
            TemplateSource::Revision { bucket, .. } => (
                "revisionS3Bucket",
                self.artifact_bucket.as_ref() == Some(bucket)
                    || self.template_buckets.contains(bucket),
            ),
        };
        if !allowed {
            let mut buckets: Vec<&str> = self.template_buckets.iter().map(String::as_str).collect();
            if field == "revisionS3Bucket" {
                buckets.extend(self.artifact_bucket.as_deref());
            }
            return Err(TaskError::invalid(
                field,
                format!(
                    "templates are read only from the buckets the operator allowed ({}); this one is not among them",
                    list_or_none(&buckets)
                ),
            ));
        }
        if deployment
            .capabilities
            .iter()
            .any(|c| !self.capabilities.contains(c))
        {
            let allowed: Vec<&str> = self.capabilities.iter().map(|c| c.as_str()).collect();
            return Err(TaskError::invalid(
                "capabilities",
                format!(
                    "asks for a capability the operator did not allow (allowed: {})",
                    list_or_none(&allowed)
                ),
            ));
        }
        Ok(())
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// Two environments where one, with a hyphen, is a prefix of the other.
fn overlapping(environments: &[String]) -> Option<(&str, &str)> {
    environments.iter().find_map(|short| {
        environments
            .iter()
            .find(|long| long.len() > short.len() && long.starts_with(&format!("{short}-")))
            .map(|long| (short.as_str(), long.as_str()))
    })
}

/// The tags stackgate puts on every stack it creates, after the request's own.
pub fn with_managed_tags(
    tags: &BTreeMap<String, String>,
    environment: &str,
) -> BTreeMap<String, String> {
    let mut all = tags.clone();
    all.insert(MANAGED_TAG.to_string(), "true".to_string());
    all.insert(ENVIRONMENT_TAG.to_string(), environment.to_string());
    all
}

/// Whether a stack's tags say stackgate made it, for this environment.
pub fn is_managed(tags: &BTreeMap<String, String>, environment: &str) -> bool {
    tags.get(MANAGED_TAG).map(String::as_str) == Some("true")
        && tags.get(ENVIRONMENT_TAG).map(String::as_str) == Some(environment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::parse_deployment;
    use serde_json::json;

    fn rails() -> Guardrails {
        Guardrails::new(
            vec!["dev".into(), "prod".into()],
            vec!["templates".into()],
            Some("artifacts".into()),
            vec!["localhost:4566".into()],
            vec!["CAPABILITY_IAM".into()],
        )
        .unwrap()
    }

    fn field(result: Result<(), TaskError>) -> String {
        match result {
            Err(TaskError::InvalidInput { field, .. }) => field,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    fn deployment(extra: serde_json::Value) -> Deployment {
        let mut input = json!({"environmentName": "dev", "stackName": "app"});
        for (k, v) in extra.as_object().unwrap() {
            input[k] = v.clone();
        }
        parse_deployment(&input, "e").unwrap()
    }

    #[test]
    fn overlapping_or_invalid_settings_are_refused_by_name() {
        let make = |envs: &[&str], buckets: &[&str], caps: &[&str]| {
            Guardrails::new(
                envs.iter().map(|s| s.to_string()).collect(),
                buckets.iter().map(|s| s.to_string()).collect(),
                None,
                vec![],
                caps.iter().map(|s| s.to_string()).collect(),
            )
        };
        let setting = |r: Result<Guardrails, TaskError>| match r {
            Err(TaskError::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            setting(make(&["prod", "prod-eu"], &[], &[])),
            "MANAGED_ENVIRONMENTS"
        );
        assert_eq!(
            setting(make(&["prod-eu", "prod"], &[], &[])),
            "MANAGED_ENVIRONMENTS"
        );
        assert_eq!(setting(make(&[], &[], &[])), "MANAGED_ENVIRONMENTS");
        assert_eq!(setting(make(&["1x"], &[], &[])), "MANAGED_ENVIRONMENTS");
        assert_eq!(
            setting(make(&["dev"], &["Bad_Bucket"], &[])),
            "ALLOWED_TEMPLATE_BUCKETS"
        );
        assert_eq!(
            setting(make(&["dev"], &[], &["CAPABILITY_ROOT"])),
            "ALLOWED_CAPABILITIES"
        );
        assert!(make(
            &["prod", "production", "prodeu"],
            &["a.b-c"],
            &["CAPABILITY_IAM"]
        )
        .is_ok());
    }

    #[test]
    fn stacks_belong_to_at_most_one_environment() {
        let r = rails();
        assert_eq!(r.environment_of("prod-app"), Some("prod"));
        assert_eq!(r.environment_of("dev-a"), Some("dev"));
        for name in ["production-app", "prod", "prod-", "other-app", ""] {
            assert_eq!(r.environment_of(name), None, "{name}");
        }
    }

    #[test]
    fn requests_stay_inside_the_operators_rules() {
        let r = rails();
        for ok in [
            json!({"templateUrl": "https://templates.s3.amazonaws.com/a.yaml"}),
            json!({"templateUrl": "http://localhost:4566/templates/a.yaml"}),
            json!({"templateS3Bucket": "templates", "templateS3Key": "a.yaml"}),
            json!({"revisionS3Bucket": "artifacts", "revisionS3Key": "k", "templatePath": "t.yaml"}),
            json!({"templateUrl": "https://templates.s3.amazonaws.com/a.yaml", "capabilities": ["CAPABILITY_IAM"]}),
        ] {
            assert_eq!(r.authorize(&deployment(ok.clone())), Ok(()), "{ok}");
        }
        let cases = [
            (
                json!({"environmentName": "qa", "templateUrl": "https://templates.s3.amazonaws.com/a.yaml"}),
                "environmentName",
            ),
            (
                json!({"templateUrl": "https://s3-attacker.s3.amazonaws.com/templates/evil.yaml"}),
                "templateUrl",
            ),
            (
                json!({"templateUrl": "https://templates.s3.x@s3-attacker.s3.amazonaws.com/evil.yaml"}),
                "templateUrl",
            ),
            (
                json!({"templateUrl": "https://artifacts.s3.amazonaws.com/a.yaml"}),
                "templateUrl",
            ),
            (
                json!({"templateS3Bucket": "other", "templateS3Key": "a.yaml"}),
                "templateS3Bucket",
            ),
            (
                json!({"revisionS3Bucket": "other", "revisionS3Key": "k", "templatePath": "t.yaml"}),
                "revisionS3Bucket",
            ),
            (
                json!({"templateUrl": "https://templates.s3.amazonaws.com/a.yaml", "capabilities": ["CAPABILITY_NAMED_IAM"]}),
                "capabilities",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                field(r.authorize(&deployment(input.clone()))),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn inline_templates_are_read_only_where_the_stacks_api_stored_them() {
        let key = inline_key("Resources: {}");
        assert!(is_inline_key(&key), "{key}");
        assert_eq!(key, inline_key("Resources: {}"));
        assert_ne!(key, inline_key("Resources: {} "));
        let staged = |bucket: &str, key: &str| {
            deployment(json!({"templateS3Bucket": bucket, "templateS3Key": key}))
        };
        // Off (the default): the staging bucket is like any other.
        assert_eq!(
            field(rails().authorize(&staged("staging", &key))),
            "templateS3Bucket"
        );
        let on = rails().with_inline_templates("staging".into());
        assert_eq!(on.authorize(&staged("staging", &key)), Ok(()));
        // Only as the object, which the plan step reads and checks, never as a URL.
        let url = format!("http://localhost:4566/staging/{key}");
        assert_eq!(
            field(on.authorize(&deployment(json!({"templateUrl": url})))),
            "templateUrl"
        );
        // Only `inline/<sha256>`: not the plan step's own staged copies, not a look-alike key.
        let upper = key.to_uppercase().replace("INLINE/", "inline/");
        for other in [
            "templates/exec/template.yaml".to_string(),
            "inline/".to_string(),
            format!("{key}/x"),
            format!("inline/../{}", &key[7..]),
            upper,
            key.replace("inline/", "inline//"),
        ] {
            assert_eq!(
                field(on.authorize(&staged("staging", &other))),
                "templateS3Bucket",
                "{other}"
            );
        }
        // Another bucket's `inline/` is not the staging bucket's.
        assert_eq!(
            field(on.authorize(&staged("templates-x", &key))),
            "templateS3Bucket"
        );
        // A revision never comes from it.
        let revision = deployment(
            json!({"revisionS3Bucket": "staging", "revisionS3Key": key, "templatePath": "t.yaml"}),
        );
        assert_eq!(field(on.authorize(&revision)), "revisionS3Bucket");
    }

    #[test]
    fn refusals_name_the_field_not_its_value() {
        let r = rails();
        let refused = r
            .authorize(&deployment(
                json!({"templateS3Bucket": "secret-bucket-x", "templateS3Key": "k"}),
            ))
            .unwrap_err();
        assert!(
            !refused.to_string().contains("secret-bucket-x"),
            "{refused}"
        );
    }

    #[test]
    fn managed_tags_are_added_and_recognised() {
        let tags = with_managed_tags(&BTreeMap::from([("team".into(), "x".into())]), "prod");
        assert!(is_managed(&tags, "prod"));
        assert!(!is_managed(&tags, "dev"));
        assert!(!is_managed(&BTreeMap::new(), "prod"));
        assert_eq!(tags["team"], "x");
    }
}
