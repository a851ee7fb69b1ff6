//! Policy as code in the plan: Guard rules (AWS CloudFormation Guard's language, evaluated
//! in-process by its own crate; no CloudFormation Hooks) over the template CloudFormation will
//! deploy (the change set's, after transforms such as SAM's, so that a resource a transform makes is
//! judged like one written out). The rules are a small bundled default set (`default.guard`) and the
//! operator's own rules file. A failed rule names the rule and the resources (logical ids) it failed
//! on; never a value from the template, which may be a secret.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::TaskError;

mod reading;
pub use reading::template_json;

/// The bundled rules (`GuardDefaults=on`).
pub const DEFAULT_RULES: &str = include_str!("default.guard");

/// Rules files of more than this are refused: Guard parses the whole file for every plan.
pub const MAX_RULES_BYTES: usize = 256 * 1024;

/// A failed rule lists at most this many resources (the rest are counted).
const MAX_RESOURCES: usize = 20;

/// What the operator set: which rules apply, and what a failed rule does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    pub defaults: bool,
    /// `s3://bucket/key` of the operator's rules file (`GUARD_RULES`).
    pub rules_object: Option<(String, String)>,
    pub on_failure: OnFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OnFailure {
    /// The change set is deleted and the deployment fails with `GuardRuleFailed`.
    #[default]
    Refuse,
    /// A person decides, whatever the request's `onUnsafe` says.
    Approve,
}

impl Settings {
    /// The operator's settings; a mistake is named by its setting, never echoed.
    pub fn new(
        defaults: Option<&str>,
        rules: Option<&str>,
        on_failure: Option<&str>,
    ) -> Result<Self, TaskError> {
        let defaults = match defaults.unwrap_or("on") {
            "on" => true,
            "off" => false,
            _ => return Err(TaskError::invalid("GUARD_DEFAULTS", "must be on or off")),
        };
        let on_failure = match on_failure.unwrap_or("refuse") {
            "refuse" => OnFailure::Refuse,
            "approve" => OnFailure::Approve,
            _ => {
                return Err(TaskError::invalid(
                    "GUARD_ON_FAILURE",
                    "must be refuse or approve",
                ))
            }
        };
        let rules_object = match rules.map(str::trim).filter(|r| !r.is_empty()) {
            None => None,
            Some(url) => Some(rules_object(url)?),
        };
        Ok(Settings {
            defaults,
            rules_object,
            on_failure,
        })
    }

    pub fn enabled(&self) -> bool {
        self.defaults || self.rules_object.is_some()
    }
}

fn rules_object(url: &str) -> Result<(String, String), TaskError> {
    const FIELD: &str = "GUARD_RULES";
    let invalid = || TaskError::invalid(FIELD, "must be s3://<bucket>/<key> of a rules file");
    let rest = url.strip_prefix("s3://").ok_or_else(invalid)?;
    let (bucket, key) = rest.split_once('/').ok_or_else(invalid)?;
    if !crate::s3_url::valid_bucket_name(bucket) || key.is_empty() {
        return Err(invalid());
    }
    Ok((bucket.to_string(), key.to_string()))
}

/// One rules file: its name (reported with a parse error) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesFile {
    pub name: String,
    pub text: String,
}

impl RulesFile {
    pub fn bundled() -> Self {
        RulesFile {
            name: "stackgate-defaults.guard".into(),
            text: DEFAULT_RULES.into(),
        }
    }
}

/// A rule that failed, and the resources it failed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub rule: String,
    pub resources: Vec<String>,
    /// Resources beyond those listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_resources: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The rule a nested stack fails when the change set does not list its own change set: its template
/// cannot be read, so it is not let through unread.
pub const NESTED_STACK_NOT_EVALUATED: &str = "NESTED_STACK_NOT_EVALUATED";

impl Failure {
    pub fn nested_not_evaluated(path: String) -> Self {
        Failure {
            rule: NESTED_STACK_NOT_EVALUATED.into(),
            resources: vec![path],
            more_resources: 0,
        }
    }

    /// The failure of a nested stack's template, its resources named by their path (`Parent/Child`).
    pub fn within(mut self, path: &str) -> Self {
        for resource in &mut self.resources {
            *resource = format!("{path}/{resource}");
        }
        self
    }

    /// `RULE: A, B (+3 more)`, or `RULE` when the rule names no resource.
    pub fn line(&self) -> String {
        let mut line = self.rule.clone();
        if !self.resources.is_empty() {
            line.push_str(": ");
            line.push_str(&self.resources.join(", "));
        }
        if self.more_resources > 0 {
            line.push_str(&format!(" (+{} more)", self.more_resources));
        }
        line
    }
}

/// Checks that a rules file parses (the operator's file is read for every plan; a file that does
/// not parse fails the plan, named, rather than let everything through).
pub fn check_rules(rules: &RulesFile) -> Result<(), TaskError> {
    if rules.text.len() > MAX_RULES_BYTES {
        return Err(TaskError::invalid(
            "GUARD_RULES",
            format!("the rules file is above {MAX_RULES_BYTES} bytes"),
        ));
    }
    // Guard's own entry point for one rules file; its report is cut at 8 KiB (it reads an unflushed
    // buffer), which is fine over an empty document but not over a template (`report`).
    let parsed = std::panic::catch_unwind(|| {
        cfn_guard::run_checks(
            cfn_guard::ValidateInput {
                content: "{}",
                file_name: "empty",
            },
            cfn_guard::ValidateInput {
                content: &rules.text,
                file_name: &rules.name,
            },
            false,
        )
    })
    .map_err(|_| TaskError::invalid("GUARD_RULES", format!("{} does not parse", rules.name)))?;
    match parsed {
        Ok(_) => Ok(()),
        // Guard's parse errors point into the rules text (the operator's, not a secret).
        Err(cfn_guard::Error::ParseError(message)) => Err(TaskError::invalid(
            "GUARD_RULES",
            format!("{} does not parse: {}", rules.name, first_line(&message)),
        )),
        Err(_) => Err(TaskError::invalid(
            "GUARD_RULES",
            format!("{} cannot be evaluated", rules.name),
        )),
    }
}

/// Every rule of `rules` over `template` (JSON or YAML, CloudFormation's short forms included):
/// the failed ones, by rule name. The rules must have passed `check_rules`.
pub fn evaluate(rules: &[RulesFile], template: &str) -> Result<Vec<Failure>, TaskError> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let data = template_json(template)?.to_string();
    let report = report(rules, &data)?;
    let failures = report
        .as_array()
        .and_then(|files| files.first())
        .map(failed_rules)
        .unwrap_or_default();
    Ok(merged(failures))
}

/// One failure per rule, its resources sorted and listed up to a bound (the rest counted).
pub fn merged(mut failures: Vec<Failure>) -> Vec<Failure> {
    failures.sort_by(|a, b| a.rule.cmp(&b.rule));
    failures.dedup_by(|b, a| {
        if a.rule == b.rule {
            a.resources.append(&mut b.resources);
            a.resources.sort();
            a.resources.dedup();
            a.more_resources += b.more_resources;
            true
        } else {
            false
        }
    });
    for failure in &mut failures {
        if failure.resources.len() > MAX_RESOURCES {
            failure.more_resources += failure.resources.len() - MAX_RESOURCES;
            failure.resources.truncate(MAX_RESOURCES);
        }
    }
    failures
}

/// Guard's structured report (`cfn-guard validate --payload --structured -o json`) of every rules
/// file over the data. Guard's evaluator is another crate's code over input an app team wrote: a
/// panic in it fails this plan, it does not pass it.
fn report(rules: &[RulesFile], data: &str) -> Result<Value, TaskError> {
    use cfn_guard::commands::validate::{OutputFormatType, ShowSummaryType};
    use cfn_guard::commands::{Executable, ERROR_STATUS_CODE};
    use cfn_guard::utils::reader::{ReadBuffer, Reader};
    use cfn_guard::utils::writer::{WriteBuffer, Writer};
    use cfn_guard::CommandBuilder;

    let payload = serde_json::json!({
        "rules": rules.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
        "data": [data],
    })
    .to_string();
    let failed = || TaskError::InvalidTemplate("Guard could not evaluate the template".into());
    let (code, text) =
        std::panic::catch_unwind(move || -> Result<(i32, String), cfn_guard::Error> {
            let mut reader = Reader::new(ReadBuffer::Cursor(std::io::Cursor::new(
                payload.into_bytes(),
            )));
            let mut writer =
                Writer::new_with_err(WriteBuffer::Vec(Vec::new()), WriteBuffer::Vec(Vec::new()))?;
            let code = cfn_guard::ValidateBuilder::default()
                .payload(true)
                .structured(true)
                .output_format(OutputFormatType::JSON)
                .show_summary(vec![ShowSummaryType::None])
                .try_build()?
                .execute(&mut writer, &mut reader)?;
            Ok((code, writer.into_string()?))
        })
        .map_err(|_| failed())?
        .map_err(|_| failed())?;
    if code == ERROR_STATUS_CODE {
        return Err(failed());
    }
    serde_json::from_str(&text).map_err(|_| failed())
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(200).collect()
}

/// The failed rules of a Guard report: each top-level rule under `not_compliant`, with the logical
/// ids of the resources any of its checks looked at (paths under `/Resources/<id>`).
fn failed_rules(report: &Value) -> Vec<Failure> {
    let Some(failed) = report.get("not_compliant").and_then(Value::as_array) else {
        return Vec::new();
    };
    failed
        .iter()
        .filter_map(|entry| {
            let rule = entry.get("Rule")?;
            let name = rule.get("name")?.as_str()?.to_string();
            let mut resources = BTreeSet::new();
            collect_resources(rule, &mut resources);
            Some(Failure {
                rule: name,
                resources: resources.into_iter().collect(),
                more_resources: 0,
            })
        })
        .collect()
}

fn collect_resources(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "path" {
                    if let Some(id) = inner.as_str().and_then(resource_of) {
                        into.insert(id);
                    }
                } else {
                    collect_resources(inner, into);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_resources(item, into)),
        _ => {}
    }
}

/// The logical id of a path under `/Resources/<id>`; a logical id is alphanumeric, so anything else
/// (a value that happens to look like a path) is not one.
fn resource_of(path: &str) -> Option<String> {
    let id = path.strip_prefix("/Resources/")?.split('/').next()?;
    (!id.is_empty() && id.len() <= 255 && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| id.to_string())
}

#[cfg(test)]
mod tests;
