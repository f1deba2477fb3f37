//! `SECURITY=hardened` in PID 1 between pivot_root and exec (issue 10): the
//! kernel's tunables read-only, its secrets masked, the hostname set while
//! CAP_SYS_ADMIN is still there. System calls only, on the subhost's own
//! paths after the pivot: procfs and sysfs are the kernel's, so no path
//! here can be a symlink the subhost planted.
//!
//! The masks come from a source of the launcher's own, never the
//! subhost's `/dev/null` (CVE-2025-31133): before /proc is mounted, a
//! small tmpfs goes on /proc (`mask_dir`); proc is mounted over it (the
//! tmpfs stays, covered and reachable by no path); then, through an fd,
//! it gets an empty file and an empty directory and is made read-only
//! (`mask_source`), and the masks are binds of those two.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{mkdirat, Mode};

use crate::model::hardened::{MASKED_DIRS, MASKED_FILES, READ_ONLY, WRITABLE};

type Step<T> = std::result::Result<T, (&'static str, Errno)>;

const SAFE: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// The empty file and directory the masks are bound from.
pub struct MaskSource {
    file: OwnedFd,
    dir: OwnedFd,
}

/// The masks' tmpfs, still empty and writable (see mask_dir).
pub struct MaskDir(OwnedFd);

/// Before proc is mounted on `proc` (LIVE's, from LIVE): an empty tmpfs
/// there, root inside's (`uid=0` is read in PID 1's user namespace, if it
/// has one), to become the masks' source (see the module note).
pub fn mask_dir(proc: &str) -> Step<MaskDir> {
    let opts = "size=4k,nr_inodes=8,mode=0755,uid=0,gid=0";
    mount(Some("tmpfs"), proc, Some("tmpfs"), SAFE, Some(opts))
        .map_err(|e| ("mount the masks' tmpfs on /proc", e))?;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let at = open(proc, flags, Mode::empty()).map_err(|e| ("open the masks' tmpfs", e))?;
    Ok(MaskDir(at))
}

/// Once /proc is mounted and PID 1 is root inside (PRIVATE_USERS: an
/// unmapped host root may make nothing there): an empty file and an
/// empty directory in the masks' tmpfs, which is then made read-only.
pub fn mask_source(at: MaskDir) -> Step<MaskSource> {
    let at = at.0;
    mkdirat(&at, "dir", Mode::from_bits_truncate(0o555)).map_err(|e| ("mkdir mask", e))?;
    let create = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    drop(
        nix::fcntl::openat(&at, "file", create, Mode::from_bits_truncate(0o444))
            .map_err(|e| ("create mask", e))?,
    );
    let ro = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | SAFE;
    let by_fd = FdPath::of(&at);
    mount(None::<&str>, by_fd.as_str(), None::<&str>, ro, None::<&str>)
        .map_err(|e| ("remount the masks' tmpfs read-only", e))?;
    let path = OFlag::O_PATH | OFlag::O_CLOEXEC;
    let file =
        nix::fcntl::openat(&at, "file", path, Mode::empty()).map_err(|e| ("open mask", e))?;
    let dir = nix::fcntl::openat(&at, "dir", path | OFlag::O_DIRECTORY, Mode::empty())
        .map_err(|e| ("open mask", e))?;
    Ok(MaskSource { file, dir })
}

/// With proc mounted on /proc (and sysfs on /sys, if POSTMOUNT made it):
/// READ_ONLY read-only but WRITABLE, the masks in place, the hostname set.
pub fn confine(masks: &MaskSource, name: &str) -> Step<()> {
    for path in WRITABLE {
        skip_missing(bind(path, path, MsFlags::empty()))?;
    }
    for path in READ_ONLY {
        if skip_missing(bind(path, path, MsFlags::MS_REC))? {
            let ro = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | SAFE;
            mount(None::<&str>, path, None::<&str>, ro, None::<&str>)
                .map_err(|e| ("remount read-only", e))?;
        }
    }
    let file = FdPath::of(&masks.file);
    for path in MASKED_FILES {
        skip_missing(bind(file.as_str(), path, MsFlags::empty()))?;
    }
    let dir = FdPath::of(&masks.dir);
    for path in MASKED_DIRS {
        skip_missing(bind(dir.as_str(), path, MsFlags::empty()))?;
    }
    hostname(name);
    Ok(())
}

/// A bind of `src` onto `dst`.
fn bind(src: &str, dst: &str, rec: MsFlags) -> nix::Result<()> {
    mount(
        Some(src),
        dst,
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )
}

/// Ok(true) when done, Ok(false) when the kernel has no such path.
fn skip_missing(r: nix::Result<()>) -> Step<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(("bind (SECURITY=hardened)", e)),
    }
}

/// The hostname the subinit would set (the first line of /etc/hostname,
/// else NAME), set here: without CAP_SYS_ADMIN the subinit cannot. One the
/// kernel refuses (too long) is left to the subinit, which warns.
fn hostname(name: &str) {
    let mut buf = [0u8; 256];
    let mut len = 0;
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW;
    if let Ok(fd) = open("/etc/hostname", flags, Mode::empty()) {
        len = nix::unistd::read(&fd, &mut buf).unwrap_or(0);
    }
    let first = buf[..len].split(|&b| b == b'\n').next().unwrap_or(&[]);
    let text = std::str::from_utf8(first).unwrap_or("").trim();
    let host = if text.is_empty() { name } else { text };
    let _ = nix::unistd::sethostname(host);
}

/// `/proc/self/fd/N` in a buffer of its own (no allocation in the child).
struct FdPath {
    buf: [u8; 32],
    len: usize,
}

impl FdPath {
    fn of(fd: &OwnedFd) -> FdPath {
        let mut p = FdPath {
            buf: [0; 32],
            len: 0,
        };
        let prefix = b"/proc/self/fd/";
        p.buf[..prefix.len()].copy_from_slice(prefix);
        p.len = prefix.len();
        let n = fd.as_raw_fd().max(0) as u32;
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        let mut v = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let d = &digits[i..];
        p.buf[p.len..p.len + d.len()].copy_from_slice(d);
        p.len += d.len();
        p
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_without_allocation() {
        let fd = open("/", OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).expect("open /");
        let want = format!("/proc/self/fd/{}", fd.as_raw_fd());
        assert_eq!(FdPath::of(&fd).as_str(), want);
    }
}
