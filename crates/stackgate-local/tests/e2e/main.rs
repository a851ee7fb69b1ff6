//! End-to-end tests: the real ASL on moto's interpreter, the real function binaries under
//! `cargo lambda watch`, through the front door. They need the local stack
//! (`scripts/local-stack.sh up`), hence `#[ignore]`; `scripts/test.sh` starts it and runs them.
//! One module per area; one binary, so the SDK is linked once.

mod common;

mod api;
mod approvals;
mod attacks;
mod browser;
mod deploy;
mod iam;
mod operations;
mod plans;
mod releases;
mod samples;
