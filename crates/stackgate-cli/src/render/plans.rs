//! What a plan and a release look like: each change of a plan (removals standing out), the
//! question before applying it, and a release's stacks as they move on.

use serde_json::Value;

use super::*;

impl Printer {
    /// A release's stack that moved on (`planned`, `executing`, `done` …): one line.
    pub fn release_stack(&self, stack: &Value) {
        let state = field(&stack["state"]);
        let colour = match state.as_str() {
            "done" | "unchanged" => GREEN,
            "failed" | "refused" => RED,
            _ => DIM,
        };
        self.say(&format!(
            "  {} {}",
            field(&stack["stackName"]),
            self.paint(colour, &state)
        ));
    }

    /// A release's end (or its wait for people), and the exit code it means.
    pub fn release_finished(&self, release: &Value) -> Exit {
        let exit = Exit::of_release(release);
        if self.json {
            self.document(release);
            return exit;
        }
        let release = &cleaned(release);
        let id = field(&release["releaseId"]);
        match exit {
            Exit::Waiting => {
                self.say(&self.paint(
                    YELLOW,
                    "waiting for a person: the approvers were emailed every stack's diff and a link to decide",
                ));
                self.say(&format!(
                    "  follow it with: stackgate releases {id} --follow"
                ));
            }
            Exit::Done if release["status"] == "RUNNING" => {
                self.say(&format!(
                    "running; follow it with: stackgate releases {id} --follow"
                ));
            }
            Exit::Done => self.say(&format!(
                "{} {}",
                self.paint(GREEN, "RELEASED"),
                field(&release["release"])
            )),
            _ => {
                let word = if exit == Exit::Refused {
                    "refused"
                } else {
                    "failed"
                };
                let error = release["error"].as_str().unwrap_or("FAILED");
                self.say(&self.paint(RED, &format!("{word}: {error}")));
                for line in release["cause"].as_str().unwrap_or_default().lines() {
                    self.say(&format!("  {}", line.trim_start()));
                }
            }
        }
        exit
    }

    /// A judged plan: its verdict and every change, or why it was refused; and what comes next.
    pub fn plan(&self, plan: &Value, applying: bool) {
        if self.json {
            // Deploy prints one document at the end (the execution, with its plan).
            if !applying || plan["status"] != "READY" {
                self.document(plan);
            }
            return;
        }
        let plan = &cleaned(plan);
        let id = field(&plan["planId"]);
        let stack = field(&plan["stackName"]);
        let environment = field(&plan["environmentName"]);
        match plan["status"].as_str().unwrap_or_default() {
            "READY" => {
                let verdict = plan["verdict"].as_str().unwrap_or("UNKNOWN");
                let colour = if verdict == "UNSAFE" { RED } else { GREEN };
                self.say(&format!(
                    "{} {environment}-{stack}: {} ({} changes, {} unsafe)",
                    self.paint(BOLD, "plan"),
                    self.paint(colour, verdict),
                    plan["totalChanges"].as_u64().unwrap_or(0),
                    plan["unsafeChanges"].as_u64().unwrap_or(0),
                ));
                for line in plan["summary"].as_str().unwrap_or_default().lines() {
                    self.say(&format!("  {}", self.change_line(line.trim_start())));
                }
                if verdict == "UNSAFE" {
                    let what = match plan["onUnsafe"].as_str() {
                        Some("approve") => "applying it asks the approvers first",
                        Some("blueGreen") => {
                            "applying it deploys a new stack beside the live one instead"
                        }
                        _ => "applying it is refused",
                    };
                    self.say(&self.paint(YELLOW, &format!("  unsafe: {what}")));
                }
                if !applying {
                    self.say(&format!(
                        "apply it with: stackgate apply {id}   (until {})",
                        field(&plan["expiresAt"])
                    ));
                }
            }
            "NO_CHANGES" => self.say(&format!(
                "{} {environment}-{stack}",
                self.paint(GREEN, "NO_CHANGES")
            )),
            "APPLIED" => self.say(&format!(
                "plan {id} of {environment}-{stack} was applied by execution {}",
                field(&plan["appliedBy"]["executionId"])
            )),
            status => {
                let error = plan["error"].as_str().unwrap_or(status);
                let word = if status == "REFUSED" {
                    "refused"
                } else {
                    "plan failed"
                };
                self.say(&self.paint(RED, &format!("{word}: {error}")));
                for line in plan["cause"].as_str().unwrap_or_default().lines() {
                    self.say(&format!("  {}", self.change_line(line.trim_start())));
                }
            }
        }
    }

    /// Asks a yes/no question on the terminal; anything but yes is no.
    pub fn ask(&self, question: &str) -> bool {
        let _ = write!(self.out.borrow_mut(), "{question} [y/N] ");
        let _ = self.out.borrow_mut().flush();
        let mut answer = String::new();
        if std::io::stdin().read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES")
    }

    /// A line of a judgement: removals and replacements stand out on a terminal.
    pub(super) fn change_line(&self, line: &str) -> String {
        let trimmed = line.trim_start();
        if trimmed.starts_with("- ") {
            self.paint(RED, line)
        } else if trimmed.starts_with("+ ") {
            self.paint(GREEN, line)
        } else if trimmed.starts_with("~ ") || line.contains("replace") {
            self.paint(YELLOW, line)
        } else {
            line.to_string()
        }
    }
}
