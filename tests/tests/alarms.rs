//! Every alarm of the template, evaluated like CloudWatch against compressed fault runs
//! (`bridge_tests::sim`): an hour-long fault makes exactly the alarms that name it fire, once,
//! within 15 minutes of the first failure, and they clear by themselves after recovery; a
//! healthy run fires none. Each run prints its report (`-- --nocapture`).

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;

use bridge_tests::cfn::Template;
use bridge_tests::cloudwatch::alarm::State;
use bridge_tests::sim::{Fault, Run, Scenario, first_point, run};

/// When the incident began, for the paging bound.
#[derive(Clone, Copy)]
enum Incident {
    /// The fault's start.
    FaultStart,
    /// The first data point of this metric after the fault's start: the first failure the
    /// bridge could see (a cached OAuth token hides an OAuth outage until it expires; a retry
    /// budget ends long after the outage began).
    FirstPoint(&'static str),
}

/// An alarm a run must fire once, within `within_min` of the incident, and clear.
struct Expect {
    alarm: &'static str,
    incident: Incident,
    within_min: i64,
}

/// Within 15 minutes of the fault's start: the bound.
fn pages(alarm: &'static str) -> Expect {
    Expect {
        alarm,
        incident: Incident::FaultStart,
        within_min: 15,
    }
}

/// Within 15 minutes of the first `metric` point.
fn pages_after(alarm: &'static str, metric: &'static str) -> Expect {
    Expect {
        alarm,
        incident: Incident::FirstPoint(metric),
        within_min: 15,
    }
}

fn report(run: &Run, scenario: &Scenario) {
    println!(
        "== {}: {} min, faults {:?}",
        scenario.name, scenario.minutes, scenario.faults
    );
    println!("   tally {:?}", run.tally);
    for (alarm, history) in run.alarms() {
        if history.pages() > 0 {
            let at: Vec<String> = history
                .transitions
                .iter()
                .map(|(t, s)| format!("{:?}@{}min", s, (t - run.start_ms) / 60_000))
                .collect();
            println!("   {} pages {} [{}]", alarm.id, history.pages(), at.join(", "));
        }
    }
}

async fn check(scenario: Scenario, expected: &[Expect]) -> Run {
    let run = run(&scenario).await;
    report(&run, &scenario);
    let fault_start = scenario.faults.iter().map(|(_, from, _)| *from).min().unwrap_or(0);
    let alarms = run.alarms();
    let fired: BTreeSet<&str> = alarms
        .iter()
        .filter(|(_, h)| h.pages() > 0)
        .map(|(a, _)| a.id.as_str())
        .collect();
    assert_eq!(
        fired,
        expected.iter().map(|e| e.alarm).collect::<BTreeSet<_>>(),
        "{}: the alarms that fired",
        scenario.name
    );
    for e in expected {
        let (_, history) = alarms.iter().find(|(a, _)| a.id == e.alarm).unwrap();
        assert_eq!(
            history.pages(),
            1,
            "{}: {} paged more than once",
            scenario.name,
            e.alarm
        );
        let incident_ms = match e.incident {
            Incident::FaultStart => run.at_minute(fault_start),
            Incident::FirstPoint(metric) => first_point(&run, metric, run.at_minute(fault_start))
                .unwrap_or_else(|| panic!("{}: no {metric} after the fault began", scenario.name)),
        };
        let after = (history.first_alarm_ms().unwrap() - incident_ms) / 60_000;
        assert!(
            (0..=e.within_min).contains(&after),
            "{}: {} paged {after} min after the incident began (bound {} min)",
            scenario.name,
            e.alarm,
            e.within_min
        );
        assert_eq!(
            history.last_state(),
            State::Ok,
            "{}: {} did not clear after recovery",
            scenario.name,
            e.alarm
        );
    }
    run
}

/// 30 minutes healthy, the fault for an hour, then two hours to recover.
fn hour_of(name: &'static str, fault: Fault) -> Scenario {
    Scenario::healthy(name, 210).with_fault(fault, 30, 90)
}

/// 30 minutes healthy, the fault for two hours, then two hours to recover: long enough to
/// outlast an OAuth token cached before it began.
fn two_hours_of(name: &'static str, fault: Fault) -> Scenario {
    Scenario::healthy(name, 270).with_fault(fault, 30, 150)
}

/// Each case is a test of its own, and the catalogue the coverage test reads.
macro_rules! cases {
    ($($(#[doc = $doc:literal])* $name:ident: $scenario:expr => [$($expect:expr),* $(,)?];)*) => {
        fn catalogue() -> Vec<(&'static str, Scenario, Vec<Expect>)> {
            vec![$((stringify!($name), $scenario, vec![$($expect),*]),)*]
        }
        $(
            $(#[doc = $doc])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                check($scenario, &[$($expect),*]).await;
            }
        )*
    };
}

cases! {
    // ---- the three runs: exactly one alarm each, and a healthy day with none
    an_hour_long_sinch_outage_pages_once_as_outbound_delayed:
        hour_of("Sinch API down for an hour", Fault::SinchApiDown) => [pages("OutboundDelayedAlarm")];
    a_stalled_events_consumer_pages_once_as_events_age:
        hour_of("events consumer stalled for an hour", Fault::EventsConsumerStalled) => [pages("EventsAgeAlarm")];
    a_service_with_a_wrong_secret_pages_once_as_refused_service:
        hour_of("Sinch signs with a wrong secret for an hour", Fault::WrongWebhookSecret) => [pages("RefusedServiceAlarm")];
    /// Standard queues: no FIFO backlog behind a retrying message, so only the sender's own
    /// retry age can see the outage.
    an_hour_long_sinch_outage_on_standard_queues_pages_once_too:
        hour_of("Sinch API down for an hour, standard queues", Fault::SinchApiDown).with_params(&[("QueueType", "standard")])
            => [pages("OutboundDelayedAlarm")];
    a_healthy_day_pages_nobody:
        Scenario::healthy("healthy day", 24 * 60) => [];

    // ---- every other alarm, each from a fault run of its own
    an_oauth_outage_pages_as_outbound_delayed_once_the_cached_token_expires:
        two_hours_of("OAuth endpoint down for two hours", Fault::SinchAuthDown)
            => [pages_after("OutboundDelayedAlarm", "MessageRetried")];
    a_refused_access_key_pages_as_auth_rejected_and_outbound_delayed:
        two_hours_of("access key refused for two hours", Fault::SinchKeyRefused) => [
            pages_after("SenderAuthRejectedAlarm", "AuthRejected"),
            pages_after("OutboundDelayedAlarm", "AuthRejected"),
        ];
    an_outage_past_the_retry_budget_pages_again_when_dead_letters_arrive:
        Scenario::healthy("Sinch down for two hours, one-hour budget", 300)
            .with_params(&[("RetryForSeconds", "3600")])
            .with_fault(Fault::SinchApiDown, 30, 150)
            => [pages("OutboundDelayedAlarm"), pages_after("OutboundDeadLetterAlarm", "MessageDeadLettered")];
    poison_messages_page_as_outbound_dead_letters:
        hour_of("Sinch refuses every message for an hour", Fault::SinchRefusesMessages) => [pages("OutboundDeadLetterAlarm")];
    a_throttled_sender_pages_as_outbound_delayed:
        hour_of("sender throttled for an hour", Fault::SenderThrottled) => [pages("OutboundDelayedAlarm")];
    a_crashing_sender_pages_as_sender_errors:
        hour_of("sender crashing for an hour", Fault::SenderCrashes)
            => [pages("SenderErrorsAlarm"), pages("OutboundDelayedAlarm")];
    a_sender_refusing_to_start_pages_as_start_refused:
        hour_of("sender refusing to start for an hour", Fault::SenderRefusesToStart)
            => [pages("StartRefusedAlarm"), pages("SenderErrorsAlarm"), pages("OutboundDelayedAlarm")];
    an_ingest_refusing_to_start_pages_as_start_refused:
        hour_of("ingest refusing to start for an hour", Fault::IngestRefusesToStart)
            => [pages("StartRefusedAlarm"), pages("WebhookApi5xxAlarm")];
    /// The DLQ comes back an hour before Sinch stops refusing: the dead letters held back
    /// meanwhile are written then, and page as arrivals.
    a_dead_letter_queue_refusing_writes_pages_as_dead_letter_failed:
        Scenario::healthy("outbound DLQ refusing writes while Sinch refuses messages", 270)
            .with_fault(Fault::SinchRefusesMessages, 30, 150)
            .with_fault(Fault::OutboundDlqDown, 30, 90)
            => [
                pages("DeadLetterFailedAlarm"),
                pages("OutboundDelayedAlarm"),
                pages_after("OutboundDeadLetterAlarm", "MessageDeadLettered"),
            ];
    a_sent_records_queue_refusing_writes_pages_as_sent_record_failed:
        hour_of("sent-records queue down for an hour", Fault::SentQueueDown) => [pages("SentRecordFailedAlarm")];
    an_events_consumer_failing_every_event_pages_as_events_dead_letters:
        hour_of("events consumer failing every event for an hour", Fault::EventsConsumerFails)
            => [pages("EventsDeadLetterAlarm")];
    /// An idle DLQ stops publishing; SQS documents "a delay of up to 15 minutes" before a woken
    /// queue's metrics come back: the first arrivals page that much later (docs/operations.md).
    dead_letters_into_a_dlq_idle_for_hours_page_after_sqs_wake_up_delay:
        hour_of("events consumer failing after seven idle hours", Fault::EventsConsumerFails).idle_before(7 * 60)
            => [Expect { alarm: "EventsDeadLetterAlarm", incident: Incident::FaultStart, within_min: 15 + 15 }];
    a_stalled_sent_records_consumer_pages_as_sent_age:
        hour_of("sent-records consumer stalled for an hour", Fault::SentConsumerStalled) => [pages("SentAgeAlarm")];
    a_sent_records_consumer_failing_pages_as_sent_dead_letters:
        hour_of("sent-records consumer failing for an hour", Fault::SentConsumerFails) => [pages("SentDeadLetterAlarm")];
    an_events_queue_outage_pages_as_webhook_5xx:
        hour_of("events queue down for an hour", Fault::EventsQueueDown) => [pages("WebhookApi5xxAlarm")];
    a_nonce_table_outage_pages_as_webhook_5xx_and_nonce_store:
        hour_of("nonce table down for an hour", Fault::NonceTableDown)
            => [pages("WebhookApi5xxAlarm"), pages("NonceStoreAlarm")];
    a_flood_above_the_route_throttle_pages_as_webhook_throttled:
        Scenario::healthy("junk at 20/s on a 5/s route for an hour", 210)
            .with_params(&[("ApiThrottlingRateLimit", "5"), ("ApiThrottlingBurstLimit", "10")])
            .with_fault(Fault::Flood(20), 30, 90)
            => [pages("WebhookThrottledAlarm")];
    a_rotation_failing_for_an_hour_pages_once:
        hour_of("Sinch management down during a scheduled rotation", Fault::SinchManagementDown)
            => [pages("SecretRotationErrorsAlarm")];
}

#[test]
fn every_alarm_of_the_template_has_a_fault_run_that_fires_it() {
    let stack = Template::load()
        .stack("sim", &[("ServiceNames", "eu1"), ("EnableSentQueue", "true")])
        .unwrap();
    let alarms: BTreeSet<String> = stack
        .resources_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let covered: BTreeSet<String> = catalogue()
        .into_iter()
        .flat_map(|(_, _, expects)| expects.into_iter().map(|e| e.alarm.to_owned()))
        .collect();
    assert_eq!(
        covered, alarms,
        "alarms without a fault run, or runs expecting alarms the template lacks"
    );
}

/// After the rotation's hour of failures, it completes and Sinch's callbacks, signed with the
/// new secret, are accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_held_up_for_an_hour_completes_and_refuses_no_callback() {
    let run = run(&hour_of(
        "Sinch management down during a scheduled rotation",
        Fault::SinchManagementDown,
    ))
    .await;
    assert!(
        run.tally.get("rotation steps failed").is_some_and(|n| *n >= 2),
        "{:?}",
        run.tally
    );
    assert_eq!(run.tally.get("rotation completed"), Some(&1), "{:?}", run.tally);
    assert_eq!(run.tally.get("callbacks refused"), None, "{:?}", run.tally);
}
