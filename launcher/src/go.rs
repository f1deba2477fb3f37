//! `overlay-go NAME [CMD ARG…]`: run CMD (default a login shell) in every
//! namespace, the root and the cgroup of a running subhost's PID 1; no NAME
//! lists the running subhosts.

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{chdir, execve, execvpe, fork, ForkResult, Pid};

use crate::boot::require_root;
use crate::cgroup;
use crate::error::{At, Error, Op, Result};
use crate::state::{self, Probe};
use crate::sys::{close_range_from, pidfd_open};

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Prints `NAME PID CONF` for each running subhost.
pub fn list() -> Result<i32> {
    let mut out = std::io::stdout();
    for name in state::names() {
        if let (Ok(Probe::Running), Some(st)) = (state::probe(&name), state::read(&name)) {
            let _ = writeln!(out, "{name} {} {}", st.pid, st.conf.display());
        }
    }
    Ok(0)
}

pub fn go(name: &str, argv: &[OsString]) -> Result<i32> {
    require_root()?;
    let not_running = || Error::NotRunning {
        what: format!("subhost {name}"),
    };
    if !matches!(state::probe(name)?, Probe::Running) {
        return Err(not_running());
    }
    let st = state::read(name).ok_or_else(not_running)?;
    let pidfd = pidfd_open(Pid::from_raw(st.pid)).map_err(|_| not_running())?;
    let exec = Exec::new(argv);
    if let Some(dir) = cgroup::path(name)? {
        // Why first: the cgroup path is a host path, gone after setns.
        cgroup::join(&dir, std::process::id() as i32)?;
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
    setns(&pidfd, all).op("setns into the subhost")?;
    drop(pidfd);
    chdir("/").at("chdir", "/")?;
    // SAFETY: single-threaded; the child only execs or exits.
    match unsafe { fork() }.op("fork")? {
        ForkResult::Child => exec.run(),
        ForkResult::Parent { child } => Ok(wait_for(child)),
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

    /// In the child, inside the subhost: clean up and exec; never returns.
    fn run(mut self) -> ! {
        if !self.search {
            // The login shell: bash where the subhost has it, else sh.
            self.shell = if Path::new("/bin/bash").exists() {
                "/bin/bash"
            } else {
                "/bin/sh"
            };
            let base = if self.shell.ends_with("bash") {
                "-bash"
            } else {
                "-sh"
            };
            self.prog = CString::new(self.shell).unwrap_or_default();
            self.argv = vec![CString::new(base).unwrap_or_default()];
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

/// Waits for the command; its status, or 128+signal.
fn wait_for(child: Pid) -> i32 {
    // Why: like system(3), the terminal's ^C and ^\ are for the command.
    // SAFETY: SIG_IGN installs no handler.
    unsafe {
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
        let _ = signal(Signal::SIGQUIT, SigHandler::SigIgn);
    }
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 1,
        }
    }
}
