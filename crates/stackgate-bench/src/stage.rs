//! What the benchmark sets up on its own local stack so that every sample event takes its
//! function's normal path: an answer on an error path (a template CloudFormation cannot fetch, a
//! stack that does not exist, a CodePipeline job already answered) would time something else.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use stackgate_local::LocalClients;

use crate::BenchError;

/// The stack the staged plan deploys: one no other sample event names.
pub const BENCH_PLAN_STACK: &str = "bench-plan";

/// The sample template staged wherever a sample needs a stack or a revision.
pub const SAMPLE_TEMPLATE: &str = "app-v1.yaml";

/// Environment variables ending so name the state machines a function starts.
const STATE_MACHINE_VARIABLE_SUFFIX: &str = "STATE_MACHINE_ARN";

/// A one-state machine that the measured functions start instead of the real workflows: each
/// invocation's StartExecution is the same call, but 120 deployments or provisionings do not run
/// on the same two cores while the next function is timed.
pub async fn start_target(clients: &LocalClients) -> Result<String, BenchError> {
    let definition = json!({
        "Comment": "stackgate-bench: the target of measured StartExecution calls",
        "StartAt": "Started",
        "States": {"Started": {"Type": "Pass", "End": true}}
    });
    let created = clients
        .sfn
        .create_state_machine()
        .name(stackgate_local::unique_name("BenchStartTarget-"))
        .definition(definition.to_string())
        .role_arn(format!(
            "arn:aws:iam::{}:role/stackgate-bench",
            stackgate_local::template::ACCOUNT
        ))
        .send()
        .await
        .map_err(|e| BenchError::Local(format!("creating the start target: {e}")))?;
    Ok(created.state_machine_arn().to_string())
}

/// The functions' environment with every state machine they start replaced by `target`.
pub fn starting(env: &[(String, String)], target: &str) -> Vec<(String, String)> {
    env.iter()
        .map(|(key, value)| {
            if key.ends_with(STATE_MACHINE_VARIABLE_SUFFIX) {
                (key.clone(), target.to_string())
            } else {
                (key.clone(), value.clone())
            }
        })
        .collect()
}

/// Stages what `event` refers to and points it there: a deploy request's template, a CodePipeline
/// job's revision and input file, the stack a wait is for.
pub async fn stage(
    repo: &Path,
    clients: &LocalClients,
    endpoint: &str,
    event: &mut Value,
) -> Result<(), BenchError> {
    stage_template(repo, clients, endpoint, event).await?;
    if event.get("CodePipeline.job").is_some() {
        let template =
            std::fs::read_to_string(repo.join("examples/templates").join(SAMPLE_TEMPLATE))?;
        stackgate_local::pipeline::prepare(clients, event, &template, "demo", BENCH_PLAN_STACK)
            .await?;
    }
    if let Some(stack) = waited_deploy(event) {
        deploy_stack(repo, clients, &stack).await?;
    }
    Ok(())
}

/// The events of one cold start's invocations: `count` copies of `event`, each CodePipeline job
/// under an id of its own, as CodePipeline sends them (a job is answered once; a second answer to
/// the same id is refused).
pub fn invocations(event: &Value, count: usize) -> Vec<Value> {
    (0..count)
        .map(|_| {
            let mut event = event.clone();
            if let Some(job) = event.get_mut("CodePipeline.job") {
                job["id"] = Value::String(stackgate_local::unique_name("bench-job-"));
            }
            event
        })
        .collect()
}

/// Where a template URL of the local stack points: bucket and key (`http://host/bucket/key`).
pub fn template_location(url: &str) -> Option<(&str, &str)> {
    let (_, rest) = url.split_once("://")?;
    let (_, path) = rest.split_once('/')?;
    let (bucket, key) = path.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

/// The stack a `{"stackName", "operation": "DEPLOY"}` wait is for.
pub fn waited_deploy(event: &Value) -> Option<String> {
    (event.get("operation").and_then(Value::as_str) == Some("DEPLOY"))
        .then(|| event.get("stackName").and_then(Value::as_str))
        .flatten()
        .map(str::to_string)
}

/// A deploy request's template (from `examples/templates/`, by file name) is uploaded to the
/// benchmark's stack and its URL pointed there, so that create-change-set plans a real change set.
async fn stage_template(
    repo: &Path,
    clients: &LocalClients,
    endpoint: &str,
    event: &mut Value,
) -> Result<(), BenchError> {
    let Some(url) = event
        .pointer("/request/templateUrl")
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    let (bucket, key) = template_location(url)
        .map(|(bucket, key)| (bucket.to_string(), key.to_string()))
        .ok_or_else(|| BenchError::Measure(format!("templateUrl {url} has no bucket and key")))?;
    let file = key.rsplit('/').next().unwrap_or(&key);
    let template = std::fs::read(repo.join("examples/templates").join(file))?;
    clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(template.into())
        .send()
        .await
        .map_err(|e| BenchError::Local(format!("staging {bucket}/{key}: {e}")))?;
    // moto takes the bucket from the path only in `localhost` URLs (else from the host name).
    let base = endpoint.replacen("127.0.0.1", "localhost", 1);
    event["request"]["templateUrl"] = Value::String(format!("{base}/{bucket}/{key}"));
    // The plan leaves its stack in REVIEW_IN_PROGRESS: under a name another sample waits on, that
    // wait would last its whole budget in every invocation.
    event["request"]["stackName"] = Value::String(BENCH_PLAN_STACK.to_string());
    Ok(())
}

/// Creates `stack` from the sample template unless it exists, and waits until it is complete.
async fn deploy_stack(repo: &Path, clients: &LocalClients, stack: &str) -> Result<(), BenchError> {
    if stack_status(clients, stack).await?.is_none() {
        let template =
            std::fs::read_to_string(repo.join("examples/templates").join(SAMPLE_TEMPLATE))?;
        clients
            .cloudformation
            .create_stack()
            .stack_name(stack)
            .template_body(template)
            .send()
            .await
            .map_err(|e| BenchError::Local(format!("creating {stack}: {e}")))?;
    }
    for _ in 0..60 {
        match stack_status(clients, stack).await?.as_deref() {
            Some("CREATE_COMPLETE" | "UPDATE_COMPLETE") => return Ok(()),
            Some(status) if !status.ends_with("_IN_PROGRESS") => {
                return Err(BenchError::Local(format!("staging {stack}: {status}")))
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    Err(BenchError::Local(format!(
        "staging {stack}: not complete after 30 s"
    )))
}

async fn stack_status(clients: &LocalClients, stack: &str) -> Result<Option<String>, BenchError> {
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
        Err(e) => Err(BenchError::Local(format!("describing {stack}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::{event, BASELINE_TASK, EVENTS};

    fn repo() -> std::path::PathBuf {
        stackgate_local::repo_root()
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
    fn every_staged_sample_template_exists() {
        assert!(repo()
            .join("examples/templates")
            .join(SAMPLE_TEMPLATE)
            .is_file());
        for (name, _) in EVENTS.iter().chain(std::iter::once(&BASELINE_TASK)) {
            let event = event(&repo(), name, "http://127.0.0.1:1/health").unwrap();
            if let Some(url) = event
                .pointer("/request/templateUrl")
                .and_then(Value::as_str)
            {
                let (_, key) = template_location(url).unwrap();
                let file = key.rsplit('/').next().unwrap();
                assert!(
                    repo().join("examples/templates").join(file).is_file(),
                    "{name}: {file}"
                );
            }
        }
    }

    #[test]
    fn no_sample_event_waits_on_the_stack_the_staged_plan_creates() {
        for (name, file) in EVENTS.iter().chain(std::iter::once(&BASELINE_TASK)) {
            let text = std::fs::read_to_string(repo().join("events").join(file)).unwrap();
            assert!(!text.contains(BENCH_PLAN_STACK), "{name}");
        }
    }

    #[test]
    fn the_wait_sample_has_its_stack_staged() {
        let event = event(&repo(), "wait-stack", "http://127.0.0.1:1/health").unwrap();
        assert_eq!(waited_deploy(&event).as_deref(), Some("demo-sample-app"));
        assert_eq!(
            waited_deploy(&json!({"stackName": "s", "operation": "DELETE"})),
            None
        );
        assert_eq!(waited_deploy(&json!({"operation": "DEPLOY"})), None);
    }

    #[test]
    fn every_invocation_answers_a_job_of_its_own() {
        let event = event(&repo(), "pipeline-trigger", "http://127.0.0.1:1/health").unwrap();
        let events = invocations(&event, 6);
        let ids: std::collections::BTreeSet<_> = events
            .iter()
            .map(|e| e["CodePipeline.job"]["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 6);
        assert!(!ids.contains(event["CodePipeline.job"]["id"].as_str().unwrap()));
        // The rest of the job is the sample's.
        assert_eq!(
            events[0]["CodePipeline.job"]["data"],
            event["CodePipeline.job"]["data"]
        );
        // Other events are repeated as they are.
        let plain = json!({"stackName": "s"});
        assert_eq!(invocations(&plain, 2), vec![plain.clone(), plain]);
    }

    #[test]
    fn only_state_machine_variables_are_pointed_at_the_start_target() {
        let env = vec![
            ("STATE_MACHINE_ARN".to_string(), "arn:real".to_string()),
            (
                "PROVISIONING_STATE_MACHINE_ARN".to_string(),
                "arn:other".to_string(),
            ),
            ("TABLE_NAME".to_string(), "approvals".to_string()),
        ];
        assert_eq!(
            starting(&env, "arn:target"),
            vec![
                ("STATE_MACHINE_ARN".to_string(), "arn:target".to_string()),
                (
                    "PROVISIONING_STATE_MACHINE_ARN".to_string(),
                    "arn:target".to_string()
                ),
                ("TABLE_NAME".to_string(), "approvals".to_string()),
            ]
        );
    }
}
