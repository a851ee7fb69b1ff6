//! Where a deployment's template comes from: exactly one of a revision zip, a URL, an S3 object.

use serde::{Deserialize, Serialize};

use super::TemplatePath;
use crate::TaskError;

/// Where the template comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TemplateSource {
    /// A file inside a zip in S3 (a CodePipeline input artifact).
    #[serde(rename_all = "camelCase")]
    Revision {
        bucket: String,
        key: String,
        template_path: TemplatePath,
    },
    /// An S3 object holding the template itself.
    #[serde(rename_all = "camelCase")]
    S3Object { bucket: String, key: String },
    /// A URL CloudFormation fetches itself.
    #[serde(rename_all = "camelCase")]
    Url { url: String },
}

/// The template source fields of a request, trimmed.
pub(super) struct SourceFields {
    pub revision_bucket: Option<String>,
    pub revision_key: Option<String>,
    pub template_path: Option<String>,
    pub url: Option<String>,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

impl TemplateSource {
    /// Exactly one source: a revision (bucket, key and path), a URL, or an S3 object.
    pub(super) fn from_fields(fields: SourceFields) -> Result<Self, TaskError> {
        let revision = fields.revision_bucket.is_some() || fields.revision_key.is_some();
        let s3_object = fields.bucket.is_some() || fields.key.is_some();
        let given = [revision, fields.url.is_some(), s3_object]
            .iter()
            .filter(|g| **g)
            .count();
        if given == 0 {
            return Err(TaskError::invalid(
                "templateUrl",
                "no template given: set revisionS3Bucket+revisionS3Key+templatePath, templateUrl, or templateS3Bucket+templateS3Key",
            ));
        }
        if given > 1 {
            return Err(TaskError::invalid(
                "templateUrl",
                "give exactly one template source: a revision, templateUrl, or templateS3Bucket+templateS3Key",
            ));
        }
        if revision {
            let bucket = fields.revision_bucket.ok_or_else(|| {
                TaskError::invalid("revisionS3Bucket", "is required with revisionS3Key")
            })?;
            let key = fields.revision_key.ok_or_else(|| {
                TaskError::invalid("revisionS3Key", "is required with revisionS3Bucket")
            })?;
            let path = fields
                .template_path
                .ok_or_else(|| TaskError::invalid("templatePath", "is required with a revision"))?;
            let template_path = TemplatePath::parse(path)
                .map_err(|message| TaskError::invalid("templatePath", message))?;
            return Ok(TemplateSource::Revision {
                bucket,
                key,
                template_path,
            });
        }
        if let Some(url) = fields.url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(TaskError::invalid(
                    "templateUrl",
                    "must be an http(s) URL of an S3 object",
                ));
            }
            return Ok(TemplateSource::Url { url });
        }
        let bucket = fields.bucket.ok_or_else(|| {
            TaskError::invalid("templateS3Bucket", "is required with templateS3Key")
        })?;
        let key = fields.key.ok_or_else(|| {
            TaskError::invalid("templateS3Key", "is required with templateS3Bucket")
        })?;
        Ok(TemplateSource::S3Object { bucket, key })
    }
}
