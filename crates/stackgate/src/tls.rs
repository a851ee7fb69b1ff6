//! The trust roots of every TLS connection a function makes (the SDK's clients and the webhook
//! client): the system's CA bundle file, read and checked once per process, when the first
//! connection needs it.
//!
//! Not the certificate directory: on most distributions it repeats the bundle one certificate at a
//! time (on Debian ~150 files, about 1.7 ms of a cold start, for no root the bundle lacks).

use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use crate::config::env_var;

/// The system's CA bundle (openssl-probe's file: `SSL_CERT_FILE`, else the distribution's), unless
/// `SSL_CERT_DIR` names another directory than the bundle's own (whose certificates the bundle
/// holds) or rustls refuses one of its certificates (the SDK's TLS provider panics on one it
/// cannot parse). `None` means: use the platform's roots, directory included.
pub fn ca_bundle() -> Option<&'static [u8]> {
    static BUNDLE: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    BUNDLE.get_or_init(read_ca_bundle).as_deref()
}

fn read_ca_bundle() -> Option<Vec<u8>> {
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

fn certificates(pem: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// Whether every certificate of a PEM bundle is a root rustls accepts, and there is one at least.
fn acceptable_bundle(pem: &[u8]) -> bool {
    let Some(certificates) = certificates(pem) else {
        return false;
    };
    let (valid, invalid) = RootCertStore::empty().add_parsable_certificates(certificates);
    valid > 0 && invalid == 0
}

/// A rustls client configuration trusting the bundle (aws-lc, the SDK's own provider), or `None`
/// when there is no usable bundle.
pub fn bundle_client_config() -> Option<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(certificates(ca_bundle()?)?);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Some(config)
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
    fn the_webhook_trusts_the_bundle_where_the_machine_has_one() {
        if openssl_probe::probe().cert_file.is_some() && env_var("SSL_CERT_DIR").is_none() {
            let config = bundle_client_config().expect("a client config from the bundle");
            assert!(config.crypto_provider().cipher_suites.len() > 1);
        }
    }
}
