//! The CodePipeline job protocol for the Invoke action: what to start (here), how to remember it
//! between calls and what to answer once the workflow has ended (`answer`).

use serde_json::{Map, Value};

use crate::TaskError;

mod answer;
pub use answer::*;

/// Step Functions' limit on an execution name.
const MAX_EXECUTION_NAME: usize = 80;

/// Where the workflow input comes from, per the action's `UserParameters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// A JSON file in S3 (the input file of the CodePipeline action).
    S3File { bucket: String, key: String },
    /// The input itself, inline.
    Inline(Map<String, Value>),
    /// A release manifest (`POST /releases`' body) at this path in the first input artifact: the
    /// job starts the release workflow.
    ReleaseManifest { path: String },
}

fn invalid(field: &str, message: impl Into<String>) -> TaskError {
    TaskError::invalid(format!("UserParameters.{field}"), message)
}

/// Reads `UserParameters`: `{"s3Bucket","stateMachineFile"}`, `{"input": {...}}` or
/// `{"releaseManifest": "path/in/the/artifact.json"}`.
pub fn parse_user_parameters(raw: Option<&str>) -> Result<InputSource, TaskError> {
    const EXPECTED: &str = r#"expected {"s3Bucket": "...", "stateMachineFile": "..."}, {"input": {...}} or {"releaseManifest": "..."}"#;
    let raw = raw
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| TaskError::invalid("UserParameters", format!("is empty; {EXPECTED}")))?;
    let value: Value = serde_json::from_str(raw).map_err(|e| {
        TaskError::invalid(
            "UserParameters",
            format!("{}; {EXPECTED}", crate::error::describe_json_error(&e)),
        )
    })?;
    let Value::Object(object) = value else {
        return Err(TaskError::invalid(
            "UserParameters",
            format!("is not a JSON object; {EXPECTED}"),
        ));
    };
    if let Some(unknown) = object.keys().find(|k| {
        !["s3Bucket", "stateMachineFile", "input", "releaseManifest"].contains(&k.as_str())
    }) {
        return Err(invalid(unknown, format!("unknown key; {EXPECTED}")));
    }
    if let Some(manifest) = object.get("releaseManifest") {
        if object.len() > 1 {
            return Err(TaskError::invalid(
                "UserParameters",
                "give releaseManifest alone: a release's stacks name their own templates",
            ));
        }
        let path = manifest
            .as_str()
            .ok_or_else(|| invalid("releaseManifest", "must be a path in the input artifact"))?;
        let path = crate::request::validate_archive_path("UserParameters.releaseManifest", path)?;
        return Ok(InputSource::ReleaseManifest { path });
    }
    match (
        object.get("input"),
        object.get("s3Bucket"),
        object.get("stateMachineFile"),
    ) {
        (Some(Value::Object(input)), None, None) => Ok(InputSource::Inline(input.clone())),
        (Some(_), None, None) => Err(invalid("input", "must be a JSON object")),
        (Some(_), _, _) => Err(TaskError::invalid(
            "UserParameters",
            "give either input or s3Bucket+stateMachineFile, not both",
        )),
        (None, bucket, file) => {
            let text = |field: &str, value: Option<&Value>| match value {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                Some(_) => Err(invalid(field, "must be a non-empty string")),
                None => Err(invalid(field, format!("is required; {EXPECTED}"))),
            };
            Ok(InputSource::S3File {
                bucket: text("s3Bucket", bucket)?,
                key: text("stateMachineFile", file)?,
            })
        }
    }
}

/// Parses the input file's text as a JSON object.
pub fn parse_input_file(
    text: &[u8],
    bucket: &str,
    key: &str,
) -> Result<Map<String, Value>, TaskError> {
    match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(TaskError::invalid(
            "stateMachineFile",
            format!("s3://{bucket}/{key} must hold a JSON object"),
        )),
        Err(e) => Err(TaskError::invalid(
            "stateMachineFile",
            format!(
                "s3://{bucket}/{key} {}",
                crate::error::describe_json_error(&e)
            ),
        )),
    }
}

/// A release manifest read from the input artifact, made the release's input: who asked is the
/// pipeline's job whatever the file says, and a stack naming a `templatePath` reads it from the
/// same artifact. `parse_release` and the release's checks come after.
pub fn release_manifest(
    text: &[u8],
    artifact: (&str, &str),
    job_id: &str,
) -> Result<Map<String, Value>, TaskError> {
    let mut manifest = match serde_json::from_slice::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(invalid("releaseManifest", "must hold a JSON object")),
        Err(e) => {
            return Err(invalid(
                "releaseManifest",
                crate::error::describe_json_error(&e),
            ))
        }
    };
    if let Some(Value::Array(stacks)) = manifest.get_mut("stacks") {
        for (i, stack) in stacks.iter_mut().enumerate() {
            let Value::Object(fields) = stack else {
                continue;
            };
            // Only the job's own source: a manifest anyone may commit must not name another
            // pipeline's artifact, or an older revision of its own, for stackgate to read.
            if let Some(field) = ["revisionS3Bucket", "revisionS3Key"]
                .into_iter()
                .find(|f| fields.contains_key(*f))
            {
                return Err(TaskError::invalid(
                    format!("stacks[{i}].{field}"),
                    "is set by the pipeline: a release's stack reads its templatePath from the job's own source",
                ));
            }
            *fields = with_revision(std::mem::take(fields), Some(artifact));
        }
    }
    manifest.insert(
        "requestedBy".into(),
        Value::String(format!("codepipeline job {job_id}")),
    );
    Ok(manifest)
}

/// Fields only the stacks API sets: whether an execution plans or applies a plan (`POST /plans`,
/// `POST /stacks {planId}`). From a pipeline's input file they could apply another caller's plan.
pub fn refuse_api_only_fields(input: &Map<String, Value>) -> Result<(), TaskError> {
    for field in [
        "planExpiresAt",
        "applyPlan",
        "releasePlan",
        "releaseApproval",
        "account",
        "region",
    ] {
        if input.contains_key(field) {
            return Err(TaskError::invalid(
                field,
                "is set by the stacks API's plan and release routes (a release's stacks), never by a pipeline",
            ));
        }
    }
    Ok(())
}

/// Adds the revision (the first input artifact) to an input that names a `templatePath` inside it;
/// an input that brings its own template source is left alone.
pub fn with_revision(
    mut input: Map<String, Value>,
    artifact: Option<(&str, &str)>,
) -> Map<String, Value> {
    let wants_revision = input.contains_key("templatePath")
        && !input.contains_key("revisionS3Bucket")
        && !input.contains_key("revisionS3Key");
    if let (true, Some((bucket, key))) = (wants_revision, artifact) {
        input.insert("revisionS3Bucket".into(), Value::String(bucket.into()));
        input.insert("revisionS3Key".into(), Value::String(key.into()));
    }
    input
}

/// The execution name for a job: the same job always maps to the same execution, so a retried
/// invocation can never start a second one.
pub fn execution_name(job_id: &str) -> String {
    named("pipeline", job_id)
}

/// The release execution for a job: a release id (`release-…`), the same for every retry.
pub fn release_execution_name(job_id: &str) -> String {
    named("release-pipeline", job_id)
}

fn named(prefix: &str, job_id: &str) -> String {
    let cleaned: String = job_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = format!("{prefix}-{cleaned}");
    if name.len() <= MAX_EXECUTION_NAME && cleaned == job_id {
        return name;
    }
    use sha2::{Digest, Sha256};
    let digest: String = Sha256::digest(job_id.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{prefix}-{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pipeline_can_neither_plan_nor_apply_a_plan() {
        // Nor send a stack to another account or Region, which only a release's stack may.
        for field in ["planExpiresAt", "applyPlan", "account", "region"] {
            let input = json!({"environmentName": "prod", "stackName": "app", field: "deploy-kx"});
            let error = refuse_api_only_fields(input.as_object().unwrap()).unwrap_err();
            assert!(
                matches!(&error, TaskError::InvalidInput { field: f, .. } if f == field),
                "{error}"
            );
            assert!(!error.to_string().contains("deploy-kx"));
        }
        let plain = json!({"environmentName": "prod", "stackName": "app"});
        assert!(refuse_api_only_fields(plain.as_object().unwrap()).is_ok());
    }

    #[test]
    fn user_parameters_in_both_forms() {
        assert_eq!(
            parse_user_parameters(Some(r#"{"s3Bucket":"b","stateMachineFile":"in.json"}"#))
                .unwrap(),
            InputSource::S3File {
                bucket: "b".into(),
                key: "in.json".into()
            }
        );
        let inline = parse_user_parameters(Some(r#"{"input":{"stackName":"a"}}"#)).unwrap();
        assert!(matches!(inline, InputSource::Inline(ref m) if m["stackName"] == "a"));
        assert_eq!(
            parse_user_parameters(Some(r#"{"releaseManifest":"./releases//prod.json"}"#)).unwrap(),
            InputSource::ReleaseManifest {
                path: "releases/prod.json".into()
            }
        );
    }

    #[test]
    fn a_release_manifest_is_asked_for_by_the_job_and_reads_its_templates_from_the_artifact() {
        let text = br#"{"environmentName":"prod","release":"r1","requestedBy":"mallory","stacks":[
            {"stackName":"a","templatePath":"infra/a.yaml"},
            {"stackName":"b","templateUrl":"https://templates.s3.amazonaws.com/b.yaml"}]}"#;
        let manifest = release_manifest(text, ("artifacts", "pipe/Source/rev"), "job-1").unwrap();
        assert_eq!(manifest["requestedBy"], "codepipeline job job-1");
        assert_eq!(manifest["stacks"][0]["revisionS3Bucket"], "artifacts");
        assert_eq!(manifest["stacks"][0]["revisionS3Key"], "pipe/Source/rev");
        assert!(manifest["stacks"][1].get("revisionS3Bucket").is_none());
        // Another artifact, or an older revision, is not the manifest's to name.
        let elsewhere = br#"{"stacks":[{"stackName":"a","templatePath":"t.yaml"},
            {"stackName":"b","templatePath":"t.yaml","revisionS3Key":"other-pipeline/Source/old"}]}"#;
        let error = release_manifest(elsewhere, ("artifacts", "k"), "job-1").unwrap_err();
        assert!(
            matches!(&error, TaskError::InvalidInput { field, .. } if field == "stacks[1].revisionS3Key"),
            "{error}"
        );
        assert!(!error.to_string().contains("other-pipeline"), "{error}");
        for bad in [&b"[1]"[..], b"{\"release\": hunter2"] {
            let error = release_manifest(bad, ("artifacts", "k"), "job-1").unwrap_err();
            assert!(
                matches!(&error, TaskError::InvalidInput { field, .. } if field == "UserParameters.releaseManifest"),
                "{error}"
            );
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
        // A release id, the same for every retry of the job, never the single deployment's name.
        let name = release_execution_name("11111111-abcd-1111-abcd-111111abcdef");
        assert!(crate::request::release::is_release_id(&name), "{name}");
        assert_eq!(
            name,
            release_execution_name("11111111-abcd-1111-abcd-111111abcdef")
        );
        assert_ne!(name, execution_name("11111111-abcd-1111-abcd-111111abcdef"));
        assert!(crate::request::release::is_release_id(
            &release_execution_name(&"j/".repeat(60))
        ));
    }

    #[test]
    fn bad_user_parameters_name_the_problem() {
        let cases = [
            (None, "UserParameters"),
            (Some("  "), "UserParameters"),
            (Some("{not json"), "UserParameters"),
            (Some("[1]"), "UserParameters"),
            (
                Some(r#"{"s3Bucket":"b"}"#),
                "UserParameters.stateMachineFile",
            ),
            (
                Some(r#"{"stateMachineFile":"f"}"#),
                "UserParameters.s3Bucket",
            ),
            (
                Some(r#"{"s3Bucket":3,"stateMachineFile":"f"}"#),
                "UserParameters.s3Bucket",
            ),
            (Some(r#"{"input":"x"}"#), "UserParameters.input"),
            (Some(r#"{"input":{},"s3Bucket":"b"}"#), "UserParameters"),
            (Some(r#"{"bucket":"b"}"#), "UserParameters.bucket"),
            (
                Some(r#"{"releaseManifest":"/etc/release.json"}"#),
                "UserParameters.releaseManifest",
            ),
            (
                Some(r#"{"releaseManifest":"a/../../b.json"}"#),
                "UserParameters.releaseManifest",
            ),
            (
                Some(r#"{"releaseManifest":7}"#),
                "UserParameters.releaseManifest",
            ),
            (
                Some(r#"{"releaseManifest":"r.json","input":{}}"#),
                "UserParameters",
            ),
        ];
        for (raw, field) in cases {
            match parse_user_parameters(raw) {
                Err(TaskError::InvalidInput { field: f, .. }) => assert_eq!(f, field, "{raw:?}"),
                other => panic!("{raw:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn revision_is_added_only_where_the_input_expects_one() {
        let artifact = Some(("artifacts", "pipe/Source/abc"));
        let seed: Map<String, Value> = json!({"stackName":"a","templatePath":"t.yaml"})
            .as_object()
            .unwrap()
            .clone();
        let with = with_revision(seed, artifact);
        assert_eq!(with["revisionS3Bucket"], "artifacts");
        assert_eq!(with["revisionS3Key"], "pipe/Source/abc");

        let url: Map<String, Value> = json!({"stackName":"a","templateUrl":"https://x"})
            .as_object()
            .unwrap()
            .clone();
        assert!(!with_revision(url, artifact).contains_key("revisionS3Bucket"));

        let explicit: Map<String, Value> =
            json!({"templatePath":"t","revisionS3Bucket":"mine","revisionS3Key":"k"})
                .as_object()
                .unwrap()
                .clone();
        assert_eq!(
            with_revision(explicit, artifact)["revisionS3Bucket"],
            "mine"
        );
    }

    #[test]
    fn execution_names_are_stable_and_valid() {
        let job = "11111111-2222-3333-4444-555555555555";
        assert_eq!(execution_name(job), format!("pipeline-{job}"));
        assert_eq!(execution_name(job), execution_name(job));
        let odd = execution_name(
            "job id/with:odd chars and a very long tail that goes on and on and on and on",
        );
        assert!(odd.len() <= 80 && odd.starts_with("pipeline-"), "{odd}");
        assert_ne!(execution_name("a/b"), execution_name("a:b"));
    }

    #[test]
    fn continuation_tokens_round_trip_and_respect_the_limit() {
        let token = ContinuationToken {
            execution_arn: "arn:aws:states:us-east-1:1:execution:m:pipeline-x".into(),
        };
        let encoded = token.encode().unwrap();
        assert_eq!(ContinuationToken::decode(&encoded).unwrap(), token);
        assert!(ContinuationToken::decode("garbage").is_err());
        let long = ContinuationToken {
            execution_arn: "a".repeat(3000),
        };
        assert!(long.encode().is_err());
    }

    #[test]
    fn answers_for_every_status() {
        assert_eq!(
            answer("arn", "RUNNING", None, None, None),
            JobAnswer::Continue
        );
        let output = r#"{"outcome":"UPDATED","stackName":"prod-app","stackId":"id","outputs":{"Url":"https://x","Bad Key":"v"},"requestedBy":"codepipeline job j-1"}"#;
        match answer("arn", "SUCCEEDED", None, None, Some(output)) {
            JobAnswer::Succeed {
                summary,
                output_variables,
            } => {
                assert!(
                    summary.contains("UPDATED")
                        && summary.contains("prod-app")
                        && summary.contains("requested by codepipeline job j-1"),
                    "{summary}"
                );
                assert_eq!(output_variables["outcome"], "UPDATED");
                assert_eq!(output_variables["Url"], "https://x");
                assert_eq!(output_variables["Bad_Key"], "v");
            }
            other => panic!("{other:?}"),
        }
        for status in ["FAILED", "TIMED_OUT", "ABORTED"] {
            let cause = r#"{"errorType":"StackOperationFailed","errorMessage":"stack x ended in UPDATE_ROLLBACK_COMPLETE; root cause: Bucket"}"#;
            match answer(
                "arn",
                status,
                Some("StackOperationFailed"),
                Some(cause),
                None,
            ) {
                JobAnswer::Fail { message } => {
                    assert!(
                        message.contains(status) && message.contains("root cause: Bucket"),
                        "{message}"
                    );
                    assert!(!message.contains("errorType"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        }
        match answer(
            "arn",
            "FAILED",
            Some("UnsafeChangeSet"),
            Some(&"- Res\n".repeat(2000)),
            None,
        ) {
            JobAnswer::Fail { message } => assert!(message.len() <= MAX_FAILURE_MESSAGE),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate(&"é".repeat(100), 21);
        assert!(cut.len() <= 21 && cut.ends_with("[...]"), "{cut}");
    }
}
