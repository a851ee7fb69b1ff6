//! `pre-provision` (seed 002): merges the application's and the environment's configuration and
//! stores every value as a SecureString parameter, where the bake and provision stages read it.

use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::parse_input;
use crate::aws::ssm;
use crate::provisioning;
use crate::TaskError;

#[derive(Debug, Clone)]
pub struct PreProvisionClients {
    pub ssm: aws_sdk_ssm::Client,
    /// `PARAMETER_KMS_KEY_ID`: the key the parameters are encrypted with (default: the SSM key).
    pub key_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    application: String,
    environment: String,
    #[serde(default)]
    application_config: Map<String, Value>,
    #[serde(default)]
    environment_config: Map<String, Value>,
}

pub async fn handle(
    clients: &PreProvisionClients,
    event: LambdaEvent<Value>,
) -> Result<Value, TaskError> {
    let input: Input = parse_input(event.payload)?;
    crate::request::validate_stack_name("application", &input.application)?;
    crate::request::validate_stack_name("environment", &input.environment)?;
    let merged = provisioning::merge(&input.application_config, &input.environment_config);
    let parameters = provisioning::parameters(&input.application, &input.environment, &merged)?;
    for (name, value) in &parameters {
        ssm::put_secure_string(&clients.ssm, name, value, clients.key_id.as_deref()).await?;
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
