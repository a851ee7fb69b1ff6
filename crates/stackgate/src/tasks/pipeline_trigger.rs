//! `pipeline-trigger`: the CodePipeline Invoke action. The first call starts the safe-deploy
//! execution, or the release workflow for a `releaseManifest` (named after the job, so a retry
//! never starts a second one), and answers with a continuation token; later calls answer from the
//! execution's status. Every job is answered: problems of its own become a job failure that says
//! what is wrong.
//!
//! The job event carries `artifactCredentials`: it is never logged, only the job id and execution ARN.

use aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;

use crate::api::releases::{checked_release, ReleaseRules};
use crate::aws::{codepipeline, s3, sfn};
use crate::destination::Targets;
use crate::guardrails::Guardrails;
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
    /// `PIPELINE_INPUT_BUCKET`: the only bucket input files (`stateMachineFile`) are read from;
    /// none: only inline input and release manifests.
    pub input_bucket: Option<String>,
    /// The release workflow and what a release is checked against; none: a job naming a
    /// `releaseManifest` is failed.
    pub releases: Option<Releases>,
}

/// What a job that starts a release needs: the same checks as `POST /releases`.
#[derive(Debug, Clone)]
pub struct Releases {
    /// `RELEASE_STATE_MACHINE_ARN`.
    pub state_machine_arn: String,
    pub guardrails: Guardrails,
    pub targets: Targets,
    pub home_region: String,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        let state_machine_arn = crate::config::required_env("STATE_MACHINE_ARN")?;
        let config = crate::aws::sdk::sdk_config();
        let releases = match crate::config::env_var("RELEASE_STATE_MACHINE_ARN") {
            Some(state_machine_arn) => Some(Releases {
                state_machine_arn,
                guardrails: crate::config::guardrails()?,
                targets: Targets::from_env(),
                home_region: crate::aws::region_of(&config),
            }),
            None => None,
        };
        Ok(Deps {
            sfn: aws_sdk_sfn::Client::new(&config),
            s3: crate::aws::s3_client(&config),
            codepipeline: aws_sdk_codepipeline::Client::new(&config),
            state_machine_arn,
            input_bucket: crate::config::env_var("PIPELINE_INPUT_BUCKET"),
            releases,
        })
    }
}

/// The largest input file (or release manifest) read.
const MAX_INPUT_FILE: u64 = 256 * 1024;
/// The largest source artifact a release manifest is read from: it is held in memory whole (the
/// function has 128 MB), and refused from its size before it is downloaded.
const MAX_ARTIFACT: u64 = 32 * 1024 * 1024;

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

/// What a job starts: a workflow, its execution's name (the same for every retry of the job) and
/// its input.
struct Start<'a> {
    state_machine_arn: &'a str,
    name: String,
    input: String,
}

async fn what_to_start<'a>(
    deps: &'a Deps,
    job_id: &str,
    job: &CodePipelineJobEvent,
) -> Result<Start<'a>, TaskError> {
    let data = &job.code_pipeline_job.data;
    let source = pipeline::parse_user_parameters(
        data.action_configuration
            .configuration
            .user_parameters
            .as_deref(),
    )?;
    let artifact = data.input_artifacts.first().and_then(|a| {
        let location = &a.location.s3_location;
        Some((
            location.bucket_name.as_deref()?,
            location.object_key.as_deref()?,
        ))
    });
    let input = match source {
        InputSource::Inline(input) => input,
        InputSource::S3File { bucket, key } => {
            // Read with stackgate's own role, which also reads the artifact bucket: only the
            // bucket the operator named for input files.
            if deps.input_bucket.as_deref() != Some(bucket.as_str()) {
                return Err(TaskError::invalid(
                    "UserParameters.s3Bucket",
                    "is not stackgate's pipeline input bucket (PipelineInputBucketName)",
                ));
            }
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
        InputSource::ReleaseManifest { path } => {
            return release(deps, job_id, artifact, &path).await;
        }
    };
    pipeline::refuse_api_only_fields(&input)?;
    let mut input = pipeline::with_revision(input, artifact);
    // Who asked is the pipeline's job, whatever the input file says.
    input.insert(
        "requestedBy".into(),
        Value::String(format!("codepipeline job {job_id}")),
    );
    Ok(Start {
        state_machine_arn: &deps.state_machine_arn,
        name: pipeline::execution_name(job_id),
        input: Value::Object(input).to_string(),
    })
}

/// A release from the manifest at `path` in the input artifact, checked as `POST /releases`
/// checks one before anything starts.
async fn release<'a>(
    deps: &'a Deps,
    job_id: &str,
    artifact: Option<(&str, &str)>,
    path: &str,
) -> Result<Start<'a>, TaskError> {
    const FIELD: &str = "UserParameters.releaseManifest";
    let releases = deps.releases.as_ref().ok_or_else(|| {
        TaskError::invalid(
            FIELD,
            "the release workflow is not deployed with this stackgate",
        )
    })?;
    let (bucket, key) = artifact.ok_or_else(|| {
        TaskError::invalid(FIELD, "the action has no input artifact to read it from")
    })?;
    // Read with stackgate's own role, as the plan step reads a revision: only from the bucket the
    // operator named.
    if releases.guardrails.artifact_bucket.as_deref() != Some(bucket) {
        return Err(TaskError::invalid(
            FIELD,
            "the input artifact is not in stackgate's artifact bucket (ArtifactBucketName)",
        ));
    }
    let as_field = |error: TaskError| match error {
        TaskError::InvalidTemplate(message) => TaskError::invalid(FIELD, message),
        other => other,
    };
    let archive = s3::get_object(&deps.s3, bucket, key, MAX_ARTIFACT)
        .await
        .map_err(as_field)?;
    let text = crate::template::file_from_zip(&archive, path, "releaseManifest", MAX_INPUT_FILE)
        .map_err(as_field)?;
    if text.len() as u64 > MAX_INPUT_FILE {
        return Err(TaskError::invalid(
            FIELD,
            format!("is larger than {MAX_INPUT_FILE} bytes"),
        ));
    }
    let manifest = pipeline::release_manifest(&text, (bucket, key), job_id)?;
    let name = pipeline::release_execution_name(job_id);
    let rules = ReleaseRules {
        guardrails: &releases.guardrails,
        targets: &releases.targets,
        home_region: &releases.home_region,
    };
    let valid = checked_release(manifest, &rules, &name, crate::approval::now())?;
    Ok(Start {
        state_machine_arn: &releases.state_machine_arn,
        name,
        input: valid.input.to_string(),
    })
}

async fn start(deps: &Deps, job_id: &str, job: &CodePipelineJobEvent) -> Result<Output, TaskError> {
    let Start {
        state_machine_arn,
        name,
        input,
    } = what_to_start(deps, job_id, job).await?;
    let execution_arn = sfn::start_execution(&deps.sfn, state_machine_arn, &name, &input).await?;
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
