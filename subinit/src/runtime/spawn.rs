//! Starting a child in a clean state: empty signal mask and default
//! dispositions (PID 1 keeps every disposition at its default and only
//! blocks; the mask is cleared here before exec), stdin on a pipe whose
//! write end is closed (reads give EOF as from /dev/null, which a subhost's
//! /dev may lack),
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

/// Why a child could not be started: a step of PID 1's own before the
/// fork, or the fork/exec itself (the errno the child reported).
#[derive(Debug)]
pub enum SpawnError {
    /// No program given.
    NoProgram,
    /// PID 1 could not prepare the child's fds (`step` names which).
    Setup { step: &'static str, err: io::Error },
    /// fork, the set-up between fork and exec, or exec failed.
    Exec(io::Error),
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnError::NoProgram => write!(f, "no program to execute"),
            SpawnError::Setup { step, err } => write!(f, "{step}: {err}"),
            SpawnError::Exec(err) => write!(f, "{err}"),
        }
    }
}

impl SpawnError {
    /// The status a shell would report for a program it cannot run: 127
    /// when exec found no such file, else 126.
    pub fn outcome(&self) -> Outcome {
        match self {
            SpawnError::Exec(err) if err.kind() == io::ErrorKind::NotFound => Outcome::Exit(127),
            _ => Outcome::Exit(126),
        }
    }
}

/// `step` failed in PID 1 before the fork.
fn setup(step: &'static str) -> impl FnOnce(io::Error) -> SpawnError {
    move |err| SpawnError::Setup { step, err }
}

/// Stdin for a service: the read end of a pipe with no writer.
fn empty_stdin() -> io::Result<OwnedFd> {
    let (read_end, _write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    Ok(read_end)
}

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
) -> Result<Spawned, SpawnError> {
    let (program, args) = argv.split_first().ok_or(SpawnError::NoProgram)?;
    let (read_end, write_end) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| setup("output pipe")(e.into()))?;
    let stdin = empty_stdin().map_err(setup("stdin pipe"))?;
    let stdout = write_end.try_clone().map_err(setup("dup output pipe"))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", "/")
        .env("SUBHOST", subhost)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
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
            oom_score_default();
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
    let child = cmd.spawn().map_err(SpawnError::Exec)?;
    drop(notify);
    Ok(Spawned {
        pid: Pid::from_raw(child.id() as i32),
        output: read_end,
    })
}

/// In a forked child: back to the OOM killer's default score. PID 1 runs
/// with oom_score_adj -1000 (set by the launcher: it is never the OOM
/// victim), which its children would inherit; raising it needs no
/// privilege. open(2), write(2) and close(2) only: async-signal-safe.
fn oom_score_default() {
    // SAFETY: a NUL-terminated literal path, a valid buffer, an fd we own.
    unsafe {
        let fd = libc::open(
            c"/proc/self/oom_score_adj".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        );
        if fd >= 0 {
            let _ = libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
        }
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
            oom_score_default();
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
