//! The one script PID 1 waits for at a time (a start or stop script), with
//! its own deadline (`--script-timeout`, cut to the stop budget).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use proto::Outcome;

use super::action::{Launch, Role};
use crate::logging::SELF;

/// A script asked for and not yet reported started.
pub struct Pending {
    pub tag: String,
    pub timeout: Duration,
    /// A boot script (else a stop action).
    pub boot: bool,
}

impl Pending {
    /// A script to wait for, run in `/`, and what to remember of it until
    /// it is reported started.
    pub fn script(
        tag: String,
        argv: Vec<OsString>,
        timeout: Duration,
        boot: bool,
    ) -> (Pending, Launch) {
        let launch = Launch {
            role: Role::Foreground,
            tag: tag.clone(),
            argv,
            cwd: PathBuf::from("/"),
            notify_fd: None,
        };
        (Pending { tag, timeout, boot }, launch)
    }
}

pub struct Foreground {
    pub pid: Pid,
    pub tag: String,
    started: Instant,
    deadline: Instant,
    timed_out: bool,
}

impl Foreground {
    pub fn new(pid: Pid, tag: String, now: Instant, timeout: Duration) -> Foreground {
        Foreground {
            pid,
            tag,
            started: now,
            deadline: now + timeout,
            timed_out: false,
        }
    }

    /// When it must have ended, while it has not been killed yet.
    pub fn deadline(&self) -> Option<Instant> {
        (!self.timed_out).then_some(self.deadline)
    }

    /// Never later than `at` (the stop budget's end).
    pub fn cut_to(&mut self, at: Instant) {
        self.deadline = self.deadline.min(at);
    }

    /// Past its deadline: it is to be killed (once); true then.
    pub fn overdue(&mut self, now: Instant) -> bool {
        if self.timed_out || now < self.deadline {
            return false;
        }
        self.timed_out = true;
        log::warn!(target: SELF, "{}: still running at its timeout, killed", self.tag);
        true
    }

    /// It ended with `outcome` (or was killed at its timeout): logged, and
    /// how it counts.
    pub fn ended(&self, outcome: Outcome, now: Instant) -> Outcome {
        let outcome = if self.timed_out {
            Outcome::Timeout
        } else {
            outcome
        };
        let took = now.saturating_duration_since(self.started).as_millis();
        if outcome.is_success() {
            log::info!(target: SELF, "{}: done in {took} ms", self.tag);
        } else {
            log::warn!(target: SELF, "{}: failed ({outcome}) after {took} ms", self.tag);
        }
        outcome
    }
}
