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

use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, AT_FDCWD};

use crate::error::{At, Error, Result};
use crate::kernel::process::{open_checked, start_time};
use crate::kernel::sys::renameat2;
use crate::subhost::lock::{mkdir_root_only, open_root_only, remove_if_unheld, Lock};
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
        let lock = recorded(&path)?;
        // Why a rename: the lock file appears with its record in it, so
        // `loading` never finds it held and still empty.
        match renameat2(AT_FDCWD, &lock.temp, AT_FDCWD, &path, true) {
            Ok(()) => {
                return Ok(Some(ConfLock {
                    path,
                    _lock: lock.lock,
                }))
            }
            // Another launcher's sweep removed our file in the moment
            // between its creation and our flock: make a new one.
            Err(Errno::ENOENT) => continue,
            Err(Errno::EEXIST) => {
                let _ = fs::remove_file(&lock.temp);
                // Gone meanwhile, or a killed launcher's: try again.
                if remove_if_unheld(&path) || !path.exists() {
                    continue;
                }
                return Ok(None);
            }
            Err(errno) => {
                let _ = fs::remove_file(&lock.temp);
                return Err(Error::Sys {
                    op: "rename",
                    path,
                    errno,
                });
            }
        }
    }
}

/// A new lock file, locked, holding the calling launcher's record, under
/// a name of its own beside `path` (swept like the others if the
/// launcher is killed before the rename).
struct Recorded {
    temp: PathBuf,
    lock: Lock,
}

fn recorded(path: &Path) -> Result<Recorded> {
    let pid = std::process::id() as i32;
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!("+{pid}"));
    let temp = PathBuf::from(temp);
    loop {
        // A leftover of ours from a pid reused, or the file another
        // launcher's sweep holds for a moment: ours to replace.
        let _ = fs::remove_file(&temp);
        let file = open_root_only(&temp, true)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            // A sweep took it between our create and our flock.
            Err((_, Errno::EWOULDBLOCK)) => continue,
            Err((_, errno)) => {
                return Err(Error::Sys {
                    op: "flock",
                    path: temp,
                    errno,
                })
            }
        };
        let me = format!("{pid} {}\n", start_time(pid).unwrap_or(0));
        lock.write_all(me.as_bytes()).at("write", &temp)?;
        return Ok(Recorded { temp, lock });
    }
}

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

/// A pidfd on the launcher loading CONF, if one holds its lock (checked
/// against its start time). A lock file nobody holds is removed.
pub fn loading(conf: &Path) -> Option<OwnedFd> {
    let path = lock_path(conf)?;
    if !path.exists() || remove_if_unheld(&path) {
        return None;
    }
    // Held: its record was written before the file took its name.
    let text = fs::read_to_string(&path).ok()?;
    let (pid, start) = text.trim_end().split_once(' ')?;
    open_checked(pid.parse().ok()?, start.parse().ok()?)
}
