//! `overlay-boot --session CONF [CMD ARG…]`: an install-time session. The
//! subhost boots in maintenance mode (no START, no INIT, no services
//! directory) with CMD (default a login shell) as a child of its PID 1 on a
//! new pty from the subhost's own devpts; the launcher relays that pty to
//! the caller's terminal (see relay) or, without one, to its stdin and
//! stdout. When CMD exits the subhost stops gracefully, and the launcher
//! exits with CMD's status. While it runs, `/usr/sbin/policy-rc.d` (exit
//! 101) keeps package installs from starting daemons: over an overlay it
//! is the launcher's layer (see subhost::rclayer); with UPPER as the root
//! itself (bind and as-is modes) it is written into UPPER and removed
//! after (subhost::policy).

use std::ffi::OsString;
use std::path::Path;

use crate::cmd::relay::{self, OnStop, Peer};
use crate::error::{Op, Result};
use crate::kernel::pty;
use crate::kernel::sys::pidfd_open;
use crate::kernel::term::Caller;
use crate::model::config::Hook;
use crate::model::exit::shell_code;
use crate::model::report::Outcome;
use crate::subhost::attach::SessionRequest;
use crate::subhost::interrupt::Interrupt;
use crate::subhost::monitor::spawn_monitor;
use crate::subhost::policy::Policy;
use crate::subhost::reserve::{abandon, reserve};
use crate::subhost::{teardown, tell};

pub fn session(conf: &Path, argv: &[OsString]) -> Result<i32> {
    // Maintenance mode: nothing starts but CMD.
    let stop = Interrupt::catch()?;
    let reserved = reserve(
        conf,
        |cfg| {
            cfg.start.clear();
            cfg.init = Hook::BuiltIn;
            cfg.services = None;
        },
        &stop,
    )?;
    let (name, log_path) = (reserved.cfg.name.clone(), reserved.cfg.log.clone());
    let caller = Caller::detect();
    let policy = Policy::install(&reserved.cfg).map_err(|e| abandon(&name, e))?;
    let request = SessionRequest {
        argv: argv.to_vec(),
        term: std::env::var("TERM").ok().filter(|t| !t.is_empty()),
        slave: caller.slave_setup(),
        handoff: None,
    };
    let monitor = spawn_monitor(reserved, Some(request), stop)?;
    let pidfd = pidfd_open(monitor.pid).op("pidfd_open monitor")?;
    let peer = Peer {
        pid: monitor.pid,
        pidfd: &pidfd,
    };
    let master = match monitor.handoff {
        Some(sock) => pty::recv_fd(&sock)?,
        None => None,
    };
    let status = relay::run(master, &caller, &peer, OnStop::StopSubhost)?;
    // The monitor has torn everything down: the subhost is gone.
    drop(policy);
    let out = Outcome::read(monitor.events);
    // A killed monitor did not tear down: what it made goes now.
    if let Err(e) = teardown::reclaim_after_monitor(&name, monitor.lock_id) {
        log::error!("{e}");
    }
    if !out.ready {
        let reason = out
            .reason
            .unwrap_or_else(|| "the monitor ended without a report".into());
        tell::print_failure(&name, &reason, &log_path);
        return Ok(1);
    }
    Ok(shell_code(status))
}
