//! s6's notification-fd: a pipe per notifying service, the write end passed
//! to `run` as fd N, the read end (non-blocking) polled by PID 1; a newline
//! on it means ready.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};

#[derive(Default)]
pub struct ReadyPipes {
    /// (service index, read end).
    pipes: Vec<(usize, OwnedFd)>,
}

impl ReadyPipes {
    /// A pipe for service `index`; the write end for the child.
    pub fn open(&mut self, index: usize) -> nix::Result<OwnedFd> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        fcntl(&read, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        self.close(index);
        self.pipes.push((index, read));
        Ok(write)
    }

    pub fn close(&mut self, index: usize) {
        self.pipes.retain(|(i, _)| *i != index);
    }

    pub fn len(&self) -> usize {
        self.pipes.len()
    }

    /// (service index, fd) in a fixed order, for poll.
    pub fn fds(&self) -> impl Iterator<Item = (usize, BorrowedFd<'_>)> {
        self.pipes.iter().map(|(i, fd)| (*i, fd.as_fd()))
    }

    /// Reads service `index`'s pipe; true if a newline came. A pipe at EOF
    /// is closed (nothing more will come on it).
    pub fn read(&mut self, index: usize) -> bool {
        let Some((_, fd)) = self.pipes.iter().find(|(i, _)| *i == index) else {
            return false;
        };
        let mut buf = [0u8; 64];
        let mut ready = false;
        loop {
            match nix::unistd::read(fd.as_fd(), &mut buf) {
                Ok(0) => {
                    self.close(index);
                    return ready;
                }
                Ok(n) => ready |= buf[..n].contains(&b'\n'),
                Err(Errno::EINTR) => continue,
                // Drained for now (EAGAIN), or unusable.
                Err(_) => return ready,
            }
        }
    }
}
