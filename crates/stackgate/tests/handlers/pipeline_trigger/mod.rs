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

mod following;
mod releases;
mod starting;

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
        .then_output(started)
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

const RELEASE_PARAMETERS: &str = r#"{"releaseManifest":"releases/prod.json"}"#;

/// The input artifact: a zip holding the release manifest (and, as a real source would, the
/// templates its stacks name by `templatePath`).
fn artifact_rule(manifest: Value) -> Rule {
    let archive = crate::common::zip_of(&[
        ("releases/prod.json", &manifest.to_string()),
        ("infra/network.yaml", "Resources: {}"),
    ]);
    crate::common::s3_object("artifacts", "pipe/Source/rev.zip", archive)
}

/// StartExecution's answer: the execution started.
fn started() -> StartExecutionOutput {
    StartExecutionOutput::builder()
        .execution_arn(EXECUTION)
        .start_date(aws_smithy_types::DateTime::from_secs(0))
        .build()
        .unwrap()
}

/// A later call of the job (with its continuation token) against these mocks: the trigger's output.
async fn later_call(describe: &Rule, answer: &Rule) -> Value {
    let clients = clients(Mocks {
        sfn: vec![describe],
        s3: vec![],
        codepipeline: vec![answer],
    });
    pipeline_trigger::handle(&clients, job_event(S3_PARAMETERS, Some(&token())))
        .await
        .unwrap()
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
