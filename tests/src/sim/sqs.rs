//! SQS in miniature on a compressed clock, with the metrics SQS publishes and the documented
//! behaviours moto leaves out. Each rule cites the SQS developer guide:
//!
//! - FIFO delivery: no message of a group is delivered while another of that group is in
//!   flight ("FIFO delivery logic"); order within a group kept.
//! - Redrive: a message received `maxReceiveCount` times moves to the DLQ on its next receive;
//!   SQS's move is not counted in the DLQ's `NumberOfMessagesSent` ("If you send a message to a
//!   dead-letter queue manually, it is captured by the NumberOfMessagesSent metric. However, if
//!   a message is sent to a dead-letter queue as a result of a failed processing attempt, it
//!   isn't captured").
//! - `ApproximateAgeOfOldestMessage` leaves out messages received three times or more, and is
//!   reported only while the queue holds a message it counts (available CloudWatch metrics);
//!   in-flight messages count otherwise (the docs are silent: the reading that hides least).
//! - A queue empty and untouched for six hours stops publishing; once woken, its metrics come
//!   back only after the documented delay "of up to 15 minutes" (the full 15 here).
//! - `ChangeMessageVisibility` on a message not in flight, or with an old receipt handle, fails.
//! - Retention: messages older than the retention period are deleted.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use sinch_bridge::clock::Clock;
use sinch_bridge::ports::{PortError, QueueControl, QueueMessage, QueueWriter};
use sinch_bridge::testing::ManualClock;

use crate::cloudwatch::{Datapoint, Dimensions, MetricStore};

const SIX_HOURS_MS: i64 = 6 * 3600 * 1000;
const WAKE_DELAY_MS: i64 = 15 * 60 * 1000;

/// A queue as the template creates it.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub url: String,
    pub name: String,
    pub arn: String,
    pub visibility_s: u32,
    pub retention_s: u32,
    /// `DelaySeconds`: a message sent becomes visible this much later.
    pub delay_s: u32,
    /// (DLQ URL, maxReceiveCount)
    pub redrive: Option<(String, u32)>,
}

impl QueueSpec {
    pub fn fifo(&self) -> bool {
        self.name.ends_with(".fifo")
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub receipt: String,
    pub body: String,
    pub attributes: Vec<(String, String)>,
    pub group: Option<String>,
    pub sent_ms: i64,
    pub first_receive_ms: Option<i64>,
    pub receive_count: u32,
    pub visible_at_ms: i64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    sent: u64,
    received: u64,
    deleted: u64,
    empty_receives: u64,
}

#[derive(Debug)]
struct Queue {
    spec: QueueSpec,
    messages: Vec<Message>,
    counters: Counters,
    last_action_ms: i64,
    /// When the queue went to sleep (empty and untouched for six hours).
    asleep: bool,
    woke_at_ms: Option<i64>,
    down: bool,
}

pub struct SqsModel {
    clock: Arc<ManualClock>,
    queues: BTreeMap<String, Queue>,
    next_id: u64,
    /// Messages deleted because their retention ran out.
    expired: u64,
    /// Messages in flight a queue serves at most; past it a receive returns nothing, without an
    /// error (FIFO queues: 120,000, "does not return an error"; tests lower it).
    in_flight_limit: usize,
}

/// The model behind the bridge's queue ports (and the test's consumers).
#[derive(Clone)]
pub struct Sqs(Arc<Mutex<SqsModel>>);

impl Sqs {
    pub fn new(clock: Arc<ManualClock>, specs: Vec<QueueSpec>) -> Self {
        let now = clock.unix_millis();
        let queues = specs
            .into_iter()
            .map(|spec| {
                (
                    spec.url.clone(),
                    Queue {
                        spec,
                        messages: Vec::new(),
                        counters: Counters::default(),
                        last_action_ms: now,
                        asleep: false,
                        woke_at_ms: None,
                        down: false,
                    },
                )
            })
            .collect();
        Self(Arc::new(Mutex::new(SqsModel {
            clock,
            queues,
            next_id: 0,
            expired: 0,
            in_flight_limit: 120_000,
        })))
    }

    pub fn expired(&self) -> u64 {
        self.lock().expired
    }

    /// Lowers every queue's in-flight limit (a test reaches it with a few dozen records).
    pub fn set_in_flight_limit(&self, limit: usize) {
        self.lock().in_flight_limit = limit;
    }

    /// Messages in flight on `url` now.
    pub fn in_flight(&self, url: &str) -> usize {
        let m = self.lock();
        let now = m.clock.unix_millis();
        m.queues[url]
            .messages
            .iter()
            .filter(|msg| msg.receive_count > 0 && msg.visible_at_ms > now)
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SqsModel> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every call to `url` fails while `down` (an SQS outage, a queue that refuses writes).
    pub fn set_down(&self, url: &str, down: bool) {
        if let Some(q) = self.lock().queues.get_mut(url) {
            q.down = down;
        }
    }

    pub fn spec(&self, url: &str) -> QueueSpec {
        self.lock().queues[url].spec.clone()
    }

    /// Messages on the queue (visible or in flight).
    pub fn depth(&self, url: &str) -> usize {
        self.lock().queues[url].messages.len()
    }

    pub fn messages(&self, url: &str) -> Vec<Message> {
        self.lock().queues[url].messages.clone()
    }

    pub fn send(
        &self,
        url: &str,
        body: &str,
        attributes: Vec<(String, String)>,
        group: Option<String>,
    ) -> Result<(), PortError> {
        let id = {
            let mut m = self.lock();
            m.next_id += 1;
            format!("m-{:08}", m.next_id)
        };
        self.call(url, |q, now| {
            q.counters.sent += 1;
            let visible_at_ms = now + i64::from(q.spec.delay_s) * 1000;
            q.messages.push(Message {
                id,
                receipt: String::new(),
                body: body.to_owned(),
                attributes,
                group,
                sent_ms: now,
                first_receive_ms: None,
                receive_count: 0,
                visible_at_ms,
            });
            Ok(())
        })
    }

    /// One `ReceiveMessage` of up to `max` messages, hidden for `visibility_s` (the queue's
    /// default when `None`).
    pub fn receive(&self, url: &str, max: usize, visibility_s: Option<u32>) -> Vec<Message> {
        let mut guard = self.lock();
        let m = &mut *guard;
        let now = m.clock.unix_millis();
        let limit = m.in_flight_limit;
        let mut moved: Vec<(String, Message)> = Vec::new();
        let out = {
            let Some(q) = m.queues.get_mut(url) else {
                return Vec::new();
            };
            touch(q, now);
            if q.down {
                return Vec::new();
            }
            let visibility_ms = i64::from(visibility_s.unwrap_or(q.spec.visibility_s)) * 1000;
            let fifo = q.spec.fifo();
            let in_flight = q
                .messages
                .iter()
                .filter(|msg| msg.receive_count > 0 && msg.visible_at_ms > now)
                .count();
            let max = max.min(limit.saturating_sub(in_flight));
            let mut blocked: HashSet<String> = if fifo {
                q.messages
                    .iter()
                    .filter(|msg| msg.receive_count > 0 && msg.visible_at_ms > now)
                    .filter_map(|msg| msg.group.clone())
                    .collect()
            } else {
                HashSet::new()
            };
            let mut out = Vec::new();
            let mut keep = Vec::with_capacity(q.messages.len());
            for mut msg in std::mem::take(&mut q.messages) {
                let group_blocked = msg.group.as_ref().is_some_and(|g| blocked.contains(g));
                if out.len() >= max || group_blocked || msg.visible_at_ms > now {
                    if fifo && let Some(g) = &msg.group {
                        blocked.insert(g.clone());
                    }
                    keep.push(msg);
                    continue;
                }
                if let Some((dlq, max_receives)) = &q.spec.redrive
                    && msg.receive_count >= *max_receives
                {
                    moved.push((dlq.clone(), msg));
                    continue;
                }
                msg.receive_count += 1;
                msg.first_receive_ms.get_or_insert(now);
                msg.visible_at_ms = now + visibility_ms;
                msg.receipt = format!("{}#{}", msg.id, msg.receive_count);
                out.push(msg.clone());
                keep.push(msg);
            }
            q.messages = keep;
            q.counters.received += out.len() as u64;
            if out.is_empty() {
                q.counters.empty_receives += 1;
            }
            out
        };
        for (dlq, mut msg) in moved {
            if let Some(d) = m.queues.get_mut(&dlq) {
                touch(d, now);
                // A FIFO DLQ resets the enqueue time; a standard one keeps it.
                if d.spec.fifo() {
                    msg.sent_ms = now;
                }
                msg.receive_count = 0;
                msg.first_receive_ms = None;
                msg.visible_at_ms = now;
                d.messages.push(msg);
            }
        }
        out
    }

    /// Runs one API call on queue `url`: the queue is touched (an action keeps it awake), and a
    /// queue that is down refuses the call.
    fn call<T>(&self, url: &str, f: impl FnOnce(&mut Queue, i64) -> Result<T, PortError>) -> Result<T, PortError> {
        let mut m = self.lock();
        let now = m.clock.unix_millis();
        let q = m
            .queues
            .get_mut(url)
            .ok_or_else(|| PortError::new("queue_unavailable", "no such queue"))?;
        touch(q, now);
        if q.down {
            return Err(PortError::new("queue_unavailable", "ServiceUnavailable (model)"));
        }
        f(q, now)
    }

    pub fn delete(&self, url: &str, receipt: &str) -> Result<(), PortError> {
        self.call(url, |q, _| {
            let before = q.messages.len();
            q.messages.retain(|msg| msg.receipt != receipt);
            q.counters.deleted += (before - q.messages.len()) as u64;
            Ok(())
        })
    }

    pub fn change_visibility(&self, url: &str, receipt: &str, seconds: u32) -> Result<(), PortError> {
        self.call(url, |q, now| {
            let msg = q
                .messages
                .iter_mut()
                .find(|msg| msg.receipt == receipt && msg.visible_at_ms > now)
                .ok_or_else(|| PortError::new("message_not_inflight", "MessageNotInflight (model)"))?;
            msg.visible_at_ms = now + i64::from(seconds) * 1000;
            Ok(())
        })
    }

    /// Deletes what retention expired; publishes one minute of every queue's metrics, for the
    /// minute starting at `minute_ms`, into `store`.
    pub fn publish_minute(&self, minute_ms: i64, store: &mut MetricStore) {
        let mut m = self.lock();
        let now = m.clock.unix_millis();
        let mut expired = 0;
        for q in m.queues.values_mut() {
            let retention_ms = i64::from(q.spec.retention_s) * 1000;
            let before = q.messages.len();
            q.messages.retain(|msg| now - msg.sent_ms < retention_ms);
            expired += (before - q.messages.len()) as u64;
            if q.messages.is_empty() && now - q.last_action_ms >= SIX_HOURS_MS {
                q.asleep = true;
            }
            let counters = std::mem::take(&mut q.counters);
            if q.asleep || q.woke_at_ms.is_some_and(|w| now - w < WAKE_DELAY_MS) {
                continue;
            }
            let dims: Dimensions = [("QueueName".to_owned(), q.spec.name.clone())].into();
            let mut put = |name: &str, value: f64| {
                store.put(Datapoint {
                    namespace: "AWS/SQS".into(),
                    name: name.into(),
                    dimensions: dims.clone(),
                    at_ms: minute_ms,
                    value,
                });
            };
            let visible = q.messages.iter().filter(|msg| msg.visible_at_ms <= now).count();
            put("ApproximateNumberOfMessagesVisible", visible as f64);
            put(
                "ApproximateNumberOfMessagesNotVisible",
                (q.messages.len() - visible) as f64,
            );
            put("ApproximateNumberOfMessagesDelayed", 0.0);
            put("NumberOfMessagesSent", counters.sent as f64);
            put("NumberOfMessagesReceived", counters.received as f64);
            put("NumberOfMessagesDeleted", counters.deleted as f64);
            put("NumberOfEmptyReceives", counters.empty_receives as f64);
            let oldest = q
                .messages
                .iter()
                .filter(|msg| msg.receive_count < 3)
                .map(|msg| (now - msg.sent_ms) / 1000)
                .max();
            if let Some(age) = oldest {
                put("ApproximateAgeOfOldestMessage", age as f64);
            }
        }
        m.expired += expired;
    }
}

/// An action on the queue: it is (or becomes) active.
fn touch(q: &mut Queue, now: i64) {
    if q.asleep {
        q.asleep = false;
        q.woke_at_ms = Some(now);
    }
    q.last_action_ms = now;
}

impl QueueWriter for Sqs {
    async fn put(&self, message: &QueueMessage) -> Result<(), PortError> {
        let attributes = message
            .attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        self.send(&message.queue_url, &message.body, attributes, message.group_id.clone())
    }
}

impl QueueControl for Sqs {
    async fn delete(&self, queue_url: &str, receipt_handle: &str) -> Result<(), PortError> {
        Sqs::delete(self, queue_url, receipt_handle)
    }

    async fn change_visibility(&self, queue_url: &str, receipt_handle: &str, seconds: u32) -> Result<(), PortError> {
        Sqs::change_visibility(self, queue_url, receipt_handle, seconds)
    }

    async fn max_receives(&self, queue_url: &str) -> Result<Option<u32>, PortError> {
        Ok(self
            .lock()
            .queues
            .get(queue_url)
            .and_then(|q| q.spec.redrive.as_ref().map(|(_, n)| *n)))
    }
}
