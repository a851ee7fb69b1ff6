//! AWS adapters, one module per service, and the translation of SDK errors into task errors.

pub mod cloudformation;
pub mod codepipeline;
pub mod dynamodb;
pub mod eventbridge;
pub mod reach;
pub mod s3;
pub mod sdk;
pub mod ses;
pub mod sfn;
pub mod ssm;

use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudformation::operation::RequestId;

use crate::TaskError;

/// The region of an SDK configuration (us-east-1 when it names none).
pub fn region_of(config: &aws_config::SdkConfig) -> String {
    config
        .region()
        .map_or_else(|| "us-east-1".to_string(), |r| r.to_string())
}

/// An S3 client; path-style addressing where an endpoint override is set (S3 emulators need it).
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

const THROTTLING_CODES: [&str; 8] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "SlowDown",
    "ServiceUnavailable",
];
const ACCESS_DENIED_CODES: [&str; 5] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "ExpiredToken",
];

/// Maps an SDK error to a task error: transient faults are retried by the state machine, access
/// problems and everything else are reported, and none of them is ever read as "not found".
/// The message ends with AWS's request id when there was a response, so that a failure can be
/// traced in CloudTrail or with AWS support.
pub fn classify<E>(operation: &str, error: &SdkError<E, HttpResponse>) -> TaskError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let operation = operation.to_string();
    let with_request_id = |message: String| match error.request_id() {
        Some(id) => format!("{message} (request id {id})"),
        None => message,
    };
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            TaskError::AwsTransient {
                operation,
                message: with_request_id(DisplayErrorContext(error).to_string()),
            }
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let status = service.raw().status().as_u16();
            // Short and readable: the service's code and message, never the raw response.
            let message = with_request_id(match (service.err().code(), service.err().message()) {
                (Some(code), Some(text)) => format!("{code}: {text}"),
                (Some(code), None) => code.to_string(),
                (None, Some(text)) => text.to_string(),
                (None, None) => format!("HTTP {status} without an error code"),
            });
            if THROTTLING_CODES.contains(&code)
                || code.starts_with("InternalFailure")
                || status >= 500
            {
                TaskError::AwsTransient { operation, message }
            } else if ACCESS_DENIED_CODES.contains(&code) {
                TaskError::AwsAccessDenied { operation, message }
            } else {
                TaskError::Aws { operation, message }
            }
        }
        _ => TaskError::Aws {
            operation,
            message: with_request_id(DisplayErrorContext(error).to_string()),
        },
    }
}

/// Whether the error is CloudFormation's "Stack with id X does not exist" (and only that).
pub fn is_stack_missing<E, R>(error: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ServiceError(service) => {
            service.err().code() == Some("ValidationError")
                && service
                    .err()
                    .message()
                    .is_some_and(|m| m.contains("does not exist"))
        }
        _ => false,
    }
}
