//! Helpers of the end-to-end tests on the local stack: running the safe-deploy workflow directly,
//! calling the HTTP API, following executions, reading what a topic published.

use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::Value;
pub use stackgate_local::demo::ARTIFACT_BUCKET;
use stackgate_local::demo::{sample_template, upload_revision};
use stackgate_local::deploy::state_machine_arn;
use stackgate_local::execution::{self, Report};
use stackgate_local::http::{call, send};
use stackgate_local::unique_name as unique;
use stackgate_local::{api_url, endpoint, LocalClients};

pub const TIMEOUT: Duration = Duration::from_secs(240);

pub async fn clients() -> LocalClients {
    LocalClients::connect(&endpoint()).await
}

pub async fn deploy(clients: &LocalClients, input: &Value) -> Report {
    execution::run(
        &clients.sfn,
        &state_machine_arn("SafeDeployStateMachine"),
        &unique("e2e-"),
        input,
        TIMEOUT,
    )
    .await
    .expect("execution ran")
}

pub async fn deploy_revision(
    clients: &LocalClients,
    stack: &str,
    template_file: &str,
    extra: Value,
) -> Report {
    let key = format!("e2e/{}.zip", unique(""));
    let mut input = upload_revision(
        clients,
        &key,
        &sample_template(template_file).unwrap(),
        "e2e",
        stack,
    )
    .await
    .unwrap();
    if let (Value::Object(input), Value::Object(extra)) = (&mut input, extra) {
        input.extend(extra);
    }
    deploy(clients, &input).await
}

pub async fn stack_status(clients: &LocalClients, stack: &str) -> Option<String> {
    let described = clients
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .ok()?;
    described
        .stacks()
        .first()?
        .stack_status()
        .map(|s| s.as_str().to_string())
}

pub fn assert_failed_with(report: &Report, error: &str, cause_contains: &str) {
    assert_eq!(report.status, "FAILED", "{report:?}");
    assert_eq!(report.error.as_deref(), Some(error), "{report:?}");
    let cause = report.cause.as_deref().unwrap_or_default();
    assert!(
        cause.contains(cause_contains),
        "cause {cause:?} lacks {cause_contains:?}"
    );
    assert!(
        report.entered("NotifyFailure"),
        "every failure is notified: {:?}",
        report.states
    );
}

pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Value,
}

/// Calls the API as a well-behaved client does: a 503 ("try again") is tried again, a few times,
/// when the request may be repeated (a read, or one carrying an `Idempotency-Key`).
pub async fn api(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> Reply {
    let body = body.into();
    let repeatable = method == Method::GET
        || headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("idempotency-key"));
    let mut tries = 0;
    loop {
        tries += 1;
        let (status, headers, bytes) = send(
            method.clone(),
            &format!("{}{path}", api_url()),
            headers,
            body.clone(),
        )
        .await
        .expect("the API answered");
        if status == 503 && repeatable && tries < 5 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        return Reply {
            status,
            headers,
            body,
        };
    }
}

/// A JSON request; without a key of the test's choosing, one of its own, as a well-behaved client
/// sends (so that a 503 can be tried again without starting a second execution).
pub async fn api_json(method: Method, path: &str, body: &Value, key: Option<&str>) -> Reply {
    let generated = unique("key-");
    let key = key.unwrap_or(&generated);
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", key),
    ];
    api(method, path, &headers, body.to_string()).await
}

/// `DELETE /stacks/{name}[?query]` with an idempotency key of its own.
pub async fn api_delete(path: &str) -> Reply {
    let key = unique("del-");
    api(
        Method::DELETE,
        path,
        &[("idempotency-key", &key)],
        Vec::new(),
    )
    .await
}

/// Polls the status URL until the execution ends.
pub async fn follow(status_url: &str) -> Value {
    let started = Instant::now();
    loop {
        let reply = api(Method::GET, status_url, &[], Vec::new()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        if reply.body["status"] != "RUNNING" {
            return reply.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "execution did not end"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Uploads a sample template and returns its (path-style, local) URL.
pub async fn template_url(clients: &LocalClients, file: &str) -> String {
    let key = format!("api-e2e/{}/{file}", unique(""));
    clients
        .s3
        .put_object()
        .bucket(ARTIFACT_BUCKET)
        .key(&key)
        .body(sample_template(file).unwrap().into_bytes().into())
        .send()
        .await
        .unwrap();
    // moto reads a TemplateURL path-style only when its host is "localhost".
    format!(
        "{}/{ARTIFACT_BUCKET}/{key}",
        endpoint().replace("127.0.0.1", "localhost")
    )
}

pub fn moto_url() -> String {
    let port = std::env::var("STACKGATE_MOTO_PORT").unwrap_or_else(|_| "4567".to_string());
    format!("http://127.0.0.1:{port}")
}

/// The approval link in the email about `stack`, waiting for it to be sent. The wait is long: under
/// injected faults a nested workflow retries its calls (with backoff) before the email goes out.
pub async fn approval_link(stack: &str) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(180) {
        if let Some(link) = latest_link(stack).await {
            return link;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("no approval email about {stack}");
}

/// The approval link in the email about `subject` that execution `arn` sends, waiting as long as the
/// execution runs (its retries under injected faults take minutes): an execution that ended without
/// sending it fails the test with its report, and one still running after 10 minutes with its states.
pub async fn approval_link_of(clients: &LocalClients, arn: &str, subject: &str) -> String {
    let started = Instant::now();
    loop {
        if let Some(link) = latest_link(subject).await {
            return link;
        }
        let running = execution_status(clients, arn).await == "RUNNING";
        if !running || started.elapsed() > Duration::from_secs(600) {
            // It may have sent the email just before it ended.
            if let Some(link) = latest_link(subject).await {
                return link;
            }
            let report = execution::wait(&clients.sfn, arn, Duration::from_secs(1)).await;
            panic!("no approval email about {subject}: {report:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The execution's status (RUNNING, SUCCEEDED, FAILED …).
pub async fn execution_status(clients: &LocalClients, arn: &str) -> String {
    let described = clients
        .sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .unwrap();
    described.status().as_str().to_string()
}

/// The link in the newest email whose subject names `subject`, if one was sent.
async fn latest_link(subject: &str) -> Option<String> {
    link_in(emails_about(subject).await?.last()?)
}

/// How many emails whose subject names `subject` were sent so far.
pub async fn emails_sent_about(subject: &str) -> usize {
    loop {
        if let Some(emails) = emails_about(subject).await {
            return emails.len();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The approval link in the first email about `subject` sent after the `seen` ones before it:
/// on a stack that already emailed about the same stack, the newest email may be an older one.
pub async fn new_approval_link(subject: &str, seen: usize) -> String {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(180) {
        if let Some(link) = emails_about(subject)
            .await
            .and_then(|emails| emails.get(seen).and_then(link_in))
        {
            return link;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("no new approval email about {subject}");
}

/// The emails whose subject names `subject`, oldest first; `None` when moto's dump failed (it fails
/// now and then, HTTP 500, when another test changes a model meanwhile: ask again).
async fn emails_about(subject: &str) -> Option<Vec<Value>> {
    let (status, body) = call(
        Method::GET,
        &format!("{}/moto-api/data.json", moto_url()),
        None,
    )
    .await
    .unwrap();
    let data: Value = serde_json::from_slice(&body)
        .ok()
        .filter(|_| status == 200)?;
    let messages = data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Some(
        messages
            .into_iter()
            .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(subject)))
            .collect(),
    )
}

/// The approval link in an email.
fn link_in(message: &Value) -> Option<String> {
    // HTML bodies carry the link entity-escaped.
    let body = message["body"]
        .as_str()?
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    let start = body.find("/approvals/").expect("a link in the email");
    let begin = body[..start].rfind("http").unwrap();
    let end = body[begin..]
        .find(['"', '\n', ' ', '<'])
        .map_or(body.len(), |e| begin + e);
    Some(body[begin..end].to_string())
}

/// POSTs the page's form: the link's signed parts and a decision, plus a name typed in as an
/// attacker would (there is no such field: the link's recipient is who decides).
/// A 503 ("not applied, try again": the decision could not be passed on and was put back) is pressed
/// again, as a person would, a few times.
pub async fn decide(link: &str, decision: &str, typed_in_name: &str) -> (u16, String) {
    let (url, query) = link.split_once('?').unwrap();
    let form =
        format!("{query}&decision={decision}&approver={typed_in_name}&comment=from+the+e2e+test");
    let mut tries = 0;
    loop {
        let (status, _, body) = send(
            Method::POST,
            url,
            &[("content-type", "application/x-www-form-urlencoded")],
            form.clone().into_bytes(),
        )
        .await
        .unwrap();
        tries += 1;
        if status != 503 || tries >= 5 {
            return (status, String::from_utf8_lossy(&body).into_owned());
        }
        tokio::time::sleep(Duration::from_secs(tries)).await;
    }
}

/// A queue subscribed to one of the template's topics, to read what a workflow published.
pub struct Subscription {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Subscription {
    pub async fn to(clients: &LocalClients, topic: &str) -> Self {
        use stackgate_local::template::ACCOUNT;
        use stackgate_local::REGION;
        let sqs = aws_sdk_sqs::Client::new(&stackgate_local::sdk_config(&endpoint()).await);
        let name = unique("topic-");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        clients
            .sns
            .subscribe()
            .topic_arn(format!("arn:aws:sns:{REGION}:{ACCOUNT}:{topic}"))
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"))
            .send()
            .await
            .unwrap();
        Subscription { sqs, queue_url }
    }

    async fn receive(&self, max: i32) -> Vec<String> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .send()
            .await
            .unwrap();
        received
            .messages()
            .iter()
            .filter_map(|m| m.body())
            .map(str::to_string)
            .collect()
    }

    /// The next message (the SNS envelope); fails the test when none arrives within seconds.
    pub async fn next(&self) -> Value {
        for _ in 0..40 {
            if let Some(body) = self.receive(1).await.first() {
                return serde_json::from_str(body).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no message");
    }

    /// The message that names `execution_arn`, if one arrives within a few seconds.
    pub async fn about(&self, execution_arn: &str) -> Option<String> {
        for _ in 0..20 {
            if let Some(body) = self
                .receive(10)
                .await
                .into_iter()
                .find(|b| b.contains(execution_arn))
            {
                return Some(body);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

/// A Query API call to moto; `service` is the signing name (the Rust SDK clients for these are not
/// workspace dependencies, and CloudWatch's speaks RPCv2-CBOR, which moto does not).
pub async fn query(service: &str, version: &str, params: &str) -> String {
    let region = stackgate_local::REGION;
    let auth = format!("AWS4-HMAC-SHA256 Credential=test/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0");
    let (status, _, body) = send(
        Method::POST,
        &format!("{}/", endpoint()),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &auth),
        ],
        format!("Version={version}&{params}").into_bytes(),
    )
    .await
    .unwrap();
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{body}");
    body
}

/// An IAM role a function can run as (moto refuses a function whose role does not exist).
pub async fn function_role() -> String {
    let name = unique("fn-role-");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let params = format!(
        "Action=CreateRole&RoleName={name}&AssumeRolePolicyDocument={}",
        percent_encoding::utf8_percent_encode(trust, percent_encoding::NON_ALPHANUMERIC)
    );
    query("iam", "2010-05-08", &params).await;
    format!(
        "arn:aws:iam::{}:role/{name}",
        stackgate_local::template::ACCOUNT
    )
}

/// Starts safe deploy of a sample template (`extra` merged into the input) without waiting for it:
/// for executions that wait for a person.
pub async fn start(clients: &LocalClients, stack: &str, file: &str, extra: Value) -> String {
    let key = format!("approval-e2e/{}.zip", unique(""));
    let mut input = upload_revision(clients, &key, &sample_template(file).unwrap(), "e2e", stack)
        .await
        .unwrap();
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    execution::start(
        &clients.sfn,
        &state_machine_arn("SafeDeployStateMachine"),
        &unique("appr-"),
        &input,
    )
    .await
    .unwrap()
}

pub async fn finish(clients: &LocalClients, arn: &str) -> Report {
    execution::wait(&clients.sfn, arn, TIMEOUT).await.unwrap()
}

/// Waits until the execution has been told to wait for its stack (its plan failed with
/// `StackQueued`: another execution holds the stack).
pub async fn wait_until_queued(clients: &LocalClients, arn: &str) {
    let asked = Instant::now();
    loop {
        let events = execution::history(&clients.sfn, arn).await.unwrap();
        if events
            .iter()
            .any(|e| e.task_failed_event_details().and_then(|d| d.error()) == Some("StackQueued"))
        {
            return;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(120),
            "{arn}, a deployment of a stack another execution holds, was never told to wait"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The functions' metrics so far (their EMF lines in the local stack's `lambda.log`), as
/// `"<name> <dimension>=<value> ..."` to the sum of what was published under it.
pub fn metric_sums() -> std::collections::BTreeMap<String, f64> {
    let log = stackgate_local::samples::run_dir(&stackgate_local::repo_root()).join("lambda.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    stackgate_local::metrics::series(&text)
        .into_iter()
        .map(|series| {
            let mut key = series.name;
            for (name, value) in series.dimensions {
                key.push_str(&format!(" {name}={value}"));
            }
            (key, series.sum)
        })
        .collect()
}

/// Waits (briefly: the lines are written as the functions run) until each metric grew by at least
/// one since `before`; fails naming the ones that did not.
pub async fn assert_metrics_grew(before: &std::collections::BTreeMap<String, f64>, keys: &[&str]) {
    let mut missing = Vec::new();
    for _ in 0..20 {
        let now = metric_sums();
        missing = keys
            .iter()
            .filter(|key| {
                now.get(**key).copied().unwrap_or(0.0)
                    < before.get(**key).copied().unwrap_or(0.0) + 1.0
            })
            .map(|key| key.to_string())
            .collect::<Vec<_>>();
        if missing.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("these metrics were not published: {missing:?}");
}

/// Whether the running local stack injects faults (`STACKGATE_FAULTS`).
pub async fn faults_injected() -> bool {
    let (_, faults) = stackgate_local::http::call(
        hyper::Method::GET,
        &format!("{}/_local/faults", stackgate_local::endpoint()),
        None,
    )
    .await
    .unwrap();
    let faults: Value = serde_json::from_slice(&faults).unwrap();
    !faults["spec"].is_null()
}
