//! End-to-end tests of the operations workflows (seed 001) on the local stack. EC2 instances are made
//! in moto with its query API; moto lacks SSM DescribeInstancePatches, so the front door's stand-in
//! serves the patches the test loads.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hyper::Method;
use serde_json::{json, Value};
use stackgate_local::deploy::state_machine_arn;
use stackgate_local::execution;
use stackgate_local::http::send;
use stackgate_local::template::ACCOUNT;
use stackgate_local::{endpoint, sdk_config, LocalClients, REGION};

fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000_000;
    format!("{prefix}{nanos}x{}", COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// Runs an EC2 instance in moto tagged `key=value`; returns its id.
async fn run_instance(key: &str, value: &str) -> String {
    let form = format!(
        "Action=RunInstances&Version=2016-11-15&ImageId=ami-12c6146b&MinCount=1&MaxCount=1\
         &TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key={key}&TagSpecification.1.Tag.1.Value={value}"
    );
    let auth = format!("AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0");
    let (status, _, body) = send(
        Method::POST,
        &format!("{}/", endpoint()),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &auth),
        ],
        form.into_bytes(),
    )
    .await
    .unwrap();
    let body = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{body}");
    let start = body.find("<instanceId>").unwrap() + "<instanceId>".len();
    body[start..start + body[start..].find('<').unwrap()].to_string()
}

async fn load_patches(instance: &str, missing: usize, installed: usize) {
    let mut patches: Vec<Value> = (0..missing)
        .map(|i| json!({"Title": format!("KB{i:04} security update"), "KBId": format!("KB{i:04}"), "Classification": "SecurityUpdates", "Severity": "Critical", "State": if i % 5 == 4 { "Failed" } else { "Missing" }, "InstalledTime": 0}))
        .collect();
    patches.extend((0..installed).map(|i| json!({"Title": format!("installed {i}"), "KBId": "KB-ok", "Classification": "Updates", "Severity": "Low", "State": "Installed", "InstalledTime": 0})));
    let url = format!("{}/_local/ssm/instance-patches/{instance}", endpoint());
    let (status, _, _) = send(
        Method::PUT,
        &url,
        &[],
        serde_json::to_vec(&patches).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
}

/// A queue subscribed to a topic of the template; returns a reader of the messages sent to it.
async fn subscribe(clients: &LocalClients, topic: &str) -> (aws_sdk_sqs::Client, String) {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&endpoint()).await);
    let name = unique("ops-");
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    clients
        .sns
        .subscribe()
        .topic_arn(format!("arn:aws:sns:{REGION}:{ACCOUNT}:{topic}"))
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"))
        .send()
        .await
        .unwrap();
    (sqs, url)
}

async fn next_message(sqs: &aws_sdk_sqs::Client, url: &str) -> Value {
    for _ in 0..40 {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(1)
            .send()
            .await
            .unwrap();
        if let Some(body) = received.messages().first().and_then(|m| m.body()) {
            return serde_json::from_str(body).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no message");
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn the_patch_report_covers_a_tag_pages_through_patches_and_says_when_there_is_nothing() {
    let clients = LocalClients::connect(&endpoint()).await;
    let group = unique("group-");
    let busy = run_instance("PatchGroup", &group).await;
    let clean = run_instance("PatchGroup", &group).await;
    // 120 missing or failed patches: three pages of 50.
    load_patches(&busy, 120, 7).await;
    load_patches(&clean, 0, 3).await;
    let (sqs, queue) = subscribe(&clients, "PatchReportTopic").await;

    let machine = state_machine_arn("PatchReportStateMachine");
    let input = json!({"tagKey": "PatchGroup", "tagValue": group});
    let report = execution::run(
        &clients.sfn,
        &machine,
        &unique("patch-"),
        &input,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(report.status, "SUCCEEDED", "{report:?}");
    let pages = report
        .states
        .iter()
        .filter(|s| *s == "DescribeNextPage")
        .count();
    assert_eq!(
        pages, 2,
        "two more pages after the first: {:?}",
        report.states
    );
    let notice = next_message(&sqs, &queue).await;
    let message = notice["Message"].as_str().unwrap();
    assert!(
        message.starts_with("Patch report (2 instances)."),
        "{message}"
    );
    assert!(
        message.contains(&format!("{busy}: 120 missing or failed patches")),
        "{message}"
    );
    assert!(
        message.contains(&format!("{clean}: 0 missing or failed patches")),
        "{message}"
    );
    assert!(
        message.contains("KB0119 security update") && !message.contains("installed 1"),
        "{message}"
    );

    // A list instead of a tag, and a tag that matches nothing.
    let listed = execution::run(
        &clients.sfn,
        &machine,
        &unique("patch-"),
        &json!({"instanceIds": [clean]}),
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(listed.status, "SUCCEEDED", "{listed:?}");
    assert!(!listed.entered("FindTaggedInstances"));
    let message = next_message(&sqs, &queue).await["Message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("Patch report (1 instances)."),
        "{message}"
    );

    let nobody = json!({"tagKey": "PatchGroup", "tagValue": unique("nobody-")});
    let empty = execution::run(
        &clients.sfn,
        &machine,
        &unique("patch-"),
        &nobody,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(empty.status, "SUCCEEDED", "{empty:?}");
    assert!(empty.entered("PublishNoInstances"), "{:?}", empty.states);
    let message = next_message(&sqs, &queue).await["Message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("no instances matched"), "{message}");
}
