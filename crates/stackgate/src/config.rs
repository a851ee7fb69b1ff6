//! The functions' settings: the only module that reads the process environment. Each task's
//! `Deps::from_env` takes what it needs from here, so a setting has one name and one parser.

use std::time::Duration;

use crate::guardrails::{split_list, Guardrails};
use crate::sensitive::SensitiveTypes;
use crate::stateful::{DataLossIntent, StatefulTypes};
use crate::TaskError;

/// A setting from the environment; empty counts as unset.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A setting the function cannot work without: its absence is a deployment error that names it.
pub fn required_env(name: &str) -> Result<String, TaskError> {
    env_var(name)
        .ok_or_else(|| TaskError::invalid(name, "must be set in the function's environment"))
}

/// What a deployment of a stack another execution is working on does (`CONCURRENT_DEPLOYMENTS`:
/// queue, the default, or refuse; `STACK_WAIT_MINUTES`: how long a queued one waits, 30 unset).
pub fn lease_settings() -> Result<crate::lease::Settings, TaskError> {
    crate::lease::Settings::new(
        env_var("CONCURRENT_DEPLOYMENTS")
            .as_deref()
            .unwrap_or("queue"),
        env_var("STACK_WAIT_MINUTES").as_deref(),
    )
    .map_err(|(name, message)| TaskError::invalid(name, message))
}

/// The Guard rules a plan holds templates to (`GUARD_DEFAULTS`: on, the default, or off;
/// `GUARD_RULES`: `s3://bucket/key` of the operator's rules file; `GUARD_ON_FAILURE`: refuse, the
/// default, or approve).
#[cfg(feature = "guard")]
pub fn guard_settings() -> Result<crate::guard::Settings, TaskError> {
    crate::guard::Settings::new(
        env_var("GUARD_DEFAULTS").as_deref(),
        env_var("GUARD_RULES").as_deref(),
        env_var("GUARD_ON_FAILURE").as_deref(),
    )
}

/// A comma-separated list; unset is empty.
pub fn env_list(name: &str) -> Vec<String> {
    env_var(name).map(|v| split_list(&v)).unwrap_or_default()
}

/// A number of seconds; unset or unreadable is the default.
pub fn env_seconds(name: &str, default: Duration) -> Duration {
    env_var(name)
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(default, Duration::from_secs)
}

/// The operator's rules: `MANAGED_ENVIRONMENTS`, `ALLOWED_TEMPLATE_BUCKETS`, `ARTIFACT_BUCKET`,
/// `TEMPLATE_PATH_STYLE_HOSTS`, `ALLOWED_CAPABILITIES`, and `INLINE_TEMPLATES` (on or off, the
/// default; on, `STAGING_BUCKET` keeps them). A mistake stops the function at start-up, named by
/// its setting.
pub fn guardrails() -> Result<Guardrails, TaskError> {
    let rails = Guardrails::new(
        env_list("MANAGED_ENVIRONMENTS"),
        env_list("ALLOWED_TEMPLATE_BUCKETS"),
        env_list("ARTIFACT_BUCKET").into_iter().next(),
        env_list("TEMPLATE_PATH_STYLE_HOSTS"),
        env_list("ALLOWED_CAPABILITIES"),
    )?;
    match env_var("INLINE_TEMPLATES").as_deref() {
        None | Some("off") => Ok(rails),
        Some("on") => Ok(rails.with_inline_templates(required_env("STAGING_BUCKET")?)),
        Some(_) => Err(TaskError::invalid("INLINE_TEMPLATES", "must be on or off")),
    }
}

/// `SECURITY_SENSITIVE_TYPES_EXTRA` and `SECURITY_SENSITIVE_TYPES_EXEMPT`.
pub fn sensitive_types() -> SensitiveTypes {
    SensitiveTypes::new(
        env_list("SECURITY_SENSITIVE_TYPES_EXTRA"),
        env_list("SECURITY_SENSITIVE_TYPES_EXEMPT"),
    )
}

/// `PROTECTED_RESOURCE_TYPES` (more types that hold data), `REPLACEABLE_RESOURCE_TYPES` (types
/// whose removal or replacement loses nothing), `PROTECTED_LOGICAL_IDS` (resources that hold data
/// whatever their type) and `DATA_LOSS_INTENT` (who may accept a data loss: `template`, `request`).
pub fn stateful_types() -> Result<StatefulTypes, TaskError> {
    let intent = DataLossIntent::parse(&env_list("DATA_LOSS_INTENT"))
        .map_err(|message| TaskError::invalid("DATA_LOSS_INTENT", message))?;
    let protected_ids = env_list("PROTECTED_LOGICAL_IDS");
    for entry in &protected_ids {
        crate::stateful::check_protected_id(entry)
            .map_err(|message| TaskError::invalid("PROTECTED_LOGICAL_IDS", message))?;
    }
    Ok(StatefulTypes::new(
        env_list("PROTECTED_RESOURCE_TYPES"),
        env_list("REPLACEABLE_RESOURCE_TYPES"),
    )
    .with_operator_floor(protected_ids, intent))
}

/// The operator's rollback alarms and monitoring times per environment (`ROLLBACK_ALARMS`,
/// `MONITORING_MINUTES`: comma-separated `environment=value` entries).
pub fn rollback_floors(
    guardrails: &Guardrails,
) -> Result<std::collections::BTreeMap<String, crate::request::Rollback>, TaskError> {
    crate::request::rollback_floors(
        &env_list("ROLLBACK_ALARMS"),
        &env_list("MONITORING_MINUTES"),
        |environment| guardrails.manages(environment),
    )
}

/// The approval signing keys: the SecureString named by `SIGNING_KEY_PARAMETER` (current and
/// previous version), read on first use and again every `SIGNING_KEY_CACHE_SECONDS` (default 300).
#[cfg(feature = "aws")]
pub fn signing_keys(
    sdk: &aws_config::SdkConfig,
) -> Result<crate::aws::ssm::SigningKeySource, TaskError> {
    use crate::aws::ssm::{SigningKeySource, DEFAULT_KEY_TTL};
    Ok(SigningKeySource::parameter(
        aws_sdk_ssm::Client::new(sdk),
        required_env("SIGNING_KEY_PARAMETER")?,
        env_seconds("SIGNING_KEY_CACHE_SECONDS", DEFAULT_KEY_TTL),
    ))
}

/// How a task that waits on CloudFormation polls.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    /// Longest a single invocation waits before handing back to the state machine's Retry
    /// (`STACKGATE_WAIT_SECONDS`, default 600).
    pub wait_budget: Duration,
    /// `STACKGATE_POLL_SECONDS`, default 5.
    pub interval: Duration,
}

impl Polling {
    pub fn from_env() -> Self {
        Polling {
            wait_budget: env_seconds("STACKGATE_WAIT_SECONDS", Duration::from_secs(600)),
            interval: env_seconds("STACKGATE_POLL_SECONDS", Duration::from_secs(5)),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The guard behind "one place": no other source file reads the process environment.
    #[test]
    fn only_this_module_reads_the_environment() {
        let root = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("src");
        let mut readers = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if text.contains("std::env::var(") || text.contains("env::var_os(") {
                        readers.push(path.strip_prefix(&root).unwrap().display().to_string());
                    }
                }
            }
        }
        readers.sort();
        // telemetry reads the log settings Lambda sets before anything else runs.
        assert_eq!(readers, ["config.rs", "telemetry.rs"]);
    }
}
