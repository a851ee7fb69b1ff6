//! The stacks API over HTTP(S): one request, its status and JSON body. Transient answers (429, 502,
//! 503, 504, a lost connection) are retried a few times; a deployment's POST carries an
//! Idempotency-Key, so a retry never starts a second one.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::outcome::Exit;

const ATTEMPTS: u32 = 4;
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read: the API's are a few KiB (an execution's history is capped).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Why a command could not do its job: each prints as one readable message and maps to an exit code.
#[derive(Debug, Clone, PartialEq)]
pub enum CliError {
    /// The command line itself (before anything was sent).
    Input { field: String, message: String },
    /// The API answered with a problem (`application/problem+json`).
    Api { status: u16, problem: Value },
    /// No answer: the endpoint is unreachable, or the answer was not JSON.
    Transport(String),
    /// The template could not be uploaded.
    Upload(String),
}

impl CliError {
    pub fn input(field: &str, message: &str) -> Self {
        CliError::Input {
            field: field.to_string(),
            message: message.to_string(),
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            CliError::Input { .. } => Exit::BadInput,
            CliError::Api { status, .. } => Exit::of_problem(*status),
            CliError::Transport(_) | CliError::Upload(_) => Exit::Failed,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Input { field, message } => write!(f, "{field}: {message}"),
            CliError::Api { status, problem } => {
                let text = |key: &str| problem.get(key).and_then(Value::as_str);
                write!(f, "{status} {}", text("title").unwrap_or("error"))?;
                if let Some(detail) = text("detail") {
                    write!(f, ": {detail}")?;
                }
                if let Some(field) = text("field") {
                    write!(f, " (field: {field})")?;
                }
                Ok(())
            }
            CliError::Transport(message) => write!(f, "the stacks API did not answer: {message}"),
            CliError::Upload(message) => write!(f, "the template was not uploaded: {message}"),
        }
    }
}

/// What the API answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The reply if it is a success, else the problem as an error.
    pub fn ok(self) -> Result<Reply, CliError> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            Err(CliError::Api {
                status: self.status,
                problem: self.body,
            })
        }
    }

    /// The execution a 202 started (`executionId`).
    pub fn accepted_execution(self) -> Result<String, CliError> {
        let reply = self.ok()?;
        reply
            .body
            .get("executionId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                CliError::Transport("the API accepted the request but named no execution".into())
            })
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The Region of an API Gateway endpoint (`https://<id>.execute-api.<region>.amazonaws.com/...`).
pub fn region_of(endpoint: &str) -> Option<String> {
    let host = endpoint.split("://").nth(1)?.split(['/', ':']).next()?;
    let mut labels = host.split('.');
    labels.next()?;
    (labels.next()? == "execute-api")
        .then(|| labels.next().map(str::to_string))
        .flatten()
        .filter(|region| !region.is_empty())
}

/// Signs requests with the user's AWS credentials (SigV4, service `execute-api`), for an API
/// deployed with `ApiAuthorization=API_KEY_AND_IAM`.
pub struct Signer {
    credentials: aws_credential_types::provider::SharedCredentialsProvider,
    region: String,
}

impl Signer {
    /// The user's credentials from the SDK's usual chain; the Region from the endpoint, else the
    /// configured one.
    pub async fn from_environment(endpoint: &str) -> Result<Self, CliError> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(stackgate::aws::sdk::https_client())
            .load()
            .await;
        let credentials = config.credentials_provider().ok_or_else(|| {
            CliError::input("--iam", "no AWS credentials are configured to sign with")
        })?;
        let region = region_of(endpoint)
            .or_else(|| config.region().map(|r| r.to_string()))
            .ok_or_else(|| {
                CliError::input(
                    "--iam",
                    "no Region: the endpoint names none and AWS_REGION is unset",
                )
            })?;
        Ok(Signer {
            credentials,
            region,
        })
    }

    pub fn with(
        credentials: aws_credential_types::provider::SharedCredentialsProvider,
        region: &str,
    ) -> Self {
        Signer {
            credentials,
            region: region.to_string(),
        }
    }

    /// Adds the signature headers (`authorization`, `x-amz-date`, the session token if any).
    pub async fn sign(
        &self,
        request: &mut hyper::Request<Full<Bytes>>,
        body: &[u8],
    ) -> Result<(), String> {
        use aws_credential_types::provider::ProvideCredentials;
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials to sign with: {e}"))?;
        let identity: aws_smithy_runtime_api::client::identity::Identity = credentials.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("execute-api")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("cannot sign: {e}"))?
            .into();
        let uri = request.uri().to_string();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            uri,
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("cannot sign: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("cannot sign: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

pub struct Api {
    base: String,
    api_key: Option<String>,
    signer: Option<Signer>,
    http: HttpsClient,
}

impl Api {
    /// Requests signed with SigV4 as well as carrying the API key.
    pub fn signed_by(mut self, signer: Signer) -> Self {
        self.signer = Some(signer);
        self
    }

    pub fn new(base: String, api_key: Option<String>) -> Result<Self, CliError> {
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(CliError::input("--endpoint", "must be an http(s) URL"));
        }
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match stackgate::tls::bundle_client_config() {
            Some(config) => builder.with_tls_config(config),
            None => builder
                .with_native_roots()
                .map_err(|e| CliError::Transport(format!("no TLS trust roots: {e}")))?,
        };
        let connector = builder.https_or_http().enable_http1().build();
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            api_key: api_key.filter(|k| !k.is_empty()),
            signer: None,
            http: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply, CliError> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            match self.attempt(&method, path, body, idempotency_key).await {
                Ok(reply) if !matches!(reply.status, 429 | 502 | 503 | 504) => return Ok(reply),
                Ok(reply) => last = format!("HTTP {}", reply.status),
                Err(error) => last = error,
            }
        }
        Err(CliError::Transport(format!(
            "{last} (after {ATTEMPTS} attempts at {})",
            self.base
        )))
    }

    /// The request as it is sent (signed, when a signer is set).
    pub async fn request(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<hyper::Request<Full<Bytes>>, String> {
        let mut request = hyper::Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header("accept", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("x-api-key", key);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let payload = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let mut request = request
            .body(Full::new(payload.clone()))
            .map_err(|e| format!("bad request: {e}"))?;
        if let Some(signer) = &self.signer {
            signer.sign(&mut request, &payload).await?;
        }
        Ok(request)
    }

    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply, String> {
        let request = self.request(method, path, body, idempotency_key).await?;
        let response = tokio::time::timeout(TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| format!("no answer within {TIMEOUT:?}"))?
            .map_err(|e| format!("{e}"))?;
        let status = response.status().as_u16();
        let limited = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES);
        let bytes = tokio::time::timeout(TIMEOUT, limited.collect())
            .await
            .map_err(|_| format!("no complete answer within {TIMEOUT:?}"))?
            .map_err(|_| {
                format!("HTTP {status}: an answer over {MAX_ANSWER_BYTES} bytes, or cut short")
            })?
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|_| format!("HTTP {status} with a body that is not JSON"))?
        };
        Ok(Reply { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_problem_reads_like_the_apis_problem_details() {
        let error = CliError::Api {
            status: 400,
            problem: json!({"type": "about:blank", "title": "Invalid input", "status": 400,
                            "detail": "not one of the managed environments", "field": "environmentName"}),
        };
        assert_eq!(
            error.to_string(),
            "400 Invalid input: not one of the managed environments (field: environmentName)"
        );
        assert_eq!(error.exit(), Exit::BadInput);
        let busy = CliError::Api {
            status: 409,
            problem: json!({"title": "Conflict"}),
        };
        assert_eq!(busy.to_string(), "409 Conflict");
        assert_eq!(busy.exit(), Exit::Failed);
    }

    #[test]
    fn only_an_accepted_reply_names_an_execution() {
        let accepted = Reply {
            status: 202,
            body: json!({"executionId": "deploy-k1", "statusUrl": "/executions/deploy-k1"}),
        };
        assert_eq!(accepted.accepted_execution().unwrap(), "deploy-k1");
        let refused = Reply {
            status: 415,
            body: json!({"title": "Unsupported media type"}),
        };
        assert!(matches!(
            refused.accepted_execution(),
            Err(CliError::Api { status: 415, .. })
        ));
    }

    #[test]
    fn the_region_is_read_from_an_api_gateway_endpoint() {
        assert_eq!(
            region_of("https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1").as_deref(),
            Some("eu-west-1")
        );
        for other in [
            "http://127.0.0.1:9000/lambda-url/stacks-api",
            "https://api.example.com/v1",
            "https://execute-api.eu-west-1.amazonaws.com",
        ] {
            assert_eq!(region_of(other), None, "{other}");
        }
    }

    /// What API Gateway checks for IAM auth: a SigV4 signature for `execute-api` in the endpoint's
    /// Region, over the request as sent (the key and the idempotency key included), with the
    /// session token of temporary credentials.
    #[tokio::test]
    async fn a_signed_request_carries_a_sigv4_signature_for_execute_api() {
        let credentials = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".into()),
            None,
            "test",
        );
        let api = Api::new(
            "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1".into(),
            Some("key-value".into()),
        )
        .unwrap()
        .signed_by(Signer::with(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            "eu-west-1",
        ));
        let body = json!({"stackName": "web"});
        let request = api
            .request(&Method::POST, "/stacks", Some(&body), Some("k-1"))
            .await
            .unwrap();
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let authorization = header("authorization");
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                && authorization.contains("/eu-west-1/execute-api/aws4_request"),
            "{authorization}"
        );
        let signed = authorization
            .split("SignedHeaders=")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap();
        for name in ["content-type", "idempotency-key", "x-amz-date", "x-api-key"] {
            assert!(
                signed.split(';').any(|h| h == name),
                "{name} unsigned: {signed}"
            );
        }
        assert_eq!(header("x-amz-security-token"), "session-token");
        assert!(!header("x-amz-date").is_empty());

        let unsigned = Api::new(
            "https://x.execute-api.eu-west-1.amazonaws.com/v1".into(),
            None,
        )
        .unwrap()
        .request(&Method::GET, "/stacks/web", None, None)
        .await
        .unwrap();
        assert!(unsigned.headers().get("authorization").is_none());
    }

    #[test]
    fn an_endpoint_that_is_no_url_is_bad_input() {
        assert!(matches!(
            Api::new("127.0.0.1:9000".into(), None),
            Err(CliError::Input { field, .. }) if field == "--endpoint"
        ));
    }
}
