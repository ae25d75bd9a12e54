//! Moving records from the outbound queue to the retry queue: the record that failed, and what
//! follows it of its FIFO group in the batch (unattempted, so they never overtake it). In the
//! order of the group: the group's waiting count first (so no later record of it is sent
//! directly meanwhile), then one `SendMessageBatch`, then one `DeleteMessageBatch`: three calls,
//! what the deadline margin leaves room for. A record the retry queue did not take stays on the
//! outbound queue and is retried there in place.

use super::carried::{Carried, Origin};
use super::finish::{Failure, STATE_TTL_SECONDS};
use super::outcome::{RetryCause, backoff};
use super::{OutboundRecord, Sender};
use crate::ports::{QueueControl, QueueMessage, QueueWriter, SecretStore, SendState, SinchClient, is_fifo};

impl<S, H, Q, P> Sender<S, H, Q, P>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
    P: SendState,
{
    /// Moves `moves` (records of one FIFO group in order, or one record) to the retry queue;
    /// returns the ids of those that stay, to report as failed. A record comes with its failure,
    /// or none when it was not attempted (its group waits in the retry queue).
    pub(super) async fn move_to_retry<'r>(
        &self,
        origin: Origin,
        moves: &[(&'r OutboundRecord, Option<Failure>)],
    ) -> Vec<&'r str> {
        let Some(retry_url) = self.config.retry_queue_url.as_deref() else {
            return self.stay_in_place(origin, moves, false).await;
        };
        let fifo = is_fifo(retry_url);
        let group = moves.first().and_then(|(r, _)| r.group_id.clone());
        let count = u32::try_from(moves.len()).unwrap_or(u32::MAX);
        if let (true, Some(group)) = (fifo, group.as_deref()) {
            let expires = self.clock.unix_seconds().saturating_add(STATE_TTL_SECONDS);
            if let Err(e) = self.state.park(group, count, expires).await {
                tracing::error!(error = %e, cause = "state_unavailable", "could not count the group's waiting records: retried in place");
                return self.stay_in_place(origin, moves, true).await;
            }
        }
        let messages: Vec<QueueMessage> = moves
            .iter()
            .map(|(record, failure)| self.retry_message(retry_url, record, failure.as_ref()))
            .collect();
        let results = self.queues.put_batch(&messages).await;
        // A FIFO group's order holds only up to the first record the queue refused.
        let taken: Vec<bool> = if fifo {
            let first_refused = results.iter().position(Result::is_err).unwrap_or(results.len());
            (0..results.len()).map(|i| i < first_refused).collect()
        } else {
            results.iter().map(Result::is_ok).collect()
        };
        let moved = taken.iter().filter(|t| **t).count();
        if let Some(e) = results.iter().find_map(|r| r.as_ref().err()) {
            tracing::error!(error = %e, cause = RetryCause::RetryQueueUnavailable.as_str(), refused = moves.len() - moved, "the retry queue refused records: retried in place");
            self.count_retry(RetryCause::RetryQueueUnavailable.as_str());
        }
        if let (true, Some(group), Ok(left @ 1..)) = (fifo, group.as_deref(), u32::try_from(moves.len() - moved))
            && let Err(e) = self.state.release(group, left).await
        {
            tracing::warn!(error = %e, "could not count back records the retry queue refused");
        }
        let handles: Vec<String> = moves
            .iter()
            .zip(&taken)
            .filter(|(_, t)| **t)
            .filter_map(|((r, _), _)| r.receipt_handle.clone())
            .collect();
        if let Err(e) = self.queues.delete_batch(self.queue_url(origin), &handles).await {
            // They come back and are moved again; the retry queue's deduplication id (the
            // record's id) drops the copy within SQS's five minutes.
            tracing::warn!(error = %e, "could not delete moved records from the outbound queue");
        }
        for ((record, failure), _) in moves.iter().zip(&taken).filter(|(_, t)| **t) {
            self.log_moved(origin, record, failure.as_ref());
        }
        let stay: Vec<(&'r OutboundRecord, Option<Failure>)> = moves
            .iter()
            .zip(&taken)
            .filter(|(_, t)| !**t)
            .map(|((r, f), _)| (*r, f.clone()))
            .collect();
        self.stay_in_place(origin, &stay, fifo).await
    }

    /// The retry queue's copy of `record`: its body, what it carries (its identity, enqueue
    /// time, first queue and history), its group, and its identity as deduplication id.
    fn retry_message(&self, retry_url: &str, record: &OutboundRecord, failure: Option<&Failure>) -> QueueMessage {
        let record_id = record.message_id.clone();
        let attempted = failure.is_some_and(|f| f.attempted);
        let carried = Carried {
            record_id: Some(record_id.clone()),
            enqueued_ms: self.enqueued_ms(Origin::Main, record),
            source_queue: record.source_queue.clone(),
            // A failed attempt on the outbound queue moves the record at once: it was tried
            // there once at most, whatever its receives (the others were hold-backs).
            attempts: u32::from(attempted),
            last_cause: failure.map(|f| f.cause.as_str().to_owned()),
            maybe_sent: failure.is_some_and(|f| f.maybe_sent) || Carried::of(record).maybe_sent,
            http_status: failure.and_then(|f| f.http_status),
            sinch_status: failure.and_then(|f| f.sinch_status.clone()),
        };
        let fifo = is_fifo(retry_url);
        QueueMessage {
            queue_url: retry_url.to_owned(),
            body: record
                .body
                .clone()
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| "(empty)".into()),
            attributes: carried.attributes(),
            group_id: fifo.then(|| record.group_id.clone().unwrap_or_else(|| "retry".into())),
            dedup_id: fifo.then_some(record_id),
        }
    }

    fn log_moved(&self, origin: Origin, record: &OutboundRecord, failure: Option<&Failure>) {
        let (cause, attempted) = match failure {
            Some(f) => (f.cause, f.attempted),
            None => (RetryCause::GroupWaiting, false),
        };
        tracing::warn!(
            sqs_message_id = %record.message_id,
            cause = cause.as_str(),
            attempted,
            http_status = failure.and_then(|f| f.http_status),
            outcome = "retry",
            "moved to the retry queue"
        );
        self.count_retry(cause.as_str());
        self.record_waiting(origin, record);
    }

    /// Records that stay where they are. Of a FIFO group, the first waits its backoff in place
    /// and the rest is held back with it; other records each wait their own.
    async fn stay_in_place<'r>(
        &self,
        origin: Origin,
        stay: &[(&'r OutboundRecord, Option<Failure>)],
        fifo: bool,
    ) -> Vec<&'r str> {
        if !fifo && stay.len() > 1 {
            let mut failed = Vec::new();
            for one in stay {
                failed.extend(Box::pin(self.stay_in_place(origin, std::slice::from_ref(one), true)).await);
            }
            return failed;
        }
        let Some(((head, failure), rest)) = stay.split_first() else {
            return Vec::new();
        };
        let attempts = self.attempts(origin, head, failure.as_ref().is_some_and(|f| f.attempted));
        let delay = backoff(
            attempts.max(1),
            self.config.retry_base,
            self.config.retry_max,
            failure.as_ref().and_then(|f| f.retry_after),
        );
        let seconds = u32::try_from(delay.as_secs()).unwrap_or(u32::MAX);
        self.count_retry(failure.as_ref().map_or(RetryCause::GroupWaiting, |f| f.cause).as_str());
        self.record_waiting(origin, head);
        let visibility = self.set_visibility(origin, head, seconds).await.then_some(seconds);
        let mut failed = vec![head.message_id.as_str()];
        let rest: Vec<&'r OutboundRecord> = rest.iter().map(|(r, _)| *r).collect();
        failed.extend(self.hold_back(origin, &rest, visibility, None).await);
        failed
    }
}
