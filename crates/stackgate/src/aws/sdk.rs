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
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

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
/// the system's CA bundle file when it has one. The SDK crates are built without their default
/// client: the SDK validates it at every client construction even when another is configured, and
/// its trust store also reads every file of the certificate directory, which on most distributions
/// repeats the bundle one certificate at a time (on Debian ~150 files, about 1.7 ms of a cold
/// start, for no root the bundle lacks).
pub fn https_client() -> SharedHttpClient {
    let trust_store = system_ca_bundle().map_or_else(TrustStore::default, |pem| {
        TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(pem)
    });
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::AwsLc,
    ));
    match TlsContext::builder().with_trust_store(trust_store).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(_) => builder.build_https(),
    }
}

/// The system's CA bundle (openssl-probe's file: `SSL_CERT_FILE`, else the distribution's), unless
/// `SSL_CERT_DIR` names another directory than the bundle's own (whose certificates the bundle
/// holds) or rustls refuses one of its certificates (the TLS provider panics on one it cannot
/// parse): then the default trust store, which reads both.
fn system_ca_bundle() -> Option<Vec<u8>> {
    let file = openssl_probe::probe().cert_file?;
    if !directory_is_covered(env_var("SSL_CERT_DIR").as_deref(), &file) {
        return None;
    }
    let pem = std::fs::read(&file).ok()?;
    acceptable_bundle(&pem).then_some(pem)
}

/// Whether the certificate directory asked for (if any) is the bundle's own.
fn directory_is_covered(directory: Option<&str>, bundle: &std::path::Path) -> bool {
    directory.is_none_or(|directory| {
        let canonical = |path: &std::path::Path| std::fs::canonicalize(path).ok();
        let directory = canonical(std::path::Path::new(directory));
        directory.is_some() && directory == bundle.parent().and_then(canonical)
    })
}

/// Whether every certificate of a PEM bundle is a root rustls accepts, and there is one at least.
fn acceptable_bundle(pem: &[u8]) -> bool {
    let Ok(certificates) = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>()
    else {
        return false;
    };
    let (valid, invalid) = RootCertStore::empty().add_parsable_certificates(certificates);
    valid > 0 && invalid == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bundle_rustls_fully_accepts_replaces_the_default_trust_store() {
        assert!(!acceptable_bundle(b""));
        assert!(!acceptable_bundle(b"not a certificate"));
        assert!(!acceptable_bundle(
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
        ));
        // The machine's own bundle, where it has one: whole, it is accepted; cut in the middle of
        // a certificate, it is not.
        if let Some(file) = openssl_probe::probe().cert_file {
            let pem = std::fs::read(file).unwrap();
            assert!(acceptable_bundle(&pem));
            let end = pem.windows(5).position(|w| w == b"-----").unwrap() + 200;
            assert!(!acceptable_bundle(&pem[..end]));
        }
    }

    #[test]
    fn only_the_bundles_own_directory_is_covered_by_the_bundle() {
        let dir = std::env::temp_dir().join(format!("stackgate-certs-{}", std::process::id()));
        let other = dir.join("other");
        std::fs::create_dir_all(&other).unwrap();
        let bundle = dir.join("bundle.pem");
        std::fs::write(&bundle, "").unwrap();
        assert!(directory_is_covered(None, &bundle));
        assert!(directory_is_covered(dir.to_str(), &bundle));
        assert!(directory_is_covered(
            Some(&format!("{}/", dir.display())),
            &bundle
        ));
        assert!(!directory_is_covered(other.to_str(), &bundle));
        assert!(!directory_is_covered(Some("/does/not/exist"), &bundle));
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
