//! The settings every function reads from what Lambda itself puts in its environment (region,
//! the role's credentials, the logging controls), plus the AWS call timeout and the emulator
//! endpoint. Parsed by `adapters::aws_env` and `logging`.

use super::{Fallback, Kind, Setting, Source, Unit};

pub const AWS_TIMEOUT_MS: Setting = Setting {
    name: "AWS_TIMEOUT_MS",
    kind: Kind::Number {
        unit: Unit::Milliseconds,
        min: 100,
        max: 60_000,
    },
    fallback: Fallback::Number(5000),
    doc: "whole-operation timeout of one SQS, Secrets Manager or DynamoDB call, retries included",
    source: Source::Literal("5000"),
};
pub const AWS_ENDPOINT_URL: Setting = Setting {
    name: "AWS_ENDPOINT_URL",
    kind: Kind::Text,
    fallback: Fallback::Absent,
    doc: "an emulator's endpoint (moto) for local runs",
    source: Source::Unset,
};
pub const AWS_REGION: Setting = Setting {
    name: "AWS_REGION",
    kind: Kind::Text,
    fallback: Fallback::Derived("`AWS_DEFAULT_REGION`"),
    doc: "the region (set by Lambda)",
    source: Source::Lambda,
};
pub const AWS_DEFAULT_REGION: Setting = Setting {
    name: "AWS_DEFAULT_REGION",
    kind: Kind::Text,
    fallback: Fallback::Absent,
    doc: "the region when `AWS_REGION` is unset",
    source: Source::Lambda,
};
pub const AWS_ACCESS_KEY_ID: Setting = Setting {
    name: "AWS_ACCESS_KEY_ID",
    kind: Kind::Text,
    fallback: Fallback::Required,
    doc: "the execution role's credentials (set by Lambda; read directly, no provider chain)",
    source: Source::Lambda,
};
pub const AWS_SECRET_ACCESS_KEY: Setting = Setting {
    name: "AWS_SECRET_ACCESS_KEY",
    kind: Kind::Text,
    fallback: Fallback::Required,
    doc: "the execution role's credentials (set by Lambda)",
    source: Source::Lambda,
};
pub const AWS_SESSION_TOKEN: Setting = Setting {
    name: "AWS_SESSION_TOKEN",
    kind: Kind::Text,
    fallback: Fallback::Absent,
    doc: "the execution role's session token (set by Lambda)",
    source: Source::Lambda,
};
pub const AWS_LAMBDA_LOG_LEVEL: Setting = Setting {
    name: "AWS_LAMBDA_LOG_LEVEL",
    kind: Kind::Level,
    fallback: Fallback::Derived("`RUST_LOG`, else INFO"),
    doc: "the bridge's log level, from the function's `ApplicationLogLevel` (other crates are capped at INFO)",
    source: Source::Lambda,
};
pub const RUST_LOG: Setting = Setting {
    name: "RUST_LOG",
    kind: Kind::Level,
    fallback: Fallback::Absent,
    doc: "the log level when Lambda sets none, read as one level (no per-target directives)",
    source: Source::Unset,
};
pub const AWS_LAMBDA_LOG_FORMAT: Setting = Setting {
    name: "AWS_LAMBDA_LOG_FORMAT",
    kind: Kind::Text,
    fallback: Fallback::Text("Text"),
    doc: "`JSON` for JSON log lines, from the function's `LogFormat` (the template sets JSON)",
    source: Source::Lambda,
};

/// What every function reads from its runtime.
pub const RUNTIME_SETTINGS: [&Setting; 10] = [
    &AWS_TIMEOUT_MS,
    &AWS_ENDPOINT_URL,
    &AWS_REGION,
    &AWS_DEFAULT_REGION,
    &AWS_ACCESS_KEY_ID,
    &AWS_SECRET_ACCESS_KEY,
    &AWS_SESSION_TOKEN,
    &AWS_LAMBDA_LOG_LEVEL,
    &RUST_LOG,
    &AWS_LAMBDA_LOG_FORMAT,
];
