//! Creates the template's topics, buckets and state machines on the local stack.

use std::collections::BTreeMap;

use crate::template::{substitute, LocalResource, LocalTemplate, ACCOUNT};
use crate::{BoxError, LocalClients, REGION};

pub const SIGNING_KEY_PARAMETER: &str = "/stackgate/approval-signing-key";
pub const SENDER: &str = "stackgate@example.com";
pub const APPROVER: &str = "approver@example.com";
pub const EXTERNAL_JOB_WEBHOOK_URL_PARAMETER: &str = "/stackgate/external-job-webhook-url";
/// No Jenkins runs locally: the webhook goes nowhere (the dispatcher is exercised with mocks, as
/// moto has no GetActivityTask).
const LOCAL_WEBHOOK_URL: &str = "http://127.0.0.1:9/no-local-jenkins";

/// A fresh random key for signing approval links (the local stack's stand-in for an operator's).
fn random_key() -> Result<String, BoxError> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Where the local stack keeps the sample network template (moto reads TemplateURLs path-style
/// only for the host "localhost").
pub fn network_template_url() -> String {
    format!(
        "{}/stackgate-local-artifacts/{NETWORK_TEMPLATE_KEY}",
        crate::endpoint().replace("127.0.0.1", "localhost")
    )
}

const NETWORK_TEMPLATE_KEY: &str = "templates/network.yaml";
/// Where the provisioning samples' configuration object is.
pub const SAMPLE_CONFIG_KEY: &str = "billing/staging/run-1.json";

/// Accounts besides the local stack's own that releases may deploy to (moto keeps each apart).
pub const TARGET_ACCOUNTS: [&str; 3] = ["222222222222", "333333333333", "444444444444"];

/// Parameter values the local stack deploys the template with.
pub fn local_parameters() -> BTreeMap<String, String> {
    [
        (
            "RoleARN",
            format!("arn:aws:iam::{ACCOUNT}:role/stackgate-local-cloudformation"),
        ),
        (
            "ArtifactBucketName",
            "stackgate-local-artifacts".to_string(),
        ),
        (
            "PipelineInputBucketName",
            "stackgate-local-artifacts".to_string(),
        ),
        (
            "ManagedEnvironments",
            "demo,e2e,pipeline,api,load".to_string(),
        ),
        (
            "AllowedTemplateBuckets",
            "stackgate-local-artifacts".to_string(),
        ),
        ("ApiAuthorization", "API_KEY".to_string()),
        // CAPABILITY_IAM only: the attack suite shows both layers, a capability refused at the
        // door and an IAM resource refused as security-sensitive.
        ("AllowedCapabilities", "CAPABILITY_IAM".to_string()),
        ("SecuritySensitiveTypesExtra", String::new()),
        ("ProtectedResourceTypes", String::new()),
        ("ReplaceableResourceTypes", String::new()),
        ("ProtectedLogicalIds", "Protected*".to_string()),
        // Both, so that the e2e suite shows each way of accepting a loss (AWS's default: nobody).
        ("DataLossIntent", "template,request".to_string()),
        ("RollbackAlarms", String::new()),
        ("MonitoringMinutes", String::new()),
        // Drift is detected locally (moto is mended to detect deleted resources).
        (
            "DriftDetectionPolicyArn",
            "arn:aws:iam::aws:policy/SecurityAudit".to_string(),
        ),
        ("SecuritySensitiveTypesExempt", String::new()),
        ("ApiGatewayLoggingRole", "create".to_string()),
        (
            "ApprovalSigningKeyParameterName",
            SIGNING_KEY_PARAMETER.to_string(),
        ),
        ("SesSenderIdentity", SENDER.to_string()),
        ("Approvers", APPROVER.to_string()),
        (
            "ExternalJobWebhookUrlParameter",
            EXTERNAL_JOB_WEBHOOK_URL_PARAMETER.to_string(),
        ),
        ("NetworkTemplateUrl", network_template_url()),
        ("NotificationEmail", String::new()),
        ("LogLevel", "info".to_string()),
        ("MetricsNamespace", "stackgate".to_string()),
        // The template's defaults: a second deployment of a stack waits for the first.
        ("ConcurrentDeployments", "queue".to_string()),
        ("StackWaitMinutes", "30".to_string()),
        ("PlanMinutes", "60".to_string()),
        // On, unlike the template's default, so that the e2e suite deploys a template's text
        // (the refusal with it off is tested at the API, `stacks_api`).
        ("InlineTemplates", "on".to_string()),
        // The bundled Guard rules, refusing (the template's defaults); no operator rules file.
        ("GuardDefaults", "on".to_string()),
        ("GuardRules", String::new()),
        ("GuardOnFailure", "refuse".to_string()),
        // The two other accounts the e2e suite's releases deploy to, each through its deploy role.
        ("TargetAccounts", TARGET_ACCOUNTS.join(",")),
        ("TargetRegions", OTHER_REGION.to_string()),
        ("TargetExternalId", "stackgate-local".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

pub fn load_template() -> Result<LocalTemplate, BoxError> {
    Ok(LocalTemplate::load(
        &crate::repo_root().join("template.yaml"),
        REGION,
        local_parameters(),
    )?)
}

/// Local name of the state machine of a template resource.
pub fn state_machine_arn(logical_id: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{logical_id}")
}

/// Switches on moto's Step Functions interpreter; must happen before any state machine exists.
pub async fn enable_execution(endpoint: &str) -> Result<(), BoxError> {
    let (status, _) = crate::http::call(
        hyper::Method::POST,
        &format!("{endpoint}/moto-api/config"),
        Some(r#"{"stepfunctions":{"execute_state_machine":true}}"#.to_string()),
    )
    .await?;
    if !(200..300).contains(&status) {
        return Err(format!("moto refused the Step Functions config (HTTP {status})").into());
    }
    Ok(())
}

/// Deploys everything; safe to run again (definitions are updated in place). With the template as
/// SAM expands it (`translated`), its IAM roles too, so that each function runs under its own.
pub async fn deploy(
    clients: &LocalClients,
    endpoint: &str,
    translated: Option<&std::path::Path>,
) -> Result<Vec<String>, BoxError> {
    // Refused at deploy time, as the functions would refuse it when they start.
    if let Some(environments) = local_parameters().get("ManagedEnvironments") {
        crate::template_policy::managed_environments(environments)?;
    }
    enable_execution(endpoint).await?;
    let translated = match translated {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let template: serde_json::Value = serde_json::from_str(&text)?;
            create_roles(clients, &template).await?;
            Some(template)
        }
        None => None,
    };
    let template = load_template()?;
    create_resources(clients, &template).await?;
    upload_samples(clients).await?;
    make_organization(endpoint).await?;
    operator_settings(clients).await?;
    target_accounts(clients).await?;
    deploy_state_machines(clients, &template, translated.as_ref()).await
}

/// The other Region the e2e suite's releases deploy to, besides the local stack's own.
pub const OTHER_REGION: &str = "eu-west-1";

/// What `examples/target-account-role.yaml` makes in each target account and Region that the local
/// stack needs: the rule sending CloudFormation's stack status changes to this bus (as in the
/// local stack's own other Region). The roles need not exist: moto's AssumeRole does not ask, and
/// it evaluates neither their trust nor their policies (docs/local-stack.md).
async fn target_accounts(clients: &LocalClients) -> Result<(), BoxError> {
    let places = TARGET_ACCOUNTS
        .iter()
        .flat_map(|account| [(Some(*account), REGION), (Some(*account), OTHER_REGION)])
        .chain([(None, OTHER_REGION)]);
    for (account, region) in places {
        let events = clients.elsewhere(account, region).await?.events;
        let name = "stackgate-stack-status";
        events
            .put_rule()
            .name(name)
            .event_pattern(
                serde_json::json!({
                    "source": ["aws.cloudformation"],
                    "detail-type": ["CloudFormation Stack Status Change"],
                })
                .to_string(),
            )
            .send()
            .await?;
        let bus = aws_sdk_eventbridge::types::Target::builder()
            .id("stackgate")
            .arn(format!(
                "arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
            ))
            .role_arn(format!(
                "arn:aws:iam::{}:role/stackgate-forward",
                account.unwrap_or(ACCOUNT)
            ))
            .build()?;
        events.put_targets().rule(name).targets(bus).send().await?;
    }
    Ok(())
}

/// Every IAM role of the template with its exact inline policies, and each function's role tagged
/// with the key that function signs with (`iam::roles`); moto's patched enforcement
/// (`scripts/moto_iam.py`) then evaluates every call a function makes against its role.
async fn create_roles(
    clients: &LocalClients,
    template: &serde_json::Value,
) -> Result<(), BoxError> {
    use crate::iam::roles::{local_roles, ACCESS_KEY_TAG};
    for role in local_roles(template, local_parameters())? {
        let created = clients
            .iam
            .create_role()
            .role_name(&role.name)
            .assume_role_policy_document(versioned(role.trust).to_string())
            .send()
            .await;
        if let Err(error) = created {
            let exists = error
                .as_service_error()
                .is_some_and(|e| e.is_entity_already_exists_exception());
            if !exists {
                return Err(format!(
                    "creating role {}: {}",
                    role.name,
                    aws_sdk_iam::error::DisplayErrorContext(&error)
                )
                .into());
            }
        }
        // A deploy run again on a running stack: policies the template no longer has (SAM numbers
        // them by position) must not keep granting.
        let wanted: Vec<&str> = role
            .policies
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let existing = clients
            .iam
            .list_role_policies()
            .role_name(&role.name)
            .send()
            .await?;
        for stale in existing
            .policy_names()
            .iter()
            .filter(|n| !wanted.contains(&n.as_str()))
        {
            clients
                .iam
                .delete_role_policy()
                .role_name(&role.name)
                .policy_name(stale)
                .send()
                .await?;
        }
        for (name, document) in role.policies {
            clients
                .iam
                .put_role_policy()
                .role_name(&role.name)
                .policy_name(&name)
                .policy_document(versioned(document).to_string())
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "policy {name} of {}: {}",
                        role.name,
                        aws_sdk_iam::error::DisplayErrorContext(&e)
                    )
                })?;
        }
        if let Some(key) = role.access_key {
            let tag = aws_sdk_iam::types::Tag::builder()
                .key(ACCESS_KEY_TAG)
                .value(key)
                .build()?;
            clients
                .iam
                .tag_role()
                .role_name(&role.name)
                .tags(tag)
                .send()
                .await?;
        } else {
            clients
                .iam
                .untag_role()
                .role_name(&role.name)
                .tag_keys(ACCESS_KEY_TAG)
                .send()
                .await?;
        }
    }
    Ok(())
}

/// moto refuses a policy without `Version`; AWS reads one as 2008-10-17, which differs only in
/// policy variables (`${aws:username}`), which SAM expands none of here.
fn versioned(mut document: serde_json::Value) -> serde_json::Value {
    if let Some(map) = document.as_object_mut() {
        map.entry("Version").or_insert_with(|| "2012-10-17".into());
    }
    document
}

/// The template's buckets, tables, topics, queues, activities… as moto holds them.
async fn create_resources(
    clients: &LocalClients,
    template: &LocalTemplate,
) -> Result<(), BoxError> {
    for resource in template.local_resources() {
        match resource {
            LocalResource::Topic { logical_id } => {
                clients.sns.create_topic().name(&logical_id).send().await?;
            }
            LocalResource::Table { name, hash_key } => {
                use aws_sdk_dynamodb::types::{
                    AttributeDefinition, BillingMode, KeySchemaElement, KeyType,
                    ScalarAttributeType,
                };
                if clients
                    .dynamodb
                    .describe_table()
                    .table_name(&name)
                    .send()
                    .await
                    .is_err()
                {
                    clients
                        .dynamodb
                        .create_table()
                        .table_name(&name)
                        .billing_mode(BillingMode::PayPerRequest)
                        .attribute_definitions(
                            AttributeDefinition::builder()
                                .attribute_name(&hash_key)
                                .attribute_type(ScalarAttributeType::S)
                                .build()?,
                        )
                        .key_schema(
                            KeySchemaElement::builder()
                                .attribute_name(&hash_key)
                                .key_type(KeyType::Hash)
                                .build()?,
                        )
                        .send()
                        .await?;
                }
            }
            LocalResource::Activity { name } => {
                // Idempotent, as in AWS (moto refuses a second create).
                if let Err(error) = clients.sfn.create_activity().name(&name).send().await {
                    if !error
                        .as_service_error()
                        .is_some_and(|e| e.is_activity_already_exists())
                    {
                        return Err(error.into());
                    }
                }
            }
            LocalResource::Rule {
                name,
                pattern,
                function_arn,
            } => {
                // Both calls replace what a previous deploy put.
                clients
                    .events
                    .put_rule()
                    .name(&name)
                    .event_pattern(pattern)
                    .send()
                    .await?;
                let target = aws_sdk_eventbridge::types::Target::builder()
                    .id("function")
                    .arn(function_arn)
                    .build()?;
                clients
                    .events
                    .put_targets()
                    .rule(&name)
                    .targets(target)
                    .send()
                    .await?;
            }
            LocalResource::Bucket { name, .. } => {
                let exists = clients.s3.head_bucket().bucket(&name).send().await.is_ok();
                if !exists {
                    clients.s3.create_bucket().bucket(&name).send().await?;
                }
            }
        }
    }
    Ok(())
}

/// The objects the samples name: the artifact bucket's network template, a provisioning config.
async fn upload_samples(clients: &LocalClients) -> Result<(), BoxError> {
    for bucket in ["stackgate-local-artifacts"] {
        if clients
            .s3
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .is_err()
        {
            clients.s3.create_bucket().bucket(bucket).send().await?;
        }
    }
    // The configuration object the provisioning samples name (`events/provision-starter.json`,
    // `events/pre-provision.json`), as a CI pipeline would publish it.
    let config = std::fs::read(crate::repo_root().join("examples/provisioning-config.json"))?;
    clients
        .s3
        .put_object()
        .bucket(crate::template::bucket_name("ProvisioningConfigBucket"))
        .key(SAMPLE_CONFIG_KEY)
        .body(config.into())
        .send()
        .await?;
    let network = std::fs::read(crate::repo_root().join("examples/templates/network.yaml"))?;
    clients
        .s3
        .put_object()
        .bucket("stackgate-local-artifacts")
        .key(NETWORK_TEMPLATE_KEY)
        .body(network.into())
        .send()
        .await?;
    Ok(())
}

/// Account vending runs in an organization's management account: this account is made one.
async fn make_organization(endpoint: &str) -> Result<(), BoxError> {
    // Account vending runs in an organization's management account: make this account one.
    // (Organizations' JSON API directly: one call does not warrant another SDK crate.)
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/organizations/aws4_request, SignedHeaders=host, Signature=0"
    );
    let (status, _, body) = crate::http::send(
        hyper::Method::POST,
        &format!("{endpoint}/"),
        &[
            ("content-type", "application/x-amz-json-1.1"),
            (
                "x-amz-target",
                "AWSOrganizationsV20161128.CreateOrganization",
            ),
            ("authorization", &auth),
        ],
        br#"{"FeatureSet":"ALL"}"#.to_vec(),
    )
    .await?;
    let already = String::from_utf8_lossy(&body).contains("AlreadyInOrganization");
    if status != 200 && !already {
        return Err(format!("could not create the local organization (HTTP {status})").into());
    }
    Ok(())
}

/// What an operator creates beside the template: the signing key, the webhook URL parameter and
/// the SES sender identity.
async fn operator_settings(clients: &LocalClients) -> Result<(), BoxError> {
    // What an operator creates beside the template: the signing key and the SES sender identity.
    let has_key = clients
        .ssm
        .get_parameter()
        .name(SIGNING_KEY_PARAMETER)
        .send()
        .await
        .is_ok();
    if !has_key {
        clients
            .ssm
            .put_parameter()
            .name(SIGNING_KEY_PARAMETER)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .value(random_key()?)
            .send()
            .await?;
    }
    clients
        .ssm
        .put_parameter()
        .name(EXTERNAL_JOB_WEBHOOK_URL_PARAMETER)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(LOCAL_WEBHOOK_URL)
        .overwrite(true)
        .send()
        .await?;
    let _ = clients
        .ses
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await;
    Ok(())
}

/// Every state machine, its definition filled as SAM's DefinitionSubstitutions would, running as its
/// role of the template as SAM expands it (moto's patched interpreter signs its calls as that role).
async fn deploy_state_machines(
    clients: &LocalClients,
    template: &LocalTemplate,
    translated: Option<&serde_json::Value>,
) -> Result<Vec<String>, BoxError> {
    let mut arns = Vec::new();
    for machine in template.state_machines()? {
        let pointer = format!(
            "/Resources/{}/Properties/RoleArn/Fn::GetAtt/0",
            machine.name
        );
        let role_name = translated
            .and_then(|t| t.pointer(&pointer))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("stackgate-local-states");
        let role = format!("arn:aws:iam::{ACCOUNT}:role/{role_name}");
        let text = std::fs::read_to_string(&machine.definition_path)
            .map_err(|e| format!("{}: {e}", machine.definition_path.display()))?;
        let definition = substitute(&text, &machine.substitutions)?;
        let arn = state_machine_arn(&machine.name);
        let existing = clients
            .sfn
            .describe_state_machine()
            .state_machine_arn(&arn)
            .send()
            .await;
        if existing.is_ok() {
            clients
                .sfn
                .update_state_machine()
                .state_machine_arn(&arn)
                .role_arn(&role)
                .definition(definition)
                .send()
                .await?;
        } else {
            clients
                .sfn
                .create_state_machine()
                .name(&machine.name)
                .role_arn(&role)
                .definition(definition)
                .send()
                .await?;
        }
        arns.push(arn);
    }
    Ok(arns)
}
