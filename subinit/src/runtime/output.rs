//! The services' output: one pipe per started child, read when readable and
//! logged line by line with the service's name as the tag.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// Longest line logged as one; longer output is split.
const MAX_LINE: usize = 4096;

struct Pipe {
    fd: OwnedFd,
    tag: String,
    pending: Vec<u8>,
}

#[derive(Default)]
pub struct OutputPipes {
    pipes: Vec<Pipe>,
}

impl OutputPipes {
    pub fn add(&mut self, fd: OwnedFd, tag: &str) {
        if let Err(err) = fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)) {
            log::warn!(target: crate::logging::SELF, "{tag}: cannot make its output pipe non-blocking: {err}");
        }
        self.pipes.push(Pipe {
            fd,
            tag: tag.to_owned(),
            pending: Vec::new(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.pipes.is_empty()
    }

    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.pipes.iter().map(|p| p.fd.as_fd())
    }

    /// Reads everything available on the pipe at `index` (as yielded by
    /// `fds`); returns false when the pipe reached EOF and was closed.
    pub fn drain(&mut self, index: usize) -> bool {
        let Some(pipe) = self.pipes.get_mut(index) else {
            return true;
        };
        let open = pipe.read_available();
        if !open {
            pipe.flush_partial();
            self.pipes.swap_remove(index);
        }
        open
    }

    /// Logs what is left of every pipe (at exit).
    pub fn flush_all(&mut self) {
        for pipe in &mut self.pipes {
            pipe.read_available();
            pipe.flush_partial();
        }
    }
}

impl Pipe {
    fn read_available(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match nix::unistd::read(self.fd.as_fd(), &mut buf) {
                Ok(0) => return false,
                Ok(n) => self.take(&buf[..n]),
                Err(Errno::EINTR) => continue,
                // Drained for now; more may come.
                Err(Errno::EAGAIN) => return true,
                Err(err) => {
                    log::debug!(target: crate::logging::SELF, "{}: output pipe {}: {err}", self.tag, self.fd.as_raw_fd());
                    return false;
                }
            }
        }
    }

    fn take(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            self.log(end);
            self.pending.drain(..=end);
        }
        while self.pending.len() >= MAX_LINE {
            self.log(MAX_LINE);
            self.pending.drain(..MAX_LINE);
        }
    }

    fn flush_partial(&mut self) {
        if !self.pending.is_empty() {
            self.log(self.pending.len());
            self.pending.clear();
        }
    }

    fn log(&self, len: usize) {
        let line = String::from_utf8_lossy(&self.pending[..len]);
        log::info!(target: &self.tag, "{}", line.trim_end_matches('\r'));
    }
}
