//! A local template goes to one of the operator's allowed buckets, put there with the user's own
//! AWS credentials (stackgate's functions read it with theirs; the allow-list is not bypassed). The
//! key is the content's digest, so the same template is one object however often it is deployed.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};

use crate::client::CliError;
use crate::request::TemplateSource;

/// The prefix of uploaded templates in the bucket.
pub const PREFIX: &str = "stackgate-cli";

/// CloudFormation's limit for a template read from S3.
const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;

/// `stackgate-cli/<digest>/<file name>`.
pub fn key_for(path: &Path, content: &[u8]) -> String {
    let digest = Sha256::digest(content);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
        .unwrap_or("template");
    format!("{PREFIX}/{hex}/{name}")
}

/// A local template's bytes, refused above CloudFormation's limit before anything is sent.
fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    let unreadable =
        |e: std::io::Error| CliError::input("--template", &format!("cannot be read: {}", e.kind()));
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_TEMPLATE_BYTES {
        return Err(CliError::input(
            "--template",
            "is larger than CloudFormation's 1 MiB limit for a template in S3",
        ));
    }
    std::fs::read(path).map_err(unreadable)
}

/// A local template sent in the request itself (`--inline`), where the operator allows it.
pub fn inline(path: &Path) -> Result<TemplateSource, CliError> {
    let text = String::from_utf8(read(path)?)
        .map_err(|_| CliError::input("--template", "is not UTF-8 text"))?;
    Ok(TemplateSource::Inline(text))
}

pub async fn template(path: &Path, bucket: &str, local: bool) -> Result<TemplateSource, CliError> {
    let content = read(path)?;
    let key = key_for(path, &content);
    let client = s3_client(local).await;
    let content_type = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => "application/json",
        _ => "application/x-yaml",
    };
    client
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type(content_type)
        .body(ByteStream::from(content))
        .send()
        .await
        .map_err(|e| {
            let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e)
                .map(str::to_string)
                .unwrap_or_else(|| "no answer from S3".to_string());
            CliError::Upload(format!("PutObject to bucket {bucket}: {code}"))
        })?;
    Ok(TemplateSource::S3 {
        bucket: bucket.to_string(),
        key,
    })
}

/// The user's AWS configuration (environment, profile, SSO cache, instance role). Against the local
/// stack: its endpoint and, unless the environment names credentials, its operator's (`test`).
async fn s3_client(local: bool) -> aws_sdk_s3::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(stackgate::aws::sdk::https_client());
    if local {
        if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
            loader = loader.endpoint_url("http://127.0.0.1:4566");
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "local-stack",
            ));
        }
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
    }
    let config = loader.load().await;
    let s3 = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(local)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_contents_digest_and_a_plain_file_name() {
        let a = key_for(Path::new("infra/app.yaml"), b"Resources: {}");
        assert!(
            a.starts_with("stackgate-cli/") && a.ends_with("/app.yaml"),
            "{a}"
        );
        assert_eq!(a, key_for(Path::new("other/app.yaml"), b"Resources: {}"));
        assert_ne!(a, key_for(Path::new("app.yaml"), b"Resources: {A: 1}"));
        assert!(key_for(Path::new("we ird?.yaml"), b"x").ends_with("/template"));
    }
}
