//! Starting a child in a clean state: empty signal mask and default
//! dispositions (PID 1 keeps every disposition at its default and only
//! blocks; the mask is cleared here before exec), stdin on /dev/null,
//! stdout and stderr on a pipe that PID 1 reads and logs, only fds 0–2 (all
//! of PID 1's own fds are close-on-exec), a session of its own (no
//! controlling terminal), and a minimal environment.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::fcntl::OFlag;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::unistd::Pid;

use proto::{Outcome, PATH};

pub struct Spawned {
    pub pid: Pid,
    /// Read end of the child's stdout+stderr pipe.
    pub output: OwnedFd,
}

/// Starts `argv` (argv[0] is the program) with the working directory `cwd`;
/// `notify`: a pipe's write end the child gets as fd N (s6's
/// notification-fd), the one fd passed on purpose beyond 0-2.
pub fn spawn(
    argv: &[OsString],
    cwd: &Path,
    subhost: &str,
    notify: Option<(OwnedFd, i32)>,
) -> io::Result<Spawned> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", "/")
        .env("SUBHOST", subhost)
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end.try_clone()?))
        .stderr(Stdio::from(write_end));
    let notify_raw = notify.as_ref().map(|(fd, n)| (fd.as_raw_fd(), *n));
    // SAFETY: the closure only calls sigprocmask(2), setsid(2), dup2(2) and
    // fcntl(2), which are async-signal-safe and allocate nothing, as
    // required between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // std does not reliably clear the mask: PID 1 blocks nearly every
            // signal, and a blocked mask survives exec.
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
            nix::unistd::setsid()?;
            if let Some((fd, n)) = notify_raw {
                // dup2 onto itself would keep close-on-exec: clear it then.
                let rc = if fd == n {
                    libc::fcntl(n, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, n)
                };
                if rc < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(notify);
    Ok(Spawned {
        pid: Pid::from_raw(child.id() as i32),
        output: read_end,
    })
}

/// The status a shell would report for a program that cannot be executed.
pub fn spawn_failure_status(err: &io::Error) -> Outcome {
    match err.kind() {
        io::ErrorKind::NotFound => Outcome::Exit(127),
        _ => Outcome::Exit(126),
    }
}

/// Starts a session's command on its terminal: a new session with `tty` as
/// controlling terminal and as fds 0-2, cwd `/`, a login environment.
pub fn spawn_on_terminal(
    argv: &[OsString],
    tty: std::fs::File,
    term: &str,
    subhost: &str,
) -> io::Result<Pid> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir("/")
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", "/root")
        .env("TERM", term)
        .env("SUBHOST", subhost)
        .stdin(Stdio::from(tty.try_clone()?))
        .stdout(Stdio::from(tty.try_clone()?))
        .stderr(Stdio::from(tty));
    // SAFETY: sigprocmask(2), setsid(2) and ioctl(2) are async-signal-safe
    // and allocate nothing, as required between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
            nix::unistd::setsid()?;
            // fd 0 is the terminal: make it this new session's controlling one.
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(Pid::from_raw(child.id() as i32))
}
