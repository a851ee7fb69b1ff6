//! The deploy request as `POST /stacks` takes it (docs/api.md), built from the command line. The
//! API validates it again; this only catches what the command line itself got wrong, naming the flag
//! and never repeating its value (a parameter may be a secret).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::args::DeployArgs;
use crate::client::CliError;

/// Where the template comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// A local file, uploaded before the request.
    File(PathBuf),
    S3 {
        bucket: String,
        key: String,
    },
    /// An https S3 URL CloudFormation fetches itself.
    Url(String),
    /// A local file's text, sent as `templateBody` (`--inline`).
    Inline(String),
}

impl TemplateSource {
    pub fn parse(text: &str) -> Result<Self, CliError> {
        if let Some(rest) = text.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(TemplateSource::S3 {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                    })
                }
                _ => Err(CliError::input(
                    "--template",
                    "an s3:// template needs a bucket and a key",
                )),
            };
        }
        if text.starts_with("https://") {
            return Ok(TemplateSource::Url(text.to_string()));
        }
        if text.starts_with("http://") {
            return Err(CliError::input(
                "--template",
                "templates are fetched over https only (or give a local file or s3://bucket/key)",
            ));
        }
        let path = PathBuf::from(text);
        if !path.is_file() {
            return Err(CliError::input("--template", "no such file"));
        }
        Ok(TemplateSource::File(path))
    }
}

/// `KEY=VALUE` flags as a map; a flag without `=`, an empty key or a key given twice is refused.
fn pairs(flag: &str, given: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut map = BTreeMap::new();
    for item in given {
        let Some((key, value)) = item.split_once('=') else {
            return Err(CliError::input(flag, "takes KEY=VALUE"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(CliError::input(flag, "has an empty KEY"));
        }
        if map.insert(key.to_string(), value.to_string()).is_some() {
            return Err(CliError::input(flag, &format!("names {key} twice")));
        }
    }
    Ok(map)
}

/// A template source as the request's fields.
pub fn source_fields(source: &TemplateSource) -> Result<Map<String, Value>, CliError> {
    let mut body = Map::new();
    match source {
        TemplateSource::S3 { bucket, key } => {
            body.insert("templateS3Bucket".into(), json!(bucket));
            body.insert("templateS3Key".into(), json!(key));
        }
        TemplateSource::Url(url) => {
            body.insert("templateUrl".into(), json!(url));
        }
        TemplateSource::Inline(text) => {
            body.insert("templateBody".into(), json!(text));
        }
        TemplateSource::File(_) => {
            return Err(CliError::input(
                "--template",
                "a local file must be uploaded first",
            ));
        }
    }
    Ok(body)
}

pub fn deploy_body(args: &DeployArgs, source: &TemplateSource) -> Result<Value, CliError> {
    let mut body = Map::new();
    body.insert("environmentName".into(), json!(args.environment));
    body.insert("stackName".into(), json!(args.stack));
    body.extend(source_fields(source)?);
    let parameters = pairs("--parameter", &args.parameters)?;
    if !parameters.is_empty() {
        body.insert("parameters".into(), json!(parameters));
    }
    let tags = pairs("--tag", &args.tags)?;
    if !tags.is_empty() {
        body.insert("tags".into(), json!(tags));
    }
    if !args.capabilities.is_empty() {
        body.insert("capabilities".into(), json!(args.capabilities));
    }
    body.insert("onUnsafe".into(), json!(args.on_unsafe.as_str()));
    if let Some(seconds) = args.expires_in {
        body.insert("expiresInSeconds".into(), json!(seconds));
    }
    Ok(Value::Object(body))
}

/// The stack's full name, as the API and CloudFormation call it.
pub fn full_stack_name(args: &DeployArgs) -> String {
    format!("{}-{}", args.environment, args.stack)
}

/// A new key per run: a retried POST of this run finds its own execution, another run starts anew.
pub fn fresh_idempotency_key() -> String {
    use sha2::{Digest, Sha256};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = format!(
        "{}-{}-{:?}",
        now.as_nanos(),
        std::process::id(),
        std::thread::current().id()
    );
    let digest = Sha256::digest(seed.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("cli-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::OnUnsafe;

    fn args() -> DeployArgs {
        DeployArgs {
            environment: "api".into(),
            stack: "web".into(),
            template: "s3://stackgate-local-artifacts/app-v1.yaml".into(),
            parameters: vec![
                "Size=2".into(),
                "Password={{resolve:ssm-secure:/db}}".into(),
            ],
            tags: vec!["team=payments".into()],
            capabilities: vec!["CAPABILITY_IAM".into()],
            on_unsafe: OnUnsafe::BlueGreen,
            bucket: None,
            inline: false,
            idempotency_key: None,
            yes: false,
            expires_in: Some(600),
        }
    }

    #[test]
    fn the_request_is_the_apis_deploy_request() {
        let source = TemplateSource::parse(&args().template).unwrap();
        assert_eq!(
            deploy_body(&args(), &source).unwrap(),
            json!({
                "environmentName": "api", "stackName": "web",
                "templateS3Bucket": "stackgate-local-artifacts", "templateS3Key": "app-v1.yaml",
                "parameters": {"Password": "{{resolve:ssm-secure:/db}}", "Size": "2"},
                "tags": {"team": "payments"},
                "capabilities": ["CAPABILITY_IAM"],
                "onUnsafe": "blueGreen",
                "expiresInSeconds": 600
            })
        );
        let url = TemplateSource::parse("https://b.s3.amazonaws.com/t.yaml").unwrap();
        assert_eq!(
            deploy_body(&args(), &url).unwrap()["templateUrl"],
            "https://b.s3.amazonaws.com/t.yaml"
        );
    }

    #[test]
    fn a_malformed_flag_is_named_and_its_value_never_repeated() {
        for (parameters, wanted) in [
            (vec!["hunter2-secret".to_string()], "takes KEY=VALUE"),
            (vec!["=hunter2-secret".to_string()], "empty KEY"),
            (
                vec![
                    "Password=hunter2-secret".to_string(),
                    "Password=x".to_string(),
                ],
                "names Password twice",
            ),
        ] {
            let mut args = args();
            args.parameters = parameters;
            let source = TemplateSource::parse(&args.template).unwrap();
            let error = deploy_body(&args, &source).unwrap_err();
            let text = error.to_string();
            assert!(
                text.starts_with("--parameter: ") && text.contains(wanted),
                "{text}"
            );
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    #[test]
    fn template_sources_are_read_or_refused() {
        assert!(matches!(
            TemplateSource::parse("s3://bucket/dir/t.yaml").unwrap(),
            TemplateSource::S3 { bucket, key } if bucket == "bucket" && key == "dir/t.yaml"
        ));
        for bad in [
            "s3://bucket",
            "s3:///key",
            "http://b.s3.amazonaws.com/t.yaml",
            "/no/such/file.yaml",
        ] {
            assert!(
                matches!(TemplateSource::parse(bad), Err(CliError::Input { field, .. }) if field == "--template"),
                "{bad}"
            );
        }
        let file = std::env::temp_dir().join(format!("stackgate-cli-{}.yaml", std::process::id()));
        std::fs::write(&file, "Resources: {}").unwrap();
        assert_eq!(
            TemplateSource::parse(file.to_str().unwrap()).unwrap(),
            TemplateSource::File(file.clone())
        );
        // --inline: the file's text is the request's templateBody.
        let inline = crate::upload::inline(&file).unwrap();
        assert_eq!(
            deploy_body(&args(), &inline).unwrap()["templateBody"],
            "Resources: {}"
        );
        std::fs::write(&file, [0xff, 0xfe, b'x']).unwrap();
        assert!(matches!(
            crate::upload::inline(&file),
            Err(CliError::Input { field, .. }) if field == "--template"
        ));
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn keys_are_fresh_and_acceptable_to_the_api() {
        let (a, b) = (fresh_idempotency_key(), fresh_idempotency_key());
        assert_ne!(a, b);
        assert!(a.len() <= 255 && a.chars().all(|c| c.is_ascii_graphic()));
    }
}
