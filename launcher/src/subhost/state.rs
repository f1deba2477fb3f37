//! Per-subhost run state, `/run/overlay-boot/NAME/`: a `lock` file flock'ed
//! by the monitor while the subhost lives (`lock`), and one value per file: `pid`
//! (PID 1's host pid), `pid_start` (its start time in clock ticks, which
//! tells it from a later process with a reused pid), `monitor`, `conf`,
//! `started` (unix seconds),
//! `stop_timeout` (seconds), `roots` (UPPER, WORK and LIVE, NUL-terminated:
//! the trees no configuration or program may come from while it runs;
//! `rootindex` indexes them), `security` (the SECURITY profile, which
//! overlay-go applies to what it starts inside). `monitor`, `monitor_start` and `stop_timeout`
//! are written as soon as the monitor runs, so a stop during the set-up
//! finds it (`read_monitor`). A run directory whose lock nobody holds is
//! stale: left by a launcher that died.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{At, Error, Result};
use crate::kernel::process::{open_checked, start_time};
use crate::model::config::Security;

pub const RUN_DIR: &str = "/run/overlay-boot";

/// The UPPER locks' directory in `RUN_DIR` (`lock::lock_upper`): longer
/// than a NAME may be, so never a subhost's run directory.
pub const UPPER_LOCKS: &str = ".upper-locks.d";

/// The run directory of subhost `name`.
pub fn dir(name: &str) -> PathBuf {
    Path::new(RUN_DIR).join(name)
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

/// Records the SECURITY profile, before PID 1 exists.
pub fn write_security(name: &str, security: Security) -> Result<()> {
    let p = dir(name).join("security");
    let value = match security {
        Security::Admin => "admin\n",
        Security::Hardened => "hardened\n",
    };
    fs::write(&p, value).at("write", &p)
}

/// The recorded SECURITY profile: `admin` when none is recorded (a
/// subhost booted before it was), `hardened` for anything unreadable.
pub fn security(name: &str) -> Security {
    recorded_security(fs::read_to_string(dir(name).join("security")))
}

/// The profile a `security` file's read gives (see `security`).
fn recorded_security(read: std::io::Result<String>) -> Security {
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Security::Admin,
        Ok(text) if text == "admin\n" => Security::Admin,
        _ => Security::Hardened,
    }
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
pub fn field(name: &str, file: &str) -> Option<String> {
    fs::read_to_string(dir(name).join(file))
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string())
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

/// A pidfd on the recorded PID 1, if it still runs: opened first, then
/// checked against the recorded start time, so it cannot be another process.
pub fn open_pid1(s: &State) -> Option<std::os::fd::OwnedFd> {
    open_checked(s.pid, s.pid_start)
}

/// Names of all run directories.
pub fn names() -> Vec<String> {
    let Ok(entries) = fs::read_dir(RUN_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        // Not a NAME: the trees' index (`rootindex::INDEX`), `UPPER_LOCKS`.
        .filter(|n| crate::model::names::name_fault(n).is_none())
        .collect();
    names.sort();
    names
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
    use std::io::{Error, ErrorKind};

    #[test]
    fn a_recorded_profile_fails_closed() {
        let read = |text: &str| recorded_security(Ok(text.to_string()));
        assert_eq!(read("admin\n"), Security::Admin);
        assert_eq!(read("hardened\n"), Security::Hardened);
        for odd in ["", "admin", "Admin\n", "admin\nx", "none\n"] {
            assert_eq!(read(odd), Security::Hardened, "{odd:?}");
        }
        let missing = Error::from(ErrorKind::NotFound);
        assert_eq!(recorded_security(Err(missing)), Security::Admin);
        let unreadable = Error::from(ErrorKind::PermissionDenied);
        assert_eq!(recorded_security(Err(unreadable)), Security::Hardened);
    }
}
