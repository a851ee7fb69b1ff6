//! `maintenance-mode`: around a rolling restart, decides which CloudWatch alarms to silence (those
//! whose actions are enabled now, from the DescribeAlarms result the state machine passes in; the
//! state machine switches them with SDK integrations) and switches the EventBridge rules off and
//! back on itself. Only what it switched off is switched back on: an alarm or rule that was already
//! off stays off.

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::parse_input;
use crate::aws::eventbridge;
use crate::TaskError;

/// What maintenance mode needs, read once per process.
#[derive(Debug, Clone)]
pub struct Deps {
    pub events: aws_sdk_eventbridge::Client,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        Ok(Deps {
            events: aws_sdk_eventbridge::Client::new(&crate::aws::sdk::sdk_config()),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase", deny_unknown_fields)]
enum Input {
    #[serde(rename_all = "camelCase")]
    Suspend {
        /// From DescribeAlarms: the alarms' names and, in the same order, whether their actions are on.
        alarms: DescribedAlarms,
        #[serde(default)]
        rule_names: Vec<String>,
    },
    Restore {
        rules: Vec<String>,
    },
}

/// Alarm names and `ActionsEnabled` flags as parallel lists (the state machine selects only these
/// fields from DescribeAlarms, keeping the state small).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DescribedAlarms {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub actions_enabled: Vec<bool>,
}

/// What was (or is to be) switched off, and so what to switch back on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suspended {
    pub alarms: Vec<String>,
    pub rules: Vec<String>,
}

/// The alarms whose actions are enabled (the filtering the state machine cannot do).
pub fn alarms_to_silence(described: &DescribedAlarms) -> Result<Vec<String>, TaskError> {
    if described.names.len() != described.actions_enabled.len() {
        return Err(TaskError::invalid(
            "alarms",
            "names and actionsEnabled must be lists of the same length",
        ));
    }
    let mut names: Vec<String> = described
        .names
        .iter()
        .zip(&described.actions_enabled)
        .filter(|(_, enabled)| **enabled)
        .map(|(name, _)| name.clone())
        .collect();
    names.dedup();
    Ok(names)
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let events = &deps.events;
    let output = match parse_input::<Input>(event.payload)? {
        Input::Suspend { alarms, rule_names } => {
            let rules = eventbridge::enabled_rules(events, &rule_names).await?;
            for rule in &rules {
                eventbridge::set_rule(events, rule, false).await?;
            }
            let suspended = Suspended {
                alarms: alarms_to_silence(&alarms)?,
                rules,
            };
            tracing::info!(
                alarms = suspended.alarms.len(),
                rules = suspended.rules.len(),
                "maintenance mode on"
            );
            suspended
        }
        Input::Restore { rules } => {
            for rule in &rules {
                eventbridge::set_rule(events, rule, true).await?;
            }
            tracing::info!(rules = rules.len(), "rules restored");
            Suspended {
                alarms: Vec::new(),
                rules,
            }
        }
    };
    serde_json::to_value(&output).map_err(|e| TaskError::invalid("$", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_alarms_with_actions_are_silenced() {
        let described: DescribedAlarms = serde_json::from_value(json!({
            "names": ["5xx", "already-silenced", "latency"],
            "actionsEnabled": [true, false, true]
        }))
        .unwrap();
        assert_eq!(alarms_to_silence(&described).unwrap(), ["5xx", "latency"]);
        assert!(alarms_to_silence(&DescribedAlarms::default())
            .unwrap()
            .is_empty());
        let uneven = DescribedAlarms {
            names: vec!["a".into()],
            actions_enabled: vec![],
        };
        assert!(alarms_to_silence(&uneven).is_err());
    }
}
