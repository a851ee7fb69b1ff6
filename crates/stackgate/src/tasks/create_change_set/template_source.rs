//! Where CloudFormation reads the template from: its own URL, or the template read from S3 (an
//! object, or a file in a revision zip) and passed inline, or staged in the staging bucket when it
//! is above the inline limit.

use super::Deps;
use crate::aws::s3;
use crate::request::TemplateSource;
use crate::template::{self, Delivery};
use crate::TaskError;

/// The template as CloudFormation takes it: a body, or a URL (exactly one is set).
pub struct Located {
    pub body: Option<String>,
    pub url: Option<String>,
}

/// Reads, and stages if needed, the template of a deployment; `staged_key` names the staged copy.
pub async fn locate(
    deps: &Deps,
    source: &TemplateSource,
    staged_key: &str,
) -> Result<Located, TaskError> {
    let body = match source {
        TemplateSource::Url { url } => {
            return Ok(Located {
                body: None,
                url: Some(url.clone()),
            })
        }
        TemplateSource::S3Object { bucket, key } => {
            let bytes = s3::get_object(&deps.s3, bucket, key, template::MAX_TEMPLATE_SIZE).await?;
            let text = template::template_text(bytes, key)?;
            // An inline template is named by its digest: an object that does not match was not
            // stored by the stacks API.
            if deps.guardrails.is_inline(bucket, key)
                && crate::guardrails::inline_key(&text) != *key
            {
                return Err(TaskError::InvalidTemplate(
                    "the inline template's object does not hold the text its name is the digest of"
                        .to_string(),
                ));
            }
            text
        }
        TemplateSource::Revision {
            bucket,
            key,
            template_path,
        } => {
            let archive = s3::get_object(&deps.s3, bucket, key, template::MAX_REVISION_ZIP).await?;
            template::extract_from_zip(&archive, template_path)?
        }
    };
    // What the template includes comes from the allowed buckets too (guarantee 1), checked before
    // CloudFormation reads any of it.
    crate::template_origins::check_includes(
        &deps.guardrails,
        &crate::guard::template_json(&body)?,
    )?;
    match template::delivery_for(body.len()) {
        Delivery::Body => Ok(Located {
            body: Some(body),
            url: None,
        }),
        Delivery::StagedUrl => {
            let bucket = deps.staging_bucket.as_deref().ok_or_else(|| {
                TaskError::InvalidTemplate(format!(
                    "the template is {} bytes, above the {}-byte inline limit, and no STAGING_BUCKET is configured",
                    body.len(),
                    template::MAX_TEMPLATE_BODY
                ))
            })?;
            s3::put_template(&deps.s3, bucket, staged_key, &body).await?;
            let url = s3::object_url(
                deps.template_url_base.as_deref(),
                &deps.region,
                bucket,
                staged_key,
            );
            Ok(Located {
                body: None,
                url: Some(url),
            })
        }
    }
}
