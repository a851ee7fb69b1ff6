//! Plan, then apply, through the API on the local stack: a plan executes nothing; applying it
//! executes exactly its change set; a plan the stack moved past, or one that expired, executes
//! nothing, and an expired plan's change set is deleted.

use std::time::{Duration, Instant};

use crate::common::{api, api_json, follow, template_url};
use hyper::Method;
use serde_json::{json, Value};
use stackgate_local::demo::{executable_change_sets, stack_resources};
use stackgate_local::unique_name as unique;
use stackgate_local::{endpoint, LocalClients};

/// Asks for a plan of `file` and reads it until it is no longer being made.
async fn plan(clients: &LocalClients, stack: &str, file: &str, extra: Value) -> Value {
    let mut body = json!({"environmentName": "api", "stackName": stack,
                          "templateUrl": template_url(clients, file).await});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    let accepted = api_json(Method::POST, "/plans", &body, None).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = accepted.body["planId"].as_str().unwrap().to_string();
    assert_eq!(accepted.body["executionId"], id.as_str());
    read_until(&id, |plan| plan["status"] != "PLANNING").await
}

async fn read_until(id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let reply = api(Method::GET, &format!("/plans/{id}"), &[], Vec::new()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if done(&reply.body) {
            return reply.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "plan {id} stayed {}",
            reply.body["status"]
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn apply(id: &str) -> crate::common::Reply {
    api_json(Method::POST, "/stacks", &json!({"planId": id}), None).await
}

async fn create(clients: &LocalClients, stack: &str) {
    let body = json!({"environmentName": "api", "stackName": stack,
                      "templateUrl": template_url(clients, "app-v1.yaml").await});
    let accepted = api_json(Method::POST, "/stacks", &body, None).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let done = follow(accepted.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(done["output"]["outcome"], "CREATED", "{done}");
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_plan_executes_nothing_and_applying_it_executes_exactly_its_change_set() {
    let clients = LocalClients::connect(&endpoint()).await;
    let stack = unique("plan");
    let full = format!("api-{stack}");
    create(&clients, &stack).await;

    let judged = plan(&clients, &stack, "app-v2-safe.yaml", json!({})).await;
    assert_eq!(judged["status"], "READY", "{judged}");
    assert_eq!(judged["verdict"], "SAFE", "{judged}");
    assert!(judged["totalChanges"].as_u64().unwrap() > 0, "{judged}");
    let id = judged["planId"].as_str().unwrap();
    let change_set = judged["changeSetName"].as_str().unwrap().to_string();
    // Judged, kept, and not executed: the stack is as it was.
    assert_eq!(
        executable_change_sets(&clients.cloudformation, &full)
            .await
            .unwrap(),
        std::slice::from_ref(&change_set)
    );
    assert_eq!(
        stack_resources(&clients, &full).await.unwrap(),
        ["DataBucket", "EventsTopic"]
    );

    let accepted = apply(id).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let applying = accepted.body["executionId"].as_str().unwrap().to_string();
    assert_ne!(applying, id);
    let done = follow(accepted.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"]["outcome"], "UPDATED", "{done}");
    let states: Vec<&str> = done["states"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(states.contains(&"ExecuteChangeSet"), "{done}");
    // The change set executed is the plan's, made once: no second one was made for it.
    let executed = clients
        .cloudformation
        .describe_change_set()
        .stack_name(&full)
        .change_set_name(&change_set)
        .send()
        .await
        .unwrap();
    assert_eq!(
        executed.execution_status().map(|s| s.as_str()),
        Some("EXECUTE_COMPLETE")
    );

    let after = read_until(id, |plan| plan["status"] != "READY").await;
    assert_eq!(after["status"], "APPLIED", "{after}");
    assert_eq!(after["appliedBy"]["executionId"], applying.as_str());
    // Applying again is the same execution, not a second one.
    let again = apply(id).await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.body["executionId"], applying.as_str());
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_plan_the_stack_moved_past_or_that_expired_executes_nothing() {
    let clients = LocalClients::connect(&endpoint()).await;
    let stack = unique("stale");
    let full = format!("api-{stack}");
    create(&clients, &stack).await;

    // Planned, then the stack is deployed past it: CloudFormation deletes the plan's change set.
    let stale = plan(&clients, &stack, "app-v2-safe.yaml", json!({})).await;
    assert_eq!(stale["status"], "READY", "{stale}");
    let body = json!({"environmentName": "api", "stackName": stack,
                      "templateUrl": template_url(&clients, "app-v2-safe.yaml").await,
                      "tags": {"moved": "on"}});
    let moved = api_json(Method::POST, "/stacks", &body, None).await;
    let moved = follow(moved.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(moved["output"]["outcome"], "UPDATED", "{moved}");
    let resources = stack_resources(&clients, &full).await.unwrap();
    let accepted = apply(stale["planId"].as_str().unwrap()).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let refused = follow(accepted.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(refused["status"], "FAILED", "{refused}");
    assert_eq!(refused["error"], "PlanObsolete", "{refused}");
    assert!(!refused["states"]
        .as_array()
        .unwrap()
        .contains(&json!("ExecuteChangeSet")));
    assert_eq!(stack_resources(&clients, &full).await.unwrap(), resources);

    // A plan left to expire: its change set is deleted, and applying it is refused.
    let short = plan(
        &clients,
        &stack,
        "app-v3-unsafe.yaml",
        json!({"onUnsafe": "approve", "expiresInSeconds": 3}),
    )
    .await;
    let id = short["planId"].as_str().unwrap().to_string();
    let expired = read_until(&id, |plan| {
        plan["status"] != "PLANNING" && plan["status"] != "READY"
    })
    .await;
    assert_eq!(expired["status"], "EXPIRED", "{expired}");
    assert_eq!(expired["verdict"], "UNSAFE", "{expired}");
    assert!(executable_change_sets(&clients.cloudformation, &full)
        .await
        .unwrap()
        .is_empty());
    let late = apply(&id).await;
    assert_eq!(late.status, 409, "{}", late.body);
    assert_eq!(late.body["field"], "planId");
    assert_eq!(stack_resources(&clients, &full).await.unwrap(), resources);
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn an_unsafe_plan_that_would_be_refused_is_refused_with_its_diff_and_keeps_nothing() {
    let clients = LocalClients::connect(&endpoint()).await;
    let stack = unique("refplan");
    let full = format!("api-{stack}");
    create(&clients, &stack).await;
    let refused = plan(&clients, &stack, "app-v3-unsafe.yaml", json!({})).await;
    assert_eq!(refused["status"], "REFUSED", "{refused}");
    assert_eq!(refused["error"], "UnsafeChangeSet");
    assert!(
        refused["cause"]
            .as_str()
            .unwrap()
            .contains("- EventsTopic (AWS::SNS::Topic)"),
        "{refused}"
    );
    assert!(executable_change_sets(&clients.cloudformation, &full)
        .await
        .unwrap()
        .is_empty());
    let applied = apply(refused["planId"].as_str().unwrap()).await;
    assert_eq!(applied.status, 409, "{}", applied.body);
}
