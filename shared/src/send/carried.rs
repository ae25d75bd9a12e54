//! Where a record comes from, and what it carries when it comes from the retry queue: a record
//! moved there keeps its identity, its enqueue time (its retry budget counts from it), the queue
//! it was first sent to, and its history so far, as message attributes (SQS keeps nothing else
//! a sender could read back). The names are the dead letter's where they mean the same.

use super::OutboundRecord;
use super::dead_letter::{ATTEMPTS, HTTP_STATUS, LAST_CAUSE, MAY_HAVE_BEEN_SENT, SINCH_STATUS, SOURCE_QUEUE};

/// The record's first SQS message id, kept across the move to the retry queue.
pub const RECORD_ID: &str = "record_id";
/// When the record was first enqueued, Unix milliseconds.
pub const ENQUEUED_AT: &str = "enqueued_at";

/// Which queue a record was received from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The outbound queue upstream systems write to: first attempts.
    Main,
    /// The retry queue: records that failed once (or whose group waits there), retried in place.
    Retry,
}

/// What a record brought with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    pub record_id: Option<String>,
    pub enqueued_ms: Option<i64>,
    pub source_queue: Option<String>,
    /// Attempts made before the record reached the retry queue.
    pub attempts: u32,
    pub last_cause: Option<String>,
    pub maybe_sent: bool,
    pub http_status: Option<u16>,
    pub sinch_status: Option<String>,
}

impl Carried {
    /// The attributes of `record` that it carries.
    pub fn of(record: &OutboundRecord) -> Self {
        let get = |name: &str| {
            record
                .attributes
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        Self {
            record_id: get(RECORD_ID),
            enqueued_ms: get(ENQUEUED_AT).and_then(|v| v.parse().ok()),
            source_queue: get(SOURCE_QUEUE),
            attempts: get(ATTEMPTS).and_then(|v| v.parse().ok()).unwrap_or(0),
            last_cause: get(LAST_CAUSE),
            maybe_sent: get(MAY_HAVE_BEEN_SENT).is_some_and(|v| v == "true"),
            http_status: get(HTTP_STATUS).and_then(|v| v.parse().ok()),
            sinch_status: get(SINCH_STATUS),
        }
    }

    /// As message attributes for the retry queue.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let values = [
            (RECORD_ID, self.record_id.clone()),
            (ENQUEUED_AT, self.enqueued_ms.map(|v| v.to_string())),
            (SOURCE_QUEUE, self.source_queue.clone()),
            (ATTEMPTS, Some(self.attempts.to_string())),
            (LAST_CAUSE, self.last_cause.clone()),
            (MAY_HAVE_BEEN_SENT, self.maybe_sent.then(|| "true".to_owned())),
            (HTTP_STATUS, self.http_status.map(|s| s.to_string())),
            (SINCH_STATUS, self.sinch_status.clone()),
        ];
        values
            .into_iter()
            .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_record_carries_reads_back_from_its_attributes() {
        let carried = Carried {
            record_id: Some("m-1".into()),
            enqueued_ms: Some(1_700_000_000_123),
            source_queue: Some("arn:aws:sqs:eu-west-1:1:outbound.fifo".into()),
            attempts: 2,
            last_cause: Some("timeout".into()),
            maybe_sent: true,
            http_status: None,
            sinch_status: None,
        };
        let record = OutboundRecord {
            attributes: carried
                .attributes()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            ..OutboundRecord::default()
        };
        assert_eq!(Carried::of(&record), carried);
        assert!(carried.attributes().len() <= 10, "SQS takes ten attributes");
    }
}
