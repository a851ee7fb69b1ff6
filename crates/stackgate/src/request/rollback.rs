//! Rollback alarms: CloudWatch alarms CloudFormation watches while it deploys and for
//! `monitoringMinutes` afterwards; one going into ALARM rolls the whole operation back
//! (the change set's `RollbackConfiguration`). The operator's alarms for an environment are always
//! watched; a request adds its own.

use serde::{Deserialize, Serialize};

use crate::TaskError;

/// CloudFormation watches at most five rollback triggers.
pub const MAX_ALARMS: usize = 5;
/// CloudFormation's longest monitoring time.
pub const MAX_MONITORING_MINUTES: u32 = 180;
const FIELD: &str = "rollbackAlarms";

/// The alarms and the monitoring time of one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// Alarm ARNs, or names in the deployment's own account and Region.
    pub alarms: Vec<String>,
    pub monitoring_minutes: u32,
}

impl Rollback {
    /// From the request's fields; every alarm checked, none repeated in an error.
    pub fn from_request(
        alarms: Option<Vec<String>>,
        monitoring_minutes: Option<u64>,
    ) -> Result<Self, TaskError> {
        let mut checked = Vec::new();
        for (at, alarm) in alarms.unwrap_or_default().into_iter().enumerate() {
            if !is_alarm(&alarm) {
                return Err(TaskError::invalid(
                    format!("{FIELD}[{at}]"),
                    "must be a CloudWatch alarm's ARN or name (printable, at most 255 characters, no `*` or `?`)",
                ));
            }
            if !checked.contains(&alarm) {
                checked.push(alarm);
            }
        }
        if checked.len() > MAX_ALARMS {
            return Err(TaskError::invalid(
                FIELD,
                format!("holds more than {MAX_ALARMS} alarms (CloudFormation watches at most {MAX_ALARMS})"),
            ));
        }
        let monitoring_minutes = match monitoring_minutes {
            None => 0,
            Some(minutes) if minutes <= u64::from(MAX_MONITORING_MINUTES) => minutes as u32,
            Some(_) => {
                return Err(TaskError::invalid(
                    "monitoringMinutes",
                    format!("must be a whole number of minutes from 0 to {MAX_MONITORING_MINUTES}"),
                ))
            }
        };
        Ok(Rollback {
            alarms: checked,
            monitoring_minutes,
        })
    }

    /// The operator's alarms for the environment always watched, and their monitoring time the
    /// least; a request that would need more than five alarms in all is refused.
    pub fn with_floor(&self, floor: Option<&Rollback>) -> Result<Rollback, TaskError> {
        let Some(floor) = floor else {
            return Ok(self.clone());
        };
        let mut alarms = floor.alarms.clone();
        for alarm in &self.alarms {
            if !alarms.contains(alarm) {
                alarms.push(alarm.clone());
            }
        }
        if alarms.len() > MAX_ALARMS {
            return Err(TaskError::invalid(
                FIELD,
                format!(
                    "holds too many alarms with the operator's for this environment: CloudFormation watches at most {MAX_ALARMS} in all"
                ),
            ));
        }
        Ok(Rollback {
            alarms,
            monitoring_minutes: self.monitoring_minutes.max(floor.monitoring_minutes),
        })
    }

    /// The alarms as ARNs; a name is completed with `alarm_arn_prefix`
    /// (`arn:<partition>:cloudwatch:<region>:<account>:alarm:`), the deployment's own account.
    pub fn alarm_arns(&self, alarm_arn_prefix: Option<&str>) -> Result<Vec<String>, TaskError> {
        let arns: Vec<String> = self
            .alarms
            .iter()
            .map(|alarm| {
                if alarm.starts_with("arn:") {
                    Ok(alarm.clone())
                } else {
                    alarm_arn_prefix
                        .map(|prefix| format!("{prefix}{alarm}"))
                        .ok_or_else(|| {
                            TaskError::invalid(
                                FIELD,
                                "names an alarm by name where the account is not known; give its ARN",
                            )
                        })
                }
            })
            .collect::<Result<_, _>>()?;
        // A name and the same alarm's ARN are one trigger.
        let mut unique: Vec<String> = Vec::with_capacity(arns.len());
        for arn in arns {
            if !unique.contains(&arn) {
                unique.push(arn);
            }
        }
        Ok(unique)
    }
}

/// An alarm ARN (`arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>`) or a name.
fn is_alarm(value: &str) -> bool {
    match value.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(6, ':').collect();
            let [partition, service, region, account, kind, name] = parts.as_slice() else {
                return false;
            };
            partition.starts_with("aws")
                && *service == "cloudwatch"
                && !region.is_empty()
                && region
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && *kind == "alarm"
                && is_name(name)
        }
        None => is_name(value),
    }
}

fn is_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| (c.is_ascii_graphic() || c == ' ') && c != '*' && c != '?')
        && !name.starts_with(' ')
        && !name.ends_with(' ')
}

/// The operator's rollback alarms per environment: `environment=alarm` entries (an alarm per
/// entry) and `environment=minutes` entries (the longest wins), for managed environments only (a
/// misspelt one would silently watch nothing). A malformed entry is named by its setting.
pub fn floors(
    alarms: &[String],
    minutes: &[String],
    manages: impl Fn(&str) -> bool,
) -> Result<std::collections::BTreeMap<String, Rollback>, TaskError> {
    let mut floors: std::collections::BTreeMap<String, Rollback> = Default::default();
    for entry in alarms {
        let Some((environment, alarm)) = entry
            .split_once('=')
            .filter(|(e, a)| manages(e.trim()) && is_alarm(a))
        else {
            return Err(TaskError::invalid(
                "ROLLBACK_ALARMS",
                "entries must be environment=alarm, a managed environment and an alarm's ARN or name",
            ));
        };
        let floor = floors.entry(environment.trim().to_string()).or_default();
        if !floor.alarms.iter().any(|a| a == alarm) {
            floor.alarms.push(alarm.to_string());
        }
        if floor.alarms.len() > MAX_ALARMS {
            return Err(TaskError::invalid(
                "ROLLBACK_ALARMS",
                format!("names more than {MAX_ALARMS} alarms for one environment"),
            ));
        }
    }
    for entry in minutes {
        let parsed = entry
            .split_once('=')
            .and_then(|(environment, m)| Some((environment.trim(), m.trim().parse::<u32>().ok()?)))
            .filter(|(e, m)| manages(e) && *m <= MAX_MONITORING_MINUTES);
        let Some((environment, minutes)) = parsed else {
            return Err(TaskError::invalid(
                "MONITORING_MINUTES",
                format!("entries must be environment=minutes, a managed environment and 0 to {MAX_MONITORING_MINUTES}"),
            ));
        };
        let floor = floors.entry(environment.to_string()).or_default();
        floor.monitoring_minutes = floor.monitoring_minutes.max(minutes);
    }
    Ok(floors)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:checkout-5xx";

    #[test]
    fn alarms_are_arns_or_names_at_most_five_and_minutes_at_most_180() {
        let rollback = Rollback::from_request(
            Some(vec![ARN.into(), "latency p99".into(), ARN.into()]),
            Some(30),
        )
        .unwrap();
        assert_eq!(rollback.alarms, [ARN, "latency p99"]);
        assert_eq!(rollback.monitoring_minutes, 30);
        assert_eq!(
            rollback
                .alarm_arns(Some("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:"))
                .unwrap(),
            [
                ARN,
                "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:latency p99"
            ]
        );
        assert!(
            rollback.alarm_arns(None).is_err(),
            "a name needs the account"
        );
        // A name and its own ARN are one trigger.
        let both =
            Rollback::from_request(Some(vec!["checkout-5xx".into(), ARN.into()]), None).unwrap();
        assert_eq!(
            both.alarm_arns(Some("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:"))
                .unwrap(),
            [ARN]
        );
        for (alarms, minutes, field) in [
            (
                vec!["arn:aws:sns:eu-west-1:123456789012:alarm:x-hunter2".to_string()],
                None,
                "rollbackAlarms[0]",
            ),
            (
                vec!["arn:aws:cloudwatch:eu-west-1:1234:alarm:x".to_string()],
                None,
                "rollbackAlarms[0]",
            ),
            (vec!["*".to_string()], None, "rollbackAlarms[0]"),
            (vec![String::new()], None, "rollbackAlarms[0]"),
            (vec!["a\nb".to_string()], None, "rollbackAlarms[0]"),
            (
                (0..6).map(|i| format!("alarm-{i}")).collect(),
                None,
                "rollbackAlarms",
            ),
            (vec![], Some(181), "monitoringMinutes"),
        ] {
            let error = Rollback::from_request(Some(alarms), minutes).unwrap_err();
            assert!(
                matches!(&error, TaskError::InvalidInput { field: f, .. } if f == field),
                "{error:?}"
            );
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn the_operators_alarms_are_always_watched() {
        let managed = |e: &str| ["prod", "dev"].contains(&e);
        let floors = floors(
            &["prod=checkout-5xx".into(), format!("prod={ARN}")],
            &["prod=15".into(), "prod=5".into()],
            managed,
        )
        .unwrap();
        let request = Rollback::from_request(Some(vec!["latency".into()]), Some(5)).unwrap();
        let merged = request.with_floor(floors.get("prod")).unwrap();
        assert_eq!(merged.alarms, ["checkout-5xx", ARN, "latency"]);
        assert_eq!(
            merged.monitoring_minutes, 15,
            "the operator's time is the least"
        );
        assert_eq!(request.with_floor(floors.get("dev")).unwrap(), request);
        let many =
            Rollback::from_request(Some((0..4).map(|i| format!("alarm-{i}")).collect()), None)
                .unwrap();
        assert!(many.with_floor(floors.get("prod")).is_err());
        for (alarms, minutes, setting) in [
            (vec!["prod".to_string()], vec![], "ROLLBACK_ALARMS"),
            (vec!["prod=a*".to_string()], vec![], "ROLLBACK_ALARMS"),
            (vec![], vec!["prod=181".to_string()], "MONITORING_MINUTES"),
            (vec![], vec!["prod".to_string()], "MONITORING_MINUTES"),
            // A misspelt environment would watch nothing.
            (
                vec!["production=checkout-5xx".to_string()],
                vec![],
                "ROLLBACK_ALARMS",
            ),
            (vec!["=checkout-5xx".to_string()], vec![], "ROLLBACK_ALARMS"),
            (
                vec![],
                vec!["production=15".to_string()],
                "MONITORING_MINUTES",
            ),
        ] {
            let error = super::floors(&alarms, &minutes, managed).unwrap_err();
            assert!(
                matches!(&error, TaskError::InvalidInput { field, .. } if field == setting),
                "{error:?}"
            );
        }
    }
}
