//! `overlay-share PATH NAME [SUBPATH]`: binds the host's live PATH into
//! running subhost NAME at SUBPATH (default PATH). The original resolved
//! PATH inside the subhost's mount namespace, where the host's tree is not
//! mounted (compat "Known weaknesses"); here the host's tree is cloned on
//! the host side with open_tree(OPEN_TREE_CLONE), a detached mount held by
//! an fd, and that fd is carried into PID 1's mount namespace, where
//! move_mount attaches it. The fd is all that crosses: no host path is
//! resolved inside, and the target is reached with RESOLVE_IN_ROOT.

use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::model::paths::subhost_path;

use nix::errno::Errno;
use nix::fcntl::AT_FDCWD;
use nix::sched::{setns, CloneFlags};
use nix::sys::stat::SFlag;

use crate::error::{At, Error, Op, Result};
use crate::kernel::inroot::{file_kind, Root};
use crate::kernel::privilege::require_root;
use crate::kernel::sys::{move_mount, open_tree};
use crate::kernel::{idmap, userns};
use crate::subhost::lock;

pub fn share(path: &Path, name: &str, subpath: Option<&Path>) -> Result<i32> {
    require_root()?;
    // Checked against the recorded start time: never another process
    // that happens to have the same pid.
    let (st, pid1) = lock::running(name)?;
    let host = std::fs::canonicalize(path).at("resolve", path)?;
    let inside = subhost_path(subpath.unwrap_or(&host)).ok_or_else(|| Error::Sys {
        op: "share at",
        path: subpath.unwrap_or(&host).to_path_buf(),
        errno: Errno::EINVAL,
    })?;

    // Why here, before setns: PATH names the host's tree only in the
    // host's mount namespace. The clone is detached (no namespace holds
    // it) and takes PATH's submounts with it, like SHARE's recursive bind.
    let c = CString::new(host.as_os_str().as_bytes()).map_err(|_| Error::Sys {
        op: "open",
        path: host.clone(),
        errno: Errno::EINVAL,
    })?;
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_RECURSIVE as u32;
    let tree = open_tree(AT_FDCWD, &c, flags).at("clone the mount tree at", &host)?;
    // PRIVATE_USERS: the tree shows its real owners inside, as SHARE's.
    if let Some(ns) = userns::of(nix::unistd::Pid::from_raw(st.pid))? {
        // Why: root inside writes there as host root, setuid files too.
        if crate::model::config::reachable_by_users(&host) {
            return Err(Error::Untrusted {
                path: host,
                why: "PRIVATE_USERS: users other than root can reach it, and a \
                      setuid-root file made inside would be setuid-root for them",
            });
        }
        idmap::set_idmap(tree.as_fd(), ns.as_fd(), true)
            .at("idmap (PRIVATE_USERS) the mount tree at", &host)?;
    }
    let kind = file_kind(&tree, &host)?;
    if kind != SFlag::S_IFDIR && kind != SFlag::S_IFREG {
        return Err(Error::Untrusted {
            path: host,
            why: "not a directory or a regular file",
        });
    }

    // Why: a subhost process could ptrace a dumpable joiner and take its
    // fds (CVE-2016-9962); this one joins no pid namespace, but holds a
    // host mount until the end.
    nix::sys::prctl::set_dumpable(false).op("prctl(PR_SET_DUMPABLE, 0)")?;
    // Read here: the run directory is a host path.
    let map = crate::subhost::idrange::recorded(name);
    // Why: move_mount attaches only in the caller's own mount namespace;
    // joining PID 1's also makes "/" the subhost's root.
    setns(&pid1, CloneFlags::CLONE_NEWNS).op("setns into the subhost's mount namespace")?;
    let root = Root::open(Path::new("/"))?;
    // A symlink planted at SUBPATH resolves inside the subhost's root.
    // PRIVATE_USERS: made as root inside (host uid 0 has no id there).
    let make = || root.mount_target(&inside, kind == SFlag::S_IFDIR);
    let target = match map {
        Some(map) => userns::as_range_root(map, make)?,
        None => make()?,
    };
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    move_mount(tree.as_fd(), c"", target.as_fd(), c"", flags)
        .at("attach the clone inside the subhost at", &inside)?;
    log::debug!(
        "{} shared into {name} at {}",
        host.display(),
        inside.display()
    );
    Ok(0)
}
