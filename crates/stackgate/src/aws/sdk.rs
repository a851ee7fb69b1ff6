//! The one place the SDK is configured for every function: region, credentials, endpoint, retries
//! and timeouts.
//!
//! Built from the Lambda environment directly rather than through `aws_config::load_defaults`:
//! Lambda always provides credentials and region as environment variables, and the default chains
//! (profile files, SSO, STS web identity, ECS, IMDS) would only add code to every binary and work
//! to every cold start.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sfn::config::{SharedCredentialsProvider, SharedHttpClient};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::Connector;

use crate::config::env_var;

/// Attempts per SDK call (the first one included) for throttling, 5xx and transport errors, with
/// the standard mode's jittered exponential backoff. The state machines retry whole tasks on top.
pub const MAX_ATTEMPTS: u32 = 4;
/// Initial backoff of the standard retry mode.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// A connection that is not up by then is a transport error (retried).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One attempt of one call; long enough for DescribeChangeSet pages and S3 template reads.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// A whole call, all attempts and backoff included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// The region Lambda runs in (`AWS_REGION`, else `AWS_DEFAULT_REGION`, else us-east-1).
pub fn region() -> Region {
    Region::new(
        env_var("AWS_REGION")
            .or_else(|| env_var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_string()),
    )
}

pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
}

pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The configuration every client of every function is built from. `AWS_ENDPOINT_URL` points all
/// services elsewhere (the local stack).
pub fn sdk_config() -> SdkConfig {
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region())
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(sleep) = aws_smithy_async::rt::sleep::default_async_sleep() {
        builder = builder.sleep_impl(sleep);
    }
    builder = builder.time_source(aws_smithy_async::time::SystemTimeSource::new());
    builder = builder.http_client(https_client());
    if let Some(endpoint) = env_var("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

/// The HTTPS client of every SDK client (rustls with aws-lc, the SDK's own default stack), trusting
/// the system's CA bundle file when it has one (`crate::tls`). The SDK crates are built without
/// their default client, whose trust store also reads the whole certificate directory.
///
/// The SDK builds a connector at every client's construction only to check that it can, and drops
/// it: built with TLS, each client would parse the whole bundle at start-up (most functions build
/// several clients). That check gets a plain connector; the one kept is built for the first request
/// (once per process: the connector is cached by its timeouts, and every client has the same).
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut builder = Connector::builder();
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        if settings.is_none() {
            return builder.build_http();
        }
        let trust_store = crate::tls::ca_bundle().map_or_else(TrustStore::default, |pem| {
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(pem)
        });
        let builder = builder.tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        match TlsContext::builder().with_trust_store(trust_store).build() {
            Ok(context) => builder.tls_context(context).build(),
            Err(_) => builder.build(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_and_timeouts_are_set_once_for_every_client() {
        let config = sdk_config();
        let retry = config.retry_config().unwrap();
        assert_eq!(retry.max_attempts(), MAX_ATTEMPTS);
        assert_eq!(retry.initial_backoff(), INITIAL_BACKOFF);
        let timeouts = config.timeout_config().unwrap();
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert!(config.credentials_provider().is_some());
        assert!(config.sleep_impl().is_some());
        // A client built from it carries the same settings.
        let client = aws_sdk_sfn::Client::new(&config);
        assert_eq!(
            client.config().retry_config().unwrap().max_attempts(),
            MAX_ATTEMPTS
        );
    }
}
