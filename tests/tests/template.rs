//! Security-relevant facts of `template.yaml`, asserted so a later edit cannot silently
//! weaken them: least-privilege IAM, redrive and encryption on every queue, partial batch
//! responses, tracing and JSON logs.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use serde_json::{Value, json};

/// The template as JSON, short-form tags in their long form (`{"Ref": x}`, `{"Fn::If": …}`).
fn template() -> Value {
    bridge_tests::cfn::Template::load().json
}

fn resources(t: &Value) -> Vec<(String, Value)> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn of_type(t: &Value, ty: &str) -> Vec<(String, Value)> {
    resources(t).into_iter().filter(|(_, r)| r["Type"] == ty).collect()
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

/// A conditional statement (`!If [cond, statement, !Ref AWS::NoValue]`) as the statements it
/// can become; any other value as itself.
fn branches(v: &Value) -> Vec<Value> {
    match v.get("Fn::If").and_then(Value::as_array) {
        Some(parts) => parts
            .iter()
            .skip(1)
            .filter(|p| p.get("Effect").is_some())
            .cloned()
            .collect(),
        None => vec![v.clone()],
    }
}

fn statements(t: &Value) -> Vec<(String, Value)> {
    of_type(t, "AWS::IAM::Role")
        .into_iter()
        .flat_map(|(name, role)| {
            as_list(&role["Properties"]["Policies"])
                .into_iter()
                .flat_map(|p| as_list(&p["PolicyDocument"]["Statement"]))
                .flat_map(|s| branches(&s))
                .map(move |s| (name.clone(), s))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn no_wildcard_actions_anywhere() {
    let t = template();
    for (role, s) in statements(&t) {
        for action in as_list(&s["Action"]) {
            let a = action.as_str().unwrap_or_default();
            assert!(!a.contains('*'), "{role}: wildcard action {a}");
        }
    }
}

#[test]
fn wildcard_resources_only_for_xray() {
    let t = template();
    for (role, s) in statements(&t) {
        if as_list(&s["Resource"]).iter().any(|r| r == "*") {
            for action in as_list(&s["Action"]) {
                assert!(
                    action.as_str().unwrap_or_default().starts_with("xray:"),
                    "{role}: {action} on *"
                );
            }
        }
    }
}

#[test]
fn secrets_are_readable_only_under_the_prefix_and_only_read() {
    let t = template();
    let mut seen = 0;
    for (role, s) in statements(&t) {
        let actions = as_list(&s["Action"]);
        if actions
            .iter()
            .any(|a| a.as_str().unwrap_or_default().starts_with("secretsmanager:"))
        {
            seen += 1;
            let want = if role == "SecretRotationRole" {
                json!([
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage"
                ])
            } else {
                json!(["secretsmanager:GetSecretValue"])
            };
            assert_eq!(json!(actions), want, "{role}");
            let resource = s["Resource"]["Fn::Sub"].as_str().unwrap_or_default();
            assert!(
                resource.ends_with(":secret:${ServiceSecretPrefix}*"),
                "{role}: {resource}"
            );
        }
    }
    assert_eq!(
        seen, 3,
        "the two functions read service secrets; the rotation writes them"
    );
}

#[test]
fn queue_access_is_per_queue_and_minimal() {
    let t = template();
    let sqs: Vec<(String, Vec<String>, Value)> = statements(&t)
        .into_iter()
        .filter_map(|(role, s)| {
            let actions: Vec<String> = as_list(&s["Action"])
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect();
            actions
                .iter()
                .any(|a| a.starts_with("sqs:"))
                .then(|| (role, actions, s["Resource"].clone()))
        })
        .collect();
    for (role, actions, resource) in &sqs {
        assert!(!as_list(resource).iter().any(|r| r == "*"), "{role}");
        if role == "WebhookIngestRole" {
            assert_eq!(actions, &vec!["sqs:SendMessage".to_owned()]);
            assert_eq!(resource, &json!({"Fn::GetAtt": ["EventsQueue", "Arn"]}));
        }
    }
    let sender: Vec<_> = sqs.iter().filter(|(r, _, _)| r == "SenderRole").collect();
    let consume = sender
        .iter()
        .find(|(_, a, _)| a.contains(&"sqs:ReceiveMessage".to_owned()))
        .expect("sender consumes");
    assert_eq!(
        consume.2,
        json!([{"Fn::GetAtt": ["OutboundQueue", "Arn"]}, {"Fn::GetAtt": ["OutboundRetryQueue", "Arn"]}])
    );
    let send = sender
        .iter()
        .find(|(_, a, _)| a == &vec!["sqs:SendMessage".to_owned()])
        .expect("sender dead-letters");
    let written = send.2.to_string();
    assert!(written.contains(r#"["OutboundDeadLetterQueue","Arn"]"#));
    assert!(written.contains(r#"["OutboundRetryQueue","Arn"]"#));
    assert!(
        !written.contains(r#"["OutboundQueue","Arn"]"#),
        "sender never writes the queue upstream systems write"
    );
}

#[test]
fn every_queue_holds_the_largest_message_sqs_allows() {
    // A queue created with an older default (256 KiB) would refuse bodies the ingest accepts.
    for (name, q) in of_type(&template(), "AWS::SQS::Queue") {
        assert_eq!(q["Properties"]["MaximumMessageSize"], 1048576, "{name}");
    }
}

#[test]
fn the_window_reaches_the_functions_only_when_set_and_the_grace_follows_it() {
    let t = template();
    let env = |f: &str| t["Resources"][f]["Properties"]["Environment"]["Variables"].clone();
    for (function, var, param, condition) in [
        (
            "WebhookIngestFunction",
            "SIGNATURE_TOLERANCE_SECONDS",
            "SignatureWindowSeconds",
            "HasTolerance",
        ),
        (
            "SecretRotationFunction",
            "SIGNATURE_TOLERANCE_SECONDS",
            "SignatureWindowSeconds",
            "HasTolerance",
        ),
    ] {
        // Empty by default: the function picks the default that fits its replay protection.
        assert_eq!(t["Parameters"][param]["Default"], "", "{param}");
        assert_eq!(
            env(function)[var]["Fn::If"],
            json!([condition, {"Ref": param}, {"Ref": "AWS::NoValue"}]),
            "{function} {var}"
        );
    }
    // The grace is the window (at least an hour), never a parameter of its own: no deployable
    // value can be shorter than the window and stop the rotation from starting.
    for function in ["WebhookIngestFunction", "SecretRotationFunction"] {
        assert!(
            env(function).get("PREVIOUS_SECRET_GRACE_SECONDS").is_none(),
            "{function}"
        );
    }
    for function in ["WebhookIngestFunction", "SecretRotationFunction"] {
        assert_eq!(
            env(function)["NONCE_TABLE_NAME"]["Fn::If"],
            json!(["UseNonceTable", {"Ref": "NonceTable"}, ""]),
            "{function}"
        );
    }
}

#[test]
fn nonce_table_is_on_demand_encrypted_expiring_and_only_claimed_by_the_ingest() {
    let t = template();
    assert_eq!(t["Parameters"]["ReplayProtection"]["Default"], "table");
    let table = &t["Resources"]["NonceTable"];
    assert_eq!(table["Condition"], "UseNonceTable");
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(p["KeySchema"], json!([{"AttributeName": "nonce", "KeyType": "HASH"}]));
    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": "expires_at", "Enabled": true})
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]["Ref"],
        "NoncePointInTimeRecovery"
    );
    assert_eq!(t["Parameters"]["NoncePointInTimeRecovery"]["Default"], "false");

    let dynamo: Vec<_> = statements(&t)
        .into_iter()
        .filter(|(_, s)| {
            as_list(&s["Action"])
                .iter()
                .any(|a| a.as_str().unwrap_or_default().starts_with("dynamodb:"))
        })
        .collect();
    assert_eq!(dynamo.len(), 3, "{dynamo:?}");
    let by_role = |role: &str| dynamo.iter().find(|(r, _)| r == role).map(|(_, s)| s.clone()).unwrap();
    // The sender reads and counts in its own table only, never the nonces.
    let sender = by_role("SenderRole");
    assert_eq!(sender["Resource"], json!({"Fn::GetAtt": ["SenderStateTable", "Arn"]}));
    assert_eq!(
        sender["Action"],
        json!(["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"])
    );
    let ingest = by_role("WebhookIngestRole");
    assert_eq!(
        ingest["Action"],
        json!(["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"])
    );
    // The rotation only reads which secret Sinch signs with.
    let rotation = by_role("SecretRotationRole");
    assert_eq!(rotation["Action"], json!("dynamodb:GetItem"));
    for s in [ingest, rotation] {
        assert_eq!(s["Resource"], json!({"Fn::GetAtt": ["NonceTable", "Arn"]}));
    }
}

#[test]
fn a_failing_nonce_table_raises_an_alarm() {
    let t = template();
    let alarm = &t["Resources"]["NonceStoreAlarm"];
    assert_eq!(alarm["Condition"], "UseNonceTable");
    let p = &alarm["Properties"];
    assert_eq!(
        (&p["Namespace"], &p["MetricName"]),
        (&json!("SinchBridge"), &json!("NonceStoreFailed"))
    );
    assert_eq!(
        p["Dimensions"],
        json!([{"Name": "Function", "Value": "webhook-ingest"}])
    );
}

#[test]
fn every_queue_is_encrypted_and_every_source_queue_has_a_redrive() {
    let t = template();
    let queues = of_type(&t, "AWS::SQS::Queue");
    assert!(queues.len() >= 4);
    for (name, q) in &queues {
        let p = &q["Properties"];
        assert_eq!(p["SqsManagedSseEnabled"], true, "{name} encrypted");
        if name.contains("DeadLetter") {
            assert_eq!(p["MessageRetentionPeriod"], 1209600, "{name} keeps 14 days");
            assert_eq!(p["RedriveAllowPolicy"]["redrivePermission"], "byQueue", "{name}");
        } else {
            assert!(
                p["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
                    .as_str()
                    .is_some_and(|a| a.contains("DeadLetter")),
                "{name} redrives"
            );
            // The sender's queues redrive at a fixed 1000 (a safety net behind its budget); the
            // consumers' queues at the operator's MaxReceiveCount.
            let limit = if name.starts_with("Outbound") {
                json!(1000)
            } else {
                json!({"Ref": "MaxReceiveCount"})
            };
            assert_eq!(p["RedrivePolicy"]["maxReceiveCount"], limit, "{name}");
        }
    }
}

#[test]
fn sender_reports_partial_batch_failures_with_bounded_concurrency() {
    let t = template();
    let event = &t["Resources"]["SenderFunction"]["Properties"]["Events"]["Outbound"];
    assert_eq!(event["Type"], "SQS");
    assert_eq!(
        event["Properties"]["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(
        event["Properties"]["ScalingConfig"]["MaximumConcurrency"],
        json!({"Ref": "SenderMaximumConcurrency"})
    );
}

#[test]
fn functions_trace_log_json_and_build_with_cargo_lambda() {
    let t = template();
    assert_eq!(t["Globals"]["Function"]["Tracing"], "Active");
    assert_eq!(t["Globals"]["Function"]["Runtime"], "provided.al2023");
    for (name, f) in of_type(&t, "AWS::Serverless::Function") {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        assert_eq!(f["Properties"]["LoggingConfig"]["LogFormat"], "JSON", "{name}");
        let group = f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .expect("explicit log group");
        assert!(
            t["Resources"][group]["Properties"]["RetentionInDays"].is_object(),
            "{name} log retention"
        );
    }
}

#[test]
fn outbound_visibility_covers_six_sender_timeouts() {
    let t = template();
    let vt = t["Resources"]["OutboundQueue"]["Properties"]["VisibilityTimeout"]["Fn::Sub"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(vt, "${SenderTimeoutSeconds}0", "ten times the timeout");
}

/// Receives one record can use in its retry budget with the sender's default backoff: 10 s
/// doubling to 900 s, each wait at least half its value (the jitter's lower half).
fn receives_within(budget_seconds: f64) -> f64 {
    let (mut elapsed, mut receives, mut full) = (0.0, 0.0, 10.0_f64);
    while elapsed < budget_seconds {
        elapsed += full / 2.0;
        receives += 1.0;
        full = (full * 2.0).min(900.0);
    }
    receives
}

#[test]
fn the_sender_s_redrive_is_only_a_safety_net_behind_the_longest_retry_budget() {
    let t = template();
    let p = &t["Parameters"];
    let longest = p["RetryForSeconds"]["MaxValue"].as_f64().unwrap();
    for queue in ["OutboundQueue", "OutboundRetryQueue"] {
        let q = &t["Resources"][queue]["Properties"];
        let limit = q["RedrivePolicy"]["maxReceiveCount"].as_f64().unwrap();
        // In the retry queue every receive is an attempt (FIFO batches of one record): the
        // longest budget's attempts stay below the limit, so SQS never moves a record without
        // the sender's reason.
        assert!(
            receives_within(longest) < limit,
            "{queue}: {} receives in a {longest} s budget, limit {limit}",
            receives_within(longest)
        );
        // SQS never deletes a record the sender still retries: the budget counts from the
        // enqueue, and ends with room to spare before the retention.
        let retention = q["MessageRetentionPeriod"].as_f64().unwrap();
        assert!(longest + 7.0 * 86_400.0 <= retention, "{queue}: retention {retention}");
    }
    let retry = &t["Resources"]["SenderFunction"]["Properties"]["Events"]["Retries"]["Properties"];
    assert_eq!(retry["BatchSize"], json!({"Fn::If": ["IsFifo", 1, 10]}));
    // The retry queue's delay is the first backoff.
    assert_eq!(
        t["Resources"]["OutboundRetryQueue"]["Properties"]["DelaySeconds"].as_u64(),
        Some(sinch_bridge::send::config::DEFAULT_RETRY_BASE.as_secs())
    );
    let env = &t["Resources"]["SenderFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(env["RETRY_FOR_SECONDS"]["Ref"], "RetryForSeconds");
    assert_eq!(env["FUNCTION_TIMEOUT_SECONDS"]["Ref"], "SenderTimeoutSeconds");
}

#[test]
fn a_refused_access_key_raises_an_alarm() {
    let t = template();
    let alarm = &t["Resources"]["SenderAuthRejectedAlarm"]["Properties"];
    assert_eq!(alarm["Namespace"], "SinchBridge");
    assert_eq!(alarm["MetricName"], "AuthRejected");
    assert_eq!(alarm["Dimensions"][0]["Value"], "sender");
}

#[test]
fn webhook_route_is_throttled_and_logged() {
    let t = template();
    let api = &t["Resources"]["WebhookApi"]["Properties"];
    assert!(api["DefaultRouteSettings"]["ThrottlingRateLimit"].is_object());
    assert!(api["AccessLogSettings"]["DestinationArn"].is_object());
    let route = &t["Resources"]["WebhookIngestFunction"]["Properties"]["Events"]["Webhook"]["Properties"];
    assert_eq!(
        (route["Method"].as_str(), route["Path"].as_str()),
        (Some("POST"), Some("/webhooks/{service}"))
    );
}

#[test]
fn ingest_timeouts_fit_the_nonce_claim_lease() {
    let t = template();
    let f = &t["Resources"]["WebhookIngestFunction"]["Properties"];
    let timeout = f["Timeout"].as_u64().unwrap();
    let api_ms = f["Events"]["Webhook"]["Properties"]["TimeoutInMillis"]
        .as_u64()
        .unwrap();
    let aws_ms: u64 = f["Environment"]["Variables"]["AWS_TIMEOUT_MS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let nonce_ms = sinch_bridge::ingest::DEFAULT_NONCE_TIMEOUT.as_millis() as u64;
    // A secret fetch and the enqueue, then the claim and the confirmation, all fit the function.
    assert!(2 * aws_ms + 2 * nonce_ms <= timeout * 1000, "{timeout} s");
    assert!(timeout * 1000 < api_ms && api_ms <= 30_000, "{api_ms} ms");
    // No claim lapses while its holder (or API Gateway, waiting for it) may still be running.
    assert!(sinch_bridge::ingest::DEFAULT_CLAIM_LEASE_SECONDS * 1000 > api_ms);
}

#[test]
fn only_this_accounts_secrets_manager_may_invoke_the_rotation() {
    let t = template();
    let permissions = of_type(&t, "AWS::Lambda::Permission");
    assert_eq!(permissions.len(), 1);
    let p = &permissions[0].1["Properties"];
    assert_eq!(
        p["FunctionName"],
        json!({"Fn::GetAtt": ["SecretRotationFunction", "Arn"]})
    );
    assert_eq!(p["Principal"], "secretsmanager.amazonaws.com");
    assert_eq!(p["Action"], "lambda:InvokeFunction");
    assert_eq!(p["SourceAccount"], json!({"Ref": "AWS::AccountId"}));
    let env = &t["Resources"]["SecretRotationFunction"]["Properties"]["Environment"]["Variables"];
    assert!(
        env["WEBHOOK_BASE_URL"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .ends_with("/webhooks/")
    );
}

/// What a template value sets: the `Ref`s inside it (a parameter or a resource), the
/// `!Sub`/`!GetAtt` it is built from, or a literal.
fn refs_in(v: &Value) -> Vec<String> {
    match v {
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, inner)| match (k.as_str(), inner) {
                ("Ref", Value::String(name)) => vec![name.clone()],
                _ => refs_in(inner),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(refs_in).collect(),
        _ => vec![],
    }
}

#[test]
fn each_function_gets_only_declared_variables_every_required_one_and_each_from_its_source() {
    use sinch_bridge::config::{FUNCTIONS, Fallback, Source};
    let t = template();
    for function in &FUNCTIONS {
        let props = &t["Resources"][function.logical_id]["Properties"];
        let env = props["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, value) in &env {
            let setting = function
                .get(name)
                .unwrap_or_else(|| panic!("{} sets {name}, which the code does not declare", function.logical_id));
            let refs = refs_in(value);
            let from = |id: &str| refs.iter().any(|r| r == id);
            let ok = match setting.source {
                Source::Parameter(p) => from(p),
                Source::Queue(id) | Source::Table(id) => from(id),
                Source::WebhookBase => {
                    value.to_string().contains("${WebhookApi}") && value.to_string().contains("/webhooks/")
                }
                Source::Literal(v) => value.as_str() == Some(v),
                Source::Lambda | Source::Unset => false,
            };
            assert!(
                ok,
                "{}: {name} = {value} is not from its declared source {:?}",
                function.logical_id, setting.source
            );
        }
        for setting in function.settings() {
            let set_by_template = !matches!(setting.source, Source::Lambda | Source::Unset);
            if setting.fallback == Fallback::Required && setting.source != Source::Lambda {
                assert!(
                    env.contains_key(setting.name),
                    "{} does not set required {}",
                    function.logical_id,
                    setting.name
                );
            }
            if set_by_template {
                assert!(
                    env.contains_key(setting.name),
                    "{}: {} is declared as set by the template ({:?}) but is not",
                    function.logical_id,
                    setting.name,
                    setting.source
                );
            }
        }
    }
}

/// Each alarm: its description ends with the link to a runbook that exists, it notifies the
/// topic when it fires and when it clears, and it clears by itself (missing data is never
/// breaching).
#[test]
fn every_alarm_has_a_runbook_notifies_both_ways_and_clears_by_itself() {
    let topic = "arn:aws:sns:eu-west-1:123456789012:on-call";
    let stack = bridge_tests::cfn::Template::load()
        .stack(
            "s",
            &[
                ("ServiceNames", "a"),
                ("EnableSentQueue", "true"),
                ("AlarmTopicArn", topic),
            ],
        )
        .unwrap();
    let operations = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md")).unwrap();
    let alarms = stack.resources_of_type("AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 16);
    for (id, alarm) in alarms {
        let p = &alarm["Properties"];
        let link = format!("Runbook docs/operations.md#{}", id.to_ascii_lowercase());
        assert!(
            p["AlarmDescription"].as_str().unwrap().ends_with(&link),
            "{id}: its description ends with {link}"
        );
        assert!(
            operations.contains(&format!("\n### {id}\n")),
            "{id}: no runbook in operations.md"
        );
        assert_eq!(p["AlarmActions"], json!([topic]), "{id}");
        assert_eq!(p["OKActions"], json!([topic]), "{id}");
        assert_eq!(p["TreatMissingData"], "notBreaching", "{id}");
    }
}

/// SQS's longest retention on the queues your consumers read: a consumer stalled over a long
/// weekend loses nothing (EventsAgeAlarm pages long before).
#[test]
fn the_queues_consumers_read_keep_messages_fourteen_days() {
    let stack = bridge_tests::cfn::Template::load()
        .stack("s", &[("ServiceNames", "a"), ("EnableSentQueue", "true")])
        .unwrap();
    for id in ["EventsQueue", "SentQueue", "OutboundQueue"] {
        assert_eq!(
            stack.resource(id)["Properties"]["MessageRetentionPeriod"],
            1_209_600,
            "{id}"
        );
    }
}

/// docs/reference.md's parameter table is the template's parameters: name, default, what is
/// allowed and the description, row for row.
#[test]
fn the_reference_parameter_table_is_the_template() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reference.md")).unwrap();
    let start = doc.find("| parameter | default | allowed | what |").unwrap();
    let mut documented: Vec<Vec<String>> = doc[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            row.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().replace("\\|", "|"))
                .collect()
        })
        .collect();
    let code = |v: &str| {
        if v.is_empty() {
            "\"\"".to_owned()
        } else {
            format!("`{v}`")
        }
    };
    let mut expected: Vec<Vec<String>> = bridge_tests::cfn::Template::load()
        .parameters()
        .into_iter()
        .map(|p| {
            let allowed = if let Some(values) = &p.allowed_values {
                values.iter().map(|v| code(v)).collect::<Vec<_>>().join(", ")
            } else if p.min.is_some() || p.max.is_some() {
                format!(
                    "{}–{}",
                    p.min.map(|n| n.to_string()).unwrap_or_default(),
                    p.max.map(|n| n.to_string()).unwrap_or_default()
                )
            } else if let Some(pattern) = &p.allowed_pattern {
                format!("`{pattern}`")
            } else {
                "any".to_owned()
            };
            vec![
                format!("`{}`", p.name),
                p.default.as_deref().map_or("(required)".to_owned(), code),
                allowed,
                p.description.split_whitespace().collect::<Vec<_>>().join(" "),
            ]
        })
        .collect();
    // Compared in name order (the template is read into an unordered map).
    documented.sort();
    expected.sort();
    assert_eq!(documented, expected, "regenerate the table from template.yaml");
}

/// docs/reference.md's alarm table: every alarm, each with its window as the template sets it.
#[test]
fn the_reference_alarm_table_is_the_template() {
    use bridge_tests::cloudwatch::alarm::Alarm;
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reference.md")).unwrap();
    let start = doc.find("| alarm | fires when | window |").unwrap();
    let mut documented = std::collections::BTreeMap::new();
    for row in doc[start..].lines().skip(2).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        for name in cells[0].split('`').skip(1).step_by(2) {
            documented.insert(name.to_owned(), cells[2].to_owned());
        }
    }
    let stack = bridge_tests::cfn::Template::load()
        .stack("s", &[("ServiceNames", "a"), ("EnableSentQueue", "true")])
        .unwrap();
    let mut expected = std::collections::BTreeMap::new();
    for (id, resource) in stack.resources_of_type("AWS::CloudWatch::Alarm") {
        let a = Alarm::from_resource(&id, &resource).unwrap();
        let period = if a.period_s % 60 == 0 {
            format!("{} min", a.period_s / 60)
        } else {
            format!("{} s", a.period_s)
        };
        expected.insert(
            id,
            format!(
                "{} × {period}, {} breaching",
                a.evaluation_periods, a.datapoints_to_alarm
            ),
        );
    }
    assert_eq!(documented, expected);
}

/// A user who runs `sam build` with the defaults gets what CI builds and checks on every change.
#[test]
fn the_default_architecture_is_the_one_ci_builds_and_checks() {
    let t = template();
    assert_eq!(t["Parameters"]["Architecture"]["Default"], "x86_64");
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/run")).unwrap();
    let steps: Vec<&str> = ci.lines().map(str::trim).collect();
    let build = steps.iter().position(|l| *l == "scripts/sam-build.sh");
    let check = steps.iter().position(|l| *l == "scripts/check-bootstraps.sh");
    assert!(
        build.is_some() && check > build,
        "CI builds with the default architecture, then checks the bootstraps"
    );
}

/// The build tools are the versions CI verified: every line of the pin file names one exact
/// version, and no script installs a tool by a range.
#[test]
fn the_build_tools_are_pinned_in_one_place() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let pins = std::fs::read_to_string(format!("{root}/infra/build-tools.txt")).unwrap();
    let tools: Vec<&str> = pins
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for tool in [
        "aws-sam-cli",
        "cargo-lambda",
        "ziglang",
        "cfn-lint",
        "cfn-lint-serverless",
    ] {
        assert!(
            tools.iter().any(|l| l
                .split_once("==")
                .is_some_and(|(name, v)| name == tool && !v.is_empty())),
            "{tool} pinned with == in infra/build-tools.txt"
        );
    }
    assert!(tools.iter().all(|l| l.contains("==")), "{tools:?}");
    for script in ["scripts/check-infra.sh", "scripts/sam-build.sh"] {
        let text = std::fs::read_to_string(format!("{root}/{script}")).unwrap();
        for line in text
            .lines()
            .filter(|l| l.contains("pip\" install") || l.contains("pip install"))
        {
            assert!(line.contains("-r \"$pins\""), "{script} installs only the pins: {line}");
        }
    }
}
