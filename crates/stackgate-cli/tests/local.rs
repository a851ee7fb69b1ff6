//! The `stackgate` binary against the local stack (`scripts/local-stack.sh up`), as a CI job runs it:
//! no terminal, so plain lines; each end of a deployment has its exit code; `--json` is one document.

use std::process::{Command, Output};

use serde_json::Value;
use stackgate_local::unique_name;

const TEMPLATES: &str = "../../examples/templates";

fn stackgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stackgate"))
        .args(args)
        .env("STACKGATE_API_URL", stackgate_local::api_url())
        .env("AWS_ENDPOINT_URL", stackgate_local::endpoint())
        .env("STACKGATE_FOLLOW_MS", "250")
        .env_remove("STACKGATE_API_KEY")
        .env_remove("STACKGATE_TEMPLATE_BUCKET")
        .output()
        .expect("the stackgate binary runs")
}

fn text(output: &Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn deploy(stack: &str, template: &str, extra: &[&str]) -> (i32, String, String) {
    let template = format!("{TEMPLATES}/{template}");
    let mut args = vec!["deploy", "-e", "e2e", "-s", stack, "-t", &template];
    args.extend_from_slice(extra);
    text(&stackgate(&args))
}

#[test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
fn each_end_of_a_deployment_has_its_exit_code_and_plain_lines() {
    let stack = unique_name("cli");
    let (code, out, err) = deploy(&stack, "app-v1.yaml", &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("CREATED e2e-{stack}")), "{out}");
    // One line per state, and no escape codes: the output is not a terminal.
    for line in [
        "  - PlanChangeSet\n",
        "  - ExecuteChangeSet\n",
        "  - Deployed\n",
    ] {
        assert!(out.contains(line), "{out}");
    }
    assert!(!out.contains('\x1b') && !err.contains('\x1b'), "{out:?}");
    // CloudFormation's resource events as they happened, one line each (no bar: no terminal).
    assert!(
        out.contains("    DataBucket AWS::S3::Bucket CREATE_COMPLETE\n"),
        "{out}"
    );
    assert!(!out.contains("resources"), "{out}");

    // The template's text in the request (the local stack allows inline templates): no upload.
    let (code, out, err) = deploy(&stack, "app-v2-safe.yaml", &["--inline"]);
    assert_eq!((code, out.contains("UPDATED")), (0, true), "{out}{err}");
    assert!(
        !out.contains("uploading") && !err.contains("uploading"),
        "{out}{err}"
    );

    let (code, out, err) = deploy(&stack, "app-v3-unsafe.yaml", &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("refused: UnsafeChangeSet"), "{out}");
    assert!(
        out.contains("  - EventsTopic (AWS::SNS::Topic)"),
        "the judged change: {out}"
    );

    let (code, out, err) = deploy(&stack, "app-v2-safe.yaml", &[]);
    assert_eq!((code, out.contains("NO_CHANGES")), (0, true), "{out}{err}");

    let (code, out, err) = text(&stackgate(&["status", &format!("e2e-{stack}")]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("UPDATE_COMPLETE"), "{out}");

    let (code, out, err) = text(&stackgate(&["events", &format!("e2e-{stack}")]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(" WorkQueue AWS::SQS::Queue CREATE_COMPLETE"),
        "{out}"
    );

    // The sample bucket has no DeletionPolicy Retain: deleting the stack would lose its data.
    let (code, out, err) = text(&stackgate(&["delete", &format!("e2e-{stack}")]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("refused: UnsafeDeletion"), "{out}");
}

#[test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
fn bad_input_exits_2_naming_the_field_and_never_its_value() {
    let template = format!("{TEMPLATES}/app-v1.yaml");
    let refused = stackgate(&["deploy", "-e", "hunter2-env", "-s", "web", "-t", &template]);
    let (code, out, err) = text(&refused);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("(field: environmentName)"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let flag = stackgate(&[
        "deploy",
        "-e",
        "e2e",
        "-s",
        "web",
        "-t",
        &template,
        "-p",
        "hunter2-secret",
    ]);
    let (code, _, err) = text(&flag);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--parameter: takes KEY=VALUE") && !err.contains("hunter2"),
        "{err}"
    );

    let (code, _, err) = text(&stackgate(&[
        "status",
        &format!("e2e-{}", unique_name("none")),
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("404"), "{err}");
}

#[test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
fn json_is_one_document_and_a_wait_for_a_person_exits_4() {
    let stack = unique_name("clijson");
    let (code, out, err) = deploy(&stack, "app-v1.yaml", &["--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let created: Value = serde_json::from_str(&out).expect("stdout is one JSON document");
    assert_eq!(created["output"]["outcome"], "CREATED");
    assert!(
        err.contains("PlanChangeSet"),
        "people's lines go to stderr: {err}"
    );

    let (code, out, err) = deploy(
        &stack,
        "app-v3-unsafe.yaml",
        &["--json", "--on-unsafe", "approve"],
    );
    assert_eq!(code, 4, "{out}{err}");
    let waiting: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(waiting["status"], "RUNNING");
    assert_eq!(
        waiting["states"].as_array().unwrap().last().unwrap(),
        "RequestApproval"
    );
}

#[test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
fn plan_shows_the_judgement_and_executes_nothing_until_applied() {
    let stack = unique_name("cliplan");
    let (code, out, err) = deploy(&stack, "app-v1.yaml", &["--yes"]);
    assert_eq!(code, 0, "{out}{err}");

    let template = format!("{TEMPLATES}/app-v2-safe.yaml");
    let planned = stackgate(&["plan", "-e", "e2e", "-s", &stack, "-t", &template]);
    let (code, out, err) = text(&planned);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("plan e2e-{stack}: SAFE")), "{out}");
    assert!(out.contains("+ WorkQueue (AWS::SQS::Queue)"), "{out}");
    assert!(!out.contains('\x1b'), "{out:?}");
    let id = out
        .lines()
        .find_map(|line| line.strip_prefix("apply it with: stackgate apply "))
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|id| id.starts_with("deploy-"))
        .unwrap_or_else(|| panic!("no plan id to apply: {out}"))
        .to_string();
    // Nothing executed: the stack is as the first deployment left it.
    let (_, status, _) = text(&stackgate(&["status", &format!("e2e-{stack}")]));
    assert!(status.contains("CREATE_COMPLETE"), "{status}");

    let (code, out, err) = text(&stackgate(&["apply", &id]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("UPDATED e2e-{stack}")), "{out}");
    assert!(out.contains("  - ExecuteChangeSet\n"), "{out}");

    // An unsafe plan the request says to refuse: exit 3, as one JSON document.
    let template = format!("{TEMPLATES}/app-v3-unsafe.yaml");
    let refused = stackgate(&["plan", "-e", "e2e", "-s", &stack, "-t", &template, "--json"]);
    let (code, out, err) = text(&refused);
    assert_eq!(code, 3, "{out}{err}");
    let plan: Value = serde_json::from_str(&out).expect("stdout is one JSON document");
    assert_eq!(plan["status"], "REFUSED");
    assert_eq!(plan["error"], "UnsafeChangeSet");
}

/// A manifest beside its local templates, as a team keeps one in its repository.
fn manifest(name: &str, body: Value) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique_name("release"));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["app-v1.yaml", "app-v3-unsafe.yaml"] {
        std::fs::copy(format!("{TEMPLATES}/{file}"), dir.join(file)).unwrap();
    }
    let path = dir.join(name);
    std::fs::write(&path, body.to_string()).unwrap();
    path
}

#[test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
fn a_release_from_a_manifest_deploys_in_order_or_waits_for_people_with_exit_4() {
    let (net, app) = (unique_name("clinet"), unique_name("cliapp"));
    let path = manifest(
        "release.json",
        serde_json::json!({"environmentName": "e2e", "release": unique_name("clirel"), "stacks": [
            {"stackName": app, "template": "app-v1.yaml", "dependsOn": [net]},
            {"stackName": net, "template": "app-v1.yaml"}
        ]}),
    );
    let (code, out, err) = text(&stackgate(&["release", "-m", path.to_str().unwrap()]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("RELEASED"), "{out}");
    assert!(out.contains(&format!("  e2e-{app} done")), "{out}");
    assert!(out.contains(&format!("  e2e-{net} done")), "{out}");

    // The next version of one stack is unsafe: one approval for the release, and exit 4 while it
    // waits; its id reads it again.
    let unsafe_path = manifest(
        "unsafe.json",
        serde_json::json!({"environmentName": "e2e", "release": unique_name("clirel"),
            "onUnsafe": "approve", "stacks": [{"stackName": app, "template": "app-v3-unsafe.yaml"}]}),
    );
    let (code, out, err) = text(&stackgate(&[
        "release",
        "-m",
        unsafe_path.to_str().unwrap(),
    ]));
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.contains("waiting for a person"), "{out}");
    let id = out
        .split("stackgate releases ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    let (code, out, err) = text(&stackgate(&["--json", "releases", &id]));
    assert_eq!(code, 4, "{out}{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["waitingFor"], "approval", "{shown}");

    // A template the manifest names that is not there: exit 2, the stack's field named.
    let missing = manifest(
        "missing.json",
        serde_json::json!({"environmentName": "e2e", "release": "r",
            "stacks": [{"stackName": "x", "template": "hunter2.yaml"}]}),
    );
    let (code, _, err) = text(&stackgate(&["release", "-m", missing.to_str().unwrap()]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("stacks[0].template"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
