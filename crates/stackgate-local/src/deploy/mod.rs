//! Creates the template's topics, buckets and state machines on the local stack.

use std::collections::BTreeMap;

use crate::template::{substitute, LocalResource, LocalTemplate, ACCOUNT};
use crate::{BoxError, LocalClients, REGION};

mod resources;
pub use resources::OTHER_REGION;
use resources::{
    create_resources, create_roles, make_organization, operator_settings, target_accounts,
    upload_samples,
};

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
