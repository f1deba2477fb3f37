//! overlay-go's entering child: forked by the caller, it joins the
//! subhost's cgroup and namespaces, makes a pty from the subhost's own
//! devpts (its master handed to the caller), starts the command and waits
//! for it, passing stop signals on.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{chdir, fork, setpgid, ForkResult, Pid};

use super::Exec;
use crate::error::{At, Error, Op, Result};
use crate::kernel::inroot::Root;
use crate::kernel::pty::{self, SlaveSetup};
use crate::kernel::{caps, cgroup};
use crate::model::exit::shell_code;

/// What the entering child needs, prepared before the fork.
pub(super) struct Entering<'a> {
    pub(super) pid1: &'a OwnedFd,
    pub(super) cg: Option<&'a Path>,
    pub(super) setup: SlaveSetup,
    pub(super) null: OwnedFd,
}

impl Entering<'_> {
    /// Why fork first: this process keeps the caller's terminal and relays
    /// it; it never enters the subhost (not even its cgroup, whose kill at
    /// the subhost's stop would leave the terminal raw). The child enters.
    /// `mine`/`theirs`: the two ends of the pty handover, with a pty; the
    /// parent gets `mine` back.
    pub(super) fn fork(
        self,
        exec: Exec,
        mine: Option<UnixStream>,
        theirs: Option<UnixStream>,
    ) -> Result<(Pid, Option<UnixStream>)> {
        // SAFETY: single-threaded; the child only enters, forks and execs.
        match unsafe { fork() }.op("fork")? {
            ForkResult::Child => {
                drop(mine);
                let code = match self.enter(exec, theirs) {
                    Ok(code) => code,
                    Err(e) => {
                        let _ = writeln!(std::io::stderr(), "overlay-go: {e}");
                        1
                    }
                };
                // SAFETY: leaving the forked child without the parent's exit handlers.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => Ok((child, mine)),
        }
    }

    /// In the forked child: join the subhost's cgroup and namespaces, make
    /// the pty (sending its master to the caller), start the command and
    /// wait for it, passing stop signals on. Returns the command's status.
    fn enter(self, exec: Exec, sock: Option<UnixStream>) -> Result<i32> {
        join(self.pid1, self.cg)?;
        // Why: what acts on the whole machine stays out, as for PID 1.
        caps::drop(exec.drop_caps).map_err(|(op, errno)| Error::Call { op, errno })?;
        let slave = match sock {
            Some(sock) => Some(inner_pty(&sock, &self.setup, &self.null)?),
            None => None,
        };
        run_command(exec, slave)
    }
}

/// Joins the subhost's cgroup and, with one setns, its namespaces.
fn join(pid1: &OwnedFd, cg: Option<&Path>) -> Result<()> {
    // Why: the caller's terminal's ^C reaches the launcher only, which
    // passes it on once (see relay).
    setpgid(Pid::from_raw(0), Pid::from_raw(0)).op("setpgid")?;
    if let Some(dir) = cg {
        // Why first: the cgroup path is a host path, gone after setns.
        cgroup::join(dir, std::process::id() as i32)?;
    }
    // Why: PID 1 could ptrace a dumpable joiner and steal its host fds
    // (CVE-2016-9962); exec makes the command dumpable again.
    nix::sys::prctl::set_dumpable(false).op("prctl(PR_SET_DUMPABLE, 0)")?;
    let all = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWCGROUP
        | CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    // Why: one setns with a pidfd joins every namespace at once, and the
    // mount namespace sets root and cwd to the subhost's root.
    setns(pid1, all).op("setns into the subhost")?;
    chdir("/").at("chdir", "/")
}

/// A pty from the subhost's own devpts (seen from inside its mount
/// namespace): its master goes to the caller over `sock`; the slave is
/// returned for the command.
fn inner_pty(sock: &UnixStream, setup: &SlaveSetup, null: &OwnedFd) -> Result<OwnedFd> {
    let root = Root::open(Path::new("/"))?;
    let pty = pty::open(&root, setup)?;
    pty::send_fd(sock, pty.master.as_fd())?;
    drop(pty.master);
    // Not even this process keeps the caller's terminal.
    for fd in 0..3 {
        // SAFETY: dup2 onto 0..2 replaces our own standard fds.
        let _ = unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
    Ok(pty.slave)
}

/// Starts the command (on `slave`, if any) and waits for it, passing the
/// stop signals on; its status as an exit code.
fn run_command(exec: Exec, slave: Option<OwnedFd>) -> Result<i32> {
    let mut mask = SigSet::empty();
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGCHLD,
    ] {
        mask.add(sig);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).op("sigprocmask")?;
    // SAFETY: single-threaded; the child only execs or exits.
    let cmd = match unsafe { fork() }.op("fork")? {
        ForkResult::Child => {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            exec.run(slave)
        }
        ForkResult::Parent { child } => child,
    };
    drop(slave);
    loop {
        match mask.wait() {
            Ok(Signal::SIGCHLD) => match waitpid(cmd, Some(WaitPidFlag::WNOHANG)) {
                Ok(end @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                    return Ok(shell_code(end))
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return Ok(1),
            },
            Ok(sig) => {
                let _ = kill(cmd, sig);
            }
            Err(_) => {}
        }
    }
}
