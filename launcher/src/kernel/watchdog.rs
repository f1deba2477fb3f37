//! A watchdog for one contained command (`contain`): a forked process that
//! leads a new process group, which the command then joins, and kills that
//! group when the launcher dies (kill -9 included) before saying the
//! command is over. The command itself also dies with the launcher by
//! PR_SET_PDEATHSIG; the watchdog reaches what it started in the
//! background. Being forked first, it watches from the command's first
//! instruction on.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{send, MsgFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};

pub struct Watchdog {
    line: OwnedFd,
    pid: Pid,
}

impl Watchdog {
    /// Starts a watchdog leading a new process group.
    pub fn start() -> io::Result<Watchdog> {
        let (ours, theirs) = UnixStream::pair()?;
        let fd = theirs.as_raw_fd();
        // SAFETY: the child runs only `watch`, which makes async-signal-safe
        // system calls and never returns, so forking a process that may have
        // threads is sound.
        match unsafe { fork() }? {
            ForkResult::Child => watch(fd),
            ForkResult::Parent { child } => {
                // Also done here, as shells do, so that the group exists
                // before the command is spawned into it.
                let _ = nix::unistd::setpgid(child, child);
                Ok(Watchdog {
                    line: ours.into(),
                    pid: child,
                })
            }
        }
    }

    /// The process group it leads, for the command to join.
    pub fn group(&self) -> Pid {
        self.pid
    }

    /// The command is over and its group killed by us: the watchdog ends
    /// without touching the group (whose id is about to be given up).
    pub fn release(self) {
        let _ = send(self.line.as_fd().as_raw_fd(), b"d", MsgFlags::MSG_NOSIGNAL);
        drop(self.line);
        let _ = waitpid(self.pid, None);
    }
}

/// The watchdog's life: lead a new group; wait on the line; a byte means
/// done, end of file means the launcher died: kill the group (itself too).
fn watch(fd: i32) -> ! {
    // SAFETY: setpgid, signal, dup2, close_range, read, kill and _exit are
    // async-signal-safe; nothing is allocated. Its own group keeps a Ctrl-C
    // meant for the launcher from it; SIGTERM, SIGINT and SIGHUP to the
    // command's group (a stop during the boot) leave it watching.
    unsafe {
        libc::setpgid(0, 0);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::signal(sig, libc::SIG_IGN);
        }
        libc::dup2(fd, 0);
        libc::syscall(libc::SYS_close_range, 1u32, u32::MAX, 0u32);
        let mut byte = 0u8;
        loop {
            let n = libc::read(0, (&mut byte as *mut u8).cast(), 1);
            if n == 0 {
                libc::kill(0, libc::SIGKILL);
                libc::_exit(0);
            }
            if n > 0 || *libc::__errno_location() != libc::EINTR {
                libc::_exit(0);
            }
        }
    }
}
