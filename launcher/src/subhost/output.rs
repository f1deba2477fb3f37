//! PID 1's stdout and stderr: a pipe the monitor copies to LOG as it
//! comes (the subinit's lines already carry their timestamps and service
//! tags), and drains to its end once PID 1 has ended. PID 1 never holds
//! a host file (issue 9, item 5).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// How long the drain waits for the last writer after PID 1's end: the
/// kernel has killed every other process of the pid namespace by then.
const DRAIN_WAIT: Duration = Duration::from_secs(10);

pub struct Output {
    pipe: File,
}

impl Output {
    pub fn new(pipe: File) -> Self {
        Output { pipe }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.pipe.as_fd()
    }

    /// Copies what the pipe holds to `log`; false at EOF (every writer
    /// gone) or on a read error. A failed write to LOG loses those bytes
    /// but never stops the reading, so PID 1 never blocks on a full pipe.
    pub fn copy(&mut self, mut log: &File) -> bool {
        // One page: the monitor's stack keeps what it touches for the
        // subhost's life (issue 14), and output comes a line at a time.
        let mut buf = [0u8; 4096];
        match self.pipe.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                let _ = log.write_all(&buf[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => true,
            Err(e) => {
                log::warn!("PID 1's output: {e}");
                false
            }
        }
    }

    /// After PID 1's end: copies until the pipe's end (EOF), so nothing
    /// written before the stop is lost; gives up after `DRAIN_WAIT`.
    pub fn drain(mut self, log: &File) {
        let deadline = Instant::now() + DRAIN_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.pipe.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) => {
                    log::warn!("PID 1's output still open {DRAIN_WAIT:?} after its end");
                    return;
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    log::warn!("poll PID 1's output: {}", e.desc());
                    return;
                }
            }
            if !self.copy(log) {
                return;
            }
        }
    }
}
