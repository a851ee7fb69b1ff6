//! Runs a CodePipeline job against the local stack the way CodePipeline does: invoke the trigger with
//! the job event, and while the recorded answer carries a continuation token, invoke it again with
//! that token; stop at the final answer.

use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};

use crate::demo::{revision_zip, zip_of, ARTIFACT_BUCKET, TEMPLATE_PATH};
use crate::http::{call, invoke};
use crate::{BoxError, LocalClients};

pub const TRIGGER: &str = "pipeline-trigger";

/// A job's answers as recorded by the front door.
/// A new CodePipeline job id, shaped as CodePipeline's (a UUID): a job is answered once, so each
/// run of a sample job needs its own.
pub fn fresh_job_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        now.as_secs() as u32,
        now.subsec_nanos()
    )
}

pub async fn job(endpoint: &str, job_id: &str) -> Result<Option<Value>, BoxError> {
    let (status, body) = call(
        Method::GET,
        &format!("{endpoint}/_local/codepipeline/jobs/{job_id}"),
        None,
    )
    .await?;
    match status {
        200 => Ok(Some(serde_json::from_slice(&body)?)),
        404 => Ok(None),
        other => Err(format!("job ledger answered HTTP {other}").into()),
    }
}

/// Invokes the trigger until the job has a final answer; returns the job's record.
pub async fn run_job(
    endpoint: &str,
    mut event: Value,
    interval: Duration,
    timeout: Duration,
) -> Result<Value, BoxError> {
    let job_id = event["CodePipeline.job"]["id"]
        .as_str()
        .ok_or("the job event has no CodePipeline.job.id")?
        .to_string();
    let started = Instant::now();
    loop {
        let (status, body) = invoke(endpoint, TRIGGER, &event).await?;
        if status != 200 {
            return Err(format!(
                "invoking {TRIGGER} failed: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            )
            .into());
        }
        let record = job(endpoint, &job_id)
            .await?
            .ok_or("the trigger did not answer the job")?;
        let last = record["answers"]
            .as_array()
            .and_then(|a| a.last())
            .cloned()
            .unwrap_or_default();
        println!(
            "   {TRIGGER} -> {} {}",
            last["result"].as_str().unwrap_or("?"),
            if last.get("continuationToken").is_some() {
                "(continue)"
            } else {
                "(final)"
            }
        );
        match last.get("continuationToken").and_then(Value::as_str) {
            Some(token) if record["status"] == "InProgress" => {
                event["CodePipeline.job"]["data"]["continuationToken"] = json!(token);
            }
            _ => return Ok(record),
        }
        if started.elapsed() > timeout {
            return Err(format!("job {job_id} not answered finally within {timeout:?}").into());
        }
        tokio::time::sleep(interval).await;
    }
}

/// A job event as CodePipeline sends it: the input file in UserParameters, the revision as the first
/// input artifact, and (fake) artifact credentials that must never be logged.
pub fn job_event(job_id: &str, user_parameters: &Value, revision_key: &str) -> Value {
    json!({
        "CodePipeline.job": {
            "id": job_id,
            "accountId": crate::template::ACCOUNT,
            "data": {
                "actionConfiguration": {"configuration": {"FunctionName": TRIGGER, "UserParameters": user_parameters.to_string()}},
                "inputArtifacts": [{"name": "SourceOutput", "revision": null,
                    "location": {"type": "S3", "s3Location": {"bucketName": ARTIFACT_BUCKET, "objectKey": revision_key}}}],
                "outputArtifacts": [],
                "artifactCredentials": {"accessKeyId": "AKIALOCALEXAMPLE", "secretAccessKey": "local-secret-never-logged", "sessionToken": "local-session-never-logged"}
            }
        }
    })
}

/// Uploads what a job event refers to: the revision (from a template) at its input artifact, and
/// the input file named by its UserParameters.
pub async fn prepare(
    clients: &LocalClients,
    event: &Value,
    template: &str,
    environment: &str,
    stack: &str,
) -> Result<(), BoxError> {
    let data = &event["CodePipeline.job"]["data"];
    let location = &data["inputArtifacts"][0]["location"]["s3Location"];
    let (bucket, key) = (
        location["bucketName"]
            .as_str()
            .ok_or("no input artifact bucket")?,
        location["objectKey"]
            .as_str()
            .ok_or("no input artifact key")?,
    );
    let parameters: Value = serde_json::from_str(
        data["actionConfiguration"]["configuration"]["UserParameters"]
            .as_str()
            .unwrap_or("{}"),
    )?;
    let revision = match parameters["releaseManifest"].as_str() {
        Some(path) => {
            let manifest = release_manifest(environment, stack).to_string();
            zip_of(&[
                (TEMPLATE_PATH, template.as_bytes()),
                (path, manifest.as_bytes()),
            ])?
        }
        None => revision_zip(template)?,
    };
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(revision.into())
        .send()
        .await?;
    if let (Some(bucket), Some(file)) = (
        parameters["s3Bucket"].as_str(),
        parameters["stateMachineFile"].as_str(),
    ) {
        let input = json!({"environmentName": environment, "stackName": stack, "templatePath": TEMPLATE_PATH});
        clients
            .s3
            .put_object()
            .bucket(bucket)
            .key(file)
            .body(input.to_string().into_bytes().into())
            .send()
            .await?;
    }
    Ok(())
}

/// The release a job's manifest asks for: `<stack>-network`, then `<stack>-web` after it, both
/// from the template in the job's revision.
pub fn release_manifest(environment: &str, stack: &str) -> Value {
    let (network, web) = (format!("{stack}-network"), format!("{stack}-web"));
    json!({"environmentName": environment, "release": format!("{stack}-release"), "stacks": [
        {"stackName": network, "templatePath": TEMPLATE_PATH},
        {"stackName": web, "templatePath": TEMPLATE_PATH, "dependsOn": [network]}
    ]})
}
