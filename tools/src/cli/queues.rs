//! `bridgectl send`, `bridgectl events tail`, `bridgectl dlq list|redrive`.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use sinch_bridge::protocol::parse_outbound;

use super::{CliError, Output, QueueArg, read_file};

fn aws_error<E: std::error::Error + 'static>(what: &str, e: E) -> CliError {
    CliError::new(format!("{what}: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))
}

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

#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// Print events from the events queue with their attributes.
    Tail(TailArgs),
}

#[derive(Args, Debug)]
pub struct TailArgs {
    #[command(flatten)]
    pub queue: QueueArg,
    /// Delete each event after printing it (otherwise it becomes visible again).
    #[arg(long)]
    pub delete: bool,
    /// Stop after this many events.
    #[arg(long)]
    pub max: Option<usize>,
    /// Stop after this many seconds without a new event (default: follow forever).
    #[arg(long)]
    pub idle_exit: Option<u64>,
}

struct Printed {
    body: Value,
    attributes: HashMap<String, String>,
    group: Option<String>,
}

fn describe(m: &Message) -> Printed {
    let body = m.body().unwrap_or_default();
    Printed {
        body: serde_json::from_str(body).unwrap_or_else(|_| json!(body)),
        attributes: m
            .message_attributes()
            .map(|a| {
                a.iter()
                    .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
        group: m
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
            .cloned(),
    }
}

fn print_message(out: Output, m: &Message) {
    let p = describe(m);
    let mut names: Vec<&String> = p.attributes.keys().collect();
    names.sort();
    let attrs = names
        .iter()
        .map(|k| format!("  {k}: {}", p.attributes[*k]))
        .collect::<Vec<_>>()
        .join("\n");
    let pretty = serde_json::to_string_pretty(&p.body).unwrap_or_default();
    let text = format!("── {} ──\n{attrs}\n{pretty}", m.message_id().unwrap_or("?"));
    out.emit(
        &text,
        &json!({"message_id": m.message_id(), "attributes": p.attributes, "group_id": p.group, "body": p.body}),
    );
}

async fn receive(client: &Client, url: &str, wait: i32, visibility: Option<i32>) -> Result<Vec<Message>, CliError> {
    let mut request = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All);
    if let Some(v) = visibility {
        request = request.visibility_timeout(v);
    }
    Ok(request
        .send()
        .await
        .map_err(|e| aws_error("ReceiveMessage", e))?
        .messages
        .unwrap_or_default())
}

pub async fn events(cmd: EventsCommand, out: Output, sdk: &aws_config::SdkConfig) -> Result<(), CliError> {
    let EventsCommand::Tail(args) = cmd;
    let client = Client::new(sdk);
    let mut printed = 0;
    let mut idle_since = std::time::Instant::now();
    loop {
        let messages = receive(&client, &args.queue.queue_url, 2, None).await?;
        if messages.is_empty() {
            if args.idle_exit.is_some_and(|s| idle_since.elapsed().as_secs() >= s) {
                return Ok(());
            }
            continue;
        }
        idle_since = std::time::Instant::now();
        for m in messages {
            print_message(out, &m);
            if args.delete
                && let Some(handle) = m.receipt_handle()
            {
                client
                    .delete_message()
                    .queue_url(&args.queue.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| aws_error("DeleteMessage", e))?;
            }
            printed += 1;
            if args.max.is_some_and(|max| printed >= max) {
                return Ok(());
            }
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum DlqCommand {
    /// Show dead-lettered messages with their reason attributes (they stay in the queue).
    List(ListArgs),
    /// Move dead-lettered messages back to their source queue.
    Redrive(RedriveArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub queue: QueueArg,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub max: usize,
}

#[derive(Args, Debug)]
pub struct RedriveArgs {
    /// The dead-letter queue.
    #[arg(long)]
    pub dlq_url: String,
    /// Where to move them: required with --endpoint-url (emulators) or --manual; on AWS the
    /// default is the queue they came from.
    #[arg(long)]
    pub to_url: Option<String>,
    /// Receive/send/delete instead of SQS's StartMessageMoveTask.
    #[arg(long)]
    pub manual: bool,
}

pub async fn dlq(cmd: DlqCommand, out: Output, sdk: &aws_config::SdkConfig, emulator: bool) -> Result<(), CliError> {
    let client = Client::new(sdk);
    match cmd {
        DlqCommand::List(args) => {
            let mut seen = 0;
            let mut ids = std::collections::HashSet::new();
            // A short visibility so listing does not hide them from a redrive for long.
            while seen < args.max {
                let batch = receive(&client, &args.queue.queue_url, 1, Some(5)).await?;
                let fresh: Vec<Message> = batch
                    .into_iter()
                    .filter(|m| ids.insert(m.message_id().unwrap_or_default().to_owned()))
                    .collect();
                if fresh.is_empty() {
                    break;
                }
                for m in fresh.iter().take(args.max - seen) {
                    print_message(out, m);
                    seen += 1;
                }
            }
            if !out.json {
                println!("{seen} dead-lettered message(s)");
            }
            Ok(())
        }
        DlqCommand::Redrive(args) if args.manual || emulator => {
            let to = args
                .to_url
                .ok_or_else(|| CliError::new("--to-url is required for a manual redrive"))?;
            redrive_manually(&client, &args.dlq_url, &to, out).await
        }
        DlqCommand::Redrive(args) => {
            let arn = |url: String| {
                let client = client.clone();
                async move {
                    client
                        .get_queue_attributes()
                        .queue_url(&url)
                        .attribute_names(QueueAttributeName::QueueArn)
                        .send()
                        .await
                        .map_err(|e| aws_error("GetQueueAttributes", e))?
                        .attributes()
                        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                        .ok_or_else(|| CliError::new(format!("no ARN for {url}")))
                }
            };
            let source = arn(args.dlq_url.clone()).await?;
            let destination = match args.to_url {
                Some(url) => Some(arn(url).await?),
                None => None,
            };
            let task = client
                .start_message_move_task()
                .source_arn(&source)
                .set_destination_arn(destination)
                .send()
                .await
                .map_err(|e| aws_error("StartMessageMoveTask", e))?;
            let handle = task.task_handle().unwrap_or_default().to_owned();
            loop {
                let tasks = client
                    .list_message_move_tasks()
                    .source_arn(&source)
                    .max_results(1)
                    .send()
                    .await
                    .map_err(|e| aws_error("ListMessageMoveTasks", e))?;
                let Some(t) = tasks.results().first() else { break };
                let (moved, total) = (
                    t.approximate_number_of_messages_moved(),
                    t.approximate_number_of_messages_to_move().unwrap_or(0),
                );
                let status = t.status().unwrap_or("UNKNOWN").to_owned();
                eprint!("\rmoved {moved}/{total} ({status})   ");
                if status != "RUNNING" {
                    eprintln!();
                    out.emit(
                        &format!("redrive {status}: {moved} moved"),
                        &json!({"task_handle": handle, "status": status, "moved": moved}),
                    );
                    return if status == "COMPLETED" {
                        Ok(())
                    } else {
                        Err(CliError::new(format!(
                            "redrive ended {status}: {}",
                            t.failure_reason().unwrap_or("")
                        )))
                    };
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
            Ok(())
        }
    }
}

/// Attributes the bridge adds when dead-lettering; the redriven message goes back without them.
const DEAD_LETTER_ATTRIBUTES: [&str; 9] = [
    "dead_letter_reason",
    "dead_letter_detail",
    "http_status",
    "sinch_status",
    "sinch_message",
    "source_message_id",
    "failed_at",
    "service",
    "app_id",
];

async fn redrive_manually(client: &Client, from: &str, to: &str, out: Output) -> Result<(), CliError> {
    let total: u64 = client
        .get_queue_attributes()
        .queue_url(from)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map_err(|e| aws_error("GetQueueAttributes", e))?
        .attributes()
        .and_then(|a| {
            a.get(&QueueAttributeName::ApproximateNumberOfMessages)
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    let mut moved = 0u64;
    loop {
        let batch = receive(client, from, 1, Some(60)).await?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let attributes: HashMap<String, MessageAttributeValue> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .filter(|(k, _)| !DEAD_LETTER_ATTRIBUTES.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let mut send = client
                .send_message()
                .queue_url(to)
                .message_body(m.body().unwrap_or_default())
                .set_message_attributes(Some(attributes));
            if to.ends_with(".fifo") {
                let group = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned()
                    .unwrap_or_else(|| "redrive".into());
                send = send
                    .message_group_id(group)
                    .message_deduplication_id(m.message_id().unwrap_or_default());
            }
            send.send().await.map_err(|e| aws_error("SendMessage", e))?;
            if let Some(handle) = m.receipt_handle() {
                client
                    .delete_message()
                    .queue_url(from)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| aws_error("DeleteMessage", e))?;
            }
            moved += 1;
            eprint!("\rmoved {moved}/{}   ", total.max(moved));
            let _ = std::io::stderr().flush();
        }
    }
    if moved > 0 {
        eprintln!();
    }
    out.emit(
        &format!("redrive COMPLETED: {moved} moved"),
        &json!({"status": "COMPLETED", "moved": moved}),
    );
    Ok(())
}
