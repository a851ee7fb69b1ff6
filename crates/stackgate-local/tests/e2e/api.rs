//! End-to-end tests of the HTTP API on the local stack (`stacks-api` under `cargo lambda watch`, the
//! real workflows on moto). They need the local stack, hence `#[ignore]`; `scripts/test.sh` runs them.

use crate::common::{api, api_delete, api_json, approval_link, decide, follow, template_url};
use hyper::Method;
use serde_json::{json, Value};
use stackgate_local::demo::ARTIFACT_BUCKET;
use stackgate_local::unique_name as unique;
use stackgate_local::{endpoint, LocalClients};

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn create_poll_state_refuse_unsafe_and_delete_through_the_api() {
    let clients = LocalClients::connect(&endpoint()).await;
    let stack = unique("web");
    let full = format!("api-{stack}");
    let key = unique("key-");

    let body = json!({"environmentName": "api", "stackName": stack, "templateUrl": template_url(&clients, "app-v1.yaml").await});
    let accepted = api_json(Method::POST, "/stacks", &body, Some(&key)).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let status_url = accepted.body["statusUrl"].as_str().unwrap().to_string();
    assert_eq!(accepted.headers["location"], status_url.as_str());
    let done = follow(&status_url).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"]["outcome"], "CREATED");

    // The same Idempotency-Key and body: the same execution, not a second one.
    let replay = api_json(Method::POST, "/stacks", &body, Some(&key)).await;
    assert_eq!(replay.status, 202, "{}", replay.body);
    assert_eq!(replay.body["executionId"], accepted.body["executionId"]);
    // The same key for something else is refused.
    let mut other = body.clone();
    other["tags"] = json!({"team": "x"});
    assert_eq!(
        api_json(Method::POST, "/stacks", &other, Some(&key))
            .await
            .status,
        409
    );

    let state = api(Method::GET, &format!("/stacks/{full}"), &[], Vec::new()).await;
    assert_eq!(state.status, 200, "{}", state.body);
    assert_eq!(state.body["status"], "CREATE_COMPLETE");
    assert!(state.body["lastUpdated"].as_str().is_some());
    assert!(state.body["lastFailure"].is_null());

    let unsafe_body = json!({"environmentName": "api", "stackName": stack, "templateUrl": template_url(&clients, "app-v3-unsafe.yaml").await});
    let refused = api_json(Method::POST, "/stacks", &unsafe_body, None).await;
    assert_eq!(refused.status, 202, "{}", refused.body);
    let refused = follow(refused.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(refused["status"], "FAILED", "{refused}");
    assert_eq!(refused["error"], "UnsafeChangeSet");
    assert!(
        refused["cause"]
            .as_str()
            .unwrap()
            .contains("- EventsTopic (AWS::SNS::Topic)"),
        "{refused}"
    );
    let states: Vec<&str> = refused["states"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        states.contains(&"PlanChangeSet") && !states.contains(&"ExecuteChangeSet"),
        "{states:?}"
    );

    // The stack holds a bucket without a retain policy: deleting it loses data, so a plain
    // DELETE is refused and the stack stays.
    let deleting = api_delete(&format!("/stacks/{full}")).await;
    assert_eq!(deleting.status, 202, "{}", deleting.body);
    let refused = follow(deleting.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(refused["status"], "FAILED", "{refused}");
    assert_eq!(refused["error"], "UnsafeDeletion", "{refused}");
    let cause = refused["cause"].as_str().unwrap();
    assert!(
        cause.contains("- DataBucket (AWS::S3::Bucket): removes AWS::S3::Bucket DataBucket; DeletionPolicy Delete: data lost"),
        "{cause}"
    );
    assert_eq!(
        api(Method::GET, &format!("/stacks/{full}"), &[], Vec::new())
            .await
            .body["status"],
        "CREATE_COMPLETE"
    );

    // Asked for with approval, it waits for a person; their yes deletes it.
    let deleting = api_delete(&format!("/stacks/{full}?onUnsafe=approve")).await;
    assert_eq!(deleting.status, 202, "{}", deleting.body);
    let link = approval_link(&full).await;
    let (code, page) = decide(&link, "approve", "Ana").await;
    assert_eq!(code, 200, "{page}");
    let deleted = follow(deleting.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(deleted["status"], "SUCCEEDED", "{deleted}");
    assert_eq!(deleted["output"]["outcome"], "DELETED");
    assert_eq!(
        api(Method::GET, &format!("/stacks/{full}"), &[], Vec::new())
            .await
            .status,
        404
    );
}

/// Rollback alarms (by name, completed to stackgate's own account, and by ARN) go with the change
/// set; moto accepts the configuration (it watches no alarm, so it never rolls back: the naming of
/// an alarm's rollback is tested at SDK level).
#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_deployment_with_rollback_alarms_deploys() {
    let clients = LocalClients::connect(&endpoint()).await;
    let stack = unique("alarms");
    let body = json!({"environmentName": "api", "stackName": stack,
        "templateUrl": template_url(&clients, "app-retained.yaml").await,
        "rollbackAlarms": ["checkout-5xx", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:latency"],
        "monitoringMinutes": 0});
    let accepted = api_json(Method::POST, "/stacks", &body, None).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let done = follow(accepted.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["output"]["outcome"], "CREATED");
}

/// A stack whose data outlives it (a retained bucket) is deleted without a person, and the bucket
/// is still there afterwards.
#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_stack_whose_data_is_retained_is_deleted_without_a_person() {
    let clients = LocalClients::connect(&endpoint()).await;
    let full = format!("api-{}", unique("kept"));
    let body = json!({"environmentName": "api", "stackName": full.trim_start_matches("api-"), "templateUrl": template_url(&clients, "app-retained.yaml").await});
    let created = api_json(Method::POST, "/stacks", &body, None).await;
    assert_eq!(created.status, 202, "{}", created.body);
    let created = follow(created.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(created["status"], "SUCCEEDED", "{created}");
    let bucket = clients
        .cloudformation
        .describe_stack_resource()
        .stack_name(&full)
        .logical_resource_id("DataBucket")
        .send()
        .await
        .unwrap()
        .stack_resource_detail()
        .and_then(|r| r.physical_resource_id())
        .unwrap_or_default()
        .to_string();

    let deleting = api_delete(&format!("/stacks/{full}")).await;
    assert_eq!(deleting.status, 202, "{}", deleting.body);
    let deleted = follow(deleting.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(deleted["status"], "SUCCEEDED", "{deleted}");
    assert_eq!(deleted["output"]["outcome"], "DELETED");
    let states: Vec<&str> = deleted["states"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        states.contains(&"PlanDeletion") && !states.contains(&"RequestApproval"),
        "{states:?}"
    );
    assert!(!bucket.is_empty(), "{created}");
    clients
        .s3
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("the retained bucket outlives the stack");
}

/// With the operator's InlineTemplates on (the local stack's setting): a template's text is kept
/// in the staging bucket under its SHA-256 and deployed from there; the workflow's input names
/// the object and never holds the text.
#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn an_inline_template_is_deployed_from_the_copy_the_api_kept() {
    let clients = LocalClients::connect(&endpoint()).await;
    let stack = unique("inline");
    let text = stackgate_local::demo::sample_template("app-v1.yaml").unwrap();
    let body = json!({"environmentName": "api", "stackName": stack, "templateBody": text});
    let accepted = api_json(Method::POST, "/stacks", &body, None).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let done = follow(accepted.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(done["output"]["outcome"], "CREATED", "{done}");

    let key = stackgate::guardrails::inline_key(&text);
    let kept = clients
        .s3
        .get_object()
        .bucket(stackgate_local::template::bucket_name("StagingBucket"))
        .key(&key)
        .send()
        .await
        .unwrap();
    let kept = kept.body.collect().await.unwrap().into_bytes();
    assert_eq!(kept.as_ref(), text.as_bytes());
    let arn = accepted.body["executionArn"].as_str().unwrap();
    let input = clients
        .sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .unwrap()
        .input
        .unwrap_or_default();
    assert!(input.contains(&key), "{input}");
    assert!(!input.contains("Resources"), "{input}");
    let deleted = api_delete(&format!("/stacks/api-{stack}")).await;
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    follow(deleted.body["statusUrl"].as_str().unwrap()).await;
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn compat_routes_keep_working() {
    let clients = LocalClients::connect(&endpoint()).await;
    let full = format!("api-{}", unique("compat"));
    let created = api_json(
        Method::POST,
        "/create",
        &json!({"stackname": full, "templateurl": template_url(&clients, "app-v1.yaml").await}),
        None,
    )
    .await;
    assert_eq!(created.status, 202, "{}", created.body);
    assert_eq!(
        follow(created.body["statusUrl"].as_str().unwrap()).await["status"],
        "SUCCEEDED"
    );

    let state = api(Method::GET, &format!("/state/{full}"), &[], Vec::new()).await;
    assert_eq!(state.status, 200);
    assert_eq!(state.body["stackName"], full.as_str());

    // The old route starts the same safe delete: the sample's bucket would lose its data.
    let deleted = api_json(Method::POST, "/delete", &json!({"stackname": full}), None).await;
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    let refused = follow(deleted.body["statusUrl"].as_str().unwrap()).await;
    assert_eq!(refused["error"], "UnsafeDeletion", "{refused}");
    assert_eq!(
        api(Method::GET, &format!("/state/{full}"), &[], Vec::new())
            .await
            .status,
        200
    );
}

/// (method, path, content type, body, expected status, expected `field`)
type Case = (
    Method,
    &'static str,
    Option<&'static str>,
    String,
    u16,
    Option<&'static str>,
);

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn malformed_requests_get_the_right_4xx_and_start_nothing() {
    let clients = LocalClients::connect(&endpoint()).await;
    let good_url = template_url(&clients, "app-v1.yaml").await;
    let ok = |extra: Value| {
        let mut body =
            json!({"environmentName": "api", "stackName": "bad", "templateUrl": good_url});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body.to_string()
    };
    let json_ct = Some("application/json");
    // Above the 2 MiB the API takes with inline templates on (the local stack's setting).
    let big = format!(
        r#"{{"environmentName":"api","stackName":"x","pad":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024 + 1)
    );
    let staging = stackgate_local::template::bucket_name("StagingBucket");
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (Method::POST, "/stacks", None, ok(json!({})), 415, Some("Content-Type")),
        (Method::POST, "/stacks", Some("text/plain"), ok(json!({})), 415, Some("Content-Type")),
        (Method::POST, "/stacks", Some("application/xml"), "<a/>".into(), 415, Some("Content-Type")),
        (Method::POST, "/stacks", json_ct, "{not json".into(), 400, Some("$")),
        (Method::POST, "/stacks", json_ct, "[1,2]".into(), 400, Some("$")),
        (Method::POST, "/stacks", json_ct, "".into(), 400, Some("$")),
        (Method::POST, "/stacks", json_ct, "{}".into(), 400, Some("environmentName")),
        (Method::POST, "/stacks", json_ct, ok(json!({"stackName": null})), 400, Some("stackName")),
        (Method::POST, "/stacks", json_ct, ok(json!({"stackName": "a_b"})), 400, Some("stackName")),
        (Method::POST, "/stacks", json_ct, ok(json!({"stackName": "x".repeat(130)})), 400, Some("stackName")),
        (Method::POST, "/stacks", json_ct, ok(json!({"stackName": 7})), 400, Some("stackName")),
        (Method::POST, "/stacks", json_ct, ok(json!({"environmentName": "qa"})), 400, Some("environmentName")),
        (Method::POST, "/stacks", json_ct, ok(json!({"environmentName": "a p i"})), 400, Some("environmentName")),
        (Method::POST, "/stacks", json_ct, ok(json!({"templateUrl": null})), 400, Some("templateUrl")),
        (Method::POST, "/stacks", json_ct, ok(json!({"templateS3Bucket": ARTIFACT_BUCKET, "templateS3Key": "k"})), 400, Some("templateUrl")),
        (Method::POST, "/stacks", json_ct, ok(json!({"templateUrl": "https://attacker.s3.amazonaws.com/t.yaml"})), 400, Some("templateUrl")),
        (Method::POST, "/stacks", json_ct, ok(json!({"templateUrl": "https://example.com/t.yaml"})), 400, Some("templateUrl")),
        (Method::POST, "/stacks", json_ct, ok(json!({"templateUrl": "file:///etc/passwd"})), 400, Some("templateUrl")),
        (Method::POST, "/stacks", json_ct, ok(json!({"templateUrl": null, "templateS3Bucket": "attacker", "templateS3Key": "k"})), 400, Some("templateS3Bucket")),
        (Method::POST, "/stacks", json_ct, ok(json!({"templateUrl": null, "templateS3Bucket": ARTIFACT_BUCKET})), 400, Some("templateS3Key")),
        (Method::POST, "/stacks", json_ct, ok(json!({"templateUrl": null, "revisionS3Bucket": ARTIFACT_BUCKET, "revisionS3Key": "k", "templatePath": "t"})), 400, Some("revisionS3Bucket")),
        (Method::POST, "/stacks", json_ct, ok(json!({"templateBody": "Resources: {}"})), 400, Some("templateBody")),
        (Method::POST, "/stacks", json_ct, ok(json!({"templateUrl": null, "templateBody": 5})), 400, Some("templateBody")),
        (Method::POST, "/stacks", json_ct, ok(json!({"templateUrl": null, "templateS3Bucket": staging, "templateS3Key": "templates/api-x/e/template.yaml"})), 400, Some("templateS3Bucket")),
        (Method::POST, "/stacks", json_ct, ok(json!({"parameters": "x"})), 400, Some("parameters")),
        (Method::POST, "/stacks", json_ct, ok(json!({"parameters": {"P": {"deep": 1}}})), 400, Some("parameters.P")),
        (Method::POST, "/stacks", json_ct, ok(json!({"tags": ["a"]})), 400, Some("tags")),
        (Method::POST, "/stacks", json_ct, ok(json!({"capabilities": ["CAPABILITY_EVERYTHING"]})), 400, Some("capabilities[0]")),
        (Method::POST, "/stacks", json_ct, ok(json!({"onUnsafe": "ignore"})), 400, Some("onUnsafe")),
        (Method::POST, "/stacks", json_ct, ok(json!({"rollbackAlarms": ["errors*"]})), 400, Some("rollbackAlarms[0]")),
        (Method::POST, "/stacks", json_ct, ok(json!({"rollbackAlarms": ["a", "b", "c", "d", "e", "f"]})), 400, Some("rollbackAlarms")),
        (Method::POST, "/stacks", json_ct, ok(json!({"monitoringMinutes": 181})), 400, Some("monitoringMinutes")),
        (Method::POST, "/stacks", json_ct, ok(json!({"stackname": "typo"})), 400, Some("stackname")),
        (Method::POST, "/stacks", json_ct, big, 413, None),
        (Method::GET, "/stacks", None, String::new(), 405, None),
        (Method::PUT, "/stacks/api-web", json_ct, "{}".into(), 405, None),
        (Method::PATCH, "/executions/deploy-x", json_ct, "{}".into(), 405, None),
        (Method::GET, "/nowhere", None, String::new(), 404, None),
        (Method::GET, "/stacks/production-web", None, String::new(), 404, None),
        (Method::DELETE, "/stacks/payments-db", None, String::new(), 404, None),
        (Method::DELETE, "/stacks/api-never-created", None, String::new(), 404, None),
        (Method::GET, "/executions/not-an-execution", None, String::new(), 404, None),
        (Method::POST, "/create", json_ct, json!({"stackname": "api-x"}).to_string(), 400, Some("templateurl")),
        (Method::POST, "/create", json_ct, json!({"stackname": "qa-x", "templateurl": good_url}).to_string(), 400, Some("stackname")),
        (Method::POST, "/delete", json_ct, "{}".into(), 400, Some("stackname")),
        (Method::POST, "/delete", json_ct, json!({"stackname": "prod-payments"}).to_string(), 404, None),
    ];
    assert!(cases.len() >= 30);
    for (method, path, content_type, body, expected, field) in cases {
        let key = unique("malformed-");
        let mut headers = vec![("idempotency-key", key.as_str())];
        if let Some(content_type) = content_type {
            headers.push(("content-type", content_type));
        }
        let reply = api(method.clone(), path, &headers, body).await;
        assert_eq!(reply.status, expected, "{method} {path}: {}", reply.body);
        assert_eq!(
            reply.headers["content-type"], "application/problem+json",
            "{method} {path}"
        );
        assert_eq!(reply.body["status"], expected);
        assert!(
            reply.body["title"].is_string()
                && reply.body["detail"].is_string()
                && reply.body["type"].is_string()
        );
        if let Some(field) = field {
            assert_eq!(
                reply.body["field"], field,
                "{method} {path}: {}",
                reply.body
            );
        }
        // The key names the execution a valid request would have started: none exists.
        use stackgate::api::Workflow;
        for workflow in [Workflow::Deploy, Workflow::Delete] {
            // Locally no API Gateway names the caller: every request is "anonymous".
            let name = stackgate::api::execution_name(workflow, Some(&key), "unused", "anonymous");
            let machine = if workflow == Workflow::Deploy {
                "SafeDeployStateMachine"
            } else {
                "SafeDeleteStateMachine"
            };
            let arn = format!("arn:aws:states:us-east-1:123456789012:execution:{machine}:{name}");
            let found = clients
                .sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await;
            assert!(found.is_err(), "{method} {path} started an execution");
        }
    }
    // A request without a valid Idempotency-Key is refused too.
    let reply = api(
        Method::POST,
        "/stacks",
        &[
            ("content-type", "application/json"),
            ("idempotency-key", " "),
        ],
        ok(json!({})),
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["field"].as_str()),
        (400, Some("Idempotency-Key"))
    );
}
