//! The sender where SQS's own limits bite, on a compressed clock (`bridge_tests::sim`, whose SQS
//! model serves a configurable number of messages in flight and locks a FIFO group while one of
//! its messages is in flight): a destination that fails for the whole run never slows another,
//! and its messages follow in order once it recovers; a long FIFO group behind a failing head
//! ends delivered or dead-lettered with a reason, never expired. Each run prints its report.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;

use bridge_tests::sim::{EU, Fault, Outbound, Run, Scenario, US, run};

/// The texts delivered for `project`, in delivery order, with when.
fn delivered(run: &Run, project: &str) -> Vec<(String, i64)> {
    run.delivered
        .iter()
        .filter(|(p, _, _)| p == project)
        .map(|(_, t, at)| (t.clone(), *at))
        .collect()
}

/// Each group's texts in delivery order are in the order they were enqueued (the texts end in
/// the stream's sequence number).
fn assert_group_order(texts: &[String], what: &str) {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in texts {
        let (group, _) = t.rsplit_once('-').unwrap();
        groups.entry(group).or_default().push(t);
    }
    for (group, list) in groups {
        let mut sorted = list.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(list, sorted, "{what}: group {group} out of order (or sent twice)");
    }
}

fn report(name: &str, run: &Run) {
    println!(
        "== {name}: delivered {}, dead-lettered {}, left on queues {:?}, expired {}, tally {:?}",
        run.delivered.len(),
        run.dead_letters.len(),
        run.left,
        run.expired,
        run.tally
    );
}

/// Service B (eu) enqueues 200 messages in 20 groups from minute 5, one a second; service A
/// (us) three every 10 s in 50 groups, 300 in all. SQS serves 40 messages in flight per queue:
/// A alone would fill that many times over.
fn two_services(name: &'static str) -> Scenario {
    let a = Outbound {
        per: 3,
        total: Some(300),
        ..Outbound::every(US, 10, 50)
    };
    let b = Outbound {
        per: 10,
        total: Some(200),
        from_min: 5,
        ..Outbound::every(EU, 10, 20)
    };
    let mut s = Scenario::healthy(name, 150).with_traffic(&[EU, US], &[b, a]);
    s.callbacks_every_s = 0;
    s.in_flight_limit = Some(40);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_down_for_the_whole_run_never_slows_another_service_and_its_messages_follow_in_order() {
    let healthy = run(&two_services("both healthy")).await;
    report("both healthy", &healthy);
    // A's region is down from the start until minute 90, while B sends everything.
    let faulty = run(&two_services("us down until minute 90").with_fault(Fault::ProjectDown("proj-us"), 0, 90)).await;
    report("us down until minute 90", &faulty);

    let b_done = |r: &Run| delivered(r, "proj-eu").iter().map(|(_, at)| *at).max().unwrap() - r.at_minute(5);
    let (b_healthy, b_faulty) = (b_done(&healthy), b_done(&faulty));
    println!(
        "B's 200 messages delivered {} s after its first (both healthy) and {} s (us down): x{:.2}",
        b_healthy / 1000,
        b_faulty / 1000,
        b_faulty as f64 / b_healthy as f64
    );
    let b = delivered(&faulty, "proj-eu");
    assert_eq!(b.len(), 200, "every B message delivered once");
    assert!(
        b_faulty as f64 <= 1.5 * b_healthy as f64,
        "B took {b_faulty} ms with A down against {b_healthy} ms healthy"
    );
    assert_group_order(&b.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(), "B");

    let a = delivered(&faulty, "proj-us");
    assert_eq!(a.len(), 300, "every A message delivered once A recovered");
    assert!(
        a.iter().all(|(_, at)| *at >= faulty.at_minute(90)),
        "none before its region was back"
    );
    assert_group_order(&a.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(), "A");
    assert!(
        faulty.dead_letters.is_empty(),
        "inside the budget nothing is dead-lettered"
    );
    assert!(
        faulty.left.values().all(|n| *n == 0),
        "0 lost, nothing left: {:?}",
        faulty.left
    );
    assert_eq!(faulty.expired, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_group_of_500_behind_a_failing_head_is_dead_lettered_with_a_reason_and_none_expires() {
    // 500 messages of one group at the start; Sinch refuses them (503) for the whole run; a
    // budget of 10 minutes and a retention of 30, compressed.
    let burst = Outbound {
        per: 50,
        total: Some(500),
        ..Outbound::every(EU, 10, 1)
    };
    let mut scenario = Scenario::healthy("500 in one group, Sinch down", 60)
        .with_traffic(&[EU], &[burst])
        .with_params(&[("RetryForSeconds", "600")])
        .with_fault(Fault::ProjectDown("proj-eu"), 0, 60);
    scenario.callbacks_every_s = 0;
    scenario.retention_s = Some(1800);
    let r = run(&scenario).await;
    report("500 in one group", &r);
    assert!(r.delivered.is_empty());
    assert_eq!(r.dead_letters.len(), 500, "every record dead-lettered");
    assert_eq!(r.expired, 0, "none deleted by retention");
    for m in &r.dead_letters {
        let attr = |k: &str| m.attributes.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            attr("dead_letter_reason"),
            Some("retry_budget_exhausted"),
            "{:?}",
            m.attributes
        );
        assert_eq!(attr("last_cause"), Some("server_error"));
        assert!(attr("source_queue").is_some_and(|q| q.ends_with("-outbound.fifo")));
    }
    // In the group's order, so a redrive replays them in order.
    let texts: Vec<String> = r
        .dead_letters
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
            v["message"]["text_message"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_group_order(&texts, "dead letters");
}
