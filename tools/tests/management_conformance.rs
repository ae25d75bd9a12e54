//! The management calls the bridge makes, checked against Sinch's official spec
//! (`$SINCH_CONFORMANCE_DIR/openapi/management.yaml`, never copied here): the bodies of
//! create and patch as the mock received them validate against the spec's schemas, PATCH sends
//! `update_mask` as one comma-joined value (`explode: false`), and every field, trigger,
//! processing mode and channel status our types read is named in the spec. Skipped, saying
//! so, when the directory is not set.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bridge_tools::mock::{MockApp, MockConfig, on_loopback};
use serde_json::{Value, json};
use sinch_bridge::adapters::{HttpsSinchClient, https_client};
use sinch_bridge::clock::SystemClock;
use sinch_bridge::protocol::{MessagingService, Region, SecretString};
use sinch_bridge::setup::management::{ManagementEndpoints, Webhook};
use sinch_bridge::setup::sync::{Desired, Plan, plan};

const APP: &str = "01HZX5SETUPAPP0000000000C1";

fn spec() -> Option<Value> {
    let Some(dir) = std::env::var_os("SINCH_CONFORMANCE_DIR") else {
        println!("management conformance: skipped, SINCH_CONFORMANCE_DIR is not set");
        return None;
    };
    let path = PathBuf::from(dir).join("openapi/management.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let yaml: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    Some(serde_json::to_value(yaml).unwrap())
}

/// A validator for `schema`, resolving `#/components/…` references inside the spec.
fn validator(spec: &Value, schema: Value) -> jsonschema::Validator {
    let mut root = schema;
    root["components"] = spec["components"].clone();
    jsonschema::draft4::new(&root).unwrap()
}

#[tokio::test]
async fn create_and_patch_bodies_and_the_update_mask_follow_the_official_spec() {
    let Some(spec) = spec() else { return };
    let config = MockConfig::for_tests(vec![MockApp::new(APP, Region::Eu, "proj")], "key", "key-secret", false);
    let running = on_loopback(config).await.unwrap();
    let (url, mock) = (running.url.clone(), running.state.clone());

    let service = MessagingService::from_json(
        "svc",
        json!({"region": "eu", "project_id": "proj", "key_id": "key", "key_secret": "key-secret",
               "webhook_secret": "first", "apps": {APP: {}}})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let endpoints = ManagementEndpoints::new(
        HttpsSinchClient::new(https_client().unwrap(), Duration::from_secs(5)),
        &format!("{url}/oauth2/token"),
        Some(url.clone()),
        Arc::new(SystemClock),
    );
    let api = endpoints.for_service(&service);
    let mut desired = Desired {
        app_id: APP.into(),
        base: "https://bridge.example".into(),
        service: "svc".into(),
        secret: Some(SecretString::new("first")),
        triggers: BTreeSet::from(["MESSAGE_DELIVERY".to_owned(), "MESSAGE_INBOUND".to_owned()]),
        reset_secret: false,
    };
    let Plan::Create(webhook) = plan(&[], &desired, None) else {
        panic!()
    };
    api.create_webhook(&webhook).await.unwrap();
    desired.secret = Some(SecretString::new("second"));
    desired.triggers.insert("OPT_IN".into());
    let existing = api.list_webhooks(APP).await.unwrap();
    let Plan::Update { webhook, mask, .. } = plan(&existing, &desired, None) else {
        panic!()
    };
    api.update_webhook(&webhook, &mask).await.unwrap();

    let create = validator(
        &spec,
        json!({"allOf": [{"$ref": "#/components/schemas/Webhook"}, {"required": ["app_id"]}]}),
    );
    let patch = validator(&spec, json!({"$ref": "#/components/schemas/Webhook"}));
    let requests = mock.management_requests();
    let writes: Vec<&Value> = requests.iter().filter(|r| r["method"] != "GET").collect();
    assert_eq!(writes.len(), 2, "{requests:?}");
    let (post, patched) = (writes[0], writes[1]);
    assert_eq!(
        (post["method"].as_str(), post["path"].as_str()),
        (Some("POST"), Some("/eu/v1/projects/proj/webhooks"))
    );
    let errors: Vec<String> = create.iter_errors(&post["body"]).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "create body: {errors:?}");
    assert_eq!(
        post["body"]["target_type"], "HTTP",
        "the spec's default DISMISS would send nothing"
    );

    assert_eq!(patched["method"], "PATCH");
    let errors: Vec<String> = patch.iter_errors(&patched["body"]).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "patch body: {errors:?}");
    // The spec's update_mask parameter: one query value, comma-joined (explode: false).
    let parameter = &spec["components"]["parameters"]["update_mask"];
    assert_eq!(
        (parameter["name"].as_str(), parameter["explode"].as_bool()),
        (Some("update_mask"), Some(false))
    );
    assert_eq!(patched["query"], "update_mask=secret,triggers");
    // A secret the answer holds is never printed by our types.
    let answer: Webhook = serde_json::from_value(mock.webhooks()[0].to_json()).unwrap();
    assert!(!format!("{answer:?}").contains("second"));
}

#[test]
fn the_spec_names_every_field_and_value_our_types_read() {
    let Some(spec) = spec() else { return };
    // Every property our App and Webhook read exists in the spec under that name.
    let schemas = &spec["components"]["schemas"];
    for field in ["id", "app_id", "target", "target_type", "secret", "triggers"] {
        assert!(schemas["Webhook"]["properties"].get(field).is_some(), "Webhook.{field}");
    }
    for field in ["id", "display_name", "processing_mode", "channel_credentials"] {
        assert!(
            schemas["AppResponse"]["properties"].get(field).is_some(),
            "AppResponse.{field}"
        );
    }
    let common = &schemas["ChannelCredentialsCommonTypes"]["properties"];
    assert!(common.get("channel").is_some() && common.get("state").is_some());
    let modes: Vec<&str> = schemas["ProcessingMode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        modes.contains(&"DISPATCH") && modes.contains(&"CONVERSATION"),
        "{modes:?}"
    );
    let statuses = &schemas["ChannelIntegrationState"]["properties"]["status"];
    let statuses = statuses["enum"].as_array().cloned().or_else(|| {
        let name = statuses["$ref"].as_str()?.rsplit('/').next()?;
        schemas[name]["enum"].as_array().cloned()
    });
    let statuses: Vec<String> = statuses
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    for status in ["PENDING", "ACTIVE", "FAILING"] {
        assert!(statuses.iter().any(|s| s == status), "{status} in {statuses:?}");
    }
    // The trigger names we subscribe are the spec's.
    let triggers: Vec<&str> = schemas["WebhookTrigger"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for trigger in sinch_bridge::protocol::Trigger::ALL {
        assert!(
            triggers.contains(&trigger.as_str()),
            "{} is not a WebhookTrigger",
            trigger.as_str()
        );
    }
}
