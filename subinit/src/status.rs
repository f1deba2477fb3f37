//! Status snapshots for the launcher (`--status-fd`): the subhost's state and
//! each service's, written whole after every change (see subinit(8)).

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;

use crate::init::Init;
use crate::logging::SELF;

pub struct StatusPipe {
    fd: File,
    last: String,
}

impl StatusPipe {
    pub fn new(fd: File) -> StatusPipe {
        StatusPipe {
            fd,
            last: String::new(),
        }
    }
}

impl Init {
    /// Writes a snapshot if anything changed since the last one.
    pub fn publish_status(&mut self) {
        // Most wake-ups (a reaped orphan) change nothing shown here.
        if self.status.is_none() || !std::mem::take(&mut self.status_changed) {
            return;
        }
        let snapshot = self.snapshot();
        let Some(pipe) = self.status.as_mut().filter(|p| p.last != snapshot) else {
            return;
        };
        // One write, so the reader never sees half a snapshot (pipe writes up
        // to PIPE_BUF are atomic; larger ones are still written whole).
        if let Err(err) = pipe.fd.write_all(snapshot.as_bytes()) {
            log::debug!(target: SELF, "status pipe: {err}; no more status reports");
            self.status = None;
            return;
        }
        pipe.last = snapshot;
    }

    fn snapshot(&self) -> String {
        let state = match (&self.stop, self.boot.done) {
            (Some(_), _) => "stopping",
            (None, false) => "booting",
            (None, true) => "ready",
        };
        let mut text = format!("state {state}\n");
        for (name, state) in &self.boot.scripts {
            let _ = writeln!(text, "service {} script {state}", escape(name));
        }
        for service in &self.services {
            let restarts = service.starts.saturating_sub(1);
            let state = match service.state(self.stop.is_some()) {
                s @ ("restarting" | "failing") => format!("{s} {restarts}"),
                s => s.to_owned(),
            };
            let _ = writeln!(text, "service {} supervised {state}", escape(&service.name));
        }
        text.push_str("end\n");
        text
    }
}

/// Names are single words in the snapshot: blanks and `%` are %-encoded.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            c if c.is_whitespace() => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_words() {
        assert_eq!(escape("10-syslog"), "10-syslog");
        assert_eq!(escape("a b%c\td"), "a%20b%25c%09d");
    }
}
