//! The handlers against aws-smithy-mocks, one module per handler: the AWS behaviour the local stack
//! cannot produce (throttling, access errors, pagination, nested change sets, replacements,
//! rollbacks, timeouts). One binary, so the SDK is linked once.

#[path = "../common/mod.rs"]
mod common;

mod activity_dispatcher;
mod approval_api;
mod approval_emailer;
mod create_change_set;
mod pipeline_trigger;
mod plan_delete;
mod provision_starter;
mod sdk_client;
mod stack_lease;
mod stack_operation;
mod stacks_api;
mod wait_stack;
