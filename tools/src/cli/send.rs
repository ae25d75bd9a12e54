//! `bridgectl send`: build an outbound envelope from flags, check it the way the sender will,
//! and enqueue it.

use std::path::PathBuf;

use aws_sdk_sqs::Client;
use clap::Args;
use serde_json::{Value, json};
use sinch_bridge::protocol::parse_outbound;

use super::sqs::aws_error;
use super::{CliError, Output, QueueArg, read_file};

#[derive(Args, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    pub queue: QueueArg,
    /// Sender as a queue address, APPID@SUBCHANNEL.sinchconversation.com.
    #[arg(long, conflicts_with = "app")]
    pub from: Option<String>,
    /// Sender app id (with --channel).
    #[arg(long)]
    pub app: Option<String>,
    /// Channel for --app (WHATSAPP, SMS, ...).
    #[arg(long)]
    pub channel: Option<String>,
    /// Recipient: a phone number or channel identity, or contact:<CONTACT_ID>.
    #[arg(long)]
    pub to: String,
    /// Text of a text message.
    #[arg(long, conflicts_with = "message_file")]
    pub text: Option<String>,
    /// A file with a Conversation API AppMessage object.
    #[arg(long)]
    pub message_file: Option<PathBuf>,
    #[arg(long)]
    pub service: Option<String>,
    #[arg(long)]
    pub correlation_id: Option<String>,
    /// FIFO message group (default: the recipient).
    #[arg(long)]
    pub group_id: Option<String>,
}

pub async fn send(args: SendArgs, out: Output, sdk: &aws_config::SdkConfig) -> Result<(), CliError> {
    let message: Value = match (&args.text, &args.message_file) {
        (Some(text), None) => json!({"text_message": {"text": text}}),
        (None, Some(path)) => {
            serde_json::from_slice(&read_file(path)?).map_err(|e| CliError::new(format!("{}: {e}", path.display())))?
        }
        _ => return Err(CliError::new("give --text or --message-file")),
    };
    let to = match args.to.strip_prefix("contact:") {
        Some(contact) => json!({"contact_id": contact}),
        None => json!(args.to),
    };
    let mut envelope = json!({"to": to, "message": message});
    for (key, value) in [
        ("from", &args.from),
        ("app_id", &args.app),
        ("channel", &args.channel),
        ("service", &args.service),
        ("correlation_id", &args.correlation_id),
    ] {
        if let Some(v) = value {
            envelope[key] = json!(v);
        }
    }
    let body = envelope.to_string();
    // Refuse locally what the sender would only dead-letter.
    parse_outbound(body.as_bytes()).map_err(|e| CliError::new(format!("invalid envelope: {e}")))?;
    let client = Client::new(sdk);
    let mut request = client
        .send_message()
        .queue_url(&args.queue.queue_url)
        .message_body(&body);
    if args.queue.queue_url.ends_with(".fifo") {
        request = request
            .message_group_id(args.group_id.unwrap_or_else(|| args.to.clone()))
            .message_deduplication_id(crate::ulid::generate());
    }
    let sent = request.send().await.map_err(|e| aws_error("SendMessage", e))?;
    let id = sent.message_id().unwrap_or_default();
    out.emit(id, &json!({"message_id": id}));
    Ok(())
}
