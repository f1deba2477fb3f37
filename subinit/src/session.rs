//! A session (`--session-fd FD -- CMD`): once the boot is done, CMD runs in
//! a session of its own with the launcher's pseudo-terminal as its
//! controlling terminal; when it exits, the subhost stops and the subinit
//! exits with CMD's status.

use std::ffi::OsString;
use std::fs::File;

use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::child;
use crate::init::{describe, Init, Role};
use crate::logging::SELF;
use crate::options::Session;

pub struct SessionState {
    argv: Vec<OsString>,
    term: String,
    /// The terminal's slave side, until CMD has it.
    tty: Option<File>,
    pid: Option<Pid>,
    /// CMD's status once it ended: its exit code, or 128+N for signal N.
    pub status: Option<i32>,
}

impl SessionState {
    pub fn new(session: Session, tty: File) -> SessionState {
        SessionState {
            argv: session.argv,
            term: session.term,
            tty: Some(tty),
            pid: None,
            status: None,
        }
    }
}

impl Init {
    pub fn start_session(&mut self) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let Some(tty) = session.tty.take() else {
            return;
        };
        let program = session.argv[0].to_string_lossy().into_owned();
        match child::spawn_on_terminal(&session.argv, tty, &session.term, &self.opts.name) {
            Ok(pid) => {
                session.pid = Some(pid);
                self.track(pid, Role::Session);
                log::info!(target: SELF, "session: {program} started (pid {pid})");
            }
            Err(err) => {
                log::error!(target: SELF, "session: cannot execute {program}: {err}");
                session.status = Some(if err.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                });
                self.request_stop("session command failed");
            }
        }
    }

    pub fn on_session_exit(&mut self, status: WaitStatus) {
        let code = match status {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
            _ => return,
        };
        log::info!(target: SELF, "session: ended ({})", describe(status));
        if let Some(session) = self.session.as_mut() {
            session.pid = None;
            session.status = Some(code);
        }
        self.request_stop("session ended");
    }
}
