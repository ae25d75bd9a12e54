//! `bridgectl dlq list|redrive`: read dead-lettered messages with their reason attributes,
//! and move them back once the cause is fixed.
//!
//! A redrive always names its destination. SQS can only find the source of a message it moved
//! itself; the sender writes its dead letters with `SendMessage`, and a move task without a
//! destination then fails with `CouldNotDetermineMessageSource` (AWS's "Troubleshooting DLQ
//! redrive" page). The destination is `--to-url`, else the queue the dead letters'
//! `source_queue` attribute names, else the one source the DLQ's `RedriveAllowPolicy` allows.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, QueueAttributeName};
use clap::{Args, Subcommand};
use serde_json::json;
use sinch_bridge::send::dead_letter::SOURCE_QUEUE;

use super::sqs::{aws_error, print_message, receive};
use super::{CliError, Output, QueueArg};

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
    /// Where to move them. Default: the queue they came from (their `source_queue`
    /// attribute, else the DLQ's only allowed source queue).
    #[arg(long)]
    pub to_url: Option<String>,
    /// Receive/send/delete instead of SQS's StartMessageMoveTask (the default with
    /// --endpoint-url: emulators such as moto have no move tasks).
    #[arg(long, conflicts_with = "move_task")]
    pub manual: bool,
    /// SQS's StartMessageMoveTask even with --endpoint-url.
    #[arg(long)]
    pub move_task: bool,
    /// Leave in the DLQ every dead letter marked `may_have_been_sent` (an attempt may have
    /// reached Sinch, which may have sent the message: a redrive could send it twice). Moves
    /// by hand: a move task cannot choose messages.
    #[arg(long, conflicts_with = "move_task")]
    pub skip_may_have_been_sent: bool,
}

pub async fn dlq(cmd: DlqCommand, out: Output, sdk: &aws_config::SdkConfig, emulator: bool) -> Result<(), CliError> {
    let client = Client::new(sdk);
    match cmd {
        DlqCommand::List(args) => list(&client, &args, out).await,
        DlqCommand::Redrive(args) => {
            let to = destination(&client, &args.dlq_url, args.to_url.as_deref()).await?;
            if args.manual || args.skip_may_have_been_sent || (emulator && !args.move_task) {
                super::redrive_manual::redrive_manually(
                    &client,
                    &args.dlq_url,
                    &to.url,
                    args.skip_may_have_been_sent,
                    out,
                )
                .await
            } else {
                redrive_with_move_task(&client, &args.dlq_url, &to, out).await
            }
        }
    }
}

/// A queue by URL and ARN.
struct Queue {
    url: String,
    arn: String,
}

/// Where a redrive sends the dead letters of `dlq_url` (see the module's doc).
async fn destination(client: &Client, dlq_url: &str, to_url: Option<&str>) -> Result<Queue, CliError> {
    if let Some(url) = to_url {
        return Ok(Queue {
            url: url.to_owned(),
            arn: queue_arn(client, url).await?,
        });
    }
    let arn = match recorded_sources(client, dlq_url).await?.as_slice() {
        [one] => one.clone(),
        [] => allowed_source(client, dlq_url).await?,
        several => {
            return Err(CliError::new(format!(
                "the dead letters came from several queues ({}): pass --to-url",
                several.join(", ")
            )));
        }
    };
    Ok(Queue {
        url: queue_url_of(client, &arn).await?,
        arn,
    })
}

/// The distinct `source_queue` attributes of up to ten dead letters, read as `list` reads them
/// (hidden, then made visible again at once): every dead letter of a DLQ the sender writes
/// names the same queue.
async fn recorded_sources(client: &Client, dlq_url: &str) -> Result<Vec<String>, CliError> {
    let peeked = receive(client, dlq_url, 0, Some(60)).await?;
    let handles: Vec<String> = peeked
        .iter()
        .filter_map(|m| m.receipt_handle().map(str::to_owned))
        .collect();
    release(client, dlq_url, &handles).await?;
    let mut sources: Vec<String> = peeked
        .iter()
        .filter_map(|m| m.message_attributes()?.get(SOURCE_QUEUE)?.string_value())
        .filter(|v| v.starts_with("arn:"))
        .map(str::to_owned)
        .collect();
    sources.sort();
    sources.dedup();
    Ok(sources)
}

/// The one queue the DLQ's `RedriveAllowPolicy` lets use it (the template sets it per DLQ).
async fn allowed_source(client: &Client, dlq_url: &str) -> Result<String, CliError> {
    // `All` rather than the one name: emulators that do not know the attribute refuse its name.
    let attributes = client
        .get_queue_attributes()
        .queue_url(dlq_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| aws_error("GetQueueAttributes", e))?;
    let policy: serde_json::Value = attributes
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::RedriveAllowPolicy))
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    match policy["sourceQueueArns"].as_array().map(Vec::as_slice) {
        Some([one]) => one
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| CliError::new("the DLQ's RedriveAllowPolicy is not readable")),
        _ => Err(CliError::new(
            "no dead letter says where it came from and the DLQ allows no single source queue: pass --to-url",
        )),
    }
}

/// The URL of the queue with ARN `arn:aws:sqs:<region>:<account>:<name>`.
async fn queue_url_of(client: &Client, arn: &str) -> Result<String, CliError> {
    let parts: Vec<&str> = arn.split(':').collect();
    let [_, _, "sqs", _, account, name] = parts.as_slice() else {
        return Err(CliError::new(format!("{arn} is not an SQS queue ARN")));
    };
    client
        .get_queue_url()
        .queue_name(*name)
        .queue_owner_aws_account_id(*account)
        .send()
        .await
        .map_err(|e| aws_error("GetQueueUrl", e))?
        .queue_url
        .ok_or_else(|| CliError::new(format!("no URL for {arn}")))
}

/// Prints up to `max` dead letters. Reads with a visibility long enough not to see a message
/// twice, then makes every one visible again: listing must not hide what it lists (from a
/// redrive, say).
async fn list(client: &Client, args: &ListArgs, out: Output) -> Result<(), CliError> {
    let url = &args.queue.queue_url;
    let mut seen = 0;
    let mut ids = std::collections::HashSet::new();
    let mut handles = Vec::new();
    let listed = async {
        while seen < args.max {
            let batch = receive(client, url, 1, Some(60)).await?;
            handles.extend(batch.iter().filter_map(|m| m.receipt_handle().map(str::to_owned)));
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
        Ok::<(), CliError>(())
    }
    .await;
    let released = release(client, url, &handles).await;
    listed?;
    released?;
    if !out.json {
        println!("{seen} dead-lettered message(s)");
    }
    Ok(())
}

/// A queue's ARN.
async fn queue_arn(client: &Client, url: &str) -> Result<String, CliError> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| aws_error("GetQueueAttributes", e))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| CliError::new(format!("no ARN for {url}")))
}

/// SQS's `StartMessageMoveTask` with an explicit destination, then its progress until it ends.
/// Refused here, before SQS would refuse it: a second task on the same DLQ (SQS runs one at a
/// time) and a FIFO DLQ redriven to a standard queue or the reverse.
async fn redrive_with_move_task(client: &Client, dlq_url: &str, to: &Queue, out: Output) -> Result<(), CliError> {
    let source = queue_arn(client, dlq_url).await?;
    if source.ends_with(".fifo") != to.arn.ends_with(".fifo") {
        return Err(CliError::new(format!(
            "{source} and {} are not both FIFO or both standard: SQS refuses such a move",
            to.arn
        )));
    }
    let running = client
        .list_message_move_tasks()
        .source_arn(&source)
        .max_results(1)
        .send()
        .await
        .map_err(|e| aws_error("ListMessageMoveTasks", e))?;
    if let Some(task) = running.results().first().filter(|t| t.status() == Some("RUNNING")) {
        return Err(CliError::new(format!(
            "a redrive of this DLQ is already running (task {}): wait for it, or cancel it with `aws sqs cancel-message-move-task`",
            task.task_handle().unwrap_or("?")
        )));
    }
    let task = client
        .start_message_move_task()
        .source_arn(&source)
        .destination_arn(&to.arn)
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
        let Some(t) = tasks.results().first() else {
            // The task is no longer listed: end any progress line, then say so.
            eprintln!();
            out.emit(
                "redrive task no longer listed; check the queue's depth",
                &json!({"task_handle": handle, "status": "UNKNOWN"}),
            );
            return Ok(());
        };
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
}

/// Makes received messages visible again at once.
pub(super) async fn release(client: &Client, url: &str, handles: &[String]) -> Result<(), CliError> {
    for handle in handles {
        client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| aws_error("ChangeMessageVisibility", e))?;
    }
    Ok(())
}

/// `(visible, in flight)` message counts of a queue.
pub(super) async fn counts(client: &Client, url: &str) -> Result<(u64, u64), CliError> {
    let attributes = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| aws_error("GetQueueAttributes", e))?;
    let get = |name: &QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((
        get(&QueueAttributeName::ApproximateNumberOfMessages),
        get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}
