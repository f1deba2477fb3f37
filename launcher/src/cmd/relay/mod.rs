//! The caller's side of a session: relays the caller's terminal (or plain
//! stdin/stdout) to and from a pty master whose slave is inside the
//! subhost, keeps the window size in step, and forwards stop signals, until
//! the process the session belongs to has ended.
//!
//! With stdin a terminal, it is put in raw mode for the relay: every key,
//! Ctrl-C and Ctrl-Z included, is a byte written to the master, so the
//! signals they stand for are raised by the pty inside, for its foreground
//! job, never for PID 1 or the launcher. The caller's modes are restored on
//! every way out: the end of the session, an error (Drop), a panic (the
//! panic hook), a stop signal (handled through a signalfd, so it returns
//! normally), SIGCONT after a stop from outside (raw mode is set again).

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Op, Result};
use crate::kernel::term::{Caller, Raw};

mod pump;

use pump::{resize, Got};

/// What a stop signal (SIGTERM, SIGINT, SIGHUP, SIGQUIT) to the launcher does.
#[derive(Clone, Copy)]
pub enum OnStop {
    /// `--session`: SIGTERM to the monitor, which stops the subhost
    /// gracefully; the relay goes on until it is down.
    StopSubhost,
    /// `overlay-go`: the same signal to the entering process (which passes
    /// it on to the command), and the pty is hung up.
    PassOn,
}

/// The process a session belongs to: the monitor (`--session`) or the
/// entering process (`overlay-go`), our child.
pub struct Peer<'a> {
    pub pid: Pid,
    pub pidfd: &'a OwnedFd,
}

/// Relays until `peer` has ended, then reaps it and returns how it ended.
/// `master`: the pty to relay (None: nothing to relay, only signals to
/// pass on while waiting).
pub fn run(
    master: Option<OwnedFd>,
    caller: &Caller,
    peer: &Peer,
    on_stop: OnStop,
) -> Result<WaitStatus> {
    // Why ignored: restoring the caller's modes must work even if the
    // launcher was moved to the background meanwhile.
    // SAFETY: SIG_IGN installs no handler.
    let _ = unsafe { signal(Signal::SIGTTOU, SigHandler::SigIgn) };
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGWINCH,
        Signal::SIGCONT,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        mask.add(s);
    }
    // Why blocked and never unblocked: a stop signal must not kill the
    // launcher before it has restored the terminal and reaped its child;
    // the launcher exits right after.
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).op("sigprocmask")?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .op("signalfd")?;
    let mut relay = Relay {
        master,
        caller,
        peer,
        on_stop,
        sigfd,
        raw: None,
        to_master: Vec::new(),
        stdin_done: false,
        out_dead: false,
        last_in: b'\n',
        hangup: false,
        hung_up: false,
    };
    if let (Some(saved), true) = (caller.saved(), relay.master.is_some()) {
        relay.raw = Some(Raw::on(saved)?);
    }
    if let Some(m) = &relay.master {
        fcntl(m, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).op("fcntl pty master")?;
    }
    let result = relay.relay();
    // The terminal is the caller's again as soon as nothing is relayed.
    relay.raw = None;
    relay.master = None;
    result?;
    relay.wait()
}

struct Relay<'a> {
    master: Option<OwnedFd>,
    caller: &'a Caller,
    peer: &'a Peer<'a>,
    on_stop: OnStop,
    sigfd: SignalFd,
    raw: Option<Raw>,
    /// Read from stdin, not yet written to the master.
    to_master: Vec<u8>,
    stdin_done: bool,
    /// stdout can no longer be written: output is dropped.
    out_dead: bool,
    /// The last byte written towards the master (for VEOF at the end).
    last_in: u8,
    /// A stop signal asked to hang the pty up.
    hangup: bool,
    /// The caller's terminal hung up (already acted on).
    hung_up: bool,
}

impl Relay<'_> {
    /// Until the master is done (every slave closed) or the peer ended.
    fn relay(&mut self) -> Result<()> {
        let stdin = std::io::stdin();
        while let Some(master) = self.master.take() {
            let mut mflags = PollFlags::POLLIN;
            if !self.to_master.is_empty() {
                mflags |= PollFlags::POLLOUT;
            }
            let want_stdin = !self.stdin_done && self.to_master.is_empty();
            let mut fds = vec![
                PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.peer.pidfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(master.as_fd(), mflags),
            ];
            if want_stdin {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(crate::error::Error::Call { op: "poll", errno }),
            }
            let ev = |i: usize| {
                fds.get(i)
                    .and_then(PollFd::revents)
                    .unwrap_or(PollFlags::empty())
            };
            let (sig, peer, mev, inev) = (ev(0), ev(1), ev(2), ev(3));
            drop(fds);
            if !sig.is_empty() {
                self.signals(Some(&master));
            }
            if self.hangup {
                continue;
            }
            if mev.intersects(PollFlags::POLLOUT) {
                self.flush_to_master(&master);
            }
            if mev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                && self.pump_master(&master) == Got::Done
            {
                continue;
            }
            if want_stdin && !inev.is_empty() {
                self.pump_stdin();
            }
            if !peer.is_empty() {
                // The peer ended: take what is still buffered, then stop.
                while self.pump_master(&master) == Got::Data {}
                continue;
            }
            self.master = Some(master);
        }
        Ok(())
    }

    /// Handles the pending signals; `master` while the pty is relayed.
    fn signals(&mut self, master: Option<&OwnedFd>) {
        while let Ok(Some(info)) = self.sigfd.read_signal() {
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            match (sig, master) {
                (Signal::SIGWINCH, Some(m)) => resize(m),
                (Signal::SIGCONT, Some(m)) => {
                    // Stopped and continued from outside: the shell that
                    // got the terminal meanwhile may have reset its modes.
                    if let Some(raw) = &self.raw {
                        let _ = raw.apply();
                    }
                    resize(m);
                }
                (Signal::SIGWINCH | Signal::SIGCONT, None) => {}
                (other, _) => self.stop(other),
            }
        }
    }

    fn stop(&mut self, sig: Signal) {
        // A hangup comes twice (SIGHUP and EIO on the terminal) but is one
        // request; a second SIGTERM would make the stop skip to SIGKILL.
        if sig == Signal::SIGHUP && std::mem::replace(&mut self.hung_up, true) {
            return;
        }
        match self.on_stop {
            OnStop::StopSubhost => {
                let _ = kill(self.peer.pid, Signal::SIGTERM);
            }
            OnStop::PassOn => {
                let _ = kill(self.peer.pid, sig);
                // Closing the master hangs the pty up: SIGHUP inside.
                self.hangup = true;
            }
        }
    }

    /// After the relay: wait for the peer, still passing stop signals on.
    fn wait(&mut self) -> Result<WaitStatus> {
        loop {
            let mut fds = [
                PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.peer.pidfd.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(crate::error::Error::Call { op: "poll", errno }),
            }
            let ended = fds[1].revents().is_some_and(|r| !r.is_empty());
            if ended {
                loop {
                    match waitpid(self.peer.pid, None) {
                        Err(Errno::EINTR) => continue,
                        other => return other.op("waitpid"),
                    }
                }
            }
            self.signals(None);
        }
    }
}
