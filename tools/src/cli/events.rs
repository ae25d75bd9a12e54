//! `bridgectl events tail`: print events from the events queue with their attributes.

use aws_sdk_sqs::Client;
use clap::{Args, Subcommand};

use super::sqs::{aws_error, print_message, receive};
use super::{CliError, Output, QueueArg};

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
