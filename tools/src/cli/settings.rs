//! `bridgectl settings`: every function's settings as the code declares them (the same
//! declarations the functions parse with): the reference tables in Markdown, or JSON for the
//! emulator-stack check (`scripts/emulator-stack.py`), which derives the environment it expects
//! of each deployed function from it.

use clap::Args;
use serde_json::{Value, json};
use sinch_bridge::config::{FUNCTIONS, Fallback, FunctionSettings, Kind, Setting, Source, reference_table};

use super::{CliError, Output};

#[derive(Args, Debug)]
pub struct SettingsArgs {
    /// Only this function (webhook-ingest, sender, secret-rotation).
    #[arg(long)]
    pub function: Option<String>,
}

pub fn run(args: SettingsArgs, out: Output) -> Result<(), CliError> {
    let chosen: Vec<&FunctionSettings> = FUNCTIONS
        .iter()
        .filter(|f| args.function.as_deref().is_none_or(|name| name == f.function))
        .collect();
    if chosen.is_empty() {
        return Err(CliError::new(format!(
            "no function {:?} (webhook-ingest, sender, secret-rotation)",
            args.function.unwrap_or_default()
        )));
    }
    let text: Vec<String> = chosen
        .iter()
        .map(|f| format!("{} ({})\n\n{}", f.function, f.logical_id, reference_table(f)))
        .collect();
    let value = json!(chosen.iter().map(|f| function_json(f)).collect::<Vec<_>>());
    out.emit(&text.join("\n"), &value);
    Ok(())
}

fn function_json(f: &FunctionSettings) -> Value {
    json!({
        "function": f.function,
        "logical_id": f.logical_id,
        "settings": f.settings().map(setting_json).collect::<Vec<_>>(),
    })
}

fn setting_json(s: &Setting) -> Value {
    let (kind, min, max) = match s.kind {
        Kind::Number { min, max, .. } => ("number", Some(min), Some(max)),
        Kind::Text => ("text", None, None),
        Kind::ServiceNames => ("service_names", None, None),
        Kind::Json => ("json", None, None),
        Kind::Level => ("level", None, None),
    };
    let (fallback, default) = match s.fallback {
        Fallback::Required => ("required", Value::Null),
        Fallback::Absent => ("absent", Value::Null),
        Fallback::Number(n) => ("number", json!(n)),
        Fallback::Text(t) => ("text", json!(t)),
        Fallback::Derived(how) => ("derived", json!(how)),
    };
    let (source, from) = match s.source {
        Source::Parameter(p) => ("parameter", Some(p)),
        Source::Queue(q) => ("queue", Some(q)),
        Source::Table(t) => ("table", Some(t)),
        Source::WebhookBase => ("webhook_base", None),
        Source::Literal(v) => ("literal", Some(v)),
        Source::Lambda => ("lambda", None),
        Source::Unset => ("unset", None),
    };
    json!({
        "name": s.name, "kind": kind, "min": min, "max": max,
        "fallback": fallback, "default": default,
        "source": source, "from": from, "doc": s.doc,
    })
}
