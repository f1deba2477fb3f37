//! The boot's caller waits for its monitor's report: the events pipe read
//! to its end, while the caller's stop signals (a ^C to the terminal's
//! process group, SIGTERM, SIGHUP, or overlay-stop during the reservation)
//! are passed on to the monitor as one SIGTERM, which aborts the set-up or
//! stops PID 1, and then tears down (issue 11, item 4).

use std::io::Read;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;

use crate::error::{Error, Result};
use crate::model::report::Outcome;
use crate::subhost::monitor::Spawned;
use crate::subhost::teardown;

/// The monitor's report; `Err(Interrupted)` when a stop signal reached
/// the caller before the subhost was ready: then the monitor has ended
/// and nothing of the boot is left.
pub fn await_report(name: &str, m: Spawned) -> Result<Outcome> {
    let (out, mut asked) = read_events(&m);
    // A signal that came as the ready report did: the boot is aborted too.
    if !asked && m.stop.requested() {
        asked = true;
        let _ = kill(m.pid, Signal::SIGTERM);
    }
    if out.ready && !asked {
        return Ok(out);
    }
    // Teardown is the monitor's last act: wait for it.
    let _ = waitpid(m.pid, None);
    // A killed monitor did not tear down: what it made goes now, or a
    // failure would hide a running subhost.
    if let Err(e) = teardown::reclaim_after_monitor(name, m.lock_id) {
        log::error!("{e}");
    }
    match (asked, m.stop.signal()) {
        (true, signal) => Err(Error::Interrupted {
            signal: signal.unwrap_or(libc::SIGTERM),
        }),
        (false, _) => Ok(out),
    }
}

/// Reads the events to EOF; true when a stop signal was passed on.
fn read_events(m: &Spawned) -> (Outcome, bool) {
    let mut bytes = Vec::new();
    let mut asked = false;
    let mut events = &m.events;
    loop {
        let mut fds = vec![PollFd::new(m.events.as_fd(), PollFlags::POLLIN)];
        if let (false, Some(fd)) = (asked, m.stop.fd()) {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => break,
        }
        let hit = |i: usize| {
            fds.get(i)
                .and_then(PollFd::revents)
                .is_some_and(|r| !r.is_empty())
        };
        if hit(1) {
            asked = true;
            log::info!("stop signal: boot aborted; SIGTERM to the monitor");
            let _ = kill(m.pid, Signal::SIGTERM);
        }
        if hit(0) {
            let mut buf = [0u8; 4096];
            match events.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
    (Outcome::read(&bytes[..]), asked)
}
