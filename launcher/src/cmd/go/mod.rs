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
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout, execve, execvpe, isatty, setsid};

use crate::cmd::list::field;
use crate::cmd::relay::{self, OnStop, Peer};
use crate::error::{At, Op, Result};
use crate::kernel::caps;
use crate::kernel::privilege::require_root;
use crate::kernel::pty;
use crate::kernel::sys::{close_range_from, pidfd_open};
use crate::kernel::term::Caller;
use crate::kernel::{cgroup, pidfd};
use crate::model::caps::Caps;
use crate::model::exit::shell_code;
use crate::subhost::attach::login_shell_argv;
use crate::subhost::lock;
use crate::subhost::state;

mod enter;

use enter::Entering;

/// The PATH an entered command gets (the one of services and sessions).
const PATH: &str = proto::PATH;

/// Prints `NAME PID CONF` for each running subhost.
pub fn list() -> Result<i32> {
    require_root()?;
    let mut out = std::io::stdout();
    for name in state::names() {
        if let (true, Some(st)) = (lock::shown(&name), state::read(&name)) {
            let conf = st.conf.to_string_lossy();
            let (name, conf) = (field(&name), field(&conf));
            let _ = writeln!(out, "{name} {} {conf}", st.pid);
        }
    }
    Ok(0)
}

pub fn go(name: &str, argv: &[OsString]) -> Result<i32> {
    require_root()?;
    let (st, pidfd) = lock::running(name)?;
    let mut exec = Exec::new(argv);
    // The command gives up what PID 1 has given up (KEEP_CAPS, see
    // model::caps); all of it when PID 1's set cannot be read.
    let bounding = caps::bounding_of(st.pid).unwrap_or_default();
    exec.drop_caps = Caps(Caps::machine().0 & !bounding.0);
    let caller = Caller::detect();
    // Why a pty whenever stdin, stdout or stderr is a terminal: the command
    // must never hold the caller's terminal, or TIOCSTI from inside could
    // type into the host (security check 11).
    let use_pty = caller.is_terminal()
        || isatty(std::io::stdout().as_fd()).unwrap_or(false)
        || isatty(std::io::stderr().as_fd()).unwrap_or(false);
    let cg = cgroup::path(name)?;
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
    let entering = Entering {
        pid1: &pidfd,
        cg: cg.as_deref(),
        setup: caller.slave_setup(),
        null,
    };
    let (child, mine) = entering.fork(exec, mine, theirs)?;
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
    let code = shell_code(status);
    // A command killed by a signal may have gone with the whole subhost,
    // whose PID 1 then ends a moment later.
    let grace = Duration::from_millis(if code > 128 { 500 } else { 0 });
    if pidfd::wait_exit(&pidfd, grace).unwrap_or(false) {
        let _ = writeln!(
            std::io::stderr(),
            "overlay-go: {name}: the subhost stopped; the session ended"
        );
    }
    Ok(code)
}

/// The program, argv and clean environment, built before entering.
struct Exec {
    prog: CString,
    argv: Vec<CString>,
    search: bool,
    shell: &'static str,
    drop_caps: Caps,
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
                drop_caps: Caps::machine(),
            },
            None => Exec {
                prog: CString::default(),
                argv: Vec::new(),
                search: false,
                shell: "/bin/sh",
                drop_caps: Caps::machine(),
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
