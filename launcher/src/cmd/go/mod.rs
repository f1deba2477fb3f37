//! `overlay-go NAME [CMD ARG…]`: run CMD (default a login shell) in every
//! namespace, the root and the cgroup of a running subhost's PID 1; no NAME
//! lists the running subhosts. When the caller has a terminal, CMD gets a
//! new pty from the subhost's own devpts instead, relayed by the launcher
//! (see relay), which itself never enters the subhost.

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::unistd::isatty;

use crate::cmd::list::field;
use crate::cmd::relay::{self, OnStop, Peer};
use crate::error::{At, Op, Result};
use crate::kernel::caps;
use crate::kernel::privilege::require_root;
use crate::kernel::pty;
use crate::kernel::sys::pidfd_open;
use crate::kernel::term::Caller;
use crate::kernel::{cgroups, pidfd};
use crate::model::caps::Caps;
use crate::model::exit::shell_code;
use crate::subhost::attach::login_shell_argv;
use crate::subhost::lock;
use crate::subhost::setup::seccomp_filter;
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
    // The command gives up what PID 1 has given up (its SECURITY profile
    // and KEEP_CAPS, see model::caps): every capability outside PID 1's
    // bounding set; what any profile drops when that cannot be read.
    exec.drop_caps = match caps::bounding_of(st.pid) {
        Some(bounding) => Caps(Caps::every().0 & !bounding.0),
        None => Caps(Caps::machine().0 | Caps::hardened().0),
    };
    let caller = Caller::detect();
    // Why a pty whenever stdin, stdout or stderr is a terminal: the command
    // must never hold the caller's terminal, or TIOCSTI from inside could
    // type into the host (security check 11).
    let use_pty = caller.is_terminal()
        || isatty(std::io::stdout().as_fd()).unwrap_or(false)
        || isatty(std::io::stderr().as_fd()).unwrap_or(false);
    let cg = cgroups::all(name)?;
    let null = dev_null()?;
    let (mine, theirs) = match use_pty {
        true => {
            let (a, b) = UnixStream::pair().at("socketpair", "overlay-go")?;
            (Some(a), Some(b))
        }
        false => (None, None),
    };
    // Why: the command is started by the subinit's exec helper, never by
    // this host binary, inside the subhost's pid namespace (issue 9, 10).
    let subinit = crate::subhost::exeseal::open_subinit()?;
    // The profile PID 1 runs under, as recorded at its boot.
    let seccomp = seccomp_filter(state::security(name))?;
    let entering = Entering {
        pid1: &pidfd,
        subinit,
        cg: &cg,
        setup: caller.slave_setup(),
        null,
        private_users: crate::kernel::userns::is_other(nix::unistd::Pid::from_raw(st.pid)),
        seccomp,
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

/// The host's null device, for the entering child's standard fds.
fn dev_null() -> Result<std::os::fd::OwnedFd> {
    let flags = OFlag::O_RDWR | OFlag::O_CLOEXEC;
    nix::fcntl::open("/dev/null", flags, nix::sys::stat::Mode::empty()).at("open", "/dev/null")
}

/// The command and its clean environment, built before entering.
struct Exec {
    argv: Vec<CString>,
    search: bool,
    shell: &'static str,
    drop_caps: Caps,
}

impl Exec {
    fn new(argv: &[OsString]) -> Exec {
        let cs = |s: &[u8]| CString::new(s).unwrap_or_default();
        match argv.first() {
            Some(_) => Exec {
                argv: argv.iter().map(|a| cs(a.as_bytes())).collect(),
                search: true,
                shell: "/bin/sh",
                drop_caps: Caps::machine(),
            },
            None => Exec {
                argv: Vec::new(),
                search: false,
                shell: "/bin/sh",
                drop_caps: Caps::machine(),
            },
        }
    }

    /// In the entering child, inside the subhost's mount namespace: the
    /// subinit's `--exec` helper command line for this command (the
    /// login shell chosen as a session's is, now that `/` is the
    /// subhost's), with the pty slave `tty`, if any.
    fn helper_argv(mut self, tty: Option<i32>) -> (Vec<CString>, Vec<CString>) {
        if !self.search {
            let argv = login_shell_argv(Path::new("/bin/bash").exists());
            self.shell = argv[0];
            self.argv = argv.iter().filter_map(|a| CString::new(*a).ok()).collect();
        }
        let mut out: Vec<CString> = vec![c"subinit".into(), c"--exec".into()];
        if let Some(fd) = tty {
            out.push(c"--tty-fd".into());
            out.extend(CString::new(fd.to_string()));
        }
        if self.search {
            out.push(c"--search".into());
        }
        out.push(c"--".into());
        out.extend(self.argv);
        (out, clean_env(self.shell))
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
