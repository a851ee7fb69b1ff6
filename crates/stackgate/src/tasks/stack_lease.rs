//! The stack leases (`crate::lease`), as the plan steps of safe deploy and safe delete take them and
//! as the API reads them. Taken in the plan, before the stack is read: nothing is decided about a
//! stack while another execution works on it, and the lease costs no state transition of its own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::aws::{dynamodb, sfn};
use crate::config::required_env;
use crate::lease::{self, Lease, Settings, WhenHeld};
use crate::TaskError;

/// The leases table and the operator's settings, read once per process.
/// The execution working on a stack, and its input (which says who started it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningHolder {
    pub execution_arn: String,
    pub input: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Leases {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sfn: aws_sdk_sfn::Client,
    /// `STACK_LEASES_TABLE`
    pub table: String,
    pub settings: Settings,
}

impl Leases {
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, TaskError> {
        Ok(Leases {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sfn: aws_sdk_sfn::Client::new(config),
            table: required_env("STACK_LEASES_TABLE")?,
            settings: crate::config::lease_settings()?,
        })
    }

    /// Takes `stack` for the execution `holder` (its ARN), or fails with `StackQueued` (the
    /// workflow asks again) or `StackBusy`, naming the execution that holds the stack. Taking it
    /// again from the same execution (a retry, a second planning pass) succeeds.
    pub async fn take(&self, stack: &str, holder: &str) -> Result<(), TaskError> {
        // A lease freed or taken over between the write and the read is contended again, a few
        // times: each round is one conditional write, so two takers never both win.
        for _ in 0..3 {
            let mine = Lease::new(stack, holder, now());
            if dynamodb::take_lease(&self.dynamodb, &self.table, &mine, None).await? {
                return Ok(());
            }
            let Some(current) = dynamodb::read_lease(&self.dynamodb, &self.table, stack).await?
            else {
                continue;
            };
            let running = self.running(&current.holder).await?;
            let waited = if running {
                self.waited(holder).await?
            } else {
                Duration::ZERO
            };
            match lease::when_held(self.settings, running, waited) {
                WhenHeld::TakeOver => {
                    let from = Some(current.holder.as_str());
                    if dynamodb::take_lease(&self.dynamodb, &self.table, &mine, from).await? {
                        tracing::info!(stack, previous = %current.holder, "lease taken over from an ended execution");
                        return Ok(());
                    }
                }
                WhenHeld::Wait => {
                    return Err(TaskError::StackQueued {
                        stack: stack.to_string(),
                        holder: current.holder,
                    })
                }
                WhenHeld::Refuse => {
                    // The operator reads the holder here; the error does not name it.
                    tracing::warn!(stack, holder = %current.holder, "stack held by another execution: refused");
                    return Err(TaskError::StackHeld {
                        stack: stack.to_string(),
                        holder: current.holder,
                    });
                }
            }
        }
        Err(TaskError::StackQueued {
            stack: stack.to_string(),
            holder: "another execution".to_string(),
        })
    }

    /// The running execution holding `stack`, if one does (for the API's 409).
    pub async fn running_holder(&self, stack: &str) -> Result<Option<RunningHolder>, TaskError> {
        let Some(current) = dynamodb::read_lease(&self.dynamodb, &self.table, stack).await? else {
            return Ok(None);
        };
        Ok(sfn::describe_if_exists(&self.sfn, &current.holder)
            .await?
            .filter(|e| lease::holder_running(Some(&e.status)))
            .map(|e| RunningHolder {
                execution_arn: current.holder,
                input: e.input,
            }))
    }

    async fn running(&self, execution_arn: &str) -> Result<bool, TaskError> {
        let status = sfn::describe_if_exists(&self.sfn, execution_arn)
            .await?
            .map(|e| e.status);
        Ok(lease::holder_running(status.as_deref()))
    }

    /// How long the taker's own execution has been running (zero for `refuse`, or when it cannot
    /// be told: the workflow's retry schedule still bounds the wait).
    async fn waited(&self, holder: &str) -> Result<Duration, TaskError> {
        if self.settings.mode == lease::Mode::Refuse {
            return Ok(Duration::ZERO);
        }
        let started = sfn::describe_if_exists(&self.sfn, holder)
            .await?
            .and_then(|e| e.start_date)
            .and_then(|text| {
                aws_smithy_types::DateTime::from_str(
                    &text,
                    aws_smithy_types::date_time::Format::DateTime,
                )
                .ok()
            });
        Ok(started.map_or(Duration::ZERO, |t| {
            Duration::from_secs(now().saturating_sub(t.secs().max(0) as u64))
        }))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
