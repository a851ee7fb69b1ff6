//! What exists before stackgate runs, made on the local stack: the template's roles and resources,
//! the samples' objects, the organization, the operator's settings, the target accounts.

use super::*;

/// The other Region the e2e suite's releases deploy to, besides the local stack's own.
pub const OTHER_REGION: &str = "eu-west-1";

/// What `examples/target-account-role.yaml` makes in each target account and Region that the local
/// stack needs: the rule sending CloudFormation's stack status changes to this bus (as in the
/// local stack's own other Region). The roles need not exist: moto's AssumeRole does not ask, and
/// it evaluates neither their trust nor their policies (docs/local-stack.md).
pub(super) async fn target_accounts(clients: &LocalClients) -> Result<(), BoxError> {
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
pub(super) async fn create_roles(
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
pub(super) async fn create_resources(
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
pub(super) async fn upload_samples(clients: &LocalClients) -> Result<(), BoxError> {
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
pub(super) async fn make_organization(endpoint: &str) -> Result<(), BoxError> {
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
pub(super) async fn operator_settings(clients: &LocalClients) -> Result<(), BoxError> {
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
