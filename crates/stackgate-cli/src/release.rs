//! `stackgate release --manifest FILE`: the manifest as `POST /releases` takes it, each stack's
//! `template` resolved as `deploy` resolves `--template`, then the release followed until it ends
//! or waits for people.

use std::path::Path;

use serde_json::Value;

use crate::args::{Cli, ReleaseArgs};
use crate::client::{Api, CliError};
use crate::outcome::Exit;
use crate::render::Printer;
use crate::request::{self, TemplateSource};

/// The largest manifest read: 50 stacks of requests fit many times over.
const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

pub async fn release(
    cli: &Cli,
    api: &Api,
    args: &ReleaseArgs,
    printer: &Printer,
) -> Result<Exit, CliError> {
    let mut manifest = read_manifest(&args.manifest)?;
    let base = args.manifest.parent().unwrap_or(Path::new("."));
    let stacks = manifest
        .get_mut("stacks")
        .and_then(Value::as_array_mut)
        .map(|s| s.iter_mut().enumerate());
    for (i, stack) in stacks.into_iter().flatten() {
        let Some(entry) = stack.as_object_mut() else {
            continue; // The API names what is wrong with it.
        };
        let Some(template) = entry.remove("template") else {
            continue;
        };
        let field = format!("stacks[{i}].template");
        let under = |error: CliError| match error {
            CliError::Input { message, .. } => CliError::input(&field, &message),
            other => other,
        };
        let text = template.as_str().ok_or_else(|| {
            CliError::input(
                &field,
                "must be a local file, s3://bucket/key or an https S3 URL",
            )
        })?;
        let source = TemplateSource::parse(&relative_to(base, text)).map_err(under)?;
        let source =
            crate::resolve_template(cli, args.bucket.as_ref(), args.inline, source, printer)
                .await
                .map_err(under)?;
        entry.extend(request::source_fields(&source).map_err(under)?);
    }
    let key = args
        .idempotency_key
        .clone()
        .unwrap_or_else(request::fresh_idempotency_key);
    let reply = api
        .send(
            hyper::Method::POST,
            "/releases",
            Some(&manifest),
            Some(&key),
        )
        .await?;
    let id = reply.accepted_execution()?;
    let id = crate::args::checked_execution(&id)?.to_string();
    let name = manifest["release"].as_str().unwrap_or_default();
    printer.started("releasing", name, &id);
    read(api, &id, true, printer).await
}

/// A manifest file: a JSON object. What is wrong with it is named by line and column, never by
/// the text there (a parameter may be a secret).
fn read_manifest(path: &Path) -> Result<Value, CliError> {
    let unreadable = |_| CliError::input("--manifest", "cannot be read");
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_MANIFEST_BYTES {
        return Err(CliError::input("--manifest", "is larger than 1 MiB"));
    }
    let text = std::fs::read(path).map_err(unreadable)?;
    match serde_json::from_slice::<Value>(&text) {
        Ok(manifest @ Value::Object(_)) => Ok(manifest),
        Ok(_) => Err(CliError::input("--manifest", "must be a JSON object")),
        Err(e) => Err(CliError::input(
            "--manifest",
            &format!("is not JSON (line {}, column {})", e.line(), e.column()),
        )),
    }
}

/// A local template named relative to the manifest; S3 and URLs as they are.
fn relative_to(base: &Path, text: &str) -> String {
    let local = !text.starts_with("s3://") && !text.contains("://");
    if local && Path::new(text).is_relative() {
        base.join(text).to_string_lossy().into_owned()
    } else {
        text.to_string()
    }
}

/// Reads `GET /releases/{id}`, once or (`follow`) until the release ends or waits for people,
/// printing each stack's state as it changes.
pub async fn read(api: &Api, id: &str, follow: bool, printer: &Printer) -> Result<Exit, CliError> {
    let mut shown: Vec<String> = Vec::new();
    loop {
        let release = api
            .send(hyper::Method::GET, &format!("/releases/{id}"), None, None)
            .await?
            .ok()?
            .body;
        let stacks = release["stacks"].as_array().cloned().unwrap_or_default();
        shown.resize(stacks.len(), String::new());
        for (stack, last) in stacks.iter().zip(shown.iter_mut()) {
            let state = stack["state"].as_str().unwrap_or_default();
            if state != last {
                printer.release_stack(stack);
                *last = state.to_string();
            }
        }
        if !follow || release["status"] != "RUNNING" || release["waitingFor"] == "approval" {
            return Ok(printer.release_finished(&release));
        }
        tokio::time::sleep(crate::follow::interval()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_that_is_not_json_is_named_by_place_never_by_its_text() {
        let dir = std::env::temp_dir().join(format!("stackgate-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("release.json");
        std::fs::write(&path, "{\"stacks\": [hunter2]}").unwrap();
        let error = read_manifest(&path).unwrap_err().to_string();
        assert!(
            error.starts_with("--manifest: is not JSON (line 1"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        std::fs::write(&path, "[]").unwrap();
        assert!(read_manifest(&path).is_err());
        assert!(read_manifest(&dir.join("missing.json")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn local_templates_are_found_beside_the_manifest() {
        let base = Path::new("/work/releases");
        assert_eq!(relative_to(base, "net.yaml"), "/work/releases/net.yaml");
        assert_eq!(relative_to(base, "/abs/net.yaml"), "/abs/net.yaml");
        assert_eq!(relative_to(base, "s3://b/k.yaml"), "s3://b/k.yaml");
        assert_eq!(
            relative_to(base, "https://b.s3.amazonaws.com/k.yaml"),
            "https://b.s3.amazonaws.com/k.yaml"
        );
    }
}
