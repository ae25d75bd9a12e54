//! SQS helpers the queue commands share: one receive call, how a message is printed, and
//! how an SDK error becomes a one-line CLI error.

use std::collections::HashMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::{Value, json};

use super::{CliError, Output};

pub(super) fn aws_error<E: std::error::Error + 'static>(what: &str, e: E) -> CliError {
    CliError::new(format!("{what}: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))
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

pub(super) fn print_message(out: Output, m: &Message) {
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

pub(super) async fn receive(
    client: &Client,
    url: &str,
    wait: i32,
    visibility: Option<i32>,
) -> Result<Vec<Message>, CliError> {
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
