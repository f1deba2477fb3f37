//! The child map (pid → what the child is to PID 1) and reaping: every
//! child that changed state is drained with `waitpid(-1, WNOHANG)`, so
//! coalesced SIGCHLDs are covered; untracked children are orphans, reaped
//! and forgotten.

use std::collections::HashMap;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use proto::Outcome;

use crate::core::action::Role;
use crate::logging::SELF;

#[derive(Default)]
pub struct Children {
    roles: HashMap<Pid, Role>,
    /// `waitpid` said ECHILD and nothing was started since.
    no_children: bool,
}

/// A tracked child that ended.
pub struct Ended {
    pub role: Role,
    pub pid: Pid,
    pub outcome: Outcome,
}

impl Children {
    pub fn track(&mut self, pid: Pid, role: Role) {
        self.roles.insert(pid, role);
        self.no_children = false;
    }

    pub fn none(&self) -> bool {
        self.no_children
    }

    /// Reaps every child that has ended; returns the tracked ones.
    pub fn reap(&mut self) -> Vec<Ended> {
        let mut ended = Vec::new();
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => return ended,
                Ok(status) => ended.extend(self.forget(status)),
                Err(Errno::EINTR) => continue,
                // No child at all: the stop sweep may be complete.
                Err(Errno::ECHILD) => {
                    self.no_children = true;
                    return ended;
                }
                Err(err) => {
                    log::error!(target: SELF, "waitpid: {err}");
                    return ended;
                }
            }
        }
    }

    fn forget(&mut self, status: WaitStatus) -> Option<Ended> {
        let pid = status.pid()?;
        let role = self.roles.remove(&pid)?;
        Some(Ended {
            role,
            pid,
            outcome: outcome(status),
        })
    }
}

/// How a reaped child ended (`waitpid` without WUNTRACED/WCONTINUED
/// reports only exits and deaths by signal).
fn outcome(status: WaitStatus) -> Outcome {
    match status {
        WaitStatus::Signaled(_, sig, _) => Outcome::Signal(sig as i32),
        WaitStatus::Exited(_, code) => Outcome::Exit(code),
        _ => Outcome::Exit(0),
    }
}
