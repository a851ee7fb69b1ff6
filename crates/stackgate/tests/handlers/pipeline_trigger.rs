//! The CodePipeline trigger against aws-smithy-mocks: first call, continuation, every end status,
//! idempotent retries, its own errors answered as job failures, and no secret in its logs.

use crate::common;
use aws_sdk_codepipeline::operation::put_job_failure_result::{
    PutJobFailureResultError, PutJobFailureResultOutput,
};
use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultOutput;
use aws_sdk_codepipeline::Client as CodePipeline;
use aws_sdk_s3::error::ErrorMetadata;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client as S3;
use aws_sdk_sfn::operation::describe_execution::{DescribeExecutionError, DescribeExecutionOutput};
use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
use aws_sdk_sfn::types::ExecutionStatus;
use aws_sdk_sfn::Client as Sfn;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use stackgate::tasks::pipeline_trigger;
use stackgate::tasks::pipeline_trigger::Deps;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:SafeDeploy";
const RELEASE_MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Release";
const JOB: &str = "11111111-abcd-1111-abcd-111111abcdef";
const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:SafeDeploy:pipeline-11111111-abcd-1111-abcd-111111abcdef";
const SECRET: &str = "wJalrXUtnFEMI-secret-access-key";
const SESSION: &str = "FwoGZXIvYXdzEJr-session-token";

struct Mocks<'a> {
    sfn: Vec<&'a Rule>,
    s3: Vec<&'a Rule>,
    codepipeline: Vec<&'a Rule>,
}

/// The functions' retry policy with a backoff short enough for tests.
fn retry() -> aws_sdk_sfn::config::retry::RetryConfig {
    stackgate::aws::sdk::retry_config().with_initial_backoff(std::time::Duration::from_millis(1))
}

fn clients(mocks: Mocks<'_>) -> Deps {
    Deps {
        sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, mocks.sfn.as_slice(), |c| c
            .retry_config(retry())),
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, mocks.s3.as_slice(), |c| c
            .retry_config(retry())),
        codepipeline: mock_client!(
            aws_sdk_codepipeline,
            RuleMode::MatchAny,
            mocks.codepipeline.as_slice(),
            |c| c.retry_config(retry())
        ),
        state_machine_arn: MACHINE.into(),
        input_bucket: Some("inputs".into()),
        releases: Some(pipeline_trigger::Releases {
            state_machine_arn: RELEASE_MACHINE.into(),
            guardrails: stackgate::guardrails::Guardrails::new(
                vec!["prod".into()],
                vec!["templates".into()],
                Some("artifacts".into()),
                vec![],
                vec![],
            )
            .unwrap(),
            targets: stackgate::destination::Targets {
                accounts: vec!["222222222222".into()],
                regions: vec!["eu-west-1".into()],
            },
            home_region: "us-east-1".into(),
        }),
    }
}

fn job_event(user_parameters: &str, continuation: Option<&str>) -> LambdaEvent<Value> {
    let mut data = json!({
        "actionConfiguration": {"configuration": {"FunctionName": "pipeline-trigger", "UserParameters": user_parameters}},
        "inputArtifacts": [{"name": "SourceOutput", "revision": null,
            "location": {"type": "S3", "s3Location": {"bucketName": "artifacts", "objectKey": "pipe/Source/rev.zip"}}}],
        "outputArtifacts": [],
        "artifactCredentials": {"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": SECRET, "sessionToken": SESSION}
    });
    if let Some(token) = continuation {
        data["continuationToken"] = json!(token);
    }
    let payload =
        json!({"CodePipeline.job": {"id": JOB, "accountId": "123456789012", "data": data}});
    LambdaEvent::new(payload, Context::default())
}

const S3_PARAMETERS: &str = r#"{"s3Bucket":"inputs","stateMachineFile":"prod/input.json"}"#;

fn token() -> String {
    json!({"executionArn": EXECUTION}).to_string()
}

fn input_file_rule() -> Rule {
    mock!(S3::get_object)
        .match_requests(|r| r.bucket() == Some("inputs") && r.key() == Some("prod/input.json"))
        .then_output(|| {
            GetObjectOutput::builder()
                .body(ByteStream::from_static(
                    br#"{"environmentName":"prod","stackName":"app","templatePath":"infra/app.yaml"}"#,
                ))
                .build()
        })
}

fn start_rule() -> Rule {
    mock!(Sfn::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap_or("{}")).unwrap();
            r.name() == Some("pipeline-11111111-abcd-1111-abcd-111111abcdef")
                && r.state_machine_arn() == Some(MACHINE)
                && input["revisionS3Bucket"] == "artifacts"
                && input["revisionS3Key"] == "pipe/Source/rev.zip"
                && input["stackName"] == "app"
        })
        .then_output(|| {
            StartExecutionOutput::builder()
                .execution_arn(EXECUTION)
                .start_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        })
}

fn success_with_token_rule() -> Rule {
    mock!(CodePipeline::put_job_success_result)
        .match_requests(|r| {
            r.job_id() == Some(JOB)
                && r.continuation_token() == Some(token().as_str())
                && r.output_variables().is_none()
                && r.execution_details()
                    .and_then(|d| d.external_execution_id())
                    == Some(EXECUTION)
        })
        .then_output(|| PutJobSuccessResultOutput::builder().build())
}

fn failure_rule(expect: &'static [&'static str]) -> Rule {
    mock!(CodePipeline::put_job_failure_result)
        .match_requests(move |r| {
            let message = r.failure_details().map(|d| d.message()).unwrap_or_default();
            r.job_id() == Some(JOB) && expect.iter().all(|e| message.contains(e))
        })
        .then_output(|| PutJobFailureResultOutput::builder().build())
}

fn described(
    status: ExecutionStatus,
    error: Option<&str>,
    cause: Option<&str>,
    output: Option<&str>,
) -> DescribeExecutionOutput {
    DescribeExecutionOutput::builder()
        .execution_arn(EXECUTION)
        .state_machine_arn(MACHINE)
        .status(status)
        .start_date(aws_smithy_types::DateTime::from_secs(0))
        .set_error(error.map(str::to_string))
        .set_cause(cause.map(str::to_string))
        .set_output(output.map(str::to_string))
        .build()
        .unwrap()
}

#[tokio::test]
async fn first_call_starts_the_execution_named_after_the_job_and_continues() {
    let (get, start, answer) = (input_file_rule(), start_rule(), success_with_token_rule());
    let clients = clients(Mocks {
        sfn: vec![&start],
        s3: vec![&get],
        codepipeline: vec![&answer],
    });
    let capture = stackgate::metrics::Capture::start();
    let out = pipeline_trigger::handle(&clients, job_event(S3_PARAMETERS, None))
        .await
        .unwrap();
    assert_eq!(out["answer"], "STARTED");
    assert_eq!(capture.summaries(), ["PipelineJobsAnswered Answer=STARTED"]);
    assert_eq!(out["executionArn"], EXECUTION);
    assert_eq!((start.num_calls(), answer.num_calls()), (1, 1));
}

#[tokio::test]
async fn inline_input_is_used_as_given() {
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap_or("{}")).unwrap();
            input["templateUrl"] == "https://b.s3.amazonaws.com/t.yaml"
                && input.get("revisionS3Bucket").is_none()
        })
        .then_output(|| {
            StartExecutionOutput::builder()
                .execution_arn(EXECUTION)
                .start_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        });
    let answer = success_with_token_rule();
    let clients = clients(Mocks {
        sfn: vec![&start],
        s3: vec![],
        codepipeline: vec![&answer],
    });
    let parameters = r#"{"input":{"environmentName":"prod","stackName":"app","templateUrl":"https://b.s3.amazonaws.com/t.yaml"}}"#;
    let out = pipeline_trigger::handle(&clients, job_event(parameters, None))
        .await
        .unwrap();
    assert_eq!(out["answer"], "STARTED");
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn a_retried_first_call_finds_the_execution_it_already_started() {
    let get = input_file_rule();
    let exists = mock!(Sfn::start_execution).then_error(|| {
        StartExecutionError::ExecutionAlreadyExists(
            aws_sdk_sfn::types::error::ExecutionAlreadyExists::builder().build(),
        )
    });
    let answer = success_with_token_rule();
    let clients = clients(Mocks {
        sfn: vec![&exists],
        s3: vec![&get],
        codepipeline: vec![&answer],
    });
    let out = pipeline_trigger::handle(&clients, job_event(S3_PARAMETERS, None))
        .await
        .unwrap();
    assert_eq!(out["executionArn"], EXECUTION);
    assert_eq!(
        answer.num_calls(),
        1,
        "answered with the existing execution's token"
    );
    common::report(
        "guarantees",
        "pipeline-retries",
        json!({"guarantee": "duplicate deliveries start no duplicate execution: CodePipeline retries (execution named after the job)",
               "test": "pipeline_trigger::a_retried_first_call_finds_the_execution_it_already_started"}),
    );
}

#[tokio::test]
async fn a_running_execution_continues_with_the_same_token() {
    let describe = mock!(Sfn::describe_execution)
        .match_requests(|r| r.execution_arn() == Some(EXECUTION))
        .then_output(|| described(ExecutionStatus::Running, None, None, None));
    let answer = success_with_token_rule();
    let clients = clients(Mocks {
        sfn: vec![&describe],
        s3: vec![],
        codepipeline: vec![&answer],
    });
    let out = pipeline_trigger::handle(&clients, job_event(S3_PARAMETERS, Some(&token())))
        .await
        .unwrap();
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
        let clients = clients(Mocks {
            sfn: vec![&describe],
            s3: vec![],
            codepipeline: vec![&answer],
        });
        let out = pipeline_trigger::handle(&clients, job_event(S3_PARAMETERS, Some(&token())))
            .await
            .unwrap();
        assert_eq!(out["answer"], "FAILED", "{expected_status}");
        assert_eq!(answer.num_calls(), 1, "{expected_status}");
    }
}

#[tokio::test]
async fn bad_user_parameters_fail_the_job_without_starting_anything() {
    let start = start_rule();
    let cases: [(&str, &'static [&'static str]); 4] = [
        ("not json", &["UserParameters", "not valid JSON"]),
        (
            r#"{"s3Bucket":"artifacts","stateMachineFile":"pipe/Source/rev.zip"}"#,
            &["UserParameters.s3Bucket", "PipelineInputBucketName"],
        ),
        (
            r#"{"s3Bucket":"inputs"}"#,
            &["UserParameters.stateMachineFile", "required"],
        ),
        ("", &["UserParameters", "empty"]),
    ];
    for (parameters, expect) in cases {
        let answer = failure_rule(expect);
        let clients = clients(Mocks {
            sfn: vec![&start],
            s3: vec![],
            codepipeline: vec![&answer],
        });
        let out = pipeline_trigger::handle(&clients, job_event(parameters, None))
            .await
            .unwrap();
        assert_eq!(out["answer"], "FAILED", "{parameters}");
        assert_eq!(answer.num_calls(), 1, "{parameters}: the job is answered");
    }
    assert_eq!(start.num_calls(), 0);
}

#[tokio::test]
async fn s3_problems_with_the_input_file_fail_the_job_clearly() {
    let missing = mock!(S3::get_object).then_error(|| {
        GetObjectError::NoSuchKey(aws_sdk_s3::types::error::NoSuchKey::builder().build())
    });
    let answer = failure_rule(&[
        "stateMachineFile",
        "s3://inputs/prod/input.json does not exist",
    ]);
    let clients_missing = clients(Mocks {
        sfn: vec![],
        s3: vec![&missing],
        codepipeline: vec![&answer],
    });
    pipeline_trigger::handle(&clients_missing, job_event(S3_PARAMETERS, None))
        .await
        .unwrap();
    assert_eq!(answer.num_calls(), 1);

    let denied = mock!(S3::get_object).then_error(|| {
        GetObjectError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("Access Denied")
                .build(),
        )
    });
    let answer = failure_rule(&["access denied in GetObject"]);
    let clients_denied = clients(Mocks {
        sfn: vec![],
        s3: vec![&denied],
        codepipeline: vec![&answer],
    });
    pipeline_trigger::handle(&clients_denied, job_event(S3_PARAMETERS, None))
        .await
        .unwrap();
    assert_eq!(answer.num_calls(), 1);

    let not_json = mock!(S3::get_object).then_output(|| {
        GetObjectOutput::builder()
            .body(ByteStream::from_static(b"{oops"))
            .build()
    });
    let answer = failure_rule(&["stateMachineFile", "not valid JSON"]);
    let clients_bad = clients(Mocks {
        sfn: vec![],
        s3: vec![&not_json],
        codepipeline: vec![&answer],
    });
    pipeline_trigger::handle(&clients_bad, job_event(S3_PARAMETERS, None))
        .await
        .unwrap();
    assert_eq!(answer.num_calls(), 1);
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

#[tokio::test]
async fn not_a_job_event_is_an_error_and_a_malformed_one_fails_the_job() {
    let clients = clients(Mocks {
        sfn: vec![],
        s3: vec![],
        codepipeline: vec![],
    });
    let err = pipeline_trigger::handle(
        &clients,
        LambdaEvent::new(json!({"hello": 1}), Context::default()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");

    let answer = failure_rule(&["malformed job event"]);
    let clients = self::clients(Mocks {
        sfn: vec![],
        s3: vec![],
        codepipeline: vec![&answer],
    });
    let malformed = json!({"CodePipeline.job": {"id": JOB, "data": {"inputArtifacts": 5}}});
    pipeline_trigger::handle(&clients, LambdaEvent::new(malformed, Context::default()))
        .await
        .unwrap();
    assert_eq!(answer.num_calls(), 1);
}

#[tokio::test]
async fn the_logs_name_the_job_and_execution_but_never_the_credentials() {
    let captured = common::CapturedLogs::start();

    let (get, start, answer) = (input_file_rule(), start_rule(), success_with_token_rule());
    let clients = clients(Mocks {
        sfn: vec![&start],
        s3: vec![&get],
        codepipeline: vec![&answer],
    });
    pipeline_trigger::handle(&clients, job_event(S3_PARAMETERS, None))
        .await
        .unwrap();
    // A failing path logs too.
    let answer = failure_rule(&["UserParameters"]);
    let clients = self::clients(Mocks {
        sfn: vec![],
        s3: vec![],
        codepipeline: vec![&answer],
    });
    pipeline_trigger::handle(&clients, job_event("nope", None))
        .await
        .unwrap();

    let logs = captured.text();
    assert!(logs.contains(JOB) && logs.contains(EXECUTION), "{logs}");
    for secret in [SECRET, SESSION, "artifactCredentials", "AKIAEXAMPLE"] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}

fn http_500<T>() -> impl Fn() -> T
where
    T: From<aws_sdk_sfn::config::http::HttpResponse>,
{
    || {
        aws_sdk_sfn::config::http::HttpResponse::new(
            500.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from("{}"),
        )
        .into()
    }
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

const RELEASE_PARAMETERS: &str = r#"{"releaseManifest":"releases/prod.json"}"#;

/// The input artifact: a zip holding the release manifest (and, as a real source would, the
/// templates its stacks name by `templatePath`).
fn artifact_rule(manifest: Value) -> Rule {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, text) in [
        ("releases/prod.json", manifest.to_string()),
        ("infra/network.yaml", "Resources: {}".to_string()),
    ] {
        writer
            .start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(text.as_bytes()).unwrap();
    }
    let archive = writer.finish().unwrap().into_inner();
    mock!(S3::get_object)
        .match_requests(|r| {
            r.bucket() == Some("artifacts") && r.key() == Some("pipe/Source/rev.zip")
        })
        .then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from(archive.clone()))
                .build()
        })
}

/// The release job's first call against these mocks: the trigger's output.
async fn first_release_call(get: &Rule, start: &Rule, answer: &Rule) -> Value {
    let clients = clients(Mocks {
        sfn: vec![start],
        s3: vec![get],
        codepipeline: vec![answer],
    });
    pipeline_trigger::handle(&clients, job_event(RELEASE_PARAMETERS, None))
        .await
        .unwrap()
}

fn manifest() -> Value {
    json!({"environmentName": "prod", "release": "r7", "requestedBy": "someone-else",
    "stacks": [
        {"stackName": "network", "templatePath": "infra/network.yaml"},
        {"stackName": "app", "templateS3Bucket": "templates", "templateS3Key": "app.yaml",
         "account": "222222222222", "region": "eu-west-1", "dependsOn": ["network"],
         "parameters": {"Size": "2"}}
    ]})
}

#[tokio::test]
async fn a_release_manifest_in_the_artifact_starts_the_release_workflow_named_after_the_job() {
    let get = artifact_rule(manifest());
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap_or("{}")).unwrap();
            let network = &input["stacks"][0]["plan"];
            r.state_machine_arn() == Some(RELEASE_MACHINE)
                && r.name() == Some("release-pipeline-11111111-abcd-1111-abcd-111111abcdef")
                && input["requestedBy"] == format!("codepipeline job {JOB}")
                && network["revisionS3Bucket"] == "artifacts"
                && network["revisionS3Key"] == "pipe/Source/rev.zip"
                && network["templatePath"] == "infra/network.yaml"
                && input["stacks"][1]["destination"]
                    == json!({"account": "222222222222", "region": "eu-west-1"})
                && input["waves"]
                    == json!([{"stacks": [0], "bakeSeconds": 0}, {"stacks": [1], "bakeSeconds": 0}])
        })
        .then_output(|| {
            StartExecutionOutput::builder()
                .execution_arn(EXECUTION)
                .start_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        });
    let answer = success_with_token_rule();
    let out = first_release_call(&get, &start, &answer).await;
    assert_eq!(out["answer"], "STARTED", "{out}");
    assert_eq!((start.num_calls(), answer.num_calls()), (1, 1));
}

/// A manifest is held to `POST /releases`' rules before anything starts: each error names its
/// path, and no value of the manifest is repeated in the job's failure.
#[tokio::test]
async fn a_bad_release_manifest_fails_the_job_naming_the_path_and_starts_nothing() {
    let start = start_rule();
    let with = |pointer: &str, value: Value| {
        let mut m = manifest();
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        m.pointer_mut(parent).unwrap()[field] = value;
        m
    };
    let cases: [(Value, &'static [&'static str]); 7] = [
        (
            with("/stacks/1/account", json!("333333333333")),
            &["stacks[1].account", "TargetAccounts"],
        ),
        (
            with("/stacks/0/dependsOn", json!(["app"])),
            &["stacks", "cycle"],
        ),
        (
            {
                let mut m = manifest();
                let again = m["stacks"][0].clone();
                m["stacks"].as_array_mut().unwrap().push(again);
                m
            },
            &["stacks[2].stackName"],
        ),
        (
            with("/stacks/1/templateS3Bucket", json!("hunter2-bucket")),
            &["stacks[1].templateS3Bucket"],
        ),
        (
            with("/stacks/0/templatePath", json!("../escape.yaml")),
            &["stacks[0].templatePath"],
        ),
        (
            with(
                "/stacks/1/revisionS3Key",
                json!("hunter2-pipeline/Source/old.zip"),
            ),
            &["stacks[1].revisionS3Key"],
        ),
        (
            with("/environmentName", json!("hunter2env")),
            &["environmentName"],
        ),
    ];
    for (manifest, expect) in cases {
        let get = artifact_rule(manifest.clone());
        let answer = mock!(CodePipeline::put_job_failure_result)
            .match_requests(move |r| {
                let message = r.failure_details().map(|d| d.message()).unwrap_or_default();
                expect.iter().all(|e| message.contains(e)) && !message.contains("hunter2")
            })
            .then_output(|| PutJobFailureResultOutput::builder().build());
        let out = first_release_call(&get, &start, &answer).await;
        assert_eq!(out["answer"], "FAILED", "{manifest}");
        assert_eq!(answer.num_calls(), 1, "{manifest}: {expect:?}");
    }
    assert_eq!(start.num_calls(), 0);
}

/// Where the manifest is, or is not: a path that escapes the artifact, a file it does not hold,
/// an artifact outside stackgate's artifact bucket, a manifest next to another input.
#[tokio::test]
async fn a_release_manifest_is_read_only_from_the_artifact_bucket_and_inside_the_artifact() {
    let start = start_rule();
    let cases: [(&str, &str, &'static [&'static str]); 4] = [
        (
            r#"{"releaseManifest":"../other/prod.json"}"#,
            "artifacts",
            &["UserParameters.releaseManifest", ".."],
        ),
        (
            r#"{"releaseManifest":"releases/dev.json"}"#,
            "artifacts",
            &["UserParameters.releaseManifest", "is not in"],
        ),
        (
            RELEASE_PARAMETERS,
            "someone-elses-bucket",
            &["UserParameters.releaseManifest", "ArtifactBucketName"],
        ),
        (
            r#"{"releaseManifest":"releases/prod.json","input":{}}"#,
            "artifacts",
            &["UserParameters", "alone"],
        ),
    ];
    for (parameters, bucket, expect) in cases {
        let get = artifact_rule(manifest());
        let answer = failure_rule(expect);
        let clients = clients(Mocks {
            sfn: vec![&start],
            s3: vec![&get],
            codepipeline: vec![&answer],
        });
        let mut event = job_event(parameters, None);
        event.payload["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]
            ["bucketName"] = json!(bucket);
        let out = pipeline_trigger::handle(&clients, event).await.unwrap();
        assert_eq!(out["answer"], "FAILED", "{parameters}");
        assert_eq!(answer.num_calls(), 1, "{parameters}: {expect:?}");
        if bucket != "artifacts" {
            assert_eq!(get.num_calls(), 0, "read from {bucket}");
        }
    }
    assert_eq!(start.num_calls(), 0);
}

#[tokio::test]
async fn a_released_release_ends_the_job_naming_the_release() {
    let describe = mock!(Sfn::describe_execution).then_output(|| {
        described(
            ExecutionStatus::Succeeded,
            None,
            None,
            Some(r#"{"outcome":"RELEASED","release":"r7","environmentName":"prod","requestedBy":"codepipeline job x"}"#),
        )
    });
    let answer = mock!(CodePipeline::put_job_success_result)
        .match_requests(|r| {
            let summary = r
                .execution_details()
                .and_then(|d| d.summary())
                .unwrap_or_default();
            let variables = r.output_variables().cloned().unwrap_or_default();
            summary.contains("stackgate RELEASED: release r7")
                && variables.get("release").map(String::as_str) == Some("r7")
                && variables.get("outcome").map(String::as_str) == Some("RELEASED")
        })
        .then_output(|| PutJobSuccessResultOutput::builder().build());
    let clients = clients(Mocks {
        sfn: vec![&describe],
        s3: vec![],
        codepipeline: vec![&answer],
    });
    let out = pipeline_trigger::handle(&clients, job_event(RELEASE_PARAMETERS, Some(&token())))
        .await
        .unwrap();
    assert_eq!(out["answer"], "SUCCEEDED", "{out}");
    assert_eq!(answer.num_calls(), 1);
}

/// A name no S3 object can have (the fuzz test found a key so long that the SDK panicked building
/// the request) fails the job without a call, and the name is not repeated.
#[tokio::test]
async fn an_object_name_s3_cannot_hold_fails_the_job_without_a_call() {
    let long = "k".repeat(70_000);
    let get = input_file_rule();
    let start = start_rule();
    for (parameters, artifact_key) in [
        (
            json!({"s3Bucket": "inputs", "stateMachineFile": long}).to_string(),
            "pipe/Source/rev.zip".to_string(),
        ),
        (RELEASE_PARAMETERS.to_string(), long.clone()),
    ] {
        let answer = mock!(CodePipeline::put_job_failure_result)
            .match_requests(|r| {
                let message = r.failure_details().map(|d| d.message()).unwrap_or_default();
                message.contains("names no S3 object") && !message.contains("kkkk")
            })
            .then_output(|| PutJobFailureResultOutput::builder().build());
        let clients = clients(Mocks {
            sfn: vec![&start],
            s3: vec![&get],
            codepipeline: vec![&answer],
        });
        let mut event = job_event(&parameters, None);
        event.payload["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]
            ["objectKey"] = json!(artifact_key);
        let out = pipeline_trigger::handle(&clients, event).await.unwrap();
        assert_eq!(out["answer"], "FAILED");
        assert_eq!(answer.num_calls(), 1);
    }
    assert_eq!((get.num_calls(), start.num_calls()), (0, 0));
}

/// The trigger holds the artifact in memory to read a manifest out of it: one larger than it can
/// hold is refused from its size, before its body is read, and the job is failed saying so.
#[tokio::test]
async fn an_artifact_too_large_to_hold_fails_the_job_before_it_is_downloaded() {
    let get = mock!(S3::get_object).then_output(|| {
        GetObjectOutput::builder()
            .content_length(300 * 1024 * 1024)
            .body(ByteStream::from_static(b""))
            .build()
    });
    let start = start_rule();
    let answer = failure_rule(&["UserParameters.releaseManifest", "limit"]);
    let out = first_release_call(&get, &start, &answer).await;
    assert_eq!(out["answer"], "FAILED", "{out}");
    assert_eq!((answer.num_calls(), start.num_calls()), (1, 0));
}
