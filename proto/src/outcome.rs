//! How a start action ended, as the ready report and the logs show it:
//! `exit:C`, `signal:S` or `timeout`.

use std::fmt;
use std::str::FromStr;

use crate::error::{number, DecodeError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It exited with this code (127: not found, 126: not executable, as a
    /// shell reports a program it cannot run).
    Exit(i32),
    /// A signal killed it.
    Signal(i32),
    /// It ran past its timeout and was killed.
    Timeout,
}

impl Outcome {
    pub fn is_success(self) -> bool {
        self == Outcome::Exit(0)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exit(code) => write!(f, "exit:{code}"),
            Outcome::Signal(sig) => write!(f, "signal:{sig}"),
            Outcome::Timeout => write!(f, "timeout"),
        }
    }
}

impl FromStr for Outcome {
    type Err = DecodeError;

    fn from_str(text: &str) -> Result<Outcome, DecodeError> {
        match text.split_once(':') {
            Some(("exit", code)) => Ok(Outcome::Exit(number("exit code", code)?)),
            Some(("signal", sig)) => Ok(Outcome::Signal(number("signal number", sig)?)),
            None if text == "timeout" => Ok(Outcome::Timeout),
            _ => Err(DecodeError::BadField {
                field: "outcome",
                text: text.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malformed() {
        for o in [
            Outcome::Exit(0),
            Outcome::Exit(127),
            Outcome::Signal(9),
            Outcome::Timeout,
        ] {
            assert_eq!(o.to_string().parse::<Outcome>(), Ok(o));
        }
        assert_eq!(Outcome::Exit(3).to_string(), "exit:3");
        for bad in [
            "",
            "exit",
            "exit:",
            "exit:x",
            "signal:-",
            "kill:9",
            "timeout:1",
        ] {
            assert!(bad.parse::<Outcome>().is_err(), "{bad}");
        }
        assert!(Outcome::Exit(0).is_success() && !Outcome::Timeout.is_success());
    }
}
