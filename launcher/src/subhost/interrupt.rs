//! Stop requests, passed as a value: SIGTERM, SIGINT and SIGHUP to the
//! monitor (overlay-stop, a ^C in --foreground) write to a socket whose
//! read end an `Interrupt` holds. Before PID 1 exists they abort the
//! set-up: every step that can take long checks it (`check`) or waits for
//! its command through it (`wait_child`); then the monitor's wait loop
//! polls its fd and asks PID 1 to stop gracefully. No global: whoever may
//! be interrupted is handed the `Interrupt`.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use signal_hook::SigId;

use crate::error::{At, Error, Op, Result};
use crate::kernel::pidfd;
use crate::kernel::sys::pidfd_open;

/// How long a set-up command may take to end after SIGTERM on a stop.
const SETUP_GRACE: Duration = Duration::from_secs(5);

/// The stop signals caught.
const SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The stop signals, as they arrive; `none()` never has one. Dropping it
/// removes its handlers (a forked monitor drops its caller's).
pub struct Interrupt {
    pipe: Option<UnixStream>,
    /// Which signal came, one flag per SIGNALS entry.
    came: [Arc<AtomicBool>; 3],
    ids: Vec<SigId>,
}

/// Blocks the stop signals: main's very first step, so that a ^C before
/// `Interrupt::catch` waits for the handlers instead of killing the
/// launcher (issue 11, item 4). What remains is the exec itself.
pub fn hold() {
    let _ = stop_signals().thread_block();
}

/// Unblocks the stop signals (`catch` does, and main for the tools that
/// do not catch them): their default action, or the handlers, from now on.
pub fn release() {
    let _ = stop_signals().thread_unblock();
}

fn stop_signals() -> nix::sys::signal::SigSet {
    let mut set = nix::sys::signal::SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(sig);
    }
    set
}

impl Interrupt {
    /// Catches SIGTERM, SIGINT and SIGHUP from now on.
    pub fn catch() -> Result<Interrupt> {
        let (r, w) = UnixStream::pair().at("socketpair", "signal pipe")?;
        let mut me = Interrupt::none();
        for (sig, came) in SIGNALS.iter().zip(&me.came) {
            // The flag first: whoever the pipe wakes finds it set.
            let id = signal_hook::flag::register(*sig, Arc::clone(came))
                .at("register signal", "signal flag")?;
            me.ids.push(id);
            let w2 = w.try_clone().at("dup", "signal pipe")?;
            let id = signal_hook::low_level::pipe::register(*sig, w2)
                .at("register signal", "signal pipe")?;
            me.ids.push(id);
        }
        r.set_nonblocking(true)
            .at("set nonblocking", "signal pipe")?;
        me.pipe = Some(r);
        // Held since main's first step (`hold`): one that came meanwhile
        // is delivered now, to the handlers.
        release();
        Ok(me)
    }

    /// Outside a monitor: nothing interrupts, commands are simply waited for.
    pub fn none() -> Interrupt {
        Interrupt {
            pipe: None,
            came: Default::default(),
            ids: Vec::new(),
        }
    }

    /// The first stop signal that came (SIGINT before SIGTERM before
    /// SIGHUP), if any.
    pub fn signal(&self) -> Option<i32> {
        SIGNALS
            .iter()
            .zip(&self.came)
            .find(|(_, came)| came.load(Ordering::SeqCst))
            .map(|(sig, _)| *sig)
    }

    /// The fd that reads readable once a stop signal has come, for a
    /// caller's own poll.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.pipe.as_ref().map(AsFd::as_fd)
    }

    /// Whether a stop signal has come (and not been drained).
    pub fn requested(&self) -> bool {
        let Some(fd) = self.fd() else {
            return false;
        };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }

    /// Err(Stopped) once a stop signal has come during the set-up.
    pub fn check(&self) -> Result<()> {
        if self.requested() {
            return Err(Error::Stopped);
        }
        Ok(())
    }

    /// Err(Interrupted) once a stop signal has reached the launcher.
    pub fn check_launcher(&self) -> Result<()> {
        match self.requested() {
            true => Err(Error::Interrupted {
                signal: self.signal().unwrap_or(libc::SIGTERM),
            }),
            false => Ok(()),
        }
    }

    /// Forgets the signals read so far (the monitor has passed them on).
    pub fn drain(&self) {
        let Some(mut s) = self.pipe.as_ref() else {
            return;
        };
        let mut buf = [0u8; 64];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Waits for a command of the set-up (ifup, PREMOUNT, POSTMOUNT, INIT).
    /// A stop signal meanwhile ends it (SIGTERM, SIGKILL after
    /// SETUP_GRACE) and gives Err(Stopped).
    pub fn wait_child(&self, child: &mut Child) -> Result<ExitStatus> {
        let wait = |child: &mut Child| child.wait().at("wait", "set-up command");
        let Some(sig) = self.fd() else {
            return wait(child);
        };
        // The child is not reaped yet: its pid is still its own.
        let fd = pidfd_open(Pid::from_raw(child.id() as i32)).op("pidfd_open set-up command")?;
        let mut fds = [
            PollFd::new(fd.as_fd(), PollFlags::POLLIN),
            PollFd::new(sig, PollFlags::POLLIN),
        ];
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(Error::Call { op: "poll", errno }),
            }
            let hit = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            if hit(&fds[0]) {
                return wait(child);
            }
            if hit(&fds[1]) {
                break;
            }
        }
        log::info!("stop signal during the set-up: ending pid {}", child.id());
        let _ = pidfd::signal(fd.as_fd(), Signal::SIGTERM);
        if !pidfd::wait_exit(&fd, SETUP_GRACE).unwrap_or(false) {
            let _ = pidfd::signal(fd.as_fd(), Signal::SIGKILL);
        }
        let _ = child.wait();
        Err(Error::Stopped)
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
