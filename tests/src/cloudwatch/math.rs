//! The part of CloudWatch's metric math the template uses, evaluated as CloudWatch documents it
//! (`AmazonCloudWatch/latest/monitoring/using-metric-math.html`): arithmetic and comparisons
//! point by point (a point missing on either side is missing), `FILL(m, value)` over the
//! query's periods, `DIFF(m)` (each point minus the one before; the first has none),
//! `MAX`/`MIN`/`SUM` of an array of series point by point, `IF(condition, a, b)`.
//! Anything else is an error: an alarm using it needs a model first.

use std::collections::BTreeMap;

use super::Series;

#[derive(Debug, Clone)]
pub enum Value {
    Scalar(f64),
    Series(Series),
    Array(Vec<Series>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Ident(String),
    Op(String),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '(' => (out.push(Token::Open), i += 1).1,
            ')' => (out.push(Token::Close), i += 1).1,
            '[' => (out.push(Token::OpenBracket), i += 1).1,
            ']' => (out.push(Token::CloseBracket), i += 1).1,
            ',' => (out.push(Token::Comma), i += 1).1,
            '+' | '-' | '*' | '/' => (out.push(Token::Op(c.to_string())), i += 1).1,
            '>' | '<' | '=' | '!' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                if ["<=", ">=", "==", "!="].contains(&two.as_str()) {
                    out.push(Token::Op(two));
                    i += 2;
                } else if c == '>' || c == '<' {
                    out.push(Token::Op(c.to_string()));
                    i += 1;
                } else {
                    return Err(format!("unexpected {c:?} in {text}"));
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let n: String = chars[start..i].iter().collect();
                out.push(Token::Number(n.parse().map_err(|_| format!("bad number {n}"))?));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                match word.as_str() {
                    "AND" | "OR" => out.push(Token::Op(word)),
                    _ => out.push(Token::Ident(word)),
                }
            }
            other => return Err(format!("unexpected {other:?} in {text}")),
        }
    }
    Ok(out)
}

/// An expression over metric ids, evaluated for the periods starting at `range`.
pub struct Evaluation<'a> {
    tokens: Vec<Token>,
    at: usize,
    metrics: &'a BTreeMap<String, Series>,
    range: &'a [i64],
}

/// Evaluates `expression` with `metrics` (id to series) over the periods in `range`.
pub fn evaluate(expression: &str, metrics: &BTreeMap<String, Series>, range: &[i64]) -> Result<Value, String> {
    let mut e = Evaluation {
        tokens: tokens(expression)?,
        at: 0,
        metrics,
        range,
    };
    let v = e.or()?;
    if e.at != e.tokens.len() {
        return Err(format!("trailing input in {expression}"));
    }
    Ok(v)
}

/// The series an alarm compares: an expression's value as a series over `range`.
pub fn as_series(value: Value, range: &[i64]) -> Result<Series, String> {
    match value {
        Value::Series(s) => Ok(s),
        Value::Scalar(x) => Ok(range.iter().map(|t| (*t, x)).collect()),
        Value::Array(_) => Err("an alarm's expression must give one series, not an array".into()),
    }
}

impl Evaluation<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expect(&mut self, token: &Token) -> Result<(), String> {
        match self.next() {
            Some(t) if &t == token => Ok(()),
            other => Err(format!("expected {token:?}, found {other:?}")),
        }
    }

    fn binary_level(&mut self, ops: &[&str], lower: fn(&mut Self) -> Result<Value, String>) -> Result<Value, String> {
        let mut left = lower(self)?;
        while let Some(Token::Op(op)) = self.peek().cloned() {
            if !ops.contains(&op.as_str()) {
                break;
            }
            self.at += 1;
            let right = lower(self)?;
            left = binary(&op, left, right)?;
        }
        Ok(left)
    }

    fn or(&mut self) -> Result<Value, String> {
        self.binary_level(&["OR"], Self::and)
    }

    fn and(&mut self) -> Result<Value, String> {
        self.binary_level(&["AND"], Self::comparison)
    }

    fn comparison(&mut self) -> Result<Value, String> {
        self.binary_level(&[">", "<", ">=", "<=", "==", "!="], Self::sum)
    }

    fn sum(&mut self) -> Result<Value, String> {
        self.binary_level(&["+", "-"], Self::product)
    }

    fn product(&mut self) -> Result<Value, String> {
        self.binary_level(&["*", "/"], Self::unary)
    }

    fn unary(&mut self) -> Result<Value, String> {
        if self.peek() == Some(&Token::Op("-".into())) {
            self.at += 1;
            let v = self.unary()?;
            return binary("-", Value::Scalar(0.0), v);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Value, String> {
        match self.next() {
            Some(Token::Number(n)) => Ok(Value::Scalar(n)),
            Some(Token::Open) => {
                let v = self.or()?;
                self.expect(&Token::Close)?;
                Ok(v)
            }
            Some(Token::OpenBracket) => {
                let mut items = vec![self.or()?];
                while self.peek() == Some(&Token::Comma) {
                    self.at += 1;
                    items.push(self.or()?);
                }
                self.expect(&Token::CloseBracket)?;
                let series = items
                    .into_iter()
                    .map(|v| match v {
                        Value::Series(s) => Ok(s),
                        other => Err(format!("an array holds series, not {other:?}")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Value::Array(series))
            }
            Some(Token::Ident(name)) if self.peek() == Some(&Token::Open) => {
                self.at += 1;
                let mut args = Vec::new();
                if self.peek() != Some(&Token::Close) {
                    args.push(self.or()?);
                    while self.peek() == Some(&Token::Comma) {
                        self.at += 1;
                        args.push(self.or()?);
                    }
                }
                self.expect(&Token::Close)?;
                self.call(&name, args)
            }
            Some(Token::Ident(id)) => self
                .metrics
                .get(&id)
                .cloned()
                .map(Value::Series)
                .ok_or_else(|| format!("no metric with id {id}")),
            other => Err(format!("unexpected {other:?}")),
        }
    }

    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        match (name, args.as_slice()) {
            ("FILL", [Value::Series(s), Value::Scalar(fill)]) => Ok(Value::Series(
                self.range
                    .iter()
                    .map(|t| (*t, s.get(t).copied().unwrap_or(*fill)))
                    .collect(),
            )),
            ("DIFF", [Value::Series(s)]) => Ok(Value::Series(
                s.iter()
                    .zip(s.iter().skip(1))
                    .map(|((_, before), (t, now))| (*t, now - before))
                    .collect(),
            )),
            ("MAX" | "MIN" | "SUM", [Value::Array(all)]) => {
                let mut out: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                for s in all {
                    for (t, v) in s {
                        out.entry(*t).or_default().push(*v);
                    }
                }
                Ok(Value::Series(
                    out.into_iter()
                        .map(|(t, vs)| {
                            let v = match name {
                                "MAX" => vs.iter().copied().fold(f64::MIN, f64::max),
                                "MIN" => vs.iter().copied().fold(f64::MAX, f64::min),
                                _ => vs.iter().sum(),
                            };
                            (t, v)
                        })
                        .collect(),
                ))
            }
            ("IF", [condition, then, otherwise]) => {
                let condition = as_series(condition.clone(), self.range)?;
                let pick = |v: &Value, t: i64| match v {
                    Value::Scalar(x) => Some(*x),
                    Value::Series(s) => s.get(&t).copied(),
                    Value::Array(_) => None,
                };
                Ok(Value::Series(
                    condition
                        .iter()
                        .filter_map(|(t, c)| {
                            let v = if *c != 0.0 { pick(then, *t) } else { pick(otherwise, *t) };
                            v.map(|v| (*t, v))
                        })
                        .collect(),
                ))
            }
            (other, args) => Err(format!("{other} with {} argument(s) is not modelled", args.len())),
        }
    }
}

fn apply(op: &str, a: f64, b: f64) -> Result<f64, String> {
    let truth = |x: bool| if x { 1.0 } else { 0.0 };
    Ok(match op {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" => a / b,
        ">" => truth(a > b),
        "<" => truth(a < b),
        ">=" => truth(a >= b),
        "<=" => truth(a <= b),
        "==" => truth((a - b).abs() < f64::EPSILON),
        "!=" => truth((a - b).abs() >= f64::EPSILON),
        "AND" => truth(a != 0.0 && b != 0.0),
        "OR" => truth(a != 0.0 || b != 0.0),
        other => return Err(format!("operator {other} is not modelled")),
    })
}

fn binary(op: &str, left: Value, right: Value) -> Result<Value, String> {
    Ok(match (left, right) {
        (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(apply(op, a, b)?),
        (Value::Series(s), Value::Scalar(b)) => Value::Series(
            s.into_iter()
                .map(|(t, a)| apply(op, a, b).map(|v| (t, v)))
                .collect::<Result<_, _>>()?,
        ),
        (Value::Scalar(a), Value::Series(s)) => Value::Series(
            s.into_iter()
                .map(|(t, b)| apply(op, a, b).map(|v| (t, v)))
                .collect::<Result<_, _>>()?,
        ),
        (Value::Series(a), Value::Series(b)) => Value::Series(
            a.into_iter()
                .filter_map(|(t, x)| b.get(&t).map(|y| apply(op, x, *y).map(|v| (t, v))))
                .collect::<Result<_, _>>()?,
        ),
        (l, r) => return Err(format!("{op} of {l:?} and {r:?} is not modelled")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(points: &[(i64, f64)]) -> Series {
        points.iter().copied().collect()
    }

    #[test]
    fn fill_diff_and_max_follow_cloudwatch() {
        let range = [0, 1, 2, 3];
        let metrics: BTreeMap<String, Series> = [
            ("a".to_owned(), s(&[(1, 5.0), (3, 7.0)])),
            ("b".to_owned(), s(&[(0, 1.0), (1, 9.0)])),
        ]
        .into();
        let filled = as_series(evaluate("FILL(a, 0)", &metrics, &range).unwrap(), &range).unwrap();
        assert_eq!(filled, s(&[(0, 0.0), (1, 5.0), (2, 0.0), (3, 7.0)]));
        let diff = as_series(evaluate("DIFF(FILL(a, 0))", &metrics, &range).unwrap(), &range).unwrap();
        assert_eq!(diff, s(&[(1, 5.0), (2, -5.0), (3, 7.0)]));
        let max = as_series(
            evaluate("MAX([FILL(a, 0), FILL(b, 0)])", &metrics, &range).unwrap(),
            &range,
        )
        .unwrap();
        assert_eq!(max, s(&[(0, 1.0), (1, 9.0), (2, 0.0), (3, 7.0)]));
        let sum = as_series(evaluate("a + b", &metrics, &range).unwrap(), &range).unwrap();
        assert_eq!(sum, s(&[(1, 14.0)]), "a point missing on one side is missing");
        assert!(
            evaluate("RATE(a)", &metrics, &range).is_err(),
            "what is not modelled is an error"
        );
    }
}
