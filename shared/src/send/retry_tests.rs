//! The retry queue on in-memory doubles: what moves there, what it carries, how a group's order
//! is kept across the two queues, how long a retried record waits, and what follows the last
//! send before the invocation's deadline.

use super::*;
use crate::ports::{QueueMessage, Stage};
use crate::service_cache::ServiceCacheConfig;
use crate::testing::{FakeSinch, ManualClock, MemoryQueues, MemorySecrets, MemorySendState, reply};
use std::time::Duration;

const APP: &str = "01EUAPP";
const TOKEN_URL: &str = "http://auth/oauth2/token";
const MAIN: &str = "http://q/outbound.fifo";
const RETRY: &str = "http://q/retry.fifo";
const MAIN_ARN: &str = "arn:aws:sqs:eu-west-1:1:outbound.fifo";
const RETRY_ARN: &str = "arn:aws:sqs:eu-west-1:1:retry.fifo";
const NOW: i64 = 1_700_000_000;

struct World {
    sink: MemoryQueues,
    http: FakeSinch,
    state: MemorySendState,
    sender: Sender<MemorySecrets, FakeSinch, MemoryQueues, MemorySendState>,
}

/// Sinch answering every send with `status` (tokens always issued).
fn sinch(status: u16) -> FakeSinch {
    FakeSinch::new(move |req, _| {
        if req.url == TOKEN_URL {
            return reply(200, r#"{"access_token":"t","expires_in":3600}"#);
        }
        reply(status, r#"{"message_id":"m"}"#)
    })
}

fn world(http: FakeSinch, tweak: impl FnOnce(&mut SenderConfig)) -> World {
    let secrets = MemorySecrets::default();
    secrets.put(
        "p/eu1",
        Stage::Current,
        &format!(r#"{{"region":"eu","project_id":"proj-eu","key_id":"k","key_secret":"s","webhook_secret":"w","apps":{{"{APP}":{{}},"{OTHER_APP}":{{}}}}}}"#),
    );
    let clock = ManualClock::new(NOW);
    let cache = ServiceCacheConfig {
        prefix: "p/".into(),
        ..ServiceCacheConfig::default()
    };
    let services = Arc::new(ServiceCache::new(secrets, clock.clone(), cache));
    let mut config = SenderConfig {
        services: vec!["eu1".into()],
        auth_url: TOKEN_URL.into(),
        api_base_override: Some("http://api".into()),
        outbound_queue_url: MAIN.into(),
        retry_queue_url: Some(RETRY.into()),
        state_table: Some("state".into()),
        dlq_url: "http://q/dlq.fifo".into(),
        ..SenderConfig::default()
    };
    tweak(&mut config);
    let sink = MemoryQueues::default();
    let state = MemorySendState::default();
    let sender = Sender::new(
        services,
        http.clone(),
        sink.clone(),
        clock,
        config,
        Metrics::discard("test"),
    )
    .with_state(state.clone());
    World {
        sink,
        http,
        state,
        sender,
    }
}

fn body(text: &str) -> String {
    format!(
        r#"{{"app_id":"{APP}","channel":"SMS","to":"+15551230000","message":{{"text_message":{{"text":"{text}"}}}}}}"#
    )
}

/// A record of group `g` on the outbound queue, enqueued a minute ago.
fn main_record(id: &str, group: &str) -> OutboundRecord {
    OutboundRecord {
        message_id: id.into(),
        receipt_handle: Some(format!("rh-{id}")),
        body: Some(body(id)),
        receive_count: 1,
        group_id: Some(group.into()),
        enqueued_ms: Some((NOW - 60) * 1000),
        source_queue: Some(MAIN_ARN.into()),
        ..OutboundRecord::default()
    }
}

/// A record of the retry queue carrying `attempts` earlier attempts, enqueued `age` ago.
fn retry_record(id: &str, attempts: u32, receive_count: u32, age: Duration) -> OutboundRecord {
    let enqueued = NOW * 1000 - i64::try_from(age.as_millis()).unwrap_or(0);
    OutboundRecord {
        message_id: format!("retry-{id}"),
        receipt_handle: Some(format!("rh-retry-{id}")),
        body: Some(body(id)),
        receive_count,
        group_id: Some("g".into()),
        source_queue: Some(RETRY_ARN.into()),
        attributes: vec![
            ("record_id".into(), id.into()),
            ("enqueued_at".into(), enqueued.to_string()),
            ("source_queue".into(), MAIN_ARN.into()),
            ("attempts".into(), attempts.to_string()),
            ("last_cause".into(), "server_error".into()),
        ],
        ..OutboundRecord::default()
    }
}

fn attr(m: &QueueMessage, k: &str) -> Option<String> {
    m.attributes.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
}

fn sends(w: &World) -> usize {
    w.http.recorded().iter().filter(|r| r.url != TOKEN_URL).count()
}

#[tokio::test]
async fn a_failed_first_attempt_moves_to_the_retry_queue_with_its_history_and_leaves_the_outbound_queue() {
    let w = world(sinch(503), |_| {});
    let failed = w.sender.handle_batch(&[main_record("a", "g")], None).await;
    assert!(failed.is_empty(), "moved, not reported: {failed:?}");
    let moved = w.sink.taken();
    assert_eq!(moved.len(), 1);
    let m = &moved[0];
    assert_eq!(m.queue_url, RETRY);
    assert_eq!(m.body, body("a"), "the body unchanged");
    assert_eq!((m.group_id.as_deref(), m.dedup_id.as_deref()), (Some("g"), Some("a")));
    assert_eq!(attr(m, "record_id").as_deref(), Some("a"));
    assert_eq!(attr(m, "attempts").as_deref(), Some("1"));
    assert_eq!(attr(m, "last_cause").as_deref(), Some("server_error"));
    assert_eq!(attr(m, "http_status").as_deref(), Some("503"));
    assert_eq!(attr(m, "source_queue").as_deref(), Some(MAIN_ARN));
    assert_eq!(attr(m, "enqueued_at"), Some(((NOW - 60) * 1000).to_string()));
    assert_eq!(w.sink.deleted_handles(), vec!["rh-a".to_owned()]);
    assert_eq!(w.state.count("g"), 1, "the group waits in the retry queue");
}

#[tokio::test]
async fn the_rest_of_a_failing_group_follows_it_into_the_retry_queue_unattempted_and_in_order() {
    let w = world(sinch(503), |_| {});
    let batch = [
        main_record("g-1", "g"),
        main_record("g-2", "g"),
        main_record("h-1", "h"),
    ];
    let failed = w.sender.handle_batch(&batch, None).await;
    assert!(failed.is_empty(), "{failed:?}");
    let to_retry: Vec<(String, String)> = w
        .sink
        .taken()
        .iter()
        .filter(|m| m.group_id.as_deref() == Some("g"))
        .map(|m| {
            (
                attr(m, "record_id").unwrap_or_default(),
                attr(m, "attempts").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        to_retry,
        vec![("g-1".into(), "1".into()), ("g-2".into(), "0".into())],
        "in order, the second never attempted"
    );
    assert_eq!(w.state.count("g"), 2);
    // g-2 was not sent; h-1 was tried (the service's failure opened the circuit only after).
    assert!(sends(&w) <= 2, "{}", sends(&w));
}

#[tokio::test]
async fn a_later_record_of_a_group_waiting_in_the_retry_queue_goes_there_unattempted() {
    let w = world(sinch(200), |_| {});
    w.state.park("g", 1, 0).await.ok();
    let failed = w.sender.handle_batch(&[main_record("late", "g")], None).await;
    assert!(failed.is_empty());
    assert_eq!(sends(&w), 0, "Sinch is up, but the record may not overtake its group");
    let moved = w.sink.taken();
    assert_eq!(moved.len(), 1);
    assert_eq!(attr(&moved[0], "attempts").as_deref(), Some("0"));
    assert_eq!(w.state.count("g"), 2);
}

/// Reproduction (#26, item 5): the backoff's exponent was the receive count, hold-backs
/// included: a record held back six times waited 7.5 to 15 minutes after its first real failure.
#[tokio::test]
async fn a_retried_record_waits_for_its_attempts_not_its_receives() {
    let w = world(sinch(503), |_| {});
    // Received seven times on the outbound queue, held back six of them (in other environments,
    // which this one cannot know): one attempt, and it moves with that.
    let mut held = main_record("held", "g");
    held.receive_count = 7;
    assert!(w.sender.handle_batch(&[held], None).await.is_empty());
    assert_eq!(attr(&w.sink.taken()[0], "attempts").as_deref(), Some("1"));
    // In the retry queue its first receive is its second attempt: 10-20 s, not 7.5-15 min.
    let failed = w
        .sender
        .handle_batch(&[retry_record("held", 1, 1, Duration::from_secs(70))], None)
        .await;
    assert_eq!(failed, vec!["retry-held".to_owned()]);
    let (handle, seconds) = w.sink.visibility_changes().pop().unwrap_or_default();
    assert_eq!(handle, "rh-retry-held");
    assert!((10..=20).contains(&seconds), "{seconds} s");
}

#[tokio::test]
async fn a_record_leaving_the_retry_queue_releases_its_group() {
    let w = world(sinch(200), |_| {});
    w.state.park("g", 1, 0).await.ok();
    let failed = w
        .sender
        .handle_batch(&[retry_record("r", 1, 1, Duration::from_secs(60))], None)
        .await;
    assert!(failed.is_empty());
    assert_eq!(sends(&w), 1);
    assert_eq!(w.state.count("g"), 0, "the group's later records may go directly again");
    assert_eq!(w.sink.deleted_handles(), vec!["rh-retry-r".to_owned()]);
}

#[tokio::test]
async fn a_state_table_that_does_not_answer_holds_a_fifo_batch_back_unsent() {
    let w = world(sinch(200), |_| {});
    w.state.set_down(true);
    let failed = w.sender.handle_batch(&[main_record("a", "g")], None).await;
    assert_eq!(failed, vec!["a".to_owned()]);
    assert_eq!(sends(&w), 0, "its group's order could not be known");
    assert_eq!(w.sink.visibility_changes(), vec![("rh-a".to_owned(), 10)]);
}

/// A timeout may have delivered the message: the dead letter says so, whichever environment
/// writes it, so a redrive can leave it out.
#[tokio::test]
async fn a_record_an_attempt_may_have_delivered_is_dead_lettered_saying_so() {
    let timeouts = FakeSinch::new(|req, _| {
        if req.url == TOKEN_URL {
            return reply(200, r#"{"access_token":"t","expires_in":3600}"#);
        }
        Err(crate::ports::TransportError::Timeout)
    });
    let w = world(timeouts, |_| {});
    // An attempt in the retry queue times out: remembered in the state table.
    assert!(
        !w.sender
            .handle_batch(&[retry_record("t", 1, 1, Duration::from_secs(60))], None)
            .await
            .is_empty()
    );
    // Later, past its budget, with Sinch refusing outright: dead-lettered, and marked.
    let refused = world(sinch(503), |_| {});
    let state = w.state.clone();
    let refused = World {
        sender: refused.sender.with_state(state),
        ..refused
    };
    let spent = retry_record("t", 1, 2, SenderConfig::default().retry_for + Duration::from_secs(1));
    assert!(refused.sender.handle_batch(&[spent], None).await.is_empty());
    let dead = refused.sink.taken();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        attr(&dead[0], "dead_letter_reason").as_deref(),
        Some("retry_budget_exhausted")
    );
    assert_eq!(attr(&dead[0], "may_have_been_sent").as_deref(), Some("true"));
    assert_eq!(attr(&dead[0], "source_message_id").as_deref(), Some("t"));
    assert_eq!(attr(&dead[0], "attempts").as_deref(), Some("3"));
}

/// Reproduction (#26, item 3): the deadline margin covered one SQS call after the last send,
/// and up to four could follow it; during a DeleteMessage brownout the invocation ran past its
/// deadline and Lambda sent the batch again. Durations compressed by configuration: Sinch
/// answers just inside the send timeout, every SQS call takes the whole AWS timeout, and every
/// delete fails. What follows must end with the slack for answering Lambda still left.
#[tokio::test]
async fn what_follows_the_last_send_fits_before_the_deadline_even_when_every_call_takes_its_timeout() {
    let aws = Duration::from_millis(200);
    let send = Duration::from_millis(300);
    let w = world(sinch(200).with_delay(send - Duration::from_millis(10)), |c| {
        c.aws_timeout = aws;
        c.send_timeout = send;
        c.sent_queue_url = Some("http://q/sent.fifo".into());
    });
    // A first record fetches the token, so the timed one starts with its send.
    w.sender.handle_batch(&[main_record("warm", "w")], None).await;
    w.sink.set_delay(aws);
    w.sink.set_deletes_failing(true);
    let records = vec![retry_record("late", 1, 1, Duration::from_secs(60))];
    // The latest moment a send may still start.
    let deadline = Instant::now() + w.sender.config.send_window() + Duration::from_millis(10);
    w.sender.handle_batch(&records, Some(deadline)).await;
    assert_eq!(sends(&w), 2, "the timed send started");
    let finished = Instant::now();
    assert!(
        finished + config::DEADLINE_SLACK <= deadline,
        "finished {:?} into the slack for answering",
        (finished + config::DEADLINE_SLACK).duration_since(deadline)
    );
}

const OTHER_APP: &str = "01OTHERAPP";

/// Sinch answering 429 (with `retry_after`) for [`APP`], 200 for any other app.
fn app_limited(retry_after: Option<u64>) -> FakeSinch {
    FakeSinch::new(move |req, _| {
        if req.url == TOKEN_URL {
            return reply(200, r#"{"access_token":"t","expires_in":3600}"#);
        }
        if String::from_utf8_lossy(&req.body).contains(APP) {
            let mut limited = reply(429, r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}"#)?;
            limited.retry_after = retry_after;
            return Ok(limited);
        }
        reply(200, r#"{"message_id":"m"}"#)
    })
}

fn other_app_record(id: &str, group: &str) -> OutboundRecord {
    let body = body(id).replace(APP, OTHER_APP);
    OutboundRecord {
        body: Some(body),
        ..main_record(id, group)
    }
}

#[tokio::test]
async fn a_retry_after_holds_every_later_record_of_the_app_unsent_and_not_the_other_apps() {
    let w = world(app_limited(Some(30)), |_| {});
    w.sender.handle_batch(&[main_record("a1", "g1")], None).await;
    assert_eq!(sends(&w), 1);
    let failed = w
        .sender
        .handle_batch(&[main_record("a2", "g2"), other_app_record("b1", "g3")], None)
        .await;
    assert_eq!(failed, vec!["a2".to_owned()]);
    assert_eq!(sends(&w), 2, "a2 was not tried; b1 was sent");
    assert!(w.sink.visibility_changes().contains(&("rh-a2".to_owned(), 31)));
    // Held in place, not moved: pacing is not a failure of the record.
    assert_eq!(w.sink.taken().len(), 1, "only a1 went to the retry queue");
}

/// Without a `Retry-After` (Sinch documents none), a run of 429s paces the app: after three
/// at once, the next sends go one per two seconds; one that would wait longer than
/// [`attempt::PACE_WAIT_MAX`] waits on its queue.
#[tokio::test(start_paused = true)]
async fn a_run_of_429s_spaces_the_app_s_later_sends_and_holds_what_cannot_wait() {
    let limited = app_limited(None);
    let w = world(limited, |_| {});
    let first: Vec<_> = (0..3)
        .map(|i| main_record(&format!("a{i}"), &format!("g{i}")))
        .collect();
    w.sender.handle_batch(&first, None).await;
    assert_eq!(sends(&w), 3);
    let rate = w.sender.paces.rate(&attempt::pace_key("eu1", APP));
    assert_eq!(rate, Some(app_pace::MIN_RATE), "nothing was accepted: the slowest pace");
    let second: Vec<_> = (3..6)
        .map(|i| main_record(&format!("a{i}"), &format!("g{i}")))
        .collect();
    let failed = w.sender.handle_batch(&second, None).await;
    assert_eq!(sends(&w), 5, "two more sends: one at once, one two seconds later");
    assert_eq!(w.sink.taken().len(), 5, "the five refused moved to the retry queue");
    assert_eq!(failed.len(), 1, "the third waits on the outbound queue");
    let held: Vec<_> = w
        .sink
        .visibility_changes()
        .into_iter()
        .filter(|(_, s)| *s == 5)
        .collect();
    assert_eq!(held.len(), 1, "{held:?}: four seconds off, held for five");
}
