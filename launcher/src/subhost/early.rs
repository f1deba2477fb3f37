//! The NAME lock taken before the configuration's `!` commands run, when
//! the file states NAME plainly (a NAME assignment without `!`, or the
//! file's base name): the run directory then records the configuration
//! and the launcher at once, so that overlay-stop, from a boot's first
//! steps, finds it and signals the launcher, which aborts (issue 11,
//! item 2). A NAME computed by a `!` command is locked after loading;
//! meanwhile the configuration file itself is (`conflock`).

use std::fs;
use std::path::Path;

use crate::error::{At, Error, Result};
use crate::kernel::process::start_time;
use crate::model::config::plain_name;
use crate::subhost::lock;
use crate::subhost::lock::Lock;
use crate::subhost::{state, teardown};

/// How long the cleanup of a stale subhost waits for its processes to end.
const STALE_KILL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A NAME locked before loading.
pub struct Early {
    pub name: String,
    pub lock: Lock,
}

/// Locks the NAME CONF states plainly, and records CONF and the launcher.
/// None when CONF states no plain NAME or the caller is not root (loading
/// then gives the real error).
pub fn take(conf: &Path) -> Result<Option<Early>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    // Never read what is not a regular file here (a FIFO would block):
    // loading refuses it with its own message.
    if !fs::metadata(conf).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let Some(name) = plain_name(conf) else {
        return Ok(None);
    };
    let lock = take_lock(&name)?;
    let path = fs::canonicalize(conf).unwrap_or_else(|_| conf.to_path_buf());
    let recorded = state::write_conf(&name, &path).and_then(|()| write_launcher(&name));
    if let Err(e) = recorded {
        let _ = state::remove(&name);
        return Err(e);
    }
    Ok(Some(Early { name, lock }))
}

/// A refusal before the NAME was confirmed: the early run directory goes.
/// Returns `err` for `map_err`.
pub fn undo(early: Option<&str>, err: Error) -> Error {
    if let Some(name) = early {
        let _ = state::remove(name);
    }
    err
}

/// The NAME lock, and what a dead launcher left under it reclaimed.
pub fn take_lock(name: &str) -> Result<Lock> {
    let (lock, stale) = lock::acquire(name)?;
    if stale {
        // Not `abandon` when this fails: the stale record is the only trace
        // of what still runs, for the next stop or boot to find.
        teardown::reclaim_for_boot(name, STALE_KILL_WAIT)?;
    }
    Ok(lock)
}

/// Records the calling process as the launcher booting `name`.
pub fn write_launcher(name: &str) -> Result<()> {
    let pid = std::process::id() as i32;
    let d = state::dir(name);
    let put = |file: &str, value: String| {
        let p = d.join(file);
        fs::write(&p, value + "\n").at("write", &p)
    };
    put("launcher_start", start_time(pid).unwrap_or(0).to_string())?;
    put("launcher", pid.to_string())
}

/// A pidfd on the launcher that recorded itself booting `name`, if it
/// still runs (checked against its start time).
pub fn open_launcher(name: &str) -> Option<std::os::fd::OwnedFd> {
    let get = |file: &str| fs::read_to_string(state::dir(name).join(file)).ok();
    let pid = get("launcher")?.trim_end().parse().ok()?;
    let start = get("launcher_start")?.trim_end().parse().ok()?;
    crate::kernel::process::open_checked(pid, start)
}
