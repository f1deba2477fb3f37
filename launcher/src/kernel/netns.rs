//! The subhost's named network namespace, `/run/netns/NAME`, made in-process
//! the way `ip netns add NAME` makes it, so `ip netns exec NAME …` finds it.
//! Must run in the host's mount namespace (the bind lives there).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use nix::sys::stat::Mode;
use nix::unistd::unlink;

use super::nsenter::{self, Ns};
use crate::error::{At, Error, Op, Result};

pub const NETNS_DIR: &str = "/run/netns";

nix::ioctl_read_bad!(get_if_flags, libc::SIOCGIFFLAGS, libc::ifreq);
nix::ioctl_write_ptr_bad!(set_if_flags, libc::SIOCSIFFLAGS, libc::ifreq);

/// The netns file of subhost `name`.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Creates `/run/netns/NAME` holding a new network namespace with `lo` up,
/// or `owned`, one made already (owned by a subhost's user namespace,
/// `kernel::userns`). The caller stays in (returns to) its own network
/// namespace. `note` gets the namespace's identity (the device and inode
/// `stat` then shows for the file) before the file exists, so that a
/// record of it precedes the namespace's existence on the host.
pub fn create(
    name: &str,
    owned: Option<&OwnedFd>,
    note: impl FnOnce((u64, u64)) -> Result<()>,
) -> Result<()> {
    let dir = Path::new(NETNS_DIR);
    ensure_shared_dir(dir)?;
    let file = path(name);
    let mut made_file = false;
    let body = || {
        let own = "/proc/self/ns/net";
        let meta = std::fs::metadata(own).at("stat", own)?;
        note((meta.dev(), meta.ino()))?;
        make_mount_point(&file)?;
        made_file = true;
        // Why: the bind keeps the namespace alive after every process left it.
        mount(
            Some("/proc/self/ns/net"),
            &file,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .at("bind netns onto", &file)?;
        lo_up()
    };
    let made = match owned {
        None => nsenter::in_new(Ns::Net, body),
        Some(ns) => within(ns, body),
    };
    if made.is_err() && made_file {
        remove(name);
    }
    made
}

/// The file the namespace is bound onto; O_EXCL so that a netns of that
/// name that is not ours is never taken over.
fn make_mount_point(file: &Path) -> Result<()> {
    let flags = OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC;
    match open(file, flags, Mode::empty()) {
        Ok(fd) => {
            drop(fd);
            Ok(())
        }
        Err(Errno::EEXIST) => Err(Error::InTheWay {
            what: "network namespace",
            path: file.into(),
        }),
        Err(errno) => Err(Error::Sys {
            op: "create",
            path: file.into(),
            errno,
        }),
    }
}

/// Enters the namespace of `/run/netns/NAME` for `f`, then returns.
pub fn within<T>(file: &OwnedFd, f: impl FnOnce() -> Result<T>) -> Result<T> {
    nsenter::within(Ns::Net, file, f)
}

/// Opens the netns file for setns.
pub fn open_ns(name: &str) -> Result<OwnedFd> {
    let file = path(name);
    open(&file, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).at("open", &file)
}

/// `/run/netns` is a shared mount, so binds under it propagate to the mount
/// namespaces made later (`ip netns` relies on it). Bind it onto itself
/// first when it is not a mount point yet.
fn ensure_shared_dir(dir: &Path) -> Result<()> {
    match nix::unistd::mkdir(dir, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(errno) => {
            return Err(Error::Sys {
                op: "mkdir",
                path: dir.into(),
                errno,
            })
        }
    }
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, dir, None::<&str>, shared, None::<&str>) {
        Ok(()) => return Ok(()),
        Err(Errno::EINVAL) => {}
        Err(errno) => {
            return Err(Error::Sys {
                op: "make shared",
                path: dir.into(),
                errno,
            })
        }
    }
    // Why: not a mount point yet; a bind onto itself makes it one.
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(dir), dir, None::<&str>, bind, None::<&str>).at("bind onto itself", dir)?;
    mount(None::<&str>, dir, None::<&str>, shared, None::<&str>).at("make shared", dir)
}

/// Puts `lo` up in the current network namespace (ioctl SIOCSIFFLAGS).
fn lo_up() -> Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .op("socket for lo up")?;
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: a valid socket and a valid ifreq naming "lo"; the kernel fills
    // in ifru_flags.
    unsafe { get_if_flags(sock.as_raw_fd(), &mut req) }.op("SIOCGIFFLAGS lo")?;
    // SAFETY: reading the union member the kernel just wrote.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: a valid socket and ifreq; the kernel only reads it.
    unsafe { set_if_flags(sock.as_raw_fd(), &req) }.op("SIOCSIFFLAGS lo up")?;
    Ok(())
}

/// Removes `/run/netns/NAME` (as `ip netns del`): detach the bind, unlink
/// the file. Tolerates either being gone already; the namespace itself ends
/// when no process and no bind holds it.
pub fn remove(name: &str) {
    let file = path(name);
    match umount2(&file, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
        Err(errno) => log::warn!("umount {}: {}", file.display(), errno.desc()),
    }
    match unlink(&file) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(errno) => log::warn!("unlink {}: {}", file.display(), errno.desc()),
    }
}

/// Detaches /run/netns, with every subhost's netns file under it, from the
/// calling process's mount namespace, which must be a private one: the
/// clone of PID 1's namespace would copy those mounts and its pivot detach
/// them again, a cost that grows with the number of running subhosts.
pub fn detach_dir() {
    match umount2(NETNS_DIR, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
        Err(errno) => log::debug!("umount {NETNS_DIR}: {}", errno.desc()),
    }
}
