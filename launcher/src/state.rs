//! Per-subhost run state, `/run/overlay-boot/NAME/`: a `lock` file flock'ed
//! by the monitor while the subhost lives, and one value per file: `pid`
//! (PID 1's host pid), `pid_start` (its start time in clock ticks, which
//! tells it from a later process with a reused pid), `monitor`, `conf`,
//! `started` (unix seconds),
//! `stop_timeout` (seconds), `roots` (UPPER, WORK and LIVE, NUL-terminated:
//! the trees no configuration or program may come from while it runs). `monitor`, `monitor_start` and `stop_timeout`
//! are written as soon as the monitor runs, so a stop during the set-up
//! finds it (`read_monitor`). A run directory whose lock nobody holds is
//! stale: left by a launcher that died.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{At, Error, Result};
use crate::netns;

pub const RUN_DIR: &str = "/run/overlay-boot";

pub type Lock = Flock<File>;

/// The run directory of subhost `name`.
pub fn dir(name: &str) -> PathBuf {
    Path::new(RUN_DIR).join(name)
}

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
/// of an earlier, dead launcher is there to clean.
pub fn acquire(name: &str) -> Result<(Lock, bool)> {
    mkdir_root_only(Path::new(RUN_DIR))?;
    let run = dir(name);
    let existed = !mkdir_root_only(&run)?;
    match probe(name)? {
        Probe::Stale(lock) => Ok((lock, existed)),
        Probe::Running => Err(Error::AlreadyRunning {
            name: name.to_string(),
        }),
        // Removed under us by a monitor finishing its teardown: try again.
        Probe::Absent => acquire(name),
    }
}

/// Locks UPPER itself for the subhost's life, so that no second subhost,
/// under another NAME, mounts the same upper (and work) directory at the
/// same time: overlayfs calls that undefined behaviour, and in the bind and
/// as-is modes two PID 1s would share one root (security check 22). The
/// name lock cannot see it, and the LIVE mount lives only in the
/// subhost's private mount namespace. Close-on-exec: the monitor alone
/// holds it.
pub fn lock_upper(upper: &Path) -> Result<Lock> {
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(upper)
        .map_err(|source| Error::Io {
            op: "open",
            path: upper.to_path_buf(),
            source,
        })?;
    match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err((_, Errno::EWOULDBLOCK)) => Err(Error::InUse {
            what: "UPPER",
            path: upper.to_path_buf(),
        }),
        Err((_, errno)) => Err(Error::Sys {
            op: "flock",
            path: upper.to_path_buf(),
            errno,
        }),
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
        .mode(0o644)
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
    let same = match fs::symlink_metadata(&path) {
        Ok(m) => lock
            .metadata()
            .map(|l| l.ino() == m.ino() && l.dev() == m.dev())
            .unwrap_or(false),
        Err(_) => false,
    };
    Ok(if same {
        Probe::Stale(lock)
    } else {
        Probe::Absent
    })
}

/// mkdir with mode 0755; false when it already existed. An existing entry
/// must be a real directory owned by root.
fn mkdir_root_only(path: &Path) -> Result<bool> {
    match nix::unistd::mkdir(path, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
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
    Ok(false)
}

/// What the monitor records once PID 1 runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub pid: i32,
    pub monitor: i32,
    pub conf: PathBuf,
    pub started: u64,
    pub pid_start: u64,
    pub stop_timeout: u64,
}

/// Records the configuration path as soon as the lock is taken, so stop
/// finds even a boot that died half-way.
pub fn write_conf(name: &str, conf: &Path) -> Result<()> {
    let p = dir(name).join("conf");
    fs::write(&p, format!("{}\n", conf.display())).at("write", &p)
}

/// Records the subhost's trees (UPPER, WORK, LIVE, canonical), where its
/// root writes: no configuration or program may be taken from them while
/// it runs (issue 9, hole 1). NUL-terminated, so any path fits.
pub fn write_roots(name: &str, roots: [&Path; 3]) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let p = dir(name).join("roots");
    let mut bytes = Vec::new();
    for root in roots {
        let real = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        bytes.extend_from_slice(real.as_os_str().as_bytes());
        bytes.push(0);
    }
    fs::write(&p, bytes).at("write", &p)
}

/// The trees of every running (or booting) subhost, as recorded.
pub fn guarded() -> Vec<crate::config::Guarded> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    for name in names() {
        if !matches!(peek(&name), Ok(Probe::Running)) {
            continue;
        }
        let Ok(bytes) = fs::read(dir(&name).join("roots")) else {
            continue;
        };
        let paths = bytes.split(|b| *b == 0).filter(|p| !p.is_empty());
        for (what, path) in ["UPPER", "WORK", "LIVE"].into_iter().zip(paths) {
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(path));
            out.push(crate::config::Guarded {
                what: format!("{what} {} of running subhost {name}", path.display()),
                path,
            });
        }
    }
    out
}

/// Writes the state files (`pid` last: its presence means complete).
pub fn write(name: &str, s: &State) -> Result<()> {
    let d = dir(name);
    let put = |file: &str, value: String| {
        let p = d.join(file);
        fs::write(&p, value + "\n").at("write", &p)
    };
    put("started", s.started.to_string())?;
    put("pid_start", s.pid_start.to_string())?;
    put("stop_timeout", s.stop_timeout.to_string())?;
    put("monitor", s.monitor.to_string())?;
    put("pid", s.pid.to_string())
}

/// The monitor, recorded when it starts (before PID 1 exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    pub pid: i32,
    pub start: u64,
    pub stop_timeout: u64,
}

/// Records the calling process as the monitor of `name`.
pub fn write_monitor(name: &str, stop_timeout: u64) -> Result<()> {
    let d = dir(name);
    let pid = std::process::id() as i32;
    let put = |file: &str, value: String| {
        let p = d.join(file);
        fs::write(&p, value + "\n").at("write", &p)
    };
    put("stop_timeout", stop_timeout.to_string())?;
    put("monitor_start", start_time(pid).unwrap_or(0).to_string())?;
    put("monitor", pid.to_string())
}

/// One value of the run directory of `name`, without its newline.
fn field(name: &str, file: &str) -> Option<String> {
    fs::read_to_string(dir(name).join(file))
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string())
}

/// A pidfd on `pid` if it is still the process that started at `start`:
/// opened first, then checked, so it cannot be another process.
fn open_checked(pid: i32, start: u64) -> Option<std::os::fd::OwnedFd> {
    let fd = crate::sys::pidfd_open(nix::unistd::Pid::from_raw(pid)).ok()?;
    (start_time(pid) == Some(start)).then_some(fd)
}

/// The recorded monitor; None before it has recorded itself.
pub fn read_monitor(name: &str) -> Option<Monitor> {
    let get = |file: &str| field(name, file);
    Some(Monitor {
        pid: get("monitor")?.parse().ok()?,
        start: get("monitor_start")?.parse().ok()?,
        stop_timeout: get("stop_timeout")?.parse().ok()?,
    })
}

/// A pidfd on the recorded monitor, if it still runs (checked as
/// `open_pid1` does).
pub fn open_monitor(m: &Monitor) -> Option<std::os::fd::OwnedFd> {
    open_checked(m.pid, m.start)
}

/// Reads the state files; None while a boot has not written them yet.
pub fn read(name: &str) -> Option<State> {
    let get = |file: &str| field(name, file);
    Some(State {
        pid: get("pid")?.parse().ok()?,
        monitor: get("monitor")?.parse().ok()?,
        conf: PathBuf::from(get("conf")?),
        started: get("started")?.parse().ok()?,
        pid_start: get("pid_start")?.parse().ok()?,
        stop_timeout: get("stop_timeout")?.parse().ok()?,
    })
}

/// Fields 3.. of /proc/PID/stat (after the command, which may hold blanks).
fn proc_stat(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.rsplit_once(") ")?
            .1
            .split(' ')
            .map(str::to_string)
            .collect(),
    )
}

/// A process's start time (field 22), in clock ticks since boot.
pub fn start_time(pid: i32) -> Option<u64> {
    proc_stat(pid)?.get(19)?.parse().ok()
}

/// A pidfd on the recorded PID 1, if it still runs: opened first, then
/// checked against the recorded start time, so it cannot be another process.
pub fn open_pid1(s: &State) -> Option<std::os::fd::OwnedFd> {
    open_checked(s.pid, s.pid_start)
}

/// The state of a running subhost and a pidfd on its PID 1 (checked as
/// `open_pid1` does), or `NotRunning`.
pub fn running(name: &str) -> Result<(State, std::os::fd::OwnedFd)> {
    let not_running = || Error::NotRunning {
        what: format!("subhost {name}"),
    };
    if !matches!(probe(name)?, Probe::Running) {
        return Err(not_running());
    }
    let st = read(name).ok_or_else(not_running)?;
    let pid1 = open_pid1(&st).ok_or_else(not_running)?;
    Ok((st, pid1))
}

/// Names of all run directories.
pub fn names() -> Vec<String> {
    let Ok(entries) = fs::read_dir(RUN_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Removes what a subhost leaves on the host besides its mounts (which go
/// with its mount namespaces): every process in its cgroup, the cgroup,
/// the netns file, a session's policy-rc.d in UPPER. Must run in the
/// host's mount namespace.
pub fn clean_objects(name: &str, timeout: Duration) -> Result<()> {
    let killed = crate::cgroups::teardown(name, timeout);
    netns::remove(name);
    if killed.is_ok() {
        // Nothing of the session runs any more; when something still does,
        // the note stays for the next cleanup.
        crate::session::release_recorded(name);
    }
    killed
}

/// Removes the run directory (the lock file with it, while held).
pub fn remove(name: &str) -> Result<()> {
    let d = dir(name);
    match fs::remove_dir_all(&d) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            op: "remove",
            path: d,
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_self_is_stable() {
        let me = std::process::id() as i32;
        let t = start_time(me);
        assert!(t.is_some());
        assert_eq!(t, start_time(me));
        assert_eq!(
            proc_stat(me)
                .and_then(|f| f.first().cloned())
                .map(|s| s.len()),
            Some(1)
        );
    }
}
