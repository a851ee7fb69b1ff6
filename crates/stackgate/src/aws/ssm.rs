//! SSM Parameter Store adapter: secrets kept as SecureString parameters.

use aws_sdk_ssm::Client;

use super::classify;
use crate::TaskError;

/// Reads and decrypts a SecureString parameter.
pub async fn secure_string(client: &Client, name: &str) -> Result<String, TaskError> {
    let output = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| classify("GetParameter", &e))?;
    output
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or_else(|| TaskError::invalid(name, "the parameter has no value"))
}

/// Writes (or overwrites) a SecureString parameter, encrypted with `key_id` or the account's
/// default SSM key.
pub async fn put_secure_string(
    client: &Client,
    name: &str,
    value: &str,
    key_id: Option<&str>,
) -> Result<(), TaskError> {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .set_key_id(key_id.map(str::to_string))
        .overwrite(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("PutParameter", &e))
}
