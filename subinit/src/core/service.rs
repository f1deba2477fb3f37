//! A supervised service (runit's layout): `run` kept running in the
//! foreground, restarted with backoff; `finish CODE SIGNAL` after each exit;
//! `down` keeps it from starting. Pure: the machine passes `now` and the
//! facts (started, exited) and gets the children to launch back.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use proto::status::ServiceState;
use proto::Outcome;

use super::action::{Launch, Role};
use super::backoff::Backoff;
use super::plan::{Entry, Kind};
use crate::logging::SELF;

pub struct Service {
    pub name: String,
    dir: PathBuf,
    down: bool,
    stop_signal: Signal,
    has_finish: bool,
    /// `notification-fd`: the fd number the service reports readiness on.
    notify_fd: Option<i32>,
    /// The running `run`; only ever a pid PID 1 has not reaped yet, so it
    /// cannot have been reused by another process.
    pid: Option<Pid>,
    finish_pid: Option<Pid>,
    since: Instant,
    backoff: Backoff,
    restart_at: Option<Instant>,
    starts: u32,
}

impl Service {
    /// The supervised entries of the services directory, in order.
    pub fn from_entries(entries: &[Entry], now: Instant) -> Vec<Service> {
        entries
            .iter()
            .filter_map(|e| match e.kind {
                Kind::Supervised {
                    down,
                    stop_signal,
                    finish,
                    notify_fd,
                } => Some(Service {
                    name: e.name.clone(),
                    dir: e.path.clone(),
                    down,
                    stop_signal,
                    has_finish: finish,
                    notify_fd,
                    pid: None,
                    finish_pid: None,
                    since: now,
                    backoff: Backoff::default(),
                    restart_at: None,
                    starts: 0,
                }),
                Kind::Script => None,
            })
            .collect()
    }

    /// The state reported in status snapshots.
    pub fn state(&self, stopping: bool) -> ServiceState {
        match (self.pid, self.restart_at) {
            (Some(_), _) => ServiceState::Running,
            _ if self.down => ServiceState::Down,
            (None, Some(_)) if self.backoff.failing() => ServiceState::Failing,
            (None, Some(_)) => ServiceState::Restarting,
            (None, None) if stopping || self.starts > 0 => ServiceState::Stopped,
            (None, None) => ServiceState::Down,
        }
    }

    /// The running `run`'s pid, if it runs.
    pub fn pid(&self) -> Option<Pid> {
        self.pid
    }

    pub fn restarts(&self) -> u32 {
        self.starts.saturating_sub(1)
    }

    pub fn busy(&self) -> bool {
        self.pid.is_some() || self.finish_pid.is_some()
    }

    pub fn restart_at(&self) -> Option<Instant> {
        self.restart_at
    }

    /// Its backoff has run out and its `finish` is done.
    pub fn due(&self, now: Instant) -> bool {
        self.finish_pid.is_none() && self.restart_at.is_some_and(|at| at <= now)
    }

    /// What to launch as service `index`'s `run`; None when it is `down`.
    pub fn launch(&mut self, index: usize) -> Option<Launch> {
        self.restart_at = None;
        if self.down {
            log::info!(target: SELF, "{}: down, not started", self.name);
            return None;
        }
        Some(Launch {
            role: Role::Run(index),
            tag: self.name.clone(),
            argv: vec![self.dir.join("run").into()],
            cwd: self.dir.clone(),
            notify_fd: self.notify_fd,
        })
    }

    /// `run` started (true) or could not be executed (retried on the same
    /// backoff as a crash).
    pub fn started(&mut self, pid: Option<Pid>, now: Instant) {
        let Some(pid) = pid else {
            self.schedule_restart(now);
            return;
        };
        self.pid = Some(pid);
        self.since = now;
        self.starts += 1;
        log::info!(target: SELF, "{}: started (pid {pid}, start {})", self.name, self.starts);
    }

    pub fn finish_started(&mut self, pid: Option<Pid>) {
        self.finish_pid = pid;
    }

    pub fn finish_ended(&mut self) {
        self.finish_pid = None;
    }

    /// `run` ended: schedules the restart (unless stopping) and returns the
    /// `finish CODE SIGNAL` to launch, if the service has one.
    pub fn exited(
        &mut self,
        index: usize,
        outcome: Outcome,
        now: Instant,
        stopping: bool,
    ) -> Option<Launch> {
        self.pid = None;
        log::info!(
            target: SELF,
            "{}: exited ({outcome}) after {} ms",
            self.name,
            now.saturating_duration_since(self.since).as_millis()
        );
        if !stopping {
            self.schedule_restart(now);
        }
        if !self.has_finish {
            return None;
        }
        let (code, signal) = match outcome {
            Outcome::Exit(code) => (code, 0),
            Outcome::Signal(sig) => (-1, sig),
            Outcome::Timeout => (-1, 0),
        };
        Some(Launch {
            role: Role::Finish(index),
            tag: format!("{}/finish", self.name),
            argv: vec![
                self.dir.join("finish").into(),
                OsString::from(code.to_string()),
                OsString::from(signal.to_string()),
            ],
            cwd: self.dir.clone(),
            notify_fd: None,
        })
    }

    /// The stop: no more restarts; the signal to send, if `run` runs.
    pub fn stop(&mut self) -> Option<(Pid, Signal)> {
        self.restart_at = None;
        self.pid.map(|pid| (pid, self.stop_signal))
    }

    /// Logs how long `run` took to say it is ready.
    pub fn log_ready(&self, now: Instant) {
        let took = now.saturating_duration_since(self.since).as_millis();
        log::info!(target: SELF, "{}: ready after {took} ms", self.name);
    }

    fn schedule_restart(&mut self, now: Instant) {
        let delay = self
            .backoff
            .after_exit(now.saturating_duration_since(self.since));
        if self.backoff.failing() {
            log::warn!(
                target: SELF,
                "{}: failing ({} quick exits in a row), next try in {} s",
                self.name,
                self.backoff.quick_exits,
                delay.as_secs()
            );
        }
        self.restart_at = Some(now + delay);
    }
}
