//! The local stack: AWS emulated by moto behind a front door, the functions served by
//! `cargo lambda watch`, the state machines created from `statemachines/*.asl.json` exactly as the
//! SAM template wires them. Used by the README's commands and by the end-to-end tests.

pub mod demo;
pub mod deploy;
pub mod diagram;
pub mod execution;
pub mod faults;
pub mod frontdoor;
pub mod http;
pub mod iam;
pub mod jobs;
pub mod load;
pub mod metrics;
pub mod patches;
pub mod pipeline;
pub mod reliability;
pub mod samples;
pub mod template;
pub mod template_policy;

use std::path::PathBuf;

pub const REGION: &str = "us-east-1";

/// The front door's address: `STACKGATE_ENDPOINT`, or the default port.
pub fn endpoint() -> String {
    std::env::var("STACKGATE_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".to_string())
}

/// The stacks-api function's local URL (cargo-lambda's function-URL path).
pub fn api_url() -> String {
    std::env::var("STACKGATE_API_URL").unwrap_or_else(|_| {
        let port = std::env::var("STACKGATE_LAMBDA_PORT").unwrap_or_else(|_| "9000".to_string());
        format!("http://127.0.0.1:{port}/lambda-url/stacks-api")
    })
}

/// The repository root (where `template.yaml` lives). Read at run time first: clones sharing one
/// target dir share a binary that cargo deems fresh, whose compile-time path may be another clone's.
pub fn repo_root() -> PathBuf {
    std::env::var("STACKGATE_REPO")
        .map(PathBuf::from)
        .or_else(|_| {
            std::env::var("CARGO_MANIFEST_DIR").map(|dir| PathBuf::from(dir).join("../.."))
        })
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// SDK configuration pointing every client at the local stack, with throwaway credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(stackgate::aws::sdk::https_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_sfn::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "stackgate-local",
        ))
        .load()
        .await
}

/// Clients for everything the local tooling touches.
#[derive(Debug, Clone)]
pub struct LocalClients {
    pub sfn: aws_sdk_sfn::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub events: aws_sdk_eventbridge::Client,
    config: aws_config::SdkConfig,
}

/// Clients in another account or Region of the local stack.
#[derive(Debug, Clone)]
pub struct Elsewhere {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub events: aws_sdk_eventbridge::Client,
}

impl LocalClients {
    pub async fn connect(endpoint: &str) -> Self {
        let config = sdk_config(endpoint).await;
        LocalClients {
            sfn: aws_sdk_sfn::Client::new(&config),
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(true)
                    .build(),
            ),
            sns: aws_sdk_sns::Client::new(&config),
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            ses: aws_sdk_sesv2::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            config,
        }
    }

    /// Clients in `account` (through its deploy role, as stackgate reaches it; moto keeps each
    /// account apart by the credentials' account) and `region`; `None`: the local stack's own.
    pub async fn elsewhere(
        &self,
        account: Option<&str>,
        region: &str,
    ) -> Result<Elsewhere, BoxError> {
        let mut config = self
            .config
            .to_builder()
            .region(aws_config::Region::new(region.to_string()));
        if let Some(account) = account {
            let assumed = aws_sdk_sts::Client::new(&self.config)
                .assume_role()
                .role_arn(format!(
                    "arn:aws:iam::{account}:role/{}",
                    stackgate::destination::DEPLOY_ROLE
                ))
                .role_session_name("stackgate-local")
                .send()
                .await?;
            let given = assumed
                .credentials()
                .ok_or("STS answered without credentials")?;
            config = config.credentials_provider(
                aws_sdk_cloudformation::config::SharedCredentialsProvider::new(
                    aws_sdk_cloudformation::config::Credentials::new(
                        given.access_key_id(),
                        given.secret_access_key(),
                        Some(given.session_token().to_string()),
                        None,
                        "stackgate-local",
                    ),
                ),
            );
        }
        let config = config.build();
        Ok(Elsewhere {
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            events: aws_sdk_eventbridge::Client::new(&config),
        })
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The tags stackgate puts on the stacks it makes, for tests and staging that create a stack as if
/// stackgate had made it (an abandoned first create, a busy stack, the benchmark's stacks).
pub fn managed_tags(environment: &str) -> Vec<aws_sdk_cloudformation::types::Tag> {
    stackgate::guardrails::with_managed_tags(&Default::default(), environment)
        .into_iter()
        .map(|(key, value)| {
            aws_sdk_cloudformation::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
        })
        .collect()
}

/// A name no other run uses: `prefix`, the time and a per-process counter (tests run in parallel
/// against one local stack).
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
    format!("{prefix}{nanos}x{}", COUNTER.fetch_add(1, Ordering::SeqCst))
}

#[cfg(test)]
mod docs_tests {
    /// `docs/security.md` names a test for every guarantee: each named test exists, so a renamed
    /// or deleted test cannot leave a guarantee pointing at nothing.
    #[test]
    fn every_test_docs_security_names_exists() {
        let root =
            std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..");
        let mut sources = String::new();
        let mut stack = vec![root.join("crates")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    sources.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        let doc = std::fs::read_to_string(root.join("docs/security.md")).unwrap();
        let mut named = 0;
        let mut missing = Vec::new();
        for quoted in doc.split('`').skip(1).step_by(2) {
            let name = quoted.rsplit("::").next().unwrap_or_default();
            // Test names are sentences: snake case with several words.
            if name.matches('_').count() < 3
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
            {
                continue;
            }
            named += 1;
            if !sources.contains(&format!("fn {name}(")) {
                missing.push(quoted.to_string());
            }
        }
        assert!(named > 20, "only {named} tests found in docs/security.md");
        assert!(
            missing.is_empty(),
            "docs/security.md names tests that do not exist: {missing:?}"
        );
    }
}
