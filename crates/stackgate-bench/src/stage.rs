//! What the benchmark sets up on its own local stack so that every sample event takes its
//! function's normal path: an answer on an error path (a template CloudFormation cannot fetch, a
//! stack that does not exist, a CodePipeline job already answered, an expired approval link) would
//! time something else. `normal_answer` tells the two apart, and the benchmark counts any other
//! answer as an error.

use std::path::Path;

use serde_json::{json, Value};
use stackgate_local::samples::{self, read_stack, template_location, waited_deploy};
use stackgate_local::LocalClients;

use crate::BenchError;

/// The stacks the benchmark deploys or plans under names of its own, which no sample event names:
/// the samples' own stacks (and a developer's demo) are left as they are. The plan's stack is left
/// in REVIEW_IN_PROGRESS: under a name another sample waited on, that wait would last its whole
/// budget in every invocation.
pub const BENCH_PLAN_STACK: &str = "bench-plan";
pub const BENCH_WAITED_STACK: &str = "bench-waited";
/// Suffix of the stack an API read is pointed at, after the sample's managed environment.
pub const BENCH_READ_STACK: &str = "bench-read";

pub use stackgate_local::samples::SAMPLE_TEMPLATE;

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
/// job's revision and input file, the stack a wait or an API read is for, an approval behind a
/// link. `env` is the functions' environment (it names the approvals table).
pub async fn stage(
    repo: &Path,
    clients: &LocalClients,
    endpoint: &str,
    env: &[(String, String)],
    event: &mut Value,
) -> Result<(), BenchError> {
    stage_template(repo, clients, endpoint, event).await?;
    if event.get("resource").and_then(Value::as_str) == Some(samples::APPROVAL_RESOURCE) {
        stage_approval(clients, env, event).await?;
    }
    if let Some(sample) = read_stack(event) {
        // Same managed environment (the name's prefix), a stack of the benchmark's.
        let environment = sample.split('-').next().unwrap_or(&sample);
        let stack = format!("{environment}-{BENCH_READ_STACK}");
        for pointer in ["/path", "/requestContext/path"] {
            if let Some(path) = event.pointer_mut(pointer) {
                let renamed = path.as_str().map(|p| p.replace(&sample, &stack));
                if let Some(renamed) = renamed {
                    *path = Value::String(renamed);
                }
            }
        }
        event["pathParameters"]["name"] = Value::String(stack.clone());
        deploy_stack(repo, clients, &stack).await?;
    }
    if event.get("CodePipeline.job").is_some() {
        let template =
            std::fs::read_to_string(repo.join("examples/templates").join(SAMPLE_TEMPLATE))?;
        stackgate_local::pipeline::prepare(clients, event, &template, "demo", BENCH_PLAN_STACK)
            .await?;
    }
    if event.get("operation").is_some() && event.get("executionArn").is_some() {
        stage_scheduled_operation(repo, clients, event).await?;
    }
    if waited_deploy(event).is_some() {
        deploy_stack(repo, clients, BENCH_WAITED_STACK).await?;
        samples::point_wait_at(clients, event, BENCH_WAITED_STACK)
            .await
            .map_err(|e| BenchError::Local(e.to_string()))?;
    }
    Ok(())
}

/// Whether an answer is the normal path's: an API response with a 2xx status, a CodePipeline job
/// not failed, any other result. (Answers on the Runtime API's error endpoint are errors anyway.)
pub fn normal_answer(answer: &str) -> bool {
    let Ok(answer) = serde_json::from_str::<Value>(answer) else {
        return true;
    };
    if let Some(status) = answer.get("statusCode") {
        return status.as_u64().is_some_and(|s| (200..300).contains(&s));
    }
    answer.get("answer").and_then(Value::as_str) != Some("FAILED")
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

/// An approval link's event is pointed at a pending approval stored for it, under a link signed
/// with the stack's key and valid for a day (the sample's link names an approval that does not
/// exist, signed with another key).
async fn stage_approval(
    clients: &LocalClients,
    env: &[(String, String)],
    event: &mut Value,
) -> Result<(), BenchError> {
    samples::fresh(clients, env, event)
        .await
        .map_err(|e| BenchError::Local(e.to_string()))
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
    samples::upload_template(repo, clients, &bucket, &key)
        .await
        .map_err(|e| BenchError::Local(e.to_string()))?;
    // moto takes the bucket from the path only in `localhost` URLs (else from the host name).
    let base = endpoint.replacen("127.0.0.1", "localhost", 1);
    event["request"]["templateUrl"] = Value::String(format!("{base}/{bucket}/{key}"));
    event["request"]["stackName"] = Value::String(BENCH_PLAN_STACK.to_string());
    Ok(())
}

/// A stack operation, on a stack of the benchmark's, for an execution that asked for it.
async fn stage_scheduled_operation(
    repo: &Path,
    clients: &LocalClients,
    event: &mut Value,
) -> Result<(), BenchError> {
    let stack = format!("demo-{BENCH_READ_STACK}");
    deploy_stack(repo, clients, &stack).await?;
    event["stackName"] = Value::String(stack);
    samples::point_operation_at_a_running_execution(clients, event)
        .await
        .map_err(|e| BenchError::Local(format!("staging an operation: {e}")))
}

async fn deploy_stack(repo: &Path, clients: &LocalClients, stack: &str) -> Result<(), BenchError> {
    samples::ensure_stack(repo, clients, stack)
        .await
        .map_err(|e| BenchError::Local(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::{event, event_file, function_names, BASELINE_TASK};

    fn repo() -> std::path::PathBuf {
        stackgate_local::repo_root()
    }

    /// Every function and the baseline task.
    fn benchmarked() -> Vec<String> {
        let mut names = function_names(&repo()).unwrap();
        names.push(BASELINE_TASK.to_string());
        names
    }

    #[test]
    fn every_staged_sample_template_exists() {
        assert!(repo()
            .join("examples/templates")
            .join(SAMPLE_TEMPLATE)
            .is_file());
        for name in benchmarked() {
            let event = event(&repo(), &name, "http://127.0.0.1:1/health").unwrap();
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
    fn no_sample_event_names_a_stack_of_the_benchmarks() {
        for name in benchmarked() {
            let text =
                std::fs::read_to_string(repo().join("events").join(event_file(&name))).unwrap();
            for stack in [BENCH_PLAN_STACK, BENCH_WAITED_STACK, BENCH_READ_STACK] {
                assert!(!text.contains(stack), "{name} names {stack}");
            }
        }
    }

    #[test]
    fn the_wait_sample_has_its_stack_staged() {
        let event = event(&repo(), "wait-stack", "http://127.0.0.1:1/health").unwrap();
        assert_eq!(waited_deploy(&event).as_deref(), Some("demo-sample-app"));
        assert_eq!(
            waited_deploy(
                &json!({"stackId": "arn:aws:cloudformation:us-east-1:1:stack/s/1", "operation": "DELETE"})
            ),
            None
        );
        assert_eq!(waited_deploy(&json!({"operation": "DEPLOY"})), None);
    }

    #[test]
    fn only_normal_answers_count_as_the_normal_path() {
        assert!(normal_answer(r#"{"statusCode": 200, "body": "ok"}"#));
        assert!(normal_answer(r#"{"statusCode": 202}"#));
        assert!(!normal_answer(r#"{"statusCode": 404}"#));
        assert!(!normal_answer(r#"{"statusCode": 410}"#));
        assert!(!normal_answer(r#"{"statusCode": "200"}"#));
        assert!(normal_answer(r#"{"jobId": "j", "answer": "STARTED"}"#));
        assert!(!normal_answer(r#"{"jobId": "j", "answer": "FAILED"}"#));
        assert!(normal_answer(
            r#"{"stackName": "s", "status": "CREATE_COMPLETE"}"#
        ));
        assert!(normal_answer("null"));
    }

    #[test]
    fn the_api_read_sample_has_its_stack_staged() {
        let event = event(&repo(), "stacks-api", "http://127.0.0.1:1/health").unwrap();
        let stack = read_stack(&event).unwrap();
        assert!(event["path"].as_str().unwrap().ends_with(&stack));
        let mut post = event.clone();
        post["httpMethod"] = json!("POST");
        assert_eq!(read_stack(&post), None);
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
