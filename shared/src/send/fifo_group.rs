//! FIFO groups across the two queues: which groups of an outbound batch must follow earlier
//! records into the retry queue (the state table's count), one group's records in order with
//! what follows a failure (moved behind it, or held back with it), and the count lowered when a
//! record leaves the retry queue.

use std::collections::HashSet;
use std::time::Instant;

use super::finish::{Failure, Finish};
use super::{DeadLetter, DeadLetterReason, Origin, OutboundRecord, RetryCause, Sender, attempt};
use crate::ports::{QueueControl, QueueWriter, SecretStore, SendState, SinchClient};

impl<S, H, Q, P> Sender<S, H, Q, P>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
    P: SendState,
{
    /// For a FIFO batch of the outbound queue: the groups with records waiting in the retry
    /// queue, whose records must follow them there. When the state table cannot say, nothing of
    /// the batch is sent (its order could not be kept): every record comes back after the base
    /// delay, as `state_unavailable`.
    pub(super) async fn waiting_groups(
        &self,
        origin: Origin,
        groups: &[(&str, Vec<&OutboundRecord>)],
    ) -> Result<HashSet<String>, Vec<String>> {
        if origin != Origin::Main || !self.moves_to_retry_queue(true) {
            return Ok(HashSet::new());
        }
        let names: Vec<&str> = groups.iter().map(|(g, _)| *g).collect();
        match self.state.waiting(&names).await {
            Ok(waiting) => Ok(waiting),
            Err(e) => {
                tracing::error!(error = %e, outcome = "retry", cause = "state_unavailable", "the state table did not answer: the batch waits");
                let seconds = u32::try_from(self.config.retry_base.as_secs()).unwrap_or(u32::MAX);
                let mut failed = Vec::new();
                for record in groups.iter().flat_map(|(_, list)| list) {
                    self.count_retry(RetryCause::StateUnavailable.as_str());
                    self.set_visibility(origin, record, seconds).await;
                    failed.push(record.message_id.clone());
                }
                Err(failed)
            }
        }
    }

    /// The records of one FIFO group, in order. After a record fails, the rest of the group in
    /// this batch is never sent before it: it moves to the retry queue behind it, or (when the
    /// record is retried in place) is held back with it.
    pub(super) async fn process_group<'r>(
        &self,
        origin: Origin,
        list: Vec<&'r OutboundRecord>,
        waiting: bool,
        deadline: Option<Instant>,
    ) -> Vec<&'r str> {
        if waiting {
            // Earlier records of the group wait in the retry queue: these go behind them.
            let moves: Vec<(&OutboundRecord, Option<Failure>)> = list.iter().map(|r| (*r, None)).collect();
            return self.move_to_retry(origin, &moves).await;
        }
        let mut failed = Vec::new();
        for (i, record) in list.iter().enumerate() {
            match self.process_guarded(origin, record, deadline).await {
                Finish::Done(_) => {}
                Finish::ToRetryQueue(failure) => {
                    let mut moves = vec![(*record, Some(failure))];
                    moves.extend(list[i + 1..].iter().map(|r| (*r, None)));
                    failed.extend(self.move_to_retry(origin, &moves).await);
                    return failed;
                }
                Finish::Failed { visibility } => {
                    failed.push(record.message_id.as_str());
                    failed.extend(self.hold_back(origin, &list[i + 1..], visibility, deadline).await);
                    return failed;
                }
            }
        }
        failed
    }

    /// The rest of a group behind a record retried in place: unsent, hidden as long as it (so
    /// the group resumes together), and not counted as attempts.
    pub(super) async fn hold_back<'r>(
        &self,
        origin: Origin,
        rest: &[&'r OutboundRecord],
        visibility: Option<u32>,
        deadline: Option<Instant>,
    ) -> Vec<&'r str> {
        let mut failed = Vec::new();
        for record in rest {
            self.held_back.note(&record.message_id);
            if self
                .max_receives(origin)
                .await
                .is_some_and(|max| record.receive_count >= max)
            {
                // SQS would move it on its next receive, without a reason: say why instead.
                let mut dead = DeadLetter::local(
                    DeadLetterReason::ReceiveLimitReached,
                    "held back behind an earlier message of its FIFO group until the queue's redrive limit",
                );
                dead.attempts = Some(self.held_back.attempts(&record.message_id, record.receive_count));
                if let Finish::Done(_) = self
                    .dead_letter(origin, record, &attempt::Context::default(), &dead)
                    .await
                {
                    self.delete_finished(origin, record, deadline).await;
                    continue;
                }
            }
            if let Some(seconds) = visibility {
                self.set_visibility(origin, record, seconds).await;
            }
            failed.push(record.message_id.as_str());
        }
        failed
    }

    /// A record of a FIFO group left the retry queue: one fewer waits there. A failure leaves
    /// the count high, so later records of the group keep going through the retry queue (in
    /// order, a little later) until the entry expires.
    pub(super) async fn release_group(&self, origin: Origin, record: &OutboundRecord) {
        let Some(group) = record.group_id.as_deref() else {
            return;
        };
        if origin != Origin::Retry || !self.state.enabled() {
            return;
        }
        if let Err(e) = self.state.release(group, 1).await {
            tracing::warn!(sqs_message_id = %record.message_id, error = %e, "could not count the record out of its group's waiting records");
        }
    }
}
