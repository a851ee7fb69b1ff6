//! The stacks API's tests: starting a deployment (202 only once Step Functions started it, idempotency keys, inline templates, secrets, refused requests).

use super::*;

#[tokio::test]
async fn a_create_is_accepted_only_after_start_execution_succeeded() {
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            r.state_machine_arn() == Some(DEPLOY)
                && r.name().is_some_and(|n| n.starts_with("deploy-"))
        })
        .then_output(started);
    let clients = clients(&[&start], &[]);
    let (status, body, headers) = call(
        &clients,
        request("POST", "/stacks", Some(create_body()), None),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["executionId"].as_str().unwrap();
    assert_eq!(headers["location"], format!("/executions/{id}").as_str());
    assert_eq!(body["statusUrl"], format!("/executions/{id}"));

    let failing = mock!(Sfn::start_execution).then_error(|| {
        StartExecutionError::generic(
            aws_sdk_sfn::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("no")
                .build(),
        )
    });
    let clients = self::clients(&[&failing], &[]);
    let (status, body, headers) = call(
        &clients,
        request("POST", "/stacks", Some(create_body()), None),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        body["detail"].as_str().unwrap().contains("not started"),
        "{body}"
    );
}

/// With inline templates on: the body is stored in the staging bucket under its SHA-256 before the
/// execution starts, and the workflow's input names that object, never the template's text.
#[tokio::test]
async fn an_inline_template_is_stored_first_and_only_its_object_is_started() {
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
    const BODY: &str = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n";
    let key = stackgate::guardrails::inline_key(BODY);
    let expected_key = key.clone();
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(move |r| {
            r.bucket() == Some("staging") && r.key() == Some(expected_key.as_str())
        })
        .then_output(|| PutObjectOutput::builder().build());
    let input_key = key.clone();
    let start = mock!(Sfn::start_execution)
        .match_requests(move |r| {
            let input: Value = serde_json::from_str(r.input().unwrap_or("{}")).unwrap();
            input["templateS3Bucket"] == "staging"
                && input["templateS3Key"] == input_key.as_str()
                && input.get("templateBody").is_none()
                && !r.input().unwrap_or_default().contains("AWS::SQS::Queue")
        })
        .then_output(started);
    let inline_on = |s3_rules: &[&Rule], sfn_rules: &[&Rule]| {
        let mut deps = clients(sfn_rules, &[]);
        deps.config.guardrails = deps
            .config
            .guardrails
            .with_inline_templates("staging".into());
        deps.s3 = Some(mock_client!(aws_sdk_s3, RuleMode::MatchAny, s3_rules));
        deps
    };
    let body = json!({"environmentName": "prod", "stackName": "app", "templateBody": BODY});
    for path in ["/stacks", "/plans"] {
        let deps = inline_on(&[&put], &[&start]);
        let (status, answer, _) =
            call(&deps, request("POST", path, Some(body.clone()), None)).await;
        assert_eq!(status, 202, "{path}: {answer}");
    }
    assert_eq!((put.num_calls(), start.num_calls()), (2, 2));

    // Not stored: nothing starts.
    let refused = mock!(aws_sdk_s3::Client::put_object).then_error(|| {
        PutObjectError::generic(
            aws_sdk_s3::error::ErrorMetadata::builder()
                .code("AccessDenied")
                .build(),
        )
    });
    let never = mock!(Sfn::start_execution).then_output(started);
    let deps = inline_on(&[&refused], &[&never]);
    let (status, _, _) = call(&deps, request("POST", "/stacks", Some(body.clone()), None)).await;
    assert!(status >= 500, "{status}");
    assert_eq!(never.num_calls(), 0);

    // Off (the default): 400 naming templateBody, nothing stored or started, the text not repeated.
    let deps = clients(&[&never], &[]);
    let (status, answer, _) = call(&deps, request("POST", "/stacks", Some(body), None)).await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("templateBody"))
    );
    assert!(!answer.to_string().contains("SQS"), "{answer}");
    assert_eq!(never.num_calls(), 0);
}

#[tokio::test]
async fn throttled_start_execution_is_retried() {
    let start = mock!(Sfn::start_execution)
        .sequence()
        .error(|| {
            StartExecutionError::generic(
                aws_sdk_sfn::error::ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .build(),
            )
        })
        .times(2)
        .output(started)
        .build();
    let clients = clients(&[&start], &[]);
    let (status, _, _) = call(
        &clients,
        request("POST", "/stacks", Some(create_body()), None),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(start.num_calls(), 3);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_execution_and_never_a_second() {
    let fresh = mock!(Sfn::start_execution).then_output(started);
    let clients_fresh = clients(&[&fresh], &[]);
    let (_, first, _) = call(
        &clients_fresh,
        request("POST", "/stacks", Some(create_body()), Some("order-42")),
    )
    .await;

    let exists = mock!(Sfn::start_execution).then_error(|| {
        StartExecutionError::ExecutionAlreadyExists(
            aws_sdk_sfn::types::error::ExecutionAlreadyExists::builder().build(),
        )
    });
    let same_input =
        mock!(Sfn::describe_execution).then_output(|| described(&started_input().to_string()));
    let clients_replay = clients(&[&exists, &same_input], &[]);
    let (status, replay, _) = call(
        &clients_replay,
        request("POST", "/stacks", Some(create_body()), Some("order-42")),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(replay["executionId"], first["executionId"]);

    let other_input =
        mock!(Sfn::describe_execution).then_output(|| described(r#"{"other":"request"}"#));
    let clients_conflict = clients(&[&exists, &other_input], &[]);
    let (status, problem, _) = call(
        &clients_conflict,
        request("POST", "/stacks", Some(create_body()), Some("order-42")),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(problem["field"], "Idempotency-Key");
    assert_eq!(fresh.num_calls(), 1);
    common::report(
        "guarantees",
        "api-retries",
        json!({"guarantee": "duplicate deliveries start no duplicate execution: API retries (Idempotency-Key)",
               "test": "stacks_api::the_same_idempotency_key_returns_the_same_execution_and_never_a_second"}),
    );
}

#[tokio::test]
async fn invalid_requests_never_reach_step_functions() {
    let start = mock!(Sfn::start_execution).then_output(started);
    let clients = clients(&[&start], &[]);
    let cases = [
        request(
            "POST",
            "/stacks",
            Some(json!({"environmentName": "prod"})),
            None,
        ),
        request(
            "POST",
            "/stacks",
            Some(
                json!({"environmentName": "prod", "stackName": "app", "templateUrl": "https://evil.s3.amazonaws.com/a.yaml"}),
            ),
            None,
        ),
        request(
            "POST",
            "/create",
            Some(
                json!({"stackname": "other-app", "templateurl": "https://templates.s3.amazonaws.com/a"}),
            ),
            None,
        ),
        request("POST", "/stacks", Some(create_body()), Some("")),
    ];
    for case in cases {
        let (status, body, _) = call(&clients, case).await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(start.num_calls(), 0);
}

/// Every sample request the API has (events/stacks-api), under every way StartExecution can go:
/// a 202 is only ever given when Step Functions started the execution, and a request that reached
/// StartExecution without a start gets an answer saying so (never a 2xx).
#[tokio::test]
async fn the_api_answers_202_only_for_a_started_execution() {
    let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../events/stacks-api");
    let mut samples: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    samples.sort();
    let (mut accepted, mut refused_unstarted) = (0, 0);
    for sample in &samples {
        for start in [
            Start::Started,
            Start::ThrottledThenStarted,
            Start::ServerError,
            Start::AccessDenied,
            Start::TakenByAnotherRequest,
        ] {
            let text = std::fs::read_to_string(sample).unwrap();
            let request = lambda_http::request::from_str(&text).unwrap();
            let rule = start_rule(start);
            let other_input =
                mock!(Sfn::describe_execution).then_output(|| described(r#"{"other":"request"}"#));
            // The stack asked for, as AWS names it (its id carries its name).
            let describe_stack =
                mock!(CloudFormation::describe_stacks).then_compute_output(|input| {
                    let name = input.stack_name().unwrap_or_default();
                    let mut output = stack_in("api", StackStatus::UpdateComplete, false);
                    if let Some(stack) = output.stacks.as_mut().and_then(|s| s.first_mut()) {
                        stack.stack_name = Some(name.to_string());
                        stack.stack_id = Some(STACK_ID.replace("prod-app", name));
                    }
                    output
                });
            let history = mock!(Sfn::get_execution_history).then_output(|| {
                GetExecutionHistoryOutput::builder()
                    .set_events(Some(Vec::new()))
                    .build()
                    .unwrap()
            });
            let events = mock!(CloudFormation::describe_stack_events)
                .then_output(|| DescribeStackEventsOutput::builder().build());
            let mut clients = clients(
                &[&rule, &other_input, &history],
                &[&describe_stack, &events],
            );
            clients.vending_machine_arn =
                Some("arn:aws:states:us-east-1:123456789012:stateMachine:Vending".into());
            clients.config.guardrails = guardrails(
                &["api"],
                &["stackgate-local-artifacts"],
                &["localhost:4566"],
            );
            let response = handle(&clients, request).await.unwrap();
            let status = response.status().as_u16();
            let name = sample.file_name().unwrap().to_string_lossy();
            let started = matches!(start, Start::Started | Start::ThrottledThenStarted)
                && rule.num_calls() > 0;
            if status == 202 {
                assert!(
                    started,
                    "{name} under {start:?}: 202 without a started execution"
                );
                accepted += 1;
            } else if rule.num_calls() > 0 && !started {
                assert!(
                    status == 409 || status >= 500,
                    "{name} under {start:?}: {status} for a request that was not started"
                );
                refused_unstarted += 1;
            }
        }
    }
    assert!(
        accepted >= 10,
        "the matrix accepted only {accepted} requests"
    );
    assert!(
        refused_unstarted >= 15,
        "only {refused_unstarted} unstarted requests"
    );
    common::report(
        "guarantees",
        "api-202",
        json!({"guarantee": "the API never answers 202 without a started execution",
               "test": "stacks_api::the_api_answers_202_only_for_a_started_execution",
               "cases": samples.len() * 5}),
    );
}

#[tokio::test]
async fn one_callers_idempotency_key_is_never_anothers_execution() {
    let start = mock!(Sfn::start_execution).then_output(started);
    let clients = clients(&[&start], &[]);
    let post = |caller: &str| {
        as_caller(
            request("POST", "/stacks", Some(create_body()), Some("order-42")),
            caller,
        )
    };
    let (status, a, _) = call(&clients, post("key-a")).await;
    assert_eq!(status, 202, "{a}");
    let (status, b, _) = call(&clients, post("key-b")).await;
    assert_eq!(status, 202, "{b}");
    assert_ne!(
        a["executionId"], b["executionId"],
        "the same key from another caller names another execution"
    );

    // Even knowing the name, another caller reads nothing.
    let id = a["executionId"].as_str().unwrap().to_string();
    let describe = mock!(Sfn::describe_execution)
        .then_output(|| described(r#"{"stackName":"app","requestedBy":"apiKey:key-a"}"#));
    let history = mock!(Sfn::get_execution_history).then_output(|| {
        GetExecutionHistoryOutput::builder()
            .set_events(Some(Vec::new()))
            .build()
            .unwrap()
    });
    let clients = self::clients(&[&describe, &history], &[]);
    let read = |caller: &str| {
        as_caller(
            request("GET", &format!("/executions/{id}"), None, None),
            caller,
        )
    };
    assert_eq!(call(&clients, read("key-b")).await.0, 404);
    let (status, body, _) = call(&clients, read("key-a")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_idempotency_key_that_cannot_be_read_is_refused_not_ignored() {
    let start = mock!(Sfn::start_execution).then_output(started);
    let clients = clients(&[&start], &[]);
    let mut request = request("POST", "/stacks", Some(create_body()), None);
    request.headers_mut().insert(
        "idempotency-key",
        lambda_http::http::HeaderValue::from_bytes("clé-42".as_bytes()).unwrap(),
    );
    let (status, body, _) = call(&clients, request).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("Idempotency-Key")),
        "{body}"
    );
    assert!(
        !body.to_string().contains("clé"),
        "the value is not echoed: {body}"
    );
    assert_eq!(start.num_calls(), 0);
}

#[tokio::test]
async fn a_secret_parameter_is_accepted_only_as_a_reference_and_never_started_with_its_value() {
    let start = mock!(Sfn::start_execution).then_output(started);
    let summary = summary_with_no_echo();
    let clients = clients(&[&start], &[&summary]);
    let with = |parameters: Value, listed: Value| {
        let mut body = create_body();
        body["parameters"] = parameters;
        body["secretParameters"] = listed;
        request("POST", "/stacks", Some(body), None)
    };
    for (parameters, listed, field) in [
        (
            json!({"DbPassword": "plantedDbPassword1", "Size": "2"}),
            json!([]),
            "parameters.DbPassword",
        ),
        (
            json!({"ApiToken": "plantedApiToken1"}),
            json!(["ApiToken"]),
            "parameters.ApiToken",
        ),
    ] {
        let (status, body, _) = call(&clients, with(parameters, listed)).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
        assert!(
            !body.to_string().contains("planted"),
            "no value echoed: {body}"
        );
    }
    assert_eq!(
        start.num_calls(),
        0,
        "nothing started with a secret in its input"
    );
    let (status, body, _) = call(
        &clients,
        with(
            json!({"DbPassword": "{{resolve:ssm-secure:/app/db}}", "Size": "2"}),
            json!([]),
        ),
    )
    .await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn refuse_answers_409_naming_the_running_execution_to_its_caller_only_and_starts_nothing() {
    let running = format!(
        "{}:earlier",
        DEPLOY.replace(":stateMachine:", ":execution:")
    );
    let start = mock!(Sfn::start_execution).then_output(started);
    let runs = holder_status(&running, ExecutionStatus::Running, "anonymous");
    let (deps, _lease) = refusing(clients(&[&start], &[]), Some(&running), &[&runs]);
    let (status, problem, _) =
        call(&deps, request("POST", "/stacks", Some(create_body()), None)).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["executionArn"], running.as_str());
    assert!(problem["detail"].as_str().unwrap().contains("prod-app"));
    assert_eq!(start.num_calls(), 0);

    // Another caller's execution holds it: refused all the same, without naming that execution.
    let theirs = holder_status(&running, ExecutionStatus::Running, "apiKey:someone-else");
    let (deps, _lease) = refusing(clients(&[&start], &[]), Some(&running), &[&theirs]);
    let (status, problem, _) =
        call(&deps, request("POST", "/stacks", Some(create_body()), None)).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem.get("executionArn"), None, "{problem}");
    assert!(!problem.to_string().contains(":earlier"), "{problem}");
    assert_eq!(start.num_calls(), 0);

    // The holder ended (an execution never gives its lease back itself): the request goes through.
    let ended = holder_status(&running, ExecutionStatus::Aborted, "anonymous");
    let (deps, _lease) = refusing(clients(&[&start], &[]), Some(&running), &[&ended]);
    let (status, _, _) = call(&deps, request("POST", "/stacks", Some(create_body()), None)).await;
    assert_eq!(status, 202);
    assert_eq!(start.num_calls(), 1);

    // A free stack: 202.
    let (deps, lease) = refusing(clients(&[&start], &[]), None, &[]);
    let (status, _, _) = call(&deps, request("POST", "/stacks", Some(create_body()), None)).await;
    assert_eq!(status, 202);
    assert_eq!(lease.num_calls(), 1);
}
