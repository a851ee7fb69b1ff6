//! pipeline-trigger's tests: a release manifest in the job's source.

use super::*;

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
        .then_output(started);
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
