//! S3 adapter: reading revisions and templates (size-capped) and staging large templates.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use super::classify;
use crate::TaskError;

/// S3's longest object key, in bytes.
const MAX_KEY: usize = 1024;

/// Reads an object, refusing anything larger than `max_bytes` before downloading it.
pub async fn get_object(
    client: &Client,
    bucket: &str,
    key: &str,
    max_bytes: u64,
) -> Result<Vec<u8>, TaskError> {
    // The SDK panics building a request whose URI is too long: a name S3 could not hold is
    // refused here, without repeating it.
    if !(3..=63).contains(&bucket.len()) || key.is_empty() || key.len() > MAX_KEY {
        return Err(TaskError::InvalidTemplate(format!(
            "names no S3 object: a bucket name is 3 to 63 characters, a key 1 to {MAX_KEY} bytes"
        )));
    }
    let output = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(output) => output,
        Err(error) => {
            let missing = error.as_service_error().is_some_and(|e| e.is_no_such_key())
                || error
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 404);
            if missing {
                return Err(TaskError::InvalidTemplate(format!(
                    "s3://{bucket}/{key} does not exist"
                )));
            }
            return Err(classify("GetObject", &error));
        }
    };
    if let Some(length) = output.content_length() {
        if length < 0 || length as u64 > max_bytes {
            return Err(TaskError::InvalidTemplate(format!(
                "s3://{bucket}/{key} is {length} bytes, more than the {max_bytes}-byte limit"
            )));
        }
    }
    let bytes = output
        .body
        .collect()
        .await
        .map_err(|e| TaskError::AwsTransient {
            operation: "GetObject".into(),
            message: format!("reading s3://{bucket}/{key}: {e}"),
        })?;
    let bytes = bytes.into_bytes();
    if bytes.len() as u64 > max_bytes {
        return Err(TaskError::InvalidTemplate(format!(
            "s3://{bucket}/{key} is more than the {max_bytes}-byte limit"
        )));
    }
    // Without a copy: the trigger's memory holds one artifact, not two.
    Ok(Vec::from(bytes))
}

/// Writes a template for CloudFormation to fetch by URL.
pub async fn put_template(
    client: &Client,
    bucket: &str,
    key: &str,
    body: &str,
) -> Result<(), TaskError> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("text/plain")
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("PutObject", &e))
}

/// The URL CloudFormation reads a staged template from: path-style under a configured base
/// (another S3 endpoint, such as the local stack's), the regional virtual-hosted form on AWS.
pub fn object_url(base: Option<&str>, region: &str, bucket: &str, key: &str) -> String {
    // Each segment of the key encoded: a '?', '#' or '%' in a key is part of the key, and the URL
    // must name the very object a GetObject of that key reads.
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let key = key
        .split('/')
        .map(|segment| percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/");
    match base {
        Some(base) => format!("{}/{bucket}/{key}", base.trim_end_matches('/')),
        None => format!("https://{bucket}.s3.{region}.amazonaws.com/{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_urls() {
        assert_eq!(
            object_url(None, "eu-west-1", "b", "t/x.yaml"),
            "https://b.s3.eu-west-1.amazonaws.com/t/x.yaml"
        );
        assert_eq!(
            object_url(Some("http://127.0.0.1:4566/"), "us-east-1", "b", "k"),
            "http://127.0.0.1:4566/b/k"
        );
        assert_eq!(
            object_url(None, "eu-west-1", "b", "a b/x?y#z%.yaml"),
            "https://b.s3.eu-west-1.amazonaws.com/a%20b/x%3Fy%23z%25.yaml"
        );
    }
}
