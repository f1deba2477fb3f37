//! User namespaces for `PRIVATE_USERS`: a new user namespace with its id
//! maps written by host root and the network namespace it owns; PID 1
//! cloned into it; joining it as its root; the fsuid of its root for
//! the monitor's own writes (idmapped mounts are in `idmap`).
//!
//! Why a helper process: unshare(CLONE_NEWUSER) makes the caller lose its
//! host capabilities, and a multi-threaded or privileged monitor must
//! keep them. The helper unshares a user and a network namespace at once
//! (the netns is then owned by the new user namespace, so root inside has
//! CAP_NET_ADMIN over it), the monitor writes the maps and opens both
//! namespaces, and the helper exits: the fds keep the namespaces alive.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::Mode;
use nix::unistd::{pipe2, read, write, Pid};

use crate::error::{At, Op, Result};
use crate::kernel::sys::{clone3, Cloned};

/// Inside ids `0..count` are host ids `first..first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub first: u32,
    pub count: u32,
}

impl IdMap {
    /// The line of `uid_map` and `gid_map`.
    pub fn line(&self) -> String {
        format!("0 {} {}\n", self.first, self.count)
    }

    /// The last host id of the range.
    pub fn last(&self) -> u32 {
        self.first + (self.count - 1)
    }

    /// Whether two ranges share a host id.
    pub fn overlaps(&self, other: &IdMap) -> bool {
        self.first <= other.last() && other.first <= self.last()
    }
}

/// A new user namespace with `map` as its uid and gid map, and a new
/// network namespace it owns: (userns fd, netns fd).
pub fn create_with_net(map: IdMap) -> Result<(OwnedFd, OwnedFd)> {
    let (user, net) = create(map, true)?;
    let net = net.ok_or(crate::error::Error::Call {
        op: "open the user namespace's netns",
        errno: Errno::ENOENT,
    })?;
    Ok((user, net))
}

/// A new user namespace with `map` as its uid and gid map, and with `net`
/// a new network namespace it owns.
pub fn create(map: IdMap, net: bool) -> Result<(OwnedFd, Option<OwnedFd>)> {
    let (go_r, go_w) = pipe2(OFlag::O_CLOEXEC).op("pipe")?;
    let (done_r, done_w) = pipe2(OFlag::O_CLOEXEC).op("pipe")?;
    let flags = libc::CLONE_PIDFD as u64;
    match clone3(flags, None).op("clone3 user namespace helper")? {
        Cloned::Child => {
            drop(go_w);
            drop(done_r);
            // Why: it holds the monitor's fds (see `hop`).
            let _ = nix::sys::prctl::set_dumpable(false);
            let mut flags = CloneFlags::CLONE_NEWUSER;
            if net {
                flags |= CloneFlags::CLONE_NEWNET;
            }
            let code = match unshare(flags) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            let _ = write(&done_w, &[code]);
            // Waits for the monitor to have opened the namespaces.
            let _ = read(&go_r, &mut [0u8; 1]);
            // SAFETY: _exit in the child skips the parent's atexit handlers.
            unsafe { libc::_exit(0) }
        }
        Cloned::Parent { pid, pidfd: _ } => {
            drop(go_r);
            drop(done_w);
            let made = adopt(pid, map, &done_r, net);
            drop(go_w);
            let _ = nix::sys::wait::waitpid(pid, None);
            made
        }
    }
}

/// Writes the maps of the helper `pid` and opens its namespaces.
fn adopt(pid: Pid, map: IdMap, done: &OwnedFd, net: bool) -> Result<(OwnedFd, Option<OwnedFd>)> {
    let mut code = [1u8; 1];
    let n = read(done, &mut code).op("read user namespace helper")?;
    if n != 1 || code[0] != 0 {
        return Err(crate::error::Error::Call {
            op: "unshare(CLONE_NEWUSER|CLONE_NEWNET)",
            errno: Errno::EPERM,
        });
    }
    let proc = Path::new("/proc").join(pid.to_string());
    for file in ["uid_map", "gid_map"] {
        let path = proc.join(file);
        std::fs::write(&path, map.line()).at("write", &path)?;
    }
    let ns = |kind: &str| {
        let path = proc.join("ns").join(kind);
        open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).at("open", &path)
    };
    let netns = match net {
        true => Some(ns("net")?),
        false => None,
    };
    Ok((ns("user")?, netns))
}

/// clone3 as `sys::clone3`, with the child in the user namespace `userns`
/// so that its new namespaces (`flags`) are owned by it. Why a hop: a
/// process enters a user namespace only by setns, which would take the
/// monitor's host capabilities. An intermediate process enters it and
/// clones with CLONE_PARENT, so the child is the caller's own (waitpid,
/// SIGCHLD) and the caller opens its pidfd; the intermediate then exits.
/// The child keeps host uid 0 (unmapped inside) until it calls
/// [`become_root`]; CLONE_INTO_CGROUP needs that uid for `cgroup.procs`.
///
/// Only safe to call from a single-threaded process, as `sys::clone3`.
pub fn clone3_in(
    userns: &OwnedFd,
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
) -> std::result::Result<Cloned, Errno> {
    let (pid_r, pid_w) = pipe2(OFlag::O_CLOEXEC)?;
    match clone3(libc::CLONE_PIDFD as u64, None)? {
        Cloned::Child => {
            drop(pid_r);
            let answer: i64 = match hop(userns, flags, cgroup) {
                Ok(Cloned::Child) => return Ok(Cloned::Child),
                Ok(Cloned::Parent { pid, .. }) => i64::from(pid.as_raw()),
                Err(errno) => -(errno as i64),
            };
            let _ = write(&pid_w, &answer.to_ne_bytes());
            // SAFETY: _exit in the child skips the parent's atexit handlers.
            unsafe { libc::_exit(0) }
        }
        Cloned::Parent { pid: hop_pid, .. } => {
            drop(pid_w);
            let mut buf = [0u8; 8];
            let n = read(&pid_r, &mut buf);
            let _ = nix::sys::wait::waitpid(hop_pid, None);
            let answer = match n {
                Ok(8) => i64::from_ne_bytes(buf),
                _ => return Err(Errno::ECHILD),
            };
            if answer <= 0 {
                return Err(Errno::from_raw(-answer as i32));
            }
            let pid = Pid::from_raw(answer as libc::pid_t);
            let pidfd = crate::kernel::sys::pidfd_open(pid)?;
            Ok(Cloned::Parent { pid, pidfd })
        }
    }
}

/// The intermediate's work: enter `userns`, clone the child as a sibling.
fn hop(
    userns: &OwnedFd,
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
) -> std::result::Result<Cloned, Errno> {
    // Why here: PID 1 inherits it, and in its user namespace it lacks the
    // host's CAP_SYS_RESOURCE to keep itself from the OOM killer.
    // Without CAP_SYS_RESOURCE it keeps its score, and the monitor says so.
    let wr = OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    if let Ok(adj) = open("/proc/self/oom_score_adj", wr, Mode::empty()) {
        let _ = write(&adj, b"-1000");
    }
    // Why: in the user namespace root inside has CAP_SYS_PTRACE, and this
    // process holds the monitor's fds (CVE-2016-9962); not dumpable, only
    // a ptracer with host capabilities may attach. PID 1 inherits it until
    // its exec.
    nix::sys::prctl::set_dumpable(false)?;
    nix::sched::setns(userns, CloneFlags::CLONE_NEWUSER)?;
    clone3(flags | libc::CLONE_PARENT as u64, cgroup)
}

/// Makes the calling process root of its user namespace (uid and gid 0,
/// no supplementary groups) after `clone3_in`.
pub fn become_root() -> std::result::Result<(), (&'static str, Errno)> {
    let root = nix::unistd::Gid::from_raw(0);
    nix::unistd::setgroups(&[]).map_err(|e| ("setgroups", e))?;
    nix::unistd::setresgid(root, root, root).map_err(|e| ("setresgid", e))?;
    let root = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresuid(root, root, root).map_err(|e| ("setresuid", e))
}

/// Whether process `pid` runs in another user namespace than the caller
/// (a PRIVATE_USERS subhost's PID 1).
pub fn is_other(pid: Pid) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ns = |p: String| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    match (
        ns(format!("/proc/{pid}/ns/user")),
        ns("/proc/self/ns/user".into()),
    ) {
        (Ok(theirs), Ok(ours)) => theirs != ours,
        _ => false,
    }
}

/// Runs `f` with the file-system ids of the range's root (host id
/// `map.first`) and every capability kept. Why: the overlay works in its
/// upper layer with its mounter's credentials, and host uid 0 has no id
/// through an idmapped UPPER (EOVERFLOW, and a read-only overlay);
/// SECBIT_NO_SETUID_FIXUP keeps the capabilities the fsuid change would
/// clear (CAP_DAC_OVERRIDE…), which copy-up needs.
pub fn as_range_root<T>(map: IdMap, f: impl FnOnce() -> Result<T>) -> Result<T> {
    use nix::unistd::{setfsgid, setfsuid, Gid, Uid};
    // SAFETY: prctl(PR_GET_SECUREBITS) takes no pointer.
    let old = unsafe { libc::prctl(libc::PR_GET_SECUREBITS) };
    let old = Errno::result(old).op("prctl(PR_GET_SECUREBITS)")?;
    let keep = old | (1 << 2); // SECBIT_NO_SETUID_FIXUP
                               // SAFETY: prctl(PR_SET_SECUREBITS) takes an integer.
    let set = unsafe { libc::prctl(libc::PR_SET_SECUREBITS, keep as libc::c_ulong) };
    Errno::result(set).op("prctl(PR_SET_SECUREBITS)")?;
    setfsgid(Gid::from_raw(map.first));
    setfsuid(Uid::from_raw(map.first));
    let result = f();
    setfsuid(Uid::from_raw(0));
    setfsgid(Gid::from_raw(0));
    // SAFETY: as above, restoring the bits read first.
    let back = unsafe { libc::prctl(libc::PR_SET_SECUREBITS, old as libc::c_ulong) };
    let value = result?;
    Errno::result(back).op("prctl(PR_SET_SECUREBITS)")?;
    Ok(value)
}

/// The user namespace of a PRIVATE_USERS subhost's PID 1 (`pid`), or None
/// when it shares the caller's.
pub fn of(pid: Pid) -> Result<Option<OwnedFd>> {
    if !is_other(pid) {
        return Ok(None);
    }
    let path = format!("/proc/{pid}/ns/user");
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    open(path.as_str(), flags, Mode::empty())
        .at("open", &path)
        .map(Some)
}
