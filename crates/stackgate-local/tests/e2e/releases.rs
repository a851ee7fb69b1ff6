//! Releases on the local stack: several stacks planned together and executed in waves ordered by
//! `dependsOn`; a refused plan executes nothing; a failure stops the release and deletes the
//! change sets it did not execute.

use std::time::{Duration, Instant};

use crate::common::{
    api, api_json, approval_link, decide, emails_sent_about, follow, template_url, ARTIFACT_BUCKET,
};
use hyper::Method;
use serde_json::{json, Value};
use stackgate_local::demo::{executable_change_sets, stack_resources};
use stackgate_local::http::send;
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

/// A stack elsewhere, its template from S3: stackgate reads it and passes its body, so the other
/// account needs no access to stackgate's buckets.
async fn stack_at(
    clients: &LocalClients,
    name: &str,
    (account, region): (Option<&str>, &str),
    file: &str,
    depends_on: &[&str],
) -> Value {
    let url = template_url(clients, file).await;
    let key = url.split_once(&format!("/{ARTIFACT_BUCKET}/")).unwrap().1;
    let mut stack = json!({"stackName": name, "templateS3Bucket": ARTIFACT_BUCKET,
                           "templateS3Key": key, "dependsOn": depends_on, "region": region});
    if let Some(account) = account {
        stack["account"] = json!(account);
    }
    stack
}

/// The issue's release: three stacks across two accounts besides stackgate's own and two
/// Regions, each planned and executed where it lives (through the account's deploy role), in
/// dependency order, without a person; each wait ends on CloudFormation's own event, sent from
/// there to stackgate's bus. Nothing lands in stackgate's own account and Region.
#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_release_deploys_each_stack_in_its_account_and_region_in_dependency_order() {
    use stackgate_local::deploy::{OTHER_REGION, TARGET_ACCOUNTS};
    let clients = LocalClients::connect(&endpoint()).await;
    let (net, data, app) = (unique("xnet"), unique("xdata"), unique("xapp"));
    let places = [
        (Some(TARGET_ACCOUNTS[0]), "us-east-1"),
        (Some(TARGET_ACCOUNTS[1]), OTHER_REGION),
        (None, OTHER_REGION),
    ];
    let started = Instant::now();
    let id = start(
        vec![
            stack_at(&clients, &net, places[0], "app-v1.yaml", &[]).await,
            stack_at(&clients, &data, places[1], "app-v1.yaml", &[&net]).await,
            stack_at(&clients, &app, places[2], "app-v1.yaml", &[&data]).await,
        ],
        json!({}),
    )
    .await;
    let release = ended(&id).await;
    assert_eq!(release["status"], "SUCCEEDED", "{release}");
    let mut runs = Vec::new();
    for (i, (name, (account, region))) in [&net, &data, &app].into_iter().zip(places).enumerate() {
        let full = format!("api-{name}");
        let shown = &release["stacks"][i];
        assert_eq!(shown["state"], "done", "{release}");
        assert_eq!(shown["account"], json!(account), "{release}");
        // stackgate's own Region named is stackgate's own Region: shown as such.
        let named = (region != stackgate_local::REGION).then_some(region);
        assert_eq!(shown["region"], json!(named), "{release}");
        let there = clients.elsewhere(account, region).await.unwrap();
        let described = there
            .cloudformation
            .describe_stacks()
            .stack_name(&full)
            .send()
            .await
            .unwrap();
        let stack = &described.stacks()[0];
        assert_eq!(
            stack.stack_status().map(|s| s.as_str()),
            Some("CREATE_COMPLETE")
        );
        let arn = stack.stack_id().unwrap_or_default();
        let expected = format!(
            "arn:aws:cloudformation:{region}:{}:stack/",
            account.unwrap_or("123456789012")
        );
        assert!(arn.starts_with(&expected), "{arn}");
        // Not in stackgate's own account and Region.
        assert!(
            stack_resources(&clients, &full).await.is_err(),
            "{full} at home"
        );
        runs.push(ran(&clients, shown["executionId"].as_str().unwrap()).await);
    }
    assert!(runs[0].1 <= runs[1].0 && runs[1].1 <= runs[2].0, "{runs:?}");
    // Each wait was answered by the event forwarded from where the stack lives, not by the
    // timeout's reconciling read (10 minutes).
    assert!(
        started.elapsed() < Duration::from_secs(240),
        "{:?}",
        started.elapsed()
    );
}

/// The issue's second release: one unsafe stack in another account and Region, with
/// `onUnsafe: approve`. People are asked once; the page shows every stack's diff under where it
/// goes; their yes executes all three, each where it lives.
#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn an_unsafe_release_across_accounts_asks_once_and_executes_every_stack_where_it_lives() {
    use stackgate_local::deploy::{OTHER_REGION, TARGET_ACCOUNTS};
    let clients = LocalClients::connect(&endpoint()).await;
    let (live, next, last) = (unique("xlive"), unique("xnext"), unique("xlast"));
    let places = [
        (Some(TARGET_ACCOUNTS[0]), OTHER_REGION),
        (Some(TARGET_ACCOUNTS[1]), "us-east-1"),
        (None, OTHER_REGION),
    ];
    // The live stack, there, first.
    let first = start(
        vec![stack_at(&clients, &live, places[0], "app-v1.yaml", &[]).await],
        json!({}),
    )
    .await;
    assert_eq!(ended(&first).await["status"], "SUCCEEDED");
    let name = unique("xrel");
    let id = start(
        vec![
            stack_at(&clients, &live, places[0], "app-v3-unsafe.yaml", &[]).await,
            stack_at(&clients, &next, places[1], "app-v1.yaml", &[&live]).await,
            stack_at(&clients, &last, places[2], "app-v1.yaml", &[&next]).await,
        ],
        json!({"release": name, "onUnsafe": "approve"}),
    )
    .await;
    let link = approval_link(&name).await;
    let (code, _, page) = send(Method::GET, &link, &[], Vec::new()).await.unwrap();
    let page = String::from_utf8_lossy(&page).to_string();
    assert_eq!(code, 200, "{page}");
    for heading in [
        format!("Account {}, Region {OTHER_REGION}", TARGET_ACCOUNTS[0]),
        format!(
            "Account {}, Region (where stackgate runs)",
            TARGET_ACCOUNTS[1]
        ),
        format!("Account (where stackgate runs), Region {OTHER_REGION}"),
    ] {
        assert!(page.contains(&heading), "{heading}: {page}");
    }
    assert!(
        page.contains("EventsTopic"),
        "the unsafe stack's diff: {page}"
    );
    let (status, answer) = decide(&link, "approve", "CTO").await;
    assert_eq!(status, 200, "{answer}");
    let release = ended(&id).await;
    assert_eq!(release["status"], "SUCCEEDED", "{release}");
    // The topic is gone there: the unsafe change executed, on the release's approval alone.
    let there = clients.elsewhere(places[0].0, places[0].1).await.unwrap();
    let listed = there
        .cloudformation
        .list_stack_resources()
        .stack_name(format!("api-{live}"))
        .send()
        .await
        .unwrap();
    let mut ids: Vec<&str> = listed
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| r.logical_resource_id())
        .collect();
    ids.sort();
    assert_eq!(ids, ["DataBucket", "WorkQueue"]);
    assert_eq!(emails_sent_about(&name).await, 1);
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
            executable_change_sets(&clients.cloudformation, &full)
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
            executable_change_sets(&clients.cloudformation, full)
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
    use stackgate_local::deploy::{OTHER_REGION, TARGET_ACCOUNTS};
    let clients = LocalClients::connect(&endpoint()).await;
    let (first, second, third) = (unique("rfirst"), unique("rsecond"), unique("rthird"));
    let body = json!({"environmentName": "api", "stackName": second,
                      "templateUrl": template_url(&clients, "app-v1.yaml").await});
    let created = api_json(Method::POST, "/stacks", &body, None).await;
    follow(created.body["statusUrl"].as_str().unwrap()).await;

    // A value in the failing stack's request, which no message or answer may repeat.
    let mut failing = stack(&clients, &second, "app-v2-safe.yaml", &[&first]).await;
    failing["tags"] = json!({"team": "hunter2-in-a-tag"});
    // The last wave lives in another account and Region: its plan is discarded there.
    let elsewhere = (Some(TARGET_ACCOUNTS[0]), OTHER_REGION);
    let id = start(
        vec![
            stack(&clients, &first, "app-v1.yaml", &[]).await,
            failing,
            stack_at(&clients, &third, elsewhere, "app-v1.yaml", &[&second]).await,
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
    assert_eq!(
        release["stacks"][2]["account"], TARGET_ACCOUNTS[0],
        "{release}"
    );
    let third_full = format!("api-{third}");
    let there = clients.elsewhere(elsewhere.0, elsewhere.1).await.unwrap();
    assert!(
        executable_change_sets(&there.cloudformation, &third_full)
            .await
            .unwrap_or_default()
            .is_empty(),
        "the third stack's plan is left {elsewhere:?}"
    );
    let resources = there
        .cloudformation
        .list_stack_resources()
        .stack_name(&third_full)
        .send()
        .await
        .map(|listed| listed.stack_resource_summaries().len())
        .unwrap_or_default();
    assert_eq!(resources, 0, "the third stack was deployed {elsewhere:?}");
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
    // Well formed, but not one of the operator's TargetAccounts.
    let mut unlisted_account = lone.clone();
    unlisted_account["account"] = json!("999999999999");
    for (stacks, field) in [
        (vec![a, b], "stacks[0].dependsOn"),
        (vec![lone.clone(), lone.clone()], "stacks[1].stackName"),
        (vec![other_account], "stacks[0].account"),
        (vec![unlisted_account], "stacks[0].account"),
    ] {
        let body = json!({"environmentName": "api", "release": "r", "stacks": stacks});
        let refused = api_json(Method::POST, "/releases", &body, None).await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert_eq!(refused.body["field"], field, "{}", refused.body);
    }
}

/// Runs a CodePipeline job whose input artifact holds `manifest` at `release.json` and each
/// template its stacks name by `templatePath`; returns the job's record.
async fn release_job(
    clients: &LocalClients,
    manifest: &Value,
    templates: &[(&str, &str)],
) -> Value {
    use stackgate_local::demo::{sample_template, zip_of};
    use stackgate_local::pipeline;
    let job_id = pipeline::fresh_job_id();
    let key = format!("e2e/{job_id}/revision.zip");
    let mut files = vec![("release.json".to_string(), manifest.to_string())];
    for (path, file) in templates {
        files.push((path.to_string(), sample_template(file).unwrap()));
    }
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_bytes()))
        .collect();
    clients
        .s3
        .put_object()
        .bucket(ARTIFACT_BUCKET)
        .key(&key)
        .body(zip_of(&entries).unwrap().into())
        .send()
        .await
        .unwrap();
    let event = pipeline::job_event(&job_id, &json!({"releaseManifest": "release.json"}), &key);
    pipeline::run_job(
        &endpoint(),
        event,
        Duration::from_millis(500),
        Duration::from_secs(300),
    )
    .await
    .unwrap()
}

/// The issue's CodePipeline source: a manifest file in the input artifact, beside the templates
/// its stacks name by path. The trigger checks it as `POST /releases` does (a bad one fails the
/// job naming the path, and starts nothing), starts the release, follows it, and answers the job
/// with the release's outcome; one stack lives in another account and Region.
#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_pipeline_job_with_a_release_manifest_deploys_the_release_and_answers_the_job() {
    use stackgate_local::deploy::{OTHER_REGION, TARGET_ACCOUNTS};
    let clients = LocalClients::connect(&endpoint()).await;
    let (net, app) = (unique("pnet"), unique("papp"));
    let release = unique("pr");
    let mut manifest = json!({"environmentName": "e2e", "release": release, "stacks": [
        {"stackName": net, "templatePath": "infra/net.yaml"},
        {"stackName": app, "templatePath": "infra/app.yaml", "dependsOn": [net],
         "account": "999999999999", "region": OTHER_REGION}
    ]});
    let templates = [
        ("infra/net.yaml", "app-v1.yaml"),
        ("infra/app.yaml", "app-v1.yaml"),
    ];

    let refused = release_job(&clients, &manifest, &templates).await;
    assert_eq!(refused["status"], "Failed", "{refused}");
    let message = refused["answers"][0]["failureDetails"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("stacks[1].account"), "{message}");
    assert!(!message.contains("999999999999"), "{message}");

    manifest["stacks"][1]["account"] = json!(TARGET_ACCOUNTS[1]);
    let record = release_job(&clients, &manifest, &templates).await;
    assert_eq!(record["status"], "Succeeded", "{record}");
    let last = record["answers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["outputVariables"]["outcome"], "RELEASED", "{record}");
    assert_eq!(
        last["outputVariables"]["release"],
        json!(release),
        "{record}"
    );
    for (name, account, region) in [
        (&net, None, stackgate_local::REGION),
        (&app, Some(TARGET_ACCOUNTS[1]), OTHER_REGION),
    ] {
        let there = clients.elsewhere(account, region).await.unwrap();
        let described = there
            .cloudformation
            .describe_stacks()
            .stack_name(format!("e2e-{name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            described.stacks()[0].stack_status().map(|s| s.as_str()),
            Some("CREATE_COMPLETE"),
            "{name} in {account:?}/{region}"
        );
    }
}
