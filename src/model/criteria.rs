//! Success criteria shared by HTTP and TCP polls, HTTP DNS updates, HTTP notifications and
//! the three command-line variants: text rules, length rules, exit-code rules.
//!
//! Judging is pure: it takes the observed values and says why they fail, if they do.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A rule on a text (a greeting, a response body, a program's standard output).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TextRule {
    /// Anything at all, as long as something arrived.
    Any,
    StartsWith(String),
    NotStartsWith(String),
    Contains(String),
    NotContains(String),
    /// A regular expression (Rust `regex` syntax) that must match somewhere in the text.
    Matches(String),
    NotMatches(String),
}

impl TextRule {
    /// The regular expression of a `Matches` / `NotMatches` rule, for validation.
    pub fn pattern(&self) -> Option<&str> {
        match self {
            TextRule::Matches(p) | TextRule::NotMatches(p) => Some(p),
            _ => None,
        }
    }

    /// Compiles the rule once, so that judging a poll does not compile a regex.
    pub fn compile(&self) -> Result<CompiledTextRule, regex::Error> {
        let regex = match self.pattern() {
            Some(p) => Some(Regex::new(p)?),
            None => None,
        };
        Ok(CompiledTextRule {
            rule: self.clone(),
            regex,
        })
    }
}

/// Why a text, a number or a response failed its rule: a type, so that callers can tell the
/// kinds apart; its text is the poll's or the delivery's detail, e.g. `status 503 is not 200`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Mismatch {
    /// A text rule that did not hold; the text says which way, e.g. `does not start with "220"`.
    #[error("{}", text_reason(.0))]
    Text(TextRule),
    #[error("length {length} is not {} {}", .rule.comparison.symbol(), .rule.bytes)]
    Length { length: u64, rule: LengthRule },
    #[error("exit code {code} is not {} {}", .rule.comparison.symbol(), .rule.code)]
    ExitCode { code: i32, rule: ExitCodeRule },
    #[error("ended by a signal")]
    Signal,
    #[error("status {status} is not {}", or_list(.wanted))]
    Status { status: u16, wanted: Vec<u16> },
    /// The body's text failed a text rule.
    #[error("body {0}")]
    Body(Box<Mismatch>),
    /// A program's standard output failed its text rule.
    #[error("output {0}")]
    Output(Box<Mismatch>),
    #[error(transparent)]
    Json(#[from] crate::model::json_rule::JsonMismatch),
}

fn text_reason(rule: &TextRule) -> String {
    match rule {
        TextRule::Any => "matches nothing".into(),
        TextRule::StartsWith(s) => format!("does not start with {s:?}"),
        TextRule::NotStartsWith(s) => format!("starts with {s:?}"),
        TextRule::Contains(s) => format!("does not contain {s:?}"),
        TextRule::NotContains(s) => format!("contains {s:?}"),
        TextRule::Matches(p) => format!("does not match /{p}/"),
        TextRule::NotMatches(p) => format!("matches /{p}/"),
    }
}

fn or_list(codes: &[u16]) -> String {
    let codes: Vec<String> = codes.iter().map(u16::to_string).collect();
    codes.join(" or ")
}

/// A [`TextRule`] ready to judge.
#[derive(Clone, Debug)]
pub struct CompiledTextRule {
    rule: TextRule,
    regex: Option<Regex>,
}

impl CompiledTextRule {
    /// `Ok` when `text` passes; otherwise the rule that failed.
    pub fn judge(&self, text: &str) -> Result<(), Mismatch> {
        let matches = || self.regex.as_ref().is_some_and(|r| r.is_match(text));
        let ok = match &self.rule {
            TextRule::Any => true,
            TextRule::StartsWith(s) => text.starts_with(s.as_str()),
            TextRule::NotStartsWith(s) => !text.starts_with(s.as_str()),
            TextRule::Contains(s) => text.contains(s.as_str()),
            TextRule::NotContains(s) => !text.contains(s.as_str()),
            TextRule::Matches(_) => matches(),
            TextRule::NotMatches(_) => !matches(),
        };
        if ok {
            Ok(())
        } else {
            Err(Mismatch::Text(self.rule.clone()))
        }
    }
}

/// How a number is compared with the rule's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    #[default]
    Equal,
    NotEqual,
    Less,
    Greater,
}

impl Comparison {
    pub fn holds<T: PartialOrd>(self, observed: T, wanted: T) -> bool {
        match self {
            Comparison::Equal => observed == wanted,
            Comparison::NotEqual => observed != wanted,
            Comparison::Less => observed < wanted,
            Comparison::Greater => observed > wanted,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Equal => "=",
            Comparison::NotEqual => "≠",
            Comparison::Less => "<",
            Comparison::Greater => ">",
        }
    }
}

/// A content-length rule: `length <op> value` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LengthRule {
    pub comparison: Comparison,
    pub bytes: u64,
}

impl LengthRule {
    pub fn judge(&self, length: u64) -> Result<(), Mismatch> {
        if self.comparison.holds(length, self.bytes) {
            Ok(())
        } else {
            Err(Mismatch::Length {
                length,
                rule: *self,
            })
        }
    }
}

/// An exit-code rule: `code <op> value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitCodeRule {
    pub comparison: Comparison,
    pub code: i32,
}

impl Default for ExitCodeRule {
    fn default() -> Self {
        Self {
            comparison: Comparison::Equal,
            code: 0,
        }
    }
}

impl ExitCodeRule {
    pub fn judge(&self, code: i32) -> Result<(), Mismatch> {
        if self.comparison.holds(code, self.code) {
            Ok(())
        } else {
            Err(Mismatch::ExitCode { code, rule: *self })
        }
    }
}

/// What an HTTP response must satisfy (polls, HTTP DNS updates, HTTP notifications).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpCriteria {
    /// Accepted status codes.
    pub status_codes: Vec<u16>,
    /// Optional rule on the body length in bytes.
    pub content_length: Option<LengthRule>,
    /// Rules the body must pass, all of them (GET, POST and PUT only; a HEAD has no body).
    pub body: Vec<TextRule>,
}

impl Default for HttpCriteria {
    fn default() -> Self {
        Self {
            status_codes: default_status_codes(),
            content_length: None,
            body: Vec::new(),
        }
    }
}

pub fn default_status_codes() -> Vec<u16> {
    vec![200]
}

/// [`HttpCriteria`] with its regexes compiled.
#[derive(Clone, Debug)]
pub struct CompiledHttpCriteria {
    pub status_codes: Vec<u16>,
    pub content_length: Option<LengthRule>,
    pub body: Vec<CompiledTextRule>,
}

impl HttpCriteria {
    pub fn compile(&self) -> Result<CompiledHttpCriteria, regex::Error> {
        Ok(CompiledHttpCriteria {
            status_codes: self.status_codes.clone(),
            content_length: self.content_length,
            body: self
                .body
                .iter()
                .map(TextRule::compile)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl CompiledHttpCriteria {
    /// Judges a status code; a separate step because it is known before the body is read.
    pub fn judge_status(&self, status: u16) -> Result<(), Mismatch> {
        if self.status_codes.is_empty() || self.status_codes.contains(&status) {
            Ok(())
        } else {
            Err(Mismatch::Status {
                status,
                wanted: self.status_codes.clone(),
            })
        }
    }

    /// Judges the body (`None` for a HEAD request, whose length comes from the header).
    pub fn judge_body(&self, length: u64, body: Option<&str>) -> Result<(), Mismatch> {
        if let Some(rule) = &self.content_length {
            rule.judge(length)?;
        }
        if let Some(body) = body {
            for rule in &self.body {
                rule.judge(body)
                    .map_err(|why| Mismatch::Body(Box::new(why)))?;
            }
        }
        Ok(())
    }
}

/// How long to wait for a program and how to judge it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandWait {
    /// Seconds to wait before the program is killed and counted as failed.
    pub timeout_secs: u32,
    /// Rule on the exit code; `None` = any exit code.
    pub exit_code: Option<ExitCodeRule>,
    /// Rule on standard output; `None` = not judged.
    pub stdout: Option<TextRule>,
}

impl Default for CommandWait {
    fn default() -> Self {
        Self {
            timeout_secs: 10,
            exit_code: Some(ExitCodeRule::default()),
            stdout: None,
        }
    }
}

/// A program run with an argument vector, never through a shell. Arguments take tags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandSpec {
    /// The program: a path, or a name looked up in `PATH`.
    pub program: String,
    /// Arguments, one item each; `$TAG$`s are expanded in each.
    pub args: Vec<String>,
    /// `Some`: wait and judge; `None`: don't wait, a started process is a success.
    pub wait: Option<CommandWait>,
}

impl Default for CommandSpec {
    fn default() -> Self {
        Self {
            program: String::new(),
            args: Vec::new(),
            wait: Some(CommandWait::default()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn judge(rule: TextRule, text: &str) -> Result<(), String> {
        rule.compile()
            .unwrap()
            .judge(text)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn text_rules() {
        assert!(judge(TextRule::StartsWith("220".into()), "220 ready").is_ok());
        assert_eq!(
            judge(TextRule::StartsWith("220".into()), "421 busy"),
            Err("does not start with \"220\"".into())
        );
        assert!(judge(TextRule::NotStartsWith("5".into()), "220").is_ok());
        assert!(judge(TextRule::Contains("ok".into()), "all ok").is_ok());
        assert!(judge(TextRule::NotContains("error".into()), "an error").is_err());
        assert!(judge(TextRule::Matches("^20[01]".into()), "201 posting ok").is_ok());
        assert!(judge(TextRule::Matches("^20[01]".into()), "202 x").is_err());
        assert!(judge(TextRule::NotMatches("fail".into()), "ok").is_ok());
        assert!(judge(TextRule::Any, "").is_ok());
    }

    #[test]
    fn bad_regex_does_not_compile() {
        assert!(TextRule::Matches("(".into()).compile().is_err());
    }

    #[test]
    fn comparisons() {
        let rule = ExitCodeRule {
            comparison: Comparison::Less,
            code: 2,
        };
        assert!(rule.judge(1).is_ok());
        assert_eq!(
            rule.judge(2).unwrap_err().to_string(),
            "exit code 2 is not < 2"
        );
        let length = LengthRule {
            comparison: Comparison::Greater,
            bytes: 10,
        };
        assert!(length.judge(11).is_ok());
        assert!(length.judge(10).is_err());
        assert!(Comparison::NotEqual.holds(1, 2));
    }

    #[test]
    fn http_criteria() {
        let criteria = HttpCriteria {
            status_codes: vec![200, 204],
            content_length: Some(LengthRule {
                comparison: Comparison::Less,
                bytes: 100,
            }),
            body: vec![TextRule::Contains("Welcome".into())],
        }
        .compile()
        .unwrap();
        assert!(criteria.judge_status(204).is_ok());
        assert_eq!(
            criteria.judge_status(503).unwrap_err().to_string(),
            "status 503 is not 200 or 204"
        );
        assert!(criteria.judge_body(7, Some("Welcome")).is_ok());
        assert_eq!(
            criteria
                .judge_body(5, Some("Hello"))
                .unwrap_err()
                .to_string(),
            "body does not contain \"Welcome\""
        );
        assert!(criteria.judge_body(500, None).is_err());
        assert!(criteria.judge_body(5, None).is_ok());
    }
}
