//! pipeline-trigger's tests: the first call of a job, which starts the workflow (or fails the job, saying why).

use super::*;

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
        .then_output(started);
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
