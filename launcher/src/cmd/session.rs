//! `overlay-boot --session CONF [CMD ARG…]`: an install-time session. The
//! subhost boots in maintenance mode (no START, no INIT, no services
//! directory) with CMD (default a login shell) as a child of its PID 1 on a
//! new pty from the subhost's own devpts; the launcher relays that pty to
//! the caller's terminal (see relay) or, without one, to its stdin and
//! stdout. When CMD exits the subhost stops gracefully, and the launcher
//! exits with CMD's status. While it runs, `/usr/sbin/policy-rc.d` (exit
//! 101) keeps package installs from starting daemons.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::wait::WaitStatus;
use nix::unistd::{fork, pipe2, ForkResult};

use crate::cmd::boot;
use crate::cmd::relay::{self, Caller, OnStop, Peer};
use crate::error::{At, Error, Op, Result};
use crate::kernel::pty;
use crate::kernel::sys::pidfd_open;
use crate::model::config::Hook;
use crate::model::report::{self, Outcome};
use crate::subhost::attach::SessionRequest;
use crate::subhost::monitor::{Monitor, Sink};
use crate::subhost::policy::Policy;

pub fn session(conf: &Path, argv: &[OsString]) -> Result<i32> {
    // Maintenance mode: nothing starts but CMD.
    let reserved = boot::reserve(conf, |cfg| {
        cfg.start.clear();
        cfg.init = Hook::BuiltIn;
        cfg.services = None;
    })?;
    let boot::Reserved {
        cfg,
        subinit,
        lock,
        upper_lock,
        log,
    } = reserved;
    let (name, log_path) = (cfg.name.clone(), cfg.log.clone());
    let abandon = |e: Error| boot::abandon(&name, e);
    let caller = Caller::detect();
    let policy = Policy::install(&cfg).map_err(abandon)?;
    let (mine, theirs) = UnixStream::pair()
        .at("socketpair", "session")
        .map_err(abandon)?;
    let (events_r, events_w) = pipe2(OFlag::O_CLOEXEC).op("pipe").map_err(abandon)?;
    let request = SessionRequest {
        argv: argv.to_vec(),
        term: std::env::var("TERM").ok().filter(|t| !t.is_empty()),
        slave: caller.slave_setup(),
        handoff: Some(theirs),
    };
    // SAFETY: the launcher is single-threaded here, so the child may run
    // any code after fork.
    let child = match unsafe { fork() }.op("fork").map_err(abandon)? {
        ForkResult::Child => {
            drop(mine);
            drop(events_r);
            if let Err(e) = boot::daemonize(&log) {
                log::warn!("monitor: {e}");
            }
            let mut monitor = Monitor::new(cfg, log, lock, Sink::Pipe(Some(File::from(events_w))));
            monitor.attach.session = Some(request);
            monitor.upper_lock = Some(upper_lock);
            std::process::exit(monitor.run(subinit))
        }
        ForkResult::Parent { child } => child,
    };
    drop(request);
    drop(events_w);
    // The lock is shared with the monitor; it is closed at exit.
    std::mem::forget(lock);
    std::mem::forget(upper_lock);
    let pidfd = pidfd_open(child).op("pidfd_open monitor")?;
    let peer = Peer {
        pid: child,
        pidfd: &pidfd,
    };
    let master = pty::recv_fd(&mine)?;
    drop(mine);
    let status = relay::run(master, &caller, &peer, OnStop::StopSubhost)?;
    // The monitor has torn everything down: the subhost is gone.
    drop(policy);
    let out = Outcome::read(File::from(events_r));
    if !out.ready {
        let reason = out
            .reason
            .unwrap_or_else(|| "the monitor ended without a report".into());
        report::print_failure(&name, &reason, &log_path);
        return Ok(1);
    }
    Ok(match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 1,
    })
}
