//! `pre-provision`: reads the configuration object the CI pipeline published (by reference: only
//! its bucket and key are in the workflow's state), merges the application's and the environment's
//! configuration and stores every value as a SecureString parameter, where the bake and provision
//! stages read it.

use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::parse_input;
use crate::aws::{s3, ssm};
use crate::config::env_var;
use crate::provisioning::{self, ConfigObject, Configuration};
use crate::TaskError;

/// The largest configuration object read.
const MAX_CONFIG_OBJECT: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
/// What pre-provision needs, read once per process.
pub struct Deps {
    pub ssm: aws_sdk_ssm::Client,
    pub s3: aws_sdk_s3::Client,
    /// `PARAMETER_KMS_KEY_ID`: the key the parameters are encrypted with (default: the SSM key).
    pub key_id: Option<String>,
    /// `CONFIG_BUCKET`: the only bucket configuration objects are read from.
    pub config_bucket: Option<String>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        let config = crate::aws::sdk::sdk_config();
        Ok(Deps {
            ssm: aws_sdk_ssm::Client::new(&config),
            s3: crate::aws::s3_client(&config),
            key_id: env_var("PARAMETER_KMS_KEY_ID"),
            config_bucket: env_var("CONFIG_BUCKET"),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    application: String,
    environment: String,
    #[serde(default)]
    config_object: Option<ConfigObject>,
}

/// The configuration the object holds; none without an object.
async fn configuration(
    deps: &Deps,
    object: Option<&ConfigObject>,
) -> Result<Configuration, TaskError> {
    let Some(object) = object else {
        return Ok(Configuration {
            application_config: Map::new(),
            environment_config: Map::new(),
        });
    };
    if deps.config_bucket.as_deref() != Some(object.bucket.as_str()) {
        return Err(TaskError::invalid(
            "configObject.bucket",
            "is not the provisioning config bucket",
        ));
    }
    let bytes = s3::get_object(&deps.s3, &object.bucket, &object.key, MAX_CONFIG_OBJECT).await?;
    crate::error::parse_json(&bytes, "configObject")
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let input: Input = parse_input(event.payload)?;
    crate::request::validate_stack_name("application", &input.application)?;
    crate::request::validate_stack_name("environment", &input.environment)?;
    let config = configuration(deps, input.config_object.as_ref()).await?;
    let merged = provisioning::merge(&config.application_config, &config.environment_config);
    let parameters = provisioning::parameters(&input.application, &input.environment, &merged)?;
    for (name, value) in &parameters {
        ssm::put_secure_string(&deps.ssm, name, value, deps.key_id.as_deref()).await?;
    }
    let prefix = format!(
        "{}/{}/{}",
        provisioning::PARAMETER_ROOT,
        input.application,
        input.environment
    );
    // Names only: the values are configuration, possibly secret.
    tracing::info!(prefix = %prefix, count = parameters.len(), "configuration stored");
    Ok(json!({"parameterPrefix": prefix, "parameters": parameters.len()}))
}
