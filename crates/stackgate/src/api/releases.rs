//! `POST /releases` and `GET /releases/{id}` as pure functions: the manifest checked as the plan
//! step checks each of its stacks, the release workflow's input (each stack's plan and apply, by
//! name), and a release's status from its executions.

use serde_json::{json, Map, Value};

use super::{name_hash, plans, ApiConfig, Problem, NOT_FROM_THE_API, RELEASE_STACK_PLACE};
use crate::destination::Targets;
use crate::guardrails::Guardrails;
use crate::lifecycle::{change_set_name, Target};
use crate::request::release::{parse_release, Release};
use crate::TaskError;

/// How long a release's plans may wait for the release to apply them (its workflow's own limit).
const PLAN_SECONDS: u64 = 7 * 24 * 60 * 60;

/// A release the API accepted: the workflow's input, and the release it describes.
#[derive(Debug)]
pub struct ValidRelease {
    pub input: Value,
    pub release: Release,
}

/// Validates `POST /releases` and returns the release workflow's input: what only the API refuses
/// (who asked, a revision), then what every starter of a release checks (`checked_release`).
pub fn release_request(
    mut body: Map<String, Value>,
    config: &ApiConfig,
    execution_name: &str,
    requested_by: &str,
    now: u64,
) -> Result<ValidRelease, Problem> {
    if body.contains_key("requestedBy") {
        return Err(Problem::invalid(
            "requestedBy",
            "is not accepted by the API: who asked is taken from the API's authentication",
        ));
    }
    if let Some(Value::Array(stacks)) = body.get("stacks") {
        for (i, stack) in stacks.iter().enumerate() {
            let refused = stack.as_object().and_then(|s| {
                s.keys().find(|k| {
                    NOT_FROM_THE_API.contains(&k.as_str())
                        && !RELEASE_STACK_PLACE.contains(&k.as_str())
                })
            });
            if let Some(field) = refused {
                return Err(Problem::invalid(
                    format!("stacks[{i}].{field}"),
                    "is not accepted by the API: give templateUrl or templateS3Bucket+templateS3Key",
                ));
            }
        }
    }
    body.insert("requestedBy".into(), json!(requested_by));
    let rules = ReleaseRules {
        guardrails: &config.guardrails,
        targets: &config.targets,
        home_region: &config.home_region,
    };
    checked_release(body, &rules, execution_name, now).map_err(Problem::from)
}

/// What a release is checked against wherever it comes from.
pub struct ReleaseRules<'a> {
    pub guardrails: &'a Guardrails,
    pub targets: &'a Targets,
    /// stackgate's own Region: a stack naming it is a stack at home.
    pub home_region: &'a str,
}

/// What every starter of a release checks before starting it (the API, the pipeline trigger):
/// the manifest (`parse_release`, with `requestedBy` set), then for each stack the operator's
/// environments, target accounts and Regions and guardrails, errors named under `stacks[i]`. The
/// plan step checks each stack again.
pub fn checked_release(
    mut body: Map<String, Value>,
    rules: &ReleaseRules,
    execution_name: &str,
    now: u64,
) -> Result<ValidRelease, TaskError> {
    // A stack naming stackgate's own Region is a stack at home: one lease, one name.
    if let Some(Value::Array(stacks)) = body.get_mut("stacks") {
        for stack in stacks.iter_mut().filter_map(Value::as_object_mut) {
            if stack.get("region").and_then(Value::as_str) == Some(rules.home_region) {
                stack.remove("region");
            }
        }
    }
    let release = parse_release(&Value::Object(body), execution_name)?;
    if !rules.guardrails.manages(release.environment_name.as_str()) {
        return Err(TaskError::invalid(
            "environmentName",
            "is not an environment stackgate manages here",
        ));
    }
    for (i, stack) in release.stacks.iter().enumerate() {
        rules
            .targets
            .admit(&stack.deployment.destination)
            .and_then(|()| rules.guardrails.authorize(&stack.deployment))
            .map_err(|e| under_stack(i, e))?;
    }
    let input = workflow_input(&release, execution_name, now);
    Ok(ValidRelease { input, release })
}

fn under_stack(i: usize, error: TaskError) -> TaskError {
    match error {
        TaskError::InvalidInput { field, message } => {
            TaskError::invalid(format!("stacks[{i}].{field}"), message)
        }
        other => other,
    }
}

/// The plan execution of a release's stack: named by the release and the stack's place in it, so
/// that a retried release finds it.
pub fn stack_plan_name(release: &str, index: usize) -> String {
    format!(
        "deploy-p{}",
        name_hash(&["release", release, &index.to_string()])
    )
}

/// The release workflow's input: for each stack its plan (a safe-deploy plan that ends once
/// judged), its apply (that plan's change set, under the one name the plan step accepts for it)
/// and the change set's name (deleted if the release does not execute it); the waves by index.
pub fn workflow_input(release: &Release, execution_name: &str, now: u64) -> Value {
    let expires_at = crate::approval::timestamp(now + PLAN_SECONDS);
    let stacks: Vec<Value> = release
        .stacks
        .iter()
        .enumerate()
        .map(|(i, stack)| {
            let plan_name = stack_plan_name(execution_name, i);
            let mut plan = stack.request.clone();
            plan.insert("planExpiresAt".into(), json!(expires_at));
            plan.insert("releasePlan".into(), json!(execution_name));
            let plan = Value::Object(plan);
            let apply = plans::applying_input(&plan, &plan_name);
            json!({
                "stackName": stack.deployment.stack_name.as_str(),
                "changeSetName": change_set_name(&plan_name, Target::Primary),
                "destination": {
                    "account": stack.deployment.destination.account,
                    "region": stack.deployment.destination.region,
                },
                "planName": plan_name,
                "applyName": plans::apply_execution_name(&plan_name, &release.requested_by),
                "plan": plan,
                "apply": without(apply, "releasePlan"),
            })
        })
        .collect();
    let last = release.waves.len().saturating_sub(1);
    let waves: Vec<Value> = release
        .waves
        .iter()
        .enumerate()
        .map(|(n, wave)| {
            let bake = if n == last {
                0
            } else {
                release.bake_minutes * 60
            };
            json!({"stacks": wave, "bakeSeconds": bake})
        })
        .collect();
    json!({
        "release": release.release,
        "environmentName": release.environment_name.as_str(),
        "requestedBy": release.requested_by,
        "maxConcurrency": release.max_concurrency,
        "onUnsafe": release.on_unsafe,
        "approvalTimeoutSeconds": release.approval_timeout_seconds,
        "stacks": stacks,
        "waves": waves,
    })
}

fn without(mut value: Value, field: &str) -> Value {
    if let Value::Object(fields) = &mut value {
        fields.remove(field);
    }
    value
}

/// A stack of a release as `GET /releases/{id}` shows it, from its plan's and its apply's
/// executions (`None`: not started).
pub fn stack_state(
    release_status: &str,
    plan: Option<(&str, Option<&str>)>,
    apply: Option<(&str, Option<&str>)>,
) -> &'static str {
    let outcome = |output: Option<&str>| {
        output
            .and_then(|o| serde_json::from_str::<Value>(o).ok())
            .and_then(|o| o["outcome"].as_str().map(str::to_string))
    };
    match (plan, apply) {
        (_, Some(("RUNNING", _))) => "executing",
        (_, Some(("SUCCEEDED", _))) => "done",
        (_, Some(_)) => "failed",
        (None, None) if release_status == "RUNNING" => "waiting",
        (None, None) => "skipped",
        (Some(("RUNNING", _)), None) => "planning",
        (Some(("SUCCEEDED", output)), None) => match outcome(output).as_deref() {
            Some("NO_CHANGES") => "unchanged",
            _ if release_status == "RUNNING" => "planned",
            _ => "skipped",
        },
        (Some(_), None) => "refused",
    }
}

/// Whether a running release waits for people: every plan ended, one of them needs a person,
/// and no stack was applied yet (the release's one approval is out).
pub fn waits_for_approval(release_status: &str, plans: &[Option<(&str, Option<&str>)>]) -> bool {
    let needs_person = |output: Option<&str>| {
        output
            .and_then(|o| serde_json::from_str::<Value>(o).ok())
            .is_some_and(|o| o["outcome"] == "NEEDS_APPROVAL")
    };
    release_status == "RUNNING"
        && plans
            .iter()
            .all(|plan| matches!(plan, Some((status, _)) if *status != "RUNNING"))
        && plans
            .iter()
            .any(|plan| matches!(plan, Some(("SUCCEEDED", output)) if needs_person(*output)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::{body, config};

    fn manifest(extra: Value) -> Map<String, Value> {
        let mut m = json!({"environmentName": "prod", "release": "r1", "stacks": [
            {"stackName": "network", "templateS3Bucket": "templates", "templateS3Key": "n.yaml"},
            {"stackName": "app", "templateUrl": "https://templates.s3.amazonaws.com/a.yaml",
             "parameters": {"Size": "2"}, "dependsOn": ["network"]}
        ]});
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        body(m)
    }

    #[test]
    fn each_stack_is_planned_then_applied_by_name_in_waves() {
        let valid =
            release_request(manifest(json!({})), &config(), "release-k1", "apikey:a", 0).unwrap();
        let input = valid.input;
        assert_eq!(
            input["waves"],
            json!([{"stacks": [0], "bakeSeconds": 0}, {"stacks": [1], "bakeSeconds": 0}])
        );
        let app = &input["stacks"][1];
        let plan_name = stack_plan_name("release-k1", 1);
        assert_eq!(app["planName"], json!(plan_name));
        assert!(crate::request::is_plan_id(&plan_name));
        assert_eq!(
            app["applyName"],
            json!(plans::apply_execution_name(&plan_name, "apikey:a"))
        );
        assert_eq!(
            app["changeSetName"],
            json!(change_set_name(&plan_name, Target::Primary))
        );
        // The plan is a plan of this release, by who asked; the apply executes exactly it.
        assert_eq!(app["plan"]["releasePlan"], "release-k1");
        assert_eq!(app["plan"]["requestedBy"], "apikey:a");
        assert_eq!(app["plan"]["onUnsafe"], "fail");
        assert_eq!(app["plan"]["parameters"]["Size"], "2");
        assert!(app["plan"].get("dependsOn").is_none());
        assert_eq!(app["apply"]["applyPlan"], json!(plan_name));
        assert!(
            app["apply"].get("planExpiresAt").is_none()
                && app["apply"].get("releasePlan").is_none()
        );
        // Both are valid deploy requests, as the plan step will read them.
        crate::request::parse_deployment(&app["plan"], &plan_name).unwrap();
        crate::request::parse_deployment(&app["apply"], "deploy-a1").unwrap();
        // No approval is named by the API: only the workflow sets one, after people said yes.
        assert_eq!(input["onUnsafe"], "fail");
        assert!(input.get("approvalRef").is_none());
        let approve = release_request(
            manifest(json!({"onUnsafe": "approve", "approvalTimeoutSeconds": 7200})),
            &config(),
            "release-k1",
            "a",
            0,
        )
        .unwrap()
        .input;
        assert_eq!(approve["onUnsafe"], "approve");
        assert_eq!(approve["approvalTimeoutSeconds"], 7200);
        assert_eq!(approve["stacks"][1]["plan"]["onUnsafe"], "approve");
        assert_eq!(approve["stacks"][1]["apply"]["onUnsafe"], "approve");
        // Baking happens between waves, not after the last.
        let baked = release_request(
            manifest(json!({"waves": {"bakeMinutes": 2}})),
            &config(),
            "release-k1",
            "a",
            0,
        )
        .unwrap();
        assert_eq!(baked.input["waves"][0]["bakeSeconds"], 120);
        assert_eq!(baked.input["waves"][1]["bakeSeconds"], 0);
    }

    #[test]
    fn a_release_is_held_to_each_deployments_rules_by_path() {
        let stack = |extra: Value| {
            let mut s =
                json!({"stackName": "x", "templateS3Bucket": "templates", "templateS3Key": "k"});
            for (k, v) in extra.as_object().unwrap() {
                s[k] = v.clone();
            }
            json!({"stacks": [s]})
        };
        let cases = [
            (json!({"requestedBy": "CTO"}), "requestedBy"),
            (json!({"onUnsafe": "blueGreen"}), "onUnsafe"),
            (
                stack(json!({"releaseApproval": "0123456789abcdef0123456789abcdef"})),
                "stacks[0].releaseApproval",
            ),
            (json!({"environmentName": "qa"}), "environmentName"),
            (
                stack(json!({"templateS3Bucket": "attacker"})),
                "stacks[0].templateS3Bucket",
            ),
            (
                stack(json!({"capabilities": ["CAPABILITY_IAM"]})),
                "stacks[0].capabilities",
            ),
            (
                stack(json!({"revisionS3Bucket": "templates"})),
                "stacks[0].revisionS3Bucket",
            ),
            (
                stack(json!({"releasePlan": "release-x"})),
                "stacks[0].releasePlan",
            ),
            // Well formed, but not one of the operator's target accounts.
            (
                stack(json!({"account": "222222222222"})),
                "stacks[0].account",
            ),
            (stack(json!({"region": "eu_west_1"})), "stacks[0].region"),
            // Well formed, but not one of the operator's target Regions.
            (stack(json!({"region": "ap-south-1"})), "stacks[0].region"),
        ];
        for (extra, field) in cases {
            let problem = release_request(manifest(extra.clone()), &config(), "release-k1", "a", 0)
                .unwrap_err();
            assert_eq!(
                (problem.status, problem.field.as_deref()),
                (400, Some(field)),
                "{extra}"
            );
        }
    }

    #[test]
    fn a_release_waits_for_people_once_every_plan_ended_and_one_needs_them() {
        let unsafe_plan = Some(("SUCCEEDED", Some(r#"{"outcome":"NEEDS_APPROVAL"}"#)));
        let safe_plan = Some(("SUCCEEDED", Some(r#"{"outcome":"PLANNED"}"#)));
        assert!(waits_for_approval("RUNNING", &[safe_plan, unsafe_plan]));
        assert!(!waits_for_approval("RUNNING", &[safe_plan, safe_plan]));
        assert!(!waits_for_approval(
            "RUNNING",
            &[Some(("RUNNING", None)), unsafe_plan]
        ));
        assert!(!waits_for_approval("RUNNING", &[None, unsafe_plan]));
        assert!(!waits_for_approval("FAILED", &[unsafe_plan]));
    }

    #[test]
    fn a_stack_shows_where_its_executions_are() {
        let done = Some(("SUCCEEDED", Some(r#"{"outcome":"PLANNED"}"#)));
        let unchanged = Some(("SUCCEEDED", Some(r#"{"outcome":"NO_CHANGES"}"#)));
        assert_eq!(stack_state("RUNNING", None, None), "waiting");
        assert_eq!(
            stack_state("RUNNING", Some(("RUNNING", None)), None),
            "planning"
        );
        assert_eq!(stack_state("RUNNING", done, None), "planned");
        assert_eq!(
            stack_state("RUNNING", done, Some(("RUNNING", None))),
            "executing"
        );
        assert_eq!(
            stack_state("SUCCEEDED", done, Some(("SUCCEEDED", None))),
            "done"
        );
        assert_eq!(
            stack_state("FAILED", done, Some(("FAILED", None))),
            "failed"
        );
        assert_eq!(stack_state("FAILED", done, None), "skipped");
        assert_eq!(stack_state("FAILED", None, None), "skipped");
        assert_eq!(
            stack_state("FAILED", Some(("FAILED", None)), None),
            "refused"
        );
        assert_eq!(stack_state("SUCCEEDED", unchanged, None), "unchanged");
    }

    /// A stack elsewhere: its plan and apply are deploy requests that say where, and the release's
    /// own record of it says where its change set is deleted.
    #[test]
    fn a_stack_in_a_target_account_and_region_is_planned_and_applied_there() {
        let mut m = Value::Object(manifest(json!({})));
        m["stacks"][0]["account"] = json!("111111111111");
        m["stacks"][0]["region"] = json!("eu-west-1");
        m["stacks"][1]["region"] = json!("eu-central-1");
        let valid = release_request(body(m), &config(), "release-k1", "apikey:a", 0).unwrap();
        let stacks = &valid.input["stacks"];
        assert_eq!(
            stacks[0]["destination"],
            json!({"account": "111111111111", "region": "eu-west-1"})
        );
        assert_eq!(
            stacks[1]["destination"],
            json!({"account": null, "region": "eu-central-1"})
        );
        for part in ["plan", "apply"] {
            let request = &stacks[0][part];
            assert_eq!(request["account"], "111111111111", "{part}");
            assert_eq!(request["region"], "eu-west-1", "{part}");
            // Each is a valid deploy request that says where (the plan step reads it again).
            let deployment = crate::request::parse_deployment(request, "deploy-x").unwrap();
            assert_eq!(
                deployment.destination.account.as_deref(),
                Some("111111111111")
            );
        }
        assert!(stacks[1]["plan"].get("account").is_none());

        // stackgate's own Region named is stackgate's own Region: the same stack, the same lease.
        let mut m = Value::Object(manifest(json!({})));
        m["stacks"][0]["region"] = json!("us-east-1");
        let valid = release_request(body(m), &config(), "release-k1", "apikey:a", 0).unwrap();
        let home = &valid.input["stacks"][0];
        assert_eq!(
            home["destination"],
            json!({"account": null, "region": null})
        );
        assert!(home["plan"].get("region").is_none());
    }
}
