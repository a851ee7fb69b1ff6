//! End-to-end tests of the operations workflows on the local stack. EC2 instances are made
//! in moto with its query API; moto lacks SSM DescribeInstancePatches, so the front door's stand-in
//! serves the patches the test loads.

use std::time::Duration;

use hyper::Method;
use serde_json::{json, Value};
use stackgate_local::deploy::state_machine_arn;
use stackgate_local::execution;
use stackgate_local::http::send;
use stackgate_local::template::ACCOUNT;
use stackgate_local::unique_name as unique;

use crate::common::{query, Subscription};
use stackgate_local::{endpoint, sdk_config, LocalClients, REGION};

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
    let topic = Subscription::to(&clients, "PatchReportTopic").await;

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
    let notice = topic.next().await;
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
    let message = topic.next().await["Message"].as_str().unwrap().to_string();
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
    let message = topic.next().await["Message"].as_str().unwrap().to_string();
    assert!(message.contains("no instances matched"), "{message}");

    // An instance SSM does not manage fails the report, through the notify path.
    let unmanaged = json!({"instanceIds": [run_instance("PatchGroup", "unmanaged").await]});
    let failed = execution::run(
        &clients.sfn,
        &machine,
        &unique("patch-"),
        &unmanaged,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(failed.status, "FAILED", "{failed:?}");
    assert!(
        failed.entered("NotifyFailure") && !failed.entered("PublishReport"),
        "{:?}",
        failed.states
    );
    // (moto's interpreter reports a Map item's SDK error as States.Runtime, and then refuses a Fail
    // with a States.* ErrorPath; the cause is checked in AWS only.)
}

/// A health endpoint on loopback: `/health/<instanceId>` answers 200 once the instance's count of
/// "not yet" answers is used up, 503 before; `None` means never healthy.
async fn health_server(plan: Vec<(String, Option<u32>)>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/health/{{instanceId}}",
        listener.local_addr().unwrap()
    );
    let plan = std::sync::Arc::new(std::sync::Mutex::new(plan));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let plan = plan.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 2048];
                let n = stream.read(&mut buffer).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..n]).to_string();
                let path = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let status = {
                    let mut plan = plan.lock().unwrap();
                    match plan.iter_mut().find(|(id, _)| path.ends_with(id.as_str())) {
                        Some((_, Some(0))) => 200,
                        Some((_, Some(left))) => {
                            *left -= 1;
                            503
                        }
                        _ => 503,
                    }
                };
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    url
}

async fn cloudwatch(params: &str) -> String {
    query("monitoring", "2010-08-01", params).await
}

async fn put_alarm(name: &str) {
    cloudwatch(&format!(
        "Action=PutMetricAlarm&AlarmName={name}&MetricName=HTTPCode_Target_5XX_Count&Namespace=AWS%2FApplicationELB\
         &Statistic=Sum&Period=60&EvaluationPeriods=1&Threshold=10&ComparisonOperator=GreaterThanThreshold\
         &ActionsEnabled=true&AlarmActions.member.1=arn%3Aaws%3Asns%3A{REGION}%3A{ACCOUNT}%3ANotifyTopic"
    ))
    .await;
}

async fn alarm_actions_enabled(name: &str) -> bool {
    let body = cloudwatch(&format!("Action=DescribeAlarms&AlarmNames.member.1={name}")).await;
    body.contains("<ActionsEnabled>true</ActionsEnabled>")
}

async fn rule_enabled(events: &aws_sdk_eventbridge::Client, name: &str) -> bool {
    let rule = events.describe_rule().name(name).send().await.unwrap();
    rule.state().map(|s| s.as_str()) == Some("ENABLED")
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_rolling_restart_waits_for_health_and_restores_alarms_on_success_and_failure() {
    let clients = LocalClients::connect(&endpoint()).await;
    let config = sdk_config(&endpoint()).await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let alarm = unique("web-5xx-");
    let silenced = unique("web-already-silenced-");
    put_alarm(&alarm).await;
    put_alarm(&silenced).await;
    cloudwatch(&format!(
        "Action=DisableAlarmActions&AlarmNames.member.1={silenced}"
    ))
    .await;
    assert!(alarm_actions_enabled(&alarm).await && !alarm_actions_enabled(&silenced).await);
    let rule = unique("web-canary-");
    events
        .put_rule()
        .name(&rule)
        .schedule_expression("rate(5 minutes)")
        .send()
        .await
        .unwrap();

    let group = unique("web-");
    let (a, b, c) = (
        run_instance("Role", &group).await,
        run_instance("Role", &group).await,
        run_instance("Role", &group).await,
    );
    let machine = state_machine_arn("RollingRestartStateMachine");
    let input = |url: &str| {
        json!({"instanceIds": [a, b, c], "batchSize": 2, "alarmNames": [alarm, silenced], "ruleNames": [rule],
               "healthCheckUrl": url, "healthCheckIntervalSeconds": 1, "healthCheckAttempts": 2,
               "drainSeconds": 0, "bootSeconds": 0})
    };

    // b needs two more checks before it is ready: the custom-error loop waits for it.
    let url = health_server(vec![
        (a.clone(), Some(0)),
        (b.clone(), Some(2)),
        (c.clone(), Some(0)),
    ])
    .await;
    let report = execution::run(
        &clients.sfn,
        &machine,
        &unique("restart-"),
        &input(&url),
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(report.status, "SUCCEEDED", "{report:?}");
    assert_eq!(report.states.iter().filter(|s| *s == "Reboot").count(), 3);
    assert_eq!(
        report
            .states
            .iter()
            .filter(|s| *s == "WaitBeforeNextCheck")
            .count(),
        2,
        "{:?}",
        report.states
    );
    assert!(report.entered("RestoreAlarmsAndRules"));
    assert!(alarm_actions_enabled(&alarm).await, "restored");
    assert!(
        !alarm_actions_enabled(&silenced).await,
        "an alarm silenced before stays silenced"
    );
    assert!(rule_enabled(&events, &rule).await);

    // c never becomes healthy: retries run out, the alarm is published, alarms and rules come back.
    let topic = Subscription::to(&clients, "NotifyTopic").await;
    let url = health_server(vec![
        (a.clone(), Some(0)),
        (b.clone(), Some(0)),
        (c.clone(), None),
    ])
    .await;
    let failed = execution::run(
        &clients.sfn,
        &machine,
        &unique("restart-"),
        &input(&url),
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(failed.status, "FAILED", "{failed:?}");
    assert_eq!(
        failed.error.as_deref(),
        Some("InstanceNotReady"),
        "{failed:?}"
    );
    assert!(failed.entered("RestoreAfterFailure") && failed.entered("PublishAlarm"));
    assert!(
        alarm_actions_enabled(&alarm).await,
        "restored after the failure too"
    );
    assert!(rule_enabled(&events, &rule).await);
    let alarm_message = loop {
        let message = topic.next().await;
        if message["Message"]
            .as_str()
            .unwrap_or_default()
            .contains(&failed.execution_arn)
        {
            break message;
        }
    };
    assert_eq!(
        alarm_message["Subject"],
        "stackgate ALARM: rolling restart failed"
    );
    assert!(alarm_message["Message"]
        .as_str()
        .unwrap()
        .contains("InstanceNotReady"));
}

/// The text of every `<tag>` element in an XML reply.
fn xml_values(body: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    body.split(open.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once(close.as_str()).map(|(v, _)| v.to_string()))
        .collect()
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_rolling_restart_of_a_target_group_takes_each_instance_out_and_back_in() {
    let clients = LocalClients::connect(&endpoint()).await;
    let group = unique("tg-");
    let (a, b) = (
        run_instance("Role", &group).await,
        run_instance("Role", &group).await,
    );
    let vpc = xml_values(
        &query(
            "ec2",
            "2016-11-15",
            "Action=DescribeVpcs&Filter.1.Name=is-default&Filter.1.Value.1=true",
        )
        .await,
        "vpcId",
    )
    .remove(0);
    let elb =
        |params: String| async move { query("elasticloadbalancing", "2015-12-01", &params).await };
    let target_group = xml_values(
        &elb(format!("Action=CreateTargetGroup&Name={group}&Protocol=HTTP&Port=80&VpcId={vpc}&TargetType=instance")).await,
        "TargetGroupArn",
    )
    .remove(0);
    let encoded = target_group.replace(':', "%3A").replace('/', "%2F");
    elb(format!(
        "Action=RegisterTargets&TargetGroupArn={encoded}&Targets.member.1.Id={a}&Targets.member.2.Id={b}"
    ))
    .await;

    let url = health_server(vec![(a.clone(), Some(0)), (b.clone(), Some(1))]).await;
    let report = execution::run(
        &clients.sfn,
        &state_machine_arn("RollingRestartStateMachine"),
        &unique("restart-tg-"),
        &json!({"targetGroupArn": target_group, "batchSize": 1, "healthCheckUrl": url,
                "healthCheckIntervalSeconds": 1, "healthCheckAttempts": 3, "drainSeconds": 0, "bootSeconds": 0}),
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(report.status, "SUCCEEDED", "{report:?}");
    for state in [
        "ListTargets",
        "Deregister",
        "Reboot",
        "Register",
        "TargetHealth",
    ] {
        let count = report.states.iter().filter(|s| *s == state).count();
        let expected = if state == "ListTargets" { 1 } else { 2 };
        assert!(
            count >= expected,
            "{state} entered {count} times: {:?}",
            report.states
        );
    }
    let health = elb(format!(
        "Action=DescribeTargetHealth&TargetGroupArn={encoded}"
    ))
    .await;
    let mut registered = xml_values(&health, "Id");
    registered.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(
        registered, expected,
        "both instances are back in the target group"
    );
    assert_eq!(xml_values(&health, "State"), vec!["healthy", "healthy"]);
}

/// An SNS event as the provisioning topic delivers it to `provision-starter`.
fn sns_event(message_id: &str, message: &Value) -> Value {
    json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
        "EventSubscriptionArn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:ProvisioningTopic:sub"),
        "Sns": {"Type": "Notification", "MessageId": message_id, "TopicArn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:ProvisioningTopic"),
                "Subject": null, "Message": message.to_string(), "Timestamp": "2026-01-01T00:00:00.000Z",
                "SignatureVersion": "1", "Signature": "x", "SigningCertUrl": "https://example", "UnsubscribeUrl": "https://example",
                "MessageAttributes": {}}}]})
}

/// Publishes a run's configuration object as a CI pipeline would; returns its reference.
async fn publish_config(clients: &LocalClients, config: &Value) -> Value {
    let bucket = stackgate_local::template::bucket_name("ProvisioningConfigBucket");
    let key = format!("runs/{}.json", unique("config"));
    clients
        .s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(config.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    json!({"bucket": bucket, "key": key})
}

/// Everything a workflow's history says: every input, output, parameter, error and cause.
async fn history_text(clients: &LocalClients, arn: &str) -> String {
    execution::history_values(&execution::history(&clients.sfn, arn).await.unwrap()).join("\n")
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_provisioning_request_runs_every_stage_once_and_leaves_an_audit_record() {
    let clients = LocalClients::connect(&endpoint()).await;
    let host = run_instance("Role", "build-host").await;
    let application = unique("billing");
    // A secret in the configuration: it reaches its SecureString and nothing else.
    let password = unique("plantedDbPassword");
    let config = publish_config(
        &clients,
        &json!({"applicationConfig": {"db": {"port": 5432, "name": "billing", "password": password}},
                "environmentConfig": {"db": {"host": "db.staging"}, "replicas": 3}}),
    )
    .await;
    let request = json!({
        "application": application, "environment": "staging",
        "configObject": config,
        "instanceIds": [host],
        "documents": {"bake": "AWS-RunShellScript", "provision": "AWS-RunShellScript", "validate": "AWS-RunShellScript"}
    });
    let message_id = format!("{}-0000-4000-8000-000000000001", &unique("")[..8]);
    let event = sns_event(&message_id, &request);
    let (status, body) = stackgate_local::http::invoke(&endpoint(), "provision-starter", &event)
        .await
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let started: Value = serde_json::from_slice(&body).unwrap();
    let arn = started["executions"][0].as_str().unwrap().to_string();
    assert!(arn.ends_with(&format!(":provision-{message_id}")), "{arn}");
    // SNS may deliver twice: the same message starts nothing new.
    let (_, again) = stackgate_local::http::invoke(&endpoint(), "provision-starter", &event)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&again).unwrap()["executions"][0],
        arn.as_str()
    );

    let report = execution::wait(&clients.sfn, &arn, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(report.status, "SUCCEEDED", "{report:?}");
    assert_eq!(
        report.states.iter().filter(|s| *s == "SendCommand").count(),
        3,
        "bake, provision, validate"
    );

    let parameter = clients
        .ssm
        .get_parameter()
        .name(format!(
            "/stackgate/provisioning/{application}/staging/db/host"
        ))
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let parameter = parameter.parameter().unwrap();
    assert_eq!(parameter.value(), Some("db.staging"));
    assert_eq!(parameter.r#type().map(|t| t.as_str()), Some("SecureString"));
    let stored = clients
        .ssm
        .get_parameter()
        .name(format!(
            "/stackgate/provisioning/{application}/staging/db/password"
        ))
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.parameter().unwrap().value(), Some(password.as_str()));
    // Never in the workflow's state: its history (inputs, outputs of every state) is readable by
    // anyone with states:GetExecutionHistory for 90 days.
    let history = history_text(&clients, &arn).await;
    assert!(history.contains("configObject"), "the history was read");
    assert!(!history.contains(&password), "the secret is in the history");

    let audit = clients
        .dynamodb
        .get_item()
        .table_name("stackgate-local-audittable")
        .key(
            "id",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("provision-{message_id}")),
        )
        .send()
        .await
        .unwrap();
    let item = audit.item().expect("an audit record");
    assert_eq!(item["application"].as_s().unwrap(), &application);
    assert!(item["logs"]
        .as_s()
        .unwrap()
        .starts_with("s3://stackgate-local-provisioninglogsbucket/"));
}

#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_failing_stage_is_notified_and_a_bad_request_starts_nothing() {
    let clients = LocalClients::connect(&endpoint()).await;
    let host = run_instance("Role", "build-host").await;
    // moto's SSM commands always succeed, so the failing stage here is pre-provision: a configuration
    // key that cannot be a parameter name.
    let request = json!({
        "application": unique("orders"), "environment": "staging", "instanceIds": [host],
        "configObject": publish_config(&clients, &json!({"applicationConfig": {"db host": "x"}})).await,
        "documents": {"bake": "AWS-RunShellScript", "provision": "AWS-RunShellScript", "validate": "AWS-RunShellScript"}
    });
    let message_id = format!("{}-0000-4000-8000-000000000002", &unique("")[..8]);
    let (_, body) = stackgate_local::http::invoke(
        &endpoint(),
        "provision-starter",
        &sns_event(&message_id, &request),
    )
    .await
    .unwrap();
    let arn = serde_json::from_slice::<Value>(&body).unwrap()["executions"][0]
        .as_str()
        .unwrap()
        .to_string();
    let report = execution::wait(&clients.sfn, &arn, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(report.status, "FAILED", "{report:?}");
    assert_eq!(report.error.as_deref(), Some("InvalidInput"), "{report:?}");
    assert!(
        report
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("db host"),
        "{report:?}"
    );
    assert!(
        report.entered("NotifyFailure")
            && !report.entered("SendCommand")
            && !report.entered("PostProvision"),
        "{:?}",
        report.states
    );

    let bad = json!({"application": "bad name", "environment": "staging", "instanceIds": [host],
                     "documents": {"bake": "a", "provision": "b", "validate": "c"}});
    let bad_id = format!("{}-0000-4000-8000-000000000003", &unique("")[..8]);
    let (status, body) =
        stackgate_local::http::invoke(&endpoint(), "provision-starter", &sns_event(&bad_id, &bad))
            .await
            .unwrap();
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(error["errorType"], "InvalidInput", "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("application"),
        "{error}"
    );
    let none = clients
        .sfn
        .describe_execution()
        .execution_arn(format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:ProvisioningStateMachine:provision-{bad_id}"))
        .send()
        .await;
    assert!(none.is_err(), "no execution for an invalid request");
}
