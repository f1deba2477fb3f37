//! What PID 1 gets beyond the base contract (docs/subinit-contract.md,
//! "Added for sessions and status"): on every boot a status pipe
//! (`--status-fd`), and for `overlay-boot --session` the slave of a new pty
//! from the subhost's own devpts and the command (`--session-fd N
//! --session-term TERM -- CMD…`). The monitor owns an `Attach`; setup
//! prepares it once LIVE is mounted, adds its arguments and fds to PID 1's,
//! and the monitor calls [`Attach::spawned`] once PID 1 runs.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::unistd::pipe2;

use crate::error::{Op, Result};
use crate::kernel::inroot::Root;
use crate::kernel::pty::{self, Pty, SlaveSetup};
use crate::subhost::status::StatusPipe;

/// A session asked for by `overlay-boot --session`.
pub struct SessionRequest {
    /// CMD and its arguments; empty for the default login shell.
    pub argv: Vec<OsString>,
    /// The caller's TERM, passed on as `--session-term`.
    pub term: Option<String>,
    pub slave: SlaveSetup,
    /// The caller's end receives the pty master over this socket (taken
    /// once it is sent, so the caller sees EOF after it).
    pub handoff: Option<UnixStream>,
}

#[derive(Default)]
pub struct Attach {
    session: Option<SessionRequest>,
    status_r: Option<File>,
    status_w: Option<OwnedFd>,
    pty: Option<Pty>,
    command: Vec<OsString>,
}

impl Attach {
    pub fn new(session: Option<SessionRequest>) -> Attach {
        Attach {
            session,
            ..Attach::default()
        }
    }

    pub fn is_session(&self) -> bool {
        self.session.is_some()
    }

    /// Makes the status pipe and, for a session, the pty. Runs in the
    /// monitor's mount namespace once LIVE and its /dev/pts are mounted.
    pub fn prepare(&mut self, live: &Path) -> Result<()> {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).op("pipe")?;
        self.status_r = Some(File::from(r));
        self.status_w = Some(w);
        if let Some(req) = &self.session {
            let root = Root::open(live)?;
            self.pty = Some(pty::open(&root, &req.slave)?);
            self.command = if req.argv.is_empty() {
                login_shell(&root)
            } else {
                req.argv.clone()
            };
        }
        Ok(())
    }

    /// PID 1's extra arguments; they go last (`--` ends the options).
    pub fn argv(&self) -> Vec<CString> {
        let mut a: Vec<Vec<u8>> = Vec::new();
        if let Some(w) = &self.status_w {
            a.push(b"--status-fd".to_vec());
            a.push(w.as_raw_fd().to_string().into_bytes());
        }
        if let (Some(req), Some(pty)) = (&self.session, &self.pty) {
            a.push(b"--session-fd".to_vec());
            a.push(pty.slave.as_raw_fd().to_string().into_bytes());
            if let Some(term) = &req.term {
                a.push(b"--session-term".to_vec());
                a.push(term.clone().into_bytes());
            }
            a.push(b"--".to_vec());
            a.extend(self.command.iter().map(|s| s.as_bytes().to_vec()));
        }
        a.into_iter().filter_map(|s| CString::new(s).ok()).collect()
    }

    /// The fds PID 1 inherits for these arguments.
    pub fn keep(&self) -> Vec<RawFd> {
        let mut fds: Vec<RawFd> = self.status_w.iter().map(AsRawFd::as_raw_fd).collect();
        fds.extend(self.pty.iter().map(|p| p.slave.as_raw_fd()));
        fds
    }

    /// PID 1 runs: close our copies of its ends, hand the pty master to the
    /// caller (the monitor keeps none, so the session hangs up if the caller
    /// dies), and return the status pipe, from which the monitor keeps
    /// /run/overlay-boot/NAME/status.
    pub fn spawned(&mut self, name: &str) -> Option<StatusPipe> {
        self.status_w = None;
        let handoff = self.session.as_mut().and_then(|r| r.handoff.take());
        if let (Some(pty), Some(sock)) = (self.pty.take(), handoff) {
            drop(pty.slave);
            if let Err(e) = pty::send_fd(&sock, pty.master.as_fd()) {
                log::error!("session: {e}");
            }
        }
        self.status_r.take().map(|r| StatusPipe::new(name, r))
    }
}

/// The default CMD: a login shell, bash where the subhost has it.
fn login_shell(root: &Root) -> Vec<OsString> {
    let has_bash = root.resolve(Path::new("bin/bash"), OFlag::O_PATH).is_ok();
    login_shell_argv(has_bash).map(OsString::from).to_vec()
}

/// The one choice of the login shell, for sessions and overlay-go alike:
/// bash where the subhost has it, else sh, started with `-l` (bash, dash
/// and busybox sh all take it). Not argv0 `-bash`: a session's CMD goes to
/// PID 1 as an argv it runs as given, so argv[0] must be the program.
pub fn login_shell_argv(has_bash: bool) -> [&'static str; 2] {
    match has_bash {
        true => ["/bin/bash", "-l"],
        false => ["/bin/sh", "-l"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_shell_is_bash_or_sh_with_dash_l() {
        assert_eq!(login_shell_argv(true), ["/bin/bash", "-l"]);
        assert_eq!(login_shell_argv(false), ["/bin/sh", "-l"]);
    }
}
