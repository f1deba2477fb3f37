//! What the monitor tells the caller of `overlay-boot` over the status pipe,
//! one line per event, and how the caller shows it. Pure, unit-tested.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use proto::ready::ReadyReport;

/// One line of the status pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// PID 1 runs, with this host pid.
    Pid(i32),
    /// A start action failed: `failed NAME STATUS` relayed from the subinit.
    Failed(String),
    /// Every start action has returned (`ready N` from the subinit).
    Ready,
    /// The boot failed in the launcher: the reason.
    Error(String),
    /// PID 1 ended before it reported ready: how it ended.
    Exited(String),
}

impl Event {
    pub fn to_line(&self) -> String {
        match self {
            Event::Pid(p) => format!("pid {p}\n"),
            Event::Failed(f) => format!("failed {}\n", one_line(f)),
            Event::Ready => "ready\n".to_string(),
            Event::Error(e) => format!("error {}\n", one_line(e)),
            Event::Exited(s) => format!("exited {}\n", one_line(s)),
        }
    }

    pub fn parse(line: &str) -> Option<Event> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "pid" => rest.parse().ok().map(Event::Pid),
            "failed" => Some(Event::Failed(rest.to_string())),
            "ready" => Some(Event::Ready),
            "error" => Some(Event::Error(rest.to_string())),
            "exited" => Some(Event::Exited(rest.to_string())),
            _ => None,
        }
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " / ")
}

/// What the subinit wrote on its ready fd (`proto::ready`), as the
/// `NAME STATUS` of each failed start action. None when `ready` never came
/// (or the report does not decode).
pub fn parse_subinit(text: &str) -> Option<Vec<String>> {
    let report = ReadyReport::decode(text).ok()?;
    Some(report.failures.iter().map(ToString::to_string).collect())
}

/// The outcome of a boot as the caller saw it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub pid: Option<i32>,
    pub ready: bool,
    pub failed: Vec<String>,
    pub reason: Option<String>,
}

impl Outcome {
    pub fn add(&mut self, ev: Event) {
        match ev {
            Event::Pid(p) => self.pid = Some(p),
            Event::Failed(f) => self.failed.push(f),
            Event::Ready => self.ready = true,
            Event::Error(r) => self.reason = Some(r),
            Event::Exited(s) => {
                self.reason = Some(format!(
                    "the subhost's PID 1 ended before it was ready ({s})"
                ))
            }
        }
    }

    /// Reads events until EOF.
    pub fn read(pipe: impl std::io::Read) -> Outcome {
        let mut out = Outcome::default();
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(ev) = Event::parse(&line) {
                out.add(ev);
            }
        }
        out
    }
}

/// `NAME ready: pid PID, log LOG` on stdout, failed start actions on stderr.
pub fn print_ready(name: &str, pid: i32, log: &Path, failed: &[String]) {
    let _ = writeln!(
        std::io::stdout(),
        "{name} ready: pid {pid}, log {}",
        log.display()
    );
    for f in failed {
        let _ = writeln!(
            std::io::stderr(),
            "overlay-boot: {name}: start action failed: {f}"
        );
    }
}

/// The reason on stderr, then the last 10 lines of LOG.
pub fn print_failure(name: &str, reason: &str, log: &Path) {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "overlay-boot: {name}: boot failed: {reason}");
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail = last_lines(&text, 10);
    if !tail.is_empty() {
        let _ = writeln!(err, "last lines of {}:", log.display());
        for l in tail {
            let _ = writeln!(err, "  {l}");
        }
    }
}

pub fn last_lines(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        for ev in [
            Event::Pid(42),
            Event::Failed("ssh exit:1".into()),
            Event::Ready,
            Event::Error("mount overlay on /x: busy".into()),
            Event::Exited("exit status 1".into()),
        ] {
            let line = ev.to_line();
            assert_eq!(Event::parse(line.trim_end()), Some(ev));
        }
    }

    #[test]
    fn subinit_ready_text() {
        assert_eq!(parse_subinit("ready 0\n"), Some(vec![]));
        assert_eq!(
            parse_subinit("ready 1\nfailed web%20ui timeout\n"),
            Some(vec!["web ui timeout".to_string()])
        );
        assert_eq!(
            parse_subinit("ready 1\nfailed ssh exit:1\n"),
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
    fn tail_of_log() {
        assert_eq!(last_lines("a\nb\nc\n", 2), vec!["b", "c"]);
        assert_eq!(last_lines("", 10), Vec::<&str>::new());
    }
}
