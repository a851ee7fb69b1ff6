//! Releases on the local stack: several stacks planned together and executed in waves ordered by
//! `dependsOn`; a refused plan executes nothing; a failure stops the release and deletes the
//! change sets it did not execute.

use std::time::{Duration, Instant};

use crate::common::{
    api, api_json, approval_link, decide, emails_sent_about, follow, template_url,
};
use hyper::Method;
use serde_json::{json, Value};
use stackgate_local::demo::{executable_change_sets, stack_resources};
use stackgate_local::unique_name as unique;
use stackgate_local::{endpoint, LocalClients};

async fn stack(clients: &LocalClients, name: &str, file: &str, depends_on: &[&str]) -> Value {
    json!({"stackName": name, "templateUrl": template_url(clients, file).await,
           "dependsOn": depends_on})
}

async fn start(stacks: Vec<Value>, extra: Value) -> String {
    let mut body = json!({"environmentName": "api", "release": unique("r"), "stacks": stacks});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let accepted = api_json(Method::POST, "/releases", &body, None).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    accepted.body["executionId"].as_str().unwrap().to_string()
}

async fn read_until(id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let reply = api(Method::GET, &format!("/releases/{id}"), &[], Vec::new()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if done(&reply.body) {
            return reply.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "release {id} stayed {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn ended(id: &str) -> Value {
    read_until(id, |r| r["status"] != "RUNNING").await
}

/// When an apply execution started and stopped.
async fn ran(clients: &LocalClients, execution: &str) -> (i64, i64) {
    let arn = format!(
        "{}:{execution}",
        stackgate_local::deploy::state_machine_arn("SafeDeployStateMachine")
            .replace(":stateMachine:", ":execution:")
    );
    let described = clients
        .sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .unwrap();
    (
        described.start_date().secs(),
        described.stop_date().map_or(i64::MAX, |d| d.secs()),
    )
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_safe_release_deploys_every_stack_in_dependency_order_without_a_person() {
    let clients = LocalClients::connect(&endpoint()).await;
    let (net, data, web) = (unique("rnet"), unique("rdata"), unique("rweb"));
    let id = start(
        vec![
            stack(&clients, &web, "app-v1.yaml", &[&data]).await,
            stack(&clients, &net, "app-v1.yaml", &[]).await,
            stack(&clients, &data, "app-v1.yaml", &[&net]).await,
        ],
        json!({"waves": {"maxConcurrency": 2}}),
    )
    .await;
    let release = ended(&id).await;
    assert_eq!(release["status"], "SUCCEEDED", "{release}");
    assert_eq!(
        release["waves"],
        json!([{"stacks": [1], "bakeSeconds": 0}, {"stacks": [2], "bakeSeconds": 0}, {"stacks": [0], "bakeSeconds": 0}])
    );
    let mut runs = Vec::new();
    for (i, name) in [(1, &net), (2, &data), (0, &web)] {
        let shown = &release["stacks"][i];
        assert_eq!(shown["stackName"], format!("api-{name}"), "{release}");
        assert_eq!(shown["state"], "done", "{release}");
        assert_eq!(
            stack_resources(&clients, &format!("api-{name}"))
                .await
                .unwrap(),
            ["DataBucket", "EventsTopic"]
        );
        runs.push(ran(&clients, shown["executionId"].as_str().unwrap()).await);
    }
    // Each wave started only after the one it depends on had ended.
    assert!(runs[0].1 <= runs[1].0 && runs[1].1 <= runs[2].0, "{runs:?}");
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_refused_plan_executes_no_stack_of_the_release_and_leaves_no_change_set() {
    let clients = LocalClients::connect(&endpoint()).await;
    let (live, fresh) = (unique("rlive"), unique("rfresh"));
    let body = json!({"environmentName": "api", "stackName": live,
                      "templateUrl": template_url(&clients, "app-v1.yaml").await});
    let created = api_json(Method::POST, "/stacks", &body, None).await;
    assert_eq!(created.status, 202, "{}", created.body);
    follow(created.body["statusUrl"].as_str().unwrap()).await;

    // The live stack's next version deletes a topic: unsafe, and the release says fail.
    let id = start(
        vec![
            stack(&clients, &fresh, "app-v1.yaml", &[]).await,
            stack(&clients, &live, "app-v3-unsafe.yaml", &[&fresh]).await,
        ],
        json!({}),
    )
    .await;
    let release = ended(&id).await;
    assert_eq!(release["status"], "FAILED", "{release}");
    assert_eq!(release["error"], "ReleaseRefused", "{release}");
    assert_eq!(release["stacks"][1]["state"], "refused", "{release}");
    assert_eq!(
        release["stacks"][1]["error"], "UnsafeChangeSet",
        "{release}"
    );
    assert_eq!(release["stacks"][0]["state"], "skipped", "{release}");
    for name in [&fresh, &live] {
        let full = format!("api-{name}");
        assert!(
            executable_change_sets(&clients, &full)
                .await
                .unwrap_or_default()
                .is_empty(),
            "{full} kept a change set"
        );
    }
    assert!(stack_resources(&clients, &format!("api-{fresh}"))
        .await
        .unwrap_or_default()
        .is_empty());
    assert_eq!(
        stack_resources(&clients, &format!("api-{live}"))
            .await
            .unwrap(),
        ["DataBucket", "EventsTopic"]
    );
}

/// A release of a live stack whose next version deletes its topic (unsafe) between two new ones,
/// with onUnsafe approve: its name, the live stack and the release's id.
async fn release_needing_a_person(clients: &LocalClients) -> (String, String, String) {
    let (live, before, after) = (unique("rapp"), unique("rnew"), unique("rlast"));
    let body = json!({"environmentName": "api", "stackName": live,
                      "templateUrl": template_url(clients, "app-v1.yaml").await});
    let created = api_json(Method::POST, "/stacks", &body, None).await;
    assert_eq!(created.status, 202, "{}", created.body);
    follow(created.body["statusUrl"].as_str().unwrap()).await;
    let name = unique("rel");
    let id = start(
        vec![
            stack(clients, &before, "app-v1.yaml", &[]).await,
            stack(clients, &live, "app-v3-unsafe.yaml", &[&before]).await,
            stack(clients, &after, "app-v1.yaml", &[&live]).await,
        ],
        json!({"release": name, "onUnsafe": "approve"}),
    )
    .await;
    (name, live, id)
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn an_unsafe_release_asks_people_once_and_executes_every_stack_on_their_yes() {
    let clients = LocalClients::connect(&endpoint()).await;
    let (name, live, id) = release_needing_a_person(&clients).await;
    // One email for the whole release, with every stack's diff; none about the unsafe stack alone.
    let link = approval_link(&name).await;
    let waiting = read_until(&id, |r| r["waitingFor"] == "approval").await;
    assert_eq!(waiting["status"], "RUNNING", "{waiting}");
    assert_eq!(waiting["stacks"][1]["state"], "planned", "{waiting}");
    let (status, page) = decide(&link, "approve", "CTO").await;
    assert_eq!(status, 200, "{page}");
    let release = ended(&id).await;
    assert_eq!(release["status"], "SUCCEEDED", "{release}");
    for shown in release["stacks"].as_array().unwrap() {
        assert_eq!(shown["state"], "done", "{release}");
    }
    // The topic is gone: the unsafe change executed, on the release's approval alone.
    assert_eq!(
        stack_resources(&clients, &format!("api-{live}"))
            .await
            .unwrap(),
        ["DataBucket", "WorkQueue"]
    );
    assert_eq!(emails_sent_about(&format!("api-{live}")).await, 0);
    assert_eq!(emails_sent_about(&name).await, 1);
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_rejected_release_executes_nothing_and_leaves_no_change_set() {
    let clients = LocalClients::connect(&endpoint()).await;
    let (name, live, id) = release_needing_a_person(&clients).await;
    let link = approval_link(&name).await;
    let (status, page) = decide(&link, "reject", "CTO").await;
    assert_eq!(status, 200, "{page}");
    let release = ended(&id).await;
    assert_eq!(release["status"], "FAILED", "{release}");
    assert_eq!(release["error"], "ReleaseRejected", "{release}");
    for shown in release["stacks"].as_array().unwrap() {
        let full = shown["stackName"].as_str().unwrap();
        assert!(
            executable_change_sets(&clients, full)
                .await
                .unwrap_or_default()
                .is_empty(),
            "{full} kept a change set"
        );
    }
    assert_eq!(
        stack_resources(&clients, &format!("api-{live}"))
            .await
            .unwrap(),
        ["DataBucket", "EventsTopic"]
    );
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_failure_stops_the_release_names_the_stack_and_deletes_later_change_sets() {
    let clients = LocalClients::connect(&endpoint()).await;
    let (first, second, third) = (unique("rfirst"), unique("rsecond"), unique("rthird"));
    let body = json!({"environmentName": "api", "stackName": second,
                      "templateUrl": template_url(&clients, "app-v1.yaml").await});
    let created = api_json(Method::POST, "/stacks", &body, None).await;
    follow(created.body["statusUrl"].as_str().unwrap()).await;

    // A value in the failing stack's request, which no message or answer may repeat.
    let mut failing = stack(&clients, &second, "app-v2-safe.yaml", &[&first]).await;
    failing["tags"] = json!({"team": "hunter2-in-a-tag"});
    let id = start(
        vec![
            stack(&clients, &first, "app-v1.yaml", &[]).await,
            failing,
            stack(&clients, &third, "app-v1.yaml", &[&second]).await,
        ],
        json!({"waves": {"bakeMinutes": 1}}),
    )
    .await;
    // While the first wave bakes, the second stack is deployed another way: CloudFormation deletes
    // its other change sets, the release's plan among them.
    read_until(&id, |r| r["stacks"][0]["state"] == "done").await;
    let moved = json!({"environmentName": "api", "stackName": second,
                       "templateUrl": template_url(&clients, "app-v2-safe.yaml").await});
    let deployed = api_json(Method::POST, "/stacks", &moved, None).await;
    let done = follow(deployed.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(done["output"]["outcome"], "UPDATED", "{done}");

    let release = ended(&id).await;
    assert_eq!(release["status"], "FAILED", "{release}");
    assert_eq!(release["error"], "ReleaseStackFailed", "{release}");
    let cause = release["cause"].as_str().unwrap_or_default();
    assert!(cause.contains(&format!("api-{second}")), "{cause}");
    assert!(!release.to_string().contains("hunter2"), "{release}");
    assert_eq!(release["stacks"][1]["state"], "failed", "{release}");
    assert_eq!(release["stacks"][1]["error"], "PlanObsolete", "{release}");
    assert_eq!(release["stacks"][2]["state"], "skipped", "{release}");
    let third_full = format!("api-{third}");
    assert!(executable_change_sets(&clients, &third_full)
        .await
        .unwrap_or_default()
        .is_empty());
    assert!(stack_resources(&clients, &third_full)
        .await
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_bad_manifest_is_refused_naming_the_path_and_starts_nothing() {
    let clients = LocalClients::connect(&endpoint()).await;
    let a = stack(&clients, "a", "app-v1.yaml", &["b"]).await;
    let b = stack(&clients, "b", "app-v1.yaml", &["a"]).await;
    let lone = stack(&clients, "c", "app-v1.yaml", &[]).await;
    let mut other_account = lone.clone();
    other_account["account"] = json!("12345");
    for (stacks, field) in [
        (vec![a, b], "stacks[0].dependsOn"),
        (vec![lone.clone(), lone.clone()], "stacks[1].stackName"),
        (vec![other_account], "stacks[0].account"),
    ] {
        let body = json!({"environmentName": "api", "release": "r", "stacks": stacks});
        let refused = api_json(Method::POST, "/releases", &body, None).await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert_eq!(refused.body["field"], field, "{}", refused.body);
    }
}
