//! `pipeline-trigger`: the CodePipeline Invoke action. The first call starts the safe-deploy
//! execution (named after the job, so a retry never starts a second one) and answers with a
//! continuation token; later calls answer from the execution's status. Every job is answered:
//! problems of its own become a job failure that says what is wrong.
//!
//! The job event carries `artifactCredentials`: it is never logged, only the job id and execution ARN.

use aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;

use crate::aws::{codepipeline, s3, sfn};
use crate::metrics::{self, names, Metric};
use crate::pipeline::{self, ContinuationToken, InputSource, JobAnswer};
use crate::TaskError;

/// What the trigger needs, read once per process.
#[derive(Debug, Clone)]
pub struct Deps {
    pub sfn: aws_sdk_sfn::Client,
    pub s3: aws_sdk_s3::Client,
    pub codepipeline: aws_sdk_codepipeline::Client,
    /// `STATE_MACHINE_ARN`: the safe-deploy workflow.
    pub state_machine_arn: String,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        let state_machine_arn = crate::config::required_env("STATE_MACHINE_ARN")?;
        let config = crate::aws::sdk::sdk_config();
        Ok(Deps {
            sfn: aws_sdk_sfn::Client::new(&config),
            s3: crate::aws::s3_client(&config),
            codepipeline: aws_sdk_codepipeline::Client::new(&config),
            state_machine_arn,
        })
    }
}

/// The largest input file read from S3.
const MAX_INPUT_FILE: u64 = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Answered {
    Started,
    Continue,
    Succeeded,
    Failed,
}

impl Answered {
    /// Its name in metrics (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Answered::Started => "STARTED",
            Answered::Continue => "CONTINUE",
            Answered::Succeeded => "SUCCEEDED",
            Answered::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub job_id: String,
    pub answer: Answered,
    pub execution_arn: Option<String>,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let job_id = event
        .payload
        .pointer("/CodePipeline.job/id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            TaskError::invalid(
                "CodePipeline.job.id",
                "missing: this is not a CodePipeline job event",
            )
        })?;
    let result = match serde_json::from_value::<CodePipelineJobEvent>(event.payload) {
        Ok(job) => process(deps, &job_id, &job).await,
        Err(e) => Err(TaskError::invalid(
            "CodePipeline.job",
            format!(
                "malformed job event: {}",
                crate::error::redact_values(&e.to_string())
            ),
        )),
    };
    let output = match result {
        Ok(output) => output,
        Err(error) => {
            // The job is answered, so the invocation succeeds: CodePipeline must not retry it.
            tracing::warn!(job_id = %job_id, error_type = error.error_type(), "job failed before its execution could be followed");
            codepipeline::put_job_failure(
                &deps.codepipeline,
                &job_id,
                &pipeline::truncate(&error.to_string(), pipeline::MAX_FAILURE_MESSAGE),
                None,
            )
            .await?;
            Output {
                job_id,
                answer: Answered::Failed,
                execution_arn: None,
            }
        }
    };
    metrics::emit(
        Metric::count(names::PIPELINE_JOBS_ANSWERED).with("Answer", output.answer.as_str()),
    );
    serde_json::to_value(&output).map_err(|e| TaskError::invalid("$", e.to_string()))
}

async fn process(
    deps: &Deps,
    job_id: &str,
    job: &CodePipelineJobEvent,
) -> Result<Output, TaskError> {
    let data = &job.code_pipeline_job.data;
    match data.continuation_token.as_deref().filter(|t| !t.is_empty()) {
        None => start(deps, job_id, job).await,
        Some(token) => follow(deps, job_id, &ContinuationToken::decode(token)?).await,
    }
}

async fn workflow_input(
    deps: &Deps,
    job_id: &str,
    job: &CodePipelineJobEvent,
) -> Result<String, TaskError> {
    let data = &job.code_pipeline_job.data;
    let source = pipeline::parse_user_parameters(
        data.action_configuration
            .configuration
            .user_parameters
            .as_deref(),
    )?;
    let input = match source {
        InputSource::Inline(input) => input,
        InputSource::S3File { bucket, key } => {
            let bytes = s3::get_object(&deps.s3, &bucket, &key, MAX_INPUT_FILE)
                .await
                .map_err(|e| match e {
                    TaskError::InvalidTemplate(message) => {
                        TaskError::invalid("UserParameters.stateMachineFile", message)
                    }
                    other => other,
                })?;
            pipeline::parse_input_file(&bytes, &bucket, &key)?
        }
    };
    let artifact = data.input_artifacts.first().and_then(|a| {
        let location = &a.location.s3_location;
        Some((
            location.bucket_name.as_deref()?,
            location.object_key.as_deref()?,
        ))
    });
    pipeline::refuse_api_only_fields(&input)?;
    let mut input = pipeline::with_revision(input, artifact);
    // Who asked is the pipeline's job, whatever the input file says.
    input.insert(
        "requestedBy".into(),
        Value::String(format!("codepipeline job {job_id}")),
    );
    Ok(Value::Object(input).to_string())
}

async fn start(deps: &Deps, job_id: &str, job: &CodePipelineJobEvent) -> Result<Output, TaskError> {
    let input = workflow_input(deps, job_id, job).await?;
    let name = pipeline::execution_name(job_id);
    let execution_arn =
        sfn::start_execution(&deps.sfn, &deps.state_machine_arn, &name, &input).await?;
    let token = ContinuationToken {
        execution_arn: execution_arn.clone(),
    }
    .encode()?;
    codepipeline::put_job_success(
        &deps.codepipeline,
        job_id,
        Some(&token),
        &format!("started stackgate execution {name}"),
        Some(&execution_arn),
        &Default::default(),
    )
    .await?;
    tracing::info!(job_id, execution_arn = %execution_arn, "execution started");
    Ok(Output {
        job_id: job_id.to_string(),
        answer: Answered::Started,
        execution_arn: Some(execution_arn),
    })
}

async fn follow(deps: &Deps, job_id: &str, token: &ContinuationToken) -> Result<Output, TaskError> {
    let arn = token.execution_arn.as_str();
    let answer = match sfn::describe_execution(&deps.sfn, arn).await {
        Ok(state) => pipeline::answer(
            arn,
            &state.status,
            state.error.as_deref(),
            state.cause.as_deref(),
            state.output.as_deref(),
        ),
        // The execution goes on regardless; a monitoring blip is retried at the next call.
        Err(TaskError::AwsTransient { .. }) => JobAnswer::Continue,
        Err(error) => return Err(error),
    };
    let answered = match &answer {
        JobAnswer::Continue => {
            let token = token.encode()?;
            codepipeline::put_job_success(
                &deps.codepipeline,
                job_id,
                Some(&token),
                "stackgate execution running",
                Some(arn),
                &Default::default(),
            )
            .await?;
            Answered::Continue
        }
        JobAnswer::Succeed {
            summary,
            output_variables,
        } => {
            codepipeline::put_job_success(
                &deps.codepipeline,
                job_id,
                None,
                summary,
                Some(arn),
                output_variables,
            )
            .await?;
            Answered::Succeeded
        }
        JobAnswer::Fail { message } => {
            codepipeline::put_job_failure(&deps.codepipeline, job_id, message, Some(arn)).await?;
            Answered::Failed
        }
    };
    tracing::info!(job_id, execution_arn = arn, answer = ?answered, "job answered");
    Ok(Output {
        job_id: job_id.to_string(),
        answer: answered,
        execution_arn: Some(arn.to_string()),
    })
}
