//! `health-check`: the application check of a rolling restart. It GETs the instance's
//! health URL; anything but 2xx (or no answer) raises the typed `InstanceNotReady`, which the state
//! machine waits on and checks again (interval and attempts from the workflow input).

use std::time::Duration;

use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{json, Value};

use super::parse_input;
use crate::webhook::WebhookClient;
use crate::TaskError;

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    instance_id: String,
    /// A URL template: `{instanceId}` and `{privateIp}` are filled in.
    url: String,
    #[serde(default, deserialize_with = "one_string")]
    private_ip: Option<String>,
}

/// A string, or the first of a list of them: moto's interpreter yields a one-element list for an
/// indexed JSONPath (`$.Reservations[0]...`) where Step Functions yields the value.
fn one_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(items)) => items
            .into_iter()
            .find_map(|v| v.as_str().map(str::to_string)),
        _ => None,
    })
}

/// Fills the URL template; a `{privateIp}` without an address is an input error.
pub fn health_url(
    template: &str,
    instance_id: &str,
    private_ip: Option<&str>,
) -> Result<String, TaskError> {
    let mut url = template.replace("{instanceId}", instance_id);
    if url.contains("{privateIp}") {
        let ip = private_ip.filter(|ip| !ip.is_empty()).ok_or_else(|| {
            TaskError::invalid(
                "privateIp",
                "the URL needs {privateIp} but the instance has none",
            )
        })?;
        url = url.replace("{privateIp}", ip);
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(TaskError::invalid("url", "must be an http(s) URL"));
    }
    Ok(url)
}

/// What the health check needs, read once per process.
pub struct Deps {
    pub webhook: WebhookClient,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        Ok(Deps {
            webhook: WebhookClient::new()?,
        })
    }
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let client = &deps.webhook;
    let input: Input = parse_input(event.payload)?;
    let url = health_url(&input.url, &input.instance_id, input.private_ip.as_deref())?;
    let not_ready = |reason: String| TaskError::InstanceNotReady {
        instance: input.instance_id.clone(),
        reason,
    };
    match client.get_status(&url, TIMEOUT).await {
        Ok(status) if (200..300).contains(&status) => {
            tracing::info!(instance = %input.instance_id, status, "instance healthy");
            Ok(json!({"instanceId": input.instance_id, "healthy": true, "status": status}))
        }
        Ok(status) => Err(not_ready(format!(
            "the health check answered HTTP {status}"
        ))),
        Err(reason) => Err(not_ready(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_filled_in() {
        assert_eq!(
            health_url(
                "http://{privateIp}:8080/health?id={instanceId}",
                "i-1",
                Some("10.0.0.5")
            )
            .unwrap(),
            "http://10.0.0.5:8080/health?id=i-1"
        );
        assert!(health_url("http://{privateIp}/h", "i-1", None).is_err());
        assert!(health_url("file:///etc/passwd", "i-1", None).is_err());
    }
}
