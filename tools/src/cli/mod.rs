//! `bridgectl`: drive and inspect a local or deployed bridge. Errors are one line on stderr
//! with a non-zero exit; `--json` prints machine-readable output.

mod dlq;
mod envelope;
mod events;
mod redrive_manual;
mod secret_input;
mod send;
mod service;
mod settings;
mod setup;
mod signing;
mod sinch;
mod sqs;
mod webhook;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(
    name = "bridgectl",
    version,
    about = "Operate the Sinch Conversation API bridge (local or deployed)"
)]
pub struct Cli {
    /// AWS endpoint for emulators (moto), e.g. http://127.0.0.1:5055.
    #[arg(long, global = true, env = "BRIDGE_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// AWS region (default: the AWS configuration's).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build or read a callback, sign it, POST it to a webhook URL.
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Print the Sinch signature headers for a body.
    Sign(signing::SignArgs),
    /// Check a captured request (headers file + body file) and say exactly why it fails.
    Verify(signing::VerifyArgs),
    /// Enqueue an outbound message; prints the SQS message id.
    Send(send::SendArgs),
    /// Read the events queue.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Inspect and redrive dead-letter queues.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Validate outbound envelopes offline, exactly as the sender will.
    #[command(subcommand)]
    Envelope(envelope::EnvelopeCommand),
    /// Write a service secret; attach and start its webhook-secret rotation.
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// Register the deployment's webhook on every app of a service at Sinch.
    #[command(subcommand)]
    Webhooks(setup::WebhooksCommand),
    /// Check a whole service: secret, apps, region, mode, channels, webhooks, endpoint.
    Doctor(setup::DoctorArgs),
    /// Print every function's settings as the code declares them (reference tables, or JSON).
    Settings(settings::SettingsArgs),
}

/// How results are printed.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `text` (text mode) or `value` (JSON mode).
    pub fn emit(&self, text: &str, value: &Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct QueueArg {
    /// Queue URL.
    #[arg(long)]
    pub queue_url: String,
}

/// A failure worth one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let out = Output { json: cli.json };
    let aws = || crate::aws::sdk_config(cli.endpoint_url.as_deref(), cli.region.as_deref());
    match cli.command {
        Command::Webhook(cmd) => webhook::run(cmd, out, aws).await,
        Command::Sign(args) => signing::sign(args, out),
        Command::Verify(args) => signing::verify(args, out),
        Command::Send(args) => send::send(args, out, &aws().await).await,
        Command::Events(cmd) => events::events(cmd, out, &aws().await).await,
        Command::Dlq(cmd) => dlq::dlq(cmd, out, &aws().await, cli.endpoint_url.is_some()).await,
        Command::Envelope(cmd) => envelope::run(cmd, out),
        Command::Service(cmd) => service::run(cmd, out, &aws().await).await,
        Command::Webhooks(cmd) => setup::sync(cmd, out, &aws().await).await,
        Command::Doctor(args) => setup::doctor(args, out, &aws().await).await,
        Command::Settings(args) => settings::run(args, out),
    }
}

pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// Every subcommand path (`webhook send`, `sign`, …) clap knows.
    fn commands(command: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for sub in command.get_subcommands() {
            let path = format!("{prefix}{}", sub.get_name());
            if sub.get_subcommands().next().is_some() {
                commands(sub, &format!("{path} "), out);
            } else {
                out.push(path);
            }
        }
    }

    #[test]
    fn the_reference_lists_every_command() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reference.md");
        let doc = std::fs::read_to_string(path).unwrap_or_default();
        let section = doc.split("## bridgectl").nth(1).unwrap_or_default();
        let table: Vec<&str> = section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .filter_map(|l| l.split('`').nth(1))
            .collect();
        let mut missing = Vec::new();
        let mut all = Vec::new();
        commands(&Cli::command(), "", &mut all);
        for command in &all {
            if !table
                .iter()
                .any(|row| row == command || row.starts_with(&format!("{command} ")))
            {
                missing.push(command.clone());
            }
        }
        assert!(
            missing.is_empty(),
            "docs/reference.md's bridgectl table lacks {missing:?}"
        );
        assert!(all.len() >= 10, "clap lists {all:?}");
    }
}
