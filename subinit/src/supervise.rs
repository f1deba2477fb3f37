//! Supervised services (runit's layout): `run` kept running in the
//! foreground, restarted with backoff; `finish CODE SIGNAL` after each exit;
//! `down` keeps it from starting.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::backoff::Backoff;
use crate::init::{describe, Init, Role};
use crate::logging::SELF;
use crate::services::{Entry, Kind};

pub struct Service {
    pub name: String,
    dir: PathBuf,
    down: bool,
    pub stop_signal: Signal,
    has_finish: bool,
    /// The running `run`; only ever a pid PID 1 has not reaped yet, so it
    /// cannot have been reused by another process.
    pub pid: Option<Pid>,
    pub finish_pid: Option<Pid>,
    since: Instant,
    backoff: Backoff,
    pub restart_at: Option<Instant>,
    pub starts: u32,
}

impl Service {
    /// The supervised entries of the services directory, in order.
    pub fn from_entries(entries: &[Entry]) -> Vec<Service> {
        entries
            .iter()
            .filter_map(|e| match e.kind {
                Kind::Supervised {
                    down,
                    stop_signal,
                    finish,
                } => Some(Service {
                    name: e.name.clone(),
                    dir: e.path.clone(),
                    down,
                    stop_signal,
                    has_finish: finish,
                    pid: None,
                    finish_pid: None,
                    since: Instant::now(),
                    backoff: Backoff::default(),
                    restart_at: None,
                    starts: 0,
                }),
                Kind::Script => None,
            })
            .collect()
    }

    /// The state reported in status snapshots.
    pub fn state(&self, stopping: bool) -> &'static str {
        match (self.pid, self.restart_at) {
            (Some(_), _) => "running",
            _ if self.down => "down",
            (None, Some(_)) if self.backoff.failing() => "failing",
            (None, Some(_)) => "restarting",
            (None, None) if stopping || self.starts > 0 => "stopped",
            (None, None) => "down",
        }
    }

    pub fn busy(&self) -> bool {
        self.pid.is_some() || self.finish_pid.is_some()
    }
}

impl Init {
    pub fn start_service(&mut self, index: usize) {
        let Some(service) = self.services.get(index) else {
            return;
        };
        if service.down {
            log::info!(target: SELF, "{}: down, not started", service.name);
            return;
        }
        let (name, run, dir) = (
            service.name.clone(),
            service.dir.join("run"),
            service.dir.clone(),
        );
        let result = self.launch(&name, &[run.into()], &dir, Role::Run(index));
        let service = &mut self.services[index];
        service.restart_at = None;
        match result {
            Ok(pid) => {
                service.pid = Some(pid);
                service.since = Instant::now();
                service.starts += 1;
                log::info!(target: SELF, "{name}: started (pid {pid}, start {})", service.starts);
            }
            // Could not execute `run`: retry on the same backoff as a crash.
            Err(_) => service.schedule_restart(),
        }
    }

    pub fn on_run_exit(&mut self, index: usize, status: WaitStatus) {
        let stopping = self.stop.is_some();
        let Some(service) = self.services.get_mut(index) else {
            return;
        };
        service.pid = None;
        log::info!(
            target: SELF,
            "{}: exited ({}) after {} ms",
            service.name,
            describe(status),
            service.since.elapsed().as_millis()
        );
        if !stopping {
            service.schedule_restart();
        }
        if service.has_finish {
            let (code, signal) = match status {
                WaitStatus::Exited(_, code) => (code, 0),
                WaitStatus::Signaled(_, sig, _) => (-1, sig as i32),
                _ => (-1, 0),
            };
            let argv: Vec<OsString> = vec![
                service.dir.join("finish").into(),
                code.to_string().into(),
                signal.to_string().into(),
            ];
            let (tag, dir) = (format!("{}/finish", service.name), service.dir.clone());
            if let Ok(pid) = self.launch(&tag, &argv, &dir, Role::Finish(index)) {
                self.services[index].finish_pid = Some(pid);
            }
        }
    }

    pub fn on_finish_exit(&mut self, index: usize) {
        if let Some(service) = self.services.get_mut(index) {
            service.finish_pid = None;
        }
    }

    /// Starts the services whose backoff has run out and whose `finish` is done.
    pub fn restart_due_services(&mut self, now: Instant) {
        if self.stop.is_some() {
            return;
        }
        let due: Vec<usize> = (0..self.services.len())
            .filter(|i| {
                let s = &self.services[*i];
                s.finish_pid.is_none() && s.restart_at.is_some_and(|at| at <= now)
            })
            .collect();
        for index in due {
            self.start_service(index);
        }
    }

    /// Sends each running service its stop signal; true if any was running.
    pub fn signal_services(&mut self) -> bool {
        let mut any = false;
        for service in &mut self.services {
            service.restart_at = None;
            if let Some(pid) = service.pid {
                any = true;
                if let Err(err) = kill(pid, service.stop_signal) {
                    log::debug!(target: SELF, "{}: kill {pid}: {err}", service.name);
                }
            }
            any |= service.finish_pid.is_some();
        }
        any
    }
}

impl Service {
    fn schedule_restart(&mut self) {
        let delay = self.backoff.after_exit(self.since.elapsed());
        if self.backoff.failing() {
            log::warn!(
                target: SELF,
                "{}: failing ({} quick exits in a row), next try in {} s",
                self.name,
                self.backoff.quick_exits,
                delay.as_secs()
            );
        }
        self.restart_at = Some(Instant::now() + delay);
    }
}
