//! `overlay-boot CONF`: load and check everything, take the lock, fork the
//! monitor, and return when the subhost is ready (exit 0, one line) or has
//! failed (exit 1, the reason and the log's tail, nothing left behind).

use std::path::Path;

use nix::sys::wait::waitpid;

use crate::error::Result;
use crate::model::report::Outcome;
use crate::subhost::monitor::{spawn_monitor, Monitor, Sink};
use crate::subhost::reserve::reserve;
use crate::subhost::{teardown, tell};

pub fn boot(conf: &Path, foreground: bool) -> Result<i32> {
    let reserved = reserve(conf, |_| {})?;
    if foreground {
        let sink = Sink::Terminal(Outcome::default());
        return Ok(Monitor::run(reserved, sink, None));
    }
    let (name, log) = (reserved.cfg.name.clone(), reserved.cfg.log.clone());
    let monitor = spawn_monitor(reserved, None)?;
    let out = Outcome::read(monitor.events);
    if let (true, Some(pid)) = (out.ready, out.pid) {
        tell::print_ready(&name, pid, &log, &out.failed);
        return Ok(0);
    }
    // Teardown is the monitor's last act: wait for it.
    let _ = waitpid(monitor.pid, None);
    // A killed monitor did not tear down: what it made goes now, or exit 1
    // would hide a running subhost.
    if let Err(e) = teardown::reclaim_after_monitor(&name, monitor.lock_id) {
        log::error!("{e}");
    }
    let reason = out
        .reason
        .unwrap_or_else(|| "the monitor ended without a report".into());
    tell::print_failure(&name, &reason, &log);
    Ok(1)
}
