//! Raw system calls that nix 0.31 does not wrap: clone3, pidfd_open,
//! pidfd_send_signal, openat2, close_range, open_tree, move_mount, fsopen,
//! fsconfig and fsmount. Each
//! is one small function over `libc::syscall`; everything else goes
//! through nix.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use nix::NixPath;

/// `struct clone_args` of clone3(2) (the v2 layout with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// libc's constant is a deprecated overflowing c_int; this is the kernel's value.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// What clone3 returned, as with fork: the parent gets the child's pid and pidfd.
pub enum Cloned {
    Parent { pid: Pid, pidfd: OwnedFd },
    Child,
}

/// clone3 with fork semantics (no new stack: the child returns from this
/// call like from fork). `flags` must include CLONE_PIDFD. SIGCHLD is the
/// exit signal, so the parent can waitpid the child. `cgroup`: a directory
/// fd for CLONE_INTO_CGROUP.
///
/// Only safe to call from a single-threaded process: the child is a copy of
/// this thread alone.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Cloned, Errno> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // Why: with CLONE_PARENT the kernel wants 0 here and gives the child
    // the caller's own exit signal (SIGCHLD for a process made here).
    if flags & libc::CLONE_PARENT as u64 != 0 {
        args.exit_signal = 0;
    }
    if let Some(cg) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cg.as_raw_fd() as u64;
    }
    // SAFETY: `args` is a valid clone_args of the size passed; with a zero
    // stack the child continues on a copy of this stack, as after fork(2).
    // The pidfd pointer stays valid for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match Errno::result(ret)? {
        0 => Ok(Cloned::Child),
        pid => Ok(Cloned::Parent {
            pid: Pid::from_raw(pid as libc::pid_t),
            // SAFETY: with CLONE_PIDFD the kernel stored a new fd we now own.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// pidfd_open(2): a stable handle on a process, immune to pid reuse.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel returned a new fd (O_CLOEXEC by default) that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// pidfd_send_signal(2): signal the very process the pidfd refers to.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: Signal) -> Result<(), Errno> {
    // SAFETY: a valid fd, a valid signal, a null siginfo (kernel fills it in).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Resolution flags used for every path under LIVE or UPPER: `dirfd` is the
/// root ("/" and ".." stop there, absolute symlinks resolve inside it), and
/// /proc magic links cannot jump out.
pub const IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// How often openat2 is tried again after EAGAIN before the error stands.
const OPENAT2_TRIES: usize = 16;

/// openat2(2): open `path` relative to `dirfd` with `resolve` flags. nix 0.31
/// has no openat2; this is the project's one wrapper for it.
/// With RESOLVE_IN_ROOT the kernel answers EAGAIN when a rename or a mount
/// anywhere on the host raced the lookup's ".." check (openat2(2)): the
/// lookup is simply done again, a bounded number of times.
pub fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: u64::from(mode),
        resolve,
    };
    let mut tries = 1;
    loop {
        match openat2_once(dirfd, path, &how) {
            Err(Errno::EAGAIN) if tries < OPENAT2_TRIES => tries += 1,
            done => return done,
        }
    }
}

/// One openat2(2) call.
fn openat2_once(dirfd: BorrowedFd<'_>, path: &CStr, how: &OpenHow) -> Result<OwnedFd, Errno> {
    // SAFETY: `path` is NUL-terminated and `how` is a valid open_how of the
    // size passed; both outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel returned a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// close_range(2) over `first..=u32::MAX` with `flags` (0 closes,
/// CLOSE_RANGE_CLOEXEC only marks them close-on-exec).
pub fn close_range_from(first: u32, flags: libc::c_uint) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments; closing fds we may still
    // hold as OwnedFd is only done right before exec or _exit.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, flags) };
    Errno::result(ret).map(drop)
}

/// renameat2(2), with RENAME_NOREPLACE when `noreplace`: nix offers it
/// only with glibc, and the launcher builds for musl too.
pub fn renameat2<P: ?Sized + NixPath, Q: ?Sized + NixPath>(
    olddir: impl AsFd,
    old: &P,
    newdir: impl AsFd,
    new: &Q,
    noreplace: bool,
) -> Result<(), Errno> {
    let flags = if noreplace { libc::RENAME_NOREPLACE } else { 0 };
    let ret = old.with_nix_path(|old| {
        new.with_nix_path(|new| {
            // SAFETY: both paths are NUL-terminated and outlive the call;
            // the fds are borrowed, valid for its duration.
            unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    olddir.as_fd().as_raw_fd(),
                    old.as_ptr(),
                    newdir.as_fd().as_raw_fd(),
                    new.as_ptr(),
                    flags,
                )
            }
        })
    })??;
    Errno::result(ret).map(drop)
}

/// open_tree(2) from the new mount API, which nix 0.31 lacks: with
/// OPEN_TREE_CLONE, a detached copy of the mount tree at `path` (relative
/// to `dirfd`), held by the returned fd and attached nowhere until
/// [`move_mount`] puts it somewhere. `flags`: OPEN_TREE_* and AT_* bits.
pub fn open_tree(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_uint,
) -> Result<OwnedFd, Errno> {
    // SAFETY: `path` is NUL-terminated and outlives the call; the other
    // arguments are integers.
    let ret =
        unsafe { libc::syscall(libc::SYS_open_tree, dirfd.as_raw_fd(), path.as_ptr(), flags) };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel returned a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// move_mount(2) from the new mount API, which nix 0.31 lacks: attaches
/// (or moves) the mount at `from_dirfd`/`from_path` onto
/// `to_dirfd`/`to_path`, in the caller's mount namespace. With
/// MOVE_MOUNT_F_EMPTY_PATH and MOVE_MOUNT_T_EMPTY_PATH both sides are the
/// fds themselves and the paths are empty.
pub fn move_mount(
    from_dirfd: BorrowedFd<'_>,
    from_path: &CStr,
    to_dirfd: BorrowedFd<'_>,
    to_path: &CStr,
    flags: libc::c_uint,
) -> Result<(), Errno> {
    // SAFETY: both paths are NUL-terminated and outlive the call; the
    // other arguments are integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from_dirfd.as_raw_fd(),
            from_path.as_ptr(),
            to_dirfd.as_raw_fd(),
            to_path.as_ptr(),
            flags,
        )
    };
    Errno::result(ret).map(drop)
}

/// fsopen(2): a filesystem context for `fstype`, close-on-exec.
pub fn fsopen(fstype: &CStr) -> Result<OwnedFd, Errno> {
    // SAFETY: `fstype` is NUL-terminated and outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel returned a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// fsconfig(2) FSCONFIG_SET_STRING: sets option `key` to `value`.
pub fn fsconfig_set(ctx: BorrowedFd<'_>, key: &CStr, value: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are NUL-terminated and outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            libc::FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// fsconfig(2) FSCONFIG_CMD_CREATE: makes the superblock.
pub fn fsconfig_create(ctx: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: no pointers are passed (null key and value).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// fsmount(2): a detached mount of the context's superblock, attached
/// nowhere, held by the returned fd. `attrs`: MOUNT_ATTR_* bits.
pub fn fsmount(ctx: BorrowedFd<'_>, attrs: libc::c_uint) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            ctx.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attrs,
        )
    };
    let fd = Errno::result(ret)? as RawFd;
    // SAFETY: the kernel returned a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
