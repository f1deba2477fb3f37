//! Idmapped mounts for `PRIVATE_USERS`: detached clones of a tree
//! (open_tree) whose owners are seen through a user namespace
//! (mount_setattr(MOUNT_ATTR_IDMAP)), attached with move_mount. nix 0.31
//! has no mount_setattr; it is one small function over `libc::syscall`.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use crate::error::{At, Result};
use crate::kernel::sys::{move_mount, open_tree};

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2), which nix 0.31 lacks, with MOUNT_ATTR_IDMAP on the
/// detached mount `mnt` (and its submounts with `recursive`).
pub fn set_idmap(
    mnt: BorrowedFd<'_>,
    userns: BorrowedFd<'_>,
    recursive: bool,
) -> std::result::Result<(), Errno> {
    let attr = MountAttr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `attr` is a valid mount_attr of the size passed and outlives
    // the call; the path is the empty C string with AT_EMPTY_PATH.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// A detached clone of the mount at `dir` (that directory as its root;
/// with its submounts when `recursive`), idmapped through `userns`.
/// `Err(errno)`: the filesystem (or kernel) cannot idmap it; EINVAL is
/// the answer of a filesystem without idmapped-mount support.
pub fn idmapped_clone(
    dir: &Path,
    userns: &OwnedFd,
    recursive: bool,
) -> std::result::Result<OwnedFd, Errno> {
    let path = CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC) as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let mnt = open_tree(nix::fcntl::AT_FDCWD, &path, flags)?;
    set_idmap(mnt.as_fd(), userns.as_fd(), recursive)?;
    Ok(mnt)
}

/// Attaches the detached mount `mnt` on the directory `to` (an fd, O_PATH
/// is enough); `what` names it in an error.
pub fn attach(mnt: &OwnedFd, to: &OwnedFd, what: &Path) -> Result<()> {
    let empty: &CStr = c"";
    let flags = (libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH) as libc::c_uint;
    move_mount(mnt.as_fd(), empty, to.as_fd(), empty, flags).at("move_mount onto", what)
}
