//! stackgate's domain: the decisions that keep a CloudFormation deployment safe, as pure functions,
//! plus one adapter module per AWS service and the task handlers that glue them together.

pub mod activities;
pub mod api;
pub mod approval;
#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod destination;
pub mod drift;
pub mod error;
#[cfg(feature = "guard")]
pub mod guard;
pub mod guardrails;
pub mod http;
pub mod in_place;
pub mod lease;
pub mod lifecycle;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod provisioning;
pub mod request;
pub mod retention;
pub mod root_cause;
pub mod s3_url;
pub mod sensitive;
pub mod stack_events;
pub mod stateful;
pub mod tasks;
pub mod telemetry;
pub mod template;
pub mod template_origins;
pub mod tls;
pub mod values;
pub mod webhook;

pub use error::TaskError;
