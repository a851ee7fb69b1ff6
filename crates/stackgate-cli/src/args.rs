//! The command line. Every value has a flag and, where CI sets it once, an environment variable.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::client::CliError;

/// The local stack's stacks API (cargo-lambda's function URL), the default: the CLI works right
/// after `scripts/demo.sh`.
pub const LOCAL_API_URL: &str = "http://127.0.0.1:9000/lambda-url/stacks-api";

/// The local stack's allowed template bucket, the default upload target when the API is local.
pub const LOCAL_TEMPLATE_BUCKET: &str = "stackgate-local-artifacts";

#[derive(Debug, Parser)]
#[command(
    name = "stackgate",
    version,
    about = "Create, update and delete CloudFormation stacks through stackgate: every change is judged, and nothing harmful runs without a person's yes.",
    after_help = "Exit codes: 0 deployed, deleted or no changes; 1 any other failure; 2 bad input; 3 refused as unsafe (or a person said no); 4 waiting for a person's decision."
)]
pub struct Cli {
    /// The stacks API's URL (the stack output StacksApiUrl); default: the local stack's.
    #[arg(long, env = "STACKGATE_API_URL", global = true)]
    pub endpoint: Option<String>,
    /// The API key (the value of StacksApiKeyId's key), sent as x-api-key.
    #[arg(long, env = "STACKGATE_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// Sign every request with your AWS credentials (SigV4), as an API deployed with
    /// ApiAuthorization=API_KEY_AND_IAM requires (the API key is still sent).
    #[arg(long, env = "STACKGATE_API_IAM", global = true)]
    pub iam: bool,
    /// Print one JSON document (what the API answered) instead of lines for people.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update a stack, following the workflow until it ends or waits for a person.
    Deploy(DeployArgs),
    /// A stack's status, outputs and last failure.
    Status {
        /// The stack's full name, `<environment>-<name>`.
        stack: String,
    },
    /// Delete a stack; a deletion that would lose data is refused unless `--on-unsafe approve`.
    Delete {
        /// The stack's full name, `<environment>-<name>`.
        stack: String,
        #[arg(long, value_enum, default_value_t = OnUnsafeDeletion::Fail)]
        on_unsafe: OnUnsafeDeletion,
        /// How long an approval waits (60 to 604800 seconds).
        #[arg(long)]
        approval_timeout_seconds: Option<u64>,
    },
    /// An execution's states and outcome (the id `deploy` and `delete` print).
    Executions {
        id: String,
        /// Follow it until it ends or waits for a person.
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// One of the operator's managed environments.
    #[arg(long, short = 'e', env = "STACKGATE_ENVIRONMENT")]
    pub environment: String,
    /// The stack's name inside its environment (the stack is `<environment>-<stack>`).
    #[arg(long, short = 's')]
    pub stack: String,
    /// A local file (uploaded to --bucket), `s3://bucket/key`, or an https S3 URL, in a bucket the
    /// operator allows.
    #[arg(long, short = 't')]
    pub template: String,
    /// A template parameter, KEY=VALUE (repeatable). A NoEcho one only as a reference, e.g.
    /// `{{resolve:ssm-secure:/name}}`.
    #[arg(long = "parameter", short = 'p', value_name = "KEY=VALUE")]
    pub parameters: Vec<String>,
    /// A stack tag, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// CAPABILITY_IAM, CAPABILITY_NAMED_IAM or CAPABILITY_AUTO_EXPAND (repeatable), as the operator allows.
    #[arg(long = "capability", value_name = "CAPABILITY")]
    pub capabilities: Vec<String>,
    /// What an unsafe change does: fail (the default), ask people, or deploy beside the live stack.
    #[arg(long, value_enum, default_value_t = OnUnsafe::Fail)]
    pub on_unsafe: OnUnsafe,
    /// Where a local template is uploaded (one of the operator's AllowedTemplateBuckets); default
    /// on the local stack: its artifacts bucket.
    #[arg(long, env = "STACKGATE_TEMPLATE_BUCKET")]
    pub bucket: Option<String>,
    /// Names the deployment: the same key and request again returns the same execution (default:
    /// a new one per run).
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnUnsafe {
    Fail,
    Approve,
    BlueGreen,
}

impl OnUnsafe {
    /// The API's word.
    pub fn as_str(self) -> &'static str {
        match self {
            OnUnsafe::Fail => "fail",
            OnUnsafe::Approve => "approve",
            OnUnsafe::BlueGreen => "blueGreen",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnUnsafeDeletion {
    Fail,
    Approve,
}

impl OnUnsafeDeletion {
    pub fn as_str(self) -> &'static str {
        match self {
            OnUnsafeDeletion::Fail => "fail",
            OnUnsafeDeletion::Approve => "approve",
        }
    }
}

impl Cli {
    pub fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| LOCAL_API_URL.to_string())
    }

    /// The API is the local stack's (a loopback address): uploads go to the local stack's S3 with
    /// its credentials unless the environment names others.
    pub fn is_local(&self) -> bool {
        let endpoint = self.endpoint();
        let rest = endpoint
            .strip_prefix("http://")
            .or_else(|| endpoint.strip_prefix("https://"))
            .unwrap_or(&endpoint);
        ["127.0.0.1", "localhost", "[::1]"].iter().any(|host| {
            rest.starts_with(&format!("{host}:")) || rest.starts_with(&format!("{host}/"))
        })
    }

    /// Where a local template goes.
    pub fn template_bucket(&self, deploy: &DeployArgs) -> Result<String, CliError> {
        match deploy.bucket.clone().filter(|b| !b.trim().is_empty()) {
            Some(bucket) => Ok(bucket),
            None if self.is_local() => Ok(LOCAL_TEMPLATE_BUCKET.to_string()),
            None => Err(CliError::input(
                "--bucket",
                "a local template is uploaded to one of the operator's allowed buckets: name it (or STACKGATE_TEMPLATE_BUCKET), or give the template as s3://bucket/key",
            )),
        }
    }
}
