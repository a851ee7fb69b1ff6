//! The deployment request, defined once: `DeployRequest` is what arrives (the API's body, a
//! pipeline's input file, account vending's network deployment, a direct StartExecution), and
//! `Deployment` is what the workflow works from once every rule has passed. Every mistake names
//! its field and none repeats a value.
//!
//! The validation is `DeployRequest::validate(execution_name)` rather than `TryFrom`: the
//! blue/green stack's default name is derived from the execution, which the request does not hold.

mod deletion;
mod fields;
mod names;
pub mod release;
mod rollback;
mod secrets;
mod source;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::destination::Destination;
use crate::guardrails::RESERVED_TAG_PREFIX;
use crate::TaskError;
pub use deletion::{DeleteRequest, Deletion, OnUnsafeDeletion};
use fields::*;
pub use fields::{is_plan_id, plan_id};
pub use names::{
    stack_name_rule, validate_archive_path, validate_stack_name, validate_template_path,
    Capability, EnvironmentName, StackName, TemplatePath, MAX_STACK_NAME,
};
pub use rollback::{floors as rollback_floors, Rollback, MAX_ALARMS, MAX_MONITORING_MINUTES};
pub use secrets::{check_secret_parameters, is_secret_reference, DeclaredParameter};
use source::SourceFields;
pub use source::TemplateSource;

const MAX_TAGS: usize = 50;
const MAX_PARAMETERS: usize = 200;
const MAX_REQUESTED_BY: usize = 512;

/// The request as it arrives. Field names are the contract (`docs/api.md` lists them, and a test
/// holds the two together); unknown fields are refused, so a typo is an error, not a default.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployRequest {
    pub environment_name: Option<String>,
    pub stack_name: Option<String>,
    pub revision_s3_bucket: Option<String>,
    pub revision_s3_key: Option<String>,
    pub template_path: Option<String>,
    pub template_url: Option<String>,
    pub template_s3_bucket: Option<String>,
    pub template_s3_key: Option<String>,
    pub parameters: Option<BTreeMap<String, Scalar>>,
    pub secret_parameters: Option<Vec<String>>,
    pub tags: Option<BTreeMap<String, Scalar>>,
    pub capabilities: Option<Vec<Capability>>,
    pub on_unsafe: Option<OnUnsafe>,
    pub on_drift: Option<OnDrift>,
    pub allow_data_loss: Option<Vec<String>>,
    pub approval_timeout_seconds: Option<u64>,
    pub blue_green_suffix: Option<String>,
    pub rollback_alarms: Option<Vec<String>>,
    pub monitoring_minutes: Option<u64>,
    pub requested_by: Option<String>,
    pub plan_expires_at: Option<String>,
    pub apply_plan: Option<String>,
    pub release_plan: Option<String>,
    pub release_approval: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
}

/// A parameter or tag value: a string, or a number or boolean written as CloudFormation reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(Scalar(text)),
            Value::Number(n) => Ok(Scalar(n.to_string())),
            Value::Bool(b) => Ok(Scalar(b.to_string())),
            _ => Err(crate::error::rule(
                "must be a string, a number or a boolean",
            )),
        }
    }
}

/// What to do when a change set would delete or replace something.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnUnsafe {
    #[default]
    Fail,
    BlueGreen,
    /// Ask people (approval email and page); execute only on their yes.
    Approve,
}

/// What to do when resources of the stack drifted (changed outside CloudFormation) before an update.
/// Without it, drift of a resource that holds data refuses the deployment (`crate::drift::decide`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnDrift {
    /// Refuse any drift, and an unknown result.
    Fail,
    /// A person decides, seeing the drift.
    Approve,
    /// List it and go on.
    Ignore,
}

/// A validated deployment request; what the later states of the workflow work from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub environment_name: EnvironmentName,
    /// `<environmentName>-<stackName>`.
    pub stack_name: StackName,
    pub source: TemplateSource,
    /// Never written out (outputs, state, messages): a value may be a secret if a check missed it.
    #[serde(default, skip_serializing)]
    pub parameters: BTreeMap<String, String>,
    /// Parameters the request says are secret (besides those the template declares `NoEcho`):
    /// accepted only as references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_parameters: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub capabilities: Vec<Capability>,
    pub on_unsafe: OnUnsafe,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_drift: Option<OnDrift>,
    /// Logical ids (`Parent/Child` inside nested stacks) whose removal or replacement the request
    /// accepts losing data for; honoured only where the operator lets requests say so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_data_loss: Vec<String>,
    /// The stack a blue/green deployment creates instead of replacing resources.
    pub blue_green_stack_name: StackName,
    /// How long an approval waits for a decision (`onUnsafe: approve`).
    #[serde(default = "default_approval_timeout")]
    pub approval_timeout_seconds: u64,
    /// The alarms CloudFormation watches (the request's; the operator's are added by the plan).
    #[serde(default)]
    pub rollback: Rollback,
    /// Who asked: set by the API (API key id or IAM principal), the CodePipeline trigger and
    /// account vending; a direct StartExecution may set it and is recorded as not saying.
    #[serde(default = "not_recorded")]
    pub requested_by: String,
    /// Only a plan (`POST /plans`): the change set is judged and kept, unexecuted, until this time
    /// (RFC 3339, UTC) for a later `applyPlan`, then deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_expires_at: Option<String>,
    /// Executes the change set this plan (its execution id) made and judged, never a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_plan: Option<String>,
    /// A plan made for this release (its execution id): it ends once judged, and the release
    /// applies or deletes its change set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_plan: Option<String>,
    /// Applying a release's plan: the release's approval (its id) that a person gave for it, in
    /// place of one of its own; the plan step reads it and executes only if it lists this plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_approval: Option<String>,
    /// Where the stack lives: another account (through its deploy role) or Region; a release's
    /// stacks only. Always written (nulls at home): the workflows pass it on.
    #[serde(default)]
    pub destination: Destination,
}

/// Who asked, when the workflow's input does not say.
pub const NOT_RECORDED: &str = "not recorded (started without requestedBy)";

fn not_recorded() -> String {
    NOT_RECORDED.to_string()
}

fn default_approval_timeout() -> u64 {
    crate::approval::DEFAULT_TIMEOUT_SECONDS
}

/// A string field, trimmed; empty is a mistake, not an absence.
fn text(field: &str, value: Option<String>) -> Result<Option<String>, TaskError> {
    match value {
        Some(text) if text.trim().is_empty() => Err(TaskError::invalid(field, "must not be empty")),
        Some(text) => Ok(Some(text.trim().to_string())),
        None => Ok(None),
    }
}

fn required(field: &str, value: Option<String>) -> Result<String, TaskError> {
    text(field, value)?.ok_or_else(|| TaskError::invalid(field, "is required"))
}

fn string_map(
    field: &str,
    map: Option<BTreeMap<String, Scalar>>,
    limit: usize,
) -> Result<BTreeMap<String, String>, TaskError> {
    let map = map.unwrap_or_default();
    if map.len() > limit {
        return Err(TaskError::invalid(
            field,
            format!("holds {} entries, at most {limit} are allowed", map.len()),
        ));
    }
    if map.contains_key("") {
        return Err(TaskError::invalid(field, "keys must not be empty"));
    }
    Ok(map.into_iter().map(|(k, Scalar(v))| (k, v)).collect())
}

impl DeployRequest {
    /// Every rule, field by field. `execution_name` seeds the blue/green suffix.
    pub fn validate(self, execution_name: &str) -> Result<Deployment, TaskError> {
        let environment = required("environmentName", self.environment_name)?;
        let environment_name = EnvironmentName::parse(environment)
            .map_err(|message| TaskError::invalid("environmentName", message))?;
        let short_name = required("stackName", self.stack_name)?;
        if short_name.starts_with('-') {
            return Err(TaskError::invalid(
                "stackName",
                "must not start with a hyphen",
            ));
        }
        let stack_name = StackName::parse(format!("{environment_name}-{short_name}"))
            .map_err(|message| TaskError::invalid("stackName", message))?;
        let on_unsafe = self.on_unsafe.unwrap_or_default();
        let blue_green_stack_name = blue_green_stack_name(
            text("blueGreenSuffix", self.blue_green_suffix)?,
            &stack_name,
            on_unsafe,
            execution_name,
        )?;
        let tags = string_map("tags", self.tags, MAX_TAGS)?;
        if let Some(reserved) = tags.keys().find(|k| k.starts_with(RESERVED_TAG_PREFIX)) {
            return Err(TaskError::invalid(
                format!("tags.{reserved}"),
                format!(
                    "tag keys starting with {RESERVED_TAG_PREFIX:?} are set by stackgate itself"
                ),
            ));
        }
        let source = TemplateSource::from_fields(SourceFields {
            revision_bucket: text("revisionS3Bucket", self.revision_s3_bucket)?,
            revision_key: text("revisionS3Key", self.revision_s3_key)?,
            template_path: text("templatePath", self.template_path)?,
            url: text("templateUrl", self.template_url)?,
            bucket: text("templateS3Bucket", self.template_s3_bucket)?,
            key: text("templateS3Key", self.template_s3_key)?,
        })?;
        let mut capabilities = Vec::new();
        for capability in self.capabilities.unwrap_or_default() {
            if !capabilities.contains(&capability) {
                capabilities.push(capability);
            }
        }
        Ok(Deployment {
            environment_name,
            stack_name,
            source,
            parameters: string_map("parameters", self.parameters, MAX_PARAMETERS)?,
            secret_parameters: secret_names(self.secret_parameters)?,
            tags,
            capabilities,
            on_unsafe,
            on_drift: self.on_drift,
            allow_data_loss: logical_ids("allowDataLoss", self.allow_data_loss)?,
            blue_green_stack_name,
            approval_timeout_seconds: approval_timeout(self.approval_timeout_seconds)?,
            rollback: Rollback::from_request(self.rollback_alarms, self.monitoring_minutes)?,
            requested_by: requested_by(text("requestedBy", self.requested_by)?)?,
            plan_expires_at: plan_expiry(text("planExpiresAt", self.plan_expires_at)?)?,
            apply_plan: plan_id("applyPlan", text("applyPlan", self.apply_plan)?)?,
            release_plan: release_id(text("releasePlan", self.release_plan)?)?,
            release_approval: approval_ref(text("releaseApproval", self.release_approval)?)?,
            destination: Destination::new(
                text("account", self.account)?,
                text("region", self.region)?,
            )?,
        })
        .and_then(Deployment::one_stage)
    }

    /// The request's field names, as the contract spells them (from serde's own list, so that
    /// they cannot drift from the struct).
    pub fn field_names() -> Vec<String> {
        let probe = serde_json::json!({"\u{1}": null});
        let message = serde_json::from_value::<DeployRequest>(probe)
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
        message
            .split_once("expected one of ")
            .map(|(_, names)| {
                names
                    .split(", ")
                    .map(|n| n.trim_matches('`').to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Deployment {
    /// A plan is made or applied, not both in one execution.
    fn one_stage(self) -> Result<Self, TaskError> {
        if self.release_plan.is_some() && self.plan_expires_at.is_none() {
            return Err(TaskError::invalid(
                "releasePlan",
                "is taken only with planExpiresAt: a release's stacks are planned first",
            ));
        }
        if self.release_approval.is_some() && self.apply_plan.is_none() {
            return Err(TaskError::invalid(
                "releaseApproval",
                "is taken only with applyPlan: a release's approval covers its plans",
            ));
        }
        if self.plan_expires_at.is_some() && self.apply_plan.is_some() {
            return Err(TaskError::invalid(
                "applyPlan",
                "is not taken with planExpiresAt: an execution makes a plan or applies one",
            ));
        }
        Ok(self)
    }
}

/// A short, name-safe suffix for the blue/green stack, stable for one execution.
pub fn default_blue_green_suffix(execution_name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(execution_name.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("g{hex}")
}

/// How an error names an input key: the key itself, or `""` for the empty key (never nothing).
pub fn key_name(key: &str) -> String {
    if key.is_empty() {
        "\"\"".to_string()
    } else {
        key.to_string()
    }
}

/// Validates the raw workflow input. `execution_name` seeds the blue/green suffix.
pub fn parse_deployment(input: &Value, execution_name: &str) -> Result<Deployment, TaskError> {
    if !input.is_object() {
        return Err(TaskError::invalid("$", "the input must be a JSON object"));
    }
    crate::error::parse_input::<DeployRequest>(input.clone())?.validate(execution_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(result: Result<Deployment, TaskError>) -> String {
        match result {
            Err(TaskError::InvalidInput { field, .. }) => field,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    fn revision_input() -> Value {
        json!({
            "environmentName": "prod",
            "stackName": "sample-app",
            "templatePath": "infra/app.yaml",
            "revisionS3Bucket": "artifacts",
            "revisionS3Key": "pipeline/source/abc"
        })
    }

    #[test]
    fn a_pipeline_input_parses_with_the_prefixed_stack_name() {
        let d = parse_deployment(&revision_input(), "exec-1").unwrap();
        assert_eq!(d.stack_name, "prod-sample-app");
        assert_eq!(d.on_unsafe, OnUnsafe::Fail);
        assert_eq!(
            d.source,
            TemplateSource::Revision {
                bucket: "artifacts".into(),
                key: "pipeline/source/abc".into(),
                template_path: TemplatePath::parse("infra/app.yaml").unwrap()
            }
        );
        assert!(d.blue_green_stack_name.starts_with("prod-sample-app-g"));
    }

    #[test]
    fn alternative_sources_parse() {
        let url = parse_deployment(
            &json!({"environmentName":"dev","stackName":"a","templateUrl":"https://b.s3.amazonaws.com/t.yaml"}),
            "e",
        )
        .unwrap();
        assert!(matches!(url.source, TemplateSource::Url { .. }));
        let obj = parse_deployment(
            &json!({"environmentName":"dev","stackName":"a","templateS3Bucket":"b","templateS3Key":"k"}),
            "e",
        )
        .unwrap();
        assert!(matches!(obj.source, TemplateSource::S3Object { .. }));
    }

    #[test]
    fn every_mistake_names_its_field() {
        let cases = [
            (json!([]), "$"),
            (
                json!({"stackName":"a","templateUrl":"https://x/y"}),
                "environmentName",
            ),
            (
                json!({"environmentName":"dev","templateUrl":"https://x/y"}),
                "stackName",
            ),
            (
                json!({"environmentName":"dev","stackName":"a_b","templateUrl":"https://x/y"}),
                "stackName",
            ),
            (
                json!({"environmentName":"1dev","stackName":"a","templateUrl":"https://x/y"}),
                "environmentName",
            ),
            (
                json!({"environmentName":"dev","stackName":"a"}),
                "templateUrl",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","templateUrl":"ftp://x"}),
                "templateUrl",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y","templateS3Bucket":"b","templateS3Key":"k"}),
                "templateUrl",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","revisionS3Bucket":"b","revisionS3Key":"k"}),
                "templatePath",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","revisionS3Bucket":"b","templatePath":"t"}),
                "revisionS3Key",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","revisionS3Bucket":"b","revisionS3Key":"k","templatePath":"../etc/passwd"}),
                "templatePath",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","revisionS3Bucket":"b","revisionS3Key":"k","templatePath":"/abs"}),
                "templatePath",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","templateS3Bucket":"b"}),
                "templateS3Key",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y","parameters":[1]}),
                "parameters",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y","parameters":{"P":{"x":1}}}),
                "parameters.P",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y","tags":"x"}),
                "tags",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y","capabilities":["CAPABILITY_ROOT"]}),
                "capabilities[0]",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y","onUnsafe":"yolo"}),
                "onUnsafe",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y","approvalTimeoutSeconds":5}),
                "approvalTimeoutSeconds",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y","approvalTimeoutSeconds":"1h"}),
                "approvalTimeoutSeconds",
            ),
            (
                json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y","stackname":"typo"}),
                "stackname",
            ),
            (
                json!({"environmentName":"dev","stackName":42,"templateUrl":"https://x/y"}),
                "stackName",
            ),
            (
                json!({"environmentName":"dev","stackName":"  ","templateUrl":"https://x/y"}),
                "stackName",
            ),
        ];
        for (input, field) in cases {
            assert_eq!(
                field_of(parse_deployment(&input, "e")),
                field,
                "input {input}"
            );
        }
    }

    #[test]
    fn maps_and_capabilities_are_normalised() {
        let d = parse_deployment(
            &json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y",
                    "parameters":{"Size":3,"Flag":true,"Name":"n"},
                    "capabilities":["CAPABILITY_IAM","CAPABILITY_IAM"],"onUnsafe":"blueGreen"}),
            "e",
        )
        .unwrap();
        assert_eq!(d.parameters["Size"], "3");
        assert_eq!(d.parameters["Flag"], "true");
        assert_eq!(d.capabilities, vec![Capability::Iam]);
        assert_eq!(d.on_unsafe, OnUnsafe::BlueGreen);
    }

    #[test]
    fn the_blue_green_length_rule_applies_only_to_blue_green_and_names_the_real_constraint() {
        let name = "a".repeat(119);
        let plain = json!({"environmentName":"dev","stackName": name,"templateUrl":"https://x/y"});
        assert_eq!(parse_deployment(&plain, "e").unwrap().stack_name.len(), 123);
        let mut blue_green = plain.clone();
        blue_green["onUnsafe"] = json!("blueGreen");
        match parse_deployment(&blue_green, "e") {
            Err(TaskError::InvalidInput { field, message }) => {
                assert_eq!(field, "stackName");
                assert!(
                    message.contains("blue/green") && message.contains("at most 118"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        blue_green["blueGreenSuffix"] = json!("x".repeat(20));
        assert_eq!(
            field_of(parse_deployment(&blue_green, "e")),
            "blueGreenSuffix"
        );
        let mut bad_suffix = plain;
        bad_suffix["blueGreenSuffix"] = json!("a_b");
        assert_eq!(
            field_of(parse_deployment(&bad_suffix, "e")),
            "blueGreenSuffix"
        );
    }

    #[test]
    fn stackgate_tags_and_who_asked_cannot_be_forged_into_odd_shapes() {
        let reserved = json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y",
                              "tags": {"stackgate:managed": "true"}});
        assert_eq!(
            field_of(parse_deployment(&reserved, "e")),
            "tags.stackgate:managed"
        );
        let who = json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y",
                         "requestedBy": "apiKey:k1"});
        assert_eq!(
            parse_deployment(&who, "e").unwrap().requested_by,
            "apiKey:k1"
        );
        let control = json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y",
                             "requestedBy": "a\nb"});
        assert_eq!(field_of(parse_deployment(&control, "e")), "requestedBy");
        let none = json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y"});
        assert_eq!(
            parse_deployment(&none, "e").unwrap().requested_by,
            NOT_RECORDED
        );
    }

    #[test]
    fn an_unused_blue_green_name_is_never_the_stacks_own() {
        let name = "a".repeat(123);
        let input = json!({"environmentName":"dev","stackName": name,"templateUrl":"https://x/y"});
        let d = parse_deployment(&input, "e").unwrap();
        assert_eq!(d.stack_name.len(), 127);
        assert!(d.blue_green_stack_name.len() <= MAX_STACK_NAME);
        assert_ne!(d.blue_green_stack_name.as_str(), d.stack_name.as_str());
        assert!(d
            .blue_green_stack_name
            .ends_with(&default_blue_green_suffix("e")));
    }

    #[test]
    fn no_error_repeats_a_value_even_one_that_mimics_serdes_words() {
        let planted = "x, expected hunter2";
        for (field, value) in [
            ("onUnsafe", json!(planted)),
            ("approvalTimeoutSeconds", json!(planted)),
            ("capabilities", json!([planted])),
            ("parameters", json!(planted)),
            ("tags", json!(planted)),
            ("secretParameters", json!(planted)),
            ("stackName", json!({"a": planted})),
        ] {
            let mut input =
                json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y"});
            input[field] = value;
            let error = parse_deployment(&input, "e").unwrap_err().to_string();
            assert!(!error.contains("hunter2"), "{field}: {error}");
        }
    }

    #[test]
    fn blue_green_suffix_is_stable_per_execution() {
        assert_eq!(
            default_blue_green_suffix("x"),
            default_blue_green_suffix("x")
        );
        assert_ne!(
            default_blue_green_suffix("x"),
            default_blue_green_suffix("y")
        );
    }
}
