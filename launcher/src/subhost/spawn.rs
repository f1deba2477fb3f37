//! The subhost's PID 1: cloned with its namespaces into its cgroup, it
//! joins the netns, pivots into LIVE, mounts /proc and execs the subinit
//! from an fd opened on the host (`exeseal`). The stop signals stay
//! blocked from the clone to the subinit's signalfd, so none is lost.
//! Its stdout and stderr are a pipe the monitor copies to LOG.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, open, AtFlags, FcntlArg, FdFlag, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::stat::Mode;
use nix::unistd::{
    chdir, dup2_stderr, dup2_stdin, dup2_stdout, execveat, fchdir, pipe2, pivot_root, Pid,
};

use proto::child::ChildReport;

use crate::error::{Error, Op, Result};
use crate::kernel::seccomp::Filter;
use crate::kernel::sys::{clone3, close_range_from, Cloned};
use crate::subhost::confine;

/// Everything PID 1 needs, prepared before the clone so the child only
/// makes system calls.
pub struct Plan<'a> {
    pub live: &'a Path,
    pub netns: &'a OwnedFd,
    /// PRIVATE_USERS: the user namespace PID 1 is cloned into.
    pub userns: Option<&'a OwnedFd>,
    pub cgroup: Option<&'a OwnedFd>,
    pub subinit: &'a OwnedFd,
    /// The write end of PID 1's output pipe (the monitor copies it to LOG).
    pub output: &'a OwnedFd,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    /// fds the subinit inherits (--ready-fd, --init-fd).
    pub keep: Vec<RawFd>,
    /// Capabilities PID 1 gives up for good before exec (see caps).
    pub drop_caps: crate::model::caps::Caps,
    /// `SECURITY=hardened`: the subhost's NAME (for its hostname); see confine.
    pub hardened: Option<&'a str>,
    /// SECURITY=hardened: the seccomp filter PID 1 installs before exec.
    pub seccomp: Option<&'a Filter>,
}

/// Clones PID 1 and returns its host pid and pidfd once it has exec'd the
/// subinit; a failure before exec comes back as `Error::Child`.
pub fn spawn(plan: &Plan) -> Result<(Pid, OwnedFd)> {
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).op("pipe")?;
    let flags = (libc::CLONE_NEWPID
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWTIME
        | libc::CLONE_NEWCGROUP
        | libc::CLONE_PIDFD) as u64;
    // Why: one call gives new namespaces, birth inside the cgroup (nothing
    // of the subhost ever runs outside it; with CLONE_INTO_CGROUP the new
    // cgroup namespace is rooted there) and a pidfd immune to pid reuse.
    // Why blocked: PID 1 of a pid namespace drops a signal it neither
    // blocks nor handles, and the monitor's handlers do not survive exec; a
    // stop sent before the subinit's signalfd exists must wait for it.
    let old = block_signals().op("sigprocmask")?;
    let cgroup = plan.cgroup.map(|fd| fd.as_fd());
    let cloned = match plan.userns {
        None => clone3(flags, cgroup),
        Some(ns) => crate::kernel::userns::clone3_in(ns, flags, cgroup),
    };
    if !matches!(cloned, Ok(Cloned::Child)) {
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None).op("sigprocmask")?;
    }
    match cloned.op("clone3")? {
        Cloned::Child => {
            drop(err_r);
            let (step, errno) = match child(plan) {
                Ok(never) => match never {},
                Err(failed) => failed,
            };
            let msg = ChildReport::encode(step, errno as i32);
            let _ = nix::unistd::write(&err_w, msg.as_bytes());
            // SAFETY: _exit in the child skips the parent's atexit handlers.
            unsafe { libc::_exit(127) }
        }
        Cloned::Parent { pid, pidfd } => {
            drop(err_w);
            let mut report = String::new();
            let _ = std::fs::File::from(err_r).read_to_string(&mut report);
            let failed = match ChildReport::decode(&report) {
                Ok(None) => return Ok((pid, pidfd)),
                Ok(Some(r)) => (r.step, Errno::from_raw(r.errno)),
                Err(e) => (format!("(unreadable report: {e})"), Errno::UnknownErrno),
            };
            let _ = nix::sys::wait::waitpid(pid, None);
            Err(Error::Child {
                step: failed.0,
                errno: failed.1,
            })
        }
    }
}

/// The child's steps; returns only on failure (step, errno).
fn child(plan: &Plan) -> std::result::Result<std::convert::Infallible, (&'static str, Errno)> {
    // Why: a session of its own, so no terminal of the caller's is its
    // controlling tty (no TIOCSTI into the host) and ^C does not reach it.
    nix::unistd::setsid().map_err(|e| ("setsid", e))?;
    // Why: PID 1 is never the OOM victim (MEMORY_MAX); the subinit puts its
    // children back to 0. Host /proc still, before the pivot. Without
    // CAP_SYS_RESOURCE (EACCES) it keeps its score: the monitor says so.
    if let Ok(adj) = open(
        "/proc/self/oom_score_adj",
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        let _ = nix::unistd::write(&adj, b"-1000");
    }
    setns(plan.netns, CloneFlags::CLONE_NEWNET).map_err(|e| ("setns netns", e))?;
    if plan.userns.is_some() {
        // Why: the mounts copied into a user namespace's mount namespace
        // are locked, and pivot_root refuses a locked new root; a bind
        // made here is not.
        let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount(
            Some(plan.live),
            plan.live,
            None::<&str>,
            rbind,
            None::<&str>,
        )
        .map_err(|e| ("bind LIVE onto itself", e))?;
    }
    // SECURITY=hardened: the masks' source goes below /proc (see confine).
    let masks = pivot(plan.live, plan.hardened.is_some())?;
    // Why after the pivot: until then PID 1 is host root (unmapped in its
    // user namespace), which BASE's mode 0700 lets through to LIVE.
    if plan.userns.is_some() {
        crate::kernel::userns::become_root()?;
    }
    let masks = masks.map(confine::mask_source).transpose()?;
    if let (Some(masks), Some(name)) = (&masks, plan.hardened) {
        confine::confine(masks, name)?;
    }
    stdio(plan.output)?;
    // The mask stays as spawn set it (every signal but the faults blocked,
    // as the subinit keeps it); ignored dispositions survive exec: reset.
    // SAFETY: restoring the default disposition installs no handler.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.map_err(|e| ("signal", e))?;
    // Why: SECURITY=hardened refuses the calls that reach the kernel's
    // code or the host whatever the capabilities (model::seccomp), in PID 1
    // and so in everything inside. The last step that can refuse anything
    // (what follows makes none of those calls), but before the capabilities
    // go: without NO_NEW_PRIVS (setuid programs must work inside) the
    // kernel wants CAP_SYS_ADMIN, which the hardened profile drops.
    if let Some(filter) = plan.seccomp {
        filter.install().map_err(|e| ("seccomp", e))?;
    }
    // Why: what acts on the whole machine leaves the subhost for good.
    crate::kernel::caps::drop(plan.drop_caps)?;
    // Why: no host fd may cross into the subhost (CVE-2024-21626); mark all
    // close-on-exec, then let only the declared ones through.
    close_range_from(3, libc::CLOSE_RANGE_CLOEXEC).map_err(|e| ("close_range", e))?;
    for &fd in &plan.keep {
        // SAFETY: fd is one of the plan's open descriptors, valid until exec.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        fcntl(bfd, FcntlArg::F_SETFD(FdFlag::empty())).map_err(|e| ("keep fd", e))?;
    }
    let empty = c"";
    execveat(
        plan.subinit,
        empty,
        &plan.argv,
        &plan.env,
        AtFlags::AT_EMPTY_PATH,
    )
    .map_err(|e| ("execveat subinit", e))
}

/// Warns when PID 1 (host pid `pid`) could not be kept from the OOM killer.
pub fn check_oom_score(pid: Pid) {
    let file = format!("/proc/{pid}/oom_score_adj");
    match std::fs::read_to_string(&file).map(|t| t.trim().to_string()) {
        Ok(v) if v == "-1000" => {}
        Ok(v) => log::warn!(
            "PID 1's oom_score_adj is {v}, not -1000 (no CAP_SYS_RESOURCE here): \
             under MEMORY_MAX the OOM killer picks it only if it is the largest process"
        ),
        Err(e) => log::warn!("{file}: {e}"),
    }
}

/// Blocks every signal but the fault signals (as the subinit does) and
/// returns the mask before.
fn block_signals() -> nix::Result<SigSet> {
    let mut set = SigSet::all();
    for sig in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGABRT,
        Signal::SIGTRAP,
        Signal::SIGSYS,
    ] {
        set.remove(sig);
    }
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))?;
    Ok(old)
}

/// pivot_root(".", ".") in LIVE, then detach the old root so no path
/// inside leads to the host's files (the nsenter -m escape). `masks`
/// (SECURITY=hardened): their tmpfs is mounted on LIVE's proc first, and
/// returned.
fn pivot(
    live: &Path,
    masks: bool,
) -> std::result::Result<Option<confine::MaskDir>, (&'static str, Errno)> {
    let dir = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let old = open("/", dir, Mode::empty()).map_err(|e| ("open /", e))?;
    chdir(live).map_err(|e| ("chdir LIVE", e))?;
    let masks = masks.then(|| confine::mask_dir("proc")).transpose()?;
    // Why here: /proc shows the pid namespace of the mounter: ours, as PID
    // 1. Why before the pivot: in a user namespace (PRIVATE_USERS) the
    // kernel mounts a proc only where a full one is visible (the host's,
    // until the old root is detached).
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), "proc", Some("proc"), flags, None::<&str>)
        .map_err(|e| ("mount /proc", e))?;
    pivot_root(".", ".").map_err(|e| ("pivot_root", e))?;
    // The old root is now stacked on "/"; step onto it to detach it.
    fchdir(&old).map_err(|e| ("fchdir old root", e))?;
    // Why rslave: the detach must not propagate to any peer.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| ("make old root rslave", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| ("detach old root", e))?;
    drop(old);
    chdir("/").map_err(|e| ("chdir /", e))?;
    Ok(masks)
}

/// stdin from the subhost's /dev/null (or an empty pipe), stdout and
/// stderr to the output pipe. Why not LOG itself: a host file as PID 1's
/// fd 1 is a starting point for open_by_handle_at on the host's
/// filesystem (issue 9, item 5); a pipe leads nowhere.
fn stdio(output: &OwnedFd) -> std::result::Result<(), (&'static str, Errno)> {
    match open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(null) => dup2_stdin(&null).map_err(|e| ("dup2 stdin", e))?,
        Err(_) => {
            let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| ("pipe", e))?;
            drop(w);
            dup2_stdin(&r).map_err(|e| ("dup2 stdin", e))?;
        }
    }
    dup2_stdout(output).map_err(|e| ("dup2 stdout", e))?;
    dup2_stderr(output).map_err(|e| ("dup2 stderr", e))
}
