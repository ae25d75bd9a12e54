//! The dead-letter message: the record's body, plus attributes that say why. The attribute
//! names are defined here once; the operator CLI strips them on a redrive. A dead letter never
//! fails for its content: values are made printable and bounded; when body and attributes would
//! exceed SQS's limit, attributes give way from the least important, and the reason never: a
//! body too large to go with it is cut, and the detail says so with its size and hash.

use std::time::SystemTime;

use super::attempt::Context;
use super::carried::Carried;
use super::finish::Finish;
use super::outcome::DeadLetter;
use super::{OutboundRecord, Sender};
use crate::clock::rfc3339_millis;
use crate::metrics::Metric;
use crate::ports::{QueueControl, QueueMessage, QueueWriter, SecretStore, SendState, SinchClient, is_fifo};
use crate::protocol::callback::hex_sha256;

pub const REASON: &str = "dead_letter_reason";
pub const DETAIL: &str = "dead_letter_detail";
pub const SOURCE_MESSAGE_ID: &str = "source_message_id";
/// The queue the record was first sent to (its ARN): `bridgectl dlq redrive` sends it back there.
pub const SOURCE_QUEUE: &str = "source_queue";
pub const FAILED_AT: &str = "failed_at";
pub const HTTP_STATUS: &str = "http_status";
pub const SINCH_STATUS: &str = "sinch_status";
pub const LAST_CAUSE: &str = "last_cause";
pub const ATTEMPTS: &str = "attempts";
/// `true` when an attempt may have reached Sinch (it timed out, or its answer broke off):
/// Sinch may have sent the message, and a redrive would send it again.
pub const MAY_HAVE_BEEN_SENT: &str = "may_have_been_sent";

/// Every attribute the sender may add when dead-lettering, most important first: the ten SQS
/// takes. Sinch's own message for a refusal is in the detail; service and app are in the body.
pub const DEAD_LETTER_ATTRIBUTES: [&str; 10] = [
    REASON,
    DETAIL,
    SOURCE_QUEUE,
    SOURCE_MESSAGE_ID,
    MAY_HAVE_BEEN_SENT,
    FAILED_AT,
    LAST_CAUSE,
    ATTEMPTS,
    HTTP_STATUS,
    SINCH_STATUS,
];

/// SQS's message limit, body and attributes (name, type and value) together.
pub const SQS_MESSAGE_LIMIT: usize = 1024 * 1024;

/// `value` as SQS holds it: characters SQS refuses (and other control characters) become `?`,
/// and it is cut to `max` characters.
fn printable(value: &str, max: usize) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' {
                '?'
            } else {
                c
            }
        })
        .take(max)
        .collect()
}

fn size(body: &str, attributes: &[(&'static str, String)]) -> usize {
    body.len()
        + attributes
            .iter()
            .map(|(k, v)| k.len() + "String".len() + v.len())
            .sum::<usize>()
}

/// Fits body and attributes into SQS's limit: attributes go from the least important end, the
/// reason (first) stays; when the body alone leaves no room for the reason, it is cut and the
/// detail says from what.
fn fit(body: &mut String, attributes: &mut Vec<(&'static str, String)>) {
    attributes.truncate(DEAD_LETTER_ATTRIBUTES.len());
    while size(body, attributes) > SQS_MESSAGE_LIMIT && attributes.len() > 1 {
        attributes.pop();
    }
    if size(body, attributes) <= SQS_MESSAGE_LIMIT {
        return;
    }
    let original = body.len();
    let digest = hex_sha256(body.as_bytes());
    let detail =
        format!("body cut from {original} bytes to fit SQS with its reason; sha256 of the whole body {digest}");
    attributes.truncate(1);
    attributes.push((DETAIL, detail));
    let room = SQS_MESSAGE_LIMIT.saturating_sub(size("", attributes));
    let mut cut = room.min(body.len());
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    body.truncate(cut);
}

/// The DLQ message for a record that can never succeed.
pub(super) fn dead_letter_message(dlq_url: &str, record: &OutboundRecord, dead: &DeadLetter) -> QueueMessage {
    let carried = Carried::of(record);
    let record_id = carried.record_id.clone().unwrap_or_else(|| record.message_id.clone());
    let detail = match &dead.sinch_message {
        Some(message) => format!("{}; Sinch: {message}", dead.detail),
        None => dead.detail.clone(),
    };
    let values = [
        (REASON, Some(dead.reason.as_str().to_owned())),
        (DETAIL, Some(detail)),
        (
            SOURCE_QUEUE,
            carried.source_queue.clone().or_else(|| record.source_queue.clone()),
        ),
        (SOURCE_MESSAGE_ID, Some(record_id.clone())),
        (MAY_HAVE_BEEN_SENT, dead.maybe_sent.then(|| "true".to_owned())),
        (FAILED_AT, Some(rfc3339_millis(SystemTime::now()))),
        (LAST_CAUSE, dead.last_cause.map(|c| c.as_str().to_owned())),
        (ATTEMPTS, dead.attempts.map(|n| n.to_string())),
        (HTTP_STATUS, dead.http_status.map(|s| s.to_string())),
        (SINCH_STATUS, dead.sinch_status.clone()),
    ];
    let mut attributes: Vec<(&'static str, String)> = values
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, printable(&v, 512))).filter(|(_, v)| !v.is_empty()))
        .collect();
    // SQS refuses empty bodies; an empty record is kept visible as such.
    let mut body = record
        .body
        .clone()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "(empty)".into());
    fit(&mut body, &mut attributes);
    let fifo = is_fifo(dlq_url);
    QueueMessage {
        queue_url: dlq_url.to_owned(),
        body,
        attributes,
        group_id: fifo.then(|| record.group_id.clone().unwrap_or_else(|| "dead-letter".into())),
        dedup_id: fifo.then_some(record_id),
    }
}

impl<S, H, Q, P> Sender<S, H, Q, P>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
    P: SendState,
{
    /// Done when the DLQ has the record; failed (to come back) when the DLQ could not be
    /// written: then it waits the longest backoff, so a DLQ that refuses writes for days spends
    /// a few receives an hour of the redrive limit's thousand, and DeadLetterFailedAlarm pages.
    pub(super) async fn dead_letter(
        &self,
        origin: super::carried::Origin,
        record: &OutboundRecord,
        ctx: &Context,
        dead: &DeadLetter,
    ) -> Finish {
        let message = dead_letter_message(&self.config.dlq_url, record, dead);
        let id = record.message_id.as_str();
        let (service, app_id, _, _) = ctx.labels();
        let reason = dead.reason.as_str();
        match self.queues.put(&message).await {
            Ok(()) => {
                tracing::warn!(
                    sqs_message_id = id,
                    service,
                    app_id,
                    reason,
                    may_have_been_sent = dead.maybe_sent,
                    http_status = dead.http_status,
                    sinch_status = dead.sinch_status.as_deref().unwrap_or("-"),
                    outcome = "dead_lettered",
                    "message dead-lettered"
                );
                self.metrics
                    .count_by(Metric::MessageDeadLettered, &[("Reason", reason)], &[&[], &["Reason"]]);
                Finish::Done(None)
            }
            Err(e) => {
                // Not stored in the DLQ, so not done: it comes back and is tried again.
                let cause = super::RetryCause::DlqUnavailable.as_str();
                tracing::error!(sqs_message_id = id, reason, error = %e, outcome = "retry", cause, "dead-letter queue unavailable");
                self.metrics.count(Metric::DeadLetterFailed, &[]);
                self.count_retry(cause);
                self.record_waiting(origin, record);
                let seconds = u32::try_from(self.config.retry_max.as_secs()).unwrap_or(u32::MAX);
                let visibility = self.set_visibility(origin, record, seconds).await.then_some(seconds);
                Finish::Failed { visibility }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::DeadLetterReason;

    fn record(body: &str) -> OutboundRecord {
        OutboundRecord {
            message_id: "m1".into(),
            body: Some(body.into()),
            receive_count: 1,
            ..OutboundRecord::default()
        }
    }

    fn value(m: &QueueMessage, k: &str) -> Option<String> {
        m.attributes.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn attribute_values_sqs_would_refuse_are_made_printable_and_bounded() {
        let mut dead = DeadLetter::local(DeadLetterReason::InvalidEnvelope, "x".repeat(5000));
        dead.sinch_message = Some("line\nbreak".into());
        dead.sinch_status = Some("A\u{0}B\u{ffff}".into());
        let m = dead_letter_message("https://q/dlq", &record("{}"), &dead);
        assert_eq!(value(&m, SINCH_STATUS).as_deref(), Some("A?B?"));
        assert_eq!(value(&m, DETAIL).map(|d| d.chars().count()), Some(512));
        let refused = DeadLetter {
            sinch_message: Some("line\nbreak".into()),
            ..DeadLetter::local(DeadLetterReason::BadRequest, "refused")
        };
        let m = dead_letter_message("https://q/dlq", &record("{}"), &refused);
        assert_eq!(value(&m, DETAIL).as_deref(), Some("refused; Sinch: line?break"));
    }

    #[test]
    fn every_attribute_fits_sqs_ten_and_a_maybe_sent_record_says_so() {
        let mut dead = DeadLetter::gave_up(
            crate::send::RetryCause::Timeout,
            Some(504),
            Some("DEADLINE_EXCEEDED".into()),
            7,
            std::time::Duration::from_secs(86_400),
            false,
        );
        dead.maybe_sent = true;
        let mut r = record("{}");
        r.source_queue = Some("arn:aws:sqs:eu-west-1:1:outbound".into());
        let m = dead_letter_message("https://q/dlq", &r, &dead);
        assert_eq!(m.attributes.len(), DEAD_LETTER_ATTRIBUTES.len());
        assert!(m.attributes.len() <= 10, "SQS takes ten attributes");
        assert_eq!(value(&m, MAY_HAVE_BEEN_SENT).as_deref(), Some("true"));
        assert_eq!(value(&m, SOURCE_MESSAGE_ID).as_deref(), Some("m1"));
    }

    #[test]
    fn a_body_near_the_limit_keeps_itself_and_sheds_attributes_but_the_reason() {
        let body = "b".repeat(SQS_MESSAGE_LIMIT - 60);
        let dead = DeadLetter::local(DeadLetterReason::BadRequest, "Sinch refused the request as malformed");
        let m = dead_letter_message("https://q/dlq", &record(&body), &dead);
        assert_eq!(m.body, body, "the body is kept whole while attributes can give way");
        assert!(size(&m.body, &m.attributes) <= SQS_MESSAGE_LIMIT);
        assert_eq!(m.attributes.first().map(|(k, _)| *k), Some(REASON));
    }

    /// Reproduction (#26, item 6): a body within ~40 bytes of the limit dropped the reason
    /// itself. Now the body is cut, and the detail says from what.
    #[test]
    fn a_body_that_leaves_no_room_for_the_reason_is_cut_and_the_reason_kept() {
        let body = "b".repeat(SQS_MESSAGE_LIMIT - 10);
        let dead = DeadLetter::local(DeadLetterReason::BadRequest, "Sinch refused the request as malformed");
        let m = dead_letter_message("https://q/dlq", &record(&body), &dead);
        assert!(size(&m.body, &m.attributes) <= SQS_MESSAGE_LIMIT);
        assert_eq!(value(&m, REASON).as_deref(), Some("bad_request"));
        let detail = value(&m, DETAIL).unwrap_or_default();
        assert!(
            detail.contains(&format!("body cut from {} bytes", body.len())) && detail.contains("sha256"),
            "{detail}"
        );
        assert!(body.starts_with(&m.body) && m.body.len() < body.len());
    }
}
