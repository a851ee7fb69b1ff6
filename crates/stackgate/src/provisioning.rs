//! The provisioning pipeline: the request a CI pipeline publishes, the configuration merge of
//! pre-provision, and the SSM parameter names the merged configuration is stored under.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::request::validate_stack_name;
use crate::TaskError;

/// Where merged configuration lives in Parameter Store.
pub const PARAMETER_ROOT: &str = "/stackgate/provisioning";
const MAX_PARAMETERS: usize = 200;
const MAX_PARAMETER_VALUE: usize = 4096;

/// The SSM documents the stages run (Packer for bake, Terraform for provision, InSpec for validate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Documents {
    pub bake: String,
    pub provision: String,
    pub validate: String,
}

/// Where the CI pipeline put the configuration: an object in the provisioning config bucket
/// (encrypted with KMS) holding a [`Configuration`]. Only this reference travels through SNS and
/// the workflow's state; the values go from the object straight to SecureString parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigObject {
    pub bucket: String,
    pub key: String,
}

/// The configuration object's content.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Configuration {
    #[serde(default)]
    pub application_config: Map<String, Value>,
    #[serde(default)]
    pub environment_config: Map<String, Value>,
}

/// What the CI pipeline publishes to the provisioning topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisioningRequest {
    pub application: String,
    pub environment: String,
    /// The configuration, by reference; none when the application has none.
    #[serde(default)]
    pub config_object: Option<ConfigObject>,
    /// Refused: configuration in the message would sit in the workflow's state and history.
    #[serde(default, skip_serializing)]
    application_config: Option<Value>,
    #[serde(default, skip_serializing)]
    environment_config: Option<Value>,
    /// The instances the stage commands run on (the build/automation hosts).
    pub instance_ids: Vec<String>,
    pub documents: Documents,
    #[serde(default)]
    pub requested_by: Option<String>,
}

/// Parses and checks a published message; errors name the field.
pub fn parse_request(message: &str) -> Result<ProvisioningRequest, TaskError> {
    let request: ProvisioningRequest = crate::error::parse_json(message.as_bytes(), "")?;
    for (field, given) in [
        ("applicationConfig", request.application_config.is_some()),
        ("environmentConfig", request.environment_config.is_some()),
    ] {
        if given {
            return Err(TaskError::invalid(
                field,
                "configuration is passed by reference: put it in an object of the provisioning config bucket and give configObject {bucket, key}",
            ));
        }
    }
    if let Some(object) = &request.config_object {
        if !crate::s3_url::valid_bucket_name(&object.bucket) {
            return Err(TaskError::invalid(
                "configObject.bucket",
                "is not a bucket name",
            ));
        }
        if object.key.is_empty() || object.key.len() > 1024 {
            return Err(TaskError::invalid(
                "configObject.key",
                "must be 1 to 1024 characters",
            ));
        }
    }
    validate_stack_name("application", &request.application)?;
    validate_stack_name("environment", &request.environment)?;
    if request.instance_ids.is_empty() || request.instance_ids.len() > 50 {
        return Err(TaskError::invalid(
            "instanceIds",
            "give 1 to 50 instance ids",
        ));
    }
    if let Some(bad) = request
        .instance_ids
        .iter()
        .find(|id| !(id.starts_with("i-") || id.starts_with("mi-")))
    {
        return Err(TaskError::invalid(
            "instanceIds",
            format!("{bad:?} is not an instance id"),
        ));
    }
    for (field, name) in [
        ("documents.bake", &request.documents.bake),
        ("documents.provision", &request.documents.provision),
        ("documents.validate", &request.documents.validate),
    ] {
        let valid = (3..=128).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(TaskError::invalid(field, "must be an SSM document name"));
        }
    }
    Ok(request)
}

/// The workflow input for a request.
pub fn workflow_input(request: &ProvisioningRequest) -> Value {
    json!({
        "application": request.application,
        "environment": request.environment,
        "configObject": request.config_object,
        "instanceIds": request.instance_ids,
        "requestedBy": request.requested_by.clone().unwrap_or_else(|| "ci".into()),
        "stages": [
            {"stage": "bake", "document": request.documents.bake},
            {"stage": "provision", "document": request.documents.provision},
            {"stage": "validate", "document": request.documents.validate},
        ],
    })
}

/// Deep merge: environment values override application values, objects merge key by key.
pub fn merge(
    application: &Map<String, Value>,
    environment: &Map<String, Value>,
) -> Map<String, Value> {
    let mut merged = application.clone();
    for (key, value) in environment {
        match (merged.get_mut(key), value) {
            (Some(Value::Object(base)), Value::Object(overlay)) => {
                *base = merge(base, overlay);
            }
            _ => {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
    merged
}

/// Flattens merged configuration into parameter names under `<root>/<application>/<environment>/`.
pub fn parameters(
    application: &str,
    environment: &str,
    config: &Map<String, Value>,
) -> Result<BTreeMap<String, String>, TaskError> {
    fn walk(
        prefix: &str,
        value: &Value,
        out: &mut BTreeMap<String, String>,
    ) -> Result<(), TaskError> {
        match value {
            Value::Object(entries) => {
                for (key, value) in entries {
                    let valid = !key.is_empty()
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
                    if !valid {
                        return Err(TaskError::invalid(
                            format!("config key {key:?}"),
                            "use letters, digits, - _ .",
                        ));
                    }
                    walk(&format!("{prefix}/{key}"), value, out)?;
                }
                Ok(())
            }
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
                Ok(())
            }
            Value::Null => Ok(()),
            other => {
                out.insert(prefix.to_string(), other.to_string());
                Ok(())
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        &format!("{PARAMETER_ROOT}/{application}/{environment}"),
        &Value::Object(config.clone()),
        &mut out,
    )?;
    if out.len() > MAX_PARAMETERS {
        return Err(TaskError::invalid(
            "config",
            format!("{} values; at most {MAX_PARAMETERS}", out.len()),
        ));
    }
    if let Some((name, _)) = out.iter().find(|(_, v)| v.len() > MAX_PARAMETER_VALUE) {
        return Err(TaskError::invalid(
            name.as_str(),
            format!("longer than {MAX_PARAMETER_VALUE} characters"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Value {
        json!({
            "application": "billing", "environment": "staging",
            "configObject": {"bucket": "provisioning-config", "key": "billing/staging/42.json"},
            "instanceIds": ["i-0abc"],
            "documents": {"bake": "Packer-Build", "provision": "Terraform-Apply", "validate": "InSpec-Run"}
        })
    }

    #[test]
    fn requests_parse_and_every_mistake_names_its_field() {
        let request = parse_request(&message().to_string()).unwrap();
        let input = workflow_input(&request);
        assert_eq!(input["stages"][1]["document"], "Terraform-Apply");
        assert_eq!(input["configObject"]["key"], "billing/staging/42.json");
        let cases = [
            ("applicationConfig", json!({"db": {"password": "hunter2"}})),
            ("environmentConfig", json!({})),
            ("configObject", json!({"bucket": "Bad_Bucket", "key": "k"})),
            (
                "configObject",
                json!({"bucket": "provisioning-config", "key": ""}),
            ),
            ("application", json!("bad name")),
            ("environment", json!("")),
            ("instanceIds", json!([])),
            ("instanceIds", json!(["web-1"])),
            ("documents", json!({"bake": "x"})),
        ];
        for (field, value) in cases {
            let mut m = message();
            m[field] = value;
            match parse_request(&m.to_string()) {
                Err(TaskError::InvalidInput { field: f, .. }) => {
                    assert!(f.starts_with(field) || f == "provision", "{field}: {f}")
                }
                other => panic!("{field}: {other:?}"),
            }
        }
        let mut unknown = message();
        unknown["surprise"] = json!(1);
        assert!(parse_request(&unknown.to_string()).is_err());
        assert!(parse_request("not json").is_err());
    }

    #[test]
    fn configuration_in_the_message_is_refused_without_repeating_it() {
        let mut inline = message();
        inline["applicationConfig"] = json!({"db": {"password": "hunter2"}});
        let refused = parse_request(&inline.to_string()).unwrap_err();
        assert!(
            !format!("{refused} {refused:?}").contains("hunter2"),
            "{refused}"
        );
        assert!(
            matches!(&refused, TaskError::InvalidInput { field, .. } if field == "applicationConfig")
        );
        // And the workflow input, written from a request, holds no configuration value.
        let request = parse_request(&message().to_string()).unwrap();
        let input = workflow_input(&request).to_string();
        assert!(!input.contains("applicationConfig"), "{input}");
    }

    #[test]
    fn environment_config_overrides_application_config_deeply() {
        let config: Configuration = serde_json::from_value(json!({
            "applicationConfig": {"db": {"port": 5432, "name": "billing"}, "replicas": 2},
            "environmentConfig": {"db": {"host": "db.staging"}, "replicas": 3},
        }))
        .unwrap();
        let merged = merge(&config.application_config, &config.environment_config);
        assert_eq!(
            merged["db"],
            json!({"port": 5432, "name": "billing", "host": "db.staging"})
        );
        assert_eq!(merged["replicas"], 3);
        let params = parameters("billing", "staging", &merged).unwrap();
        assert_eq!(
            params["/stackgate/provisioning/billing/staging/db/port"],
            "5432"
        );
        assert_eq!(
            params["/stackgate/provisioning/billing/staging/db/host"],
            "db.staging"
        );
        assert_eq!(params.len(), 4);
        let bad: Map<String, Value> = serde_json::from_value(json!({"a b": 1})).unwrap();
        assert!(parameters("x", "y", &bad).is_err());
    }
}
