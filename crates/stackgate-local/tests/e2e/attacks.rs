//! The attack suite: every way through the gate found so far, tried as an attacker would against
//! the running local stack (the real API function, the real workflows). Each attack got through on
//! the main the gate issues started from; here each is refused, and the legitimate request beside
//! it still goes through. They need the local stack, hence `#[ignore]`; `scripts/test.sh` runs them.
//! docs/security.md names the guarantee each test shows.

use crate::common::{
    api, api_json, assert_failed_with, clients, deploy, follow, stack_status, template_url,
};
use hyper::Method;
use serde_json::{json, Value};
use stackgate_local::demo::{executable_change_sets, stack_resources, ARTIFACT_BUCKET};
use stackgate_local::unique_name as unique;
use stackgate_local::LocalClients;

/// URLs that name another bucket than the allowed one, or say one thing to people and another to
/// S3. The old check guessed `stackgate-local-artifacts` for each of them.
const LOOK_ALIKE_URLS: &[&str] = &[
    "https://s3-attacker.s3.amazonaws.com/stackgate-local-artifacts/evil.yaml",
    "https://stackgate-local-artifacts.s3-evil.s3.amazonaws.com/evil.yaml",
    "https://stackgate-local-artifacts.s3.evil.s3.us-east-1.amazonaws.com/evil.yaml",
    "https://s3.attacker.s3.us-east-1.amazonaws.com/stackgate-local-artifacts/evil.yaml",
    "https://stackgate-local-artifacts.s3.x@s3-attacker.s3.amazonaws.com/evil.yaml",
    "https://s3.amazonaws.com/stackgate-local-artifacts/demo/app-v1.yaml?/../../attacker/evil.yaml",
    "https://s3.amazonaws.com/stackgate-local-artifacts/demo/app-v1.yaml#/../attacker/evil.yaml",
    "https://s3.amazonaws.com/stackgate-local-artifacts/../attacker/evil.yaml",
    "https://s3.amazonaws.com/stackgate-local-artifacts/%2e%2e/attacker/evil.yaml",
];

/// A template that makes a person (an IAM user) with an access key: a way out of every guardrail
/// if CloudFormation's service role may create users.
const ESCALATION_TEMPLATE: &str = r#"{
  "Resources": {
    "Data": {"Type": "AWS::S3::Bucket"},
    "Backdoor": {"Type": "AWS::IAM::User"},
    "BackdoorKey": {"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": {"Ref": "Backdoor"}}}
  }
}"#;

async fn upload(clients: &LocalClients, body: &str) -> String {
    let key = format!("attacks/{}.json", unique("t"));
    clients
        .s3
        .put_object()
        .bucket(ARTIFACT_BUCKET)
        .key(&key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    format!(
        "{}/{ARTIFACT_BUCKET}/{key}",
        stackgate_local::endpoint().replace("127.0.0.1", "localhost")
    )
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn templates_from_another_bucket_are_refused_at_the_api_and_in_the_plan() {
    let clients = clients().await;
    for url in LOOK_ALIKE_URLS {
        let body =
            json!({"environmentName": "api", "stackName": unique("bucket"), "templateUrl": url});
        let reply = api_json(Method::POST, "/stacks", &body, None).await;
        assert_eq!(
            (reply.status, reply.body["field"].as_str()),
            (400, Some("templateUrl")),
            "{url}: {}",
            reply.body
        );
        assert!(
            !reply.body.to_string().contains("attacker"),
            "the refusal does not echo the URL: {}",
            reply.body
        );
    }

    // A workflow started without the API (CodePipeline, account vending, a direct
    // StartExecution) is held by the same rules in the plan step.
    let stack = unique("direct");
    let cases = [
        (json!({"templateUrl": LOOK_ALIKE_URLS[0]}), "templateUrl"),
        (
            json!({"templateS3Bucket": "attacker-bucket", "templateS3Key": "evil.yaml"}),
            "templateS3Bucket",
        ),
        (
            json!({"revisionS3Bucket": "attacker-bucket", "revisionS3Key": "rev.zip", "templatePath": "t.yaml"}),
            "revisionS3Bucket",
        ),
        (
            json!({"templateUrl": template_url(&clients, "app-v1.yaml").await, "capabilities": ["CAPABILITY_NAMED_IAM"]}),
            "capabilities",
        ),
        (
            json!({"templateUrl": template_url(&clients, "app-v1.yaml").await, "environmentName": "rogue"}),
            "environmentName",
        ),
    ];
    for (source, field) in cases {
        let mut input = json!({"environmentName": "e2e", "stackName": stack});
        for (key, value) in source.as_object().unwrap() {
            input[key] = value.clone();
        }
        let report = deploy(&clients, &input).await;
        assert_failed_with(&report, "InvalidInput", &format!("field `{field}`"));
        assert_eq!(report.states[0], "PlanChangeSet");
        let cause = report.cause.as_deref().unwrap_or_default();
        assert!(
            !cause.contains("attacker-bucket"),
            "no value echoed: {cause}"
        );
    }
    assert_eq!(stack_status(&clients, &format!("e2e-{stack}")).await, None);

    // The allowed bucket still works, and the execution says who asked.
    let body = json!({"environmentName": "api", "stackName": unique("allowed"), "templateUrl": template_url(&clients, "app-v1.yaml").await});
    let accepted = api_json(Method::POST, "/stacks", &body, None).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let done = follow(accepted.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(done["output"]["outcome"], "CREATED", "{done}");
    assert_eq!(done["output"]["requestedBy"], "anonymous", "{done}");
}

/// An allowed template that passes the allow-list on: a nested stack whose template, or an include
/// whose file, is in a bucket the operator did not allow. Both are refused in the plan, naming what
/// refused them and never the bucket; no stack and no change set is left.
#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_nested_stack_or_an_include_from_another_bucket_is_refused() {
    let clients = clients().await;
    let elsewhere = "e2e-attacker-templates";
    let _ = clients.s3.create_bucket().bucket(elsewhere).send().await;
    clients
        .s3
        .put_object()
        .bucket(elsewhere)
        .key("nested.json")
        .body(ESCALATION_TEMPLATE.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let nested_url = format!(
        "{}/{elsewhere}/nested.json",
        stackgate_local::endpoint().replace("127.0.0.1", "localhost")
    );
    let nesting = json!({"Resources": {
        "Data": {"Type": "AWS::S3::Bucket"},
        "Network": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": nested_url}}
    }});
    let stack = unique("nested");
    let input = json!({"environmentName": "e2e", "stackName": stack,
        "templateUrl": upload(&clients, &nesting.to_string()).await});
    let nested = deploy(&clients, &input).await;
    assert_failed_with(
        &nested,
        "InvalidTemplate",
        "nested stack Network reads its template (TemplateURL) from outside the buckets the operator allowed",
    );
    // The change set was made (CloudFormation resolves the URL) and is deleted, not left behind.
    assert!(
        executable_change_sets(&clients.cloudformation, &format!("e2e-{stack}"))
            .await
            .unwrap()
            .is_empty()
    );

    let including = json!({"Resources": {"Data": {"Type": "AWS::S3::Bucket", "Properties": {
        "Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": format!("s3://{elsewhere}/nested.json")}}
    }}}});
    let key = format!("attacks/{}.json", unique("include"));
    clients
        .s3
        .put_object()
        .bucket(ARTIFACT_BUCKET)
        .key(&key)
        .body(including.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    let included = unique("include");
    let input = json!({"environmentName": "e2e", "stackName": included,
        "templateS3Bucket": ARTIFACT_BUCKET, "templateS3Key": key});
    let include = deploy(&clients, &input).await;
    assert_failed_with(
        &include,
        "InvalidTemplate",
        "an AWS::Include transform reads from outside the buckets the operator allowed",
    );
    // Refused from the text stackgate read, before CloudFormation was asked anything.
    assert_eq!(
        stack_status(&clients, &format!("e2e-{included}")).await,
        None
    );
    for report in [&nested, &include] {
        let cause = report.cause.as_deref().unwrap_or_default();
        assert!(!cause.contains(elsewhere), "no bucket echoed: {cause}");
    }
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn an_iam_user_with_an_access_key_never_deploys_without_a_person() {
    let clients = clients().await;
    let url = upload(&clients, ESCALATION_TEMPLATE).await;

    // A capability the operator did not allow (the local stack allows CAPABILITY_IAM only).
    let stack = unique("escalate");
    let body = json!({"environmentName": "api", "stackName": stack, "templateUrl": url,
                      "capabilities": ["CAPABILITY_NAMED_IAM"]});
    let reply = api_json(Method::POST, "/stacks", &body, None).await;
    assert_eq!(
        (reply.status, reply.body["field"].as_str()),
        (400, Some("capabilities")),
        "{}",
        reply.body
    );

    // An allowed capability: the IAM resources are security-sensitive, so the plan refuses.
    for on_unsafe in ["fail", "blueGreen"] {
        let stack = unique("escalate");
        let body = json!({"environmentName": "api", "stackName": stack, "templateUrl": url,
                          "capabilities": ["CAPABILITY_IAM"], "onUnsafe": on_unsafe});
        let accepted = api_json(Method::POST, "/stacks", &body, None).await;
        assert_eq!(accepted.status, 202, "{}", accepted.body);
        let done = follow(accepted.body["statusUrl"].as_str().unwrap()).await;
        assert_eq!(done["status"], "FAILED", "{on_unsafe}: {done}");
        assert_eq!(done["error"], "UnsafeChangeSet", "{on_unsafe}: {done}");
        let cause = done["cause"].as_str().unwrap_or_default();
        assert!(
            cause.contains("Backdoor") && cause.contains("[SECURITY]"),
            "{on_unsafe}: {cause}"
        );
        let full = format!("api-{stack}");
        assert!(
            !matches!(
                stack_status(&clients, &full).await.as_deref(),
                Some("CREATE_COMPLETE" | "UPDATE_COMPLETE")
            ),
            "{on_unsafe}: nothing was deployed"
        );
        assert!(
            executable_change_sets(&clients.cloudformation, &full)
                .await
                .unwrap_or_default()
                .is_empty(),
            "{on_unsafe}: no change set is left to execute"
        );
        // Blue/green is no way around it: no second stack was made either.
        let stacks = clients.cloudformation.list_stacks().send().await.unwrap();
        assert!(
            !stacks.stack_summaries().iter().any(|s| {
                s.stack_name()
                    .is_some_and(|n| n.starts_with(&format!("{full}-")))
                    && s.stack_status()
                        .is_some_and(|st| st.as_str() != "DELETE_COMPLETE")
            }),
            "{on_unsafe}: no blue/green stack"
        );
    }
}

async fn create_foreign_stack(clients: &LocalClients, name: &str) {
    clients
        .cloudformation
        .create_stack()
        .stack_name(name)
        .template_body(stackgate_local::demo::sample_template("app-v1.yaml").unwrap())
        .send()
        .await
        .unwrap();
    for _ in 0..60 {
        if stack_status(clients, name).await.as_deref() == Some("CREATE_COMPLETE") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("{name} did not come up");
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn stacks_stackgate_did_not_make_are_neither_read_nor_updated_nor_deleted() {
    let clients = clients().await;
    // Made directly in CloudFormation, under a managed environment's prefix.
    let short = unique("foreign");
    let name = format!("api-{short}");
    create_foreign_stack(&clients, &name).await;

    for (method, path, body) in [
        (Method::GET, format!("/stacks/{name}"), Value::Null),
        (Method::GET, format!("/state/{name}"), Value::Null),
        (Method::DELETE, format!("/stacks/{name}"), Value::Null),
        (
            Method::POST,
            "/delete".to_string(),
            json!({"stackname": name}),
        ),
    ] {
        let reply = if body.is_null() {
            api(method.clone(), &path, &[], Vec::new()).await
        } else {
            api_json(method.clone(), &path, &body, None).await
        };
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
    }

    // An update through the API is planned and refused: the stack is not stackgate's.
    let body = json!({"environmentName": "api", "stackName": short, "templateUrl": template_url(&clients, "app-v2-safe.yaml").await});
    let accepted = api_json(Method::POST, "/stacks", &body, None).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let done = follow(accepted.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(done["error"], "StackNotManaged", "{done}");
    assert_eq!(
        stack_status(&clients, &name).await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert_eq!(
        stack_resources(&clients, &name).await.unwrap(),
        ["DataBucket", "EventsTopic"],
        "untouched"
    );

    // Someone else's stack under review is not "a failed first create" to delete and redo.
    let review = format!("e2e-{}", unique("review"));
    clients
        .cloudformation
        .create_change_set()
        .stack_name(&review)
        .change_set_name("someone-elses")
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
        .template_body(stackgate_local::demo::sample_template("app-v1.yaml").unwrap())
        .send()
        .await
        .unwrap();
    let report = deploy(
        &clients,
        &json!({"environmentName": "e2e", "stackName": review.trim_start_matches("e2e-"),
                "templateUrl": template_url(&clients, "app-v1.yaml").await}),
    )
    .await;
    assert_failed_with(&report, "StackNotManaged", &review);
    assert!(
        !report.entered("DeleteUnusableStack"),
        "{:?}",
        report.states
    );
    assert_eq!(
        stack_status(&clients, &review).await.as_deref(),
        Some("REVIEW_IN_PROGRESS")
    );
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn keys_and_names_are_read_exactly() {
    let clients = clients().await;
    let url = template_url(&clients, "app-v1.yaml").await;

    // An Idempotency-Key that cannot be read is refused, never ignored (two POSTs, two executions).
    let body = json!({"environmentName": "api", "stackName": unique("key"), "templateUrl": url});
    for _ in 0..2 {
        let reply = api(
            Method::POST,
            "/stacks",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "clé-42"),
            ],
            body.to_string(),
        )
        .await;
        assert_eq!(
            (reply.status, reply.body["field"].as_str()),
            (400, Some("Idempotency-Key")),
            "{}",
            reply.body
        );
    }

    // A long name is refused only for blue/green, and then for what it is.
    // 119 characters with "api-": room for no blue/green suffix (unique, so that reruns create it).
    let base = unique("l");
    let long = format!("{base}{}", "x".repeat(115 - base.len()));
    let blue_green = json!({"environmentName": "api", "stackName": long, "templateUrl": url, "onUnsafe": "blueGreen"});
    let reply = api_json(Method::POST, "/stacks", &blue_green, None).await;
    assert_eq!(
        (reply.status, reply.body["field"].as_str()),
        (400, Some("stackName")),
        "{}",
        reply.body
    );
    assert!(reply.body["detail"]
        .as_str()
        .unwrap()
        .contains("blue/green"));
    let plain = json!({"environmentName": "api", "stackName": long, "templateUrl": url});
    let accepted = api_json(Method::POST, "/stacks", &plain, None).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let done = follow(accepted.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(done["output"]["outcome"], "CREATED", "{done}");
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn an_approval_link_approves_nothing_on_the_job_result_route() {
    let clients = clients().await;
    let stack = unique("jobroute");
    let full = format!("e2e-{stack}");
    let created = deploy(
        &clients,
        &json!({"environmentName": "e2e", "stackName": stack, "templateUrl": template_url(&clients, "app-v1.yaml").await}),
    )
    .await;
    assert_eq!(created.outcome(), Some("CREATED"), "{created:?}");
    // An unsafe change that waits for a person.
    let started = stackgate_local::execution::start(
        &clients.sfn,
        &stackgate_local::deploy::state_machine_arn("SafeDeployStateMachine"),
        &unique("jobroute-"),
        &json!({"environmentName": "e2e", "stackName": stack, "onUnsafe": "approve",
                "templateUrl": template_url(&clients, "app-v3-unsafe.yaml").await}),
    )
    .await
    .unwrap();
    let link = crate::common::approval_link(&full).await;

    // The approval link's signature, posted as an external job's result with a made-up output.
    let (page, query) = link.split_once('?').unwrap();
    let id = page.rsplit('/').next().unwrap();
    let job_url = page.replace(&format!("/approvals/{id}"), &format!("/tasks/{id}/result"));
    let forged = json!({"status": "SUCCEEDED", "output": {"approved": true, "approvedBy": "nobody@example.com"}});
    let (status, _, body) = stackgate_local::http::send(
        Method::POST,
        &format!("{job_url}?{query}"),
        &[("content-type", "application/json")],
        forged.to_string().into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let described = clients
        .sfn
        .describe_execution()
        .execution_arn(&started)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.status().as_str(),
        "RUNNING",
        "still waiting for a person"
    );

    // The person's own answer still works, and is what counts.
    let (status, page) = crate::common::decide(&link, "reject", "nobody").await;
    assert_eq!(status, 200, "{page}");
    let report = stackgate_local::execution::wait(&clients.sfn, &started, crate::common::TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        report.error.as_deref(),
        Some("ChangeSetRejected"),
        "{report:?}"
    );
    assert_eq!(
        stack_resources(&clients, &full).await.unwrap(),
        ["DataBucket", "EventsTopic"],
        "the topic was not removed"
    );
}

/// A template with a secret parameter, as application templates declare database passwords.
const SECRET_PARAMETER_TEMPLATE: &str = r#"{
  "Parameters": {"DbPassword": {"Type": "String", "NoEcho": true}, "Size": {"Type": "String", "Default": "1"}},
  "Resources": {"Data": {"Type": "AWS::S3::Bucket"}}
}"#;

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_secret_parameter_never_enters_a_workflow_as_a_value() {
    let clients = clients().await;
    let url = upload(&clients, SECRET_PARAMETER_TEMPLATE).await;
    let password = unique("plantedDbPassword");

    // At the API: refused before anything starts, the value not repeated.
    let stack = unique("secretparam");
    for (parameters, listed, field) in [
        (
            json!({"DbPassword": password, "Size": "2"}),
            json!([]),
            "parameters.DbPassword",
        ),
        (
            json!({"DbPassword": "{{resolve:ssm-secure:/app/db}}", "Size": password}),
            json!(["Size"]),
            "parameters.Size",
        ),
    ] {
        let body = json!({"environmentName": "api", "stackName": stack, "templateUrl": url,
                          "parameters": parameters, "secretParameters": listed});
        let reply = api_json(Method::POST, "/stacks", &body, None).await;
        assert_eq!(
            (reply.status, reply.body["field"].as_str()),
            (400, Some(field)),
            "{}",
            reply.body
        );
        assert!(!reply.body.to_string().contains(&password));
    }

    // By reference it deploys, and neither the history nor the API's view holds a value.
    let body = json!({"environmentName": "api", "stackName": stack, "templateUrl": url,
                      "parameters": {"DbPassword": "{{resolve:ssm-secure:/app/db}}", "Size": "2"}});
    let accepted = api_json(Method::POST, "/stacks", &body, None).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let done = follow(accepted.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(done["output"]["outcome"], "CREATED", "{done}");

    // Started directly (not through the API) with a plain value: the plan refuses it (the value
    // is in that caller's own input; the refusal, the notification and the output do not repeat it).
    let report = deploy(
        &clients,
        &json!({"environmentName": "e2e", "stackName": unique("secretparam"), "templateUrl": url,
                "parameters": {"DbPassword": password}}),
    )
    .await;
    assert_failed_with(&report, "InvalidInput", "parameters.DbPassword");
    assert!(!report.cause.unwrap_or_default().contains(&password));
}

/// Deleting a stack that holds data needs a person, however the deletion is asked for: the API
/// without `onUnsafe`, a direct StartExecution that brings its own verdict or another stack's id,
/// or an approval a person rejects. The stack and its data are there after each.
#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_stack_holding_data_is_not_deleted_without_a_person() {
    let clients = clients().await;
    let stack = unique("keepdata");
    let full = format!("e2e-{stack}");
    let created = deploy(
        &clients,
        &json!({"environmentName": "e2e", "stackName": stack, "templateUrl": template_url(&clients, "app-v1.yaml").await}),
    )
    .await;
    assert_eq!(created.outcome(), Some("CREATED"), "{created:?}");
    let stack_id = clients
        .cloudformation
        .describe_stacks()
        .stack_name(&full)
        .send()
        .await
        .unwrap()
        .stacks()[0]
        .stack_id()
        .unwrap()
        .to_string();
    let other_id = stack_id.replace(&full, &format!("{full}x"));
    let delete = |input: Value| {
        let sfn = clients.sfn.clone();
        async move {
            stackgate_local::execution::run(
                &sfn,
                &stackgate_local::deploy::state_machine_arn("SafeDeleteStateMachine"),
                &unique("delete-"),
                &input,
                crate::common::TIMEOUT,
            )
            .await
            .unwrap()
        }
    };
    for (input, error, cause) in [
        (
            json!({"stackName": full, "stackId": stack_id}),
            "UnsafeDeletion",
            "- DataBucket (AWS::S3::Bucket)",
        ),
        (
            json!({"stackName": full, "stackId": stack_id, "plan": {"judgement": {"verdict": "SAFE"}}}),
            "InvalidInput",
            "plan",
        ),
        (
            json!({"stackName": format!("{full}x"), "stackId": stack_id}),
            "InvalidInput",
            "stackId",
        ),
        (
            json!({"stackName": full, "stackId": other_id}),
            "InvalidInput",
            "stackId",
        ),
        (
            json!({"stackName": full, "stackId": stack_id, "onUnsafe": "ignore"}),
            "InvalidInput",
            "onUnsafe",
        ),
    ] {
        let report = delete(input.clone()).await;
        assert_failed_with(&report, error, cause);
        assert!(
            !report.entered("DeleteStack"),
            "{input}: {:?}",
            report.states
        );
        assert_eq!(
            stack_status(&clients, &full).await.as_deref(),
            Some("CREATE_COMPLETE"),
            "{input}"
        );
    }

    // Asked for with approval and rejected: still there.
    let started = stackgate_local::execution::start(
        &clients.sfn,
        &stackgate_local::deploy::state_machine_arn("SafeDeleteStateMachine"),
        &unique("delete-"),
        &json!({"stackName": full, "stackId": stack_id, "onUnsafe": "approve"}),
    )
    .await
    .unwrap();
    let link = crate::common::approval_link(&full).await;
    let (status, page) = crate::common::decide(&link, "reject", "nobody").await;
    assert_eq!(status, 200, "{page}");
    let report = stackgate_local::execution::wait(&clients.sfn, &started, crate::common::TIMEOUT)
        .await
        .unwrap();
    assert_eq!(report.status, "FAILED", "{report:?}");
    assert_eq!(
        report.error.as_deref(),
        Some("DeletionRejected"),
        "{report:?}"
    );
    assert_eq!(
        stack_status(&clients, &full).await.as_deref(),
        Some("CREATE_COMPLETE")
    );

    // Approved, but the stack was changed while people decided: the yes was for another stack. A
    // stackgate deployment meanwhile waits for the deletion (one execution per stack), so the
    // change comes from outside stackgate: an operator updating the stack in CloudFormation.
    let started = stackgate_local::execution::start(
        &clients.sfn,
        &stackgate_local::deploy::state_machine_arn("SafeDeleteStateMachine"),
        &unique("delete-"),
        &json!({"stackName": full, "stackId": stack_id, "onUnsafe": "approve"}),
    )
    .await
    .unwrap();
    let first_link = link;
    let mut link = crate::common::approval_link(&full).await;
    for _ in 0..80 {
        if link != first_link {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        link = crate::common::approval_link(&full).await;
    }
    assert_ne!(link, first_link, "a second approval email");
    let queued = crate::common::start(&clients, &stack, "app-v2-safe.yaml", json!({})).await;
    crate::common::wait_until_queued(&clients, &queued).await;
    clients
        .cloudformation
        .update_stack()
        .stack_name(&full)
        .template_body(stackgate_local::demo::sample_template("app-v2-safe.yaml").unwrap())
        .set_tags(Some(stackgate_local::managed_tags("e2e")))
        .send()
        .await
        .unwrap();
    for _ in 0..120 {
        if stack_status(&clients, &full).await.as_deref() == Some("UPDATE_COMPLETE") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let (status, page) = crate::common::decide(&link, "approve", "nobody").await;
    assert_eq!(status, 200, "{page}");
    let report = stackgate_local::execution::wait(&clients.sfn, &started, crate::common::TIMEOUT)
        .await
        .unwrap();
    assert_eq!(report.status, "FAILED", "{report:?}");
    assert_eq!(
        report.error.as_deref(),
        Some("StackChangedSinceApproval"),
        "{report:?}"
    );
    // The queued deployment then runs, on the stack as it is.
    let report = crate::common::finish(&clients, &queued).await;
    assert_eq!(report.status, "SUCCEEDED", "{report:?}");
    assert_eq!(
        stack_status(&clients, &full).await.as_deref(),
        Some("UPDATE_COMPLETE")
    );
}

/// app-v1's stack with its bucket opened to the world by its ACL.
const PUBLIC_BUCKET_TEMPLATE: &str = r#"{
  "Resources": {
    "DataBucket": {"Type": "AWS::S3::Bucket", "Properties": {"AccessControl": "PublicRead"}},
    "EventsTopic": {"Type": "AWS::SNS::Topic"}
  }
}"#;

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_template_failing_a_guard_rule_is_refused_naming_the_rule_whatever_the_request_says() {
    let clients = clients().await;
    let stack = unique("guard");
    let full = format!("e2e-{stack}");
    let created = deploy(
        &clients,
        &json!({"environmentName": "e2e", "stackName": stack, "templateUrl": template_url(&clients, "app-v1.yaml").await}),
    )
    .await;
    assert_eq!(created.outcome(), Some("CREATED"), "{created:?}");

    // Every change is safe (one property of a bucket), and the request would have a person approve
    // anything unsafe: the operator's rules still refuse the template.
    let url = upload(&clients, PUBLIC_BUCKET_TEMPLATE).await;
    let report = deploy(
        &clients,
        &json!({"environmentName": "e2e", "stackName": stack, "templateUrl": url, "onUnsafe": "approve"}),
    )
    .await;
    assert_failed_with(
        &report,
        "GuardRuleFailed",
        "S3_BUCKET_NOT_PUBLIC: DataBucket",
    );
    assert!(!report.entered("ExecuteChangeSet"), "{:?}", report.states);
    assert!(!report.entered("RequestApproval"), "{:?}", report.states);
    let cause = report.cause.as_deref().unwrap_or_default();
    assert!(!cause.contains("PublicRead"), "no value echoed: {cause}");
    assert!(executable_change_sets(&clients.cloudformation, &full)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        stack_status(&clients, &full).await.as_deref(),
        Some("CREATE_COMPLETE"),
        "the stack is untouched"
    );
}
