//! Structural checks of the state machines (the ASL files are the single source of each workflow):
//! Retry, TimeoutSeconds and Catch on every Task, one notify path before every Fail, small state, and
//! for safe-deploy, that no path reaches ExecuteChangeSet without the safety verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{json, Value};

fn machines() -> Vec<(String, Value)> {
    let dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../statemachines");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".asl.json") {
            let text = std::fs::read_to_string(&path).unwrap();
            found.push((
                path.display().to_string(),
                serde_json::from_str(&text).unwrap(),
            ));
        }
    }
    assert!(!found.is_empty());
    found
}

fn machine(file: &str) -> Value {
    machines()
        .into_iter()
        .find(|(name, _)| name.ends_with(file))
        .unwrap()
        .1
}

fn safe_deploy() -> Value {
    machine("safe-deploy.asl.json")
}

/// Every state of a machine, Map/Parallel branches included, by name.
fn all_states(machine: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut pending = vec![machine.clone()];
    while let Some(scope) = pending.pop() {
        for (name, state) in scope["States"].as_object().unwrap() {
            out.insert(name.clone(), state.clone());
            for branch in state["Branches"].as_array().into_iter().flatten() {
                pending.push(branch.clone());
            }
            for key in ["Iterator", "ItemProcessor"] {
                if state[key].is_object() {
                    pending.push(state[key].clone());
                }
            }
        }
    }
    out
}

/// (target, how) for every transition out of a state.
fn transitions(state: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(next) = state["Next"].as_str() {
        out.push((next.to_string(), "Next".to_string()));
    }
    if let Some(default) = state["Default"].as_str() {
        out.push((default.to_string(), "Default".to_string()));
    }
    for (i, choice) in state["Choices"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        out.push((
            choice["Next"].as_str().unwrap().to_string(),
            format!("Choice {i}"),
        ));
    }
    for catcher in state["Catch"].as_array().into_iter().flatten() {
        out.push((
            catcher["Next"].as_str().unwrap().to_string(),
            "Catch".to_string(),
        ));
    }
    out
}

/// Every state reachable from `start` (inclusive).
fn reachable_from(states: &BTreeMap<String, Value>, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut pending = vec![start.to_string()];
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(state) = states.get(&name) {
            pending.extend(transitions(state).into_iter().map(|(target, _)| target));
        }
    }
    seen
}

/// (state, how) for every transition into `target`.
/// The operation a state asks of the stack-operation function, if it invokes it.
fn stack_operation(state: &Value) -> Option<&str> {
    (state["Resource"] == "arn:aws:states:::lambda:invoke"
        && state["Parameters"]["FunctionName"] == "${StackOperationFunctionArn}")
        .then(|| state["Parameters"]["Payload"]["operation"].as_str())
        .flatten()
}

fn ways_in(states: &BTreeMap<String, Value>, target: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (name, state) in states {
        for (next, how) in transitions(state) {
            if next == target {
                found.push((name.clone(), how));
            }
        }
    }
    found
}

fn catches_all(state: &Value) -> bool {
    state["Catch"].as_array().into_iter().flatten().any(|c| {
        c["ErrorEquals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "States.ALL")
    })
}

#[test]
fn every_task_has_retry_timeout_and_a_catch_to_the_notify_path() {
    for (file, machine) in machines() {
        for (name, state) in all_states(&machine) {
            if state["Type"] != "Task" {
                continue;
            }
            let retries = state["Retry"].as_array().is_some_and(|r| !r.is_empty());
            assert!(retries, "{file}: {name} has no Retry");
            let timeout =
                state["TimeoutSeconds"].is_u64() || state["TimeoutSecondsPath"].is_string();
            assert!(timeout, "{file}: {name} has no TimeoutSeconds");
            // Inside a Map or Parallel, the enclosing state's Catch covers the task.
            if machine["States"].get(&name).is_some() {
                assert!(
                    catches_all(&state),
                    "{file}: {name} has no States.ALL Catch"
                );
            }
        }
        for (name, state) in machine["States"].as_object().unwrap() {
            if state["Type"] == "Map" || state["Type"] == "Parallel" {
                assert!(catches_all(state), "{file}: {name} has no States.ALL Catch");
            }
        }
        assert!(
            machine["TimeoutSeconds"].is_u64(),
            "{file}: no machine-level TimeoutSeconds"
        );
    }
}

/// Step Functions names a service's error `Service.ErrorCode` and always adds the `Exception`
/// suffix (AWS's page on SDK integrations: `S3.BucketAlreadyExistsException`): a Retry or Catch
/// naming `Ec2.RequestLimitExceeded` never matches anything.
#[test]
fn service_errors_are_named_as_step_functions_names_them() {
    for (file, machine) in machines() {
        for (name, state) in all_states(&machine) {
            let handlers = ["Retry", "Catch"]
                .iter()
                .filter_map(|k| state[*k].as_array())
                .flatten();
            for error in handlers
                .flat_map(|h| h["ErrorEquals"].as_array().unwrap())
                .filter_map(Value::as_str)
            {
                if error.contains('.') && !error.starts_with("States.") {
                    assert!(
                        error.ends_with("Exception"),
                        "{file}: {name} names {error}, which Step Functions never raises"
                    );
                }
            }
        }
    }
}

#[test]
fn failures_pass_through_one_notify_state() {
    for (file, machine) in machines() {
        // The machine's own states: a Fail inside a Map or Parallel fails that state, whose Catch
        // is checked here.
        let states: BTreeMap<String, Value> = machine["States"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let fails: BTreeSet<&String> = states
            .iter()
            .filter(|(_, s)| s["Type"] == "Fail")
            .map(|(n, _)| n)
            .collect();
        let notify: BTreeSet<&String> = states
            .iter()
            .filter(|(_, s)| {
                s["Resource"]
                    .as_str()
                    .is_some_and(|r| r.contains("sns:publish"))
            })
            .filter(|(_, s)| transitions(s).iter().any(|(t, _)| fails.contains(t)))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            notify.len(),
            1,
            "{file}: exactly one notify state leads to Fail"
        );
        for (name, state) in &states {
            for (target, _) in transitions(state) {
                if fails.contains(&target) {
                    assert!(
                        notify.contains(name),
                        "{file}: {name} goes to Fail without notifying"
                    );
                }
            }
        }
        // Every Catch leads to the notify state (possibly through clean-up states), and never on
        // to executing anything.
        for (name, state) in &states {
            for catcher in state["Catch"].as_array().into_iter().flatten() {
                let next = catcher["Next"].as_str().unwrap().to_string();
                if notify.contains(name) && fails.contains(&next) {
                    continue;
                }
                let reachable = reachable_from(&states, &next);
                let notifies = reachable.iter().any(|s| notify.contains(s));
                assert!(
                    notifies,
                    "{file}: {name} catches to {next}, which never notifies"
                );
                let executes = reachable.iter().any(|s| s == "ExecuteChangeSet");
                assert!(
                    !executes,
                    "{file}: a failure in {name} can lead to ExecuteChangeSet"
                );
            }
        }
    }
}

#[test]
fn lambda_results_are_selected_to_keep_state_small() {
    for (file, machine) in machines() {
        for (name, state) in all_states(&machine) {
            let resource = state["Resource"].as_str().unwrap_or_default();
            if resource.starts_with("arn:aws:states:::lambda:invoke") {
                let small = state["ResultSelector"].is_object()
                    || state.get("ResultPath").is_some_and(Value::is_null);
                assert!(small, "{file}: {name} keeps the whole Lambda response");
            }
        }
    }
}

#[test]
fn the_change_set_is_executed_only_behind_the_safety_verdict_or_a_human_yes() {
    let machine = safe_deploy();
    let states = all_states(&machine);
    let executes: Vec<&String> = states
        .iter()
        .filter(|(_, s)| {
            stack_operation(s) == Some("EXECUTE_CHANGE_SET")
                || s["Resource"]
                    .as_str()
                    .is_some_and(|r| r.contains("cloudformation:executeChangeSet"))
        })
        .map(|(n, _)| n)
        .collect();
    assert_eq!(executes, ["ExecuteChangeSet"], "one execute state");
    assert_eq!(
        ways_in(&states, "ExecuteChangeSet"),
        [
            ("KeepLease".to_string(), "Next".to_string()),
            ("RouteChangeSet".to_string(), "Choice 4".to_string()),
            ("RouteChangeSet".to_string(), "Choice 6".to_string()),
        ]
    );
    // Without a person's yes to this change set: a SAFE or EMPTY verdict, or the plan step's word
    // that it read the release's approval and found this plan in it.
    let route = &states["RouteChangeSet"]["Choices"];
    assert_eq!(route[4]["Variable"], "$.plan.releaseApproval");
    assert_eq!(route[4]["IsNull"], json!(false));
    assert_eq!(route[6]["Or"][0]["StringEquals"], "SAFE");
    // A person's yes counts only while the stack is still this execution's: an execution stopped
    // while it waited and redriven after another took the stack executes nothing.
    assert_eq!(
        ways_in(&states, "KeepLease"),
        [("IsApproved".to_string(), "Choice 0".to_string())]
    );
    let keep = &states["KeepLease"];
    assert_eq!(keep["Resource"], "arn:aws:states:::dynamodb:updateItem");
    assert_eq!(keep["Parameters"]["ConditionExpression"], "holder = :me");
    assert_eq!(
        keep["Parameters"]["ExpressionAttributeValues"][":me"]["S.$"],
        "$$.Execution.Id"
    );
    // The stack's lease: its name, and where it lives when that is not stackgate's own.
    assert_eq!(
        keep["Parameters"]["Key"]["stackName"]["S.$"],
        "$.plan.check.stack.leaseKey"
    );
    assert_eq!(
        keep["Retry"][0],
        json!({"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "MaxAttempts": 0}),
        "a lost stack is not asked again"
    );
    assert_eq!(
        keep["Catch"][0]["ErrorEquals"],
        json!(["DynamoDB.ConditionalCheckFailedException"])
    );
    assert_eq!(keep["Catch"][0]["Next"], "LeaseLost");
    assert_eq!(
        states["LeaseLost"]["Next"], "DiscardUnapprovedChangeSet",
        "the change set of a lost stack is deleted"
    );

    let gate = &states["RouteChangeSet"];
    let verdicts: BTreeSet<&str> = gate["Choices"][6]["Or"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["Variable"], "$.plan.inspection.verdict");
            c["StringEquals"].as_str().unwrap()
        })
        .collect();
    assert_eq!(verdicts, BTreeSet::from(["SAFE", "EMPTY"]));
    assert_ne!(gate["Default"], "ExecuteChangeSet");
    // Routed only from a plan, whose inspection and change set are the same task's result.
    assert_eq!(
        ways_in(&states, "RouteChangeSet"),
        [
            ("CreateBlueGreenChangeSet".to_string(), "Next".to_string()),
            ("PlanChangeSet".to_string(), "Next".to_string()),
        ]
    );
    for plan in ["PlanChangeSet", "CreateBlueGreenChangeSet"] {
        assert_eq!(states[plan]["ResultPath"], "$.plan");
        assert_eq!(
            states[plan]["ResultSelector"]["inspection.$"],
            "$.Payload.inspection"
        );
        assert_eq!(
            states[plan]["ResultSelector"]["changeSet.$"],
            "$.Payload.changeSet"
        );
        assert_eq!(
            states[plan]["ResultSelector"]["releaseApproval.$"],
            "$.Payload.releaseApproval"
        );
    }
    assert_eq!(
        stack_operation(&states["ExecuteChangeSet"]),
        Some("EXECUTE_CHANGE_SET")
    );
    let execute = &states["ExecuteChangeSet"]["Parameters"]["Payload"];
    assert_eq!(execute["changeSetName.$"], "$.plan.changeSet.changeSetName");
    assert_eq!(execute["stackName.$"], "$.plan.changeSet.stackName");

    // The other way in: a person approved the inspected change set.
    let approved = &states["IsApproved"]["Choices"][0];
    assert_eq!(approved["Variable"], "$.approval.approved");
    assert_eq!(approved["BooleanEquals"], json!(true));
    assert_eq!(
        ways_in(&states, "IsApproved"),
        [("RequestApproval".to_string(), "Next".to_string())]
    );
    // Asked for: an unsafe change set with onUnsafe=approve, or drift with onDrift=approve (the
    // choice before the safe verdicts, so drift a person must see is never executed past them).
    let asks = ways_in(&states, "RequestApproval");
    assert_eq!(asks.len(), 2);
    let rules: Vec<&Value> = asks
        .iter()
        .map(|(from, choice)| {
            assert_eq!(from, "RouteChangeSet");
            let index: usize = choice.trim_start_matches("Choice ").parse().unwrap();
            &states["RouteChangeSet"]["Choices"][index]
        })
        .collect();
    assert_eq!(
        asks[0].1, "Choice 5",
        "drift and Guard failures are routed before the safe verdicts"
    );
    assert_eq!(
        rules[0]["And"][1]["Variable"],
        "$.plan.inspection.needsApproval"
    );
    assert_eq!(rules[0]["And"][1]["BooleanEquals"], json!(true));
    assert_eq!(rules[1]["Variable"], "$.plan.check.deployment.onUnsafe");
    assert_eq!(rules[1]["StringEquals"], "approve");
    let request = &states["RequestApproval"];
    assert!(request["Resource"]
        .as_str()
        .unwrap()
        .ends_with("lambda:invoke.waitForTaskToken"));
    assert_eq!(
        request["Parameters"]["Payload"]["request"]["changeSetName.$"],
        execute["changeSetName.$"]
    );
    assert_eq!(request["ResultPath"], "$.approval");
}

/// Safe delete: DeleteStack only behind the deletion's SAFE/EMPTY verdict or a person's yes, on
/// exactly the stack that was judged.
#[test]
fn a_stack_is_deleted_only_behind_the_deletion_verdict_or_a_human_yes() {
    let machine = machine("safe-delete.asl.json");
    assert_eq!(machine["StartAt"], "PlanDeletion");
    let states = all_states(&machine);
    let deletes: Vec<&String> = states
        .iter()
        .filter(|(_, s)| {
            s["Resource"]
                .as_str()
                .is_some_and(|r| r.ends_with("cloudformation:deleteStack"))
        })
        .map(|(n, _)| n)
        .collect();
    assert_eq!(deletes, ["DeleteStack"], "one delete state");
    assert_eq!(
        ways_in(&states, "DeleteStack"),
        [
            ("ConfirmDeletion".to_string(), "Next".to_string()),
            ("RouteDeletion".to_string(), "Choice 0".to_string()),
        ]
    );
    // A person's yes is confirmed against the stack as it is now, with the approved fingerprint.
    assert_eq!(
        ways_in(&states, "ConfirmDeletion"),
        [("IsApproved".to_string(), "Choice 0".to_string())]
    );
    let confirm = &states["ConfirmDeletion"]["Parameters"]["Payload"];
    assert_eq!(confirm["approved.$"], "$.plan.fingerprint");
    assert_eq!(confirm["request.$"], "$.plan.deletion");
    assert_eq!(
        states["PlanDeletion"]["Parameters"]["Payload"],
        json!({"request.$": "$", "executionArn.$": "$$.Execution.Id"}),
        "the first judgement is never given a fingerprint"
    );
    // A refusal of DeleteStack is not waited out into deleting a stack that changed: retried only on
    // throttling, server errors and calls without an answer, which repeat safely because the call
    // names the stack by its id (a stack of the same name made since is another stack).
    let parameters = &states["DeleteStack"]["Parameters"];
    assert_eq!(parameters["StackName.$"], "$.plan.deletion.stackId");
    assert!(
        parameters["ClientRequestToken.$"].is_string(),
        "{parameters}"
    );
    let retried: Vec<&str> = states["DeleteStack"]["Retry"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    assert!(
        retried.iter().all(|e| e.contains("Throttling")
            || e.ends_with("SdkClientException")
            || e.ends_with("InternalFailureException")
            || e.ends_with("ServiceUnavailableException")),
        "{retried:?}"
    );
    let gate = &states["RouteDeletion"];
    let verdicts: BTreeSet<&str> = gate["Choices"][0]["Or"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["Variable"], "$.plan.judgement.verdict");
            c["StringEquals"].as_str().unwrap()
        })
        .collect();
    assert_eq!(verdicts, BTreeSet::from(["SAFE", "EMPTY"]));
    assert_eq!(gate["Default"], "RefuseUnsafeDeletion");
    assert_eq!(
        ways_in(&states, "RouteDeletion"),
        [("PlanDeletion".to_string(), "Next".to_string())]
    );
    let plan = &states["PlanDeletion"];
    assert_eq!(plan["ResultPath"], "$.plan");
    assert_eq!(plan["Catch"][0]["Next"], "NotifyFailure");
    assert_eq!(
        states["DeleteStack"]["Parameters"]["StackName.$"],
        "$.plan.deletion.stackId"
    );
    assert_eq!(
        states["WaitForStackDeleted"]["Parameters"]["Payload"]["stackId.$"],
        "$.plan.deletion.stackId"
    );
    let approved = &states["IsApproved"]["Choices"][0];
    assert_eq!(approved["Variable"], "$.approval.approved");
    assert_eq!(approved["BooleanEquals"], json!(true));
    assert_eq!(
        ways_in(&states, "RequestApproval"),
        [("RouteDeletion".to_string(), "Choice 1".to_string())]
    );
    assert_eq!(gate["Choices"][1]["Variable"], "$.plan.deletion.onUnsafe");
    assert_eq!(
        states["RequestApproval"]["Parameters"]["Payload"]["request"]["kind"],
        "deletion"
    );
    assert_eq!(
        states["RefuseUnsafeDeletion"]["Parameters"]["Error"],
        "UnsafeDeletion"
    );
}

/// No Lambda runs while CloudFormation works: every wait on a stack operation is a task answered
/// by token (by CloudFormation's event, or by wait-stack's one read), on the token the operation
/// was started with, and a lost event is reconciled by a timeout whose retry registers again.
#[test]
fn stack_operations_are_waited_on_by_token_with_a_reconciling_timeout() {
    let mut waits = 0;
    for (file, machine) in machines() {
        let states = all_states(&machine);
        for (name, state) in &states {
            if state["Parameters"]["FunctionName"] != "${WaitStackFunctionArn}" {
                continue;
            }
            waits += 1;
            assert!(
                state["Resource"]
                    .as_str()
                    .unwrap()
                    .ends_with("lambda:invoke.waitForTaskToken"),
                "{file}: {name}"
            );
            let payload = &state["Parameters"]["Payload"];
            assert_eq!(payload["taskToken.$"], "$$.Task.Token", "{file}: {name}");
            let timeout = state["TimeoutSeconds"].as_u64().unwrap();
            assert!(
                timeout <= 900,
                "{file}: {name} waits {timeout} s for a lost event"
            );
            let retry = &state["Retry"][0];
            assert_eq!(
                retry["ErrorEquals"],
                json!(["States.Timeout"]),
                "{file}: {name}"
            );
            assert!(
                retry["MaxAttempts"].as_u64().unwrap() >= 1,
                "{file}: {name}"
            );
            // The operation it waits on: the state that leads to it, with the same token.
            let before = ways_in(&states, name);
            assert_eq!(before.len(), 1, "{file}: {name} {before:?}");
            let operation = &states[&before[0].0]["Parameters"];
            // stack-operation's payload, or an SDK integration's parameters (safe delete).
            let started_with = operation["Payload"]
                .get("clientRequestToken.$")
                .unwrap_or(&operation["ClientRequestToken.$"]);
            assert_eq!(
                started_with, &payload["clientRequestToken.$"],
                "{file}: {name} waits on another token than {} was started with",
                before[0].0
            );
        }
    }
    assert_eq!(waits, 3, "safe-deploy's two waits and safe-delete's one");
    // A deployment's wait outlives the longest monitoring time CloudFormation may take.
    let deploy = &all_states(&safe_deploy())["WaitForStackOperation"];
    let waited = deploy["TimeoutSeconds"].as_u64().unwrap()
        * (1 + deploy["Retry"][0]["MaxAttempts"].as_u64().unwrap());
    assert!(waited >= 4 * 3600, "{waited} s");
}

/// A workflow that waits for a person must outlive the longest approval it can ask for, or it
/// times out silently (an execution timeout is not caught: no notice, a change set left behind).
#[test]
fn workflows_that_wait_for_people_outlive_their_longest_approval() {
    for (file, machine) in machines() {
        let waits = all_states(&machine).values().any(|s| {
            s["Resource"]
                .as_str()
                .is_some_and(|r| r.ends_with(".waitForTaskToken"))
                && s.get("TimeoutSecondsPath").is_some()
        });
        if waits {
            let timeout = machine["TimeoutSeconds"].as_u64().unwrap_or(u64::MAX);
            assert!(
                timeout > stackgate::approval::MAX_TIMEOUT_SECONDS,
                "{file}: TimeoutSeconds {timeout} ends before an approval may"
            );
        }
    }
}

/// The plan refuses (deletes, fails with UnsafeChangeSet) and cleans up empty change sets itself
/// (SDK-level tests); the workflow's part: that failure goes to the one notify path, and anything
/// unsafe the plan kept without an approval or blue/green route is still deleted and refused.
#[test]
fn the_unsafe_path_deletes_the_change_set_and_fails_with_unsafe_change_set() {
    let states = all_states(&safe_deploy());
    let catch = &states["PlanChangeSet"]["Catch"][0];
    assert_eq!(catch["ErrorEquals"], json!(["States.ALL"]));
    assert_eq!(catch["Next"], "NotifyFailure");
    assert_eq!(states["NotifyFailure"]["Next"], "DeploymentFailed");
    let discard = &states["DiscardUnsafeChangeSet"];
    assert_eq!(stack_operation(discard), Some("DELETE_CHANGE_SET"));
    assert_eq!(
        states["RouteChangeSet"]["Default"],
        "DiscardUnsafeChangeSet"
    );
    assert_eq!(discard["Next"], "RefuseUnsafeChangeSet");
    assert_eq!(
        states["RefuseUnsafeChangeSet"]["Parameters"]["Error"],
        "UnsafeChangeSet"
    );
    let no_changes = &states["RouteChangeSet"]["Choices"][3];
    assert_eq!(no_changes["StringEquals"], "NO_CHANGES");
    assert_eq!(no_changes["Next"], "NoChanges");
}

/// A plan (`planExpiresAt`) is routed before anything else, and from there nothing executes a
/// change set, deletes a stack or asks people: the lease is given back, the change set waits for
/// the plan's expiry and is deleted. Applying it is another execution, which starts at the plan step.
#[test]
fn a_plan_never_reaches_execute_change_set() {
    let states = all_states(&safe_deploy());
    let gate = &states["RouteChangeSet"]["Choices"];
    for (index, status, next) in [
        (0, "READY", "ReleasePlanLease"),
        (1, "STACK_UNUSABLE", "PlanUnavailable"),
    ] {
        let rule = &gate[index];
        assert_eq!(rule["And"][0]["Variable"], "$.planExpiresAt");
        assert_eq!(rule["And"][0]["IsPresent"], json!(true));
        assert_eq!(rule["And"][1]["Variable"], "$.plan.status");
        assert_eq!(rule["And"][1]["StringEquals"], status);
        assert_eq!(rule["Next"], next);
    }
    for start in ["ReleasePlanLease", "PlanUnavailable"] {
        let reachable = reachable_from(&states, start);
        for never in [
            "ExecuteChangeSet",
            "DeleteUnusableStack",
            "RequestApproval",
            "CreateBlueGreenChangeSet",
        ] {
            assert!(!reachable.contains(never), "{start} reaches {never}");
        }
    }
    let release = &states["ReleasePlanLease"];
    assert_eq!(release["Resource"], "arn:aws:states:::dynamodb:deleteItem");
    assert_eq!(release["Parameters"]["ConditionExpression"], "holder = :me");
    assert_eq!(
        release["Parameters"]["ExpressionAttributeValues"][":me"]["S.$"],
        "$$.Execution.Id"
    );
    let wait = &states["PlanReady"];
    assert_eq!(wait["Type"], "Wait");
    assert_eq!(wait["TimestampPath"], "$.planExpiresAt");
    assert_eq!(wait["Next"], "ExpirePlan");
    let expire = &states["ExpirePlan"];
    assert_eq!(stack_operation(expire), Some("DELETE_CHANGE_SET"));
    assert_eq!(
        expire["Parameters"]["Payload"]["changeSetName.$"],
        "$.plan.changeSet.changeSetName"
    );
    assert_eq!(
        states["PlanExpired"]["Parameters"]["outcome"],
        "PLAN_EXPIRED"
    );
}

#[test]
fn placeholders_are_the_ones_the_template_substitutes() {
    let text = std::fs::read_to_string(
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
            .join("../../statemachines/safe-deploy.asl.json"),
    )
    .unwrap();
    let template = std::fs::read_to_string(
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../template.yaml"),
    )
    .unwrap();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').unwrap();
        let key = &rest[start + 2..start + end];
        assert!(
            template.contains(&format!("{key}: ")),
            "${{{key}}} is not in DefinitionSubstitutions"
        );
        rest = &rest[start + end..];
    }
}

/// A release executes a stack only after every plan of the release came back planned or without
/// changes, only through safe deploy's apply of that plan, and every way it fails goes through
/// deleting the change sets it did not execute before it notifies.
#[test]
fn a_release_executes_only_unrefused_plans_and_leaves_no_change_set_behind() {
    let release = machine("release.asl.json");
    let states = all_states(&release);
    // Two ways into the waves, each after every plan ran to its end: no plan needs a person, or
    // people approved the whole release. Each sets the approval the applies name, from nothing
    // or from the approval's own answer, never from the input.
    assert_eq!(
        ways_in(&states, "ExecuteWaves"),
        [
            ("NoApprovalNeeded".to_string(), "Next".to_string()),
            ("UseReleaseApproval".to_string(), "Next".to_string()),
        ]
    );
    assert_eq!(
        ways_in(&states, "NoApprovalNeeded"),
        [("RouteRelease".to_string(), "Default".to_string())]
    );
    // It wins the merge into each apply's input: a releaseApproval the input's stacks carry is
    // overwritten, never used.
    assert_eq!(
        states["NoApprovalNeeded"]["Result"],
        json!({"releaseApproval": null})
    );
    assert_eq!(states["NoApprovalNeeded"]["ResultPath"], "$.approvalRef");
    assert_eq!(
        ways_in(&states, "UseReleaseApproval"),
        [("IsReleaseApproved".to_string(), "Choice 0".to_string())]
    );
    assert_eq!(
        states["UseReleaseApproval"]["Parameters"]["releaseApproval.$"],
        "$.approval.approvalId"
    );
    assert_eq!(
        states["IsReleaseApproved"]["Choices"][0]["Variable"],
        "$.approval.approved"
    );
    assert_eq!(
        ways_in(&states, "IsReleaseApproved"),
        [("RequestReleaseApproval".to_string(), "Next".to_string())]
    );
    // A refused plan refuses the release; one that needs a person asks people once, only with
    // onUnsafe approve, and refuses the release otherwise.
    let route = &states["RouteRelease"]["Choices"];
    assert_eq!(route.as_array().unwrap().len(), 3);
    assert_eq!(route[0]["Variable"], "$.judged.refused");
    assert_eq!(route[0]["Next"], "ReleaseRefused");
    assert_eq!(route[1]["And"][0]["Variable"], "$.judged.needsPerson");
    assert_eq!(route[1]["And"][1]["Variable"], "$.onUnsafe");
    assert_eq!(route[1]["And"][1]["StringEquals"], "approve");
    assert_eq!(route[1]["Next"], "RequestReleaseApproval");
    assert_eq!(route[2]["Variable"], "$.judged.needsPerson");
    assert_eq!(route[2]["Next"], "ReleaseRefused");
    assert_eq!(
        states["JudgeRelease"]["Parameters"]["refused.$"],
        "States.ArrayContains($.planned.outcomes, 'REFUSED')"
    );
    assert_eq!(
        states["JudgeRelease"]["Parameters"]["needsPerson.$"],
        "States.ArrayContains($.planned.outcomes, 'NEEDS_APPROVAL')"
    );
    // The approval shows what each plan judged, read from its execution by the emailer.
    let asks = &states["RequestReleaseApproval"];
    assert_eq!(asks["Parameters"]["Payload"]["request"]["kind"], "release");
    assert_eq!(
        asks["Parameters"]["Payload"]["request"]["planExecutions.$"],
        "$.planned.executions"
    );
    // A plan that fails or is refused is counted, never lost: the Map waits for all of them.
    assert_eq!(
        ways_in(&states, "PlanRefused"),
        [
            ("CheckPlan".to_string(), "Default".to_string()),
            ("PlanStack".to_string(), "Catch".to_string())
        ]
    );
    // Only a plan ready without a person, or without changes, lets the release go on.
    let accepted = &states["CheckPlan"]["Choices"];
    assert_eq!(accepted.as_array().unwrap().len(), 2);
    assert_eq!(accepted[0]["Or"][0]["StringEquals"], "PLANNED");
    assert_eq!(accepted[0]["Or"][1]["StringEquals"], "NO_CHANGES");
    assert_eq!(accepted[1]["StringEquals"], "NEEDS_APPROVAL");
    assert_eq!(states["PlanRefused"]["Parameters"]["outcome"], "REFUSED");
    // Plans are plans of this release; applies execute exactly their plan, under its name.
    for (task, name, input) in [
        ("PlanStack", "$.stack.planName", "$.stack.plan"),
        (
            "ApplyStack",
            "$.stack.applyName",
            "States.JsonMerge($.stack.apply, $.approvalRef, false)",
        ),
    ] {
        let state = &states[task];
        assert_eq!(
            state["Resource"],
            "arn:aws:states:::states:startExecution.sync:2"
        );
        assert_eq!(
            state["Parameters"]["StateMachineArn"],
            "${SafeDeployStateMachineArn}"
        );
        assert_eq!(state["Parameters"]["Name.$"], name);
        assert_eq!(state["Parameters"]["Input.$"], input);
    }
    assert_eq!(
        ways_in(&states, "ApplyStack"),
        [("HasChanges".to_string(), "Default".to_string())]
    );
    // Waves one at a time; a failed stack fails the wave, and the wave the release.
    assert_eq!(states["ExecuteWaves"]["MaxConcurrency"], json!(1));
    assert_eq!(states["StackFailed"]["Type"], "Fail");
    // Every failure deletes what was not executed, then notifies.
    let into_notify = ways_in(&states, "NotifyFailure");
    assert!(
        into_notify.iter().all(|(from, _)| from == "DiscardPlans"),
        "{into_notify:?}"
    );
    let discard = &states["DiscardPlan"];
    assert_eq!(stack_operation(discard), Some("DELETE_CHANGE_SET"));
    assert_eq!(
        discard["Parameters"]["Payload"]["changeSetName.$"],
        "$.changeSetName"
    );
    assert_eq!(states["DiscardPlans"]["ItemsPath"], "$.stacks");
    // A plan that could not be deleted is not counted as deleted: the notice names it.
    assert_eq!(discard["Next"], "Discarded");
    assert_eq!(discard["Catch"][0]["Next"], "NotDiscarded");
    assert_eq!(states["Discarded"]["Result"], "deleted");
    let left = &states["NotDiscarded"]["Parameters"];
    for field in ["stackName.$", "changeSetName.$", "destination.$"] {
        assert!(left.get(field).is_some(), "{field}");
    }
    assert_eq!(
        left["error.$"], "$.discardError.Error",
        "the name, never the cause"
    );
    assert_eq!(states["DiscardPlans"]["ResultPath"], "$.discarded");
    assert_eq!(
        states["DiscardPlans"]["Catch"][0]["ResultPath"],
        "$.discarded"
    );
    let message = states["NotifyFailure"]["Parameters"]["Message.$"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("States.JsonToString($.discarded)"),
        "{message}"
    );
    // Safe deploy ends a release's plan once judged; any other plan waits to be applied.
    let deploy = all_states(&safe_deploy());
    assert_eq!(deploy["ReleasePlanLease"]["Next"], "PlanOrRelease");
    let choice = &deploy["PlanOrRelease"];
    // One that would need a person is told apart before the release may count it as planned.
    assert_eq!(choice["Choices"][0]["And"][0]["Variable"], "$.releasePlan");
    assert_eq!(choice["Choices"][0]["Next"], "PlanNeedsPerson");
    assert_eq!(
        deploy["PlanNeedsPerson"]["Parameters"]["outcome"],
        "NEEDS_APPROVAL"
    );
    assert_eq!(choice["Choices"][1]["Variable"], "$.releasePlan");
    assert_eq!(choice["Choices"][1]["Next"], "PlannedForRelease");
    assert_eq!(choice["Default"], "PlanReady");
    let reachable = reachable_from(&deploy, "PlannedForRelease");
    assert!(!reachable.contains("ExecuteChangeSet"), "{reachable:?}");
}

/// A deployment's stack may live in another account or Region, which Step Functions' own SDK
/// integrations cannot reach: every CloudFormation call of safe deploy and of a release goes
/// through stack-operation, with the arguments it needs.
#[test]
fn every_call_on_a_planned_stack_goes_through_stack_operation() {
    for file in ["safe-deploy.asl.json", "release.asl.json"] {
        let states = all_states(&machine(file));
        let mut operations = 0;
        for (name, state) in &states {
            let resource = state["Resource"].as_str().unwrap_or_default();
            assert!(
                !resource.contains(":aws-sdk:cloudformation:"),
                "{file}: {name} calls CloudFormation itself"
            );
            let Some(operation) = stack_operation(state) else {
                continue;
            };
            operations += 1;
            let payload = &state["Parameters"]["Payload"];
            assert!(payload["stackName.$"].is_string(), "{file}: {name}");
            if operation != "DELETE_STACK" {
                assert!(payload["changeSetName.$"].is_string(), "{file}: {name}");
            }
            if operation != "DELETE_CHANGE_SET" {
                assert!(
                    payload["clientRequestToken.$"].is_string(),
                    "{file}: {name}"
                );
            }
        }
        assert!(operations > 0, "{file}");
    }
}
