//! "Enter a namespace, run f, come back", once. setns(2) and unshare(2)
//! change only the calling thread's namespaces; the way back is an fd on
//! the one it was in, opened first.

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{open, OFlag};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::Mode;

use crate::error::{At, Op, Result};

/// The namespace kinds the launcher moves between.
#[derive(Clone, Copy)]
pub enum Ns {
    Mount,
    Net,
}

impl Ns {
    fn flag(self) -> CloneFlags {
        match self {
            Ns::Mount => CloneFlags::CLONE_NEWNS,
            Ns::Net => CloneFlags::CLONE_NEWNET,
        }
    }

    fn proc_path(self) -> &'static str {
        match self {
            Ns::Mount => "/proc/self/ns/mnt",
            Ns::Net => "/proc/self/ns/net",
        }
    }

    fn back(self) -> &'static str {
        match self {
            Ns::Mount => "setns back to the host mount namespace",
            Ns::Net => "setns back to the host netns",
        }
    }

    fn enter(self) -> &'static str {
        match self {
            Ns::Mount => "setns into the subhost's mount namespace",
            Ns::Net => "setns into the subhost netns",
        }
    }

    fn unshare(self) -> &'static str {
        match self {
            Ns::Mount => "unshare(CLONE_NEWNS)",
            Ns::Net => "unshare(CLONE_NEWNET)",
        }
    }
}

/// Runs `f`, which may leave the current `ns` namespace, then returns to
/// it. `f`'s error comes first; then a failure to come back.
pub fn returning<T>(ns: Ns, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let home: OwnedFd = open(
        ns.proc_path(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .at("open", ns.proc_path())?;
    let result = f();
    let back = setns(&home, ns.flag()).op(ns.back());
    let value = result?;
    back?;
    Ok(value)
}

/// Enters the `ns` namespace of `target` (a namespace file or a pidfd)
/// for `f`, then returns.
pub fn within<T>(ns: Ns, target: impl AsFd, f: impl FnOnce() -> Result<T>) -> Result<T> {
    returning(ns, || {
        setns(target.as_fd(), ns.flag()).op(ns.enter())?;
        f()
    })
}

/// Runs `f` inside a fresh `ns` namespace (of this thread alone), then
/// returns to the current one.
pub fn in_new<T>(ns: Ns, f: impl FnOnce() -> Result<T>) -> Result<T> {
    returning(ns, || {
        // Why: a new namespace for this thread only; `f` pins what it needs.
        unshare(ns.flag()).op(ns.unshare())?;
        f()
    })
}
