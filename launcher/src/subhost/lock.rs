//! The locks of a subhost: `/run/overlay-boot/NAME/lock`, flock'ed by
//! the monitor while the subhost lives (a run directory whose lock nobody
//! holds is stale: left by a launcher that died), and UPPER's, a file in
//! `/run/overlay-boot/.upper-locks.d/`. Every one is root's alone, in
//! directories of mode 0700: no user can open, let alone flock, them.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;

use crate::error::{At, Error, Result};
use crate::kernel::dirfd::Dir;
use crate::subhost::state::{self, dir, State, RUN_DIR, UPPER_LOCKS};

pub type Lock = Flock<File>;

/// What the run directory says about a subhost.
pub enum Probe {
    /// No run directory.
    Absent,
    /// The lock is held: the subhost is running (or booting).
    Running,
    /// Left behind; the returned lock is now ours.
    Stale(Lock),
}

/// Takes the lock for a boot; `Ok((lock, stale))` where `stale` says state
/// of an earlier, dead launcher is there to clean: a record besides the
/// lock file. An empty or lock-only directory is no such state: a racing
/// launcher that lost may have just made it (issue 11, item 12).
pub fn acquire(name: &str) -> Result<(Lock, bool)> {
    mkdir_root_only(Path::new(RUN_DIR))?;
    mkdir_root_only(&dir(name))?;
    match probe(name)? {
        Probe::Stale(lock) => Ok((lock, has_record(name))),
        Probe::Running => Err(Error::AlreadyRunning {
            name: name.to_string(),
        }),
        // Removed under us by a monitor finishing its teardown: try again.
        Probe::Absent => acquire(name),
    }
}

/// The UPPER lock, held by the monitor for the subhost's life; dropping
/// it (the monitor's end, or a refused boot) removes the file first.
pub struct UpperLock {
    path: PathBuf,
    _lock: Lock,
}

impl Drop for UpperLock {
    fn drop(&mut self) {
        // Why before the unlock (the field drops after this): a boot that
        // opened the file meanwhile sees it gone and takes a new one.
        let _ = fs::remove_file(&self.path);
    }
}

/// Locks UPPER for the subhost's life, so that no second subhost, under
/// another NAME, mounts the same upper (and work) directory at the same
/// time: overlayfs calls that undefined behaviour, and in the bind and
/// as-is modes two PID 1s would share one root (security check 22). The
/// name lock cannot see it, and the LIVE mount lives only in the
/// subhost's private mount namespace. Why not a flock on UPPER itself:
/// any user who can open UPPER could take that lock first and block the
/// boot (issue 9, item 3). The lock is a file in the root-only
/// `UPPER_LOCKS`, named by UPPER's device and inode. Close-on-exec: the
/// monitor alone holds it.
pub fn lock_upper(upper: &Path) -> Result<UpperLock> {
    let meta = fs::metadata(upper).at("stat", upper)?;
    mkdir_root_only(Path::new(RUN_DIR))?;
    let locks = Path::new(RUN_DIR).join(UPPER_LOCKS);
    mkdir_root_only(&locks)?;
    let path = upper_lock_path(&meta);
    loop {
        let file = open_root_only(&path, false)?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, Errno::EWOULDBLOCK)) => {
                return Err(Error::InUse {
                    what: "UPPER",
                    path: upper.to_path_buf(),
                })
            }
            Err((_, errno)) => {
                return Err(Error::Sys {
                    op: "flock",
                    path,
                    errno,
                })
            }
        };
        // Unlinked by its last holder between our open and flock: retry.
        if same_file(&lock, &path) {
            return Ok(UpperLock { path, _lock: lock });
        }
    }
}

/// The UPPER lock file of the directory `upper` describes.
fn upper_lock_path(upper: &fs::Metadata) -> PathBuf {
    let name = format!("{}:{}", upper.dev(), upper.ino());
    Path::new(RUN_DIR).join(UPPER_LOCKS).join(name)
}

/// After a monitor died: removes the UPPER lock file of `name`'s UPPER
/// (as its `roots` file records it) when nobody holds it, so nothing of
/// the subhost is left in the run directories.
pub fn release_stale_upper(name: &str) {
    let Ok(bytes) = fs::read(dir(name).join("roots")) else {
        return;
    };
    let Some(upper) = bytes.split(|b| *b == 0).next().filter(|p| !p.is_empty()) else {
        return;
    };
    let Ok(meta) = fs::metadata(OsStr::from_bytes(upper)) else {
        return;
    };
    remove_if_unheld(&upper_lock_path(&meta));
}

/// Opens (creating it if missing, or only as a new file with `new`) a
/// lock file of root's alone at `path`, never through a symlink.
pub fn open_root_only(path: &Path, new: bool) -> Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    if new {
        options.create_new(true);
    } else {
        options.create(true).truncate(false);
    }
    options
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .at(if new { "create" } else { "open" }, path)
}

/// Removes the lock file `path` when no process holds its lock; true when
/// it did. Safe against a process taking it meanwhile: the file goes only
/// while this process holds the lock, and a taker that opened it first
/// finds it gone once it has the lock (`same_file`) and makes a new one.
pub fn remove_if_unheld(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    else {
        return false;
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) if same_file(&lock, path) => fs::remove_file(path).is_ok(),
        _ => false,
    }
}

/// Whether the file `lock` holds is still the one at `path`.
pub fn same_file(lock: &Lock, path: &Path) -> bool {
    match fs::symlink_metadata(path) {
        Ok(m) => lock
            .metadata()
            .map(|l| l.ino() == m.ino() && l.dev() == m.dev())
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Looks at the lock without waiting (creating the lock file if missing).
pub fn probe(name: &str) -> Result<Probe> {
    probe_lock(name, true)
}

/// As `probe`, but creates nothing: a run directory without a lock file is
/// `Absent`. For looks that change nothing (`--list`).
pub fn peek(name: &str) -> Result<Probe> {
    probe_lock(name, false)
}

fn probe_lock(name: &str, create: bool) -> Result<Probe> {
    let path = dir(name).join("lock");
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Probe::Absent),
        Err(e) => {
            return Err(Error::Io {
                op: "open",
                path,
                source: e,
            })
        }
    };
    let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, Errno::EWOULDBLOCK)) => return Ok(Probe::Running),
        Err((_, errno)) => {
            return Err(Error::Sys {
                op: "flock",
                path,
                errno,
            })
        }
    };
    // The file we locked must still be the one at that path: a monitor
    // unlinks it at the end of its teardown.
    Ok(if same_file(&lock, &path) {
        Probe::Stale(lock)
    } else {
        Probe::Absent
    })
}

/// Whether the run directory of `name` holds anything but its lock file.
pub fn has_record(name: &str) -> bool {
    fs::read_dir(dir(name))
        .map(|entries| entries.flatten().any(|e| e.file_name() != "lock"))
        .unwrap_or(false)
}

/// mkdir with mode 0700; false when it already existed. An existing entry
/// must be a real directory owned by root; one an earlier version made
/// 0755 is made 0700. Why root-only: a user who can open a lock file can
/// flock it and make a boot or a stop fail (issue 9, item 3).
pub fn mkdir_root_only(path: &Path) -> Result<bool> {
    match nix::unistd::mkdir(path, nix::sys::stat::Mode::from_bits_truncate(0o700)) {
        Ok(()) => return Ok(true),
        Err(Errno::EEXIST) => {}
        Err(errno) => {
            return Err(Error::Sys {
                op: "mkdir",
                path: path.into(),
                errno,
            })
        }
    }
    let meta = fs::symlink_metadata(path).at("stat", path)?;
    if !meta.is_dir() || meta.uid() != 0 {
        return Err(Error::Untrusted {
            path: path.into(),
            why: "not a directory owned by root",
        });
    }
    if meta.mode() & 0o077 != 0 {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700)).at("chmod", path)?;
    }
    Ok(false)
}

/// The state of a running subhost and a pidfd on its PID 1 (checked as
/// `open_pid1` does), or `NotRunning`.
pub fn running(name: &str) -> Result<(State, OwnedFd)> {
    let not_running = || Error::NotRunning {
        what: format!("subhost {name}"),
    };
    if !matches!(probe(name)?, Probe::Running) && !orphan_runs(name) {
        return Err(not_running());
    }
    let st = state::read(name).ok_or_else(not_running)?;
    let pid1 = state::open_pid1(&st).ok_or_else(not_running)?;
    Ok((st, pid1))
}

/// Whether the recorded PID 1 of `name` runs (checked against its start
/// time), even though no monitor holds the lock: a monitor killed after
/// ready never hides a running subhost (issue 11, item 3).
pub fn orphan_runs(name: &str) -> bool {
    state::read(name)
        .and_then(|st| state::open_pid1(&st))
        .is_some()
}

/// Running, or booting, or a PID 1 whose monitor died: what `--list`
/// and overlay-go show. Changes nothing.
pub fn shown(name: &str) -> bool {
    matches!(peek(name), Ok(Probe::Running)) || orphan_runs(name)
}

/// `shown` for the run directory `run` of `name`, already open: its lock
/// file opened relative to it, read-only (enough for flock, and cheaper
/// to open than for writing; `--list` looks at a thousand).
pub fn shown_in(run: &Dir, name: &str) -> bool {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let held = nix::fcntl::openat(run.fd(), "lock", flags, Mode::empty()).map(|fd| {
        matches!(
            Flock::lock(fd, FlockArg::LockExclusiveNonblock),
            Err((_, Errno::EWOULDBLOCK))
        )
    });
    held == Ok(true) || orphan_runs(name)
}
