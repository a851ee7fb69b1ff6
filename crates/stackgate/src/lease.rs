//! One deployment or deletion per stack at a time. Each workflow execution takes the stack's lease
//! (a conditional write keyed by the stack's name, naming the execution) before its plan reads the
//! stack, and holds it for as long as it runs: the lease is given back when the execution ends, on
//! every path alike (success, failure, timeout, abort), because a lease whose holder no longer runs
//! holds nothing. The next taker asks Step Functions about the holder and takes an ended one's lease
//! over with a write conditional on that holder. A clock alone could not do this: it would either
//! let a second deployment in under a slow one (an approval may wait for days) or keep a dead lease
//! for as long. The expiry written with the lease (`LEASE_SECONDS`, longer than any execution may
//! run) only spares a taker the question about a holder that cannot be running any more, and lets
//! DynamoDB delete the item.

use std::time::Duration;

/// Longer than the workflows' `TimeoutSeconds` (7 days + 4 hours): a holder past it has ended.
pub const LEASE_SECONDS: u64 = 619_200 + 3_600;

/// What a deployment of a stack another execution is working on does (`CONCURRENT_DEPLOYMENTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Wait for the lease, up to the wait the operator set; then fail with `StackBusy`.
    Queue,
    /// Fail at once with `StackBusy`, naming the execution holding the stack; the API answers 409.
    Refuse,
}

impl Mode {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "queue" => Ok(Mode::Queue),
            "refuse" => Ok(Mode::Refuse),
            _ => Err("must be \"queue\" or \"refuse\"".to_string()),
        }
    }
}

/// The operator's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    /// How long a queued execution waits for the lease (`STACK_WAIT_MINUTES`).
    pub wait: Duration,
}

/// The longest wait the workflows' retry schedule for `StackQueued` covers (see the ASL).
pub const MAX_WAIT: Duration = Duration::from_secs(60 * 60);

impl Settings {
    pub fn new(mode: &str, wait_minutes: Option<&str>) -> Result<Self, (&'static str, String)> {
        let mode = Mode::parse(mode).map_err(|m| ("CONCURRENT_DEPLOYMENTS", m))?;
        let wait = match wait_minutes {
            None => Duration::from_secs(30 * 60),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|m| (1..=MAX_WAIT.as_secs() / 60).contains(m))
                .map(|m| Duration::from_secs(m * 60))
                .ok_or((
                    "STACK_WAIT_MINUTES",
                    format!(
                        "must be a whole number of minutes from 1 to {}",
                        MAX_WAIT.as_secs() / 60
                    ),
                ))?,
        };
        Ok(Settings { mode, wait })
    }
}

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub stack_name: String,
    /// The execution holding the stack (its ARN).
    pub holder: String,
    pub taken_at: u64,
    pub expires_at: u64,
}

impl Lease {
    pub fn new(stack_name: &str, holder: &str, now: u64) -> Self {
        Lease {
            stack_name: stack_name.to_string(),
            holder: holder.to_string(),
            taken_at: now,
            expires_at: now + LEASE_SECONDS,
        }
    }
}

/// Whether the execution holding a lease may still be working on the stack, from its
/// DescribeExecution status (`None`: no such execution).
pub fn holder_running(status: Option<&str>) -> bool {
    // PENDING_REDRIVE: a failed execution being redriven will run again from where it failed.
    matches!(status, Some("RUNNING" | "PENDING_REDRIVE"))
}

/// What a taker does when the lease is held by another execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenHeld {
    /// The holder has ended without giving the lease back: take it over.
    TakeOver,
    /// Ask again later (the workflow retries `StackQueued`).
    Wait,
    /// Fail with `StackBusy`.
    Refuse,
}

/// `waited`: how long the taker's execution has been running.
pub fn when_held(settings: Settings, holder_running: bool, waited: Duration) -> WhenHeld {
    match (holder_running, settings.mode) {
        (false, _) => WhenHeld::TakeOver,
        (true, Mode::Refuse) => WhenHeld::Refuse,
        (true, Mode::Queue) if waited >= settings.wait => WhenHeld::Refuse,
        (true, Mode::Queue) => WhenHeld::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mode: Mode) -> Settings {
        Settings {
            mode,
            wait: Duration::from_secs(600),
        }
    }

    #[test]
    fn a_running_holder_is_waited_for_only_up_to_the_operators_bound() {
        let queue = settings(Mode::Queue);
        assert_eq!(when_held(queue, true, Duration::ZERO), WhenHeld::Wait);
        assert_eq!(
            when_held(queue, true, Duration::from_secs(599)),
            WhenHeld::Wait
        );
        assert_eq!(
            when_held(queue, true, Duration::from_secs(600)),
            WhenHeld::Refuse
        );
        assert_eq!(
            when_held(settings(Mode::Refuse), true, Duration::ZERO),
            WhenHeld::Refuse
        );
    }

    #[test]
    fn an_ended_holder_gives_the_lease_up_in_either_mode() {
        for mode in [Mode::Queue, Mode::Refuse] {
            for status in [
                Some("SUCCEEDED"),
                Some("FAILED"),
                Some("ABORTED"),
                Some("TIMED_OUT"),
                None,
            ] {
                assert!(!holder_running(status), "{status:?}");
                assert_eq!(
                    when_held(settings(mode), holder_running(status), Duration::ZERO),
                    WhenHeld::TakeOver
                );
            }
        }
        assert!(holder_running(Some("RUNNING")));
        assert!(holder_running(Some("PENDING_REDRIVE")));
    }

    #[test]
    fn settings_are_checked_and_named() {
        assert_eq!(
            Settings::new("queue", None).unwrap(),
            Settings {
                mode: Mode::Queue,
                wait: Duration::from_secs(1800)
            }
        );
        assert_eq!(
            Settings::new("refuse", Some("5")).unwrap().wait,
            Duration::from_secs(300)
        );
        assert_eq!(
            Settings::new("wait", None).unwrap_err().0,
            "CONCURRENT_DEPLOYMENTS"
        );
        for bad in ["0", "61", "ten", "-1"] {
            assert_eq!(
                Settings::new("queue", Some(bad)).unwrap_err().0,
                "STACK_WAIT_MINUTES"
            );
        }
    }

    #[test]
    fn a_lease_outlives_any_execution_that_takes_one() {
        let lease = Lease::new("dev-app", "arn:x", 100);
        assert_eq!(lease.expires_at, 100 + LEASE_SECONDS);
        for definition in [
            include_str!("../../../statemachines/safe-deploy.asl.json"),
            include_str!("../../../statemachines/safe-delete.asl.json"),
        ] {
            let timeout = serde_json::from_str::<serde_json::Value>(definition).unwrap()
                ["TimeoutSeconds"]
                .as_u64()
                .unwrap();
            assert!(LEASE_SECONDS > timeout, "{timeout}");
        }
    }
}
