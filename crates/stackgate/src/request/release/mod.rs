//! The release request, defined once: several stacks of one environment, possibly in other
//! accounts and Regions, planned together, judged as one, and executed in waves ordered by
//! `dependsOn`. Each stack is a deploy request (`DeployRequest`, its own rules, its errors named
//! under `stacks[i]`); what a release decides for all of them (the environment, `onUnsafe`, who
//! asked) is the release's, and a stack may not say otherwise.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{approval_timeout, requested_by, text, Deployment, EnvironmentName};
use crate::destination::Destination;
use crate::TaskError;

mod order;
use order::{refuse_duplicates, resolve_dependencies, waves};

/// The most stacks one release holds: each is a plan, an execution and a line of the approval,
/// and the release's state carries a summary of each.
pub const MAX_STACKS: usize = 50;
/// The most stacks of one wave deployed at once.
pub const MAX_CONCURRENCY: u64 = 20;
pub const DEFAULT_CONCURRENCY: u64 = 5;
/// The longest wait between two waves.
pub const MAX_BAKE_MINUTES: u64 = 180;
const MAX_RELEASE_NAME: usize = 64;

/// Fields of a stack entry that the release decides for every stack, or that no caller sets.
const RELEASE_WIDE: [&str; 9] = [
    "environmentName",
    "onUnsafe",
    "approvalTimeoutSeconds",
    "blueGreenSuffix",
    "requestedBy",
    "planExpiresAt",
    "applyPlan",
    "releasePlan",
    "releaseApproval",
];

/// The release as it arrives (`POST /releases`, a pipeline's manifest file, a direct
/// StartExecution). Unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReleaseRequest {
    environment_name: Option<String>,
    release: Option<String>,
    stacks: Option<Vec<Map<String, Value>>>,
    waves: Option<WavesRequest>,
    on_unsafe: Option<ReleaseOnUnsafe>,
    approval_timeout_seconds: Option<u64>,
    requested_by: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WavesRequest {
    max_concurrency: Option<u64>,
    bake_minutes: Option<u64>,
    stop_on_failure: Option<bool>,
}

/// What an unsafe stack does to the release: refuse all of it, or ask people once for all of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReleaseOnUnsafe {
    #[default]
    Fail,
    Approve,
}

/// A stack of a release: its deployment, where it goes, and what must be deployed before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseStack {
    pub deployment: Deployment,
    /// The stack's deploy request as safe deploy takes it (the release's environment, `onUnsafe`
    /// and who asked filled in); its plan's and its apply's input are made from it.
    pub request: Map<String, Value>,
    /// The account it is deployed in (12 digits); none: stackgate's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The Region it is deployed in; none: stackgate's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Indexes (into the release's stacks) of the stacks deployed before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<usize>,
}

/// A validated release: what the release workflow works from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub environment_name: EnvironmentName,
    pub release: String,
    pub stacks: Vec<ReleaseStack>,
    /// The stacks' indexes, wave by wave: each wave only after every stack it depends on.
    pub waves: Vec<Vec<usize>>,
    pub max_concurrency: u64,
    pub bake_minutes: u64,
    pub on_unsafe: ReleaseOnUnsafe,
    pub approval_timeout_seconds: u64,
    pub requested_by: String,
}

/// Whether `id` can name a release: a release execution's name.
pub fn is_release_id(id: &str) -> bool {
    id.len() <= 80
        && id.strip_prefix("release-").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Parses and validates a release; `execution_name` is the release's execution.
pub fn parse_release(input: &Value, execution_name: &str) -> Result<Release, TaskError> {
    if !input.is_object() {
        return Err(TaskError::invalid("$", "the input must be a JSON object"));
    }
    let request = crate::error::parse_input::<ReleaseRequest>(input.clone())?;
    let environment = super::required("environmentName", request.environment_name)?;
    let environment_name = EnvironmentName::parse(environment)
        .map_err(|message| TaskError::invalid("environmentName", message))?;
    let release = release_name(super::required("release", request.release)?)?;
    let on_unsafe = request.on_unsafe.unwrap_or_default();
    let requested_by = requested_by(text("requestedBy", request.requested_by)?)?;
    let entries = request
        .stacks
        .filter(|s| !s.is_empty())
        .ok_or_else(|| TaskError::invalid("stacks", "must list at least one stack"))?;
    if entries.len() > MAX_STACKS {
        return Err(TaskError::invalid(
            "stacks",
            format!("lists more than {MAX_STACKS} stacks; split the release"),
        ));
    }
    let mut stacks = Vec::with_capacity(entries.len());
    let mut depends_on_names = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let (stack, names) = stack_entry(
            entry,
            &environment_name,
            on_unsafe,
            &requested_by,
            execution_name,
        )
        .map_err(|e| under(&format!("stacks[{i}]"), e))?;
        stacks.push(stack);
        depends_on_names.push(names);
    }
    refuse_duplicates(&stacks)?;
    for (i, names) in depends_on_names.iter().enumerate() {
        stacks[i].depends_on = resolve_dependencies(&stacks, i, names)?;
    }
    let waves = waves(&stacks)?;
    let settings = request.waves.unwrap_or(WavesRequest {
        max_concurrency: None,
        bake_minutes: None,
        stop_on_failure: None,
    });
    let max_concurrency = settings.max_concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if !(1..=MAX_CONCURRENCY).contains(&max_concurrency) {
        return Err(TaskError::invalid(
            "waves.maxConcurrency",
            format!("must be a whole number from 1 to {MAX_CONCURRENCY}"),
        ));
    }
    let bake_minutes = settings.bake_minutes.unwrap_or(0);
    if bake_minutes > MAX_BAKE_MINUTES {
        return Err(TaskError::invalid(
            "waves.bakeMinutes",
            format!("must be a whole number of minutes from 0 to {MAX_BAKE_MINUTES}"),
        ));
    }
    if settings.stop_on_failure == Some(false) {
        return Err(TaskError::invalid(
            "waves.stopOnFailure",
            "a release stops at its first failure (later waves are not executed and their change sets are deleted); false is not offered",
        ));
    }
    Ok(Release {
        environment_name,
        release,
        stacks,
        waves,
        max_concurrency,
        bake_minutes,
        on_unsafe,
        approval_timeout_seconds: approval_timeout(request.approval_timeout_seconds)?,
        requested_by,
    })
}

/// A release's name: what people read in the approval and the status (letters, digits, `.`, `_`,
/// `-`; at most 64).
fn release_name(name: String) -> Result<String, TaskError> {
    let valid = name.len() <= MAX_RELEASE_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if valid {
        Ok(name)
    } else {
        Err(TaskError::invalid(
            "release",
            format!("must be 1 to {MAX_RELEASE_NAME} letters, digits, '.', '_' or '-'"),
        ))
    }
}

/// An error of a part of the release, named by its path in the release.
fn under(prefix: &str, error: TaskError) -> TaskError {
    match error {
        TaskError::InvalidInput { field, message } if field == "$" => {
            TaskError::invalid(prefix, message)
        }
        TaskError::InvalidInput { field, message } => {
            TaskError::invalid(format!("{prefix}.{field}"), message)
        }
        other => other,
    }
}

/// One stack entry: its own fields as a deploy request, plus where it goes and what it follows.
fn stack_entry(
    mut entry: Map<String, Value>,
    environment: &EnvironmentName,
    on_unsafe: ReleaseOnUnsafe,
    requested_by: &str,
    execution_name: &str,
) -> Result<(ReleaseStack, Vec<String>), TaskError> {
    if let Some(field) = RELEASE_WIDE.iter().find(|f| entry.contains_key(**f)) {
        return Err(TaskError::invalid(
            *field,
            "is the release's to set, for every stack (or nobody's); remove it from the stack",
        ));
    }
    let account = optional_text(&mut entry, "account")?;
    let region = optional_text(&mut entry, "region")?;
    let Destination { account, region } = Destination::new(account, region)?;
    // The stack's own deploy request says where it goes: its plan and apply run there.
    for (field, given) in [("account", &account), ("region", &region)] {
        if let Some(given) = given {
            entry.insert(field.into(), json!(given));
        }
    }
    let depends_on = match entry.remove("dependsOn") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(k, item)| match item {
                Value::String(name) if !name.trim().is_empty() => Ok(name.trim().to_string()),
                _ => Err(TaskError::invalid(
                    format!("dependsOn[{k}]"),
                    "must be the stackName of another stack of the release",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(TaskError::invalid(
                "dependsOn",
                "must be a list of stackName values of other stacks of the release",
            ))
        }
    };
    entry.insert("environmentName".into(), json!(environment.as_str()));
    let on_unsafe = match on_unsafe {
        ReleaseOnUnsafe::Fail => "fail",
        ReleaseOnUnsafe::Approve => "approve",
    };
    entry.insert("onUnsafe".into(), json!(on_unsafe));
    entry.insert("requestedBy".into(), json!(requested_by));
    let deployment = super::parse_deployment(&Value::Object(entry.clone()), execution_name)?;
    Ok((
        ReleaseStack {
            deployment,
            request: entry,
            account,
            region,
            depends_on: Vec::new(),
        },
        depends_on,
    ))
}

fn optional_text(entry: &mut Map<String, Value>, field: &str) -> Result<Option<String>, TaskError> {
    match entry.remove(field) {
        None => Ok(None),
        Some(Value::String(text)) => super::text(field, Some(text)),
        Some(_) => Err(TaskError::invalid(field, "must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(name: &str, extra: Value) -> Value {
        let mut entry = json!({"stackName": name,
                               "templateS3Bucket": "templates", "templateS3Key": format!("{name}.yaml")});
        for (k, v) in extra.as_object().unwrap() {
            entry[k] = v.clone();
        }
        entry
    }

    fn manifest(stacks: Vec<Value>) -> Value {
        json!({"environmentName": "prod", "release": "r-2026.12", "stacks": stacks})
    }

    fn field(input: Value) -> String {
        match parse_release(&input, "release-x") {
            Err(TaskError::InvalidInput { field, .. }) => field,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn stacks_are_deployed_in_waves_after_what_they_depend_on() {
        let release = parse_release(
            &manifest(vec![
                stack("app", json!({"dependsOn": ["network", "data"]})),
                stack(
                    "network",
                    json!({"account": "111111111111", "region": "eu-west-1"}),
                ),
                stack(
                    "network",
                    json!({"account": "111111111111", "region": "eu-central-1"}),
                ),
                stack(
                    "data",
                    json!({"dependsOn": ["network"], "parameters": {"Size": 2}}),
                ),
                stack("dns", json!({})),
            ]),
            "release-x",
        )
        .unwrap();
        assert_eq!(release.waves, vec![vec![1, 2, 4], vec![3], vec![0]]);
        assert_eq!(release.stacks[0].depends_on, vec![1, 2, 3]);
        assert_eq!(release.stacks[3].depends_on, vec![1, 2]);
        assert_eq!(release.stacks[1].region.as_deref(), Some("eu-west-1"));
        assert_eq!(release.stacks[3].deployment.stack_name, "prod-data");
        assert_eq!(release.stacks[3].deployment.parameters["Size"], "2");
        assert_eq!(
            (release.max_concurrency, release.bake_minutes),
            (DEFAULT_CONCURRENCY, 0)
        );
        assert_eq!(release.on_unsafe, ReleaseOnUnsafe::Fail);
        // The release decides for every stack.
        for s in &release.stacks {
            assert_eq!(s.deployment.on_unsafe, crate::request::OnUnsafe::Fail);
            assert_eq!(s.deployment.requested_by, release.requested_by);
        }
        let approve = json!({"environmentName": "prod", "release": "r", "onUnsafe": "approve",
                             "requestedBy": "apikey:a",
                             "waves": {"maxConcurrency": 2, "bakeMinutes": 10, "stopOnFailure": true},
                             "stacks": [stack("a", json!({}))]});
        let release = parse_release(&approve, "release-x").unwrap();
        assert_eq!(
            release.stacks[0].deployment.on_unsafe,
            crate::request::OnUnsafe::Approve
        );
        assert_eq!(release.stacks[0].deployment.requested_by, "apikey:a");
        assert_eq!((release.max_concurrency, release.bake_minutes), (2, 10));
    }

    #[test]
    fn a_bad_manifest_is_refused_naming_the_path() {
        let cases = [
            (json!([1]), "$"),
            (
                json!({"release": "r", "stacks": [stack("a", json!({}))]}),
                "environmentName",
            ),
            (
                json!({"environmentName": "prod", "stacks": [stack("a", json!({}))]}),
                "release",
            ),
            (
                json!({"environmentName": "prod", "release": "r 1", "stacks": [stack("a", json!({}))]}),
                "release",
            ),
            (manifest(vec![]), "stacks"),
            (manifest(vec![json!(3)]), "stacks[0]"),
            (
                manifest(
                    (0..=MAX_STACKS)
                        .map(|i| stack(&format!("s{i}"), json!({})))
                        .collect(),
                ),
                "stacks",
            ),
            (
                manifest(vec![
                    stack("a", json!({})),
                    stack("b", json!({"region": "eu_west_1"})),
                ]),
                "stacks[1].region",
            ),
            (
                manifest(vec![stack("a", json!({"region": "eu-west-01"}))]),
                "stacks[0].region",
            ),
            (
                manifest(vec![stack("a", json!({"account": "12345678901"}))]),
                "stacks[0].account",
            ),
            (
                manifest(vec![stack("a", json!({"account": "12345678901x"}))]),
                "stacks[0].account",
            ),
            (
                manifest(vec![stack("a", json!({"account": 123456789012u64}))]),
                "stacks[0].account",
            ),
            (
                manifest(vec![stack("a", json!({})), stack("a", json!({}))]),
                "stacks[1].stackName",
            ),
            (
                manifest(vec![
                    stack("a", json!({"region": "eu-west-1"})),
                    stack("a", json!({"region": "eu-west-1"})),
                ]),
                "stacks[1].stackName",
            ),
            (
                manifest(vec![stack("a", json!({"dependsOn": ["b"]}))]),
                "stacks[0].dependsOn[0]",
            ),
            (
                manifest(vec![stack("a", json!({"dependsOn": ["a"]}))]),
                "stacks[0].dependsOn[0]",
            ),
            (
                manifest(vec![
                    stack("a", json!({"dependsOn": "b"})),
                    stack("b", json!({})),
                ]),
                "stacks[0].dependsOn",
            ),
            (
                manifest(vec![stack("a", json!({"dependsOn": [1]}))]),
                "stacks[0].dependsOn[0]",
            ),
            (
                manifest(vec![
                    stack("a", json!({"dependsOn": ["c"]})),
                    stack("b", json!({"dependsOn": ["a"]})),
                    stack("c", json!({"dependsOn": ["b"]})),
                ]),
                "stacks[0].dependsOn",
            ),
            (
                manifest(vec![stack("a", json!({"onUnsafe": "blueGreen"}))]),
                "stacks[0].onUnsafe",
            ),
            (
                manifest(vec![stack("a", json!({"environmentName": "dev"}))]),
                "stacks[0].environmentName",
            ),
            (
                manifest(vec![stack("a", json!({"requestedBy": "CTO"}))]),
                "stacks[0].requestedBy",
            ),
            (
                manifest(vec![stack("a", json!({"parameters": {"P": {"x": 1}}}))]),
                "stacks[0].parameters.P",
            ),
            (
                manifest(vec![stack(
                    "a",
                    json!({"capabilities": ["CAPABILITY_ROOT"]}),
                )]),
                "stacks[0].capabilities[0]",
            ),
            (
                manifest(vec![stack("a", json!({"templateUrl": "https://x/y"}))]),
                "stacks[0].templateUrl",
            ),
            (
                manifest(vec![stack("a", json!({"stackname": "typo"}))]),
                "stacks[0].stackname",
            ),
            (
                manifest(vec![stack("a b", json!({}))]),
                "stacks[0].stackName",
            ),
            (
                json!({"environmentName": "prod", "release": "r", "onUnsafe": "blueGreen", "stacks": [stack("a", json!({}))]}),
                "onUnsafe",
            ),
            (
                json!({"environmentName": "prod", "release": "r", "waves": {"maxConcurrency": 0}, "stacks": [stack("a", json!({}))]}),
                "waves.maxConcurrency",
            ),
            (
                json!({"environmentName": "prod", "release": "r", "waves": {"bakeMinutes": 181}, "stacks": [stack("a", json!({}))]}),
                "waves.bakeMinutes",
            ),
            (
                json!({"environmentName": "prod", "release": "r", "waves": {"stopOnFailure": false}, "stacks": [stack("a", json!({}))]}),
                "waves.stopOnFailure",
            ),
            (
                json!({"environmentName": "prod", "release": "r", "waves": {"parallel": 3}, "stacks": [stack("a", json!({}))]}),
                "waves.parallel",
            ),
            (
                json!({"environmentName": "prod", "release": "r", "approvalTimeoutSeconds": 5, "stacks": [stack("a", json!({}))]}),
                "approvalTimeoutSeconds",
            ),
            (
                json!({"environmentName": "prod", "release": "r", "stack": [], "stacks": [stack("a", json!({}))]}),
                "stack",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(field(input.clone()), expected, "{input}");
        }
    }

    #[test]
    fn a_cycle_is_named_by_the_indexes_of_its_stacks_and_no_value_is_repeated() {
        let input = manifest(vec![
            stack("free", json!({})),
            stack("hunter2-a", json!({"dependsOn": ["hunter2-b"]})),
            stack(
                "hunter2-b",
                json!({"dependsOn": ["hunter2-a"], "parameters": {"Password": "hunter2"}}),
            ),
        ]);
        let error = parse_release(&input, "release-x").unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("stacks[1] -> stacks[2] -> stacks[1]"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        let duplicate = manifest(vec![
            stack("hunter2-x", json!({})),
            stack("hunter2-x", json!({})),
        ]);
        let text = parse_release(&duplicate, "release-x")
            .unwrap_err()
            .to_string();
        assert!(!text.contains("hunter2"), "{text}");
    }
}
