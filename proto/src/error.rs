//! What can be wrong with a message on any of the channels.

use std::fmt;

/// A message that does not decode; each variant names what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Nothing where a message was expected.
    Empty,
    /// A line whose first word is not one of the channel's.
    UnknownLine(String),
    /// A field is missing from a line.
    MissingField { line: String, field: &'static str },
    /// A field that should be a number, or one of a fixed set of words.
    BadField { field: &'static str, text: String },
    /// `ready N` announced N failures, and another number followed.
    CountMismatch { announced: usize, found: usize },
    /// A status snapshot without its `state` line.
    NoState,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => write!(f, "empty message"),
            DecodeError::UnknownLine(line) => write!(f, "unknown line {line:?}"),
            DecodeError::MissingField { line, field } => {
                write!(f, "line {line:?} lacks its {field}")
            }
            DecodeError::BadField { field, text } => write!(f, "bad {field} {text:?}"),
            DecodeError::CountMismatch { announced, found } => write!(
                f,
                "`ready {announced}` followed by {found} `failed` line(s)"
            ),
            DecodeError::NoState => write!(f, "status snapshot without a `state` line"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A number field.
pub(crate) fn number<T: std::str::FromStr>(
    field: &'static str,
    text: &str,
) -> Result<T, DecodeError> {
    text.parse().map_err(|_| DecodeError::BadField {
        field,
        text: text.to_owned(),
    })
}
