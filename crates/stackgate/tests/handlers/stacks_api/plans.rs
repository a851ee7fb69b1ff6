//! The stacks API's tests: plans and releases, read and applied only by their caller.

use super::*;

#[tokio::test]
async fn a_plan_is_started_as_one_and_answered_with_its_id_and_expiry() {
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap_or("{}")).unwrap();
            input["planExpiresAt"].is_string() && input.get("applyPlan").is_none()
        })
        .then_output(started);
    let deps = clients(&[&start], &[]);
    let (status, body, _) = call(&deps, request("POST", "/plans", Some(create_body()), None)).await;
    assert_eq!(status, 202, "{body}");
    let id = body["planId"].as_str().unwrap();
    assert_eq!(body["executionId"], id);
    assert_eq!(body["statusUrl"], format!("/plans/{id}"));
    assert!(body["expiresAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(start.num_calls(), 1);

    // A replay (the same key and body, minutes later) is the same plan, with its first expiry; a
    // deployment under the key a plan used is not that plan.
    let exists = mock!(Sfn::start_execution).then_error(|| {
        StartExecutionError::ExecutionAlreadyExists(
            aws_sdk_sfn::types::error::ExecutionAlreadyExists::builder().build(),
        )
    });
    let planned = mock!(Sfn::describe_execution).then_output(|| {
        let mut input = started_input();
        input["planExpiresAt"] = json!(LATER);
        described(&input.to_string())
    });
    let replaying = clients(&[&exists, &planned], &[]);
    let (status, replay, _) = call(
        &replaying,
        request("POST", "/plans", Some(create_body()), Some("order-42")),
    )
    .await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["expiresAt"], LATER);
    let (status, problem, _) = call(
        &replaying,
        request("POST", "/stacks", Some(create_body()), Some("order-42")),
    )
    .await;
    assert_eq!(status, 409, "{problem}");

    // A body cannot make itself a plan, or an applying execution, on POST /stacks.
    for (field, value) in [
        ("planExpiresAt", json!(LATER)),
        ("applyPlan", json!("deploy-kx")),
    ] {
        let mut body = create_body();
        body[field] = value;
        let (status, problem, _) = call(&deps, request("POST", "/stacks", Some(body), None)).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field)));
    }
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn a_plan_is_read_and_applied_only_by_its_caller_and_only_while_it_is_ready() {
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap_or("{}")).unwrap();
            input["applyPlan"] == "deploy-kplan"
                && input.get("planExpiresAt").is_none()
                && input["requestedBy"] == "apiKey:planner"
        })
        .then_output(started);
    let stop = mock!(Sfn::stop_execution)
        .match_requests(|r| {
            r.error() == Some("PlanApplied")
                && r.execution_arn()
                    .is_some_and(|a| a.ends_with(":deploy-kplan"))
        })
        .then_output(|| {
            StopExecutionOutput::builder()
                .stop_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        });
    let running = plan_execution(ExecutionStatus::Running, "apiKey:planner", LATER, None);
    let judged = plan_history(true);
    let deps = clients(&[&start, &stop, &running, &judged], &[]);

    let read = |caller: &str| as_caller(request("GET", "/plans/deploy-kplan", None, None), caller);
    let (status, plan, _) = call(&deps, read("planner")).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["status"], "READY");
    assert_eq!(plan["verdict"], "UNSAFE");
    assert_eq!(plan["changes"][0]["logicalResourceId"], "Table");
    assert_eq!(plan["apply"]["body"]["planId"], "deploy-kplan");
    assert_eq!(call(&deps, read("someone-else")).await.0, 404);

    let apply =
        |caller: &str, body: Value| as_caller(request("POST", "/stacks", Some(body), None), caller);
    let only_plan = json!({"planId": "deploy-kplan"});
    // Another caller's plan does not exist for them, even under its exact id.
    let (status, _, _) = call(&deps, apply("someone-else", only_plan.clone())).await;
    assert_eq!(status, 404);
    // The plan holds the request: nothing may be added to it.
    let mut more = only_plan.clone();
    more["onUnsafe"] = json!("fail");
    let (status, problem, _) = call(&deps, apply("planner", more)).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("onUnsafe")));
    assert_eq!((start.num_calls(), stop.num_calls()), (0, 0));

    let (status, body, _) = call(&deps, apply("planner", only_plan)).await;
    assert_eq!(status, 202, "{body}");
    let applying = body["executionId"].as_str().unwrap();
    assert_ne!(applying, "deploy-kplan");
    assert_eq!(body["statusUrl"], format!("/executions/{applying}"));
    assert_eq!((start.num_calls(), stop.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_plan_not_ready_expired_or_ended_is_not_applied() {
    let start = mock!(Sfn::start_execution).then_output(started);
    let body = json!({"planId": "deploy-kplan"});
    let cases = [
        // Still being judged.
        (
            plan_execution(ExecutionStatus::Running, "anonymous", LATER, None),
            false,
        ),
        // Judged, but past its expiry.
        (
            plan_execution(
                ExecutionStatus::Running,
                "anonymous",
                "2020-01-01T00:00:00Z",
                None,
            ),
            true,
        ),
        // Refused as it stood.
        (
            plan_execution(
                ExecutionStatus::Failed,
                "anonymous",
                LATER,
                Some("UnsafeChangeSet"),
            ),
            false,
        ),
        // Expired and its change set deleted.
        (
            plan_execution(ExecutionStatus::Succeeded, "anonymous", LATER, None),
            true,
        ),
    ];
    for (execution, judged) in cases {
        let history = plan_history(judged);
        let deps = clients(&[&start, &execution, &history], &[]);
        let (status, problem, _) =
            call(&deps, request("POST", "/stacks", Some(body.clone()), None)).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (409, Some("planId")),
            "{problem}"
        );
    }
    assert_eq!(start.num_calls(), 0);

    // A deployment's execution is no plan.
    let deployment = mock!(Sfn::describe_execution)
        .then_output(|| described(r#"{"stackName":"app","requestedBy":"anonymous"}"#));
    let deps = clients(&[&start, &deployment], &[]);
    assert_eq!(
        call(&deps, request("GET", "/plans/deploy-kplan", None, None))
            .await
            .0,
        404
    );
    assert_eq!(
        call(&deps, request("POST", "/stacks", Some(body), None))
            .await
            .0,
        404
    );
    assert_eq!(start.num_calls(), 0);
}

/// `GET /releases/{id}`: only its caller's release exists for a caller; each stack's state comes
/// from its plan's and its apply's executions, and the release's answer holds no stack's request.
#[tokio::test]
async fn a_release_is_read_only_by_its_caller_with_each_stacks_state() {
    const ID: &str = "release-kr1";
    let input = json!({
        "release": "r1", "environmentName": "prod", "requestedBy": "apiKey:owner",
        "maxConcurrency": 5, "waves": [{"stacks": [0], "bakeSeconds": 0}, {"stacks": [1], "bakeSeconds": 0}],
        "stacks": [
            {"stackName": "prod-net", "planName": "deploy-pnet", "applyName": "deploy-anet",
             "changeSetName": "stackgate-1", "plan": {"parameters": {"Password": "hunter2"}}, "apply": {}},
            {"stackName": "prod-web", "planName": "deploy-pweb", "applyName": "deploy-aweb",
             "changeSetName": "stackgate-2", "plan": {}, "apply": {}}
        ]
    })
    .to_string();
    let described = |status: ExecutionStatus, input: String, output: Option<&'static str>| {
        move || {
            DescribeExecutionOutput::builder()
                .execution_arn("arn")
                .state_machine_arn(DEPLOY)
                .status(status.clone())
                .start_date(aws_smithy_types::DateTime::from_secs(0))
                .input(input.clone())
                .set_output(output.map(str::to_string))
                .build()
                .unwrap()
        }
    };
    let release = mock!(Sfn::describe_execution)
        .match_requests(|r| {
            r.execution_arn()
                .is_some_and(|a| a.ends_with(&format!(":{ID}")))
        })
        .then_output(described(ExecutionStatus::Running, input, None));
    let planned = r#"{"outcome":"PLANNED"}"#;
    let plans = mock!(Sfn::describe_execution)
        .match_requests(|r| r.execution_arn().is_some_and(|a| a.contains(":deploy-p")))
        .then_output(described(
            ExecutionStatus::Succeeded,
            "{}".into(),
            Some(planned),
        ));
    let net_applied = mock!(Sfn::describe_execution)
        .match_requests(|r| {
            r.execution_arn()
                .is_some_and(|a| a.ends_with(":deploy-anet"))
        })
        .then_output(described(ExecutionStatus::Succeeded, "{}".into(), None));
    let web_not_started = mock!(Sfn::describe_execution)
        .match_requests(|r| {
            r.execution_arn()
                .is_some_and(|a| a.ends_with(":deploy-aweb"))
        })
        .then_error(|| {
            DescribeExecutionError::ExecutionDoesNotExist(
                aws_sdk_sfn::types::error::ExecutionDoesNotExist::builder().build(),
            )
        });
    let deps = clients(&[&release, &plans, &net_applied, &web_not_started], &[]);
    let read = |caller: &str| {
        as_caller(
            request("GET", &format!("/releases/{ID}"), None, None),
            caller,
        )
    };

    let (status, shown, _) = call(&deps, read("owner")).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["status"], "RUNNING");
    assert_eq!(shown["release"], "r1");
    assert_eq!(shown["stacks"][0]["state"], "done", "{shown}");
    assert_eq!(shown["stacks"][0]["executionId"], "deploy-anet");
    assert_eq!(shown["stacks"][1]["state"], "planned", "{shown}");
    assert_eq!(shown["stacks"][1]["executionId"], Value::Null);
    assert!(!shown.to_string().contains("hunter2"), "{shown}");

    // Another caller, or an id of another kind: no such release.
    let (status, _, _) = call(&deps, read("someone-else")).await;
    assert_eq!(status, 404);
    let (status, _, _) = call(
        &deps,
        as_caller(request("GET", "/releases/deploy-kr1", None, None), "owner"),
    )
    .await;
    assert_eq!(status, 404);
}
