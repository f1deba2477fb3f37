//! The subhost's cgroup v2 directory, NAME under the cgroup2 mount (found in
//! /proc/self/mountinfo; here /sys/fs/cgroup/unified). PID 1 is born in it
//! (CLONE_INTO_CGROUP), `cgroup.kill` ends every process in it, and it is
//! removed once empty. Without a cgroup2 mount there is no cgroup.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};

use crate::error::{At, Error, Result};
use crate::model::mountinfo;

/// The cgroup directory of subhost `name`, if cgroup2 is mounted.
pub fn path(name: &str) -> Result<Option<PathBuf>> {
    // Why first: /proc/self/mountinfo grows by a line with every running
    // subhost (its /run/netns file), and every boot and stop asks this; a
    // statfs of the usual places costs the same at any count. cgroup2 is
    // one hierarchy, so any of its mount points names the same cgroup.
    for usual in USUAL {
        if statfs(usual).is_ok_and(|st| st.filesystem_type() == CGROUP2_SUPER_MAGIC) {
            return Ok(Some(Path::new(usual).join(name)));
        }
    }
    let text = fs::read(mountinfo::MOUNTINFO).at("read", mountinfo::MOUNTINFO)?;
    Ok(mountinfo::cgroup2_mount(&text).map(|root| root.join(name)))
}

/// Where cgroup2 is mounted on most hosts: unified mode, then hybrid.
const USUAL: [&str; 2] = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];

/// Creates the directory and opens it for CLONE_INTO_CGROUP.
pub fn create(dir: &Path) -> Result<OwnedFd> {
    // Why: the subhost's processes get their own cgroup, so stop can end them
    // all and limits can apply later; a leftover of that name is not ours.
    match nix::unistd::mkdir(dir, Mode::from_bits_truncate(0o755)) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            return Err(Error::InTheWay {
                what: "cgroup",
                path: dir.into(),
            })
        }
        Err(errno) => {
            return Err(Error::Sys {
                op: "mkdir",
                path: dir.into(),
                errno,
            })
        }
    }
    open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .at("open", dir)
}

/// Moves process `pid` into the cgroup.
pub fn join(dir: &Path, pid: i32) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    fs::write(&procs, pid.to_string()).at("write", &procs)
}

/// Ends every process in the cgroup (cgroup.kill, kernel ≥ 5.14; on older
/// kernels SIGKILL to each pid listed in cgroup.procs).
pub fn kill(dir: &Path) -> Result<()> {
    let file = dir.join("cgroup.kill");
    match fs::OpenOptions::new().write(true).open(&file) {
        Ok(mut f) => f.write_all(b"1").at("write", &file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.exists() => kill_each(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            op: "open",
            path: file,
            source: e,
        }),
    }
}

fn kill_each(dir: &Path) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    let text = fs::read_to_string(&procs).at("read", &procs)?;
    for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let target = nix::unistd::Pid::from_raw(pid);
        match nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(errno) => log::warn!("kill {pid}: {}", errno.desc()),
        }
    }
    Ok(())
}

/// Waits until no process is left in the cgroup (`populated 0` in
/// cgroup.events, which signals POLLPRI on every change).
pub fn wait_empty(dir: &Path, timeout: Duration) -> Result<()> {
    let file = dir.join("cgroup.events");
    let mut events = match fs::File::open(&file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::Io {
                op: "open",
                path: file,
                source: e,
            })
        }
    };
    let deadline = Instant::now() + timeout;
    loop {
        let mut text = String::new();
        events.seek(SeekFrom::Start(0)).at("seek", &file)?;
        events.read_to_string(&mut text).at("read", &file)?;
        if text.lines().any(|l| l == "populated 0") {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout {
                what: "the subhost's cgroup to empty",
            });
        }
        let ms = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(events.as_fd(), PollFlags::POLLPRI)];
        match poll(&mut fds, ms) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => {
                return Err(Error::Sys {
                    op: "poll",
                    path: file,
                    errno,
                })
            }
        }
    }
}

/// Removes the cgroup directory and any child cgroups the subhost made.
pub fn remove(dir: &Path) -> Result<()> {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove(&entry.path())?;
            }
        }
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            op: "rmdir",
            path: dir.into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Ends everything in the cgroup, waits for it to empty, removes it.
pub fn teardown(dir: &Path, timeout: Duration) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    kill(dir)?;
    wait_empty(dir, timeout)?;
    remove(dir)
}
