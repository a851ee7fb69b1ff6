//! SSM Parameter Store adapter: secrets kept as SecureString parameters.

use aws_sdk_ssm::Client;

use super::classify;
use crate::TaskError;

/// Reads and decrypts a SecureString parameter and says its version; `name` may select a version
/// (`name:3`). `None` when that parameter or version does not exist.
pub async fn secure_string_version(
    client: &Client,
    name: &str,
) -> Result<Option<(String, i64)>, TaskError> {
    let output = match client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(output) => output,
        Err(error)
            if error.as_service_error().is_some_and(|e| {
                e.is_parameter_not_found() || e.is_parameter_version_not_found()
            }) =>
        {
            return Ok(None)
        }
        Err(error) => return Err(classify("GetParameter", &error)),
    };
    let parameter = output
        .parameter()
        .ok_or_else(|| TaskError::invalid(name, "the parameter has no value"))?;
    let value = parameter
        .value()
        .ok_or_else(|| TaskError::invalid(name, "the parameter has no value"))?;
    Ok(Some((value.to_string(), parameter.version())))
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
