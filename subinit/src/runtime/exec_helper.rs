//! `subinit --exec [--tty-fd FD] [--search] -- CMD [ARG]...`: overlay-go's
//! exec helper, not PID 1. overlay-go's entering child joins the
//! subhost's namespaces, then execs this binary (opened as PID 1's is) in this
//! mode; the helper forks the command into the subhost's pid namespace
//! and waits for it, passing stop signals on, and exits with its status.
//! Why: the launcher, a host binary, never runs in the subhost's pid
//! namespace, where root inside could ptrace it or open its `exe` and
//! `map_files` (issue 9, item 10). The helper itself stays in the pid
//! namespace of the host (setns only moves its children).

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execv, execvp, fork, setsid, ForkResult, Pid};

/// What to run.
struct Request {
    tty: Option<RawFd>,
    search: bool,
    argv: Vec<CString>,
}

/// Runs the helper with the arguments after `--exec`; its exit status.
pub fn run(args: Vec<OsString>) -> i32 {
    let req = match parse(args) {
        Ok(req) => req,
        Err(what) => {
            let _ = writeln!(std::io::stderr(), "subinit --exec: {what}");
            return 2;
        }
    };
    let stops = [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGCHLD,
    ];
    let mask: SigSet = stops.into_iter().collect();
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None) {
        let _ = writeln!(std::io::stderr(), "subinit --exec: sigprocmask: {e}");
        return 1;
    }
    // SAFETY: single-threaded; the child only makes system calls and execs.
    let cmd = match unsafe { fork() } {
        Ok(ForkResult::Child) => exec(&req),
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "subinit --exec: fork: {e}");
            return 1;
        }
    };
    if let Some(fd) = req.tty {
        // SAFETY: the tty fd is ours (inherited) and used no more here.
        unsafe { libc::close(fd) };
    }
    wait(cmd, &mask)
}

fn parse(args: Vec<OsString>) -> Result<Request, String> {
    let mut it = args.into_iter();
    let mut req = Request {
        tty: None,
        search: false,
        argv: Vec::new(),
    };
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("--search") => req.search = true,
            Some("--tty-fd") => {
                let fd = it.next().and_then(|v| v.to_str()?.parse().ok());
                req.tty = Some(fd.ok_or("--tty-fd needs a number")?);
            }
            Some("--") => break,
            _ => return Err(format!("unknown option {}", arg.to_string_lossy())),
        }
    }
    for a in it {
        req.argv
            .push(CString::new(a.as_bytes()).map_err(|_| "a NUL in an argument")?);
    }
    if req.argv.is_empty() {
        return Err("no command after --".into());
    }
    Ok(req)
}

/// In the forked child, inside the subhost's pid namespace: a session of
/// its own (on the pty as controlling terminal and stdio, if given;
/// without, no controlling terminal at all), a clean signal state, only
/// fds 0–2, then exec; never returns.
fn exec(req: &Request) -> ! {
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let _ = setsid();
    if let Some(fd) = req.tty {
        // SAFETY: TIOCSCTTY takes an int argument by value; dup2 onto 0..2
        // replaces our own standard fds.
        unsafe {
            libc::ioctl(fd, libc::TIOCSCTTY, 0);
            for std in 0..3 {
                libc::dup2(fd, std);
            }
        }
    }
    // SAFETY: restoring the default disposition installs no handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    // SAFETY: plain syscall; nothing of ours is used after it but argv.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    let prog = &req.argv[0];
    let err = match req.search {
        true => execvp(prog, &req.argv).err(),
        false => execv(prog, &req.argv).err(),
    };
    let desc = err.map_or("exec failed", |e| e.desc());
    let _ = writeln!(
        std::io::stderr(),
        "overlay-go: {}: {desc}",
        prog.to_string_lossy()
    );
    // SAFETY: leaving the forked child without running exit handlers.
    unsafe { libc::_exit(127) }
}

/// Waits for the command, passing stop signals on; its status as a shell
/// reports it (code, or 128 + signal).
fn wait(cmd: Pid, mask: &SigSet) -> i32 {
    loop {
        match mask.wait() {
            Ok(Signal::SIGCHLD) => match waitpid(cmd, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => return code,
                Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return 1,
            },
            Ok(sig) => {
                let _ = nix::sys::signal::kill(cmd, sig);
            }
            Err(_) => {}
        }
    }
}
