//! overlay-go's entering child: forked by the caller, it joins the
//! subhost's cgroup and namespaces, makes a pty from the subhost's own
//! devpts (its master handed to the caller), and execs the subinit,
//! opened as PID 1's is (`exeseal`), as the exec helper (`subinit
//! --exec`), which starts the command in the subhost's pid namespace and
//! waits for it, passing stop signals on. No process of this host binary ever enters that pid
//! namespace: the setns only moves the helper's children.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{fcntl, AtFlags, FcntlArg, FdFlag};
use nix::sched::{setns, CloneFlags};
use nix::unistd::{chdir, execveat, fork, setpgid, ForkResult, Pid};

use super::Exec;
use crate::error::{At, Error, Op, Result};
use crate::kernel::inroot::Root;
use crate::kernel::pty::{self, SlaveSetup};
use crate::kernel::seccomp::Filter;
use crate::kernel::sys::close_range_from;
use crate::kernel::{caps, cgroup, cgroups};

/// What the entering child needs, prepared before the fork.
pub(super) struct Entering<'a> {
    pub(super) pid1: &'a OwnedFd,
    /// The subinit, opened on the host as PID 1's is (`exeseal`).
    pub(super) subinit: OwnedFd,
    /// The subhost's cgroup in every hierarchy (cgroup2, v1).
    pub(super) cg: &'a [PathBuf],
    pub(super) setup: SlaveSetup,
    pub(super) null: OwnedFd,
    /// PID 1 runs in a user namespace of its own (PRIVATE_USERS): join it
    /// too, as its root.
    pub(super) private_users: bool,
    /// The subhost's seccomp filter (SECURITY=hardened), built before the fork.
    pub(super) seccomp: Option<Filter>,
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
    /// the pty (sending its master to the caller) and exec the helper;
    /// returns only on failure.
    fn enter(self, exec: Exec, sock: Option<UnixStream>) -> Result<i32> {
        join(self.pid1, self.cg, self.private_users)?;
        // Why: the command lives under the filter of the subhost's PID 1
        // (SECURITY=hardened); installed before the capabilities go, as
        // the kernel wants CAP_SYS_ADMIN without NO_NEW_PRIVS (see spawn).
        if let Some(filter) = &self.seccomp {
            filter.install().op("seccomp")?;
        }
        // Why: what acts on the whole machine stays out, as for PID 1.
        caps::drop(exec.drop_caps).map_err(|(op, errno)| Error::Call { op, errno })?;
        let slave = match sock {
            Some(sock) => Some(inner_pty(&sock, &self.setup, &self.null)?),
            None => None,
        };
        let tty = slave.as_ref().map(AsRawFd::as_raw_fd);
        let (argv, env) = exec.helper_argv(tty);
        // Why: no host fd may reach the subhost (CVE-2024-21626); only
        // 0–2 and the pty slave pass the exec.
        close_range_from(3, libc::CLOSE_RANGE_CLOEXEC).op("close_range")?;
        if let Some(fd) = &slave {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty())).op("keep the pty fd")?;
        }
        let err = execveat(&self.subinit, c"", &argv, &env, AtFlags::AT_EMPTY_PATH)
            .err()
            .unwrap_or(Errno::UnknownErrno);
        Err(Error::Call {
            op: "execveat subinit --exec",
            errno: err,
        })
    }
}

/// Joins the subhost's cgroup and, with one setns, its namespaces.
fn join(pid1: &OwnedFd, cg: &[PathBuf], private_users: bool) -> Result<()> {
    // Why: the caller's terminal's ^C reaches the launcher only, which
    // passes it on once (see relay).
    setpgid(Pid::from_raw(0), Pid::from_raw(0)).op("setpgid")?;
    // Why first: the cgroup paths are host paths, gone after setns; every
    // hierarchy the subhost uses (cgroup2 and v1). v1 directories by this
    // (single-threaded) child's own thread, which avoids the kernel's
    // global lock (see kernel::cgroups).
    for dir in cg.iter().filter(|d| d.exists()) {
        match dir.join("tasks").exists() {
            true => cgroups::join_thread(dir)?,
            false => cgroup::join(dir, std::process::id() as i32)?,
        }
    }
    // Why: PID 1 could ptrace a dumpable joiner and steal its host fds
    // (CVE-2016-9962); exec makes the command dumpable again.
    nix::sys::prctl::set_dumpable(false).op("prctl(PR_SET_DUMPABLE, 0)")?;
    let mut all = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWCGROUP
        | CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    // Why: one setns with a pidfd joins every namespace at once, and the
    // mount namespace sets root and cwd to the subhost's root.
    if private_users {
        all |= CloneFlags::CLONE_NEWUSER;
    }
    setns(pid1, all).op("setns into the subhost")?;
    if private_users {
        // The caller is host root, unmapped inside: it becomes root there.
        crate::kernel::userns::become_root().map_err(|(op, errno)| Error::Call { op, errno })?;
    }
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
