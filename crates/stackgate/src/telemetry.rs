//! Logging set-up shared by every function. Handlers log identifiers only, never whole events:
//! events can carry credentials (CodePipeline's `artifactCredentials`) or task tokens.

/// Installs the Lambda-aware subscriber (honours `AWS_LAMBDA_LOG_LEVEL`/`AWS_LAMBDA_LOG_FORMAT`).
pub fn init() {
    lambda_runtime::tracing::init_default_subscriber();
}
