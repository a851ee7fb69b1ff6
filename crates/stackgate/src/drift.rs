//! Drift before deploy: resources changed or deleted outside CloudFormation since the stack's last
//! operation. Deploying over drift overwrites what someone changed by hand, or fails on a resource
//! that is gone; over a data store it may lose what the drift holds. The plan detects drift before it
//! creates the change set (DetectStackDrift, waited for within a bound) and lists it; `onDrift` says
//! what then happens. Property differences are named, never their values (a value may be a secret).

use serde::{Deserialize, Serialize};

use crate::request::OnDrift;
use crate::stateful::{Holds, StatefulTypes};

/// Drifted resources listed at most (the rest are counted).
pub const MAX_LISTED: usize = 20;
/// Property paths named per resource at most.
pub const MAX_PROPERTIES: usize = 5;
/// Characters of an id, type or property path shown at most.
const MAX_NAME_CHARS: usize = 100;

/// A resource that differs from what the stack's template says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftedResource {
    pub logical_resource_id: String,
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
    /// The differing properties' paths (`/Properties/...`), never their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<String>,
}

/// What drift detection found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Detection {
    InSync,
    Drifted,
    /// Detection did not finish within its bound, or failed: nothing is known.
    Unknown,
}

/// What the plan does about the drift it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
    Proceed,
    /// A person decides (the approval email lists the drift).
    NeedsPerson,
    /// The deployment is refused before a change set is made (`StackDrifted`).
    Refuse,
}

/// Drift as the plan's output and the approval email show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub detection: Detection,
    pub decision: Decision,
    pub drifted: Vec<DriftedResource>,
    /// Drifted resources in all (more than listed when over `MAX_LISTED`).
    pub total_drifted: usize,
}

/// What `onDrift` makes of what was found. Without `onDrift`, drift of a resource that holds data (or
/// of an unknown type) refuses the deployment, other drift is only listed, and an unknown result
/// asks a person (fails closed: the stack may hold drifted data); `fail` refuses any drift, and an
/// unknown result too; `approve` asks a person about any drift or an unknown result; `ignore`
/// lists it, but running over drifted data (or a result that may hide it) is a data loss the
/// request accepts, so it counts only where the operator lets requests accept one
/// (`DataLossIntent` `request`), and never for what the operator protects
/// (`ProtectedResourceTypes`, `ProtectedLogicalIds` of `stack`); otherwise a person decides.
pub fn decide(
    stack: &str,
    detection: Detection,
    drifted: &[DriftedResource],
    on_drift: Option<OnDrift>,
    stateful: &StatefulTypes,
) -> Decision {
    let unknown = detection == Detection::Unknown;
    let any = !drifted.is_empty() || unknown;
    let drifted_data = drifted.iter().any(|d| {
        stateful.holds_resource(stack, &d.logical_resource_id, &d.resource_type) == Holds::Data
    });
    let protected = drifted
        .iter()
        .any(|d| stateful.operator_protects(stack, &d.logical_resource_id, &d.resource_type));
    match on_drift {
        Some(OnDrift::Ignore)
            if protected || ((drifted_data || unknown) && !stateful.intent.request) =>
        {
            Decision::NeedsPerson
        }
        Some(OnDrift::Ignore) => Decision::Proceed,
        Some(OnDrift::Fail) if any => Decision::Refuse,
        Some(OnDrift::Approve) if any => Decision::NeedsPerson,
        Some(OnDrift::Fail | OnDrift::Approve) => Decision::Proceed,
        None if drifted_data => Decision::Refuse,
        None if detection == Detection::Unknown => Decision::NeedsPerson,
        None => Decision::Proceed,
    }
}

impl Report {
    pub fn new(
        stack: &str,
        detection: Detection,
        mut drifted: Vec<DriftedResource>,
        on_drift: Option<OnDrift>,
        stateful: &StatefulTypes,
    ) -> Self {
        let decision = decide(stack, detection, &drifted, on_drift, stateful);
        let total_drifted = drifted.len();
        drifted.truncate(MAX_LISTED);
        // Names come from templates and live resources: escaped (no forged lines) and cut.
        let shown = |text: &str| crate::values::printable(text, MAX_NAME_CHARS);
        for resource in &mut drifted {
            resource.properties.truncate(MAX_PROPERTIES);
            resource.logical_resource_id = shown(&resource.logical_resource_id);
            resource.resource_type = shown(&resource.resource_type);
            for path in &mut resource.properties {
                *path = shown(path);
            }
        }
        Report {
            detection,
            decision,
            drifted,
            total_drifted,
        }
    }

    /// One `!` line per drifted resource, as the summary and the refusal show them.
    pub fn lines(&self) -> String {
        let mut lines: Vec<String> = self
            .drifted
            .iter()
            .map(|d| {
                let properties = if d.properties.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", d.properties.join(", "))
                };
                format!(
                    "! {} ({}) drifted: {}{properties}",
                    d.logical_resource_id, d.resource_type, d.status
                )
            })
            .collect();
        if self.total_drifted > self.drifted.len() {
            lines.push(format!(
                "! ... and {} more drifted resources",
                self.total_drifted - self.drifted.len()
            ));
        }
        if self.detection == Detection::Unknown {
            lines.push("! drift unknown: detection did not finish".into());
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drifted(id: &str, resource_type: &str, status: &str) -> DriftedResource {
        DriftedResource {
            logical_resource_id: id.into(),
            resource_type: resource_type.into(),
            status: status.into(),
            properties: vec![],
        }
    }

    #[test]
    fn on_drift_decides_and_by_default_only_drifted_data_refuses() {
        let stateful = StatefulTypes::default();
        let table = [drifted("Table", "AWS::DynamoDB::Table", "DELETED")];
        let function = [drifted("Fn", "AWS::Lambda::Function", "MODIFIED")];
        let unknown_type = [drifted("X", "Custom::Thing", "MODIFIED")];
        let decide = |found: &[DriftedResource], detection, on_drift| {
            decide("app", detection, found, on_drift, &stateful)
        };
        use Detection::*;
        assert_eq!(decide(&table, Drifted, None), Decision::Refuse);
        assert_eq!(
            decide(&unknown_type, Drifted, None),
            Decision::Refuse,
            "fails closed"
        );
        assert_eq!(
            decide(&function, Drifted, None),
            Decision::Proceed,
            "listed only"
        );
        assert_eq!(
            decide(&[], Unknown, None),
            Decision::NeedsPerson,
            "fails closed"
        );
        assert_eq!(
            decide(&function, Drifted, Some(OnDrift::Fail)),
            Decision::Refuse
        );
        assert_eq!(decide(&[], Unknown, Some(OnDrift::Fail)), Decision::Refuse);
        assert_eq!(decide(&[], InSync, Some(OnDrift::Fail)), Decision::Proceed);
        assert_eq!(
            decide(&table, Drifted, Some(OnDrift::Approve)),
            Decision::NeedsPerson
        );
        assert_eq!(
            decide(&[], Unknown, Some(OnDrift::Approve)),
            Decision::NeedsPerson
        );
        assert_eq!(
            decide(&[], InSync, Some(OnDrift::Approve)),
            Decision::Proceed
        );
        assert_eq!(
            decide(&function, Drifted, Some(OnDrift::Ignore)),
            Decision::Proceed,
            "drift of what holds no data is only listed"
        );
    }

    /// `ignore` over drifted data is a data loss the request accepts: only where the operator lets
    /// requests accept one, else a person decides.
    #[test]
    fn ignoring_drifted_data_is_the_operators_to_allow() {
        use crate::stateful::DataLossIntent;
        let table = [drifted("Table", "AWS::DynamoDB::Table", "DELETED")];
        let by_default = StatefulTypes::default();
        let ignore = Some(OnDrift::Ignore);
        assert_eq!(
            decide("app", Detection::Drifted, &table, ignore, &by_default),
            Decision::NeedsPerson
        );
        assert_eq!(
            decide("app", Detection::Unknown, &[], ignore, &by_default),
            Decision::NeedsPerson,
            "an unknown result may hide drifted data"
        );
        let mut requests_may = StatefulTypes::default();
        requests_may.intent = DataLossIntent {
            template: false,
            request: true,
        };
        assert_eq!(
            decide("app", Detection::Drifted, &table, ignore, &requests_may),
            Decision::Proceed
        );
        let mut templates_only = StatefulTypes::default();
        templates_only.intent = DataLossIntent {
            template: true,
            request: false,
        };
        assert_eq!(
            decide("app", Detection::Drifted, &table, ignore, &templates_only),
            Decision::NeedsPerson
        );
        // What the operator protects, never: a protected logical id of any type, even where
        // requests may accept a data loss; and without onDrift it refuses like data.
        let function = [drifted("Orders", "AWS::Lambda::Function", "MODIFIED")];
        let protected = requests_may
            .clone()
            .with_operator_floor(vec!["Orders".into()], requests_may.intent);
        assert_eq!(
            decide("app", Detection::Drifted, &function, ignore, &protected),
            Decision::NeedsPerson
        );
        assert_eq!(
            decide("app", Detection::Drifted, &function, None, &protected),
            Decision::Refuse
        );
    }

    #[test]
    fn the_report_names_properties_not_values_and_stays_small() {
        let mut many: Vec<DriftedResource> = (0..80)
            .map(|i| drifted(&format!("Fn{i}"), "AWS::Lambda::Function", "MODIFIED"))
            .collect();
        many[0].properties = (0..30).map(|i| format!("/Properties/P{i}")).collect();
        let report = Report::new(
            "app",
            Detection::Drifted,
            many,
            Some(OnDrift::Ignore),
            &StatefulTypes::default(),
        );
        assert_eq!(report.total_drifted, 80);
        assert_eq!(report.drifted.len(), MAX_LISTED);
        assert_eq!(report.drifted[0].properties.len(), MAX_PROPERTIES);
        let lines = report.lines();
        assert!(
            lines.starts_with("! Fn0 (AWS::Lambda::Function) drifted: MODIFIED (/Properties/P0, ")
        );
        assert!(
            lines.ends_with("! ... and 60 more drifted resources"),
            "{lines}"
        );
        assert!(lines.len() < 8 * 1024, "{} bytes", lines.len());

        let mut forged = drifted("Fn", "AWS::Lambda::Function", "MODIFIED");
        forged.properties = vec![format!("/Tags/x\n~ Fake (AWS::X) fine{}", "y".repeat(500))];
        let report = Report::new(
            "app",
            Detection::Drifted,
            vec![forged],
            None,
            &StatefulTypes::default(),
        );
        let lines = report.lines();
        assert_eq!(lines.lines().count(), 1, "{lines}");
        assert!(lines.len() < 300, "{lines}");
    }
}
