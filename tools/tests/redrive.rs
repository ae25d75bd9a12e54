//! `bridgectl dlq redrive` on SQS's move tasks, against a double of them that refuses what SQS
//! refuses (`bridge_tests::move_tasks`): the sender writes its dead letters with `SendMessage`,
//! so a move task that names no destination fails with `CouldNotDetermineMessageSource`; the
//! CLI always names one, from the `source_queue` every dead letter records.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use bridge_tests::move_tasks::MoveTaskDouble;
use bridge_tests::off_task_mock::OffTaskMock;
use bridge_tests::world::{APP, World};
use bridge_tests::{depth, drain, receive, sdk_config_for, send_body, sqs_event_from};
use serde_json::{Value, json};
use wiremock::matchers::{any, path};
use wiremock::{Mock, ResponseTemplate};

async fn queue_arn(sqs: &Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone()
}

/// Six messages in three FIFO groups, each refused by Sinch (400) and dead-lettered by the
/// real sender, as Lambda's event source would hand them over.
async fn sender_dead_letters(w: &World) {
    let sinch = OffTaskMock::start().await;
    Mock::given(path("/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "t", "expires_in": 3600})))
        .mount(&sinch)
        .await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": {"code": 400, "status": "INVALID_ARGUMENT"}})),
        )
        .mount(&sinch)
        .await;
    let sender = w.sender(&sinch.uri(), |c, _| c.sent_queue_url = None);
    for i in 0..6 {
        let body = json!({"app_id": APP, "channel": "SMS", "to": "+15550000",
            "message": {"text_message": {"text": format!("g{}-{i}", i % 3)}}})
        .to_string();
        send_body(&w.sqs, &w.outbound, &body, Some(&format!("g{}", i % 3))).await;
    }
    let arn = queue_arn(&w.sqs, &w.outbound).await;
    loop {
        let batch = receive(&w.sqs, &w.outbound, 30).await;
        if batch.is_empty() {
            break;
        }
        let event = serde_json::from_value(sqs_event_from(&arn, &batch)).unwrap();
        let response = sender::handle(
            &sender,
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
        )
        .await
        .unwrap();
        assert!(response.batch_item_failures.is_empty(), "every record dead-lettered");
        for m in &batch {
            bridge_tests::delete(&w.sqs, &w.outbound, m).await;
        }
    }
}

/// A FIFO world as the template builds it: the outbound queue's redrive names the DLQ (a move
/// task's source must be some queue's DLQ), at a limit the sender's budget never reaches.
async fn fifo_world() -> World {
    World::start(|s| {
        s.fifo = true;
        s.redrive_max_receives = Some(1000);
    })
    .await
}

async fn bridgectl(endpoint: &str, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bridgectl"));
    command.arg("--endpoint-url").arg(endpoint).args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_without_a_destination_moves_every_sender_dead_letter_back_with_its_group() {
    let w = fifo_world().await;
    sender_dead_letters(&w).await;
    assert_eq!(depth(&w.sqs, &w.dlq).await, 6);
    let outbound_arn = queue_arn(&w.sqs, &w.outbound).await;
    let dlq_arn = queue_arn(&w.sqs, &w.dlq).await;
    let double = MoveTaskDouble::start(&w.moto.endpoint).await;

    // What README's old command did: a move task without a destination. SQS refuses it.
    let via_double = Client::new(&sdk_config_for(&double.url()).await);
    via_double
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .send()
        .await
        .unwrap();
    let tasks = via_double
        .list_message_move_tasks()
        .source_arn(&dlq_arn)
        .send()
        .await
        .unwrap();
    let task = &tasks.results()[0];
    assert_eq!(task.status(), Some("FAILED"));
    assert_eq!(task.failure_reason(), Some("CouldNotDetermineMessageSource"));
    assert_eq!(depth(&w.sqs, &w.dlq).await, 6, "nothing moved");

    // bridgectl, no --to-url: the destination is the queue the dead letters name.
    let out = bridgectl(&double.url(), &["dlq", "redrive", "--dlq-url", &w.dlq, "--move-task"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("COMPLETED: 6 moved"), "{stdout}");
    let tasks = via_double
        .list_message_move_tasks()
        .source_arn(&dlq_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.results()[0].destination_arn(), Some(outbound_arn.as_str()));
    assert_eq!(depth(&w.sqs, &w.dlq).await, 0);

    let back = drain(&w.sqs, &w.outbound, 30).await;
    assert_eq!(back.len(), 6, "every dead letter is back on the outbound queue");
    let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &back {
        let body: Value = serde_json::from_str(&m.body).unwrap();
        let text = body["message"]["text_message"]["text"].as_str().unwrap().to_owned();
        let group = m.group_id.clone().unwrap();
        assert!(
            text.starts_with(&format!("{group}-")),
            "{text} came back in group {group}"
        );
        assert_eq!(m.attributes.get("source_queue"), Some(&outbound_arn), "{text}");
        by_group.entry(group).or_default().push(text);
    }
    for (group, texts) in by_group {
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted, "group {group} keeps its order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_is_refused_before_sqs_would_refuse_it() {
    let w = fifo_world().await;
    sender_dead_letters(&w).await;
    let double = MoveTaskDouble::start(&w.moto.endpoint).await;
    // A FIFO DLQ to a standard queue: SQS refuses such a move, so bridgectl does not start it.
    let standard = bridge_tests::create_queue(&w.sqs, &bridge_tests::unique("standard")).await;
    let out = bridgectl(
        &double.url(),
        &[
            "dlq",
            "redrive",
            "--dlq-url",
            &w.dlq,
            "--to-url",
            &standard,
            "--move-task",
        ],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not both FIFO or both standard"), "{stderr}");
    assert_eq!(depth(&w.sqs, &w.dlq).await, 6, "nothing moved");
}
