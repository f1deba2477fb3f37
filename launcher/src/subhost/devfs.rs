//! The built-in POSTMOUNT (compat boot step 6): a small private /dev, sysfs
//! on /sys, a tmpfs on /run, and the host's /etc/adjtime. Every target is
//! reached inside LIVE (see inroot), never by a host path string.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mkdirat, mknodat, umask, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};

use crate::error::{At, Result};
use crate::kernel::inroot::{fd_path, file_kind, Root};
use crate::kernel::netns;
use crate::kernel::userns::IdMap;
use crate::model::config::{Config, RamSize, Security};

/// A device node of the subhost's /dev.
struct Node {
    name: &'static str,
    major: u64,
    minor: u64,
    mode: u32,
    tty_group: bool,
}

const NODES: [Node; 7] = [
    // Not c 5 1, as the original has it: that is the host's console, where
    // a subhost's root could read, write and TIOCSTI into a host login
    // (security check 11). Console output is discarded instead.
    Node {
        name: "console",
        major: 1,
        minor: 3,
        mode: 0o622,
        tty_group: true,
    },
    Node {
        name: "null",
        major: 1,
        minor: 3,
        mode: 0o666,
        tty_group: false,
    },
    Node {
        name: "zero",
        major: 1,
        minor: 5,
        mode: 0o666,
        tty_group: false,
    },
    Node {
        name: "ptmx",
        major: 5,
        minor: 2,
        mode: 0o666,
        tty_group: true,
    },
    Node {
        name: "tty",
        major: 5,
        minor: 0,
        mode: 0o666,
        tty_group: true,
    },
    Node {
        name: "random",
        major: 1,
        minor: 8,
        mode: 0o444,
        tty_group: false,
    },
    Node {
        name: "urandom",
        major: 1,
        minor: 9,
        mode: 0o444,
        tty_group: false,
    },
];

const LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("core", "/proc/kcore"),
];

/// Runs the built-in POSTMOUNT on LIVE. `netns` is the subhost's network
/// namespace, for sysfs; `ids` the PRIVATE_USERS range, if any.
pub fn postmount(cfg: &Config, live: &Root, netns: &OwnedFd, ids: Option<IdMap>) -> Result<()> {
    // Modes below are exact (1777, 0622…); restore the umask for hooks after.
    let old = umask(Mode::empty());
    let result = populate(cfg, live, netns, ids);
    umask(old);
    result
}

fn populate(cfg: &Config, live: &Root, netns_fd: &OwnedFd, ids: Option<IdMap>) -> Result<()> {
    dev(live, cfg.security == Security::Hardened, ids)?;
    // Why: sysfs shows the network devices of the namespace that mounts it;
    // mount it from inside the subhost's netns so /sys/class/net is its own.
    netns::within(netns_fd, || sys(live))?;
    if let RamSize::Size(size) = &cfg.ram_size {
        run(live, size)?;
    }
    adjtime(live)
}

/// The /dev tmpfs; `hardened`: no `core` (a way to /proc/kcore, masked
/// there anyway). `ids`: the PRIVATE_USERS range, which the tty group
/// inside is mapped through.
fn dev(live: &Root, hardened: bool, ids: Option<IdMap>) -> Result<()> {
    let at = live.mkdir_all(Path::new("dev"), Mode::from_bits_truncate(0o755))?;
    // Why: the subhost gets its own /dev holding only harmless nodes, not
    // the host's devtmpfs.
    mount(
        Some("tmpfs"),
        &fd_path(&at),
        Some("tmpfs"),
        MsFlags::MS_NOSUID,
        Some("size=50M,mode=0755"),
    )
    .at("mount tmpfs on", live.show(Path::new("dev")))?;
    let dev = live.resolve(Path::new("dev"), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    let shown = live.show(Path::new("dev"));
    let tty = match ids {
        None => tty_gid(),
        Some(map) => mapped_tty_gid(live, map),
    };
    for n in &NODES {
        let mode = Mode::from_bits_truncate(n.mode);
        mknodat(
            &dev,
            n.name,
            SFlag::S_IFCHR,
            mode,
            makedev(n.major, n.minor),
        )
        .at("mknod", shown.join(n.name))?;
        if n.tty_group {
            fchownat(&dev, n.name, None, Some(tty), AtFlags::AT_SYMLINK_NOFOLLOW)
                .at("chown", shown.join(n.name))?;
        }
    }
    for (name, target) in LINKS {
        if hardened && name == "core" {
            continue;
        }
        symlinkat(target, &dev, name).at("symlink", shown.join(name))?;
    }
    mkdirat(&dev, "shm", Mode::from_bits_truncate(0o1777)).at("mkdir", shown.join("shm"))?;
    mkdirat(&dev, "pts", Mode::from_bits_truncate(0o755)).at("mkdir", shown.join("pts"))?;
    devpts(live, tty, ids)
}

/// A private devpts instance on /dev/pts, so the subhost's ptys are not
/// the host's; their group is `tty`. PRIVATE_USERS: its root directory is
/// made root's inside (the kernel gives it host root, nobody inside).
fn devpts(live: &Root, tty: Gid, ids: Option<IdMap>) -> Result<()> {
    let rel = Path::new("dev/pts");
    let pts = live.resolve(rel, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    let opts = format!("newinstance,ptmxmode=0666,mode=0620,gid={}", tty.as_raw());
    mount(
        Some("devpts"),
        &fd_path(&pts),
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(opts.as_str()),
    )
    .at("mount devpts on", live.show(rel))?;
    let Some(map) = ids else {
        return Ok(());
    };
    let root = live.resolve(rel, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    let (uid, gid) = (Uid::from_raw(map.first), Gid::from_raw(map.first));
    fchownat(&root, "", Some(uid), Some(gid), AtFlags::AT_EMPTY_PATH).at("chown", live.show(rel))
}

fn sys(live: &Root) -> Result<()> {
    let at = live.mkdir_all(Path::new("sys"), Mode::from_bits_truncate(0o755))?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("sysfs"),
        &fd_path(&at),
        Some("sysfs"),
        flags,
        None::<&str>,
    )
    .at("mount sysfs on", live.show(Path::new("sys")))
}

fn run(live: &Root, size: &str) -> Result<()> {
    let at = live.mkdir_all(Path::new("run"), Mode::from_bits_truncate(0o755))?;
    let opts = format!("size={size},mode=0755");
    // Why: the subhost's /run starts empty, as after a real boot.
    mount(
        Some("tmpfs"),
        &fd_path(&at),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .at("mount tmpfs on", live.show(Path::new("run")))?;
    let run = live.resolve(Path::new("run"), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    mkdirat(&run, "lock", Mode::from_bits_truncate(0o1777))
        .at("mkdir", live.show(Path::new("run/lock")))
}

/// Binds the host's /etc/adjtime onto the subhost's, if both are regular
/// files (a planted symlink there is left alone).
fn adjtime(live: &Root) -> Result<()> {
    let host = Path::new("/etc/adjtime");
    let rel = Path::new("etc/adjtime");
    let Some(target) = live.lookup(rel)? else {
        return Ok(());
    };
    if file_kind(&target, &live.show(rel))? != SFlag::S_IFREG {
        log::warn!(
            "{} is not a regular file; adjtime not shared",
            live.show(rel).display()
        );
        return Ok(());
    }
    let src = match nix::fcntl::open(host, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        Err(errno) => {
            return Err(crate::error::Error::Sys {
                op: "open",
                path: host.into(),
                errno,
            })
        }
    };
    // Why: the subhost follows the host's hardware clock settings, but
    // may not change them: read-only (issue 9, hole 9).
    mount(
        Some(&fd_path(&src)),
        &fd_path(&target),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .at("bind /etc/adjtime onto", live.show(rel))?;
    // The bind is now what the path leads to: remount that mount, by fd.
    let bound = live.resolve(rel, OFlag::O_PATH)?;
    let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    let flags = ro | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        None::<&str>,
        &fd_path(&bound),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .at("remount read-only", live.show(rel))
}

/// The host's `tty` group (5 on Debian), from /etc/group.
fn tty_gid() -> Gid {
    let text = std::fs::read_to_string("/etc/group").unwrap_or_default();
    Gid::from_raw(parse_group(&text, "tty").unwrap_or(5))
}

/// PRIVATE_USERS: the host gid that is the tty group inside, the group of
/// the subhost's own /etc/group (5 when it has none, or one outside the
/// range). Why: host gid 5 has no id inside (it shows as nogroup), and a
/// pty's group must be tty for `mesg`/`write`.
fn mapped_tty_gid(live: &Root, map: IdMap) -> Gid {
    let inside = subhost_group(live, "tty")
        .filter(|&g| g < map.count)
        .unwrap_or(5);
    Gid::from_raw(map.first + inside)
}

/// The gid of group `name` in LIVE's /etc/group, if it is a regular file
/// (a FIFO or a device planted there is not read).
fn subhost_group(live: &Root, name: &str) -> Option<u32> {
    use std::io::Read;
    let rel = Path::new("etc/group");
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = live.resolve(rel, flags).ok()?;
    (file_kind(&fd, &live.show(rel)).ok()? == SFlag::S_IFREG).then_some(())?;
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(1 << 20)
        .read_to_string(&mut text)
        .ok()?;
    parse_group(&text, name)
}

fn parse_group(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut f = line.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tty_group() {
        let g = "root:x:0:\nttyx:x:9:\ntty:x:5:\n";
        assert_eq!(parse_group(g, "tty"), Some(5));
        assert_eq!(parse_group(g, "disk"), None);
    }
}
