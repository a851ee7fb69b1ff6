//! AWS adapters, one module per service, and the translation of SDK errors into task errors.

pub mod cloudformation;
pub mod codepipeline;
pub mod dynamodb;
pub mod eventbridge;
pub mod s3;
pub mod sdk;
pub mod ses;
pub mod sfn;
pub mod ssm;

use std::time::Duration;

use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::operation::RequestId;

use crate::TaskError;

/// A function setting from the environment; empty counts as unset.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A setting the function cannot work without: its absence is a deployment error that names it.
pub fn required_env(name: &str) -> Result<String, TaskError> {
    env_var(name)
        .ok_or_else(|| TaskError::invalid(name, "must be set in the function's environment"))
}

/// Settings read once per process from the function's environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bucket for templates too large for an inline body (`STAGING_BUCKET`).
    pub staging_bucket: Option<String>,
    /// Service role CloudFormation deploys with (`CLOUDFORMATION_ROLE_ARN`).
    pub cloudformation_role_arn: Option<String>,
    /// Longest a single invocation waits before handing back to the state machine's Retry.
    pub wait_budget: Duration,
    pub poll_interval: Duration,
    /// Base of the URLs CloudFormation fetches staged templates from (`TEMPLATE_URL_BASE`), for
    /// S3 endpoints other than AWS's regional one; defaults to the SDK endpoint override, if any.
    pub template_url_base: Option<String>,
    pub region: String,
}

impl Settings {
    pub fn from_env(endpoint: Option<String>, region: String) -> Self {
        let seconds = |name: &str, default: u64| {
            env_var(name)
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(Duration::from_secs(default), Duration::from_secs)
        };
        Settings {
            staging_bucket: env_var("STAGING_BUCKET"),
            cloudformation_role_arn: env_var("CLOUDFORMATION_ROLE_ARN"),
            wait_budget: seconds("STACKGATE_WAIT_SECONDS", 600),
            poll_interval: seconds("STACKGATE_POLL_SECONDS", 5),
            template_url_base: env_var("TEMPLATE_URL_BASE").or(endpoint),
            region,
        }
    }
}

/// The SDK clients a function uses, built once per process and shared by every invocation.
#[derive(Debug, Clone)]
pub struct Clients {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub settings: Settings,
}

impl Clients {
    pub async fn from_env() -> Self {
        Self::from_config(&sdk::sdk_config())
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        let endpoint = config.endpoint_url().map(str::to_string);
        let region = config
            .region()
            .map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
        Clients {
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            s3: s3_client(config),
            settings: Settings::from_env(endpoint, region),
        }
    }
}

/// An S3 client; path-style addressing where an endpoint override is set (S3 emulators need it).
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// The clients of the CodePipeline trigger, and the state machine it starts (`STATE_MACHINE_ARN`).
#[derive(Debug, Clone)]
pub struct PipelineClients {
    pub sfn: aws_sdk_sfn::Client,
    pub s3: aws_sdk_s3::Client,
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub state_machine_arn: String,
}

impl PipelineClients {
    pub async fn from_env() -> Result<Self, TaskError> {
        let state_machine_arn = required_env("STATE_MACHINE_ARN")?;
        let config = sdk::sdk_config();
        Ok(PipelineClients {
            sfn: aws_sdk_sfn::Client::new(&config),
            s3: s3_client(&config),
            codepipeline: aws_sdk_codepipeline::Client::new(&config),
            state_machine_arn,
        })
    }
}

/// The approval signing keys: given, or read from their SecureString on first use and again after
/// `ttl`, so that a rotation reaches warm functions within minutes. The parameter's current
/// version signs; its previous version still verifies (links sent before a rotation keep working).
/// Init makes no AWS call, and a missing key fails the invocation that needs it with a clear error.
/// If SSM cannot be read when the keys are due for a refresh, the keys already read stay in use.
#[derive(Debug, Clone)]
pub struct SigningKeySource {
    parameter: Option<(aws_sdk_ssm::Client, String)>,
    ttl: Duration,
    cache: std::sync::Arc<tokio::sync::Mutex<Option<(std::time::Instant, KeysRead)>>>,
}

type KeysRead = std::sync::Arc<crate::approval::KeyRing>;

/// How long keys read from SSM are used before they are read again.
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(300);

impl SigningKeySource {
    pub fn ready(keys: crate::approval::KeyRing) -> Self {
        SigningKeySource {
            parameter: None,
            ttl: Duration::MAX,
            cache: std::sync::Arc::new(tokio::sync::Mutex::new(Some((
                std::time::Instant::now(),
                std::sync::Arc::new(keys),
            )))),
        }
    }

    pub fn parameter(ssm: aws_sdk_ssm::Client, name: String, ttl: Duration) -> Self {
        SigningKeySource {
            parameter: Some((ssm, name)),
            ttl,
            cache: std::sync::Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Boxed: the SDK call's future nested into every caller's would pass the compiler's type
    /// depth limit.
    pub fn keys(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<KeysRead, TaskError>> + Send + '_>>
    {
        Box::pin(async move {
            let mut cache = self.cache.lock().await;
            if let Some((read_at, keys)) = cache.as_ref() {
                if self.parameter.is_none() || read_at.elapsed() < self.ttl {
                    return Ok(keys.clone());
                }
            }
            match self.read().await {
                Ok(keys) => {
                    *cache = Some((std::time::Instant::now(), keys.clone()));
                    Ok(keys)
                }
                Err(error) => match cache.as_ref() {
                    Some((_, keys)) => {
                        tracing::warn!(
                            error_type = error.error_type(),
                            "signing keys not refreshed; using the ones read before"
                        );
                        Ok(keys.clone())
                    }
                    None => Err(error),
                },
            }
        })
    }

    async fn read(&self) -> Result<KeysRead, TaskError> {
        use crate::approval::{KeyRing, SigningKey};
        let (ssm, name) = self.parameter.as_ref().ok_or_else(|| {
            TaskError::invalid("SIGNING_KEY_PARAMETER", "no signing key is configured")
        })?;
        let (secret, version) = ssm::secure_string_version(ssm, name)
            .await?
            .ok_or_else(|| TaskError::invalid(name, "the signing key parameter does not exist"))?;
        let current = SigningKey::with_id(version.to_string(), &secret)?;
        let previous = match version {
            v if v > 1 => ssm::secure_string_version(ssm, &format!("{name}:{}", v - 1))
                .await?
                .and_then(|(secret, v)| SigningKey::with_id(v.to_string(), &secret).ok()),
            _ => None,
        };
        Ok(std::sync::Arc::new(KeyRing { current, previous }))
    }
}

/// The clients and settings of the approval functions (emailer and page).
#[derive(Debug, Clone)]
pub struct ApprovalClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub sfn: aws_sdk_sfn::Client,
    /// `APPROVALS_TABLE`
    pub table: String,
    /// The SecureString named by `SIGNING_KEY_PARAMETER` (current and previous version), read on
    /// first use and again every `SIGNING_KEY_CACHE_SECONDS` (default 300).
    pub key: SigningKeySource,
    /// `SENDER`: the SES identity emails come from.
    pub sender: Option<String>,
    /// `APPROVERS`: comma-separated addresses.
    pub approvers: Vec<String>,
    /// `APPROVAL_BASE_URL`: where the approval page is served (the API's stage URL).
    pub base_url: Option<String>,
}

impl ApprovalClients {
    pub async fn from_env() -> Result<Self, TaskError> {
        Self::from_config(&sdk::sdk_config())
    }

    /// From an SDK configuration built once by the caller (the dispatcher builds more clients).
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Self, TaskError> {
        Ok(ApprovalClients {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            ses: aws_sdk_sesv2::Client::new(config),
            sfn: aws_sdk_sfn::Client::new(config),
            table: required_env("APPROVALS_TABLE")?,
            key: SigningKeySource::parameter(
                aws_sdk_ssm::Client::new(config),
                required_env("SIGNING_KEY_PARAMETER")?,
                env_var("SIGNING_KEY_CACHE_SECONDS")
                    .and_then(|v| v.parse().ok())
                    .map_or(DEFAULT_KEY_TTL, Duration::from_secs),
            ),
            sender: env_var("SENDER"),
            approvers: env_var("APPROVERS")
                .map(|a| crate::api::split_list(&a))
                .unwrap_or_default(),
            base_url: env_var("APPROVAL_BASE_URL"),
        })
    }
}

const THROTTLING_CODES: [&str; 8] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "SlowDown",
    "ServiceUnavailable",
];
const ACCESS_DENIED_CODES: [&str; 5] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "ExpiredToken",
];

/// Maps an SDK error to a task error: transient faults are retried by the state machine, access
/// problems and everything else are reported, and none of them is ever read as "not found".
/// The message ends with AWS's request id when there was a response, so that a failure can be
/// traced in CloudTrail or with AWS support.
pub fn classify<E>(operation: &str, error: &SdkError<E, HttpResponse>) -> TaskError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let operation = operation.to_string();
    let with_request_id = |message: String| match error.request_id() {
        Some(id) => format!("{message} (request id {id})"),
        None => message,
    };
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            TaskError::AwsTransient {
                operation,
                message: with_request_id(DisplayErrorContext(error).to_string()),
            }
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let status = service.raw().status().as_u16();
            // Short and readable: the service's code and message, never the raw response.
            let message = with_request_id(match (service.err().code(), service.err().message()) {
                (Some(code), Some(text)) => format!("{code}: {text}"),
                (Some(code), None) => code.to_string(),
                (None, Some(text)) => text.to_string(),
                (None, None) => format!("HTTP {status} without an error code"),
            });
            if THROTTLING_CODES.contains(&code)
                || code.starts_with("InternalFailure")
                || status >= 500
            {
                TaskError::AwsTransient { operation, message }
            } else if ACCESS_DENIED_CODES.contains(&code) {
                TaskError::AwsAccessDenied { operation, message }
            } else {
                TaskError::Aws { operation, message }
            }
        }
        _ => TaskError::Aws {
            operation,
            message: with_request_id(DisplayErrorContext(error).to_string()),
        },
    }
}

/// Whether the error is CloudFormation's "Stack with id X does not exist" (and only that).
pub fn is_stack_missing<E, R>(error: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(service) => {
            service.err().code() == Some("ValidationError")
                && service
                    .err()
                    .message()
                    .is_some_and(|m| m.contains("does not exist"))
        }
        _ => false,
    }
}
