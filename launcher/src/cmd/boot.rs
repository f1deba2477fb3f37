//! `overlay-boot CONF`: load and check everything, take the lock, fork the
//! monitor, and return when the subhost is ready (exit 0, one line) or has
//! failed (exit 1, the reason and the log's tail, nothing left behind). A
//! SIGINT, SIGTERM or SIGHUP before ready aborts the boot: it is torn down
//! and the launcher exits 128 + the signal with a message; with
//! `--foreground`, after ready, it stops the subhost gracefully.

use std::path::Path;

use crate::error::{Error, Result};
use crate::model::report::Outcome;
use crate::subhost::interrupt::Interrupt;
use crate::subhost::monitor::{spawn_monitor, Monitor, Sink};
use crate::subhost::outcome::await_report;
use crate::subhost::reserve::reserve;
use crate::subhost::tell;

pub fn boot(conf: &Path, foreground: bool) -> Result<i32> {
    // Caught before anything is reserved or run: a ^C never leaves half a boot.
    let stop = Interrupt::catch()?;
    let reserved = reserve(conf, |_| {}, &stop)?;
    if foreground {
        let sink = Sink::Terminal(Outcome::default());
        let (code, ready) = Monitor::run(reserved, sink, None, &stop);
        return match (ready, stop.signal()) {
            (false, Some(signal)) => Err(Error::Interrupted { signal }),
            _ => Ok(code),
        };
    }
    let (name, log) = (reserved.cfg.name.clone(), reserved.cfg.log.clone());
    let monitor = spawn_monitor(reserved, None, stop)?;
    let out = await_report(&name, monitor)?;
    if let (true, Some(pid)) = (out.ready, out.pid) {
        tell::print_ready(&name, pid, &log, &out.failed);
        return Ok(0);
    }
    let reason = out
        .reason
        .unwrap_or_else(|| "the monitor ended without a report".into());
    tell::print_failure(&name, &reason, &log);
    Ok(1)
}
