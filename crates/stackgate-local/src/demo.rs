//! The main job on the local stack: create a stack, update it safely, try an unsafe change and
//! show it refused with the stack untouched, resubmit the same template (no changes).

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};

use crate::execution::{self, Report};
use crate::{BoxError, LocalClients};

pub const ARTIFACT_BUCKET: &str = "stackgate-local-artifacts";
pub const TEMPLATE_PATH: &str = "infra/app.yaml";

/// A zip holding the given files.
pub fn zip_of(files: &[(&str, &[u8])]) -> Result<Vec<u8>, BoxError> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in files {
        writer.start_file(*name, zip::write::SimpleFileOptions::default())?;
        writer.write_all(content)?;
    }
    Ok(writer.finish()?.into_inner())
}

/// A revision zip as CodePipeline would store it: the template at `infra/app.yaml`.
pub fn revision_zip(template: &str) -> Result<Vec<u8>, BoxError> {
    zip_of(&[
        (TEMPLATE_PATH, template.as_bytes()),
        ("README.md", b"sample revision\n"),
    ])
}

/// Uploads a revision and returns the pipeline input file that deploys it.
pub async fn upload_revision(
    clients: &LocalClients,
    key: &str,
    template: &str,
    environment: &str,
    stack: &str,
) -> Result<Value, BoxError> {
    clients
        .s3
        .put_object()
        .bucket(ARTIFACT_BUCKET)
        .key(key)
        .body(revision_zip(template)?.into())
        .send()
        .await?;
    Ok(json!({
        "environmentName": environment,
        "stackName": stack,
        "templatePath": TEMPLATE_PATH,
        "revisionS3Bucket": ARTIFACT_BUCKET,
        "revisionS3Key": key,
    }))
}

pub fn sample_template(name: &str) -> Result<String, BoxError> {
    let path = crate::repo_root().join("examples/templates").join(name);
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()).into())
}

fn print_report(title: &str, report: &Report) {
    println!("== {title}");
    println!("   states:  {}", report.states.join(" -> "));
    match report.status.as_str() {
        "SUCCEEDED" => println!(
            "   result:  SUCCEEDED, outcome {}",
            report.outcome().unwrap_or("?")
        ),
        status => println!(
            "   result:  {status}, error {}\n   cause:   {}",
            report.error.as_deref().unwrap_or("-"),
            report
                .cause
                .as_deref()
                .unwrap_or("-")
                .replace('\n', "\n            ")
        ),
    }
}

/// The logical ids of a stack's resources, sorted.
pub async fn stack_resources(clients: &LocalClients, stack: &str) -> Result<Vec<String>, BoxError> {
    let listed = clients
        .cloudformation
        .list_stack_resources()
        .stack_name(stack)
        .send()
        .await?;
    let mut ids: Vec<String> = listed
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| r.logical_resource_id().map(str::to_string))
        .collect();
    ids.sort();
    Ok(ids)
}

/// Change sets of a stack that could still be executed. moto keeps executed change sets listed and
/// ignores ListChangeSets' stack filter, so both are filtered here.
pub async fn executable_change_sets(
    cloudformation: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<Vec<String>, BoxError> {
    let listed = cloudformation
        .list_change_sets()
        .stack_name(stack)
        .send()
        .await?;
    Ok(listed
        .summaries()
        .iter()
        .filter(|s| s.stack_name() == Some(stack))
        .filter(|s| {
            s.execution_status()
                .is_some_and(|e| e.as_str() == "AVAILABLE")
        })
        .filter_map(|s| s.change_set_name().map(str::to_string))
        .collect())
}

/// Runs the four deployments and checks each ends as it must; returns an error if one does not.
pub async fn run(clients: &LocalClients) -> Result<(), BoxError> {
    let machine = crate::deploy::state_machine_arn("SafeDeployStateMachine");
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let environment = "demo";
    let stack = format!("app-{run_id}");
    let full_name = format!("{environment}-{stack}");
    let timeout = Duration::from_secs(300);
    println!("stackgate demo: stack {full_name} on the local stack\n");

    let steps: [(&str, &str, &str); 4] = [
        ("1. create the stack (app-v1)", "app-v1.yaml", "CREATED"),
        (
            "2. safe update: add a queue (app-v2-safe)",
            "app-v2-safe.yaml",
            "UPDATED",
        ),
        (
            "3. unsafe update: remove the topic (app-v3-unsafe)",
            "app-v3-unsafe.yaml",
            "REFUSED",
        ),
        (
            "4. resubmit app-v2-safe unchanged",
            "app-v2-safe.yaml",
            "NO_CHANGES",
        ),
    ];
    for (index, (title, file, expected)) in steps.iter().enumerate() {
        let key = format!("demo/{run_id}/{index}.zip");
        let input =
            upload_revision(clients, &key, &sample_template(file)?, environment, &stack).await?;
        let before = if *expected == "REFUSED" {
            stack_resources(clients, &full_name).await?
        } else {
            Vec::new()
        };
        let report = execution::run(
            &clients.sfn,
            &machine,
            &format!("demo-{run_id}-{index}"),
            &input,
            timeout,
        )
        .await?;
        print_report(title, &report);
        if *expected == "REFUSED" {
            let after = stack_resources(clients, &full_name).await?;
            let pending = executable_change_sets(&clients.cloudformation, &full_name).await?;
            println!("   stack resources before: {}", before.join(", "));
            println!("   stack resources after:  {}", after.join(", "));
            println!("   executable change sets left: {}", pending.len());
            if report.error.as_deref() != Some("UnsafeChangeSet")
                || before != after
                || !pending.is_empty()
            {
                return Err("the unsafe change was not refused cleanly".into());
            }
        } else if report.outcome() != Some(*expected) {
            return Err(format!("{title}: expected outcome {expected}").into());
        }
        println!();
    }
    println!("all four deployments ended as they should");
    Ok(())
}
