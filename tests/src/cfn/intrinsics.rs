//! CloudFormation's intrinsic functions, over JSON: what a stack's values resolve to.

use serde_json::{Map, Value};

use super::{ACCOUNT, REGION, Stack};

/// What `Ref: AWS::NoValue` leaves until [`strip_no_value`] removes it.
const NO_VALUE: &str = "\u{0}AWS::NoValue";

pub(super) fn resolve(stack: &Stack, value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(stack, v)).collect()),
        Value::Object(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next().expect("one entry");
            match function(stack, key, arg) {
                Some(v) => v,
                None => Value::Object(resolve_map(stack, map)),
            }
        }
        Value::Object(map) => Value::Object(resolve_map(stack, map)),
        other => other.clone(),
    }
}

fn resolve_map(stack: &Stack, map: &Map<String, Value>) -> Map<String, Value> {
    map.iter().map(|(k, v)| (k.clone(), resolve(stack, v))).collect()
}

/// One intrinsic function; `None` when `key` is not one.
fn function(stack: &Stack, key: &str, arg: &Value) -> Option<Value> {
    Some(match key {
        "Ref" => reference(stack, arg.as_str().unwrap_or_default()),
        "Condition" => Value::Bool(stack.condition(arg.as_str().unwrap_or_default()).unwrap_or(false)),
        "Fn::If" => {
            let parts = arg.as_array().cloned().unwrap_or_default();
            let holds = stack
                .condition(parts.first().and_then(Value::as_str).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}"));
            resolve(stack, &parts[if holds { 1 } else { 2 }])
        }
        "Fn::Equals" => {
            let parts: Vec<Value> = args(stack, arg);
            Value::Bool(as_text(&parts[0]) == as_text(&parts[1]))
        }
        "Fn::Not" => Value::Bool(!args(stack, arg)[0].as_bool().unwrap_or(false)),
        "Fn::And" => Value::Bool(args(stack, arg).iter().all(|v| v.as_bool().unwrap_or(false))),
        "Fn::Or" => Value::Bool(args(stack, arg).iter().any(|v| v.as_bool().unwrap_or(false))),
        "Fn::GetAtt" => {
            let parts = args(stack, arg);
            Value::String(stack.attribute(&as_text(&parts[0]), &as_text(&parts[1])))
        }
        "Fn::Join" => {
            let parts = arg.as_array().cloned().unwrap_or_default();
            let separator = as_text(&parts[0]);
            let items = resolve(stack, &parts[1]);
            let texts: Vec<String> = items
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v.as_str() != Some(NO_VALUE))
                .map(as_text)
                .collect();
            Value::String(texts.join(&separator))
        }
        "Fn::Select" => {
            let parts = args(stack, arg);
            let index: usize = as_text(&parts[0]).parse().unwrap_or(0);
            parts[1]
                .as_array()
                .and_then(|a| a.get(index))
                .cloned()
                .unwrap_or(Value::Null)
        }
        "Fn::Split" => {
            let parts = args(stack, arg);
            let separator = as_text(&parts[0]);
            Value::Array(
                as_text(&parts[1])
                    .split(separator.as_str())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            )
        }
        "Fn::Sub" => sub(stack, arg),
        _ => return None,
    })
}

fn args(stack: &Stack, arg: &Value) -> Vec<Value> {
    match resolve(stack, arg) {
        Value::Array(items) => items,
        other => vec![other],
    }
}

fn reference(stack: &Stack, name: &str) -> Value {
    match name {
        "AWS::NoValue" => Value::String(NO_VALUE.into()),
        "AWS::StackName" => Value::String(stack.name.clone()),
        "AWS::Region" => Value::String(REGION.into()),
        "AWS::AccountId" => Value::String(ACCOUNT.into()),
        "AWS::Partition" => Value::String("aws".into()),
        "AWS::URLSuffix" => Value::String("amazonaws.com".into()),
        "AWS::StackId" => Value::String(format!(
            "arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{}/id",
            stack.name
        )),
        param if stack.params.contains_key(param) => {
            let value = &stack.params[param];
            // A Number parameter is a number wherever CloudFormation passes it on.
            match value.parse::<i64>() {
                Ok(n) if stack.template["Parameters"][param]["Type"] == "Number" => Value::from(n),
                _ => Value::String(value.clone()),
            }
        }
        resource => Value::String(stack.physical_id(resource)),
    }
}

/// `Fn::Sub`: `${Name}` is a variable, parameter, pseudo parameter or resource; `${R.Attr}`
/// an attribute; `${!Literal}` the text `${Literal}`.
fn sub(stack: &Stack, arg: &Value) -> Value {
    let (text, variables) = match arg {
        Value::Array(parts) => (as_text(&parts[0]), resolve(stack, parts.get(1).unwrap_or(&Value::Null))),
        other => (as_text(other), Value::Null),
    };
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').unwrap_or(after.len());
        let name = &after[..end];
        if let Some(literal) = name.strip_prefix('!') {
            out.push_str("${");
            out.push_str(literal);
            out.push('}');
        } else if let Some(v) = variables.get(name) {
            out.push_str(&as_text(v));
        } else if let Some((resource, attribute)) = name.split_once('.') {
            out.push_str(&stack.attribute(resource, attribute));
        } else {
            out.push_str(&as_text(&reference(stack, name)));
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    Value::String(out)
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Removes `AWS::NoValue`: the properties and list items it stands for are not there.
pub(super) fn strip_no_value(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .filter(|v| v.as_str() != Some(NO_VALUE))
                .map(strip_no_value)
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| v.as_str() != Some(NO_VALUE))
                .map(|(k, v)| (k, strip_no_value(v)))
                .collect(),
        ),
        other => other,
    }
}
