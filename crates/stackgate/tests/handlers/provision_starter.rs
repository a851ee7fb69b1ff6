//! The provisioning starter against aws-smithy-mocks: SNS delivers at least once, and a
//! redelivered message must not start a second provisioning run.

use crate::common;
use std::sync::{Arc, Mutex};

use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
use aws_sdk_sfn::Client as Sfn;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use stackgate::tasks::provision_starter::{handle, Deps};

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Provisioning";

fn sample() -> Value {
    let path = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../events/provision-starter.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn a_redelivered_message_starts_no_second_execution() {
    // Step Functions as it behaves: the first start of a name succeeds, the next is refused.
    let names: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = names.clone();
    let start = mock!(Sfn::start_execution).then_compute_response(move |input| {
        let name = input.name().unwrap().to_string();
        let mut names = seen.lock().unwrap();
        let repeat = names.contains(&name);
        names.push(name.clone());
        if repeat {
            aws_smithy_mocks::MockResponse::Error(StartExecutionError::ExecutionAlreadyExists(
                aws_sdk_sfn::types::error::ExecutionAlreadyExists::builder().build(),
            ))
        } else {
            aws_smithy_mocks::MockResponse::Output(
                StartExecutionOutput::builder()
                    .execution_arn(format!(
                        "{}:{name}",
                        MACHINE.replace(":stateMachine:", ":execution:")
                    ))
                    .start_date(aws_smithy_types::DateTime::from_secs(0))
                    .build()
                    .unwrap(),
            )
        }
    });
    let clients = Deps {
        sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&start]),
        state_machine_arn: MACHINE.into(),
    };
    let first = handle(&clients, LambdaEvent::new(sample(), Context::default()))
        .await
        .unwrap();
    let again = handle(&clients, LambdaEvent::new(sample(), Context::default()))
        .await
        .unwrap();
    assert_eq!(first, again, "the redelivery reports the same execution");
    {
        let names = names.lock().unwrap();
        assert_eq!(names.len(), 2);
        assert_eq!(
            names[0], names[1],
            "both deliveries asked for the same name"
        );
        assert!(names[0].contains("95df01b4-ee98-5cb9-9903-4c221d41eb5e"));
    }

    // Another message is another request.
    let mut other = sample();
    other["Records"][0]["Sns"]["MessageId"] = json!("0b9c3d1e-0000-4000-8000-000000000002");
    handle(&clients, LambdaEvent::new(other, Context::default()))
        .await
        .unwrap();
    let names = names.lock().unwrap();
    assert_eq!(names.len(), 3);
    assert_ne!(names[2], names[0]);
    common::report(
        "guarantees",
        "sns-duplicates",
        json!({"guarantee": "duplicate deliveries start no duplicate execution: SNS (execution named after the message id)",
               "test": "provision_starter::a_redelivered_message_starts_no_second_execution"}),
    );
}
