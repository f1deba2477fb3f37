//! The ready report, subinit → launcher on `--ready-fd`, written once when
//! every start action has returned:
//!
//! ```text
//! ready N
//! failed NAME STATUS        (N lines; NAME escaped, see `escape_name`)
//! ```
//!
//! EOF without `ready` means the subinit died (or a stop came) first.

use std::fmt;

use crate::error::{number, DecodeError};
use crate::name::{escape_name, unescape_name};
use crate::outcome::Outcome;

/// A start action that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub name: String,
    pub outcome: Outcome,
}

/// `NAME STATUS`, the name as it is (for people, not for the wire).
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.outcome)
    }
}

impl Failure {
    /// `NAME STATUS` with the name escaped: one line, two words.
    pub fn encode(&self) -> String {
        format!("{} {}", escape_name(&self.name), self.outcome)
    }

    /// The two words after `failed `.
    pub fn decode(words: &str) -> Result<Failure, DecodeError> {
        let (name, outcome) = words
            .split_once(' ')
            .ok_or_else(|| DecodeError::MissingField {
                line: words.to_owned(),
                field: "status",
            })?;
        Ok(Failure {
            name: unescape_name(name),
            outcome: outcome.parse()?,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadyReport {
    pub failures: Vec<Failure>,
}

impl ReadyReport {
    pub fn encode(&self) -> String {
        let mut text = format!("ready {}\n", self.failures.len());
        for failure in &self.failures {
            text.push_str(&format!("failed {}\n", failure.encode()));
        }
        text
    }

    /// The whole text read up to EOF.
    pub fn decode(text: &str) -> Result<ReadyReport, DecodeError> {
        let mut lines = text.lines();
        let first = lines.next().ok_or(DecodeError::Empty)?;
        let count = match first.split_once(' ') {
            Some(("ready", n)) => number::<usize>("failure count", n)?,
            _ => return Err(DecodeError::UnknownLine(first.to_owned())),
        };
        let failures = lines
            .map(|line| match line.strip_prefix("failed ") {
                Some(words) => Failure::decode(words),
                None => Err(DecodeError::UnknownLine(line.to_owned())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if failures.len() != count {
            return Err(DecodeError::CountMismatch {
                announced: count,
                found: failures.len(),
            });
        }
        Ok(ReadyReport { failures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(name: &str, outcome: Outcome) -> Failure {
        Failure {
            name: name.into(),
            outcome,
        }
    }

    #[test]
    fn bytes_as_before() {
        let report = ReadyReport {
            failures: vec![
                failure("ssh", Outcome::Exit(1)),
                failure("/opt/x", Outcome::Timeout),
            ],
        };
        assert_eq!(
            report.encode(),
            "ready 2\nfailed ssh exit:1\nfailed /opt/x timeout\n"
        );
        assert_eq!(ReadyReport::default().encode(), "ready 0\n");
    }

    #[test]
    fn round_trip() {
        let report = ReadyReport {
            failures: vec![
                failure("web ui", Outcome::Signal(9)),
                failure("50%\nx", Outcome::Exit(127)),
            ],
        };
        assert_eq!(ReadyReport::decode(&report.encode()), Ok(report));
        assert_eq!(failure("a b", Outcome::Exit(2)).to_string(), "a b exit:2");
    }

    #[test]
    fn malformed() {
        use DecodeError::*;
        let decode = ReadyReport::decode;
        assert_eq!(decode(""), Err(Empty));
        assert_eq!(decode("garbage\n"), Err(UnknownLine("garbage".into())));
        assert!(matches!(decode("ready x\n"), Err(BadField { .. })));
        assert!(matches!(decode("ready\n"), Err(UnknownLine(_))));
        assert_eq!(
            decode("ready 1\n"),
            Err(CountMismatch {
                announced: 1,
                found: 0
            })
        );
        assert!(matches!(
            decode("ready 1\nfailed ssh\n"),
            Err(MissingField { .. })
        ));
        assert!(matches!(
            decode("ready 1\nfailed ssh ok\n"),
            Err(BadField { .. })
        ));
        assert!(matches!(decode("ready 0\nbogus\n"), Err(UnknownLine(_))));
    }
}
