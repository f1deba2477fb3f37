//! Waiting on and signalling a process through its pidfd (the raw calls
//! are in `sys`): immune to pid reuse, and pollable beside other fds.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use super::sys::pidfd_send_signal;

/// Waits until the process behind `pidfd` has ended (its pidfd reads
/// readable); false when `timeout` passed first. EINTR is retried with
/// the time left.
pub fn wait_exit(pidfd: impl AsFd, timeout: Duration) -> Result<bool, Errno> {
    let deadline = Instant::now() + timeout;
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, ms) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// Sends `sig`; a process already gone (ESRCH) is no error.
pub fn signal(pidfd: BorrowedFd<'_>, sig: Signal) -> Result<(), Errno> {
    match pidfd_send_signal(pidfd, sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(errno) => Err(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::sys::pidfd_open;
    use nix::unistd::Pid;

    #[test]
    fn waits_for_an_end_or_the_deadline() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let fd = pidfd_open(Pid::from_raw(child.id() as i32)).expect("pidfd_open");
        assert_eq!(wait_exit(&fd, Duration::from_millis(20)), Ok(false));
        signal(fd.as_fd(), Signal::SIGKILL).expect("SIGKILL");
        assert_eq!(wait_exit(&fd, Duration::from_secs(10)), Ok(true));
        child.wait().expect("wait");
        // Reaped: signalling it is no error.
        assert_eq!(signal(fd.as_fd(), Signal::SIGTERM), Ok(()));
    }
}
