//! Reading a template out of a revision zip, safely, and choosing how to hand it to CloudFormation.

use std::io::{Cursor, Read};

use crate::TaskError;

/// CloudFormation's limit for an inline `TemplateBody`; anything larger goes through `TemplateURL`.
pub const MAX_TEMPLATE_BODY: usize = 51_200;
/// CloudFormation's limit for a template in S3.
pub const MAX_TEMPLATE_SIZE: u64 = 1_000_000;
/// The largest revision archive read into memory.
pub const MAX_REVISION_ZIP: u64 = 256 * 1024 * 1024;

/// How the template reaches CreateChangeSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Body,
    StagedUrl,
}

pub fn delivery_for(template_len: usize) -> Delivery {
    if template_len > MAX_TEMPLATE_BODY {
        Delivery::StagedUrl
    } else {
        Delivery::Body
    }
}

/// Extracts the template at `path` (already validated as relative, no `..`) from a revision zip.
pub fn extract_from_zip(archive: &[u8], path: &str) -> Result<String, TaskError> {
    template_text(
        file_from_zip(archive, path, "templatePath", MAX_TEMPLATE_SIZE)?,
        path,
    )
}

/// Reads the file at `path` (already validated as relative, no `..`) from a zip held in memory,
/// at most `max` + 1 bytes; errors name `field`. Entries whose names would escape the archive root
/// are never matched; sizes are capped on the bytes actually read, not on what the archive claims.
pub fn file_from_zip(
    archive: &[u8],
    path: &str,
    field: &str,
    max: u64,
) -> Result<Vec<u8>, TaskError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).map_err(|e| {
        TaskError::InvalidTemplate(format!("the revision is not a readable zip: {e}"))
    })?;
    let mut found = None;
    for index in 0..zip.len() {
        let entry = zip.by_index(index).map_err(|e| {
            TaskError::InvalidTemplate(format!("unreadable zip entry {index}: {e}"))
        })?;
        // The same rule as for `templatePath`: absolute names and `..` never match (zip-slip).
        let Ok(raw_name) = entry.name() else {
            continue;
        };
        let Ok(normalised) = crate::request::validate_template_path(&raw_name) else {
            continue;
        };
        if entry.is_file() && normalised == path {
            found = Some(index);
            break;
        }
    }
    let index = found.ok_or_else(|| {
        TaskError::InvalidTemplate(format!("{field} {path:?} is not in the revision zip"))
    })?;
    let entry = zip
        .by_index(index)
        .map_err(|e| TaskError::InvalidTemplate(format!("unreadable zip entry {path:?}: {e}")))?;
    let mut bytes = Vec::new();
    entry
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| TaskError::InvalidTemplate(format!("cannot inflate {path:?}: {e}")))?;
    Ok(bytes)
}

/// Checks size and encoding of a template's bytes.
pub fn template_text(bytes: Vec<u8>, name: &str) -> Result<String, TaskError> {
    if bytes.len() as u64 > MAX_TEMPLATE_SIZE {
        return Err(TaskError::InvalidTemplate(format!(
            "{name:?} is larger than CloudFormation's {MAX_TEMPLATE_SIZE}-byte limit"
        )));
    }
    if bytes.is_empty() {
        return Err(TaskError::InvalidTemplate(format!("{name:?} is empty")));
    }
    String::from_utf8(bytes)
        .map_err(|_| TaskError::InvalidTemplate(format!("{name:?} is not UTF-8 text")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in entries {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(body).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_the_named_entry() {
        let zip = zip_of(&[("README", b"x"), ("infra/t.yaml", b"Resources: {}")]);
        assert_eq!(
            extract_from_zip(&zip, "infra/t.yaml").unwrap(),
            "Resources: {}"
        );
    }

    #[test]
    fn missing_entry_is_a_clear_error() {
        let zip = zip_of(&[("other.yaml", b"x")]);
        let err = extract_from_zip(&zip, "infra/t.yaml").unwrap_err();
        assert!(err.to_string().contains("not in the revision zip"), "{err}");
    }

    #[test]
    fn escaping_entries_never_match() {
        let zip = zip_of(&[("../infra/t.yaml", b"evil"), ("/infra/t.yaml", b"evil")]);
        assert!(extract_from_zip(&zip, "infra/t.yaml").is_err());
    }

    #[test]
    fn not_a_zip_and_oversized_entries_are_refused() {
        assert!(extract_from_zip(b"plain text", "t.yaml").is_err());
        let big = vec![b'a'; MAX_TEMPLATE_SIZE as usize + 10];
        let zip = zip_of(&[("t.yaml", &big)]);
        let err = extract_from_zip(&zip, "t.yaml").unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }

    #[test]
    fn delivery_switches_at_the_body_limit() {
        assert_eq!(delivery_for(MAX_TEMPLATE_BODY), Delivery::Body);
        assert_eq!(delivery_for(MAX_TEMPLATE_BODY + 1), Delivery::StagedUrl);
    }
}
