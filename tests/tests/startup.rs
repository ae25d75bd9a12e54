//! Every stack CloudFormation would deploy from the template starts every function, and AWS
//! accepts what the template asks of it. For each function, every combination of the values at
//! the bounds of the parameters its environment depends on (each parameter's allowed values,
//! or its range's ends, or samples of its pattern) becomes the environment Lambda would give
//! it, which the function's own configuration parsers must accept: a parameter whose bound
//! makes a function refuse to start fails here, not at 3 a.m. after a deploy. Plus the limits
//! AWS sets on what the template builds: event source mapping sizes, name lengths, log groups.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;

use bridge_tests::cfn::{Parameter, Stack, Template};
use sinch_bridge::adapters::AwsSettings;
use sinch_bridge::config::Lookup;
use sinch_bridge::logging::LogSettings;

/// Values for parameters that are free text (a pattern), each one CloudFormation accepts.
fn samples(p: &Parameter) -> Vec<&'static str> {
    match p.name.as_str() {
        "ServiceNames" => vec![
            "a",
            "eu-main,us_2,br3",
            "a234567890123456789012345678901234567890123456789012345678901234",
        ],
        "ServiceSecretPrefix" => vec!["sinch-bridge/services/", "a/", "team+x=y.z@v_u-t/"],
        "AlarmTopicArn" => vec!["", "arn:aws:sns:eu-west-1:123456789012:on-call"],
        _ => vec![],
    }
}

fn env_lookup(env: &BTreeMap<String, String>) -> impl Lookup + '_ {
    move |k: &str| env.get(k).cloned().filter(|v| !v.is_empty())
}

/// What the function's `main` parses before it serves anything.
fn starts(function: &str, env: &BTreeMap<String, String>) -> Result<(), String> {
    let env = env_lookup(env);
    let _ = LogSettings::from_env(&env);
    AwsSettings::from_env(&env).map_err(|e| e.to_string())?;
    match function {
        "SenderFunction" => sinch_bridge::send::config::load(&env).map(|_| ()),
        "WebhookIngestFunction" => sinch_bridge::ingest::config::load(&env).map(|_| ()),
        "SecretRotationFunction" => sinch_bridge::setup::rotation::RotationConfig::from_env(&env).map(|_| ()),
        other => panic!("no parser for {other}"),
    }
    .map_err(|e| e.to_string())
}

/// The parameters that change `function`'s environment (each tried at its bounds against the
/// defaults).
fn parameters_of(template: &Template, function: &str) -> Vec<(String, Vec<String>)> {
    let base = template.stack("s", &[("ServiceNames", "a")]).unwrap();
    let base_env = base.function_environment(function);
    template
        .parameters()
        .into_iter()
        .filter_map(|p| {
            let values = p.bounds(&samples(&p));
            let matters = values.iter().any(|v| {
                let mut params: Vec<(&str, &str)> = vec![("ServiceNames", "a")];
                params.push((&p.name, v));
                template
                    .stack("s", &params)
                    .is_ok_and(|s| s.function_environment(function) != base_env)
            });
            matters.then(|| (p.name.clone(), values))
        })
        .collect()
}

/// Every combination of `dimensions`' values.
fn combinations(dimensions: &[(String, Vec<String>)]) -> Vec<Vec<(String, String)>> {
    let mut out = vec![Vec::new()];
    for (name, values) in dimensions {
        out = out
            .into_iter()
            .flat_map(|combo: Vec<(String, String)>| {
                values.iter().map(move |v| {
                    let mut c = combo.clone();
                    c.push((name.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    out
}

fn stack_with(template: &Template, combo: &[(String, String)]) -> Result<Stack, String> {
    let mut params: Vec<(&str, &str)> = combo.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if !combo.iter().any(|(k, _)| k == "ServiceNames") {
        params.push(("ServiceNames", "a"));
    }
    template.stack("s", &params)
}

#[test]
fn every_deployable_combination_of_parameter_bounds_starts_every_function() {
    let template = Template::load();
    let mut report = Vec::new();
    for function in ["WebhookIngestFunction", "SenderFunction", "SecretRotationFunction"] {
        let dimensions = parameters_of(&template, function);
        let combos = combinations(&dimensions);
        let mut refused = Vec::new();
        for combo in &combos {
            let stack = stack_with(&template, combo).unwrap_or_else(|e| panic!("a bound CloudFormation refuses: {e}"));
            if let Err(e) = starts(function, &stack.function_environment(function)) {
                refused.push(format!("{combo:?}: {e}"));
            }
        }
        assert!(
            refused.is_empty(),
            "{function} refuses to start with {} of {} deployable combinations, e.g. {}",
            refused.len(),
            combos.len(),
            refused[0]
        );
        let names: Vec<&str> = dimensions.iter().map(|(n, _)| n.as_str()).collect();
        report.push(format!("{function}: {} combinations of {names:?}", combos.len()));
    }
    println!("{}", report.join("\n"));
}

/// Lambda's limits on an SQS event source mapping (CreateEventSourceMapping): BatchSize at
/// most 10 for a FIFO queue; above 10 a standard queue needs a batching window of at least 1 s;
/// MaximumConcurrency from 2 to 1000; the window at most 300 s and absent for FIFO.
#[test]
fn every_deployable_sender_event_source_is_one_lambda_accepts() {
    let template = Template::load();
    let dimensions: Vec<(String, Vec<String>)> = [
        "QueueType",
        "SenderBatchSize",
        "SenderBatchingWindowSeconds",
        "SenderMaximumConcurrency",
    ]
    .iter()
    .map(|name| {
        let p = template.parameter(name);
        (p.name.clone(), p.bounds(&[]))
    })
    .collect();
    for combo in combinations(&dimensions) {
        let stack = stack_with(&template, &combo).unwrap();
        let events = &stack.resource("SenderFunction")["Properties"]["Events"]["Outbound"]["Properties"];
        let fifo = stack.parameter("QueueType") == "fifo";
        let batch = events["BatchSize"].as_f64().unwrap();
        let window = events["MaximumBatchingWindowInSeconds"].as_f64();
        let concurrency = events["ScalingConfig"]["MaximumConcurrency"].as_f64().unwrap();
        if fifo {
            assert!(batch <= 10.0, "{combo:?}: a FIFO source takes at most 10");
            assert!(window.is_none(), "{combo:?}: a FIFO source has no batching window");
        } else if batch > 10.0 {
            assert!(window.is_some_and(|w| w >= 1.0), "{combo:?}: above 10 needs a window");
        }
        assert!((2.0..=1000.0).contains(&concurrency), "{combo:?}");
        assert!(window.is_none_or(|w| (0.0..=300.0).contains(&w)), "{combo:?}");
    }
}

/// The longest stack name whose resources' names fit AWS's limits (SQS 80 with `.fifo`, Lambda
/// 64, IAM role 64, log group 512, dashboard 255, DynamoDB 255), across queue types.
fn longest_stack_name(template: &Template) -> usize {
    let limits = [
        ("AWS::SQS::Queue", "QueueName", 80),
        ("AWS::Serverless::Function", "FunctionName", 64),
        ("AWS::IAM::Role", "RoleName", 64),
        ("AWS::Logs::LogGroup", "LogGroupName", 512),
        ("AWS::CloudWatch::Dashboard", "DashboardName", 255),
        ("AWS::DynamoDB::Table", "TableName", 255),
    ];
    let fits = |len: usize| {
        ["fifo", "standard"].iter().all(|queue_type| {
            let name = "s".repeat(len);
            let stack = template
                .stack(
                    &name,
                    &[
                        ("ServiceNames", "a"),
                        ("QueueType", queue_type),
                        ("EnableSentQueue", "true"),
                    ],
                )
                .unwrap();
            stack.resources().iter().all(|(_, r)| {
                limits
                    .iter()
                    .filter(|(ty, ..)| r["Type"] == *ty)
                    .all(|(_, property, max)| {
                        r["Properties"][property]
                            .as_str()
                            .is_none_or(|n| n.chars().count() <= *max)
                    })
            })
        })
    };
    // CloudFormation's own limit on stack names.
    (1..=128).take_while(|len| fits(*len)).last().unwrap_or(0)
}

#[test]
fn the_documented_stack_name_limit_is_the_one_the_names_allow() {
    let template = Template::load();
    let longest = longest_stack_name(&template);
    assert_eq!(longest, 62, "the queue names leave this much room for the stack's name");
    for doc in ["README.md", "docs/operations.md"] {
        let text = std::fs::read_to_string(format!("{}/../{doc}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(
            text.contains(&format!("{longest} characters")),
            "{doc} states the stack-name limit ({longest} characters)"
        );
    }
    // No resource is given a name of its own where CloudFormation can generate one that fits.
    let stack = template.stack("s", &[("ServiceNames", "a")]).unwrap();
    for (id, r) in stack.resources() {
        for (ty, property) in [
            ("AWS::Serverless::Function", "FunctionName"),
            ("AWS::IAM::Role", "RoleName"),
            ("AWS::DynamoDB::Table", "TableName"),
        ] {
            assert!(
                r["Type"] != ty || r["Properties"][property].is_null(),
                "{id} names itself ({property})"
            );
        }
    }
}

/// API Gateway adds each access-log group it delivers to to CloudWatch Logs' account-wide
/// resource policy, limited to 5120 characters, unless the group's name starts with
/// `/aws/vendedlogs/` (CloudWatch Logs, "Enabling logging from AWS services").
#[test]
fn the_access_log_group_is_a_vended_logs_group() {
    let stack = Template::load().stack("s", &[("ServiceNames", "a")]).unwrap();
    let api = stack.resource("WebhookApi");
    let destination = api["Properties"]["AccessLogSettings"]["DestinationArn"]
        .as_str()
        .unwrap();
    assert!(destination.contains(":log-group:/aws/vendedlogs/"), "{destination}");
}
