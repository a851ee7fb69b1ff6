//! What people (and CI logs) see. On a terminal, colour; anywhere else, plain lines, one per event,
//! with no escape codes. With `--json`, standard output holds exactly one JSON document (what the
//! API answered) and everything for people goes to standard error.

use std::io::{IsTerminal, Write};

use serde_json::{json, Value};

use crate::client::CliError;
use crate::outcome::Exit;

mod plans;

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Text from the API or CloudFormation, made safe for a terminal: a control character (an escape
/// sequence could retitle the window, hide lines or fake output) becomes U+FFFD. Line breaks stay
/// only where `keep_lines` says (a cause's summary is one change per line).
pub fn clean(text: &str, keep_lines: bool) -> String {
    text.chars()
        .map(|c| match c {
            '\n' if keep_lines => c,
            '\n' | '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// Every string in an answer, cleaned for the terminal (`clean`, line breaks kept).
fn cleaned(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(clean(text, true)),
        Value::Array(items) => Value::Array(items.iter().map(cleaned).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (clean(k, false), cleaned(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A field shown on one line.
fn field(value: &Value) -> String {
    clean(value.as_str().unwrap_or_default(), false)
}

pub struct Printer {
    json: bool,
    colour: bool,
    /// A progress line is on screen (a terminal only): the next line replaces it.
    progress_shown: std::cell::Cell<bool>,
    out: std::cell::RefCell<Box<dyn Write>>,
    err: std::cell::RefCell<Box<dyn Write>>,
}

impl Printer {
    /// Colour only on a terminal, and never with `NO_COLOR` set (no-color.org) or `TERM=dumb`.
    pub fn for_stdout(json: bool) -> Self {
        let colour = !json
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none()
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Printer {
            json,
            colour,
            progress_shown: std::cell::Cell::new(false),
            out: std::cell::RefCell::new(Box::new(std::io::stdout())),
            err: std::cell::RefCell::new(Box::new(std::io::stderr())),
        }
    }

    /// Writes to the given streams (tests).
    pub fn to(json: bool, colour: bool, out: Box<dyn Write>, err: Box<dyn Write>) -> Self {
        Printer {
            json,
            colour,
            progress_shown: std::cell::Cell::new(false),
            out: std::cell::RefCell::new(out),
            err: std::cell::RefCell::new(err),
        }
    }

    fn paint(&self, colour: &str, text: &str) -> String {
        if self.colour {
            format!("{colour}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// A line for people: standard output, or standard error under `--json`.
    fn say(&self, line: &str) {
        if self.progress_shown.replace(false) {
            let _ = write!(self.out.borrow_mut(), "\r\x1b[K");
        }
        let _ = if self.json {
            writeln!(self.err.borrow_mut(), "{line}")
        } else {
            writeln!(self.out.borrow_mut(), "{line}")
        };
    }

    fn document(&self, value: &Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
        let _ = writeln!(self.out.borrow_mut(), "{text}");
    }

    pub fn note(&self, text: &str) {
        self.say(&self.paint(DIM, text));
    }

    pub fn started(&self, action: &str, stack: &str, id: &str) {
        self.say(&format!(
            "{} {stack}: execution {id} {}",
            self.paint(BOLD, action),
            self.paint(DIM, "(Ctrl-C stops following, not the workflow)")
        ));
    }

    /// The states from index `from` on, one line each.
    pub fn states(&self, states: &[String], from: usize) {
        for state in states.iter().skip(from) {
            let marker = if self.colour { "▸" } else { "-" };
            self.say(&format!("  {} {state}", self.paint(DIM, marker)));
        }
    }

    /// A resource's event while CloudFormation works: one line.
    pub fn resource_event(&self, event: &crate::follow::ResourceEvent) {
        let colour = if event.status.ends_with("_FAILED") {
            RED
        } else if event.status.ends_with("_IN_PROGRESS") {
            DIM
        } else {
            GREEN
        };
        let mut line = format!(
            "    {} {} {}",
            clean(&event.logical_id, false),
            self.paint(DIM, &clean(&event.resource_type, false)),
            self.paint(colour, &clean(&event.status, false))
        );
        if let Some(reason) = &event.reason {
            line.push_str(&format!(": {}", clean(reason, false)));
        }
        self.say(&line);
    }

    /// On a terminal, a bar of the resources done, rewritten in place; nothing elsewhere (each
    /// resource event is already a line).
    pub fn progress(&self, done: usize, seen: usize) {
        if !self.colour || seen == 0 {
            return;
        }
        const WIDTH: usize = 20;
        let filled = done * WIDTH / seen;
        let bar = format!("{}{}", "#".repeat(filled), ".".repeat(WIDTH - filled));
        let _ = write!(
            self.out.borrow_mut(),
            "\r\x1b[K  [{bar}] {done}/{seen} resources"
        );
        let _ = self.out.borrow_mut().flush();
        self.progress_shown.set(true);
    }

    /// A stack's recent events, oldest first (`stackgate events`).
    pub fn events(&self, events: &Value) {
        if self.json {
            self.document(events);
            return;
        }
        for event in events["events"].as_array().into_iter().flatten() {
            let text = |key: &str| field(&event[key]);
            let mut line = format!(
                "{} {} {} {}",
                text("timestamp"),
                text("logicalResourceId"),
                self.paint(DIM, &text("resourceType")),
                text("status")
            );
            if let Some(reason) = event["reason"].as_str().filter(|r| !r.is_empty()) {
                line.push_str(&format!(": {}", clean(reason, false)));
            }
            self.say(&line);
        }
    }

    /// The execution's end (or its wait for a person), and the exit code it means.
    pub fn finished(&self, execution: &Value) -> Exit {
        let exit = Exit::of_execution(execution);
        if self.json {
            self.document(execution);
            return exit;
        }
        let execution = &cleaned(execution);
        let id = execution["executionId"].as_str().unwrap_or("<id>");
        let output = &execution["output"];
        match exit {
            Exit::Waiting => {
                self.say(&self.paint(
                    YELLOW,
                    "waiting for a person: the approvers were emailed a link to decide",
                ));
                self.say(&format!(
                    "  follow it with: stackgate executions {id} --follow"
                ));
            }
            Exit::Done if execution["status"] == "RUNNING" => {
                self.say(&format!(
                    "running; follow it with: stackgate executions {id} --follow"
                ));
            }
            Exit::Done => {
                let outcome = output["outcome"]
                    .as_str()
                    .unwrap_or("SUCCEEDED")
                    .replace('\n', " ");
                let stack = field(&output["stackName"]);
                self.say(&format!("{} {stack}", self.paint(GREEN, &outcome)));
                if let Some(outputs) = output["outputs"].as_object().filter(|o| !o.is_empty()) {
                    self.say("  outputs:");
                    for (key, value) in outputs {
                        self.say(&format!(
                            "    {key} = {}",
                            value.as_str().unwrap_or_default()
                        ));
                    }
                }
            }
            _ => {
                let error = execution["error"].as_str().unwrap_or("FAILED");
                let word = if exit == Exit::Refused {
                    "refused"
                } else {
                    "failed"
                };
                self.say(&self.paint(RED, &format!("{word}: {error}")));
                for line in execution["cause"].as_str().unwrap_or_default().lines() {
                    // Indented, so that no line of it is a CI runner's command (`::error`).
                    self.say(&format!("  {}", self.change_line(line.trim_start())));
                }
            }
        }
        exit
    }

    pub fn stack(&self, stack: &Value) {
        if self.json {
            self.document(stack);
            return;
        }
        let stack = &cleaned(stack);
        let text = |key: &str| match &stack[key] {
            Value::String(_) => field(&stack[key]),
            _ => "-".to_string(),
        };
        self.say(&format!(
            "{} {}",
            text("stackName"),
            self.paint(BOLD, &text("status"))
        ));
        self.say(&format!("  last updated: {}", text("lastUpdated")));
        if let Some(outputs) = stack["outputs"].as_object().filter(|o| !o.is_empty()) {
            self.say("  outputs:");
            for (key, value) in outputs {
                self.say(&format!(
                    "    {key} = {}",
                    value.as_str().unwrap_or_default()
                ));
            }
        }
        if let Some(failure) = stack["lastFailure"].as_str() {
            self.say(&self.paint(RED, &format!("  last failure: {failure}")));
        }
    }

    pub fn error(&self, error: &CliError) {
        if self.json {
            let mut document = json!({"error": error.to_string(), "exitCode": error.exit() as u8});
            if let CliError::Api { problem, .. } = error {
                document["problem"] = problem.clone();
            }
            self.document(&document);
            return;
        }
        let _ = writeln!(
            self.err.borrow_mut(),
            "{} {}",
            self.paint(RED, "stackgate:"),
            clean(&error.to_string(), false)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn printer(json: bool, colour: bool) -> (Printer, Sink, Sink) {
        let (out, err) = (Sink::default(), Sink::default());
        (
            Printer::to(json, colour, Box::new(out.clone()), Box::new(err.clone())),
            out,
            err,
        )
    }

    fn refused() -> Value {
        json!({"executionId": "deploy-k1", "status": "FAILED", "error": "UnsafeChangeSet",
               "states": ["PlanChangeSet", "NotifyFailure", "DeploymentFailed"],
               "cause": "Refused change set stackgate-1 on api-web: 1 of 2 changes unsafe\n- EventsTopic (AWS::SNS::Topic): removes AWS::SNS::Topic EventsTopic"})
    }

    #[test]
    fn without_a_terminal_each_event_is_one_plain_line() {
        let (printer, out, _) = printer(false, false);
        printer.started("deploying", "api-web", "deploy-k1");
        printer.states(&crate::follow::states(&refused()), 0);
        assert_eq!(printer.finished(&refused()), Exit::Refused);
        let text = out.text();
        assert!(!text.contains('\x1b'), "{text:?}");
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "deploying api-web: execution deploy-k1 (Ctrl-C stops following, not the workflow)",
                "  - PlanChangeSet",
                "  - NotifyFailure",
                "  - DeploymentFailed",
                "refused: UnsafeChangeSet",
                "  Refused change set stackgate-1 on api-web: 1 of 2 changes unsafe",
                "  - EventsTopic (AWS::SNS::Topic): removes AWS::SNS::Topic EventsTopic",
            ]
        );
    }

    #[test]
    fn on_a_terminal_removals_stand_out() {
        let (printer, out, _) = printer(false, true);
        printer.finished(&refused());
        assert!(
            out.text().contains("\x1b[31m- EventsTopic"),
            "{:?}",
            out.text()
        );
    }

    #[test]
    fn json_is_one_document_on_stdout_and_people_get_stderr() {
        let (printer, out, err) = printer(true, false);
        printer.started("deploying", "api-web", "deploy-k1");
        printer.states(&["PlanChangeSet".to_string()], 0);
        let exit = printer.finished(&refused());
        assert_eq!(exit, Exit::Refused);
        let document: Value = serde_json::from_str(&out.text()).unwrap();
        assert_eq!(document["error"], "UnsafeChangeSet");
        assert!(err.text().contains("PlanChangeSet"));
    }

    #[test]
    fn success_shows_the_outcome_and_outputs_and_a_wait_says_where() {
        let (printer, out, _) = printer(false, false);
        let done = json!({"status": "SUCCEEDED", "output": {"outcome": "CREATED", "stackName": "api-web", "outputs": {"Url": "https://x"}}});
        assert_eq!(printer.finished(&done), Exit::Done);
        let waiting = json!({"executionId": "deploy-k2", "status": "RUNNING", "states": ["PlanChangeSet", "RouteChangeSet", "RequestApproval"]});
        assert_eq!(printer.finished(&waiting), Exit::Waiting);
        let text = out.text();
        assert!(
            text.contains("CREATED api-web\n  outputs:\n    Url = https://x"),
            "{text}"
        );
        assert!(
            text.contains("stackgate executions deploy-k2 --follow"),
            "{text}"
        );
    }

    #[test]
    fn resource_events_are_lines_and_the_bar_only_on_a_terminal() {
        let event = crate::follow::ResourceEvent {
            logical_id: "Queue".into(),
            resource_type: "AWS::SQS::Queue".into(),
            status: "CREATE_FAILED".into(),
            reason: Some("quota exceeded".into()),
        };
        let (plain, out, _) = printer(false, false);
        plain.resource_event(&event);
        plain.progress(1, 2);
        assert_eq!(
            out.text(),
            "    Queue AWS::SQS::Queue CREATE_FAILED: quota exceeded\n"
        );

        let (terminal, out, _) = printer(false, true);
        terminal.progress(1, 2);
        terminal.resource_event(&event);
        let text = out.text();
        assert!(
            text.starts_with("\r\x1b[K  [##########..........] 1/2 resources\r\x1b[K"),
            "{text:?}"
        );
        assert!(text.contains("\x1b[31mCREATE_FAILED"), "{text:?}");
    }

    /// What CloudFormation or the API says is shown, never obeyed: an escape sequence in an event's
    /// reason or a cause cannot recolour, retitle or rewrite the user's terminal.
    #[test]
    fn text_from_the_api_cannot_drive_the_terminal() {
        let (printer, out, _) = printer(false, false);
        printer.resource_event(&crate::follow::ResourceEvent {
            logical_id: "Queue\x1b]0;pwned\x07".into(),
            resource_type: "AWS::SQS::Queue".into(),
            status: "CREATE_FAILED".into(),
            reason: Some("bad\r\x1b[2Kfake line\nsecond".into()),
        });
        let mut refused = refused();
        refused["cause"] = json!("first\n- Topic \x1b[8mhidden\x1b[0m");
        printer.finished(&refused);
        printer.stack(&json!({"stackName": "api-web\x1b[2J", "status": "UPDATE_COMPLETE"}));
        let text = out.text();
        assert!(
            !text.contains('\x1b') && !text.contains('\r') && !text.contains('\x07'),
            "{text:?}"
        );
        assert!(
            text.contains("bad\u{FFFD}\u{FFFD}[2Kfake line second"),
            "{text:?}"
        );
        assert!(text.contains("  - Topic \u{FFFD}[8mhidden"), "{text:?}");
    }

    #[test]
    fn an_error_is_a_message_never_a_trace() {
        let (printer, _, err) = printer(false, false);
        printer.error(&CliError::input("--template", "no such file"));
        assert_eq!(err.text(), "stackgate: --template: no such file\n");
    }
}
