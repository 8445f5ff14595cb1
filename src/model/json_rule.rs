//! Conditions on a JSON response body (HTTP polls): a JSON pointer (RFC 6901) that must
//! exist, equal a value, not equal it, or contain it — e.g. `/status` equals `"UP"`.
//!
//! Values are written as JSON text (`"UP"`, `200`, `true`, `{"db":"ok"}`), so that a string
//! and a number are never confused. Judging is pure: a parsed document in, a reason out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One condition: where in the document, and what must hold there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonRule {
    /// A JSON pointer: `""` is the whole document, `/status`, `/checks/0/name`.
    pub pointer: String,
    pub test: JsonTest,
}

/// What must hold at the pointer. The values are JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JsonTest {
    /// The pointer leads to a value (`null` counts).
    Exists,
    /// The value there equals this one (numbers by value: `1` equals `1.0`).
    Equals(String),
    /// The pointer leads to a value that differs from this one.
    NotEquals(String),
    /// A string there contains this string; an array has an element equal to this value;
    /// an object has this key (a string) or every member of this object.
    Contains(String),
}

impl JsonTest {
    /// The value's JSON text, for the tests that have one.
    pub fn value(&self) -> Option<&str> {
        match self {
            JsonTest::Exists => None,
            JsonTest::Equals(v) | JsonTest::NotEquals(v) | JsonTest::Contains(v) => Some(v),
        }
    }
}

/// Why a rule cannot be used; the validation puts it at the rule's field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JsonRuleError {
    #[error("a JSON pointer is empty or starts with / (e.g. /status), not {0:?}")]
    Pointer(String),
    #[error("in a JSON pointer ~ is followed by 0 or 1 (~0 = ~, ~1 = /): {0:?}")]
    Tilde(String),
    #[error("the value is not JSON ({0}); a string is written in quotes, e.g. \"UP\"")]
    Value(String),
}

impl JsonRule {
    /// Checks the pointer and parses the value once, so that a poll parses only the body.
    pub fn compile(&self) -> Result<CompiledJsonRule, JsonRuleError> {
        check_pointer(&self.pointer)?;
        let value = |text: &str| {
            serde_json::from_str::<Value>(text).map_err(|e| JsonRuleError::Value(e.to_string()))
        };
        let test = match &self.test {
            JsonTest::Exists => Compiled::Exists,
            JsonTest::Equals(v) => Compiled::Equals(value(v)?),
            JsonTest::NotEquals(v) => Compiled::NotEquals(value(v)?),
            JsonTest::Contains(v) => Compiled::Contains(value(v)?),
        };
        Ok(CompiledJsonRule {
            pointer: self.pointer.clone(),
            test,
        })
    }
}

fn check_pointer(pointer: &str) -> Result<(), JsonRuleError> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(JsonRuleError::Pointer(pointer.to_owned()));
    }
    let mut rest = pointer;
    while let Some(i) = rest.find('~') {
        rest = &rest[i + 1..];
        if !(rest.starts_with('0') || rest.starts_with('1')) {
            return Err(JsonRuleError::Tilde(pointer.to_owned()));
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Compiled {
    Exists,
    Equals(Value),
    NotEquals(Value),
    Contains(Value),
}

/// Why a JSON body failed a rule; its text names the pointer, e.g. `/status is "DOWN", not "UP"`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum JsonMismatch {
    #[error("the body is not JSON ({0})")]
    NotJson(String),
    #[error("{place} is missing")]
    Missing { place: String },
    #[error("{place} is {}, not {wanted}", short(.found))]
    NotEqual {
        place: String,
        found: Value,
        wanted: Value,
    },
    #[error("{place} is {unwanted}")]
    Equal { place: String, unwanted: Value },
    #[error("{place} ({}) does not contain {part}", short(.found))]
    NotContained {
        place: String,
        found: Value,
        part: Value,
    },
}

/// A [`JsonRule`] ready to judge.
#[derive(Clone, Debug)]
pub struct CompiledJsonRule {
    pointer: String,
    test: Compiled,
}

impl CompiledJsonRule {
    /// `Ok` when the rule holds for `document`; else why not.
    pub fn judge(&self, document: &Value) -> Result<(), JsonMismatch> {
        let place = || {
            if self.pointer.is_empty() {
                "the document".to_string()
            } else {
                self.pointer.clone()
            }
        };
        let Some(found) = document.pointer(&self.pointer) else {
            return Err(JsonMismatch::Missing { place: place() });
        };
        match &self.test {
            Compiled::Exists => Ok(()),
            Compiled::Equals(wanted) if same(found, wanted) => Ok(()),
            Compiled::Equals(wanted) => Err(JsonMismatch::NotEqual {
                place: place(),
                found: found.clone(),
                wanted: wanted.clone(),
            }),
            Compiled::NotEquals(unwanted) if same(found, unwanted) => Err(JsonMismatch::Equal {
                place: place(),
                unwanted: unwanted.clone(),
            }),
            Compiled::NotEquals(_) => Ok(()),
            Compiled::Contains(part) if contains(found, part) => Ok(()),
            Compiled::Contains(part) => Err(JsonMismatch::NotContained {
                place: place(),
                found: found.clone(),
                part: part.clone(),
            }),
        }
    }
}

/// Judges a body against every rule (parsing it once); `Ok` when there are none.
pub fn judge_body(rules: &[CompiledJsonRule], body: &[u8]) -> Result<(), JsonMismatch> {
    if rules.is_empty() {
        return Ok(());
    }
    let document: Value =
        serde_json::from_slice(body).map_err(|e| JsonMismatch::NotJson(e.to_string()))?;
    rules.iter().try_for_each(|rule| rule.judge(&document))
}

/// JSON equality, numbers by value (`1` = `1.0`), as an operator means it.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i128(), y.as_i128()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn contains(found: &Value, part: &Value) -> bool {
    match (found, part) {
        (Value::String(text), Value::String(part)) => text.contains(part.as_str()),
        (Value::Array(items), part) => items.iter().any(|item| same(item, part)),
        (Value::Object(map), Value::String(key)) => map.contains_key(key),
        (Value::Object(map), Value::Object(members)) => members
            .iter()
            .all(|(k, v)| map.get(k).is_some_and(|w| same(w, v))),
        _ => false,
    }
}

/// A value as a reason shows it: its JSON, cut after 60 characters.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"status":"UP","count":3,"ratio":0.5,"tags":["a","b"],
        "checks":{"db":"ok","disk":"ok"},"note":null,"a/b":1,"m~n":2}"#;

    fn judge(pointer: &str, test: JsonTest) -> Result<(), String> {
        let rule = JsonRule {
            pointer: pointer.into(),
            test,
        }
        .compile()
        .unwrap();
        judge_body(&[rule], DOC.as_bytes()).map_err(|e| e.to_string())
    }

    use JsonTest::*;

    #[test]
    fn a_table_of_rules() {
        let eq = |v: &str| Equals(v.into());
        let ne = |v: &str| NotEquals(v.into());
        let has = |v: &str| Contains(v.into());
        let cases: Vec<(&str, JsonTest, Result<(), &str>)> = vec![
            ("/status", Exists, Ok(())),
            ("/note", Exists, Ok(())),
            ("", Exists, Ok(())),
            ("/a~1b", Exists, Ok(())),
            ("/m~0n", eq("2"), Ok(())),
            ("/missing", Exists, Err("/missing is missing")),
            ("/tags/5", Exists, Err("/tags/5 is missing")),
            ("/status", eq(r#""UP""#), Ok(())),
            (
                "/status",
                eq(r#""DOWN""#),
                Err(r#"/status is "UP", not "DOWN""#),
            ),
            ("/count", eq("3"), Ok(())),
            ("/count", eq("3.0"), Ok(())),
            ("/count", eq(r#""3""#), Err(r#"/count is 3, not "3""#)),
            ("/ratio", eq("0.5"), Ok(())),
            ("/tags", eq(r#"["a","b"]"#), Ok(())),
            ("/checks", eq(r#"{"disk":"ok","db":"ok"}"#), Ok(())),
            ("/status", ne(r#""DOWN""#), Ok(())),
            ("/status", ne(r#""UP""#), Err(r#"/status is "UP""#)),
            ("/missing", ne(r#""UP""#), Err("/missing is missing")),
            ("/status", has(r#""U""#), Ok(())),
            ("/tags", has(r#""b""#), Ok(())),
            (
                "/tags",
                has(r#""c""#),
                Err(r#"/tags (["a","b"]) does not contain "c""#),
            ),
            ("/checks", has(r#""db""#), Ok(())),
            ("/checks", has(r#"{"db":"ok"}"#), Ok(())),
            (
                "/checks",
                has(r#"{"db":"down"}"#),
                Err(r#"/checks ({"db":"ok","disk":"ok"}) does not contain {"db":"down"}"#),
            ),
            ("/count", has("3"), Err("/count (3) does not contain 3")),
        ];
        for (pointer, test, want) in cases {
            let label = format!("{pointer} {test:?}");
            assert_eq!(judge(pointer, test), want.map_err(str::to_owned), "{label}");
        }
    }

    #[test]
    fn a_body_that_is_not_json_fails_every_rule() {
        let rule = JsonRule {
            pointer: "/status".into(),
            test: Exists,
        }
        .compile()
        .unwrap();
        let why = judge_body(&[rule], b"<html>").unwrap_err();
        assert!(matches!(why, JsonMismatch::NotJson(_)), "{why:?}");
        assert!(
            why.to_string().starts_with("the body is not JSON ("),
            "{why}"
        );
        assert_eq!(judge_body(&[], b"<html>"), Ok(()));
    }

    #[test]
    fn bad_rules_do_not_compile() {
        let rule = |pointer: &str, test| JsonRule {
            pointer: pointer.into(),
            test,
        };
        assert_eq!(
            rule("status", Exists).compile().unwrap_err(),
            JsonRuleError::Pointer("status".into())
        );
        assert_eq!(
            rule("/a~2", Exists).compile().unwrap_err(),
            JsonRuleError::Tilde("/a~2".into())
        );
        assert!(matches!(
            rule("/status", Equals("UP".into())).compile(),
            Err(JsonRuleError::Value(_))
        ));
    }
}
