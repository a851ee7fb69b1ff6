//! A stand-in for CodePipeline's job answers, which moto does not implement: the front door records
//! `PutJobSuccessResult` / `PutJobFailureResult` calls and shows them at `/_local/codepipeline/jobs`.
//! It enforces what the real service does that matters here: a job answered finally (success without
//! continuation token, or failure) cannot be answered again, and CodePipeline's size limits.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{json, Value};

const TARGET_PREFIX: &str = "CodePipeline_20150709.";
const MAX_CONTINUATION_TOKEN: usize = 2048;
const MAX_FAILURE_MESSAGE: usize = 5000;
const MAX_SUMMARY: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobCall {
    Success,
    Failure,
}

/// The job-answer operation named by an `X-Amz-Target` header, if it is one.
pub fn job_call(target: &str) -> Option<JobCall> {
    match target.strip_prefix(TARGET_PREFIX)? {
        "PutJobSuccessResult" => Some(JobCall::Success),
        "PutJobFailureResult" => Some(JobCall::Failure),
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_details: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_variables: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_details: Option<Value>,
}

impl Answer {
    fn is_final(&self) -> bool {
        self.result == "failure" || self.continuation_token.is_none()
    }
}

/// An AWS JSON-protocol error: (HTTP status, `__type`, message).
pub type Rejection = (u16, &'static str, String);

#[derive(Debug, Default)]
pub struct JobLedger {
    jobs: Mutex<BTreeMap<String, Vec<Answer>>>,
}

fn text<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer).and_then(Value::as_str)
}

impl JobLedger {
    /// Records an answer, or rejects it as CodePipeline would.
    pub fn record(&self, call: JobCall, body: &[u8]) -> Result<(), Rejection> {
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| (400, "SerializationException", e.to_string()))?;
        let job_id = text(&body, "/jobId")
            .filter(|id| !id.is_empty())
            .ok_or((400, "ValidationException", "jobId is required".to_string()))?
            .to_string();
        let answer = match call {
            JobCall::Success => {
                let token = text(&body, "/continuationToken").map(str::to_string);
                if token
                    .as_ref()
                    .is_some_and(|t| t.len() > MAX_CONTINUATION_TOKEN)
                {
                    return Err((
                        400,
                        "ValidationException",
                        "continuationToken is longer than 2048".into(),
                    ));
                }
                if text(&body, "/executionDetails/summary").is_some_and(|s| s.len() > MAX_SUMMARY) {
                    return Err((
                        400,
                        "ValidationException",
                        "executionDetails.summary is longer than 2048".into(),
                    ));
                }
                if token.is_some() && body.get("outputVariables").is_some() {
                    return Err((
                        400,
                        "ValidationException",
                        "outputVariables are only accepted on a final result".into(),
                    ));
                }
                Answer {
                    result: "success",
                    continuation_token: token,
                    execution_details: body.get("executionDetails").cloned(),
                    output_variables: body.get("outputVariables").cloned(),
                    failure_details: None,
                }
            }
            JobCall::Failure => {
                let message = text(&body, "/failureDetails/message").ok_or((
                    400,
                    "ValidationException",
                    "failureDetails.message is required".to_string(),
                ))?;
                if message.len() > MAX_FAILURE_MESSAGE {
                    return Err((
                        400,
                        "ValidationException",
                        "failureDetails.message is longer than 5000".into(),
                    ));
                }
                Answer {
                    result: "failure",
                    continuation_token: None,
                    execution_details: None,
                    output_variables: None,
                    failure_details: body.get("failureDetails").cloned(),
                }
            }
        };
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let answers = jobs.entry(job_id.clone()).or_default();
        if answers.last().is_some_and(Answer::is_final) {
            return Err((
                400,
                "InvalidJobStateException",
                format!("job {job_id} has already been answered"),
            ));
        }
        answers.push(answer);
        Ok(())
    }

    fn job_json(job_id: &str, answers: &[Answer]) -> Value {
        let last = answers.last().filter(|a| a.is_final());
        json!({
            "jobId": job_id,
            "status": match last.map(|a| a.result) {
                Some("success") => "Succeeded",
                Some(_) => "Failed",
                None => "InProgress",
            },
            "answers": answers,
        })
    }

    pub fn list(&self) -> Value {
        let jobs = self
            .jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let all: Vec<Value> = jobs.iter().map(|(id, a)| Self::job_json(id, a)).collect();
        json!({ "jobs": all })
    }

    pub fn get(&self, job_id: &str) -> Option<Value> {
        let jobs = self
            .jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        jobs.get(job_id).map(|a| Self::job_json(job_id, a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_job_calls() {
        assert_eq!(
            job_call("CodePipeline_20150709.PutJobSuccessResult"),
            Some(JobCall::Success)
        );
        assert_eq!(
            job_call("CodePipeline_20150709.PutJobFailureResult"),
            Some(JobCall::Failure)
        );
        assert_eq!(job_call("CodePipeline_20150709.GetPipeline"), None);
        assert_eq!(job_call("AWSStepFunctions.StartExecution"), None);
    }

    #[test]
    fn continuation_then_final_answer_then_nothing_more() {
        let ledger = JobLedger::default();
        ledger
            .record(
                JobCall::Success,
                br#"{"jobId":"j","continuationToken":"t"}"#,
            )
            .unwrap();
        assert_eq!(ledger.get("j").unwrap()["status"], "InProgress");
        ledger
            .record(
                JobCall::Success,
                br#"{"jobId":"j","outputVariables":{"outcome":"CREATED"}}"#,
            )
            .unwrap();
        assert_eq!(ledger.get("j").unwrap()["status"], "Succeeded");
        let again = ledger.record(
            JobCall::Failure,
            br#"{"jobId":"j","failureDetails":{"type":"JobFailed","message":"m"}}"#,
        );
        assert_eq!(again.unwrap_err().1, "InvalidJobStateException");
        assert_eq!(ledger.list()["jobs"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn limits_are_enforced() {
        let ledger = JobLedger::default();
        let long = format!(
            r#"{{"jobId":"j","continuationToken":"{}"}}"#,
            "x".repeat(2049)
        );
        assert_eq!(
            ledger
                .record(JobCall::Success, long.as_bytes())
                .unwrap_err()
                .1,
            "ValidationException"
        );
        let both = br#"{"jobId":"j","continuationToken":"t","outputVariables":{"a":"b"}}"#;
        assert_eq!(
            ledger.record(JobCall::Success, both).unwrap_err().1,
            "ValidationException"
        );
        assert_eq!(
            ledger
                .record(JobCall::Failure, br#"{"jobId":"j"}"#)
                .unwrap_err()
                .1,
            "ValidationException"
        );
        assert_eq!(
            ledger.record(JobCall::Success, b"{").unwrap_err().1,
            "SerializationException"
        );
        assert!(ledger.get("j").is_none());
    }
}
