//! The lock of a configuration file (issue 11, item 2): a NAME that a
//! `!` command computes cannot be locked before the file loads, so every
//! launcher locks the file itself, `/run/overlay-boot/.conf-locks.d/DEV:INO`
//! (the file's device and inode), and writes its pid and start time there,
//! from its first step until the run directory of the NAME records the
//! configuration. overlay-stop, finding no run directory that records
//! CONF, looks there (then at the run directories again): a launcher still
//! loading CONF is found, asked to abort (SIGTERM), and waited for; and a
//! lock-only run directory such a launcher is making is never taken for a
//! dead launcher's. Root's alone, as every lock of ours.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{At, Error, Result};
use crate::kernel::process::{open_checked, start_time};
use crate::subhost::lock::{mkdir_root_only, remove_if_unheld, same_file, Lock};
use crate::subhost::state::RUN_DIR;

/// The directory of these locks in `RUN_DIR`: longer than a NAME may be.
pub const CONF_LOCKS: &str = ".conf-locks.d";

/// Held while CONF loads; dropping it removes the file, then unlocks.
pub struct ConfLock {
    path: PathBuf,
    _lock: Lock,
}

impl Drop for ConfLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn lock_path(conf: &Path) -> Option<PathBuf> {
    let m = fs::metadata(conf).ok()?;
    let name = format!("{}:{}", m.dev(), m.ino());
    Some(Path::new(RUN_DIR).join(CONF_LOCKS).join(name))
}

/// Locks CONF for its load and records the calling launcher. None when
/// another launcher is loading the same file (it is the one found).
pub fn lock(conf: &Path) -> Result<Option<ConfLock>> {
    // As `early::take`: loading gives a non-root caller, or what is not
    // a regular file, its own error.
    let regular = fs::metadata(conf).is_ok_and(|m| m.is_file());
    if !nix::unistd::geteuid().is_root() || !regular {
        return Ok(None);
    }
    let Some(path) = lock_path(conf) else {
        return Ok(None);
    };
    mkdir_root_only(Path::new(RUN_DIR))?;
    mkdir_root_only(&Path::new(RUN_DIR).join(CONF_LOCKS))?;
    sweep();
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .at("open", &path)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, Errno::EWOULDBLOCK)) => return Ok(None),
            Err((_, errno)) => {
                return Err(Error::Sys {
                    op: "flock",
                    path,
                    errno,
                })
            }
        };
        // Unlinked by its last holder between our open and flock: retry.
        if !same_file(&lock, &path) {
            continue;
        }
        let pid = std::process::id() as i32;
        let me = format!("{pid} {}\n", start_time(pid).unwrap_or(0));
        lock.set_len(0).at("truncate", &path)?;
        lock.write_all(me.as_bytes()).at("write", &path)?;
        return Ok(Some(ConfLock { path, _lock: lock }));
    }
}

/// A pidfd on the launcher loading CONF, if one holds its lock (checked
/// against its start time). A lock file nobody holds is removed.
/// Removes the lock files no launcher holds: those of launchers killed
/// with -9, whose configuration may never be booted or stopped again.
fn sweep() {
    let Ok(entries) = fs::read_dir(Path::new(RUN_DIR).join(CONF_LOCKS)) else {
        return;
    };
    for entry in entries.flatten() {
        remove_if_unheld(&entry.path());
    }
}

pub fn loading(conf: &Path) -> Option<OwnedFd> {
    let path = lock_path(conf)?;
    if !path.exists() || remove_if_unheld(&path) {
        return None;
    }
    // Held: its holder writes itself there right after its flock.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let text = fs::read_to_string(&path).unwrap_or_default();
        let holder = text.trim_end().split_once(' ');
        if let Some((pid, start)) = holder {
            return open_checked(pid.parse().ok()?, start.parse().ok()?);
        }
        if Instant::now() >= deadline || !path.exists() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
