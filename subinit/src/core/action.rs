//! What the core asks of the runtime, and what the runtime tells it back.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use proto::ready::ReadyReport;
use proto::Outcome;

/// The core's settings, from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The longest a start or stop script may run.
    pub script_timeout: Duration,
    /// The budget of the whole stop.
    pub stop_timeout: Duration,
    /// `--removed-caps`: what the launcher's SECURITY profile removed,
    /// named when a start script fails.
    pub removed_caps: Option<&'static str>,
}

/// What a tracked child is to PID 1. Untracked children are orphans: reaped
/// and forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// A child to start, its output logged under `tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub role: Role,
    pub tag: String,
    pub argv: Vec<OsString>,
    pub cwd: PathBuf,
    /// s6's notification-fd: the fd number the child reports readiness on.
    pub notify_fd: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start a child; the runtime answers with `Machine::started`.
    Spawn(Launch),
    /// Start the session's command; answered with `Machine::started`.
    StartSession,
    /// Send `signal` to a service that is still PID 1's unreaped child.
    Signal { pid: Pid, signal: Signal },
    /// SIGKILL to the process group of a script past its timeout.
    KillGroup(Pid),
    /// Every process but PID 1 (or, not PID 1, every descendant).
    SignalAll(Signal),
    /// As `SignalAll`, sparing the pids of the omit list (Debian's
    /// `/run/sendsigs.omit.d/*` and `/run/sendsigs.omit`): the sweep before
    /// a `$network` entry stops.
    Sweep(Signal),
    /// Write the ready report (and close the ready fd).
    ReportReady(ReadyReport),
    /// Close the ready fd without a report: a stop came first.
    CancelReady,
    /// The boot is over: PID 1 may trim its memory.
    BootDone,
}

/// How a `Spawn` or `StartSession` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    Running {
        pid: Pid,
        /// A notification pipe was made (only asked for with `notify_fd`).
        notifying: bool,
    },
    /// It could not be executed; how a shell would report it.
    Failed(Outcome),
}

impl Started {
    pub fn pid(self) -> Option<Pid> {
        match self {
            Started::Running { pid, .. } => Some(pid),
            Started::Failed(_) => None,
        }
    }

    pub fn notifying(self) -> bool {
        matches!(
            self,
            Started::Running {
                notifying: true,
                ..
            }
        )
    }
}

/// What the runtime knows at each step, taken as facts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// `waitpid` said ECHILD and nothing was started since.
    pub no_children: bool,
    /// No process but PID 1 is left (asked for only while stopping, see
    /// `Machine::wants_census`).
    pub nothing_left: bool,
    /// No process but PID 1 and the omitted ones is left (asked for as
    /// `nothing_left`; zombies do not count).
    pub no_strays: bool,
}
