//! What the caller of `overlay-boot` makes of the monitor's events
//! (`proto::event`, one line each on the status pipe), and of the
//! subinit's ready report (`proto::ready`). Pure, unit-tested.

use std::io::{BufRead, BufReader};

use proto::event::Event;
use proto::ready::{Failure, ReadyReport};

/// The start actions that failed, from what the subinit wrote on its
/// ready fd. None when `ready` never came (or the report does not decode).
pub fn parse_subinit(text: &str) -> Option<Vec<Failure>> {
    ReadyReport::decode(text).ok().map(|r| r.failures)
}

/// The outcome of a boot as the caller saw it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub pid: Option<i32>,
    pub ready: bool,
    /// Each failed start action as `NAME STATUS`.
    pub failed: Vec<String>,
    pub reason: Option<String>,
}

impl Outcome {
    pub fn add(&mut self, ev: Event) {
        match ev {
            Event::Pid(p) => self.pid = Some(p),
            Event::Failed(f) => self.failed.push(f.to_string()),
            Event::Ready => self.ready = true,
            Event::Error(r) => self.reason = Some(r),
            Event::Exited(s) => {
                self.reason = Some(format!(
                    "the subhost's PID 1 ended before it was ready ({s})"
                ))
            }
        }
    }

    /// Reads events until EOF; a line that does not decode is skipped.
    pub fn read(pipe: impl std::io::Read) -> Outcome {
        let mut out = Outcome::default();
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Ok(ev) = Event::decode(&line) {
                out.add(ev);
            }
        }
        out
    }
}

/// The last `n` lines of `text`.
pub fn last_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(failures: Option<Vec<Failure>>) -> Option<Vec<String>> {
        failures.map(|f| f.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn subinit_ready_text() {
        assert_eq!(names(parse_subinit("ready 0\n")), Some(vec![]));
        assert_eq!(
            names(parse_subinit("ready 1\nfailed web%20ui timeout\n")),
            Some(vec!["web ui timeout".to_string()])
        );
        assert_eq!(
            names(parse_subinit("ready 1\nfailed ssh exit:1\n")),
            Some(vec!["ssh exit:1".to_string()])
        );
        assert_eq!(parse_subinit(""), None);
        assert_eq!(parse_subinit("garbage\n"), None);
    }

    #[test]
    fn outcome_collects() {
        let o = Outcome::read("pid 7\nfailed a exit:1\nready\n".as_bytes());
        assert_eq!(
            o,
            Outcome {
                pid: Some(7),
                ready: true,
                failed: vec!["a exit:1".into()],
                reason: None
            }
        );
        let o = Outcome::read("pid 7\nexited exit status 1\n".as_bytes());
        assert!(!o.ready && o.reason.is_some());
    }

    #[test]
    fn a_failure_relayed_keeps_its_blank() {
        let f = Failure {
            name: "web ui".into(),
            outcome: proto::Outcome::Timeout,
        };
        let o = Outcome::read(Event::Failed(f).encode().as_bytes());
        assert_eq!(o.failed, vec!["web ui timeout".to_string()]);
    }

    #[test]
    fn tail_of_log() {
        assert_eq!(last_lines("a\nb\nc\n", 2), vec!["b", "c"]);
        assert_eq!(last_lines("", 10), Vec::<&str>::new());
    }
}
