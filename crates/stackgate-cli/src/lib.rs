//! `stackgate`, the command line: what an app team runs from a terminal or a CI job. It talks only
//! to the stacks API (the same door as everyone else, so the same gate judges every change), uploads
//! a local template to an allowed bucket with the user's own AWS credentials, follows the workflow
//! live and ends with an exit code CI can branch on (`outcome::Exit`).

pub mod args;
pub mod client;
pub mod follow;
pub mod outcome;
pub mod plan;
pub mod release;
pub mod render;
pub mod request;
pub mod upload;

pub use args::Cli;

use std::io::IsTerminal;

use args::Command;
use client::{Api, CliError};
use outcome::Exit;
use render::Printer;

/// Runs one command; every failure ends as a message and an exit code, never a panic or a trace.
pub async fn run(cli: Cli) -> Exit {
    let printer = Printer::for_stdout(cli.json);
    match execute(&cli, &printer).await {
        Ok(exit) => exit,
        Err(error) => {
            printer.error(&error);
            error.exit()
        }
    }
}

async fn execute(cli: &Cli, printer: &Printer) -> Result<Exit, CliError> {
    // An API key or a signature goes only over TLS, but to this machine's local stack.
    if cli.endpoint().starts_with("http://") && !cli.is_local() {
        return Err(CliError::input(
            "--endpoint",
            "must be https (plain http only to this machine's local stack)",
        ));
    }
    let mut api = Api::new(cli.endpoint(), cli.api_key.clone())?;
    if cli.iam {
        api = api.signed_by(client::Signer::from_environment(&cli.endpoint()).await?);
    }
    match &cli.command {
        Command::Deploy(deploy) | Command::Plan(deploy) => {
            let applying = matches!(cli.command, Command::Deploy(_));
            let source = request::TemplateSource::parse(&deploy.template)?;
            let source =
                resolve_template(cli, deploy.bucket.as_ref(), deploy.inline, source, printer)
                    .await?;
            let body = request::deploy_body(deploy, &source)?;
            let key = deploy
                .idempotency_key
                .clone()
                .unwrap_or_else(request::fresh_idempotency_key);
            let judged = plan::make(&api, &body, &key, printer).await?;
            printer.plan(&judged, applying);
            let stack = request::full_stack_name(deploy);
            if applying {
                // A rerun of a deploy that applied its plan already (the same key): that apply's
                // outcome, not the plan's.
                if let Some(execution) = judged["appliedBy"]["executionId"].as_str() {
                    let id = args::checked_execution(execution)?.to_string();
                    printer.started("applied", &stack, &id);
                    let execution = follow::execution(&api, &id, printer, Some(&stack)).await?;
                    return Ok(printer.finished(&execution));
                }
                // A stack whose first create failed is deleted and created again by a deployment,
                // which no plan can show: that deployment, asked for as such.
                if judged["error"] == "StackUnusable" {
                    return plan::deploy_without_plan(&api, body, &stack, deploy.yes, printer)
                        .await;
                }
            }
            let exit = Exit::of_plan(&judged);
            if !applying || judged["status"] != "READY" {
                return Ok(exit);
            }
            // Only a person at a terminal is asked; a CI job's yes is that it runs.
            let interactive = !cli.json && std::io::stdin().is_terminal();
            if interactive
                && !deploy.yes
                && !printer.ask(&format!("Apply these changes to {stack}?"))
            {
                printer.note("not applied: nothing was executed, and the plan expires unused");
                return Ok(Exit::Failed);
            }
            let id = judged["planId"].as_str().unwrap_or_default().to_string();
            plan::apply(&api, &id, &stack, Some(judged), printer).await
        }
        Command::Apply { plan_id } => {
            let id = args::checked_execution(plan_id)?;
            let judged = plan::read(&api, id).await?;
            let stack = format!(
                "{}-{}",
                judged["environmentName"].as_str().unwrap_or_default(),
                judged["stackName"].as_str().unwrap_or_default()
            );
            plan::apply(&api, id, &stack, Some(judged), printer).await
        }
        Command::Status { stack } => {
            let stack = args::checked_stack(stack)?;
            let reply = api
                .send(hyper::Method::GET, &format!("/stacks/{stack}"), None, None)
                .await?
                .ok()?;
            printer.stack(&reply.body);
            Ok(Exit::Done)
        }
        Command::Events { stack } => {
            let stack = args::checked_stack(stack)?;
            let reply = api
                .send(
                    hyper::Method::GET,
                    &format!("/stacks/{stack}/events"),
                    None,
                    None,
                )
                .await?
                .ok()?;
            printer.events(&reply.body);
            Ok(Exit::Done)
        }
        Command::Delete {
            stack,
            on_unsafe,
            approval_timeout_seconds,
        } => {
            let stack = args::checked_stack(stack)?;
            let mut path = format!("/stacks/{stack}?onUnsafe={}", on_unsafe.as_str());
            if let Some(seconds) = approval_timeout_seconds {
                path.push_str(&format!("&approvalTimeoutSeconds={seconds}"));
            }
            // A retried DELETE whose answer was lost finds its own execution, not a busy stack.
            let key = request::fresh_idempotency_key();
            let reply = api
                .send(hyper::Method::DELETE, &path, None, Some(&key))
                .await?;
            let id = reply.accepted_execution()?;
            printer.started("deleting", stack, &id);
            let execution = follow::execution(&api, &id, printer, Some(stack)).await?;
            Ok(printer.finished(&execution))
        }
        Command::Release(args) => release::release(cli, &api, args, printer).await,
        Command::Releases { id, follow } => {
            release::read(&api, args::checked_execution(id)?, *follow, printer).await
        }
        Command::Executions { id, follow: keep } => {
            let id = args::checked_execution(id)?;
            let execution = if *keep {
                // The execution's answer does not name its stack: states only.
                follow::execution(&api, id, printer, None).await?
            } else {
                let reply = api
                    .send(hyper::Method::GET, &format!("/executions/{id}"), None, None)
                    .await?
                    .ok()?;
                printer.states(&follow::states(&reply.body), 0);
                reply.body
            };
            Ok(printer.finished(&execution))
        }
    }
}

/// A template as the request names it: a local file uploaded to the bucket (or, with `inline`, its
/// text in the request); one in S3 already as it is.
pub async fn resolve_template(
    cli: &Cli,
    bucket: Option<&String>,
    inline: bool,
    source: request::TemplateSource,
    printer: &Printer,
) -> Result<request::TemplateSource, CliError> {
    match source {
        request::TemplateSource::File(path) if inline => upload::inline(&path),
        _ if inline => Err(CliError::input(
            "--inline",
            "sends a local file's text; this template is in S3 already",
        )),
        request::TemplateSource::File(path) => {
            let bucket = cli.template_bucket(bucket)?;
            printer.note(&format!(
                "uploading {} to s3://{bucket}/ with your AWS credentials",
                path.display()
            ));
            upload::template(&path, &bucket, cli.is_local()).await
        }
        other => Ok(other),
    }
}
