//! pipeline-trigger's tests: the later calls, which follow the execution and answer the job once.

use super::*;

#[tokio::test]
async fn a_running_execution_continues_with_the_same_token() {
    let describe = mock!(Sfn::describe_execution)
        .match_requests(|r| r.execution_arn() == Some(EXECUTION))
        .then_output(|| described(ExecutionStatus::Running, None, None, None));
    let answer = success_with_token_rule();
    let out = later_call(&describe, &answer).await;
    assert_eq!(out["answer"], "CONTINUE");
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn a_throttled_status_check_continues_instead_of_failing_the_job() {
    let describe = mock!(Sfn::describe_execution).then_error(|| {
        DescribeExecutionError::generic(
            aws_sdk_sfn::error::ErrorMetadata::builder()
                .code("ThrottlingException")
                .build(),
        )
    });
    let answer = success_with_token_rule();
    let mut clients = clients(Mocks {
        sfn: vec![&describe],
        s3: vec![],
        codepipeline: vec![&answer],
    });
    clients.sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&describe], |c| c
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled()));
    let out = pipeline_trigger::handle(&clients, job_event(S3_PARAMETERS, Some(&token())))
        .await
        .unwrap();
    assert_eq!(out["answer"], "CONTINUE");
}

#[tokio::test]
async fn a_succeeded_execution_ends_the_job_with_output_variables() {
    let output = r#"{"outcome":"UPDATED","stackName":"prod-app","stackId":"arn:stack","outputs":{"Url":"https://app"}}"#;
    let describe = mock!(Sfn::describe_execution)
        .then_output(move || described(ExecutionStatus::Succeeded, None, None, Some(output)));
    let answer = mock!(CodePipeline::put_job_success_result)
        .match_requests(|r| {
            let vars = r.output_variables().cloned().unwrap_or_default();
            r.continuation_token().is_none()
                && vars.get("outcome").map(String::as_str) == Some("UPDATED")
                && vars.get("Url").map(String::as_str) == Some("https://app")
                && r.execution_details()
                    .and_then(|d| d.summary())
                    .is_some_and(|s| s.contains("prod-app"))
        })
        .then_output(|| PutJobSuccessResultOutput::builder().build());
    let clients = clients(Mocks {
        sfn: vec![&describe],
        s3: vec![],
        codepipeline: vec![&answer],
    });
    let capture = stackgate::metrics::Capture::start();
    let out = pipeline_trigger::handle(&clients, job_event(S3_PARAMETERS, Some(&token())))
        .await
        .unwrap();
    assert_eq!(out["answer"], "SUCCEEDED");
    assert_eq!(
        capture.summaries(),
        ["PipelineJobsAnswered Answer=SUCCEEDED"]
    );
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn every_failed_end_fails_the_job_saying_why() {
    let cause = r#"{"errorType":"UnsafeChangeSet","errorMessage":"Refused change set: - EventsTopic (AWS::SNS::Topic)"}"#;
    for status in [
        ExecutionStatus::Failed,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Aborted,
    ] {
        let expected_status: &'static str = Box::leak(status.as_str().to_string().into_boxed_str());
        let describe = mock!(Sfn::describe_execution).then_output(move || {
            described(status.clone(), Some("UnsafeChangeSet"), Some(cause), None)
        });
        let answer = mock!(CodePipeline::put_job_failure_result)
            .match_requests(move |r| {
                let details = r.failure_details().unwrap();
                details.message().contains(expected_status)
                    && details
                        .message()
                        .contains("- EventsTopic (AWS::SNS::Topic)")
                    && details.external_execution_id() == Some(EXECUTION)
            })
            .then_output(|| PutJobFailureResultOutput::builder().build());
        let out = later_call(&describe, &answer).await;
        assert_eq!(out["answer"], "FAILED", "{expected_status}");
        assert_eq!(answer.num_calls(), 1, "{expected_status}");
    }
}

#[tokio::test]
async fn a_job_that_cannot_be_answered_is_an_error_so_that_lambda_retries_it() {
    let start = start_rule();
    let get = input_file_rule();
    let broken = mock!(CodePipeline::put_job_success_result).then_error(|| {
        aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultError::generic(
            aws_sdk_codepipeline::error::ErrorMetadata::builder()
                .code("InternalError")
                .build(),
        )
    });
    let fail_too = mock!(CodePipeline::put_job_failure_result).then_error(|| {
        PutJobFailureResultError::generic(
            aws_sdk_codepipeline::error::ErrorMetadata::builder()
                .code("InternalError")
                .build(),
        )
    });
    let clients = clients(Mocks {
        sfn: vec![&start],
        s3: vec![&get],
        codepipeline: vec![&broken, &fail_too],
    });
    assert!(
        pipeline_trigger::handle(&clients, job_event(S3_PARAMETERS, None))
            .await
            .is_err()
    );
}

/// Every first call (input file found / missing / S3 failing x StartExecution starting / finding
/// it started / failing / denied) and every continuation (each execution status, DescribeExecution
/// failing or finding nothing): the job gets exactly one answer, success or failure.
#[tokio::test]
async fn every_job_is_answered_exactly_once() {
    #[derive(Debug, Clone, Copy)]
    enum S3Is {
        Found,
        Missing,
        Failing,
    }
    #[derive(Debug, Clone, Copy)]
    enum StartIs {
        Started,
        AlreadyStarted,
        Failing,
        Denied,
    }
    let sfn_error = |code: &'static str| {
        aws_sdk_sfn::error::ErrorMetadata::builder()
            .code(code)
            .message(code)
            .build()
    };
    let mut cases = 0;
    let answer = |success: &Rule, failure: &Rule, case: String| {
        assert_eq!(
            success.num_calls() + failure.num_calls(),
            1,
            "{case}: answered {} times with success, {} with failure",
            success.num_calls(),
            failure.num_calls()
        );
    };
    for s3_is in [S3Is::Found, S3Is::Missing, S3Is::Failing] {
        for start_is in [
            StartIs::Started,
            StartIs::AlreadyStarted,
            StartIs::Failing,
            StartIs::Denied,
        ] {
            let get = match s3_is {
                S3Is::Found => input_file_rule(),
                S3Is::Missing => mock!(S3::get_object).then_error(|| {
                    GetObjectError::NoSuchKey(
                        aws_sdk_s3::types::error::NoSuchKey::builder().build(),
                    )
                }),
                S3Is::Failing => mock!(S3::get_object).then_http_response(http_500()),
            };
            let start = match start_is {
                StartIs::Started => mock!(Sfn::start_execution).then_output(|| {
                    StartExecutionOutput::builder()
                        .execution_arn(EXECUTION)
                        .start_date(aws_smithy_types::DateTime::from_secs(0))
                        .build()
                        .unwrap()
                }),
                StartIs::AlreadyStarted => mock!(Sfn::start_execution).then_error(|| {
                    StartExecutionError::ExecutionAlreadyExists(
                        aws_sdk_sfn::types::error::ExecutionAlreadyExists::builder().build(),
                    )
                }),
                StartIs::Failing => mock!(Sfn::start_execution).then_http_response(http_500()),
                StartIs::Denied => mock!(Sfn::start_execution).then_error(move || {
                    StartExecutionError::generic(sfn_error("AccessDeniedException"))
                }),
            };
            let success = mock!(CodePipeline::put_job_success_result)
                .then_output(|| PutJobSuccessResultOutput::builder().build());
            let failure = mock!(CodePipeline::put_job_failure_result)
                .then_output(|| PutJobFailureResultOutput::builder().build());
            let clients = clients(Mocks {
                sfn: vec![&start],
                s3: vec![&get],
                codepipeline: vec![&success, &failure],
            });
            let result = pipeline_trigger::handle(&clients, job_event(S3_PARAMETERS, None)).await;
            let case = format!("first call, S3 {s3_is:?}, StartExecution {start_is:?}");
            assert!(result.is_ok(), "{case}: {result:?}");
            answer(&success, &failure, case);
            cases += 1;
        }
    }
    for status in [
        Some(ExecutionStatus::Running),
        Some(ExecutionStatus::Succeeded),
        Some(ExecutionStatus::Failed),
        Some(ExecutionStatus::TimedOut),
        Some(ExecutionStatus::Aborted),
        None,
    ] {
        for describe_fails in [false, true] {
            let describe = match (status.clone(), describe_fails) {
                (_, true) => mock!(Sfn::describe_execution).then_http_response(http_500()),
                (Some(status), false) => mock!(Sfn::describe_execution).then_output(move || {
                    described(status.clone(), Some("Boom"), Some("it failed"), Some("{}"))
                }),
                (None, false) => mock!(Sfn::describe_execution).then_error(|| {
                    DescribeExecutionError::ExecutionDoesNotExist(
                        aws_sdk_sfn::types::error::ExecutionDoesNotExist::builder().build(),
                    )
                }),
            };
            let success = mock!(CodePipeline::put_job_success_result)
                .then_output(|| PutJobSuccessResultOutput::builder().build());
            let failure = mock!(CodePipeline::put_job_failure_result)
                .then_output(|| PutJobFailureResultOutput::builder().build());
            let clients = clients(Mocks {
                sfn: vec![&describe],
                s3: vec![],
                codepipeline: vec![&success, &failure],
            });
            let result =
                pipeline_trigger::handle(&clients, job_event(S3_PARAMETERS, Some(&token()))).await;
            let case =
                format!("continuation, execution {status:?}, describe failing {describe_fails}");
            assert!(result.is_ok(), "{case}: {result:?}");
            answer(&success, &failure, case);
            cases += 1;
        }
    }
    common::report(
        "guarantees",
        "pipeline-answered-once",
        json!({"guarantee": "a pipeline job is always answered exactly once",
               "test": "pipeline_trigger::every_job_is_answered_exactly_once", "cases": cases}),
    );
}
