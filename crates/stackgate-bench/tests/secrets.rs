//! Secrets never reach the logs: every function's real binary, started by the benchmark's Lambda
//! Runtime API with logging at TRACE (the most a deployment can switch on), is invoked with events
//! that carry secrets, against the local stack. Everything the process writes and every answer it
//! gives is searched for each planted secret:
//! - the function's own AWS credentials (secret key, session token) — every function;
//! - CodePipeline `artifactCredentials` — pipeline-trigger;
//! - Step Functions task tokens — approval-emailer (in its event), approval-api (stored beside an
//!   approval); the activity dispatcher's tokens come from GetActivityTask, which moto lacks, and
//!   are checked in-process instead (stackgate's `tests/handlers/activity_dispatcher.rs`);
//! - approval link signatures and the signing key (a SecureString) — approval-api and the emailer
//!   (the signatures of the links it made);
//! - configuration values stored as SecureString — pre-provision;
//! - API keys — stacks-api.
//!
//! Needs the local stack (`STACKGATE_ENDPOINT`) and the functions built in the dev profile, as
//! `scripts/test.sh` provides: `cargo test -p stackgate-bench --test secrets -- --ignored`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use stackgate::approval::{self, SigningKey, Status, StoredApproval};
use stackgate_bench::functions;
use stackgate_bench::runtime_api::{cold_start, ColdStart};
use stackgate_local::deploy::SIGNING_KEY_PARAMETER;
use stackgate_local::{endpoint, repo_root, unique_name, LocalClients};

/// A secret planted for one run, named by what it stands for.
#[derive(Clone)]
struct Secret {
    kind: &'static str,
    value: String,
}

/// Kinds that the answer may carry: the approval page posts its link's signature back to itself.
const ANSWERED_TO_THE_LINK_HOLDER: &[&str] = &["approval link signature"];

fn secret(kind: &'static str, prefix: &str) -> Secret {
    // Letters and digits only: no log format escapes them, so a leak cannot hide.
    Secret {
        kind,
        value: unique_name(prefix),
    }
}

/// The local stack's function environment, with credentials of our own to look for.
fn environment(credentials: &[Secret]) -> Vec<(String, String)> {
    let mut env = functions::local_environment(
        &repo_root(),
        &[
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_LAMBDA_LOG_LEVEL",
            "RUST_LOG",
        ],
    );
    env.push(("AWS_SECRET_ACCESS_KEY".into(), credentials[0].value.clone()));
    env.push(("AWS_SESSION_TOKEN".into(), credentials[1].value.clone()));
    env.push(("AWS_LAMBDA_LOG_LEVEL".into(), "trace".into()));
    env
}

fn credentials() -> Vec<Secret> {
    vec![
        secret("AWS secret access key", "plantedSecretKey"),
        secret("AWS session token", "plantedSessionToken"),
    ]
}

fn binary(function: &str) -> PathBuf {
    functions::dev_binary(&repo_root(), function).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `function` once per event and checks its output and answers for every secret.
async fn check(function: &str, events: Vec<Value>, secrets: Vec<Secret>) -> ColdStart {
    let run = run_clean(function, function, events, secrets).await;
    // Logging at TRACE is on: a silent run would prove nothing.
    assert!(
        run.output.lines().count() >= 5,
        "{function} logged almost nothing:\n{}",
        run.output
    );
    run
}

/// `check` for inputs a function may refuse without logging a line; recorded as `label`.
async fn run_clean(
    function: &str,
    label: &str,
    events: Vec<Value>,
    mut secrets: Vec<Secret>,
) -> ColdStart {
    // One function process at a time: two tests starting the same function would meet on the
    // benchmark's Runtime API.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let credentials = credentials();
    let mut process = functions::process(function, binary(function), &environment(&credentials));
    if function == "activity-dispatcher" {
        // Its template timeout: it polls only while a long poll still fits.
        process.timeout = Duration::from_secs(300);
    }
    let run = cold_start(&process, &events)
        .await
        .unwrap_or_else(|e| panic!("{function}: {e}"));
    secrets.extend(credentials);
    assert_clean(label, &run, &secrets);
    run
}

fn assert_clean(function: &str, run: &ColdStart, secrets: &[Secret]) {
    for secret in secrets {
        let answers = run
            .answers
            .iter()
            .filter(|_| !ANSWERED_TO_THE_LINK_HOLDER.contains(&secret.kind));
        for (place, text) in
            std::iter::once(("its logs", &run.output)).chain(answers.map(|a| ("an answer", a)))
        {
            if let Some(at) = text.find(&secret.value) {
                let line = text[..at].rsplit('\n').next().unwrap_or_default();
                panic!(
                    "{function}: the {} reached {place}: …{}",
                    secret.kind,
                    line.chars()
                        .rev()
                        .take(200)
                        .collect::<String>()
                        .chars()
                        .rev()
                        .collect::<String>()
                );
            }
        }
    }
    record(function, run, secrets);
}

/// One line of docs/reliability.md (see `scripts/reliability.sh`).
fn record(function: &str, run: &ColdStart, secrets: &[Secret]) {
    let Some(dir) = std::env::var_os("STACKGATE_REPORT_DIR") else {
        return;
    };
    // A run checked again for more secrets (the emailer's link signatures) adds to its record.
    let earlier: Value = std::fs::read(PathBuf::from(dir).join(format!("secrets/{function}.json")))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut kinds: Vec<String> = secrets.iter().map(|s| s.kind.to_string()).collect();
    kinds.extend(
        earlier["secrets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_string)),
    );
    kinds.sort();
    kinds.dedup();
    stackgate_local::reliability::record(
        "secrets",
        function,
        &json!({
            "function": function,
            "invocations": run.answers.len(),
            "secrets": kinds,
        }),
    );
}

fn sample(file: &str) -> Value {
    serde_json::from_slice(&std::fs::read(repo_root().join("events").join(file)).unwrap()).unwrap()
}

async fn clients() -> LocalClients {
    LocalClients::connect(&endpoint()).await
}

async fn signing_key(clients: &LocalClients) -> (SigningKey, Secret) {
    let (value, version) =
        stackgate::aws::ssm::secure_string_version(&clients.ssm, SIGNING_KEY_PARAMETER)
            .await
            .unwrap()
            .unwrap();
    (
        SigningKey::with_id(version.to_string(), &value).unwrap(),
        Secret {
            kind: "approval signing key",
            value,
        },
    )
}

fn env_value(name: &str) -> String {
    environment(&credentials())
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("{name} is not in the local stack's function environment"))
}

/// The stored approvals (id, task token, expiry) whose task is `task_name`.
async fn stored_tokens(clients: &LocalClients, task_name: &str) -> Vec<(String, String, u64)> {
    let items = clients
        .dynamodb
        .scan()
        .table_name(env_value("APPROVALS_TABLE"))
        .send()
        .await
        .unwrap();
    items
        .items()
        .iter()
        .filter(|item| {
            item.get("request")
                .and_then(|r| r.as_s().ok())
                .is_some_and(|r| r.contains(task_name))
        })
        .map(|item| {
            let text = |name: &str| item.get(name).unwrap().as_s().unwrap().clone();
            let expires = item
                .get("expiresAt")
                .unwrap()
                .as_n()
                .unwrap()
                .parse()
                .unwrap();
            (text("id"), text("taskToken"), expires)
        })
        .collect()
}

/// The signatures of the links made for stored approvals (they are credentials too).
fn link_signatures(key: &SigningKey, stored: &[(String, String, u64)]) -> Vec<Secret> {
    stored
        .iter()
        .flat_map(|(id, token, expires)| {
            [
                Secret {
                    kind: "task token",
                    value: token.clone(),
                },
                Secret {
                    kind: "approval link signature",
                    value: approval::link_signature(
                        key,
                        approval::LinkKind::Decision,
                        id,
                        *expires,
                        stackgate_local::deploy::APPROVER,
                    ),
                },
            ]
        })
        .collect()
}

fn with_api_key(mut event: Value, key: &str) -> Value {
    event["headers"]["x-api-key"] = json!(key);
    event["multiValueHeaders"]["x-api-key"] = json!([key]);
    event["requestContext"]["identity"]["apiKey"] = json!(key);
    event
}

#[tokio::test]
#[ignore = "needs the local stack and the dev binaries (scripts/test.sh)"]
async fn pipeline_trigger_never_logs_artifact_credentials() {
    let secrets = vec![
        secret("CodePipeline artifact secret key", "plantedArtifactSecret"),
        secret(
            "CodePipeline artifact session token",
            "plantedArtifactToken",
        ),
    ];
    let job_id = unique_name("secrets-job-");
    let events: Vec<Value> = [
        "pipeline-trigger-first.json",
        "pipeline-trigger-continue.json",
        "pipeline-trigger-release.json",
    ]
    .iter()
    .map(|file| {
        let mut event = sample(file);
        let job = &mut event["CodePipeline.job"];
        job["id"] = json!(job_id);
        job["data"]["artifactCredentials"]["secretAccessKey"] = json!(secrets[0].value);
        job["data"]["artifactCredentials"]["sessionToken"] = json!(secrets[1].value);
        event
    })
    .collect();
    let run = check("pipeline-trigger", events, secrets).await;
    // The logs are captured: they name the job (identifiers are what the logs are for).
    assert!(run.output.contains(&job_id), "{}", run.output);
}

#[tokio::test]
#[ignore = "needs the local stack and the dev binaries (scripts/test.sh)"]
async fn approval_emailer_never_logs_the_task_token_or_the_link() {
    let clients = clients().await;
    let (key, key_secret) = signing_key(&clients).await;
    let token = secret("task token", "plantedTaskToken");
    let task_name = unique_name("secrets-emailer-");
    let mut event = sample("approval-emailer.json");
    event["taskToken"] = json!(token.value);
    event["request"] = json!({"kind": "manualTask", "taskName": task_name});
    let run = check("approval-emailer", vec![event], vec![token, key_secret]).await;
    // The links it emailed: their signatures must not be in its logs either.
    let stored = stored_tokens(&clients, &task_name).await;
    assert_eq!(stored.len(), 1, "the emailer stored its approval");
    assert_clean("approval-emailer", &run, &link_signatures(&key, &stored));
}

#[tokio::test]
#[ignore = "needs the local stack and the dev binaries (scripts/test.sh)"]
async fn approval_api_never_logs_signatures_tokens_or_the_key() {
    let clients = clients().await;
    let (key, key_secret) = signing_key(&clients).await;
    let table = env_value("APPROVALS_TABLE");
    let token = secret("task token", "plantedStoredToken");
    let id = approval::approval_id(&key, &token.value);
    let expires_at = approval::now() + 3600;
    let stored = StoredApproval {
        id: id.clone(),
        status: Status::Pending,
        created_at: approval::now(),
        expires_at,
        request: serde_json::from_value(
            json!({"kind": "manualTask", "taskName": unique_name("secrets-page-")}),
        )
        .unwrap(),
        decided_by: None,
        decided_at: None,
        comment: None,
        execution_arn: None,
    };
    stackgate::aws::dynamodb::put_approval(&clients.dynamodb, &table, &stored, &token.value)
        .await
        .unwrap();
    let to = stackgate_local::deploy::APPROVER;
    let signature =
        approval::link_signature(&key, approval::LinkKind::Decision, &id, expires_at, to);
    let kid = key.id().to_string();
    let forged = secret("forged link signature", "0123456789abcdefplanted");
    let link = |mut event: Value, sig: &str| {
        let path = event["path"]
            .as_str()
            .unwrap()
            .replace("c3f159ede0fc1635302470752ec25370", &id);
        event["path"] = json!(path);
        event["pathParameters"]["id"] = json!(id);
        if event["queryStringParameters"].is_object() {
            event["queryStringParameters"] =
                json!({"exp": expires_at.to_string(), "kid": kid, "to": to, "sig": sig});
            event["multiValueQueryStringParameters"] =
                json!({"exp": [expires_at.to_string()], "kid": [kid], "to": [to], "sig": [sig]});
        }
        if event["httpMethod"] == "POST" && event["body"].as_str().unwrap().contains("sig=") {
            event["body"] = json!(format!(
                "exp={expires_at}&kid={kid}&to=approver%40example.com&sig={sig}&decision=approve&comment=ok"
            ));
        }
        event
    };
    let events = vec![
        link(sample("approval-api/show.json"), &signature),
        link(sample("approval-api/approve.json"), &forged.value),
        link(sample("approval-api/approve.json"), &signature),
        link(sample("approval-api/job-result.json"), &signature),
    ];
    let secrets = vec![
        token,
        key_secret,
        forged,
        Secret {
            kind: "approval link signature",
            value: signature,
        },
    ];
    let run = check("approval-api", events, secrets).await;
    assert_eq!(run.answers.len(), 4);
}

#[tokio::test]
#[ignore = "needs the local stack and the dev binaries (scripts/test.sh)"]
async fn pre_provision_never_logs_configuration_values() {
    let value = secret("SecureString configuration value", "plantedDbPassword");
    // Published as a CI pipeline would: an object in the config bucket, named in the event.
    let bucket = stackgate_local::template::bucket_name("ProvisioningConfigBucket");
    let key = format!("secrets/{}.json", unique_name("config"));
    clients()
        .await
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(
            json!({"applicationConfig": {"db": {"password": value.value}}})
                .to_string()
                .into_bytes()
                .into(),
        )
        .send()
        .await
        .unwrap();
    let mut event = sample("pre-provision.json");
    event["application"] = json!(unique_name("secrets"));
    event["configObject"] = json!({"bucket": bucket, "key": key});
    check("pre-provision", vec![event], vec![value]).await;
}

#[tokio::test]
#[ignore = "needs the local stack and the dev binaries (scripts/test.sh)"]
async fn stacks_api_never_logs_api_keys() {
    let key = secret("API key", "plantedApiKey");
    let events = [
        "stacks-api/create.json",
        "stacks-api/get-stack.json",
        "stacks-api/create-bad-json.json",
        "stacks-api/not-found.json",
    ]
    .iter()
    .map(|file| with_api_key(sample(file), &key.value))
    .collect();
    check("stacks-api", events, vec![key]).await;
}

/// Functions whose events carry secrets: each has a test of its own above, with those secrets
/// planted. Every other function (a new one included) is checked by the tests below.
const CHECKED_WITH_THEIR_SECRETS: &[&str] = &[
    "pipeline-trigger",
    "approval-emailer",
    "approval-api",
    "pre-provision",
    "stacks-api",
];

/// The remaining functions carry no secret in their events (found in `functions/`, with the
/// benchmark's sample): their own credentials must still stay out of what they log at TRACE (the
/// SDK signs every call with them). moto does not implement GetActivityTask, so no task (and no
/// token) reaches the activity dispatcher here; the tokens it is handed are checked in-process
/// (stackgate's tests/handlers/activity_dispatcher.rs).
#[tokio::test]
#[ignore = "needs the local stack and the dev binaries (scripts/test.sh)"]
async fn no_function_logs_its_own_credentials() {
    let health = format!("{}/_local/health", endpoint());
    for function in functions::function_names(&repo_root()).unwrap() {
        if CHECKED_WITH_THEIR_SECRETS.contains(&function.as_str()) {
            continue;
        }
        let event = functions::event(&repo_root(), &function, &health).unwrap();
        check(&function, vec![event], Vec::new()).await;
    }
}

/// Variants of `value` in which one non-string value becomes a string holding a JSON object with
/// the secret (as when a configuration is JSON-encoded twice: serde's type errors quote such a
/// string, and an error is logged and returned), or one string becomes an object holding it.
/// Strings that hold JSON (an HTTP body, an SNS message) are searched inside and encoded again.
fn planted_variants(value: &Value, secret: &str, depth: usize) -> Vec<Value> {
    // The value mimics serde's own words (", expected"), which a redaction must not be fooled by.
    let secret = &format!("x, expected {secret}");
    let planted = Value::String(format!("{{\"db\": {{\"password\": \"{secret}\"}}}}"));
    let replacements = |child: &Value| -> Vec<Value> {
        match child {
            Value::String(text) if depth < 6 => match serde_json::from_str::<Value>(text) {
                Ok(inner @ Value::Object(_)) => planted_variants(&inner, secret, depth + 1)
                    .into_iter()
                    .map(|v| Value::String(v.to_string()))
                    .collect(),
                _ => vec![json!({"db": {"password": secret}})],
            },
            Value::String(_) => vec![json!({"db": {"password": secret}})],
            Value::Null => Vec::new(),
            Value::Object(_) | Value::Array(_) if depth < 6 => std::iter::once(planted.clone())
                .chain(planted_variants(child, secret, depth + 1))
                .collect(),
            _ => vec![planted.clone()],
        }
    };
    let mut variants = Vec::new();
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                for replacement in replacements(child) {
                    let mut copy = value.clone();
                    copy[key] = replacement;
                    variants.push(copy);
                }
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                for replacement in replacements(child) {
                    let mut copy = value.clone();
                    copy[index] = replacement;
                    variants.push(copy);
                }
            }
        }
        _ => {}
    }
    variants
}

/// Every function, given malformed input whose wrong-typed value is a JSON-encoded secret, refuses
/// it without repeating the value: not in its logs (any level), not in its answer.
#[tokio::test]
#[ignore = "needs the local stack and the dev binaries (scripts/test.sh)"]
async fn no_function_repeats_a_malformed_value() {
    // The samples with the most to parse, where the benchmark's is a simpler one.
    const RICHER: &[(&str, &str)] = &[
        ("approval-api", "approval-api/job-result.json"),
        ("stacks-api", "stacks-api/create.json"),
    ];
    for function in functions::function_names(&repo_root()).unwrap() {
        let function = function.as_str();
        let file = RICHER
            .iter()
            .find(|(name, _)| *name == function)
            .map_or_else(|| functions::event_file(function), |(_, f)| f.to_string());
        let file = file.as_str();
        let planted = secret("a value in malformed input", "plantedMalformedValue");
        let mut events = planted_variants(&sample(file), &planted.value, 0);
        assert!(!events.is_empty(), "{function}: nothing to plant in {file}");
        events.truncate(40);
        let count = events.len();
        let label = format!("{function} (malformed input)");
        let run = run_clean(function, &label, events, vec![planted]).await;
        assert_eq!(
            run.answers.len(),
            count,
            "{function}: every variant answered"
        );
    }
}

#[test]
fn malformed_variants_reach_inside_json_strings() {
    let event = json!({"n": 1, "body": "{\"config\": {\"a\": true}}", "name": "x"});
    let variants = planted_variants(&event, "S3cret", 0);
    assert!(variants
        .iter()
        .any(|v| v["n"].as_str().is_some_and(|s| s.contains("S3cret"))));
    assert!(variants
        .iter()
        .any(|v| v["body"].as_str().is_some_and(|b| b.contains("S3cret"))));
    assert!(variants
        .iter()
        .any(|v| v["name"]["db"]["password"] == "x, expected S3cret"));
}

#[test]
fn the_functions_with_secrets_of_their_own_exist_and_have_their_test() {
    let names = functions::function_names(&repo_root()).unwrap();
    let source = include_str!("secrets.rs");
    for function in CHECKED_WITH_THEIR_SECRETS {
        assert!(
            names.iter().any(|n| n == function),
            "{function} is not a function"
        );
        assert!(
            source.matches(&format!("\"{function}\"")).count() >= 2,
            "{function} has no test of its own"
        );
    }
}
