//! The subinit's executable, opened so that nothing inside a subhost can
//! write to it through /proc/1/exe (CVE-2019-5736), without a copy per
//! subhost: as runc 1.2 does, through a private read-only overlayfs of its
//! directory that is mounted nowhere (fsmount without move_mount). The
//! pages PID 1 maps are then the installed file's page cache, shared by
//! every subhost; an overlay without an upper layer has no way to write,
//! even remounted read-write. Kernels without the new mount API or
//! overlayfs get a sealed memfd copy instead.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, open, openat, FcntlArg, OFlag, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::stat::Mode;

use crate::error::{At, Error, Op, Result};
use crate::kernel::sys::{fsconfig_create, fsconfig_set, fsmount, fsopen};
use crate::subhost::lock::mkdir_root_only;
use crate::subhost::state::RUN_DIR;

/// Opens the subinit binary on the host, from the first path of
/// `subinit_path::search_list` that exists.
pub fn open_subinit() -> Result<OwnedFd> {
    let tried = crate::subhost::subinit_path::search_list();
    for p in &tried {
        match std::fs::canonicalize(p) {
            Ok(real) => {
                log::debug!("subinit: {}", real.display());
                return sealed(&real);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).at("open subinit", p),
        }
    }
    Err(Error::NoSubinit { tried })
}

/// The file at `real` (no symlinks) through a detached read-only overlay,
/// or a sealed copy where the kernel cannot make one.
fn sealed(real: &Path) -> Result<OwnedFd> {
    mkdir_root_only(Path::new(RUN_DIR))?;
    match through_overlay(real) {
        Ok(fd) => Ok(fd),
        Err(Overlay::Unsupported(errno)) => {
            log::warn!(
                "no read-only overlay for the subinit ({}): each subhost holds a copy",
                errno.desc()
            );
            let file = open(real, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .at("open subinit", real)?;
            sealed_copy(file, real)
        }
        Err(Overlay::Failed(op, errno)) => Err(Error::Sys {
            op,
            path: real.to_path_buf(),
            errno,
        }),
    }
}

enum Overlay {
    /// No new mount API or no overlayfs: fall back to a copy.
    Unsupported(Errno),
    Failed(&'static str, Errno),
}

/// Overlayfs with no upper layer needs two lower layers: the subinit's
/// directory on top, and under it the run directory, a directory that is
/// never an ancestor or a descendant of it (overlayfs refuses overlapping
/// layers). Only the subinit's own name is looked up, so the lower one is
/// never seen.
fn through_overlay(real: &Path) -> std::result::Result<OwnedFd, Overlay> {
    let (Some(dir), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(Overlay::Failed("open subinit", Errno::EINVAL));
    };
    let failed = |op| move |e| Overlay::Failed(op, e);
    let ctx = fsopen(c"overlay").map_err(Overlay::Unsupported)?;
    let lower = [
        escape(dir.as_os_str().as_bytes()),
        escape(RUN_DIR.as_bytes()),
    ]
    .join(&b':');
    let lower = CString::new(lower).map_err(|_| Overlay::Failed("lowerdir", Errno::EINVAL))?;
    fsconfig_set(ctx.as_fd(), c"lowerdir", &lower).map_err(failed("overlay lowerdir"))?;
    // Why: xino would warn in dmesg when the layers are on two filesystems;
    // inode numbers do not matter here. Older kernels lack the option.
    let _ = fsconfig_set(ctx.as_fd(), c"xino", c"off");
    fsconfig_create(ctx.as_fd()).map_err(failed("overlay create"))?;
    let attrs = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOSUID;
    let mnt = fsmount(ctx.as_fd(), attrs as libc::c_uint).map_err(failed("fsmount overlay"))?;
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    // The mount fd closes on return: the open file alone keeps it alive.
    openat(&mnt, name, flags, Mode::empty()).map_err(failed("open subinit in overlay"))
}

/// A lowerdir entry: `\` and `:` escaped.
fn escape(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &b in path {
        if b == b'\\' || b == b':' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// MFD_EXEC (kernel ≥ 6.3), missing from libc 0.2.191: the memfd may be
/// executed whatever vm.memfd_noexec says.
const MFD_EXEC: libc::c_uint = 0x10;

/// Copies the subinit into a sealed memfd: PID 1 then runs a file no path
/// on the host names, which nobody can write through /proc/1/exe. Costs
/// the whole binary in memory per subhost.
fn sealed_copy(file: OwnedFd, path: &Path) -> Result<OwnedFd> {
    let base = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
    let name: &CStr = c"subinit";
    let mfd = match memfd_create(name, base | MFdFlags::from_bits_retain(MFD_EXEC)) {
        Err(Errno::EINVAL) => memfd_create(name, base),
        made => made,
    }
    .op("memfd_create")?;
    let mut copy = File::from(mfd);
    std::io::copy(&mut File::from(file), &mut copy).at("copy", path)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(&copy, FcntlArg::F_ADD_SEALS(seals)).op("seal the subinit copy")?;
    Ok(OwnedFd::from(copy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowerdir_escapes_colon_and_backslash() {
        assert_eq!(escape(b"/a:b\\c"), b"/a\\:b\\\\c".to_vec());
        assert_eq!(escape(b"/usr/lib"), b"/usr/lib".to_vec());
    }
}
