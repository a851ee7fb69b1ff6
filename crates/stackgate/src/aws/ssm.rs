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
