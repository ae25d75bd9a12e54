//! `bridgectl dlq redrive` by hand: receive, send, delete, one message at a time. For emulators
//! (moto has no move tasks), `--manual`, and `--skip-may-have-been-sent` (a move task cannot
//! choose messages). The bridge's dead-letter attributes are dropped on the way.

use std::collections::HashMap;
use std::io::Write as _;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
use serde_json::json;
use sinch_bridge::send::DEAD_LETTER_ATTRIBUTES;
use sinch_bridge::send::dead_letter::MAY_HAVE_BEEN_SENT;

use super::dlq::{counts, release};
use super::sqs::{aws_error, receive};
use super::{CliError, Output};

/// Sends one dead letter to `to` without the bridge's dead-letter attributes, then deletes it.
async fn move_one(client: &Client, from: &str, to: &str, m: &Message) -> Result<(), CliError> {
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
    Ok(())
}

/// Whether a dead letter says an attempt may have reached Sinch.
fn may_have_been_sent(m: &Message) -> bool {
    m.message_attributes()
        .and_then(|a| a.get(MAY_HAVE_BEEN_SENT))
        .and_then(MessageAttributeValue::string_value)
        == Some("true")
}

pub(super) async fn redrive_manually(
    client: &Client,
    from: &str,
    to: &str,
    skip_maybe_sent: bool,
    out: Output,
) -> Result<(), CliError> {
    let (total, _) = counts(client, from).await?;
    let mut moved = 0u64;
    // Skipped ones stay hidden until the end (so the loop ends), then are made visible again.
    let mut skipped: Vec<String> = Vec::new();
    loop {
        let batch = receive(client, from, 1, Some(60)).await?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            if skip_maybe_sent && may_have_been_sent(&m) {
                skipped.extend(m.receipt_handle().map(str::to_owned));
                continue;
            }
            move_one(client, from, to, &m).await?;
            moved += 1;
            eprint!("\rmoved {moved}/{}   ", total.max(moved));
            let _ = std::io::stderr().flush();
        }
    }
    if moved > 0 {
        // End the progress line, so the result starts on a line of its own.
        eprintln!();
    }
    // A skipped letter whose release fails reappears anyway when its 60 s visibility ends.
    let _ = release(client, from, &skipped).await;
    let kept = skipped.len();
    if kept > 0 {
        out.emit(
            &format!("{kept} dead letter(s) marked may_have_been_sent left in the DLQ: check with Sinch before sending them again"),
            &json!({"kept_may_have_been_sent": kept}),
        );
    }
    let (_, in_flight) = counts(client, from).await?;
    if in_flight > 0 {
        out.emit(
            &format!("redrive INCOMPLETE: {moved} moved, {in_flight} in flight"),
            &json!({"status": "INCOMPLETE", "moved": moved, "in_flight": in_flight, "kept": kept}),
        );
        return Err(CliError::new(format!(
            "{in_flight} message(s) are in flight: being read elsewhere, they come back after the queue's visibility timeout; run the redrive again then"
        )));
    }
    out.emit(
        &format!("redrive COMPLETED: {moved} moved, {kept} kept"),
        &json!({"status": "COMPLETED", "moved": moved, "kept": kept}),
    );
    Ok(())
}
