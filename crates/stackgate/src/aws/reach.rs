//! CloudFormation where a stack lives (`crate::destination`): stackgate's own client at home;
//! elsewhere a client for the destination's Region, signed with the destination account's deploy
//! role (AssumeRole with the operator's external id) or, for another Region only, with stackgate's
//! own credentials. A client is kept per destination while its credentials last, so a warm
//! function assumes a role once an hour, not once a call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudformation::config::Credentials;
use aws_sdk_cloudformation::config::SharedCredentialsProvider;
use aws_sdk_cloudformation::Client;

use crate::config::env_var;
use crate::destination::{Destination, Targets, DEPLOY_ROLE};
use crate::TaskError;

/// How long an assumed session lasts: AWS's default maximum for a role.
const SESSION: Duration = Duration::from_secs(3600);
/// A session with less than this left is renewed before a call: a stack call may take a minute.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// The role stackgate assumes in another account.
#[derive(Debug, Clone)]
pub struct DeployRole {
    /// The only accounts and Regions stackgate deploys to besides its own; the functions'
    /// policies let them assume no role in another account either.
    pub targets: Targets,
    /// The same name in every account (`destination::DEPLOY_ROLE`).
    pub name: String,
    /// `TARGET_EXTERNAL_ID`: what the role's trust policy asks of stackgate (not a secret, but
    /// not something another tool in the account would send).
    pub external_id: Option<String>,
    /// Names the session in the target account's CloudTrail: which function called.
    pub session_name: String,
}

impl DeployRole {
    pub fn from_env(function: &str) -> Self {
        DeployRole {
            targets: Targets::from_env(),
            name: DEPLOY_ROLE.into(),
            external_id: env_var("TARGET_EXTERNAL_ID"),
            session_name: format!("stackgate-{function}"),
        }
    }
}

#[derive(Debug, Clone)]
struct Reached {
    client: Client,
    /// When its credentials end; none: stackgate's own, renewed by the SDK.
    until: Option<SystemTime>,
}

#[derive(Debug, Clone)]
pub struct Reach {
    home: Client,
    config: SdkConfig,
    sts: aws_sdk_sts::Client,
    role: DeployRole,
    reached: Arc<Mutex<HashMap<Destination, Reached>>>,
}

impl Reach {
    pub fn new(
        config: &SdkConfig,
        home: Client,
        sts: aws_sdk_sts::Client,
        role: DeployRole,
    ) -> Self {
        Reach {
            home,
            config: config.clone(),
            sts,
            role,
            reached: Arc::default(),
        }
    }

    /// From the function's own configuration: `function` names its sessions.
    pub fn from_env(config: &SdkConfig, function: &str) -> Self {
        Reach::new(
            config,
            Client::new(config),
            aws_sdk_sts::Client::new(config),
            DeployRole::from_env(function),
        )
    }

    /// stackgate's own account and Region only: every other account is refused before any call
    /// (tests, and the tools that read stacks at home).
    pub fn home_only(home: Client) -> Self {
        let config = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(home.config().region().cloned())
            .build();
        let sts = aws_sdk_sts::Client::new(&config);
        Reach::new(
            &config,
            home,
            sts,
            DeployRole {
                targets: Targets::default(),
                name: DEPLOY_ROLE.into(),
                external_id: None,
                session_name: "stackgate".into(),
            },
        )
    }

    /// A client already made for a destination (tests: a mocked CloudFormation elsewhere).
    pub fn with_client(self, destination: Destination, client: Client) -> Self {
        self.lock().insert(
            destination,
            Reached {
                client,
                until: None,
            },
        );
        self
    }

    /// stackgate's own CloudFormation.
    pub fn home(&self) -> &Client {
        &self.home
    }

    /// The deploy role's name and external id, for what the plan tells CloudFormation.
    pub fn role(&self) -> &DeployRole {
        &self.role
    }

    /// The Region of stackgate's own calls.
    pub fn home_region(&self) -> String {
        super::region_of(&self.config)
    }

    /// CloudFormation in the destination.
    pub async fn cloudformation(&self, destination: &Destination) -> Result<Client, TaskError> {
        let home_region = self.home_region();
        let destination = &destination.clone().relative_to(&home_region);
        if destination.is_home() {
            return Ok(self.home.clone());
        }
        self.role.targets.admit(destination)?;
        let now = SystemTime::now();
        if let Some(reached) = self.lock().get(destination) {
            if reached.until.is_none_or(|until| until > now + RENEW_BEFORE) {
                return Ok(reached.client.clone());
            }
        }
        let region = destination.region_or(&home_region).to_string();
        let mut config = aws_sdk_cloudformation::config::Builder::from(&self.config)
            .region(Region::new(region.clone()));
        let mut until = None;
        if let Some(role_arn) = destination.deploy_role_arn(&region, &self.role.name) {
            let credentials = assume_role(&self.sts, &role_arn, &self.role).await?;
            until = credentials.expiry();
            config = config.credentials_provider(SharedCredentialsProvider::new(credentials));
        }
        let client = Client::from_conf(config.build());
        self.lock().insert(
            destination.clone(),
            Reached {
                client: client.clone(),
                until,
            },
        );
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Destination, Reached>> {
        // A panic while holding it left only a cache behind: keep using it.
        self.reached.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Temporary credentials of the deploy role in another account.
pub async fn assume_role(
    sts: &aws_sdk_sts::Client,
    role_arn: &str,
    role: &DeployRole,
) -> Result<Credentials, TaskError> {
    let output = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(&role.session_name)
        .set_external_id(role.external_id.clone())
        .duration_seconds(SESSION.as_secs() as i32)
        .send()
        .await
        .map_err(|e| super::classify("AssumeRole", &e))?;
    let given = output.credentials().ok_or_else(|| TaskError::Aws {
        operation: "AssumeRole".into(),
        message: "STS answered without credentials".into(),
    })?;
    Ok(Credentials::new(
        given.access_key_id(),
        given.secret_access_key(),
        Some(given.session_token().to_string()),
        SystemTime::try_from(*given.expiration()).ok(),
        "stackgate-deploy-role",
    ))
}
