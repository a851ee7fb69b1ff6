//! Every sample in `events/` and every `cargo lambda invoke` command the docs show, run as a user
//! runs them on the local stack, whose `up` staged what the samples name: each takes its function's
//! normal path, except the samples that exist to show an error, which must show that error. The
//! commands are read from the docs' code blocks, so a command changed there is tested as changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use stackgate_local::samples;
use stackgate_local::{endpoint, repo_root, LocalClients};

/// What a sample must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// The function's normal path: no error; an API answer with a 2xx status; a CodePipeline job
    /// not failed.
    Normal,
    /// An API answer with this status.
    Status(u16),
    /// The function fails with this error type.
    Error(&'static str),
}

/// The samples that exist to show an error (or, on the local stack, cannot avoid one), and why.
const SHOWING_AN_ERROR: &[(&str, Expected, &str)] = &[
    (
        "events/approval-api/approve.json",
        Expected::Status(410),
        "through `sample` the link is good, but no workflow waits on its task",
    ),
    (
        "events/approval-api/forged-link.json",
        Expected::Status(403),
        "a link no key signed",
    ),
    (
        "events/approval-api/job-result.json",
        Expected::Status(403),
        "a real link comes in the job's email",
    ),
    (
        "events/health-check.json",
        Expected::Error("InstanceNotReady"),
        "its instance is in a VPC; there is none locally",
    ),
    (
        "events/stacks-api/create-bad-json.json",
        Expected::Status(400),
        "malformed JSON",
    ),
    (
        "events/stacks-api/create-bad-stack-name.json",
        Expected::Status(400),
        "an invalid name",
    ),
    (
        "events/stacks-api/create-bucket-not-allowed.json",
        Expected::Status(400),
        "a bucket the operator did not allow",
    ),
    (
        "events/stacks-api/create-wrong-content-type.json",
        Expected::Status(415),
        "a form body",
    ),
    (
        "events/stacks-api/get-stack-unmanaged.json",
        Expected::Status(404),
        "a stack stackgate did not make",
    ),
    (
        "events/stacks-api/method-not-allowed.json",
        Expected::Status(405),
        "PUT on a stack",
    ),
    (
        "events/stacks-api/not-found.json",
        Expected::Status(404),
        "no such route",
    ),
];

/// Samples that are not a function's: the benchmark's baseline task (the seeds' polling Lambda).
const NOT_A_FUNCTIONS: &[&str] = &["events/check-stack.json"];

/// Samples whose normal path works once, run as the docs say: through `stackgate-local sample`.
const RUN_FRESH: &[&str] = &[
    "events/approval-api/approve.json",
    "events/stack-operation.json",
];

fn expected(file: &Path) -> Expected {
    SHOWING_AN_ERROR
        .iter()
        .find(|(path, _, _)| file == Path::new(path))
        .map_or(Expected::Normal, |(_, expected, _)| *expected)
}

/// The function a sample is for: the longest function name its file (or directory) starts with.
fn function_of(repo: &Path, file: &Path) -> String {
    let first = file
        .strip_prefix("events")
        .unwrap()
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .to_string();
    std::fs::read_dir(repo.join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| first.starts_with(name.as_str()))
        .max_by_key(String::len)
        .unwrap_or_else(|| panic!("no function for {}", file.display()))
}

/// The CodePipeline job id of the pipeline samples (the first call's and its continuation's).
const SAMPLE_JOB_ID: &str = "11111111-abcd-1111-abcd-111111abcdef";
/// The job id of the pipeline's release sample, another job.
const RELEASE_JOB_ID: &str = "22222222-abcd-2222-abcd-222222abcdef";

/// The sample as this local stack can read it: the docs' samples name the default port, and a
/// job is answered once, so each run gives the pipeline samples a job id of its own (the first
/// call's execution is named after it, and the continuation polls that execution).
fn on_this_stack(event: &str, job_id: &str) -> String {
    let port = std::env::var("STACKGATE_PORT").unwrap_or_else(|_| "4566".into());
    event
        .replace("localhost:4566", &format!("localhost:{port}"))
        .replace(SAMPLE_JOB_ID, job_id)
        .replace(RELEASE_JOB_ID, &job_id.replacen("-0000-", "-0001-", 1))
}

/// `cargo lambda invoke` as the docs show it (the cargo-lambda binary the local stack runs, given
/// `lambda invoke`, is what `cargo lambda invoke` runs): whether it succeeded, and what it printed.
fn invoke(function: &str, event: &str, job_id: &str) -> (bool, String) {
    let home = std::env::var("STACKGATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".stackgate"));
    let port = std::env::var("STACKGATE_LAMBDA_PORT").unwrap_or_else(|_| "9000".into());
    let file = std::env::temp_dir().join(stackgate_local::unique_name("sample-") + ".json");
    std::fs::write(&file, on_this_stack(event, job_id)).unwrap();
    let output = Command::new(home.join("venv-cargo-lambda/bin/cargo-lambda"))
        .args(["lambda", "invoke", "-A", "127.0.0.1", "-P", &port, function])
        .arg("--data-file")
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let printed = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), printed)
}

/// Whether what `invoke` gave is `expected`.
fn answered(expected: Expected, succeeded: bool, printed: &str) -> bool {
    let answer: Option<Value> = serde_json::from_str(printed.trim()).ok();
    let status = answer
        .as_ref()
        .and_then(|a| a.get("statusCode"))
        .and_then(Value::as_u64);
    match expected {
        Expected::Normal => {
            succeeded
                && status.is_none_or(|s| (200..300).contains(&s))
                && answer
                    .as_ref()
                    .and_then(|a| a.get("answer"))
                    .and_then(Value::as_str)
                    != Some("FAILED")
        }
        Expected::Status(want) => succeeded && status == Some(u64::from(want)),
        Expected::Error(kind) => !succeeded && printed.contains(&format!("Error: {kind}")),
    }
}

/// A `cargo lambda invoke` command in the docs' shell blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Documented {
    function: String,
    /// The sample it invokes (relative to the repository).
    sample: String,
    /// Whether the docs pass it through `stackgate-local sample` first (`... sample X > file`,
    /// then `--data-file file`).
    fresh: bool,
}

/// The `cargo lambda invoke` commands in the docs' shell blocks, in order.
fn documented_invocations(repo: &Path) -> Vec<Documented> {
    let mut docs: Vec<PathBuf> = vec![repo.join("README.md")];
    for entry in std::fs::read_dir(repo.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    docs.sort();
    let mut commands = Vec::new();
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        // Files written by `stackgate-local sample <sample> > <file>`, and from which sample.
        let mut printed: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            let line = line.split(" #").next().unwrap_or_default().trim();
            if let Some((_, rest)) = line.split_once("stackgate-local -- sample ") {
                if let Some((sample, file)) = rest.split_once('>') {
                    printed.push((file.trim().to_string(), sample.trim().to_string()));
                }
                continue;
            }
            let Some(args) = line.strip_prefix("cargo lambda invoke ") else {
                continue;
            };
            let words: Vec<&str> = args.split_whitespace().collect();
            let data = words
                .iter()
                .position(|w| *w == "--data-file")
                .and_then(|i| words.get(i + 1))
                .unwrap_or_else(|| panic!("{}: {line}: no --data-file", doc.display()));
            // The function is the one word that is not an option or an option's value.
            let mut function = None;
            let mut i = 0;
            while i < words.len() {
                if words[i].starts_with('-') {
                    i += 2;
                } else {
                    function = Some(words[i]);
                    i += 1;
                }
            }
            let function =
                function.unwrap_or_else(|| panic!("{}: {line}: no function", doc.display()));
            let from_sample = printed.iter().find(|(file, _)| file == data);
            commands.push(Documented {
                function: function.to_string(),
                sample: from_sample.map_or(data.to_string(), |(_, sample)| sample.clone()),
                fresh: from_sample.is_some(),
            });
        }
    }
    commands
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn every_documented_command_sample_and_round_trip_gives_its_documented_answer() {
    let repo = repo_root();
    let clients = LocalClients::connect(&endpoint()).await;
    // As `up` did (again, so that a second run finds what the first one deleted).
    samples::stage_all(&repo, &clients).await.unwrap();
    let env_text = std::fs::read_to_string(samples::local_env_file(&repo)).unwrap();
    let env = samples::parse_env_file(&env_text);
    let mut failures = Vec::new();
    let job_id = stackgate_local::pipeline::fresh_job_id();

    // The docs' commands first, as a reader runs them right after `up`.
    let documented = documented_invocations(&repo);
    assert!(
        documented.len() >= 2,
        "the docs show cargo lambda invoke: {documented:?}"
    );
    for command in &documented {
        let mut event = samples::read(&repo, Path::new(&command.sample)).unwrap();
        if command.fresh {
            samples::fresh(&clients, &env, &mut event).await.unwrap();
        }
        let (succeeded, printed) = invoke(&command.function, &event.to_string(), &job_id);
        if !answered(Expected::Normal, succeeded, &printed) {
            failures.push(format!("{command:?}: {printed}"));
        }
    }

    // Then every other sample. A continuation follows its first call (it polls the execution the
    // first call started).
    let mut files = samples::sample_files(&repo).unwrap();
    files.sort_by_key(|f| f.to_string_lossy().replace("-continue", "-~continue"));
    for file in files {
        let data = file.to_string_lossy().to_string();
        if NOT_A_FUNCTIONS.contains(&data.as_str())
            || documented.iter().any(|command| command.sample == data)
        {
            continue;
        }
        let mut event = samples::read(&repo, &file).unwrap();
        if RUN_FRESH.contains(&data.as_str()) {
            samples::fresh(&clients, &env, &mut event).await.unwrap();
        }
        let function = function_of(&repo, &file);
        let expected = expected(&file);
        let (succeeded, printed) = invoke(&function, &event.to_string(), &job_id);
        if !answered(expected, succeeded, &printed) {
            failures.push(format!(
                "{data} ({function}), expected {expected:?}: {printed}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // After the samples (it deletes the stack they read, with a person's yes).
    the_documented_round_trips_give_what_their_comments_say().await;
}

#[test]
fn the_docs_show_the_invocations_this_test_runs() {
    let repo = repo_root();
    let documented = documented_invocations(&repo);
    assert!(documented.contains(&Documented {
        function: "create-change-set".into(),
        sample: "events/create-change-set.json".into(),
        fresh: false,
    }));
    assert!(documented.contains(&Documented {
        function: "approval-api".into(),
        sample: "events/approval-api/show.json".into(),
        fresh: true,
    }));
    for command in documented {
        let function = &command.function;
        assert!(repo.join("functions").join(function).is_dir(), "{function}");
        assert!(repo.join(&command.sample).is_file(), "{command:?}");
    }
    for (path, _, _) in SHOWING_AN_ERROR {
        assert!(repo.join(path).is_file(), "{path}");
    }
}

#[test]
fn answers_are_told_apart() {
    let ok = r#"{"statusCode":202,"body":"{}"}"#;
    assert!(answered(Expected::Normal, true, ok));
    assert!(!answered(Expected::Status(400), true, ok));
    assert!(answered(
        Expected::Status(400),
        true,
        r#"{"statusCode":400}"#
    ));
    assert!(!answered(Expected::Normal, true, r#"{"statusCode":404}"#));
    assert!(!answered(
        Expected::Normal,
        true,
        r#"{"jobId":"j","answer":"FAILED"}"#
    ));
    assert!(answered(
        Expected::Normal,
        true,
        r#"{"jobId":"j","answer":"STARTED"}"#
    ));
    assert!(!answered(Expected::Normal, false, "Error: AwsError"));
    assert!(answered(
        Expected::Error("InstanceNotReady"),
        false,
        "Error: InstanceNotReady\n  x instance i-1 is not ready"
    ));
    assert!(!answered(Expected::Error("InstanceNotReady"), true, "{}"));
}

/// The commands of the first shell block after `heading` in `doc`, continuation lines joined, each
/// with its trailing comment (a comment alone on a line continues the one before).
fn shell_block(repo: &Path, doc: &str, heading: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo.join(doc)).unwrap();
    let after = text
        .split_once(heading)
        .unwrap_or_else(|| panic!("{doc} has no {heading}"))
        .1;
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .unwrap_or_else(|| panic!("{doc}: no shell block after {heading}"))
        .0;
    let mut commands: Vec<(String, String)> = Vec::new();
    let mut continued = false;
    for line in block.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            if let Some((_, comment)) = commands.last_mut() {
                comment.push(' ');
                comment.push_str(trimmed.trim_start_matches('#').trim());
            }
            continue;
        }
        let (command, comment) = match trimmed.find(" #") {
            Some(at) => (trimmed[..at].trim(), trimmed[at + 2..].trim()),
            None => (trimmed, ""),
        };
        let (command, continues) = match command.strip_suffix('\\') {
            Some(command) => (command.trim_end(), true),
            None => (command, false),
        };
        match commands.last_mut() {
            Some((last, last_comment)) if continued => {
                last.push(' ');
                last.push_str(command);
                last_comment.push_str(comment);
            }
            _ => commands.push((command.to_string(), comment.to_string())),
        }
        continued = continues;
    }
    commands
}

/// A documented command run by bash in the repository, against this local stack's ports (the docs
/// name the default ones) and with this build's `stackgate-local` for `cargo run -p stackgate-local`
/// (a `cargo run` of one package would rebuild the workspace's binaries with other features).
fn sh(command: &str, api: &str) -> (bool, String) {
    let lambda_port = std::env::var("STACKGATE_LAMBDA_PORT").unwrap_or_else(|_| "9000".into());
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"));
    let front_door = endpoint();
    let command = command
        .replace("http://127.0.0.1:4566", &front_door)
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{lambda_port}"))
        .replace(
            "cargo run -q -p stackgate-local --",
            &target.join("debug/stackgate-local").display().to_string(),
        );
    let output = Command::new("bash")
        .args(["-c", &command])
        .current_dir(repo_root())
        .env("API", api)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).to_string();
    (output.status.success(), printed)
}

/// Polls `$API/executions/<id>` as the docs do until the execution has ended.
fn ended(api: &str, id: &str) -> Value {
    for _ in 0..600 {
        let (_, printed) = sh(&format!("curl -s $API/executions/{id}"), api);
        let answer: Value = serde_json::from_str(&printed).unwrap_or_default();
        if answer["status"].as_str().is_some_and(|s| s != "RUNNING") {
            return answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("execution {id} did not end");
}

/// `docs/api.md`'s round trip and `docs/workflows.md`'s local pipeline run, command by command as
/// written; each command's comment says what it gives, and that is what is checked.
async fn the_documented_round_trips_give_what_their_comments_say() {
    let repo = repo_root();
    let mut api = String::new();
    let mut last_execution: Option<String> = None;
    for (command, comment) in
        shell_block(&repo, "docs/api.md", "## A round trip on the local stack")
    {
        if command.starts_with("scripts/local-stack.sh") {
            continue;
        }
        if let Some(value) = command.strip_prefix("API=") {
            let port = std::env::var("STACKGATE_LAMBDA_PORT").unwrap_or_else(|_| "9000".into());
            api = value.replace("127.0.0.1:9000", &format!("127.0.0.1:{port}"));
            continue;
        }
        let command = match &last_execution {
            Some(id) => command.replace("<executionId>", id),
            None => command,
        };
        // A key of this run's own: the documented one names the first run's execution forever.
        let command = match command.split_once("idempotency-key: ") {
            Some((before, after)) => {
                let rest = &after[after.find('\'').unwrap_or(after.len())..];
                format!(
                    "{before}idempotency-key: {}{rest}",
                    stackgate_local::unique_name("doc-")
                )
            }
            None => command,
        };
        let stack_named = command
            .split("/stacks/")
            .nth(1)
            .and_then(|rest| rest.split(['?', '"', ' ']).next())
            .map(str::to_string);
        let emails_before = match &stack_named {
            Some(stack) => crate::common::emails_sent_about(stack).await,
            None => 0,
        };
        let (succeeded, printed) = sh(&command, &api);
        assert!(succeeded, "{command}: {printed}");
        if command.contains("-X PUT") {
            continue;
        }
        let answer: Value =
            serde_json::from_str(&printed).unwrap_or_else(|e| panic!("{command}: {e}: {printed}"));
        if let Some((_, wanted)) = comment.split_once("poll until \"status\" is ") {
            let id = last_execution.as_deref().unwrap();
            let end = ended(&api, id);
            assert_eq!(end["status"], wanted.trim(), "{command}: {end}");
            continue;
        }
        let Some(id) = answer["executionId"].as_str() else {
            // A read: the stack's status (and outputs, last failure).
            assert!(comment.starts_with("status"), "{command}: {answer}");
            assert!(
                answer["status"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("_COMPLETE")),
                "{command}: {answer}"
            );
            continue;
        };
        last_execution = Some(id.to_string());
        if let Some((_, outcome)) = comment.split_once("ends FAILED with ") {
            let error = outcome.split(':').next().unwrap().trim();
            let end = ended(&api, id);
            assert_eq!(end["status"], "FAILED", "{command}: {end}");
            assert_eq!(end["error"], error, "{command}: {end}");
        }
        if comment.contains("asks people") && comment.contains("their yes deletes it") {
            let stack = stack_named.as_deref().unwrap();
            let link = crate::common::new_approval_link(stack, emails_before).await;
            let (code, page) = crate::common::decide(&link, "approve", "Ana").await;
            assert_eq!(code, 200, "{page}");
            let end = ended(&api, id);
            assert_eq!(end["status"], "SUCCEEDED", "{command}: {end}");
        }
    }
    assert!(last_execution.is_some(), "the round trip started nothing");

    // The pipeline run: the job answered finally, and listed by the front door.
    let block = shell_block(&repo, "docs/workflows.md", "A local pipeline run");
    let mut job = None;
    for (command, _) in block {
        if command.starts_with("scripts/local-stack.sh") {
            continue;
        }
        let (succeeded, printed) = sh(&command, &api);
        assert!(succeeded, "{command}: {printed}");
        if let Some(line) = printed.lines().find(|l| l.starts_with("job ")) {
            job = Some(
                line.trim_start_matches("job ")
                    .trim_matches('"')
                    .to_string(),
            );
            continue;
        }
        let jobs: Value = serde_json::from_str(&printed).unwrap();
        let job = job.as_deref().expect("pipeline-run named its job");
        assert!(
            jobs["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|j| j["jobId"] == job && j["status"] == "Succeeded"),
            "{job} answered: {jobs}"
        );
    }
    assert!(job.is_some(), "the pipeline run ran");
}

#[test]
fn shell_blocks_are_read_command_by_command() {
    let block = shell_block(
        &repo_root(),
        "docs/api.md",
        "## A round trip on the local stack",
    );
    assert!(block.iter().any(|(c, _)| c.starts_with("API=")));
    let post = block
        .iter()
        .find(|(c, _)| c.contains("-X POST"))
        .expect("the round trip creates a stack");
    assert!(
        post.0.contains("-d '{"),
        "a continued line is joined: {}",
        post.0
    );
    let delete = block
        .iter()
        .find(|(c, _)| c.contains("-X DELETE $API"))
        .unwrap();
    assert!(delete.1.contains("UnsafeDeletion"), "{}", delete.1);
    assert!(
        delete.1.contains("DeletionPolicy"),
        "a comment line continues: {}",
        delete.1
    );
    let pipeline = shell_block(&repo_root(), "docs/workflows.md", "A local pipeline run");
    assert!(pipeline.iter().any(|(c, _)| c.contains("pipeline-run")
        && c.contains("--template examples/templates/app-v1.yaml")));
}
