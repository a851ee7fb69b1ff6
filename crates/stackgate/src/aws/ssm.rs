//! SSM Parameter Store adapter: secrets kept as SecureString parameters.

use std::time::Duration;

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

/// The approval signing keys: given, or read from their SecureString on first use and again after
/// `ttl`, so that a rotation reaches warm functions within minutes. The parameter's current
/// version signs; its previous version still verifies (links sent before a rotation keep working).
/// Init makes no AWS call, and a missing key fails the invocation that needs it with a clear error.
/// If SSM cannot be read when the keys are due for a refresh, the keys already read stay in use.
#[derive(Debug, Clone)]
pub struct SigningKeySource {
    parameter: Option<(aws_sdk_ssm::Client, String)>,
    ttl: Duration,
    cache: std::sync::Arc<tokio::sync::Mutex<Option<(std::time::Instant, KeysRead)>>>,
}

type KeysRead = std::sync::Arc<crate::approval::KeyRing>;

/// How long keys read from SSM are used before they are read again.
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(300);

impl SigningKeySource {
    pub fn ready(keys: crate::approval::KeyRing) -> Self {
        SigningKeySource {
            parameter: None,
            ttl: Duration::MAX,
            cache: std::sync::Arc::new(tokio::sync::Mutex::new(Some((
                std::time::Instant::now(),
                std::sync::Arc::new(keys),
            )))),
        }
    }

    pub fn parameter(ssm: aws_sdk_ssm::Client, name: String, ttl: Duration) -> Self {
        SigningKeySource {
            parameter: Some((ssm, name)),
            ttl,
            cache: std::sync::Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Boxed: the SDK call's future nested into every caller's would pass the compiler's type
    /// depth limit.
    pub fn keys(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<KeysRead, TaskError>> + Send + '_>>
    {
        Box::pin(async move {
            let mut cache = self.cache.lock().await;
            if let Some((read_at, keys)) = cache.as_ref() {
                if self.parameter.is_none() || read_at.elapsed() < self.ttl {
                    return Ok(keys.clone());
                }
            }
            match self.read().await {
                Ok(keys) => {
                    *cache = Some((std::time::Instant::now(), keys.clone()));
                    Ok(keys)
                }
                Err(error) => match cache.as_ref() {
                    Some((_, keys)) => {
                        tracing::warn!(
                            error_type = error.error_type(),
                            "signing keys not refreshed; using the ones read before"
                        );
                        Ok(keys.clone())
                    }
                    None => Err(error),
                },
            }
        })
    }

    async fn read(&self) -> Result<KeysRead, TaskError> {
        use crate::approval::{KeyRing, SigningKey};
        let (ssm, name) = self.parameter.as_ref().ok_or_else(|| {
            TaskError::invalid("SIGNING_KEY_PARAMETER", "no signing key is configured")
        })?;
        let (secret, version) = secure_string_version(ssm, name)
            .await?
            .ok_or_else(|| TaskError::invalid(name, "the signing key parameter does not exist"))?;
        let current = SigningKey::with_id(version.to_string(), &secret)?;
        let previous = match version {
            v if v > 1 => secure_string_version(ssm, &format!("{name}:{}", v - 1))
                .await?
                .and_then(|(secret, v)| SigningKey::with_id(v.to_string(), &secret).ok()),
            _ => None,
        };
        Ok(std::sync::Arc::new(KeyRing { current, previous }))
    }
}
