//! The local loop's queue list (`bridge_tools::stack::QUEUES`) is the template's: same logical
//! ids, same names after the stack name, same redrive targets, same FIFO behaviour.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use bridge_tools::stack::{QUEUES, spec};

#[test]
fn every_template_queue_is_provisioned_locally_with_the_same_shape() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let template: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut in_template = Vec::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::SQS::Queue") {
            continue;
        }
        let id = id.as_str().unwrap();
        in_template.push(id.to_owned());
        let local = spec(id).unwrap_or_else(|| panic!("{id} is not provisioned by the local loop"));
        let rendered = format!("{:?}", resource["Properties"]["QueueName"]);
        assert!(
            rendered.contains(&format!("${{AWS::StackName}}-{}", local.suffix)),
            "{id}: {rendered}"
        );
        assert_eq!(
            rendered.contains(".fifo"),
            local.follows_queue_type,
            "{id} FIFO behaviour"
        );
        let redrive = format!("{:?}", resource["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]);
        match local.dead_letter {
            Some(dlq) => assert!(
                redrive.contains(&format!("{dlq}.Arn")),
                "{id} redrives to {dlq}: {redrive}"
            ),
            None => assert!(resource["Properties"]["RedrivePolicy"].is_null(), "{id} is a DLQ"),
        }
    }
    let mut local: Vec<String> = QUEUES.iter().map(|q| q.logical_id.to_owned()).collect();
    local.sort();
    in_template.sort();
    assert_eq!(local, in_template);
}
