//! PID 1's event loop: one thread, one `poll` over the signalfd and the
//! services' output pipes, with a deadline taken from the nearest timer
//! (a script's timeout, a restart, the stop budget). Every state change goes
//! through the boot (`boot.rs`), supervision (`supervise.rs`) and shutdown
//! (`shutdown.rs`) steps, which only ever look at the current state.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use proto::ready::Failure;
use proto::status::ServiceState;
use proto::Outcome;

use crate::boot::Boot;
use crate::child;
use crate::logging::SELF;
use crate::options::Options;
use crate::output::OutputPipes;
use crate::session::SessionState;
use crate::shutdown::Stop;
use crate::signals::{self, Meaning, Sender};
use crate::status::StatusPipe;
use crate::supervise::Service;

/// What a tracked child is to PID 1. Untracked children are orphans: reaped
/// and forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The start or stop script PID 1 is waiting for.
    Foreground,
    /// The `run` of supervised service N.
    Run(usize),
    /// The `finish` of supervised service N.
    Finish(usize),
    /// The session's command.
    Session,
}

/// The one script PID 1 waits for at a time.
pub struct Foreground {
    pub pid: Pid,
    pub tag: String,
    pub started: Instant,
    pub deadline: Instant,
    pub timed_out: bool,
}

pub struct Init {
    pub opts: Options,
    pub is_pid1: bool,
    sigfd: SignalFd,
    output: OutputPipes,
    children: HashMap<Pid, Role>,
    /// `waitpid` said ECHILD and nothing was started since.
    pub no_children: bool,
    pub foreground: Option<Foreground>,
    pub boot: Boot,
    pub services: Vec<Service>,
    pub stop: Option<Stop>,
    pub status: Option<StatusPipe>,
    /// Something a status snapshot shows may have changed.
    pub status_changed: bool,
    pub session: Option<SessionState>,
}

impl Init {
    pub fn new(
        opts: Options,
        sigfd: SignalFd,
        is_pid1: bool,
        boot: Boot,
        services: Vec<Service>,
    ) -> Init {
        Init {
            opts,
            is_pid1,
            sigfd,
            output: OutputPipes::default(),
            children: HashMap::new(),
            no_children: false,
            foreground: None,
            boot,
            services,
            stop: None,
            status: None,
            status_changed: true,
            session: None,
        }
    }

    /// Runs until a requested stop has finished; returns the exit status:
    /// the session command's, or 0.
    pub fn run(&mut self) -> i32 {
        self.advance();
        loop {
            self.publish_status();
            if self.stop.as_ref().is_some_and(|s| s.finished) {
                self.output.flush_all();
                return self.session.as_ref().and_then(|s| s.status).unwrap_or(0);
            }
            self.wait_for_events();
            self.advance();
        }
    }

    /// Moves every state machine as far as it can go now.
    fn advance(&mut self) {
        let now = Instant::now();
        self.check_foreground_deadline(now);
        self.check_ready_deadline(now);
        self.restart_due_services(now);
        self.advance_boot();
        self.advance_stop(now);
    }

    fn next_deadline(&self) -> Option<Instant> {
        let fg = self
            .foreground
            .as_ref()
            .filter(|f| !f.timed_out)
            .map(|f| f.deadline);
        let restarts = self.services.iter().filter_map(|s| s.restart_at);
        let stop = self
            .stop_deadline()
            .into_iter()
            .chain(self.boot.waiting_deadline());
        fg.into_iter().chain(restarts).chain(stop).min()
    }

    fn wait_for_events(&mut self) {
        // Nothing but signals to wait for, and no deadline: block in the
        // signalfd's read itself, one syscall fewer per wake-up than poll
        // and read (the common case of a reaped orphan).
        let notifying: Vec<usize> = (0..self.services.len())
            .filter(|i| self.services[*i].ready_pipe.is_some())
            .collect();
        if self.output.is_empty() && notifying.is_empty() && self.next_deadline().is_none() {
            self.read_signals();
            return;
        }
        let timeout = match self.next_deadline() {
            None => PollTimeout::NONE,
            Some(at) => {
                // Round up so a wake-up never comes just before the deadline.
                let left =
                    at.saturating_duration_since(Instant::now()) + Duration::from_micros(999);
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
        };
        let ready = {
            let mut fds: Vec<PollFd> = std::iter::once(&self.sigfd)
                .map(|fd| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .chain(
                    self.output
                        .fds()
                        .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
                )
                .chain(notifying.iter().filter_map(|i| {
                    let fd = self.services[*i].ready_pipe.as_ref()?;
                    Some(PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                }))
                .collect();
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) => fds
                    .iter()
                    .map(|f| f.any().unwrap_or(false))
                    .collect::<Vec<bool>>(),
                // EINTR cannot happen with every signal blocked; log anything else and go on.
                Err(err) => {
                    log::debug!(target: SELF, "poll: {err}");
                    Vec::new()
                }
            }
        };
        if ready.first() == Some(&true) {
            self.read_signals();
        }
        let pipes = ready.len().saturating_sub(1 + notifying.len());
        for (n, index) in notifying.iter().enumerate() {
            if ready.get(1 + pipes + n) == Some(&true) {
                self.on_ready_pipe(*index);
            }
        }
        // Backwards: draining may remove a pipe by swapping in the last one.
        for index in (1..=pipes).rev().filter(|i| ready[*i]) {
            self.output.drain(index - 1);
        }
    }

    /// Reads the queued signals in batches; the signalfd blocks, so this is
    /// called only when it is readable, or to wait for the next signal. A
    /// batch shorter than the buffer means the queue was empty at that
    /// moment, which saves a read that would only block or say EAGAIN.
    fn read_signals(&mut self) {
        const INFO: usize = std::mem::size_of::<libc::signalfd_siginfo>();
        const BATCH: usize = 16;
        let mut buf = [0u8; INFO * BATCH];
        loop {
            match nix::unistd::read(self.sigfd.as_fd(), &mut buf) {
                Ok(n) => {
                    for info in buf[..n].chunks_exact(INFO) {
                        let sender = Sender {
                            pid: field(info, 12),
                            code: field(info, 8) as i32,
                        };
                        self.on_signal(field(info, 0) as i32, sender);
                    }
                    if n < buf.len() || !self.signal_pending() {
                        return;
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(err) => {
                    log::error!(target: SELF, "reading signals: {err}");
                    return;
                }
            }
        }
    }

    /// A signal is queued (a read would not block).
    fn signal_pending(&self) -> bool {
        let mut fds = [PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN)];
        matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }

    fn on_signal(&mut self, signo: i32, sender: Sender) {
        match signals::meaning(signo, sender, self.is_pid1) {
            Meaning::Child => self.reap(),
            Meaning::Stop => self.request_stop(&signals::name(signo)),
            Meaning::StopFromInside => log::warn!(
                target: SELF,
                "{} from pid {} inside the subhost (code {}) ignored: stop it from the host",
                signals::name(signo),
                sender.pid,
                sender.code
            ),
            Meaning::Hangup => log::info!(target: SELF, "SIGHUP received: nothing to reload"),
            Meaning::Ignore => log::debug!(target: SELF, "{} ignored", signals::name(signo)),
        }
    }

    /// Drains every child that has changed state; coalesced SIGCHLDs are
    /// covered because the loop runs until nothing is left to reap.
    pub fn reap(&mut self) {
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => return,
                Ok(status) => self.on_exit(status),
                Err(Errno::EINTR) => continue,
                // No child at all: the stop sweep may be complete.
                Err(Errno::ECHILD) => {
                    self.no_children = true;
                    return;
                }
                Err(err) => {
                    log::error!(target: SELF, "waitpid: {err}");
                    return;
                }
            }
        }
    }

    fn on_exit(&mut self, status: WaitStatus) {
        let Some(pid) = status.pid() else { return };
        let Some(role) = self.children.remove(&pid) else {
            return; // an orphan: reaped, nothing else to do
        };
        self.status_changed = true;
        match role {
            Role::Foreground => self.on_foreground_exit(pid, status),
            Role::Run(i) => self.on_run_exit(i, status),
            Role::Finish(i) => self.on_finish_exit(i),
            Role::Session => self.on_session_exit(status),
        }
    }

    fn on_foreground_exit(&mut self, pid: Pid, status: WaitStatus) {
        let Some(fg) = self.foreground.take_if(|f| f.pid == pid) else {
            return;
        };
        let outcome = if fg.timed_out {
            Outcome::Timeout
        } else {
            describe(status)
        };
        let took = fg.started.elapsed();
        if outcome.is_success() {
            log::info!(target: SELF, "{}: done in {} ms", fg.tag, took.as_millis());
        } else {
            log::warn!(target: SELF, "{}: failed ({outcome}) after {} ms", fg.tag, took.as_millis());
        }
        if self.stop.is_none() {
            if let Some(entry) = self
                .boot
                .scripts
                .last_mut()
                .filter(|(tag, _)| *tag == fg.tag)
            {
                entry.1 = if outcome.is_success() {
                    ServiceState::Started
                } else {
                    ServiceState::Failed
                };
            }
            if !outcome.is_success() {
                self.boot.failures.push(Failure {
                    name: fg.tag,
                    outcome,
                });
            }
        }
    }

    /// A notifying service that has not said it is ready in time: counted
    /// as failed, and the boot goes on (the service keeps running).
    fn check_ready_deadline(&mut self, now: Instant) {
        let Some(index) = self.boot.overdue(now) else {
            return;
        };
        let name = self
            .services
            .get(index)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        log::warn!(target: SELF, "{name}: not ready at its timeout; the boot goes on");
        self.boot.failures.push(Failure {
            name,
            outcome: Outcome::Timeout,
        });
        self.status_changed = true;
    }

    fn check_foreground_deadline(&mut self, now: Instant) {
        if let Some(fg) = self
            .foreground
            .as_mut()
            .filter(|f| !f.timed_out && now >= f.deadline)
        {
            fg.timed_out = true;
            log::warn!(target: SELF, "{}: still running at its timeout, killed", fg.tag);
            // Its own session, so its group holds what it started and did not detach.
            if let Err(err) = killpg(fg.pid, Signal::SIGKILL) {
                log::debug!(target: SELF, "killpg {}: {err}", fg.pid);
            }
        }
    }

    /// Starts a script PID 1 waits for; false if it could not be executed
    /// (counted as failed by the caller's log).
    pub fn start_foreground(
        &mut self,
        tag: &str,
        argv: &[OsString],
        timeout: Duration,
    ) -> Result<(), Outcome> {
        let pid = self.launch(tag, argv, Path::new("/"), Role::Foreground, None)?;
        let now = Instant::now();
        self.foreground = Some(Foreground {
            pid,
            tag: tag.to_owned(),
            started: now,
            deadline: now + timeout,
            timed_out: false,
        });
        Ok(())
    }

    pub fn track(&mut self, pid: Pid, role: Role) {
        self.children.insert(pid, role);
        self.no_children = false;
        self.status_changed = true;
    }

    /// Spawns a tracked child whose output is logged under `tag`.
    pub fn launch(
        &mut self,
        tag: &str,
        argv: &[OsString],
        cwd: &Path,
        role: Role,
        notify: Option<(OwnedFd, i32)>,
    ) -> Result<Pid, Outcome> {
        match child::spawn(argv, cwd, &self.opts.name, notify) {
            Ok(spawned) => {
                self.output.add(spawned.output, tag);
                self.track(spawned.pid, role);
                Ok(spawned.pid)
            }
            Err(err) => {
                let status = err.outcome();
                let program = argv
                    .first()
                    .map(|p| p.to_string_lossy())
                    .unwrap_or_default();
                let what = match err {
                    child::SpawnError::Exec(_) => "execute",
                    _ => "start",
                };
                log::error!(target: SELF, "{tag}: cannot {what} {program}: {err} ({status})");
                Err(status)
            }
        }
    }
}

/// A `u32` field of a `signalfd_siginfo` read as bytes (`ssi_signo` at 0,
/// `ssi_code` at 8, `ssi_pid` at 12).
fn field(info: &[u8], offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&info[offset..offset + 4]);
    u32::from_ne_bytes(bytes)
}

/// How a reaped child ended (`waitpid` without WUNTRACED/WCONTINUED
/// reports only exits and deaths by signal).
pub fn describe(status: WaitStatus) -> Outcome {
    match status {
        WaitStatus::Signaled(_, sig, _) => Outcome::Signal(sig as i32),
        WaitStatus::Exited(_, code) => Outcome::Exit(code),
        _ => Outcome::Exit(0),
    }
}
