//! `overlay-go NAME [CMD ARG…]`: run CMD (default a login shell) in every
//! namespace, the root and the cgroup of a running subhost's PID 1; no NAME
//! lists the running subhosts. When the caller has a terminal, CMD gets a
//! new pty from the subhost's own devpts instead, relayed by the launcher
//! (see relay), which itself never enters the subhost.

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{
    chdir, dup2_stderr, dup2_stdin, dup2_stdout, execve, execvpe, fork, isatty, setpgid, setsid,
    ForkResult, Pid,
};

use crate::attach::login_shell_argv;
use crate::boot::require_root;
use crate::cgroup;
use crate::error::{At, Op, Result};
use crate::inroot::Root;
use crate::list::field;
use crate::pty::{self, SlaveSetup};
use crate::relay::{self, Caller, OnStop, Peer};
use crate::state::{self, Probe};
use crate::sys::{close_range_from, pidfd_open};

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Prints `NAME PID CONF` for each running subhost.
pub fn list() -> Result<i32> {
    require_root()?;
    let mut out = std::io::stdout();
    for name in state::names() {
        if let (Ok(Probe::Running), Some(st)) = (state::peek(&name), state::read(&name)) {
            let conf = st.conf.to_string_lossy();
            let (name, conf) = (field(&name), field(&conf));
            let _ = writeln!(out, "{name} {} {conf}", st.pid);
        }
    }
    Ok(0)
}

pub fn go(name: &str, argv: &[OsString]) -> Result<i32> {
    require_root()?;
    let (_, pidfd) = state::running(name)?;
    let exec = Exec::new(argv);
    let caller = Caller::detect();
    // Why a pty whenever stdin, stdout or stderr is a terminal: the command
    // must never hold the caller's terminal, or TIOCSTI from inside could
    // type into the host (security check 11).
    let use_pty = caller.is_terminal()
        || isatty(std::io::stdout().as_fd()).unwrap_or(false)
        || isatty(std::io::stderr().as_fd()).unwrap_or(false);
    let cg = crate::cgroups::all(name)?;
    let null = nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .at("open", "/dev/null")?;
    let (mine, theirs) = match use_pty {
        true => {
            let (a, b) = UnixStream::pair().at("socketpair", "overlay-go")?;
            (Some(a), Some(b))
        }
        false => (None, None),
    };
    let setup = caller.slave_setup();
    // Why fork first: this process keeps the caller's terminal and relays
    // it; it never enters the subhost (not even its cgroup, whose kill at
    // the subhost's stop would leave the terminal raw). The child enters.
    // SAFETY: single-threaded; the child only enters, forks and execs.
    let child = match unsafe { fork() }.op("fork")? {
        ForkResult::Child => {
            drop(mine);
            let code = match enter(&pidfd, &cg, exec, theirs, &setup, &null) {
                Ok(code) => code,
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "overlay-go: {e}");
                    1
                }
            };
            // SAFETY: leaving the forked child without the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(theirs);
    drop(null);
    let child_fd = pidfd_open(child).op("pidfd_open")?;
    let peer = Peer {
        pid: child,
        pidfd: &child_fd,
    };
    let master = match &mine {
        Some(sock) => pty::recv_fd(sock)?,
        None => None,
    };
    drop(mine);
    let status = relay::run(master, &caller, &peer, OnStop::PassOn)?;
    let code = match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 1,
    };
    // A command killed by a signal may have gone with the whole subhost,
    // whose PID 1 then ends a moment later.
    let grace = if code > 128 { 500u16 } else { 0 };
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    if matches!(poll(&mut fds, PollTimeout::from(grace)), Ok(n) if n > 0) {
        let _ = writeln!(
            std::io::stderr(),
            "overlay-go: {name}: the subhost stopped; the session ended"
        );
    }
    Ok(code)
}

/// In the forked child: join the subhost's cgroup and namespaces, make the
/// pty (sending its master to the caller), start the command and wait for
/// it, passing stop signals on. Returns the command's status.
fn enter(
    pid1: &OwnedFd,
    cg: &[std::path::PathBuf],
    exec: Exec,
    sock: Option<UnixStream>,
    setup: &SlaveSetup,
    null: &OwnedFd,
) -> Result<i32> {
    // Why: the caller's terminal's ^C reaches the launcher only, which
    // passes it on once (see relay).
    setpgid(Pid::from_raw(0), Pid::from_raw(0)).op("setpgid")?;
    // Why first: the cgroup paths are host paths, gone after setns; every
    // hierarchy the subhost uses (v2 and v1).
    // v1 directories by this (single-threaded) child's own thread, which
    // avoids the kernel's global lock (see cgroups).
    for dir in cg.iter().filter(|d| d.exists()) {
        match dir.join("tasks").exists() {
            true => crate::cgroups::join_thread(dir)?,
            false => cgroup::join(dir, std::process::id() as i32)?,
        }
    }
    // Why: PID 1 could ptrace a dumpable joiner and steal its host fds
    // (CVE-2016-9962); exec makes the command dumpable again.
    nix::sys::prctl::set_dumpable(false).op("prctl(PR_SET_DUMPABLE, 0)")?;
    let all = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWCGROUP
        | CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    // Why: one setns with a pidfd joins every namespace at once, and the
    // mount namespace sets root and cwd to the subhost's root.
    setns(pid1, all).op("setns into the subhost")?;
    chdir("/").at("chdir", "/")?;
    let slave = match sock {
        Some(sock) => {
            // The subhost's own devpts, seen from inside its mount namespace.
            let root = Root::open(Path::new("/"))?;
            let pty = pty::open(&root, setup)?;
            pty::send_fd(&sock, pty.master.as_fd())?;
            drop(pty.master);
            // Not even this process keeps the caller's terminal.
            for fd in 0..3 {
                // SAFETY: dup2 onto 0..2 replaces our own standard fds.
                let _ = unsafe { libc::dup2(null.as_raw_fd(), fd) };
            }
            Some(pty.slave)
        }
        None => None,
    };
    let mut mask = SigSet::empty();
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGCHLD,
    ] {
        mask.add(sig);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).op("sigprocmask")?;
    // SAFETY: single-threaded; the child only execs or exits.
    let cmd = match unsafe { fork() }.op("fork")? {
        ForkResult::Child => {
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            exec.run(slave)
        }
        ForkResult::Parent { child } => child,
    };
    drop(slave);
    loop {
        match mask.wait() {
            Ok(Signal::SIGCHLD) => match waitpid(cmd, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return Ok(1),
            },
            Ok(sig) => {
                let _ = kill(cmd, sig);
            }
            Err(_) => {}
        }
    }
}

/// The program, argv and clean environment, built before entering.
struct Exec {
    prog: CString,
    argv: Vec<CString>,
    search: bool,
    shell: &'static str,
}

impl Exec {
    fn new(argv: &[OsString]) -> Exec {
        let cs = |s: &[u8]| CString::new(s).unwrap_or_default();
        match argv.first() {
            Some(cmd) => Exec {
                prog: cs(cmd.as_bytes()),
                argv: argv.iter().map(|a| cs(a.as_bytes())).collect(),
                search: true,
                shell: "/bin/sh",
            },
            None => Exec {
                prog: CString::default(),
                argv: Vec::new(),
                search: false,
                shell: "/bin/sh",
            },
        }
    }

    /// In the child, inside the subhost: a session of its own (on the pty
    /// `slave` as its controlling terminal and stdio, if given; without, no
    /// controlling terminal at all, so `/dev/tty` inside leads nowhere),
    /// clean up and exec; never returns.
    fn run(mut self, slave: Option<OwnedFd>) -> ! {
        let _ = setsid();
        if let Some(slave) = slave {
            // SAFETY: TIOCSCTTY takes an int argument by value.
            let _ = unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
            let _ = dup2_stdin(&slave);
            let _ = dup2_stdout(&slave);
            let _ = dup2_stderr(&slave);
        }
        if !self.search {
            // The login shell, chosen as a session's is (we are inside now).
            let argv = login_shell_argv(Path::new("/bin/bash").exists());
            self.shell = argv[0];
            self.prog = CString::new(argv[0]).unwrap_or_default();
            self.argv = argv.iter().filter_map(|a| CString::new(*a).ok()).collect();
        }
        let env = clean_env(self.shell);
        // SAFETY: restoring default dispositions installs no handler.
        let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
        // Why: no host fd may reach the subhost (CVE-2024-21626).
        let _ = close_range_from(3, 0);
        let err = if self.search {
            std::env::set_var("PATH", PATH);
            execvpe(&self.prog, &self.argv, &env).err()
        } else {
            execve(&self.prog, &self.argv, &env).err()
        };
        let desc = err.map_or("exec failed", |e| e.desc());
        let _ = writeln!(
            std::io::stderr(),
            "overlay-go: {}: {desc}",
            self.prog.to_string_lossy()
        );
        // SAFETY: leaving the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(127) }
    }
}

/// TERM from the caller, and a fixed PATH, HOME, SHELL, USER, LOGNAME.
fn clean_env(shell: &str) -> Vec<CString> {
    let mut env = vec![
        format!("PATH={PATH}"),
        "HOME=/root".into(),
        format!("SHELL={shell}"),
        "USER=root".into(),
        "LOGNAME=root".into(),
    ];
    if let Ok(term) = std::env::var("TERM") {
        env.push(format!("TERM={term}"));
    }
    env.into_iter()
        .filter_map(|e| CString::new(e).ok())
        .collect()
}
