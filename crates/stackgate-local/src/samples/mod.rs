//! The sample events in `events/`, made to work as the docs show them. `stage` (run by
//! `scripts/local-stack.sh up`) puts on the local stack what the samples name as they are written:
//! the templates, the pipeline's revision and input file, the stacks that are waited on and read.
//! `fresh` gives a sample whose normal path works only once (a CodePipeline job is answered once,
//! an approval is decided once, a link is signed with the stack's own key) new values, as
//! `stackgate-local sample` prints it. The benchmark stages its own copies with the same functions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::demo::{revision_zip, TEMPLATE_PATH};
use crate::template::ACCOUNT;
use crate::{BoxError, LocalClients, REGION};

mod approvals;
mod names;
pub use approvals::{pending_approval, point_at, SignedLink};
pub use names::{
    read_stack, shows_an_unmanaged_stack, stacks_named, template_location, template_url,
    waited_deploy,
};
use names::{revision, rules_named};

/// The sample template staged wherever a sample needs a stack or a revision.
pub const SAMPLE_TEMPLATE: &str = "app-v1.yaml";

/// The stack the sample CodePipeline job deploys (its input file is staged, not committed): one of
/// its own, so that its deployment never waits on a stack another sample holds.
pub const PIPELINE_STACK: &str = "pipeline-app";

/// The API resource of approval links.
pub const APPROVAL_RESOURCE: &str = "/approvals/{id}";

/// The running local stack's directory (`local-stack.sh`'s `.stackgate/run[-<port>]`): its logs
/// and the functions' environment.
pub fn run_dir(repo: &Path) -> PathBuf {
    let port = std::env::var("STACKGATE_PORT").unwrap_or_else(|_| "4566".to_string());
    let run_dir = if port == "4566" {
        "run".to_string()
    } else {
        format!("run-{port}")
    };
    repo.join(".stackgate").join(run_dir)
}

/// The local stack's `functions.env` (the functions' environment as `local-stack.sh up` wrote it).
pub fn local_env_file(repo: &Path) -> PathBuf {
    run_dir(repo).join("functions.env")
}

/// `KEY=VALUE` lines of an env file (the local stack's `functions.env`); blank lines and `#`
/// comments are skipped.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect()
}

/// Every sample event file under `events/`, sorted, as paths relative to the repository.
pub fn sample_files(repo: &Path) -> Result<Vec<PathBuf>, BoxError> {
    let mut files = Vec::new();
    let mut dirs = vec![repo.join("events")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path.strip_prefix(repo)?.to_path_buf());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The sample at `file` (relative to the repository).
pub fn read(repo: &Path, file: &Path) -> Result<Value, BoxError> {
    let text =
        std::fs::read_to_string(repo.join(file)).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?)
}

/// Points a wait at the live stack of its name: a sample's ARN names an id of its own.
pub async fn point_wait_at(
    clients: &LocalClients,
    event: &mut Value,
    stack: &str,
) -> Result<(), BoxError> {
    let found = clients
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| format!("describing {stack}: {e}"))?;
    let id = found
        .stacks()
        .first()
        .and_then(|s| s.stack_id())
        .ok_or_else(|| format!("{stack} has no stack id"))?;
    event["stackId"] = Value::String(id.to_string());
    Ok(())
}

/// Stages what the sample `event` names, as it is written; returns what it staged, for the log.
/// A stack is staged only when `managed` (a sample that shows a refusal of another stack names one
/// that must stay absent).
pub async fn stage(
    repo: &Path,
    clients: &LocalClients,
    event: &Value,
    managed: bool,
) -> Result<Vec<String>, BoxError> {
    let mut staged = Vec::new();
    // Only the local stack's own URLs: a sample showing a refused bucket names another.
    if let Some(url) = template_url(event).filter(|url| url.contains("://localhost")) {
        if let Some((bucket, key)) = template_location(&url) {
            upload_template(repo, clients, bucket, key).await?;
            staged.push(format!("s3://{bucket}/{key}"));
        }
    }
    if let Some((bucket, key)) = revision(event) {
        clients
            .s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(revision_zip(&sample_template(repo)?)?.into())
            .send()
            .await
            .map_err(|e| format!("staging s3://{bucket}/{key}: {e}"))?;
        staged.push(format!("s3://{bucket}/{key} ({TEMPLATE_PATH})"));
    }
    if event.get("CodePipeline.job").is_some() {
        let environment = "demo";
        crate::pipeline::prepare(
            clients,
            event,
            &sample_template(repo)?,
            environment,
            PIPELINE_STACK,
        )
        .await?;
        staged.push(format!(
            "the job's revision and input file ({environment}-{PIPELINE_STACK})"
        ));
    }
    if managed {
        for stack in stacks_named(event) {
            ensure_stack(repo, clients, &stack).await?;
            staged.push(format!("stack {stack}"));
        }
    }
    for rule in rules_named(event) {
        clients
            .events
            .put_rule()
            .name(&rule)
            .schedule_expression("rate(5 minutes)")
            .send()
            .await
            .map_err(|e| format!("staging rule {rule}: {e}"))?;
        staged.push(format!("rule {rule}"));
    }
    Ok(staged)
}

/// Stages what every sample names (`stage`), each as its file says; what was staged, per file.
pub async fn stage_all(
    repo: &Path,
    clients: &LocalClients,
) -> Result<Vec<(PathBuf, String)>, BoxError> {
    let mut staged = Vec::new();
    for file in sample_files(repo)? {
        let event = read(repo, &file)?;
        let managed = !shows_an_unmanaged_stack(&file);
        for what in stage(repo, clients, &event, managed).await? {
            staged.push((file.clone(), what));
        }
    }
    Ok(staged)
}

/// The sample with new values where its normal path works only once: a CodePipeline job gets an
/// id of its own; an approval link points at a pending approval stored for it, signed with the
/// local signing key for a day. `env` is the functions' environment (it names the approvals table).
pub async fn fresh(
    clients: &LocalClients,
    env: &[(String, String)],
    event: &mut Value,
) -> Result<(), BoxError> {
    if let Some(job) = event.get_mut("CodePipeline.job") {
        job["id"] = Value::String(crate::pipeline::fresh_job_id());
    }
    if let Some(stack) = waited_deploy(event) {
        point_wait_at(clients, event, &stack).await?;
    }
    if event.get("operation").is_some() && event.get("executionArn").is_some() {
        point_operation_at_a_running_execution(clients, event).await?;
    }
    if event.get("resource").and_then(Value::as_str) == Some(APPROVAL_RESOURCE) {
        let table = env
            .iter()
            .find(|(key, _)| key == "APPROVALS_TABLE")
            .map(|(_, value)| value.as_str())
            .ok_or("the functions' environment has no APPROVALS_TABLE")?;
        let link = pending_approval(clients, table).await?;
        point_at(event, &link);
    }
    Ok(())
}

/// A stack operation acts only for a running execution that scheduled it: an execution of a
/// machine of the local tooling's own asks for the sample's very operation, then waits (its
/// task's failure is caught), and the sample names that execution.
pub async fn point_operation_at_a_running_execution(
    clients: &LocalClients,
    event: &mut Value,
) -> Result<(), BoxError> {
    let mut payload = event.clone();
    if let Value::Object(fields) = &mut payload {
        fields.remove("executionArn");
        fields.insert("executionArn.$".into(), json!("$$.Execution.Id"));
    }
    let definition = json!({
        "Comment": "stackgate-local: an execution that asked for a sample's stack operation",
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:stack-operation-sample"),
                    "Payload": payload,
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": null, "Next": "Hold"}],
                "Next": "Hold"
            },
            "Hold": {"Type": "Wait", "Seconds": 3600, "End": true}
        }
    });
    let machine = clients
        .sfn
        .create_state_machine()
        // Named as safe deploy's machines are: the function reads the histories of no others.
        .name(crate::unique_name("SafeDeployStateMachineSample-"))
        .definition(definition.to_string())
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/stackgate-samples"))
        .send()
        .await?;
    let started = clients
        .sfn
        .start_execution()
        .state_machine_arn(machine.state_machine_arn())
        .name(crate::unique_name("sample-"))
        .send()
        .await?;
    let execution = started.execution_arn().to_string();
    // Until the task is scheduled: the operation looks for it in the history.
    for _ in 0..100 {
        let scheduled = crate::execution::history(&clients.sfn, &execution)
            .await?
            .iter()
            .any(|e| e.task_scheduled_event_details().is_some());
        if scheduled {
            event["executionArn"] = Value::String(execution);
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err("the execution never scheduled its task".into())
}

fn sample_template(repo: &Path) -> Result<String, BoxError> {
    Ok(std::fs::read_to_string(
        repo.join("examples/templates").join(SAMPLE_TEMPLATE),
    )?)
}

/// Uploads the template of `examples/templates/` that `key` names by its file name.
pub async fn upload_template(
    repo: &Path,
    clients: &LocalClients,
    bucket: &str,
    key: &str,
) -> Result<(), BoxError> {
    let file = key.rsplit('/').next().unwrap_or(key);
    let template = std::fs::read(repo.join("examples/templates").join(file))
        .map_err(|e| format!("examples/templates/{file}: {e}"))?;
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(template.into())
        .send()
        .await
        .map_err(|e| format!("staging s3://{bucket}/{key}: {e}"))?;
    Ok(())
}

/// Creates `stack` from the sample template unless it exists, tagged as stackgate tags the stacks
/// it makes (the plan and the API touch only such stacks), and waits until it is complete.
pub async fn ensure_stack(
    repo: &Path,
    clients: &LocalClients,
    stack: &str,
) -> Result<(), BoxError> {
    if stack_status(clients, stack).await?.is_none() {
        clients
            .cloudformation
            .create_stack()
            .stack_name(stack)
            .template_body(sample_template(repo)?)
            .set_tags(Some(crate::managed_tags(
                stack.split('-').next().unwrap_or_default(),
            )))
            .send()
            .await
            .map_err(|e| format!("creating {stack}: {e}"))?;
    }
    for _ in 0..60 {
        match stack_status(clients, stack).await?.as_deref() {
            Some("CREATE_COMPLETE" | "UPDATE_COMPLETE") => return Ok(()),
            Some(status) if !status.ends_with("_IN_PROGRESS") => {
                return Err(format!("staging {stack}: {status}").into())
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    Err(format!("staging {stack}: not complete after 30 s").into())
}

/// A stack's status, or `None` when it does not exist.
pub async fn stack_status(clients: &LocalClients, stack: &str) -> Result<Option<String>, BoxError> {
    match clients
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
    {
        Ok(found) => Ok(found
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_string())),
        // CloudFormation's answer for a missing stack is a ValidationError saying so.
        Err(e) if format!("{e:?}").contains("does not exist") => Ok(None),
        Err(e) => Err(format!("describing {stack}: {e}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(path: &str) -> Value {
        let text = std::fs::read_to_string(crate::repo_root().join(path)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn template_urls_name_their_bucket_and_key() {
        assert_eq!(
            template_location("http://localhost:4566/artifacts/demo/app-v1.yaml"),
            Some(("artifacts", "demo/app-v1.yaml"))
        );
        assert_eq!(template_location("http://localhost:4566/artifacts/"), None);
        assert_eq!(template_location("http://localhost:4566/artifacts"), None);
        assert_eq!(template_location("localhost/artifacts/key"), None);
    }

    #[test]
    fn a_samples_template_is_found_in_a_task_request_and_in_an_api_body() {
        assert!(template_url(&sample("events/create-change-set.json"))
            .is_some_and(|url| url.ends_with("/demo/app-v1.yaml")));
        assert!(template_url(&sample("events/stacks-api/create.json")).is_some());
        assert!(template_url(&sample("events/stacks-api/compat-create.json")).is_some());
        assert_eq!(
            template_url(&sample("events/stacks-api/get-stack.json")),
            None
        );
        assert_eq!(template_url(&json!({"body": "not json"})), None);
    }

    #[test]
    fn every_template_a_sample_names_is_in_the_examples() {
        let repo = crate::repo_root();
        assert!(repo
            .join("examples/templates")
            .join(SAMPLE_TEMPLATE)
            .is_file());
        for file in sample_files(&repo).unwrap() {
            let event: Value =
                serde_json::from_str(&std::fs::read_to_string(repo.join(&file)).unwrap()).unwrap();
            let Some(url) = template_url(&event) else {
                continue;
            };
            // A sample showing a refused bucket names one outside the local stack.
            if let Some((_, key)) = template_location(&url).filter(|_| url.contains("localhost")) {
                let name = key.rsplit('/').next().unwrap();
                assert!(
                    repo.join("examples/templates").join(name).is_file(),
                    "{}: {name}",
                    file.display()
                );
            }
        }
    }

    #[test]
    fn waits_and_reads_name_their_stacks() {
        assert_eq!(
            waited_deploy(&sample("events/wait-stack.json")).as_deref(),
            Some("demo-sample-app")
        );
        assert_eq!(
            waited_deploy(
                &json!({"stackId": "arn:aws:cloudformation:us-east-1:1:stack/s/1", "operation": "DELETE"})
            ),
            None
        );
        assert_eq!(
            waited_deploy(&json!({"stackId": "s", "operation": "DEPLOY"})),
            None
        );
        assert_eq!(
            read_stack(&sample("events/stacks-api/get-stack.json")).as_deref(),
            Some("api-web")
        );
        let mut post = sample("events/stacks-api/get-stack.json");
        post["httpMethod"] = json!("POST");
        assert_eq!(read_stack(&post), None);
    }

    #[test]
    fn the_stacks_and_rules_samples_name_are_staged() {
        let named = |path: &str| stacks_named(&sample(path));
        assert_eq!(named("events/wait-stack.json"), ["demo-sample-app"]);
        assert_eq!(named("events/stacks-api/get-stack.json"), ["api-web"]);
        assert_eq!(named("events/stacks-api/delete-stack.json"), ["api-web"]);
        assert_eq!(named("events/stacks-api/legacy-state.json"), ["api-legacy"]);
        assert_eq!(
            named("events/stacks-api/legacy-delete.json"),
            ["api-legacy"]
        );
        assert!(named("events/stacks-api/create.json").is_empty());
        assert_eq!(
            rules_named(&sample("events/maintenance-mode-suspend.json")),
            ["web-canary"]
        );
        assert_eq!(
            rules_named(&sample("events/maintenance-mode-restore.json")),
            ["web-canary"]
        );
        assert!(shows_an_unmanaged_stack(Path::new(
            "events/stacks-api/get-stack-unmanaged.json"
        )));
    }

    /// The execution sample reads the one the create sample starts (same caller, same key), so it
    /// answers 200 once the create sample has been invoked.
    #[test]
    fn the_execution_sample_names_the_create_samples_execution() {
        let create = sample("events/stacks-api/create.json");
        let read = sample("events/stacks-api/get-execution.json");
        let caller = format!(
            "apiKey:{}",
            create["requestContext"]["identity"]["apiKeyId"]
                .as_str()
                .unwrap()
        );
        assert_eq!(
            caller,
            format!(
                "apiKey:{}",
                read["requestContext"]["identity"]["apiKeyId"]
                    .as_str()
                    .unwrap()
            )
        );
        let name = stackgate::api::execution_name(
            stackgate::api::Workflow::Deploy,
            create["headers"]["Idempotency-Key"].as_str(),
            "",
            &caller,
        );
        assert_eq!(read["pathParameters"]["id"], name.as_str());
        assert_eq!(read["path"], format!("/executions/{name}"));
    }

    #[test]
    fn env_files_are_read_as_key_value_lines() {
        let pairs = parse_env_file("# comment\nA=1\n\nB = two=2\n");
        assert_eq!(
            pairs,
            vec![
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "two=2".to_string())
            ]
        );
    }

    #[test]
    fn a_signed_link_replaces_the_samples_path_and_query() {
        let mut event = sample("events/approval-api/show.json");
        let link = SignedLink {
            id: "abc".into(),
            expires_at: "99".into(),
            key_id: "3".into(),
            recipient: "ops@example.com".into(),
            signature: "sig".into(),
        };
        point_at(&mut event, &link);
        assert_eq!(event["path"], "/approvals/abc");
        assert_eq!(event["pathParameters"]["id"], "abc");
        assert_eq!(event["queryStringParameters"]["sig"], "sig");
        assert_eq!(event["multiValueQueryStringParameters"]["kid"][0], "3");

        let mut decision = sample("events/approval-api/approve.json");
        point_at(&mut decision, &link);
        assert_eq!(decision["path"], "/approvals/abc");
        assert_eq!(
            decision["body"],
            "exp=99&kid=3&to=ops%40example.com&sig=sig&decision=approve&approver=Ana&comment=ok"
        );
    }
}
