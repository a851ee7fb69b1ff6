//! The stackgate benchmark (issue 7): per-function init, invocation time, peak memory and zip size
//! under a Runtime API harness, the same check-stack task in Python and Node.js as baselines, and
//! the state transitions and cost of each safe-deploy path against the polling baseline.

pub mod baseline;
pub mod functions;
pub mod page;
pub mod release;
pub mod report;
pub mod runtime_api;
pub mod stage;
pub mod stats;
pub mod workflow;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("measuring: {0}")]
    Measure(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("local stack: {0}")]
    Local(String),
}

impl From<stackgate_local::BoxError> for BenchError {
    fn from(error: stackgate_local::BoxError) -> Self {
        BenchError::Local(error.to_string())
    }
}
