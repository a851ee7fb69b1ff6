//! The stacks API's tests: reading and deleting stacks, only those stackgate made.

use super::*;

#[tokio::test]
async fn stacks_stackgate_did_not_make_are_404_for_reads_and_deletes() {
    for tags in [
        &[][..],
        &[
            ("stackgate:managed", "false"),
            ("stackgate:environment", "prod"),
        ][..],
        &[
            ("stackgate:managed", "true"),
            ("stackgate:environment", "dev"),
        ][..],
        &[("stackgate:environment", "prod")][..],
    ] {
        let owned: Vec<(String, String)> = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let describe = mock!(CloudFormation::describe_stacks).then_output(move || {
            let borrowed: Vec<(&str, &str)> = owned
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            foreign_stack(&borrowed)
        });
        let start = mock!(Sfn::start_execution).then_output(started);
        let clients = clients(&[&start], &[&describe]);
        for (method, path) in [
            ("GET", "/stacks/prod-app"),
            ("GET", "/stacks/prod-app/events"),
            ("GET", "/state/prod-app"),
            ("DELETE", "/stacks/prod-app"),
        ] {
            let (status, body, _) = call(&clients, request(method, path, None, None)).await;
            assert_eq!(status, 404, "{method} {path} with tags {tags:?}: {body}");
        }
        assert_eq!(start.num_calls(), 0, "no delete was started");
    }
}

#[tokio::test]
async fn stack_state_shows_status_outputs_and_the_last_failure() {
    let describe = mock!(CloudFormation::describe_stacks)
        .then_output(|| stack(StackStatus::UpdateRollbackComplete, false));
    let events = mock!(CloudFormation::describe_stack_events).then_output(|| {
        DescribeStackEventsOutput::builder()
            .stack_events(event(
                "prod-app",
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateRollbackComplete,
                "",
            ))
            .stack_events(event(
                "Queue",
                "AWS::SQS::Queue",
                ResourceStatus::UpdateFailed,
                "quota exceeded",
            ))
            .stack_events(event(
                "prod-app",
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateInProgress,
                "User Initiated",
            ))
            .build()
    });
    let clients = clients(&[], &[&describe, &events]);
    for path in ["/stacks/prod-app", "/state/prod-app"] {
        let (status, body, _) = call(&clients, request("GET", path, None, None)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "UPDATE_ROLLBACK_COMPLETE");
        assert_eq!(body["lastUpdated"], "2023-11-14T22:13:20Z");
        assert_eq!(body["lastFailure"]["logicalResourceId"], "Queue");
        assert_eq!(body["lastFailure"]["reason"], "quota exceeded");
    }
}

/// What the CLI follows while a stack operation runs: the events oldest first, each with its id.
#[tokio::test]
async fn a_stacks_events_are_listed_oldest_first_with_their_ids() {
    let describe = mock!(CloudFormation::describe_stacks)
        .then_output(|| stack(StackStatus::UpdateComplete, false));
    let events = mock!(CloudFormation::describe_stack_events).then_output(|| {
        DescribeStackEventsOutput::builder()
            .stack_events(event(
                "Queue",
                "AWS::SQS::Queue",
                ResourceStatus::CreateComplete,
                "",
            ))
            .stack_events(event(
                "Queue",
                "AWS::SQS::Queue",
                ResourceStatus::CreateInProgress,
                "",
            ))
            .build()
    });
    let clients = clients(&[], &[&describe, &events]);
    let (status, body, _) = call(
        &clients,
        request("GET", "/stacks/prod-app/events", None, None),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stackName"], "prod-app");
    let statuses: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]);
    assert_eq!(body["events"][0]["eventId"], "QueueCREATE_IN_PROGRESS");
    assert_eq!(body["events"][0]["logicalResourceId"], "Queue");
    assert_eq!(body["events"][0]["timestamp"], "1970-01-01T00:00:00Z");
    let (status, _, _) = call(
        &clients,
        request("POST", "/stacks/prod-app/events", None, None),
    )
    .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn missing_and_unmanaged_stacks_are_404_without_touching_others() {
    let missing = mock!(CloudFormation::describe_stacks).then_error(|| {
        DescribeStacksError::generic(
            ErrorMetadata::builder()
                .code("ValidationError")
                .message("Stack with id prod-app does not exist")
                .build(),
        )
    });
    let clients = clients(&[], &[&missing]);
    let (status, _, _) = call(&clients, request("GET", "/stacks/prod-app", None, None)).await;
    assert_eq!(status, 404);
    let calls = missing.num_calls();
    for (method, path) in [
        ("GET", "/stacks/staging-app"),
        ("GET", "/stacks/staging-app/events"),
        ("DELETE", "/stacks/payments"),
        ("GET", "/state/x"),
    ] {
        let (status, _, _) = call(&clients, request(method, path, None, None)).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    assert_eq!(
        missing.num_calls(),
        calls,
        "unmanaged names never reach CloudFormation"
    );
}

#[tokio::test]
async fn deletes_are_refused_for_protected_or_busy_stacks_and_otherwise_accepted() {
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap()).unwrap();
            r.state_machine_arn() == Some(DELETE)
                && input["stackId"] == STACK_ID
                && r.name().is_some_and(|n| n.starts_with("delete-"))
        })
        .then_output(started);
    for (status, protected, expected) in [
        (StackStatus::CreateComplete, true, 409),
        (StackStatus::UpdateInProgress, false, 409),
        (StackStatus::UpdateComplete, false, 202),
    ] {
        let describe = mock!(CloudFormation::describe_stacks)
            .then_output(move || stack(status.clone(), protected));
        let clients = clients(&[&start], &[&describe]);
        let (got, body, _) =
            call(&clients, request("DELETE", "/stacks/prod-app", None, None)).await;
        assert_eq!(got, expected, "{body}");
        let (got, _, _) = call(
            &clients,
            request(
                "POST",
                "/delete",
                Some(json!({"stackname": "prod-app"})),
                None,
            ),
        )
        .await;
        assert_eq!(got, expected);
    }
    assert_eq!(start.num_calls(), 2);
}

/// `DELETE /stacks/{name}?onUnsafe=approve&approvalTimeoutSeconds=N`: what the deletion does
/// when it would lose data. Anything else in the query is refused, naming the parameter.
#[tokio::test]
async fn a_delete_says_what_to_do_with_data_loss_and_nothing_else() {
    use lambda_http::RequestExt;
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap()).unwrap();
            input
                == json!({"stackName": "prod-app", "stackId": STACK_ID, "onUnsafe": "approve",
                          "approvalTimeoutSeconds": 3600, "requestedBy": "anonymous"})
        })
        .then_output(started);
    let describe = mock!(CloudFormation::describe_stacks)
        .then_output(|| stack(StackStatus::UpdateComplete, false));
    let clients = clients(&[&start], &[&describe]);
    let with_query = |pairs: &[(&str, &str)]| {
        let query: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        request("DELETE", "/stacks/prod-app", None, None).with_query_string_parameters(query)
    };
    let (got, body, _) = call(
        &clients,
        with_query(&[("onUnsafe", "approve"), ("approvalTimeoutSeconds", "3600")]),
    )
    .await;
    assert_eq!(got, 202, "{body}");
    for (pairs, field) in [
        (vec![("onunsafe", "approve")], "query"),
        (vec![("onUnsafe", "blueGreen")], "onUnsafe"),
        (vec![("onUnsafe", "force")], "onUnsafe"),
        (
            vec![("approvalTimeoutSeconds", "soon")],
            "approvalTimeoutSeconds",
        ),
        (
            vec![("approvalTimeoutSeconds", "5")],
            "approvalTimeoutSeconds",
        ),
        (vec![("force", "true")], "query"),
        (vec![("x-hunter2 secret", "1")], "query"),
    ] {
        let (got, body, _) = call(&clients, with_query(&pairs)).await;
        assert_eq!(got, 400, "{pairs:?}: {body}");
        assert_eq!(body["field"], field, "{body}");
        assert!(!body.to_string().contains("hunter2"), "{body}");
    }
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn execution_status_lists_the_states_and_the_reason_of_a_failure() {
    let describe = mock!(Sfn::describe_execution)
        .match_requests(|r| {
            r.execution_arn()
                .is_some_and(|a| a.ends_with(":execution:SafeDeploy:deploy-k1"))
        })
        .then_output(|| {
            DescribeExecutionOutput::builder()
                .execution_arn("arn")
                .state_machine_arn(DEPLOY)
                .status(ExecutionStatus::Failed)
                .start_date(aws_smithy_types::DateTime::from_secs(0))
                .input(r#"{"stackName":"app","requestedBy":"anonymous"}"#)
                .error("UnsafeChangeSet")
                .cause("Refused change set: - Topic (AWS::SNS::Topic)")
                .build()
                .unwrap()
        });
    let history = mock!(Sfn::get_execution_history).then_output(|| {
        let entered = |id: i64, name: &str| {
            HistoryEvent::builder()
                .id(id)
                .timestamp(aws_smithy_types::DateTime::from_secs(0))
                .r#type(HistoryEventType::TaskStateEntered)
                .state_entered_event_details(
                    StateEnteredEventDetails::builder()
                        .name(name)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        };
        GetExecutionHistoryOutput::builder()
            .events(entered(1, "PlanChangeSet"))
            .events(entered(2, "DiscardUnsafeChangeSet"))
            .build()
            .unwrap()
    });
    let clients = clients(&[&describe, &history], &[]);
    let (status, body, _) = call(
        &clients,
        request("GET", "/executions/deploy-k1", None, None),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["error"], "UnsafeChangeSet");
    assert_eq!(
        body["states"],
        json!(["PlanChangeSet", "DiscardUnsafeChangeSet"])
    );
    assert!(body["cause"].as_str().unwrap().contains("Topic"));

    // Another caller's execution does not exist for this one, even under its exact name.
    let others = mock!(Sfn::describe_execution).then_output(|| {
        DescribeExecutionOutput::builder()
            .execution_arn("arn")
            .state_machine_arn(DEPLOY)
            .status(ExecutionStatus::Succeeded)
            .start_date(aws_smithy_types::DateTime::from_secs(0))
            .input(r#"{"stackName":"app","requestedBy":"apiKey:someone-else"}"#)
            .build()
            .unwrap()
    });
    let clients = self::clients(&[&others], &[]);
    let (status, body, _) = call(
        &clients,
        request("GET", "/executions/deploy-k1", None, None),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    let unknown = mock!(Sfn::describe_execution).then_error(|| {
        DescribeExecutionError::ExecutionDoesNotExist(
            aws_sdk_sfn::types::error::ExecutionDoesNotExist::builder().build(),
        )
    });
    let clients = self::clients(&[&unknown], &[]);
    assert_eq!(
        call(
            &clients,
            request("GET", "/executions/deploy-nope", None, None)
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(&clients, request("GET", "/executions/other-1", None, None))
            .await
            .0,
        404
    );
}
