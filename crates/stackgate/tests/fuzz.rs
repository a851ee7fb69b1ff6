//! Malformed input, property-based: every handler gets random and mutated events (wrong types,
//! missing fields, huge strings, deep nesting, invalid UTF-8 bodies, other functions' events) and
//! must end in success or a typed error (HTTP handlers: a response) without panicking; an input
//! refused as invalid must have made no AWS call. AWS is a recording HTTP client answering 500, so a
//! call that does happen is counted and fails like a broken service would.
//!
//! `FUZZ_CASES` sets the cases per handler (default 10,000, what CI runs); `FUZZ_SEED` the seed
//! (fixed by default so CI is deterministic; `random` to explore).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sfn::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_http_client::test_util::infallible_client_fn;
use lambda_runtime::{Context, LambdaEvent};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use stackgate::approval::SigningKey;
use stackgate::aws::ssm::SigningKeySource;
use stackgate::config::Polling;
use stackgate::tasks::create_change_set::check_stack;
use stackgate::tasks::{
    activity_dispatcher, approval_api, approval_emailer, create_change_set, health_check,
    maintenance_mode, pipeline_trigger, plan_delete, pre_provision, provision_starter,
    stack_operation, stack_status, stacks_api, wait_stack,
};
use stackgate::webhook::WebhookClient;
use stackgate::TaskError;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10_000)
}

/// AWS as a recording client that answers every call with HTTP 500.
struct Aws {
    config: SdkConfig,
    calls: Arc<AtomicUsize>,
}

impl Aws {
    fn new() -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let http = infallible_client_fn(move |_request| {
            counter.fetch_add(1, Ordering::SeqCst);
            lambda_http::http::Response::builder()
                .status(500)
                .body("{}")
                .unwrap()
        });
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .http_client(http)
            .build();
        Aws { config, calls }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn polling(&self) -> Polling {
        Polling {
            wait_budget: std::time::Duration::ZERO,
            interval: std::time::Duration::ZERO,
        }
    }

    fn deps(&self) -> create_change_set::Deps {
        create_change_set::Deps {
            reach: self.reach(),
            cloudformation: aws_sdk_cloudformation::Client::new(&self.config),
            s3: stackgate::aws::s3_client(&self.config),
            polling: self.polling(),
            guardrails: guardrails(),
            sensitive: Default::default(),
            stateful: Default::default(),
            cloudformation_role_arn: None,
            staging_bucket: None,
            template_url_base: None,
            region: "us-east-1".into(),
            rollback_floors: Default::default(),
            alarm_arn_prefix: None,
            detect_drift: false,
            leases: self.leases(),
            guard: Default::default(),
            approvals: None,
        }
    }

    fn leases(&self) -> stackgate::tasks::stack_lease::Leases {
        stackgate::tasks::stack_lease::Leases {
            dynamodb: aws_sdk_dynamodb::Client::new(&self.config),
            sfn: aws_sdk_sfn::Client::new(&self.config),
            table: "leases".into(),
            settings: stackgate::lease::Settings::new("queue", None).unwrap(),
        }
    }

    fn keys(&self) -> SigningKeySource {
        SigningKeySource::ready(stackgate::approval::KeyRing::single(
            SigningKey::new("fuzzing-key-of-at-least-thirty-two-bytes").unwrap(),
        ))
    }

    fn emailer(&self) -> approval_emailer::Deps {
        approval_emailer::Deps {
            dynamodb: aws_sdk_dynamodb::Client::new(&self.config),
            ses: aws_sdk_sesv2::Client::new(&self.config),
            sfn: aws_sdk_sfn::Client::new(&self.config),
            table: "approvals".into(),
            key: self.keys(),
            sender: Some("stackgate@example.com".into()),
            approvers: vec!["ops@example.com".into()],
            base_url: Some("https://api.example/v1".into()),
        }
    }

    fn page(&self) -> approval_api::Deps {
        approval_api::Deps {
            dynamodb: aws_sdk_dynamodb::Client::new(&self.config),
            sfn: aws_sdk_sfn::Client::new(&self.config),
            table: "approvals".into(),
            key: self.keys(),
        }
    }
}

/// The rules the sample events are written for (the local stack's), so that valid samples reach AWS.
fn guardrails() -> stackgate::guardrails::Guardrails {
    stackgate::guardrails::Guardrails::new(
        vec!["api".into(), "demo".into(), "prod".into(), "dev".into()],
        vec!["stackgate-local-artifacts".into(), "templates".into()],
        Some("stackgate-local-artifacts".into()),
        vec!["localhost:4566".into()],
        vec![],
    )
    .unwrap()
}

/// Names the sample events use, so that random objects often hit real fields.
const FIELDS: &[&str] = &[
    "request",
    "executionName",
    "executionArn",
    "environmentName",
    "stackName",
    "templateUrl",
    "templatePath",
    "revisionS3Bucket",
    "revisionS3Key",
    "parameters",
    "tags",
    "onUnsafe",
    "approvalTimeoutSeconds",
    "planId",
    "expiresInSeconds",
    "templateBody",
    "planExpiresAt",
    "applyPlan",
    "releasePlan",
    "release",
    "stacks",
    "dependsOn",
    "waves",
    "maxConcurrency",
    "account",
    "region",
    "changeSetName",
    "changeSetType",
    "stackId",
    "operation",
    "taskToken",
    "timeoutSeconds",
    "kind",
    "instanceId",
    "url",
    "privateIp",
    "action",
    "alarms",
    "names",
    "actionsEnabled",
    "ruleNames",
    "application",
    "environment",
    "configObject",
    "environmentConfig",
    "CodePipeline.job",
    "id",
    "data",
    "continuationToken",
    "Records",
    "Sns",
    "Message",
    "MessageId",
    "body",
    "httpMethod",
    "path",
    "headers",
    "isBase64Encoded",
    "queryStringParameters",
    "pathParameters",
    "requestContext",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any::<String>().prop_map(Value::from),
        prop::sample::select(FIELDS).prop_map(Value::from),
        // Huge strings: past every size limit the handlers have.
        (1usize..4).prop_map(|n| Value::from("x".repeat(n * 70_000))),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(FIELDS).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A value nested `depth` levels deep.
fn deep(depth: usize) -> Value {
    (0..depth).fold(json!("bottom"), |inner, level| {
        if level % 2 == 0 {
            json!([inner])
        } else {
            json!({ "request": inner })
        }
    })
}

/// Every path (object keys, array indexes) in a value.
fn paths(value: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(Value::from(k.as_str()));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(Value::from(i));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(value: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    path.iter()
        .try_fold(value, |node, step| match (node, step) {
            (Value::Object(map), Value::String(k)) => map.get_mut(k),
            (Value::Array(items), Value::Number(i)) => items.get_mut(i.as_u64()? as usize),
            _ => None,
        })
}

#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Replace(Value),
    AddField(String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => Just(Mutation::Remove),
        3 => json().prop_map(Mutation::Replace),
        1 => (key(), json()).prop_map(|(k, v)| Mutation::AddField(k, v)),
    ]
}

fn mutate(mut event: Value, mutations: &[(Index, Mutation)]) -> Value {
    for (index, mutation) in mutations {
        let mut all = Vec::new();
        paths(&event, &mut Vec::new(), &mut all);
        let path = index.get(&all).clone();
        match mutation {
            Mutation::Remove => {
                if let Some((last, parent)) = path.split_last() {
                    match (at(&mut event, parent), last) {
                        (Some(Value::Object(map)), Value::String(k)) => {
                            map.remove(k);
                        }
                        (Some(Value::Array(items)), Value::Number(i)) => {
                            let i = i.as_u64().unwrap_or(0) as usize;
                            if i < items.len() {
                                items.remove(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Mutation::Replace(value) => {
                if let Some(node) = at(&mut event, &path) {
                    *node = value.clone();
                }
            }
            Mutation::AddField(k, value) => {
                if let Some(Value::Object(map)) = at(&mut event, &path) {
                    map.insert(k.clone(), value.clone());
                }
            }
        }
    }
    event
}

fn sample(file: &str) -> Value {
    let path = std::env::var("CARGO_MANIFEST_DIR").unwrap() + "/../../events/" + file;
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Inputs for a handler whose samples are `files`: random values, deep nesting, other
/// functions' events, and mutations of its own samples.
fn inputs(files: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let samples: Vec<Value> = files.iter().map(|f| sample(f)).collect();
    let others: Vec<Value> = [
        "check-stack.json",
        "provision-starter.json",
        "pipeline-trigger-first.json",
        "stacks-api/create.json",
    ]
    .iter()
    .map(|f| sample(f))
    .collect();
    prop_oneof![
        2 => json(),
        1 => (1usize..600).prop_map(deep),
        1 => prop::sample::select(others),
        6 => (prop::sample::select(samples), prop::collection::vec((any::<Index>(), mutation()), 1..4))
            .prop_map(|(base, mutations)| mutate(base, &mutations)),
    ]
}

/// A fixed seed by default, so that CI is deterministic; `FUZZ_SEED=<n>` explores other cases
/// (`FUZZ_SEED=random` a new seed each run).
fn seed() -> proptest::test_runner::RngSeed {
    use proptest::test_runner::RngSeed;
    match std::env::var("FUZZ_SEED").ok().as_deref() {
        Some("random") => RngSeed::Random,
        Some(n) => n.parse().map_or(RngSeed::Random, RngSeed::Fixed),
        None => RngSeed::Fixed(0x5eed_57ac_6a7e),
    }
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        rng_seed: seed(),
        ..Config::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The property for event handlers: no panic (the runner catches it), and an input refused as
/// invalid names its field and reached no AWS API.
fn check_task_result(
    aws: &Aws,
    before: usize,
    result: Result<Value, TaskError>,
) -> Result<(), TestCaseError> {
    if let Err(TaskError::InvalidInput { field, message }) = &result {
        prop_assert!(
            !field.is_empty(),
            "an InvalidInput without a field: {message}"
        );
        let calls = aws.calls() - before;
        prop_assert_eq!(
            calls,
            0,
            "{} AWS call(s) before refusing input ({}: {})",
            calls,
            field,
            message
        );
    }
    Ok(())
}

/// What a metric may name, whatever the input: an environment the operator manages, or one of
/// stackgate's own words (an outcome, an error type, a kind: a capitalised identifier). A request's
/// text in a dimension would be readable by anyone with the account's CloudWatch access.
fn check_metrics(capture: &stackgate::metrics::Capture) -> Result<(), TestCaseError> {
    let environments = ["api", "demo", "prod", "dev"];
    for document in capture.documents() {
        for reading in stackgate::metrics::read(&document.to_string()) {
            for (name, value) in &reading.dimensions {
                let own_word = value.len() <= 40
                    && value.starts_with(|c: char| c.is_ascii_uppercase())
                    && value.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
                let known = if name == stackgate::metrics::ENVIRONMENT {
                    environments.contains(&value.as_str())
                } else {
                    own_word
                };
                prop_assert!(known, "metric {} names {}={:?}", reading.name, name, value);
            }
        }
    }
    Ok(())
}

fn fuzz_task<F, Fut>(files: &'static [&'static str], handler: F)
where
    F: Fn(&Aws, Value) -> Fut,
    Fut: std::future::Future<Output = Result<Value, TaskError>>,
{
    let aws = Aws::new();
    let rt = runtime();
    let outcomes = Outcomes::default();
    runner()
        .run(&inputs(files), |input| {
            // What lambda_runtime does with the runtime's event bytes: an event serde_json cannot
            // read (nested deeper than its recursion limit) is refused there and reported as an
            // error, before the handler.
            let Ok(input) = serde_json::from_str::<Value>(&input.to_string()) else {
                outcomes.count("refused by the runtime (not JSON it can read)");
                return Ok(());
            };
            let before = aws.calls();
            let metrics = stackgate::metrics::Capture::start();
            let result = rt.block_on(handler(&aws, input));
            outcomes.count(match &result {
                Ok(_) => "handled",
                Err(error) => error.error_type(),
            });
            check_metrics(&metrics)?;
            check_task_result(&aws, before, result)
        })
        .unwrap();
    outcomes.report();
}

/// How the cases of one handler ended, for docs/reliability.md.
#[derive(Default)]
struct Outcomes(std::cell::RefCell<std::collections::BTreeMap<String, u64>>);

impl Outcomes {
    fn count(&self, outcome: &str) {
        *self.0.borrow_mut().entry(outcome.to_string()).or_default() += 1;
    }

    /// Named after the test (libtest names each test's thread after it).
    fn report(&self) {
        let test = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        let outcomes = self.0.borrow();
        common::report(
            "fuzz",
            &test,
            json!({"test": test, "cases": outcomes.values().sum::<u64>(), "outcomes": *outcomes}),
        );
    }
}

fn event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

#[test]
fn check_stack_never_panics_and_validates_before_calling_aws() {
    fuzz_task(&["check-stack.json"], |aws, input| {
        let deps = aws.deps();
        async move { check_stack::handle(&deps, event(input)).await }
    });
}

#[test]
fn create_change_set_never_panics_and_validates_before_calling_aws() {
    fuzz_task(&["create-change-set.json"], |aws, input| {
        let deps = aws.deps();
        async move { create_change_set::handle(&deps, event(input)).await }
    });
}

impl Aws {
    /// CloudFormation at home and, through the deploy role, in one other account.
    fn reach(&self) -> stackgate::aws::reach::Reach {
        let role = stackgate::aws::reach::DeployRole {
            targets: stackgate::destination::Targets {
                accounts: vec!["222222222222".into()],
                regions: vec!["eu-west-1".into()],
            },
            name: "stackgate-deploy".into(),
            external_id: Some("stackgate-ext".into()),
            session_name: "stackgate-fuzz".into(),
        };
        stackgate::aws::reach::Reach::new(
            &self.config,
            aws_sdk_cloudformation::Client::new(&self.config),
            aws_sdk_sts::Client::new(&self.config),
            role,
        )
    }

    fn stack_waits(&self) -> wait_stack::Deps {
        wait_stack::Deps {
            reach: self.reach(),
            dynamodb: aws_sdk_dynamodb::Client::new(&self.config),
            sfn: aws_sdk_sfn::Client::new(&self.config),
            table: "waits".into(),
            environments: vec!["prod".into()],
        }
    }
}

#[test]
fn wait_stack_never_panics_and_validates_before_calling_aws() {
    fuzz_task(&["wait-stack.json"], |aws, input| {
        let deps = aws.stack_waits();
        async move { wait_stack::handle(&deps, event(input)).await }
    });
}

#[test]
fn stack_status_never_panics_and_validates_before_calling_aws() {
    fuzz_task(&["stack-status.json"], |aws, input| {
        let deps = aws.stack_waits();
        async move { stack_status::handle(&deps, event(input)).await }
    });
}

#[test]
fn stack_operation_never_panics_and_validates_before_calling_aws() {
    fuzz_task(&["stack-operation.json"], |aws, input| {
        let deps = stack_operation::Deps {
            reach: aws.reach(),
            sfn: aws_sdk_sfn::Client::new(&aws.config),
        };
        async move { stack_operation::handle(&deps, event(input)).await }
    });
}

#[test]
fn plan_delete_never_panics_and_validates_before_calling_aws() {
    fuzz_task(&["plan-delete.json"], |aws, input| {
        let deps = plan_delete::Deps {
            cloudformation: aws_sdk_cloudformation::Client::new(&aws.config),
            guardrails: guardrails(),
            sensitive: Default::default(),
            stateful: Default::default(),
            leases: aws.leases(),
        };
        async move { plan_delete::handle(&deps, event(input)).await }
    });
}

#[test]
fn pipeline_trigger_never_panics_and_validates_before_calling_aws() {
    fuzz_task(
        &[
            "pipeline-trigger-first.json",
            "pipeline-trigger-continue.json",
            "pipeline-trigger-release.json",
        ],
        |aws, input| {
            let clients = pipeline_trigger::Deps {
                sfn: aws_sdk_sfn::Client::new(&aws.config),
                s3: stackgate::aws::s3_client(&aws.config),
                codepipeline: aws_sdk_codepipeline::Client::new(&aws.config),
                state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:SafeDeploy"
                    .into(),
                input_bucket: Some("stackgate-local-artifacts".into()),
                releases: Some(pipeline_trigger::Releases {
                    state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:Release"
                        .into(),
                    guardrails: stackgate::guardrails::Guardrails::new(
                        vec!["prod".into()],
                        vec![],
                        Some("stackgate-local-artifacts".into()),
                        vec![],
                        vec![],
                    )
                    .unwrap(),
                    targets: Default::default(),
                    home_region: "us-east-1".into(),
                }),
            };
            async move { pipeline_trigger::handle(&clients, event(input)).await }
        },
    );
}

#[test]
fn approval_emailer_never_panics_and_validates_before_calling_aws() {
    fuzz_task(&["approval-emailer.json"], |aws, input| {
        let clients = aws.emailer();
        async move { approval_emailer::handle(&clients, event(input)).await }
    });
}

#[test]
fn activity_dispatcher_never_panics() {
    fuzz_task(&["activity-dispatcher.json"], |aws, input| {
        let clients = activity_dispatcher::Deps {
            email: aws.emailer(),
            sfn: aws_sdk_sfn::Client::new(&aws.config),
            ssm: aws_sdk_ssm::Client::new(&aws.config),
            webhook: WebhookClient::new().unwrap(),
            activities: stackgate::activities::configured(
                Some("arn:aws:states:us-east-1:123456789012:activity:manual"),
                None,
                None,
            )
            .unwrap(),
            worker_name: "fuzz".into(),
        };
        async move { activity_dispatcher::handle(&clients, event(input)).await }
    });
}

#[test]
fn health_check_never_panics_and_validates_before_any_request() {
    let deps = std::sync::Arc::new(health_check::Deps {
        webhook: WebhookClient::new().unwrap(),
    });
    fuzz_task(&["health-check.json"], move |_aws, mut input| {
        // Whatever URL the case holds, a request may only go to a closed loopback port.
        if let Some(url) = input.get_mut("url") {
            if url.as_str().is_some_and(|u| u.starts_with("http")) {
                *url = json!("http://127.0.0.1:9/health/{instanceId}");
            }
        }
        let deps = deps.clone();
        async move { health_check::handle(&deps, event(input)).await }
    });
}

#[test]
fn maintenance_mode_never_panics_and_validates_before_calling_aws() {
    fuzz_task(
        &[
            "maintenance-mode-suspend.json",
            "maintenance-mode-restore.json",
        ],
        |aws, input| {
            let deps = maintenance_mode::Deps {
                events: aws_sdk_eventbridge::Client::new(&aws.config),
            };
            async move { maintenance_mode::handle(&deps, event(input)).await }
        },
    );
}

#[test]
fn pre_provision_never_panics_and_validates_before_calling_aws() {
    fuzz_task(&["pre-provision.json"], |aws, input| {
        let clients = pre_provision::Deps {
            ssm: aws_sdk_ssm::Client::new(&aws.config),
            s3: stackgate::aws::s3_client(&aws.config),
            key_id: None,
            config_bucket: Some("stackgate-local-provisioningconfigbucket".into()),
        };
        async move { pre_provision::handle(&clients, event(input)).await }
    });
}

#[test]
fn provision_starter_never_panics_and_validates_before_calling_aws() {
    fuzz_task(&["provision-starter.json"], |aws, input| {
        let clients = provision_starter::Deps {
            sfn: aws_sdk_sfn::Client::new(&aws.config),
            state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:Provisioning"
                .into(),
        };
        async move { provision_starter::handle(&clients, event(input)).await }
    });
}

/// HTTP events: API Gateway proxy events, mutated, plus bodies of random bytes (invalid UTF-8
/// included) sent base64-encoded.
fn http_inputs(files: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let with_binary_body = (
        prop::sample::select(files.iter().map(|f| sample(f)).collect::<Vec<_>>()),
        prop::collection::vec(any::<u8>(), 0..512),
    )
        .prop_map(|(mut base, bytes)| {
            use base64::Engine;
            base["body"] = Value::from(base64::engine::general_purpose::STANDARD.encode(&bytes));
            base["isBase64Encoded"] = Value::from(true);
            base
        });
    prop_oneof![
        4 => inputs(files),
        1 => with_binary_body,
        4 => well_formed_requests(files),
    ]
}

/// Path segments the routes know, and odd ones.
const SEGMENTS: &[&str] = &[
    "stacks",
    "executions",
    "plans",
    "events",
    "deploy-pexample",
    "releases",
    "release-kexample",
    "state",
    "create",
    "delete",
    "accounts",
    "approvals",
    "tasks",
    "result",
    "api-web",
    "deploy-kexample",
    "c3f159ede0fc1635302470752ec25370",
    "",
    "..",
    "%2F",
    "%00",
];

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(SEGMENTS).prop_map(str::to_string),
        1 => any::<String>().prop_map(|s| {
            percent_encoding::utf8_percent_encode(&s, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        }),
        1 => (1usize..300).prop_map(|n| "a".repeat(n)),
    ]
}

/// Printable values for headers and query parameters (what API Gateway passes on).
fn parameter_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "application/json",
            "application/json; charset=utf-8",
            "application/x-www-form-urlencoded",
            "text/plain",
            "approve",
            "reject",
            "1795394689",
            "-1",
            "18446744073709551616",
            "55f9afdb5b26b1453d6dfaaf3e9b788b9a5e88c01350a93b3b226fba66b19f7b",
        ])
        .prop_map(str::to_string),
        any::<u64>().prop_map(|n| format!("{n:x}")),
        (1usize..2000).prop_map(|n| "z".repeat(n)),
    ]
}

/// Events lambda_http reads, so that the cases reach the handler: a sample whose request-level
/// parts are fuzzed (its JSON body mutated or replaced, method, path, query, headers).
fn well_formed_requests(files: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let samples: Vec<Value> = files.iter().map(|f| sample(f)).collect();
    let body = prop_oneof![
        3 => prop::collection::vec((any::<Index>(), mutation()), 1..4).prop_map(Some),
        1 => Just(None),
    ];
    let method = prop::option::of(prop::sample::select(vec![
        "GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS",
    ]));
    let path = prop::option::of(prop::collection::vec(segment(), 1..5));
    let query = prop::option::of(prop::collection::vec(
        (
            prop::sample::select(vec!["exp", "sig", "decision", "approver", "limit", "x"]),
            parameter_value(),
        ),
        0..4,
    ));
    let header = prop::option::of((
        prop::sample::select(vec![
            "content-type",
            "Content-Type",
            "idempotency-key",
            "Idempotency-Key",
            "x-api-key",
            "content-length",
        ]),
        parameter_value(),
    ));
    (
        prop::sample::select(samples),
        body,
        method,
        path,
        query,
        header,
    )
        .prop_map(|(mut event, body, method, path, query, header)| {
            if let Some(mutations) = body {
                let parsed = event["body"]
                    .as_str()
                    .and_then(|b| serde_json::from_str::<Value>(b).ok());
                event["body"] = match parsed {
                    Some(parsed) => Value::from(mutate(parsed, &mutations).to_string()),
                    // Form and empty bodies: replaced by a JSON one.
                    None => Value::from(mutate(json!({}), &mutations).to_string()),
                };
            }
            if let Some(method) = method {
                event["httpMethod"] = json!(method);
                event["requestContext"]["httpMethod"] = json!(method);
            }
            if let Some(segments) = path {
                let path = format!("/{}", segments.join("/"));
                event["path"] = json!(path);
                event["requestContext"]["path"] = json!(format!("/v1{path}"));
            }
            if let Some(pairs) = query {
                let single: Map<String, Value> = pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect();
                let multi: Map<String, Value> = pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!([v])))
                    .collect();
                event["queryStringParameters"] = Value::Object(single);
                event["multiValueQueryStringParameters"] = Value::Object(multi);
            }
            if let Some((name, value)) = header {
                event["headers"][name] = json!(value);
                event["multiValueHeaders"][name] = json!([value]);
            }
            event
        })
}

/// Statuses that mean "your request is wrong": nothing may have reached AWS before them.
const REFUSALS: &[u16] = &[400, 403, 405, 411, 413, 415, 422];

/// Panics inside lambda_http's event conversion are expected (see fuzz_http) and not printed;
/// every other panic is, through the default hook.
fn quiet_lambda_http_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let upstream = info.location().is_some_and(|l| {
                l.file().contains("/lambda_http-") || l.file().contains("/query_map-")
            });
            if !upstream {
                default(info);
            }
        }));
    });
}

fn fuzz_http<F, Fut>(files: &'static [&'static str], handler: F)
where
    F: Fn(&Aws, lambda_http::Request) -> Fut,
    Fut: std::future::Future<
        Output = Result<lambda_http::Response<lambda_http::Body>, std::convert::Infallible>,
    >,
{
    quiet_lambda_http_panics();
    let aws = Aws::new();
    let rt = runtime();
    let outcomes = Outcomes::default();
    runner()
        .run(&http_inputs(files), |input| {
            // What lambda_http does with the runtime's event. An event it cannot read is refused
            // there, before the handler; lambda_http 1.3 panics on some malformed ones (an empty
            // multi-value list, a path that is no URI), which lambda_runtime's CatchPanicService
            // turns into an error for that invocation.
            let text = input.to_string();
            let converted = std::panic::catch_unwind(|| lambda_http::request::from_str(&text));
            let Ok(Ok(request)) = converted else {
                outcomes.count("refused by lambda_http (not an API Gateway event it can read)");
                return Ok(());
            };
            let before = aws.calls();
            let metrics = stackgate::metrics::Capture::start();
            let response = rt.block_on(handler(&aws, request)).unwrap();
            check_metrics(&metrics)?;
            let status = response.status().as_u16();
            outcomes.count(&format!("HTTP {status}"));
            prop_assert!((200..600).contains(&status));
            if REFUSALS.contains(&status) {
                let calls = aws.calls() - before;
                prop_assert_eq!(
                    calls,
                    0,
                    "{} AWS call(s) before answering {}",
                    calls,
                    status
                );
            }
            Ok(())
        })
        .unwrap();
    outcomes.report();
}

#[test]
fn stacks_api_always_answers_and_refuses_bad_requests_before_calling_aws() {
    fuzz_http(
        &[
            "stacks-api/create.json",
            "stacks-api/get-stack.json",
            "stacks-api/get-stack-events.json",
            "stacks-api/delete-stack.json",
            "stacks-api/get-execution.json",
            "stacks-api/compat-create.json",
            "stacks-api/create-account.json",
        ],
        |aws, request| {
            let clients = stacks_api::Deps {
                sfn: aws_sdk_sfn::Client::new(&aws.config),
                cloudformation: aws_sdk_cloudformation::Client::new(&aws.config),
                deploy_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:SafeDeploy"
                    .into(),
                delete_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:SafeDelete"
                    .into(),
                vending_machine_arn: Some(
                    "arn:aws:states:us-east-1:123456789012:stateMachine:Vending".into(),
                ),
                release_machine_arn: Some(
                    "arn:aws:states:us-east-1:123456789012:stateMachine:Release".into(),
                ),
                config: stackgate::api::ApiConfig {
                    // Inline templates on: a templateBody is stored only after every refusal.
                    guardrails: guardrails().with_inline_templates("staging".into()),
                    max_body_bytes: 64 * 1024,
                    plan_seconds: 3600,
                    targets: Default::default(),
                    home_region: "us-east-1".into(),
                },
                template_url_base: None,
                region: "us-east-1".into(),
                refuse_busy: None,
                s3: Some(aws_sdk_s3::Client::new(&aws.config)),
            };
            async move { stacks_api::handle(&clients, request).await }
        },
    );
}

#[test]
fn approval_api_always_answers_and_refuses_bad_links_before_calling_aws() {
    fuzz_http(
        &[
            "approval-api/show.json",
            "approval-api/approve.json",
            "approval-api/job-result.json",
            "approval-api/forged-link.json",
        ],
        |aws, request| {
            let clients = aws.page();
            async move { approval_api::handle(&clients, request).await }
        },
    );
}

/// Every function is fuzzed: a new one fails here until it has its test above (named after it, and
/// calling its handler).
#[test]
fn every_function_is_fuzzed() {
    let functions =
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../functions");
    let source = include_str!("fuzz.rs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(functions).unwrap() {
        let name = entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .replace('-', "_");
        let test = [
            format!("fn {name}_never_panics"),
            format!("fn {name}_always_answers"),
        ];
        let handler = format!("{name}::handle(");
        if !(test.iter().any(|t| source.contains(t.as_str())) && source.contains(&handler)) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "functions without a fuzz test: {missing:?}"
    );
}
