//! The safe-deploy input contract: parsed from raw JSON so that every mistake names its field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::TaskError;

/// CloudFormation's own limit for a stack name.
pub const MAX_STACK_NAME: usize = 128;
const MAX_TAGS: usize = 50;
const MAX_PARAMETERS: usize = 200;
use crate::guardrails::{KNOWN_CAPABILITIES, RESERVED_TAG_PREFIX};
const MAX_REQUESTED_BY: usize = 512;
const KNOWN_FIELDS: [&str; 16] = [
    "environmentName",
    "stackName",
    "templatePath",
    "revisionS3Bucket",
    "revisionS3Key",
    "templateUrl",
    "templateS3Bucket",
    "templateS3Key",
    "parameters",
    "tags",
    "capabilities",
    "onUnsafe",
    "blueGreenSuffix",
    "approvalTimeoutSeconds",
    "requestedBy",
    "secretParameters",
];

/// Where the template comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TemplateSource {
    /// A file inside a zip in S3 (a CodePipeline input artifact).
    #[serde(rename_all = "camelCase")]
    Revision {
        bucket: String,
        key: String,
        template_path: String,
    },
    /// An S3 object holding the template itself.
    #[serde(rename_all = "camelCase")]
    S3Object { bucket: String, key: String },
    /// A URL CloudFormation fetches itself.
    #[serde(rename_all = "camelCase")]
    Url { url: String },
}

/// What to do when a change set would delete or replace something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnUnsafe {
    Fail,
    BlueGreen,
    /// Ask people (approval email and page); execute only on their yes.
    Approve,
}

/// A validated deployment request; what the later states of the workflow work from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub environment_name: String,
    /// `<environmentName>-<stackName>`.
    pub stack_name: String,
    pub source: TemplateSource,
    /// Never written out (outputs, state, messages): a value may be a secret if a check missed it.
    #[serde(default, skip_serializing)]
    pub parameters: BTreeMap<String, String>,
    /// Parameters the request says are secret (besides those the template declares `NoEcho`):
    /// accepted only as references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_parameters: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub capabilities: Vec<String>,
    pub on_unsafe: OnUnsafe,
    /// The stack a blue/green deployment creates instead of replacing resources.
    pub blue_green_stack_name: String,
    /// How long an approval waits for a decision (`onUnsafe: approve`).
    #[serde(default = "default_approval_timeout")]
    pub approval_timeout_seconds: u64,
    /// Who asked: set by the API (API key id or IAM principal), the CodePipeline trigger and
    /// account vending; a direct StartExecution may set it and is recorded as not saying.
    #[serde(default = "not_recorded")]
    pub requested_by: String,
}

/// Who asked, when the workflow's input does not say.
pub const NOT_RECORDED: &str = "not recorded (started without requestedBy)";

fn not_recorded() -> String {
    NOT_RECORDED.to_string()
}

fn default_approval_timeout() -> u64 {
    crate::approval::DEFAULT_TIMEOUT_SECONDS
}

/// Checks a name against CloudFormation's rule: a letter, then letters, digits and hyphens.
pub fn validate_stack_name(field: &str, name: &str) -> Result<(), TaskError> {
    if name.is_empty() {
        return Err(TaskError::invalid(field, "must not be empty"));
    }
    if name.len() > MAX_STACK_NAME {
        return Err(TaskError::invalid(
            field,
            format!(
                "must be at most {MAX_STACK_NAME} characters (got {})",
                name.len()
            ),
        ));
    }
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err(TaskError::invalid(field, "must start with a letter"));
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        return Err(TaskError::invalid(
            field,
            format!("may hold only letters, digits and hyphens (found {bad:?})"),
        ));
    }
    Ok(())
}

/// A path inside the revision zip: relative, without `..`, so it cannot escape the archive root.
pub fn validate_template_path(path: &str) -> Result<String, TaskError> {
    const FIELD: &str = "templatePath";
    if path.is_empty() {
        return Err(TaskError::invalid(FIELD, "must not be empty"));
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(TaskError::invalid(FIELD, "must use '/' separators only"));
    }
    if path.starts_with('/') {
        return Err(TaskError::invalid(
            FIELD,
            "must be relative to the revision root",
        ));
    }
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(TaskError::invalid(FIELD, "must not contain '..'"));
    }
    if parts.is_empty() {
        return Err(TaskError::invalid(FIELD, "must name a file"));
    }
    Ok(parts.join("/"))
}

fn string_field(object: &Map<String, Value>, field: &str) -> Result<Option<String>, TaskError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(TaskError::invalid(field, "must not be empty"))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(TaskError::invalid(
            field,
            format!("must be a string, got {}", json_kind(other)),
        )),
    }
}

fn required(object: &Map<String, Value>, field: &str) -> Result<String, TaskError> {
    string_field(object, field)?.ok_or_else(|| TaskError::invalid(field, "is required"))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A map of strings; numbers and booleans are accepted and written as CloudFormation would read them.
fn string_map(
    object: &Map<String, Value>,
    field: &str,
    limit: usize,
) -> Result<BTreeMap<String, String>, TaskError> {
    let entries = match object.get(field) {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(entries)) => entries,
        Some(other) => {
            return Err(TaskError::invalid(
                field,
                format!("must be an object of strings, got {}", json_kind(other)),
            ))
        }
    };
    if entries.len() > limit {
        return Err(TaskError::invalid(
            field,
            format!(
                "holds {} entries, at most {limit} are allowed",
                entries.len()
            ),
        ));
    }
    entries
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(TaskError::invalid(
                        format!("{field}.{key}"),
                        format!("must be a string, got {}", json_kind(other)),
                    ))
                }
            };
            if key.is_empty() {
                return Err(TaskError::invalid(field, "keys must not be empty"));
            }
            Ok((key.clone(), text))
        })
        .collect()
}

fn capabilities(object: &Map<String, Value>) -> Result<Vec<String>, TaskError> {
    const FIELD: &str = "capabilities";
    let items = match object.get(FIELD) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(TaskError::invalid(
                FIELD,
                format!("must be a list, got {}", json_kind(other)),
            ))
        }
    };
    let mut out = Vec::new();
    for item in items {
        let Some(name) = item.as_str() else {
            return Err(TaskError::invalid(FIELD, "entries must be strings"));
        };
        if !KNOWN_CAPABILITIES.contains(&name) {
            return Err(TaskError::invalid(
                FIELD,
                format!(
                    "holds an unknown capability; expected {}",
                    KNOWN_CAPABILITIES.join(", ")
                ),
            ));
        }
        if !out.iter().any(|c| c == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

fn on_unsafe(object: &Map<String, Value>) -> Result<OnUnsafe, TaskError> {
    match string_field(object, "onUnsafe")?.as_deref() {
        None | Some("fail") => Ok(OnUnsafe::Fail),
        Some("blueGreen") => Ok(OnUnsafe::BlueGreen),
        Some("approve") => Ok(OnUnsafe::Approve),
        Some(_) => Err(TaskError::invalid(
            "onUnsafe",
            "must be \"fail\", \"blueGreen\" or \"approve\"",
        )),
    }
}

fn template_source(object: &Map<String, Value>) -> Result<TemplateSource, TaskError> {
    let revision_bucket = string_field(object, "revisionS3Bucket")?;
    let revision_key = string_field(object, "revisionS3Key")?;
    let template_path = string_field(object, "templatePath")?;
    let url = string_field(object, "templateUrl")?;
    let bucket = string_field(object, "templateS3Bucket")?;
    let key = string_field(object, "templateS3Key")?;

    let revision = revision_bucket.is_some() || revision_key.is_some();
    let s3_object = bucket.is_some() || key.is_some();
    let given = [revision, url.is_some(), s3_object]
        .iter()
        .filter(|g| **g)
        .count();
    if given == 0 {
        return Err(TaskError::invalid(
            "templateUrl",
            "no template given: set revisionS3Bucket+revisionS3Key+templatePath, templateUrl, or templateS3Bucket+templateS3Key",
        ));
    }
    if given > 1 {
        return Err(TaskError::invalid(
            "templateUrl",
            "give exactly one template source: a revision, templateUrl, or templateS3Bucket+templateS3Key",
        ));
    }
    if revision {
        let bucket = revision_bucket.ok_or_else(|| {
            TaskError::invalid("revisionS3Bucket", "is required with revisionS3Key")
        })?;
        let key = revision_key.ok_or_else(|| {
            TaskError::invalid("revisionS3Key", "is required with revisionS3Bucket")
        })?;
        let path = template_path
            .ok_or_else(|| TaskError::invalid("templatePath", "is required with a revision"))?;
        return Ok(TemplateSource::Revision {
            bucket,
            key,
            template_path: validate_template_path(&path)?,
        });
    }
    if let Some(url) = url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(TaskError::invalid(
                "templateUrl",
                "must be an http(s) URL of an S3 object",
            ));
        }
        return Ok(TemplateSource::Url { url });
    }
    let bucket = bucket
        .ok_or_else(|| TaskError::invalid("templateS3Bucket", "is required with templateS3Key"))?;
    let key = key
        .ok_or_else(|| TaskError::invalid("templateS3Key", "is required with templateS3Bucket"))?;
    Ok(TemplateSource::S3Object { bucket, key })
}

fn approval_timeout(object: &Map<String, Value>) -> Result<u64, TaskError> {
    const FIELD: &str = "approvalTimeoutSeconds";
    const RANGE: std::ops::RangeInclusive<u64> = 60..=604_800;
    match object.get(FIELD) {
        None | Some(Value::Null) => Ok(crate::approval::DEFAULT_TIMEOUT_SECONDS),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(seconds) if RANGE.contains(&seconds) => Ok(seconds),
            _ => Err(TaskError::invalid(
                FIELD,
                "must be a whole number of seconds from 60 to 604800 (7 days)",
            )),
        },
        Some(other) => Err(TaskError::invalid(
            FIELD,
            format!("must be a number, got {}", json_kind(other)),
        )),
    }
}

/// The blue/green stack's name. Its length only matters when blue/green is asked for; then the error
/// names the real constraint (the stack name leaves no room for the suffix).
fn blue_green_stack_name(
    object: &Map<String, Value>,
    stack_name: &str,
    on_unsafe: OnUnsafe,
    execution_name: &str,
) -> Result<String, TaskError> {
    const FIELD: &str = "blueGreenSuffix";
    let given = string_field(object, FIELD)?;
    if let Some(suffix) = &given {
        if !suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(TaskError::invalid(
                FIELD,
                "may hold only letters, digits and hyphens",
            ));
        }
    }
    let suffix = given
        .clone()
        .unwrap_or_else(|| default_blue_green_suffix(execution_name));
    let name = format!("{stack_name}-{suffix}");
    if on_unsafe == OnUnsafe::BlueGreen && name.len() > MAX_STACK_NAME {
        let room = MAX_STACK_NAME.saturating_sub(suffix.len() + 1);
        return Err(if given.is_some() {
            TaskError::invalid(
                FIELD,
                format!("is too long for this stack: the blue/green stack's name ({} characters) would pass CloudFormation's {MAX_STACK_NAME}", name.len()),
            )
        } else {
            TaskError::invalid(
                "stackName",
                format!("with onUnsafe \"blueGreen\" the full stack name may be at most {room} characters (got {}): the blue/green stack adds \"-{suffix}\"", stack_name.len()),
            )
        });
    }
    Ok(name)
}

fn requested_by(object: &Map<String, Value>) -> Result<String, TaskError> {
    const FIELD: &str = "requestedBy";
    match string_field(object, FIELD)? {
        Some(who) if who.len() > MAX_REQUESTED_BY || who.chars().any(char::is_control) => {
            Err(TaskError::invalid(
                FIELD,
                format!("must be at most {MAX_REQUESTED_BY} printable characters"),
            ))
        }
        Some(who) => Ok(who),
        None => Ok(not_recorded()),
    }
}

fn name_list(
    object: &Map<String, Value>,
    field: &str,
    limit: usize,
) -> Result<Vec<String>, TaskError> {
    let items = match object.get(field) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= limit => items,
        Some(Value::Array(_)) => {
            return Err(TaskError::invalid(
                field,
                format!("holds more than {limit} names"),
            ))
        }
        Some(other) => {
            return Err(TaskError::invalid(
                field,
                format!(
                    "must be a list of parameter names, got {}",
                    json_kind(other)
                ),
            ))
        }
    };
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(name) if !name.trim().is_empty() => Ok(name.trim().to_string()),
            _ => Err(TaskError::invalid(field, "entries must be parameter names")),
        })
        .collect()
}

/// A parameter as the template declares it (CloudFormation's GetTemplateSummary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredParameter {
    pub name: String,
    pub no_echo: bool,
    /// `AWS::SSM::Parameter::Value<...>`: the value given is a parameter's name, not its value.
    pub ssm_typed: bool,
}

/// Whether a parameter value is a reference to a secret rather than the secret: one dynamic
/// reference CloudFormation resolves itself and nothing else, or, for a parameter of an SSM
/// parameter type, the name of an SSM parameter.
pub fn is_secret_reference(value: &str, ssm_typed: bool) -> bool {
    let value = value.trim();
    let dynamic = [
        "{{resolve:ssm-secure:",
        "{{resolve:secretsmanager:",
        "{{resolve:ssm:",
    ]
    .iter()
    .find_map(|prefix| value.strip_prefix(prefix))
    .and_then(|rest| rest.strip_suffix("}}"))
    .is_some_and(|inner| !inner.is_empty() && !inner.contains(['{', '}']));
    let ssm_name = ssm_typed
        && value.starts_with('/')
        && value.len() > 1
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
    dynamic || ssm_name
}

/// Refuses a plain value for a secret parameter: one the template declares `NoEcho`, or one the
/// request lists in `secretParameters`. The error names the parameter and says how to pass it;
/// it never repeats the value.
pub fn check_secret_parameters(
    deployment: &Deployment,
    declared: &[DeclaredParameter],
) -> Result<(), TaskError> {
    let no_echo = declared.iter().filter(|p| p.no_echo).map(|p| &p.name);
    for name in no_echo.chain(&deployment.secret_parameters) {
        if let Some(value) = deployment.parameters.get(name) {
            let ssm_typed = declared.iter().any(|p| &p.name == name && p.ssm_typed);
            if !is_secret_reference(value, ssm_typed) {
                return Err(TaskError::invalid(
                    format!("parameters.{name}"),
                    "is a secret (NoEcho in the template, or listed in secretParameters): pass a reference, {{resolve:ssm-secure:/name}} or {{resolve:secretsmanager:id}} (or, for an SSM parameter type, the parameter's name), never the value",
                ));
            }
        }
    }
    Ok(())
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
    let Value::Object(object) = input else {
        return Err(TaskError::invalid(
            "$",
            format!("the input must be a JSON object, got {}", json_kind(input)),
        ));
    };
    if let Some(unknown) = object.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        return Err(TaskError::invalid(
            key_name(unknown),
            format!("unknown field; expected one of {}", KNOWN_FIELDS.join(", ")),
        ));
    }
    let environment_name = required(object, "environmentName")?;
    validate_stack_name("environmentName", &environment_name)?;
    let short_name = required(object, "stackName")?;
    let stack_name = format!("{environment_name}-{short_name}");
    if short_name.starts_with('-') {
        return Err(TaskError::invalid(
            "stackName",
            "must not start with a hyphen",
        ));
    }
    validate_stack_name("stackName", &stack_name)?;

    let on_unsafe = on_unsafe(object)?;
    let blue_green_stack_name =
        blue_green_stack_name(object, &stack_name, on_unsafe, execution_name)?;
    let tags = string_map(object, "tags", MAX_TAGS)?;
    if let Some(reserved) = tags.keys().find(|k| k.starts_with(RESERVED_TAG_PREFIX)) {
        return Err(TaskError::invalid(
            format!("tags.{reserved}"),
            format!("tag keys starting with {RESERVED_TAG_PREFIX:?} are set by stackgate itself"),
        ));
    }

    Ok(Deployment {
        environment_name,
        stack_name,
        source: template_source(object)?,
        parameters: string_map(object, "parameters", MAX_PARAMETERS)?,
        secret_parameters: name_list(object, "secretParameters", MAX_PARAMETERS)?,
        tags,
        capabilities: capabilities(object)?,
        on_unsafe,
        blue_green_stack_name,
        approval_timeout_seconds: approval_timeout(object)?,
        requested_by: requested_by(object)?,
    })
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
    fn seed_input_parses_with_prefixed_stack_name() {
        let d = parse_deployment(&revision_input(), "exec-1").unwrap();
        assert_eq!(d.stack_name, "prod-sample-app");
        assert_eq!(d.on_unsafe, OnUnsafe::Fail);
        assert_eq!(
            d.source,
            TemplateSource::Revision {
                bucket: "artifacts".into(),
                key: "pipeline/source/abc".into(),
                template_path: "infra/app.yaml".into()
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
                "capabilities",
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
    fn stack_name_rule_matches_cloudformation() {
        assert!(validate_stack_name("f", "a").is_ok());
        assert!(validate_stack_name("f", &"a".repeat(128)).is_ok());
        assert!(validate_stack_name("f", &"a".repeat(129)).is_err());
        assert!(validate_stack_name("f", "a-B-9").is_ok());
        assert!(validate_stack_name("f", "9a").is_err());
        assert!(validate_stack_name("f", "a.b").is_err());
        assert!(validate_stack_name("f", "").is_err());
        let long = json!({"environmentName":"dev","stackName":"a".repeat(125),"templateUrl":"https://x/y"});
        assert_eq!(field_of(parse_deployment(&long, "e")), "stackName");
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
        assert_eq!(d.capabilities, vec!["CAPABILITY_IAM"]);
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
    fn secret_parameters_are_passed_by_reference_only() {
        let deployment = |parameters: Value, listed: Value| {
            parse_deployment(
                &json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y",
                        "parameters": parameters, "secretParameters": listed}),
                "e",
            )
            .unwrap()
        };
        let declared = |name: &str, ssm_typed: bool| DeclaredParameter {
            name: name.into(),
            no_echo: true,
            ssm_typed,
        };
        let no_echo = vec![declared("DbPassword", false)];
        for reference in [
            "{{resolve:ssm-secure:/app/db/password}}",
            "{{resolve:secretsmanager:prod/db:SecretString:password}}",
        ] {
            let d = deployment(json!({"DbPassword": reference}), json!([]));
            assert_eq!(check_secret_parameters(&d, &no_echo), Ok(()), "{reference}");
        }
        // A name is a reference only where the template's type says the value is a name.
        let by_name = deployment(json!({"DbPassword": "/Secr3t-pw"}), json!([]));
        assert!(check_secret_parameters(&by_name, &no_echo).is_err());
        assert_eq!(
            check_secret_parameters(&by_name, &[declared("DbPassword", true)]),
            Ok(())
        );
        let plain = deployment(json!({"DbPassword": "hunter2", "Size": "3"}), json!([]));
        let refused = check_secret_parameters(&plain, &no_echo).unwrap_err();
        assert!(
            matches!(&refused, TaskError::InvalidInput { field, .. } if field == "parameters.DbPassword"),
            "{refused:?}"
        );
        assert!(!refused.to_string().contains("hunter2"));
        let listed = deployment(json!({"ApiToken": "tok-123"}), json!(["ApiToken"]));
        assert!(check_secret_parameters(&listed, &[]).is_err());
        for bad in [
            "{{resolve:ssm-secure:/a}}{{resolve:ssm-secure:/b}}",
            "{{resolve:ssm:/x}}hunter2}}",
            "x{{resolve:ssm-secure:/a}}",
            "{{resolve:ssm-secure:}}",
            "/",
            "hunter2",
        ] {
            assert!(!is_secret_reference(bad, true), "{bad}");
        }
        // Written out, a deployment never carries parameter values.
        let text = serde_json::to_string(&plain).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("\"Size\""),
            "{text}"
        );
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
