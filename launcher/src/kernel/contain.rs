//! Programs the launcher runs for the configuration (`!` commands, and
//! PREMOUNT, POSTMOUNT and INIT): each in a process group of its own, killed
//! with the launcher (PR_SET_PDEATHSIG), given a deadline, and, however it
//! ends, its whole process group is killed afterwards, so nothing it started
//! outlives it. A `!` command's output is read only up to its first line.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::kernel::sys::pidfd_open;
use crate::kernel::watchdog::Watchdog;

/// How long a `!` command or a hook may run, unless [`TIMEOUT_ENV`] says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The environment variable giving that time in whole seconds.
pub const TIMEOUT_ENV: &str = "OVERLAY_BOOT_COMMAND_TIMEOUT";
/// How long a stopped hook gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The time limit of each `!` command and hook: [`TIMEOUT_ENV`] when it is
/// a whole number of seconds from 1, else [`DEFAULT_TIMEOUT`].
pub fn timeout() -> Duration {
    let Some(text) = std::env::var_os(TIMEOUT_ENV) else {
        return DEFAULT_TIMEOUT;
    };
    match text.to_str().and_then(|t| t.parse::<u64>().ok()) {
        Some(secs) if secs >= 1 => Duration::from_secs(secs),
        _ => {
            log::warn!("{TIMEOUT_ENV}={text:?} is not a number of seconds; using the default");
            DEFAULT_TIMEOUT
        }
    }
}

/// Puts `cmd` in process group `group` (None: one of its own) and makes it
/// die with the launcher.
fn contain(cmd: &mut Command, group: Option<Pid>) {
    let parent = std::process::id();
    cmd.process_group(group.map_or(0, Pid::as_raw));
    // SAFETY: between fork and exec the closure only makes async-signal-safe
    // system calls (prctl, getppid) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The launcher died before the prctl: do not run orphaned.
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            Ok(())
        });
    }
}

/// A contained command: the child, and the watchdog of its process group.
pub struct Contained {
    pub child: Child,
    /// Its process group: the watchdog's, else its own.
    group: Pid,
    watchdog: Option<Watchdog>,
}

/// Spawns `cmd` contained: a process group of its own, dying with the
/// launcher, its group killed by a watchdog if the launcher dies first.
/// The watchdog comes first and leads the group the command joins, so
/// there is no moment when the command runs unwatched.
pub fn spawn(cmd: &mut Command) -> io::Result<Contained> {
    let watchdog = Watchdog::start()
        .map_err(|e| log::warn!("no watchdog: {e}"))
        .ok();
    contain(cmd, watchdog.as_ref().map(Watchdog::group));
    let child = cmd.spawn()?;
    let group = watchdog
        .as_ref()
        .map_or(Pid::from_raw(child.id() as i32), Watchdog::group);
    Ok(Contained {
        child,
        group,
        watchdog,
    })
}

impl Contained {
    /// Kills the whole group (the leader not reaped yet), releases the
    /// watchdog, then reaps the leader.
    fn kill_and_reap(&mut self) -> io::Result<ExitStatus> {
        let _ = killpg(self.group, Signal::SIGKILL);
        if let Some(w) = self.watchdog.take() {
            w.release();
        }
        self.child.wait()
    }
}

/// How a contained program's wait ended.
#[derive(Debug)]
pub enum Waited {
    Exited(ExitStatus),
    /// Still running at the deadline.
    TimedOut,
    /// A stop signal came to the monitor meanwhile.
    Stopped,
    /// Its first line of output grew past the limit.
    LineTooLong,
}

/// The first line of a child's standard output, read without blocking and
/// never holding more than `max` bytes; the rest is read and dropped.
pub struct FirstLine {
    pipe: Option<ChildStdout>,
    line: Vec<u8>,
    complete: bool,
    max: usize,
}

impl FirstLine {
    pub fn new(pipe: ChildStdout, max: usize) -> io::Result<FirstLine> {
        let flags = OFlag::from_bits_truncate(fcntl(&pipe, FcntlArg::F_GETFL)?);
        fcntl(&pipe, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        Ok(FirstLine {
            pipe: Some(pipe),
            line: Vec::new(),
            complete: false,
            max,
        })
    }

    /// The first line (without its newline) read so far.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.pipe.as_ref().map(|p| p.as_fd())
    }

    /// Reads what is in the pipe now; false when the line is too long.
    fn drain(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 8192];
        while let Some(pipe) = self.pipe.as_mut() {
            let n = match pipe.read(&mut buf) {
                Ok(0) => {
                    self.pipe = None;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if self.complete {
                continue;
            }
            let chunk = &buf[..n];
            let end = chunk.iter().position(|&b| b == b'\n');
            self.line.extend_from_slice(&chunk[..end.unwrap_or(n)]);
            self.complete = end.is_some();
            if self.line.len() > self.max {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Waits for `child` to exit, for at most `limit`, reading `out` meanwhile;
/// in a monitor, a stop signal ends the wait too (`stop`: the monitor's
/// stop requests, `Interrupt::fd`; None while the configuration loads). When it exits, its process
/// group is killed before it is reaped (while its pid, and so the group's
/// id, is still taken), then it is reaped.
pub fn wait(
    cmd: &mut Contained,
    limit: Duration,
    mut out: Option<&mut FirstLine>,
    stop: Option<BorrowedFd<'_>>,
) -> io::Result<Waited> {
    let deadline = Instant::now() + limit;
    let pidfd = pidfd_open(Pid::from_raw(cmd.child.id() as i32))?;
    loop {
        if let Some(o) = out.as_deref_mut() {
            if !o.drain()? {
                return Ok(Waited::LineTooLong);
            }
        }
        if readable(pidfd.as_fd(), PollTimeout::ZERO) {
            let status = cmd.kill_and_reap()?;
            if let Some(o) = out.as_deref_mut() {
                if !o.drain()? {
                    return Ok(Waited::LineTooLong);
                }
            }
            return Ok(Waited::Exited(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Waited::TimedOut);
        }
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        fds.extend(stop.map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
        fds.extend(
            out.as_deref()
                .and_then(FirstLine::fd)
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
        );
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
        let stopped = stop.is_some() && fds[1].revents().is_some_and(|r| !r.is_empty());
        if stopped {
            return Ok(Waited::Stopped);
        }
    }
}

/// Whether `fd` is readable within `timeout` (a pidfd: the process exited).
fn readable(fd: BorrowedFd<'_>, timeout: PollTimeout) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    matches!(poll(&mut fds, timeout), Ok(n) if n > 0)
}

/// Ends what `wait` left: nothing when the child exited (its group is
/// already killed, itself reaped); after a stop signal SIGTERM to its group
/// and [`STOP_GRACE`] for it to end; then SIGKILL to the whole group, and
/// the child is reaped. Only then is its pid, the group's id, given up, so
/// the signals reach only what the command started.
pub fn finish(cmd: &mut Contained, waited: &io::Result<Waited>) {
    let group = cmd.group;
    match waited {
        Ok(Waited::Exited(_)) => return,
        Ok(Waited::Stopped) => {
            let _ = killpg(group, Signal::SIGTERM);
            if let Ok(pidfd) = pidfd_open(Pid::from_raw(cmd.child.id() as i32)) {
                let grace = PollTimeout::try_from(STOP_GRACE).unwrap_or(PollTimeout::MAX);
                readable(pidfd.as_fd(), grace);
            }
        }
        _ => {}
    }
    if let Err(e) = cmd.kill_and_reap() {
        log::warn!("wait for pid {}: {e}", cmd.child.id());
    }
}
