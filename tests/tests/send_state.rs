//! The sender's state table (`DynamoSendState`) on a real DynamoDB protocol (moto): the count
//! that keeps a FIFO group's order across the outbound and retry queues, and the marks of
//! attempts that may have reached Sinch.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use bridge_tests::{Moto, create_table, unique};
use sinch_bridge::adapters::DynamoSendState;
use sinch_bridge::ports::SendState;

const EXPIRES_AT: i64 = 2_000_000_000;

async fn table(moto: &Moto) -> (aws_sdk_dynamodb::Client, String, DynamoSendState) {
    let dynamodb = moto.dynamodb().await;
    let name = unique("sender-state");
    create_table(&dynamodb, &name, "key").await;
    let state = DynamoSendState::new(dynamodb.clone(), &name);
    (dynamodb, name, state)
}

fn set(groups: &[&str]) -> HashSet<String> {
    groups.iter().map(|g| (*g).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_waits_while_records_of_it_are_parked_and_a_repeated_release_leaves_no_debt() {
    let moto = Moto::start();
    let (dynamodb, name, state) = table(&moto).await;
    state.park("g1", 2, EXPIRES_AT).await.unwrap();
    assert_eq!(state.waiting(&["g1", "g2", "g1"]).await.unwrap(), set(&["g1"]));
    state.release("g1", 1).await.unwrap();
    assert_eq!(state.waiting(&["g1"]).await.unwrap(), set(&["g1"]), "one still waits");
    state.release("g1", 1).await.unwrap();
    assert!(state.waiting(&["g1"]).await.unwrap().is_empty());

    // SQS delivers at least once: the last record's release runs again. The count stays at
    // zero, so the next record parked makes the group wait again (a count of -1 would read 0).
    state.release("g1", 1).await.unwrap();
    state.park("g1", 1, EXPIRES_AT).await.unwrap();
    assert_eq!(state.waiting(&["g1"]).await.unwrap(), set(&["g1"]));

    // A release for a group never parked creates nothing.
    state.release("g9", 1).await.unwrap();
    let item = dynamodb
        .get_item()
        .table_name(&name)
        .key("key", AttributeValue::S("g#g9".into()))
        .send()
        .await
        .unwrap();
    assert!(item.item().is_none(), "{item:?}");
    // The parked group's item expires by TTL.
    let item = dynamodb
        .get_item()
        .table_name(&name)
        .key("key", AttributeValue::S("g#g1".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        item.item().unwrap()["expires_at"],
        AttributeValue::N(EXPIRES_AT.to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_an_attempt_may_have_delivered_is_remembered_and_no_other() {
    let moto = Moto::start();
    let (_, _, state) = table(&moto).await;
    state.note_maybe_sent("rec-1", EXPIRES_AT).await.unwrap();
    assert!(state.maybe_sent("rec-1").await.unwrap());
    assert!(!state.maybe_sent("rec-2").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_that_does_not_answer_is_state_unavailable_not_nothing_waiting() {
    let moto = Moto::start();
    let dynamodb = moto.dynamodb().await;
    let state = DynamoSendState::new(dynamodb, unique("missing"));
    let err = state.waiting(&["g1"]).await.unwrap_err();
    assert_eq!(err.code, "state_unavailable");
    assert_eq!(
        state.park("g1", 1, EXPIRES_AT).await.unwrap_err().code,
        "state_unavailable"
    );
    assert_eq!(state.release("g1", 1).await.unwrap_err().code, "state_unavailable");
}
