//! CodePipeline adapter: answering a job.

use std::collections::BTreeMap;

use aws_sdk_codepipeline::types::{ExecutionDetails, FailureDetails, FailureType};
use aws_sdk_codepipeline::Client;

use super::classify;
use crate::TaskError;

/// Success: with a continuation token the action is called again; without one it is done.
pub async fn put_job_success(
    client: &Client,
    job_id: &str,
    continuation_token: Option<&str>,
    summary: &str,
    external_execution_id: Option<&str>,
    output_variables: &BTreeMap<String, String>,
) -> Result<(), TaskError> {
    let details = ExecutionDetails::builder()
        .summary(summary)
        .set_external_execution_id(external_execution_id.map(str::to_string))
        .build();
    let mut call = client
        .put_job_success_result()
        .job_id(job_id)
        .execution_details(details)
        .set_continuation_token(continuation_token.map(str::to_string));
    // Output variables are only accepted on the final answer.
    if continuation_token.is_none() {
        for (key, value) in output_variables {
            call = call.output_variables(key, value);
        }
    }
    call.send()
        .await
        .map(|_| ())
        .map_err(|e| classify("PutJobSuccessResult", &e))
}

pub async fn put_job_failure(
    client: &Client,
    job_id: &str,
    message: &str,
    external_execution_id: Option<&str>,
) -> Result<(), TaskError> {
    let details = FailureDetails::builder()
        .r#type(FailureType::JobFailed)
        .message(message)
        .set_external_execution_id(external_execution_id.map(str::to_string))
        .build()
        .map_err(|e| TaskError::invalid("failureDetails", e.to_string()))?;
    client
        .put_job_failure_result()
        .job_id(job_id)
        .failure_details(details)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("PutJobFailureResult", &e))
}
