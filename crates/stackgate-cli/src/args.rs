//! The command line. Every value has a flag and, where CI sets it once, an environment variable.

use clap::error::{ContextKind, ContextValue, ErrorKind};
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
    /// Create or update a stack: plan it, show every judged change, ask (on a terminal, unless
    /// --yes), then apply exactly that plan and follow it until it ends or waits for a person.
    Deploy(DeployArgs),
    /// Plan only: the judged changes and the verdict, nothing executed; apply it later with
    /// `stackgate apply PLAN_ID`.
    Plan(DeployArgs),
    /// Apply a plan: execute exactly the change set `stackgate plan` showed (refused if the stack
    /// changed since, or the plan expired).
    Apply {
        /// The plan's id, as `stackgate plan` printed it.
        plan_id: String,
    },
    /// A stack's status, outputs and last failure.
    Status {
        /// The stack's full name, `<environment>-<name>`.
        stack: String,
    },
    /// A stack's recent events (CloudFormation's), oldest first.
    Events {
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
    /// Deploy several stacks as one release: plan them all, ask people once if a plan needs them
    /// (the manifest's `onUnsafe: approve`), then execute in waves ordered by `dependsOn`; follow it
    /// until it ends or waits for people.
    Release(ReleaseArgs),
    /// A release's stacks and outcome (the id `release` prints).
    Releases {
        id: String,
        /// Follow it until it ends or waits for people.
        #[arg(long)]
        follow: bool,
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
    /// Send a local template's text in the request instead of uploading it, where the operator
    /// turned InlineTemplates on (no bucket, no AWS credentials needed).
    #[arg(long, conflicts_with = "bucket")]
    pub inline: bool,
    /// Names the deployment: the same key and request again returns the same execution (default:
    /// a new one per run).
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// deploy: apply the plan without asking (on a terminal it asks first; elsewhere it never asks).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// How long the plan may wait to be applied, in seconds (default and most: the operator's
    /// PlanMinutes).
    #[arg(long, value_name = "SECONDS")]
    pub expires_in: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The release manifest: a JSON file as `POST /releases` takes it (docs/api.md, Releases). A
    /// stack's `template` may name a local file (relative to the manifest), `s3://bucket/key` or an
    /// https S3 URL, as --template does; it becomes the stack's template source.
    #[arg(long, short = 'm')]
    pub manifest: std::path::PathBuf,
    /// Where local templates are uploaded (one of the operator's AllowedTemplateBuckets); default
    /// on the local stack: its artifacts bucket.
    #[arg(long, env = "STACKGATE_TEMPLATE_BUCKET")]
    pub bucket: Option<String>,
    /// Send local templates' text in the request instead of uploading them, where the operator
    /// turned InlineTemplates on.
    #[arg(long, conflicts_with = "bucket")]
    pub inline: bool,
    /// Names the release: the same key and manifest again returns the same release (default: a
    /// new one per run).
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// Whether a URL's host (read with a URL parser: `localhost:80@evil.example` is evil.example) is
/// this machine.
pub fn is_loopback(endpoint: &str) -> bool {
    url::Url::parse(endpoint)
        .ok()
        .and_then(|u| {
            u.host().map(|h| match h {
                url::Host::Domain(d) => d == "localhost",
                url::Host::Ipv4(ip) => ip.is_loopback(),
                url::Host::Ipv6(ip) => ip.is_loopback(),
            })
        })
        .unwrap_or(false)
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

    /// The API is the local stack's (a loopback host): uploads go to the local stack's S3 with
    /// its credentials unless the environment names others.
    pub fn is_local(&self) -> bool {
        is_loopback(&self.endpoint())
    }

    /// Where a local template goes: `bucket` (the command's --bucket), else the local stack's.
    pub fn template_bucket(&self, bucket: Option<&String>) -> Result<String, CliError> {
        match bucket.cloned().filter(|b| !b.trim().is_empty()) {
            Some(bucket) => Ok(bucket),
            None if self.is_local() => Ok(LOCAL_TEMPLATE_BUCKET.to_string()),
            None => Err(CliError::input(
                "--bucket",
                "a local template is uploaded to one of the operator's allowed buckets: name it (or STACKGATE_TEMPLATE_BUCKET), or give the template as s3://bucket/key",
            )),
        }
    }
}

/// A command line clap could not read: help and version as clap prints them; any other error as
/// one line that names the flag but never repeats a value (clap's own message quotes what it was
/// given, and an unquoted secret with a space in it would land in a CI log). Exit 2.
pub fn refuse(error: &clap::Error) -> std::process::ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return std::process::ExitCode::from(error.exit_code() as u8);
    }
    eprintln!("stackgate: {}", describe(error));
    std::process::ExitCode::from(2)
}

/// The error without the values it quotes.
pub fn describe(error: &clap::Error) -> String {
    let flag = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(flag)) => Some(flag.clone()),
        Some(ContextValue::Strings(flags)) => Some(flags.join(", ")),
        _ => None,
    };
    match (error.kind(), flag) {
        (ErrorKind::UnknownArgument, _) | (ErrorKind::InvalidSubcommand, _) => {
            "an argument it does not take (a value holding spaces needs quotes; see --help)".into()
        }
        (ErrorKind::MissingRequiredArgument, Some(flags)) => format!("missing {flags}"),
        (ErrorKind::InvalidValue | ErrorKind::ValueValidation, Some(flag)) => {
            format!("{flag}: not a value it takes (see --help)")
        }
        (ErrorKind::ArgumentConflict, Some(flag)) => format!("{flag}: cannot be used here"),
        (ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues, Some(flag)) => {
            format!("{flag}: the wrong number of values")
        }
        (kind, _) => kind
            .as_str()
            .unwrap_or("the command line could not be read")
            .to_string(),
    }
}

/// A stack name as the API and CloudFormation take it, checked before it becomes part of a path
/// (a `?` or `#` in it would rewrite the request's options).
pub fn checked_stack(stack: &str) -> Result<&str, CliError> {
    stackgate::request::validate_stack_name("stack", stack).map_err(|e| match e {
        stackgate::TaskError::InvalidInput { message, .. } => CliError::input("stack", &message),
        other => CliError::input("stack", &other.to_string()),
    })?;
    Ok(stack)
}

/// An execution id as the API answers them (`deploy-…`, `delete-…`): letters, digits, `-`, `_`.
pub fn checked_execution(id: &str) -> Result<&str, CliError> {
    let valid = !id.is_empty()
        && id.len() <= 80
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(id)
    } else {
        Err(CliError::input(
            "id",
            "is not an execution id (letters, digits, - and _, as deploy and delete print them)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("stackgate").chain(args.iter().copied()))
    }

    #[test]
    fn a_refused_command_line_names_the_flag_never_the_value() {
        for args in [
            &[
                "deploy",
                "-e",
                "dev",
                "-s",
                "web",
                "-t",
                "t.yaml",
                "-p",
                "Password=correct",
                "horse",
            ][..],
            &["delete", "dev-web", "--approval-timeout-seconds", "horse"][..],
            &["delete", "dev-web", "--on-unsafe", "horse"][..],
            &[
                "deploy", "-e", "dev", "-s", "web", "-t", "t.yaml", "--horse",
            ][..],
        ] {
            let error = parse(args).unwrap_err();
            let text = describe(&error);
            assert!(!text.contains("horse"), "{args:?}: {text}");
            assert!(!text.is_empty());
        }
        let text = describe(
            &parse(&["delete", "dev-web", "--approval-timeout-seconds", "x"]).unwrap_err(),
        );
        assert!(text.starts_with("--approval-timeout-seconds"), "{text}");
        let text = describe(&parse(&["deploy", "-e", "dev"]).unwrap_err());
        assert!(text.starts_with("missing --stack"), "{text}");
    }

    #[test]
    fn names_that_would_rewrite_the_path_are_refused() {
        for bad in [
            "api-web?onUnsafe=approve#",
            "../executions/x",
            "a/b",
            "a%2Fb",
            "",
        ] {
            assert!(
                matches!(checked_stack(bad), Err(CliError::Input { field, .. }) if field == "stack"),
                "{bad}"
            );
        }
        assert_eq!(checked_stack("api-web").unwrap(), "api-web");
        for bad in ["deploy-k1?x", "../stacks/a", ""] {
            assert!(checked_execution(bad).is_err(), "{bad}");
        }
        assert!(checked_execution("deploy-k28191f35765596a985a8674d38ea1d3c").is_ok());
    }

    #[test]
    fn local_means_a_loopback_host_not_a_name_that_starts_like_one() {
        let cli = |endpoint: &str| parse(&["--endpoint", endpoint, "status", "a-b"]).unwrap();
        assert!(cli("http://127.0.0.1:9000/lambda-url/stacks-api").is_local());
        assert!(cli("http://localhost:9000/x").is_local());
        assert!(!cli("http://localhost:80@evil.example/").is_local());
        assert!(!cli("https://abc.execute-api.eu-west-1.amazonaws.com/v1").is_local());
    }
}
