//! `bridgectl`: drive and inspect a local or deployed bridge. Errors are one line on stderr
//! with a non-zero exit; `--json` prints machine-readable output.

mod dlq;
mod envelope;
mod events;
mod send;
mod service;
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
    }
}

pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))
}
