//! Drift detection calls: DetectStackDrift, its status, and the drifted resources. Property
//! differences are read by path only: their values are never taken.

use aws_sdk_cloudformation::types::{StackDriftDetectionStatus, StackResourceDriftStatus};
use aws_sdk_cloudformation::Client;

use crate::aws::classify;
use crate::drift::DriftedResource;
use crate::TaskError;

/// Pages of drifted resources read at most.
const MAX_PAGES: usize = 10;

/// Starts drift detection on a stack; its detection id.
pub async fn start_drift_detection(client: &Client, stack_id: &str) -> Result<String, TaskError> {
    client
        .detect_stack_drift()
        .stack_name(stack_id)
        .send()
        .await
        .map_err(|e| classify("DetectStackDrift", &e))?
        .stack_drift_detection_id()
        .map(str::to_string)
        .ok_or_else(|| TaskError::Aws {
            operation: "DetectStackDrift".into(),
            message: "no drift detection id in the answer".into(),
        })
}

/// Where a drift detection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionState {
    InProgress,
    Complete,
    /// Some resources could not be checked (CloudFormation's DETECTION_FAILED).
    Failed,
}

pub async fn drift_detection_status(
    client: &Client,
    detection_id: &str,
) -> Result<DetectionState, TaskError> {
    let status = client
        .describe_stack_drift_detection_status()
        .stack_drift_detection_id(detection_id)
        .send()
        .await
        .map_err(|e| classify("DescribeStackDriftDetectionStatus", &e))?;
    Ok(match status.detection_status() {
        Some(StackDriftDetectionStatus::DetectionComplete) => DetectionState::Complete,
        Some(StackDriftDetectionStatus::DetectionInProgress) => DetectionState::InProgress,
        _ => DetectionState::Failed,
    })
}

/// The resources whose last detection says MODIFIED or DELETED, and whether every page was read
/// (more than `MAX_PAGES` pages: the rest is not known).
pub async fn drifted_resources(
    client: &Client,
    stack_id: &str,
) -> Result<(Vec<DriftedResource>, bool), TaskError> {
    let mut drifted = Vec::new();
    let mut next_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .describe_stack_resource_drifts()
            .stack_name(stack_id)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
            .max_results(100)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| classify("DescribeStackResourceDrifts", &e))?;
        // Filtered here too: only what the filter asked for counts.
        let is_drift = |d: &&aws_sdk_cloudformation::types::StackResourceDrift| {
            matches!(
                d.stack_resource_drift_status(),
                Some(StackResourceDriftStatus::Modified | StackResourceDriftStatus::Deleted)
            )
        };
        drifted.extend(
            page.stack_resource_drifts()
                .iter()
                .filter(is_drift)
                .map(|d| DriftedResource {
                    logical_resource_id: d.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: d.resource_type().unwrap_or_default().to_string(),
                    status: d
                        .stack_resource_drift_status()
                        .map_or("", |s| s.as_str())
                        .to_string(),
                    properties: d
                        .property_differences()
                        .iter()
                        .filter_map(|p| p.property_path().map(str::to_string))
                        .collect(),
                }),
        );
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => return Ok((drifted, true)),
        }
    }
    Ok((drifted, false))
}
