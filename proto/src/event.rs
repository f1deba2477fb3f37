//! The monitor's events to the caller of `overlay-boot`, one line each:
//!
//! ```text
//! pid PID             PID 1 runs, with this host pid
//! failed NAME STATUS  a start action failed (from the ready report)
//! ready               every start action has returned
//! error REASON        the boot failed in the launcher
//! exited HOW          PID 1 ended before it reported ready
//! ```
//!
//! REASON and HOW are one line: a newline in them is written ` / `.

use crate::error::{number, DecodeError};
use crate::ready::Failure;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Pid(i32),
    Failed(Failure),
    Ready,
    Error(String),
    Exited(String),
}

impl Event {
    /// The line, with its newline.
    pub fn encode(&self) -> String {
        match self {
            Event::Pid(p) => format!("pid {p}\n"),
            Event::Failed(f) => format!("failed {}\n", f.encode()),
            Event::Ready => "ready\n".to_owned(),
            Event::Error(e) => format!("error {}\n", one_line(e)),
            Event::Exited(s) => format!("exited {}\n", one_line(s)),
        }
    }

    /// One line, without its newline.
    pub fn decode(line: &str) -> Result<Event, DecodeError> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "pid" => Ok(Event::Pid(number("pid", rest)?)),
            "failed" => Ok(Event::Failed(Failure::decode(rest)?)),
            "ready" if rest.is_empty() => Ok(Event::Ready),
            "error" => Ok(Event::Error(rest.to_owned())),
            "exited" => Ok(Event::Exited(rest.to_owned())),
            "" => Err(DecodeError::Empty),
            _ => Err(DecodeError::UnknownLine(line.to_owned())),
        }
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " / ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    #[test]
    fn round_trip() {
        for ev in [
            Event::Pid(42),
            Event::Failed(Failure {
                name: "web ui".into(),
                outcome: Outcome::Exit(1),
            }),
            Event::Ready,
            Event::Error("mount overlay on /x: busy".into()),
            Event::Exited("exit status 1".into()),
        ] {
            let line = ev.encode();
            assert_eq!(Event::decode(line.trim_end_matches('\n')), Ok(ev));
        }
        assert_eq!(Event::Error("a\nb".into()).encode(), "error a / b\n");
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "pid",
            "pid x",
            "failed ssh",
            "failed ssh ok",
            "ready 3",
            "hello",
        ] {
            assert!(Event::decode(bad).is_err(), "{bad}");
        }
    }
}
