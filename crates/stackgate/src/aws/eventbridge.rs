//! EventBridge adapter: rules, switched off and on around maintenance.

use aws_sdk_eventbridge::types::RuleState;
use aws_sdk_eventbridge::Client;

use super::classify;
use crate::TaskError;

/// The named rules that are enabled now (missing rules are skipped, not errors).
pub async fn enabled_rules(client: &Client, names: &[String]) -> Result<Vec<String>, TaskError> {
    let mut enabled = Vec::new();
    for name in names {
        match client.describe_rule().name(name).send().await {
            Ok(rule) if rule.state() == Some(&RuleState::Enabled) => enabled.push(name.clone()),
            Ok(_) => {}
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(error) => return Err(classify("DescribeRule", &error)),
        }
    }
    Ok(enabled)
}

pub async fn set_rule(client: &Client, name: &str, enabled: bool) -> Result<(), TaskError> {
    if enabled {
        client
            .enable_rule()
            .name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("EnableRule", &e))
    } else {
        client
            .disable_rule()
            .name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DisableRule", &e))
    }
}
