//! The relay's byte moving: master to stdout, stdin to master (with VEOF
//! at the end of a non-terminal input), and the window size.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::{read, write};

use super::Relay;
use crate::kernel::pty::{self, EOF_CHAR};

/// What one read from the master gave.
#[derive(PartialEq, Eq)]
pub(super) enum Got {
    Data,
    /// Nothing buffered now.
    Nothing,
    /// EOF or EIO: no slave is open any more.
    Done,
}

/// Copies the caller's window size to the master (SIGWINCH inside).
pub(super) fn resize(master: &OwnedFd) {
    if let Some(ws) = pty::winsize(std::io::stdin().as_fd()) {
        let _ = pty::set_winsize(master.as_fd(), &ws);
    }
}

impl Relay<'_> {
    /// Reads once from the master and writes it to stdout.
    pub(super) fn pump_master(&mut self, m: &OwnedFd) -> Got {
        let mut buf = [0u8; 8192];
        match read(m, &mut buf) {
            Ok(0) => Got::Done,
            Ok(n) => {
                if !self.out_dead {
                    let mut out = std::io::stdout().lock();
                    if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                        self.out_dead = true;
                    }
                }
                Got::Data
            }
            Err(Errno::EINTR | Errno::EAGAIN) => Got::Nothing,
            Err(_) => Got::Done,
        }
    }

    pub(super) fn pump_stdin(&mut self) {
        let mut buf = [0u8; 4096];
        match read(std::io::stdin().as_fd(), &mut buf) {
            Ok(0) | Err(Errno::EIO) => self.stdin_ended(),
            Ok(n) => {
                self.to_master.extend_from_slice(&buf[..n]);
                self.last_in = buf[n - 1];
            }
            Err(Errno::EINTR | Errno::EAGAIN) => {}
            Err(_) => self.stdin_ended(),
        }
    }

    fn stdin_ended(&mut self) {
        self.stdin_done = true;
        if self.caller.is_terminal() {
            // The caller's terminal is gone (hung up): as for SIGHUP.
            self.out_dead = true;
            self.stop(Signal::SIGHUP);
        } else {
            // End of the input: VEOF, twice after a partial line (the first
            // only ends the line).
            if self.last_in != b'\n' {
                self.to_master.push(EOF_CHAR);
            }
            self.to_master.push(EOF_CHAR);
        }
    }

    pub(super) fn flush_to_master(&mut self, m: &OwnedFd) {
        match write(m, &self.to_master) {
            Ok(n) => {
                self.to_master.drain(..n);
            }
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(_) => self.to_master.clear(),
        }
    }
}
