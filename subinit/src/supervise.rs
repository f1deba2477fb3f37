//! Supervised services (runit's layout): `run` kept running in the
//! foreground, restarted with backoff; `finish CODE SIGNAL` after each exit;
//! `down` keeps it from starting.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};

use proto::ready::Failure;
use proto::status::ServiceState;

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
    /// `notification-fd`: the fd number the service reports readiness on.
    notify_fd: Option<i32>,
    /// The read end of that pipe while `run` runs.
    pub ready_pipe: Option<OwnedFd>,
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
                    notify_fd,
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
                    notify_fd,
                    ready_pipe: None,
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
        let (ready_read, notify) = match service.notify_fd.map(notification_pipe) {
            Some(Ok((read, write, n))) => (Some(read), Some((write, n))),
            Some(Err(err)) => {
                log::warn!(target: SELF, "{name}: no notification pipe: {err}");
                (None, None)
            }
            None => (None, None),
        };
        let waits = ready_read.is_some() && !self.boot.done;
        let result = self.launch(&name, &[run.into()], &dir, Role::Run(index), notify);
        let service = &mut self.services[index];
        service.restart_at = None;
        match result {
            Ok(pid) => {
                service.pid = Some(pid);
                service.since = Instant::now();
                service.starts += 1;
                service.ready_pipe = ready_read;
                log::info!(target: SELF, "{name}: started (pid {pid}, start {})", service.starts);
                if waits {
                    // The boot goes on once it says it is ready.
                    self.boot.wait_for(index, self.opts.script_timeout);
                }
            }
            // Could not execute `run`: retry on the same backoff as a crash.
            Err(_) => service.schedule_restart(),
        }
    }

    /// Reads the service's notification pipe: a newline means ready.
    pub fn on_ready_pipe(&mut self, index: usize) {
        let Some(service) = self.services.get_mut(index) else {
            return;
        };
        let Some(fd) = &service.ready_pipe else {
            return;
        };
        let mut buf = [0u8; 64];
        let mut ready = false;
        loop {
            match nix::unistd::read(fd.as_fd(), &mut buf) {
                Ok(0) => {
                    // Closed: nothing more will come on it.
                    service.ready_pipe = None;
                    break;
                }
                Ok(n) => ready |= buf[..n].contains(&b'\n'),
                Err(nix::errno::Errno::EINTR) => continue,
                // Drained for now (EAGAIN), or unusable.
                Err(_) => break,
            }
        }
        if ready {
            let took = service.since.elapsed().as_millis();
            if self.boot.stop_waiting_for(index) {
                log::info!(target: SELF, "{}: ready after {took} ms", service.name);
            }
        }
    }

    pub fn on_run_exit(&mut self, index: usize, status: WaitStatus) {
        let stopping = self.stop.is_some();
        let Some(service) = self.services.get_mut(index) else {
            return;
        };
        service.pid = None;
        service.ready_pipe = None;
        if self.boot.stop_waiting_for(index) {
            log::warn!(target: SELF, "{}: exited before it was ready", service.name);
            self.boot.failures.push(Failure {
                name: service.name.clone(),
                outcome: describe(status),
            });
        }
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
            if let Ok(pid) = self.launch(&tag, &argv, &dir, Role::Finish(index), None) {
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

/// A pipe for s6's notification-fd: the read end (non-blocking, PID 1's)
/// and the write end with the fd number it gets in the service.
fn notification_pipe(n: i32) -> nix::Result<(OwnedFd, OwnedFd, i32)> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok((read, write, n))
}
