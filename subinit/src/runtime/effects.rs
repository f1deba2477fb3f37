//! Carries out the core's actions: starts children (their output logged,
//! their pid tracked), sends signals, writes the ready report. The answer
//! to a start goes back to the core through the event loop.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{getpid, Pid};
use proto::ready::ReadyReport;
use proto::Outcome;

use super::children::Children;
use super::notify::ReadyPipes;
use super::output::OutputPipes;
use super::{memory, omit, procs, spawn};
use crate::core::action::{Action, Launch, Role, Started};
use crate::logging::SELF;

/// The session's command and its terminal, until it is started.
pub struct SessionSpawn {
    pub argv: Vec<OsString>,
    pub term: String,
    pub tty: File,
}

pub struct Effects {
    pub children: Children,
    pub output: OutputPipes,
    pub ready_pipes: ReadyPipes,
    subhost: String,
    is_pid1: bool,
    ready_fd: Option<File>,
    session: Option<SessionSpawn>,
}

impl Effects {
    pub fn new(
        subhost: String,
        is_pid1: bool,
        ready_fd: Option<File>,
        session: Option<SessionSpawn>,
    ) -> Effects {
        Effects {
            children: Children::default(),
            output: OutputPipes::default(),
            ready_pipes: ReadyPipes::default(),
            subhost,
            is_pid1,
            ready_fd,
            session,
        }
    }

    /// Carries out `action`; for a start, the answer for the core.
    pub fn execute(&mut self, action: Action) -> Option<(Role, Started)> {
        match action {
            Action::Spawn(launch) => return Some((launch.role, self.launch(&launch))),
            Action::StartSession => return Some((Role::Session, self.start_session())),
            Action::Signal { pid, signal } => {
                if let Err(err) = kill(pid, signal) {
                    log::debug!(target: SELF, "kill {pid} {signal}: {err}");
                }
            }
            Action::KillGroup(pid) => {
                if let Err(err) = killpg(pid, Signal::SIGKILL) {
                    log::debug!(target: SELF, "killpg {pid}: {err}");
                }
            }
            Action::SignalAll(sig) => self.signal_all(sig),
            Action::Sweep(sig) => self.sweep(sig),
            Action::ReportReady(report) => self.report_ready(&report),
            // Closing the fd without a report tells the launcher.
            Action::CancelReady => self.ready_fd = None,
            Action::BootDone => memory::release_clean_text(),
        }
        None
    }

    fn launch(&mut self, launch: &Launch) -> Started {
        let notify = match (launch.role, launch.notify_fd) {
            (Role::Run(index), Some(n)) => match self.ready_pipes.open(index) {
                Ok(write) => Some((write, n)),
                Err(err) => {
                    log::warn!(target: SELF, "{}: no notification pipe: {err}", launch.tag);
                    None
                }
            },
            _ => None,
        };
        let notifying = notify.is_some();
        match spawn::spawn(&launch.argv, &launch.cwd, &self.subhost, notify) {
            Ok(spawned) => {
                self.output.add(spawned.output, &launch.tag);
                self.children.track(spawned.pid, launch.role);
                Started::Running {
                    pid: spawned.pid,
                    notifying,
                }
            }
            Err(err) => {
                if let Role::Run(index) = launch.role {
                    self.ready_pipes.close(index);
                }
                let status = err.outcome();
                let program = launch.argv.first().map(|p| p.to_string_lossy());
                let program = program.unwrap_or_default();
                let what = match err {
                    spawn::SpawnError::Exec(_) => "execute",
                    _ => "start",
                };
                log::error!(target: SELF, "{}: cannot {what} {program}: {err} ({status})", launch.tag);
                Started::Failed(status)
            }
        }
    }

    fn start_session(&mut self) -> Started {
        let Some(session) = self.session.take() else {
            return Started::Failed(Outcome::Exit(126));
        };
        let program = session.argv[0].to_string_lossy().into_owned();
        let started =
            spawn::spawn_on_terminal(&session.argv, session.tty, &session.term, &self.subhost);
        match started {
            Ok(pid) => {
                self.children.track(pid, Role::Session);
                log::info!(target: SELF, "session: {program} started (pid {pid})");
                Started::Running {
                    pid,
                    notifying: false,
                }
            }
            Err(err) => {
                log::error!(target: SELF, "session: cannot execute {program}: {err}");
                let code = match err.kind() {
                    std::io::ErrorKind::NotFound => 127,
                    _ => 126,
                };
                Started::Failed(Outcome::Exit(code))
            }
        }
    }

    fn report_ready(&mut self, report: &ReadyReport) {
        let Some(mut fd) = self.ready_fd.take() else {
            return;
        };
        // The launcher may be gone (a killed caller): the subhost runs on.
        if let Err(err) = fd.write_all(report.encode().as_bytes()) {
            log::warn!(target: SELF, "cannot report readiness: {err}");
        }
    }

    /// `sig` to every process but PID 1 and the omitted ones: `kill(-1)`
    /// when PID 1 spares nobody (atomic: a fork cannot slip past it), else
    /// one by one.
    fn sweep(&self, sig: Signal) {
        let omitted = omit::omitted();
        let strays = procs::strays(self.is_pid1, &omitted);
        log::info!(
            target: SELF,
            "sweep: {sig} to {} process(es), {} pid(s) omitted",
            strays.len(),
            omitted.len()
        );
        if omitted.is_empty() {
            return self.signal_all(sig);
        }
        for pid in strays {
            match kill(pid, sig) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(err) => log::warn!(target: SELF, "sweep: {sig} to {pid}: {err}"),
            }
        }
    }

    /// As PID 1, `kill(-1)` reaches every process of the namespace but
    /// itself. As a subreaper it would reach the whole host, so the
    /// descendants are signalled one by one instead.
    fn signal_all(&self, sig: Signal) {
        let result = if self.is_pid1 {
            kill(Pid::from_raw(-1), sig)
        } else {
            procs::descendants(getpid())
                .into_iter()
                .try_for_each(|pid| match kill(pid, sig) {
                    // Gone since the table was read.
                    Err(Errno::ESRCH) | Ok(()) => Ok(()),
                    Err(err) => Err(err),
                })
        };
        match result {
            // Nobody left to signal.
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(err) => log::warn!(target: SELF, "sending {sig} to all: {err}"),
        }
    }
}
