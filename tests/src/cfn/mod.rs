//! `template.yaml` as CloudFormation would see it: its parameters with their constraints, and a
//! stack of it for a set of parameter values, with conditions decided and intrinsic functions
//! resolved (`Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::If`, ...), so tests read the values the
//! deployed resources would hold: each function's environment, each alarm's metrics, the
//! dashboard's widgets, generated names.
//!
//! Physical ids follow CloudFormation's documented shapes (a queue's `Ref` is its URL, its
//! `QueueName` attribute its name); names CloudFormation generates are modelled as
//! `{stack}-{LogicalId}-{suffix}`, cut to the resource type's limit.

mod intrinsics;
mod parameters;

use std::collections::BTreeMap;

use serde_json::{Value, json};

pub use parameters::Parameter;

pub const REGION: &str = "eu-west-1";
pub const ACCOUNT: &str = "123456789012";

/// The template as JSON, YAML tags (`!Ref x`) turned into their long form (`{"Ref": x}`).
#[derive(Debug, Clone)]
pub struct Template {
    pub json: Value,
}

impl Template {
    /// The repository's `template.yaml`.
    pub fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        Self::parse(&std::fs::read_to_string(path).expect("template.yaml is readable"))
    }

    pub fn parse(text: &str) -> Self {
        let yaml: serde_norway::Value = serde_norway::from_str(text).expect("the template is YAML");
        Self { json: to_json(yaml) }
    }

    pub fn parameters(&self) -> Vec<Parameter> {
        self.json["Parameters"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, p)| Parameter::from_template(name, p))
            .collect()
    }

    pub fn parameter(&self, name: &str) -> Parameter {
        self.parameters()
            .into_iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no parameter {name}"))
    }

    /// A stack named `name` with `values` over the parameters' defaults; `Err` says what
    /// CloudFormation would refuse (a value outside a parameter's constraints, a missing one).
    pub fn stack(&self, name: &str, values: &[(&str, &str)]) -> Result<Stack, String> {
        let mut params = BTreeMap::new();
        for p in self.parameters() {
            if let Some(default) = &p.default {
                params.insert(p.name.clone(), default.clone());
            }
        }
        for (k, v) in values {
            if !params.contains_key(*k) && !self.parameters().iter().any(|p| p.name == *k) {
                return Err(format!("the template has no parameter {k}"));
            }
            params.insert((*k).to_owned(), (*v).to_owned());
        }
        for p in self.parameters() {
            let value = params
                .get(&p.name)
                .ok_or_else(|| format!("parameter {} has no value", p.name))?;
            p.check(value)?;
        }
        Stack::new(self.json.clone(), name, params)
    }
}

/// One deployment of the template.
#[derive(Debug, Clone)]
pub struct Stack {
    template: Value,
    pub name: String,
    pub params: BTreeMap<String, String>,
    conditions: BTreeMap<String, bool>,
}

impl Stack {
    fn new(template: Value, name: &str, params: BTreeMap<String, String>) -> Result<Self, String> {
        let mut stack = Self {
            template,
            name: name.to_owned(),
            params,
            conditions: BTreeMap::new(),
        };
        let names: Vec<String> = stack.template["Conditions"]
            .as_object()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        for name in names {
            let value = stack.condition(&name)?;
            stack.conditions.insert(name, value);
        }
        Ok(stack)
    }

    /// Whether resource `id` exists in this stack (its `Condition` holds).
    pub fn has(&self, id: &str) -> bool {
        let resource = &self.template["Resources"][id];
        if resource.is_null() {
            return false;
        }
        resource["Condition"]
            .as_str()
            .is_none_or(|c| self.conditions.get(c).copied().unwrap_or(false))
    }

    /// The resources of this stack, their properties resolved.
    pub fn resources(&self) -> Vec<(String, Value)> {
        self.template["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(id, _)| self.has(id))
            .map(|(id, r)| (id.clone(), self.resolve(r)))
            .collect()
    }

    pub fn resources_of_type(&self, ty: &str) -> Vec<(String, Value)> {
        self.resources().into_iter().filter(|(_, r)| r["Type"] == ty).collect()
    }

    /// One resource, resolved.
    pub fn resource(&self, id: &str) -> Value {
        assert!(self.has(id), "{id} is not in this stack");
        self.resolve(&self.template["Resources"][id])
    }

    /// The environment Lambda gives function `id`: the template's variables, and those Lambda
    /// sets itself from the function's configuration.
    pub fn function_environment(&self, id: &str) -> BTreeMap<String, String> {
        let function = self.resource(id);
        let mut env: BTreeMap<String, String> = function["Properties"]["Environment"]["Variables"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), scalar(v)))
            .collect();
        let logging = &function["Properties"]["LoggingConfig"];
        env.insert("AWS_REGION".into(), REGION.into());
        // The execution role's credentials, as Lambda passes them.
        env.insert("AWS_ACCESS_KEY_ID".into(), "ASIAEXAMPLE".into());
        env.insert("AWS_SECRET_ACCESS_KEY".into(), "example-secret".into());
        env.insert("AWS_SESSION_TOKEN".into(), "example-token".into());
        env.insert("AWS_LAMBDA_FUNCTION_NAME".into(), self.physical_id(id));
        if let Some(format) = logging["LogFormat"].as_str() {
            env.insert("AWS_LAMBDA_LOG_FORMAT".into(), format.into());
        }
        if let Some(level) = logging["ApplicationLogLevel"].as_str() {
            env.insert("AWS_LAMBDA_LOG_LEVEL".into(), level.into());
        }
        env
    }

    /// What `Ref` of resource `id` returns.
    pub fn physical_id(&self, id: &str) -> String {
        let resource = &self.template["Resources"][id];
        let properties = self.resolve(&resource["Properties"]);
        match resource["Type"].as_str().unwrap_or_default() {
            "AWS::SQS::Queue" => format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{}", self.queue_name(id)),
            "AWS::Logs::LogGroup" => properties["LogGroupName"]
                .as_str()
                .map_or_else(|| self.generated(id, 512), str::to_owned),
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => properties["FunctionName"]
                .as_str()
                .map_or_else(|| self.generated(id, 64), str::to_owned),
            "AWS::Serverless::HttpApi" => "a1b2c3d4e5".into(),
            _ => self.generated(id, 255),
        }
    }

    /// `Fn::GetAtt` of resource `id`.
    pub fn attribute(&self, id: &str, attribute: &str) -> String {
        let resource = &self.template["Resources"][id];
        match (resource["Type"].as_str().unwrap_or_default(), attribute) {
            ("AWS::SQS::Queue", "QueueName") => self.queue_name(id),
            ("AWS::SQS::Queue", "Arn") => format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{}", self.queue_name(id)),
            ("AWS::SQS::Queue", "QueueUrl") => self.physical_id(id),
            ("AWS::Logs::LogGroup", "Arn") => {
                format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{}:*", self.physical_id(id))
            }
            ("AWS::DynamoDB::Table", "Arn") => {
                format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}", self.physical_id(id))
            }
            ("AWS::Serverless::Function" | "AWS::Lambda::Function", "Arn") => {
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}", self.physical_id(id))
            }
            ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::{ACCOUNT}:role/{}", self.generated(id, 64)),
            (ty, attribute) => format!("{ty}/{id}.{attribute}"),
        }
    }

    fn queue_name(&self, id: &str) -> String {
        let properties = self.resolve(&self.template["Resources"][id]["Properties"]);
        properties["QueueName"]
            .as_str()
            .map_or_else(|| self.generated(id, 80), str::to_owned)
    }

    /// A name CloudFormation generates: `{stack}-{LogicalId}-{suffix}`, the stack and logical
    /// id cut so that it fits `max`.
    fn generated(&self, id: &str, max: usize) -> String {
        let suffix = "A1B2C3D4E5F6";
        let room = max.saturating_sub(suffix.len() + 2);
        let stack: String = self.name.chars().take(room / 2).collect();
        let logical: String = id.chars().take(room - stack.len()).collect();
        format!("{stack}-{logical}-{suffix}")
    }

    /// `value` with every intrinsic function resolved and `AWS::NoValue` removed.
    pub fn resolve(&self, value: &Value) -> Value {
        intrinsics::strip_no_value(intrinsics::resolve(self, value))
    }

    /// A condition's value by name.
    pub fn condition(&self, name: &str) -> Result<bool, String> {
        if let Some(v) = self.conditions.get(name) {
            return Ok(*v);
        }
        let expression = &self.template["Conditions"][name];
        if expression.is_null() {
            return Err(format!("no condition {name}"));
        }
        intrinsics::resolve(self, expression)
            .as_bool()
            .ok_or_else(|| format!("condition {name} is not a boolean"))
    }

    pub fn parameter(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }
}

/// A resolved scalar as the string an environment variable holds.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// YAML to JSON, short-form tags to long-form functions.
fn to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    (
                        k.as_str().map(str::to_owned).unwrap_or_else(|| format!("{k:?}")),
                        to_json(v),
                    )
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let name = match tag {
                "Ref" | "Condition" => tag.to_owned(),
                other => format!("Fn::{other}"),
            };
            let inner = to_json(tagged.value);
            // `!GetAtt A.B` is `{"Fn::GetAtt": ["A", "B"]}`.
            let inner = match (name.as_str(), inner) {
                ("Fn::GetAtt", Value::String(s)) => {
                    let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                    json!([resource, attribute])
                }
                (_, inner) => inner,
            };
            json!({ name: inner })
        }
    }
}
