//! [`SendState`] over the sender's DynamoDB state table (`STATE_TABLE_NAME`): one item per FIFO
//! group with records waiting in the retry queue (`g#<group>`, a counter), one per record an
//! attempt may have delivered (`r#<record id>`). Both expire (TTL) a retention period after
//! they were last written, so a count left too high by a lost update ends by itself.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::sdk_error::{describe, is_condition_failure};
use crate::ports::{PortError, SendState};

const KEY: &str = "key";
const WAITING: &str = "waiting";
const MAYBE_SENT: &str = "maybe_sent";
const EXPIRES_AT: &str = "expires_at";

#[derive(Clone)]
pub struct DynamoSendState {
    client: Client,
    table: String,
}

impl DynamoSendState {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn group_key(group: &str) -> AttributeValue {
    AttributeValue::S(format!("g#{group}"))
}

fn record_key(record_id: &str) -> AttributeValue {
    AttributeValue::S(format!("r#{record_id}"))
}

fn unavailable(operation: &str, detail: String) -> PortError {
    PortError::new("state_unavailable", format!("{operation}: {detail}"))
}

impl SendState for DynamoSendState {
    async fn waiting(&self, groups: &[&str]) -> Result<HashSet<String>, PortError> {
        let mut waiting = HashSet::new();
        let mut keys: Vec<HashMap<String, AttributeValue>> = groups
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .map(|g| HashMap::from([(KEY.to_owned(), group_key(g))]))
            .collect();
        // BatchGetItem may leave keys unprocessed (throttling); they are asked again, a few times.
        for _ in 0..4 {
            if keys.is_empty() {
                return Ok(waiting);
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .map_err(|e| unavailable("BatchGetItem", e.to_string()))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| unavailable("BatchGetItem", describe(&e)))?;
            for item in out.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                let count = item
                    .get(WAITING)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i64>().ok())
                    .unwrap_or(0);
                if let (true, Some(AttributeValue::S(key))) = (count > 0, item.get(KEY)) {
                    waiting.insert(key.trim_start_matches("g#").to_owned());
                }
            }
            keys = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
        }
        if keys.is_empty() {
            Ok(waiting)
        } else {
            Err(unavailable(
                "BatchGetItem",
                format!("{} keys left unprocessed", keys.len()),
            ))
        }
    }

    async fn park(&self, group: &str, count: u32, expires_at: i64) -> Result<(), PortError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, group_key(group))
            .update_expression("ADD #w :n SET #e = :e")
            .expression_attribute_names("#w", WAITING)
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_values(":n", AttributeValue::N(count.to_string()))
            .expression_attribute_values(":e", AttributeValue::N(expires_at.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable("UpdateItem", describe(&e)))
    }

    /// Lowers the count, never below zero: a release repeated by SQS's at-least-once delivery
    /// must not leave a negative count that a later park would bring back to "nothing waits"
    /// while a record does (a count too high only routes the group through the retry queue
    /// until the records there lower it).
    async fn release(&self, group: &str, count: u32) -> Result<(), PortError> {
        let lowered = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, group_key(group))
            .update_expression("ADD #w :n")
            .condition_expression("#w >= :c")
            .expression_attribute_names("#w", WAITING)
            .expression_attribute_values(":n", AttributeValue::N(format!("-{count}")))
            .expression_attribute_values(":c", AttributeValue::N(count.to_string()))
            .send()
            .await;
        match lowered {
            Ok(_) => Ok(()),
            // Fewer waiting than released (or no item): the count ends at zero.
            Err(e) if is_condition_failure(&e) => self
                .client
                .update_item()
                .table_name(&self.table)
                .key(KEY, group_key(group))
                .update_expression("SET #w = :z")
                .condition_expression("attribute_exists(#k)")
                .expression_attribute_names("#w", WAITING)
                .expression_attribute_names("#k", KEY)
                .expression_attribute_values(":z", AttributeValue::N("0".into()))
                .send()
                .await
                .map(|_| ())
                .or_else(|e| {
                    if is_condition_failure(&e) {
                        Ok(())
                    } else {
                        Err(unavailable("UpdateItem", describe(&e)))
                    }
                }),
            Err(e) => Err(unavailable("UpdateItem", describe(&e))),
        }
    }

    async fn note_maybe_sent(&self, record_id: &str, expires_at: i64) -> Result<(), PortError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, record_key(record_id))
            .update_expression("SET #m = :t, #e = :e")
            .expression_attribute_names("#m", MAYBE_SENT)
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":e", AttributeValue::N(expires_at.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable("UpdateItem", describe(&e)))
    }

    async fn maybe_sent(&self, record_id: &str) -> Result<bool, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, record_key(record_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", describe(&e)))?;
        Ok(out
            .item()
            .and_then(|i| i.get(MAYBE_SENT))
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false))
    }
}

/// The sender's state: the table when `STATE_TABLE_NAME` is set, else none.
#[derive(Clone)]
pub enum SendStates {
    Table(DynamoSendState),
    Off,
}

impl SendState for SendStates {
    fn enabled(&self) -> bool {
        matches!(self, SendStates::Table(_))
    }
    async fn waiting(&self, groups: &[&str]) -> Result<HashSet<String>, PortError> {
        match self {
            SendStates::Table(t) => t.waiting(groups).await,
            SendStates::Off => Ok(HashSet::new()),
        }
    }
    async fn park(&self, group: &str, count: u32, expires_at: i64) -> Result<(), PortError> {
        match self {
            SendStates::Table(t) => t.park(group, count, expires_at).await,
            SendStates::Off => Ok(()),
        }
    }
    async fn release(&self, group: &str, count: u32) -> Result<(), PortError> {
        match self {
            SendStates::Table(t) => t.release(group, count).await,
            SendStates::Off => Ok(()),
        }
    }
    async fn note_maybe_sent(&self, record_id: &str, expires_at: i64) -> Result<(), PortError> {
        match self {
            SendStates::Table(t) => t.note_maybe_sent(record_id, expires_at).await,
            SendStates::Off => Ok(()),
        }
    }
    async fn maybe_sent(&self, record_id: &str) -> Result<bool, PortError> {
        match self {
            SendStates::Table(t) => t.maybe_sent(record_id).await,
            SendStates::Off => Ok(false),
        }
    }
}
