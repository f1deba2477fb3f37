//! Whether a subhost's sysv services still run, for `--list`: the `status`
//! action of each START entry that is an /etc/init.d script inside the
//! subhost, run there (as `overlay-go NAME /bin/sh -c …` would) only when
//! listing, all of one subhost's in one shell, the subhosts' side by side,
//! all bounded by STATUS_TIMEOUT.
//! LSB exit codes (init-functions): 0 running, 1 to 3 not running, others
//! unknown; a run cut off by the deadline is unknown too. A supervised
//! service's running `run` (its pid inside, from the status snapshot) is
//! found on the host, with how long it has run.

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::kernel::sys::{pidfd_open, pidfd_send_signal};

/// How long the status actions may take (all subhosts' side by side).
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs each name's status action; prints `NAME CODE`, or `NAME -` when
/// there is no such script.
const SCRIPT: &str = "for n; do if [ -x \"/etc/init.d/$n\" ]; then \
     \"/etc/init.d/$n\" status </dev/null >/dev/null 2>&1; echo \"$n $?\"; \
     else echo \"$n -\"; fi; done";

/// A name that can only be a script in /etc/init.d.
pub fn sysv_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b))
}

/// The word for an LSB status exit code (`-`: no script).
pub fn word(code: &str) -> &'static str {
    match code {
        "0" => "running",
        "1" | "2" | "3" => "not-running",
        "-" => "no-status",
        _ => "unknown",
    }
}

/// The status actions of one subhost, running.
pub struct Pending {
    names: Vec<String>,
    child: Option<std::process::Child>,
}

/// Starts the status actions of `names` inside subhost `subhost`; the
/// subhosts' run side by side, each bounded from `finish`'s deadline.
pub fn start(subhost: &str, names: Vec<String>) -> Pending {
    // Why first: no readlink of /proc/self/exe for each of a thousand
    // subhosts without a sysv entry (issue 14).
    if names.is_empty() {
        return Pending { names, child: None };
    }
    let child = std::env::current_exe().ok().and_then(|exe| {
        Command::new(exe)
            .arg0("overlay-go")
            .args([subhost, "/bin/sh", "-c", SCRIPT, "status"])
            .args(&names)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    });
    Pending { names, child }
}

impl Pending {
    /// (name, liveness word) for each name; waits until `deadline` at most.
    pub fn finish(self, deadline: Instant) -> Vec<(String, &'static str)> {
        let mut text = String::new();
        if let Some(mut child) = self.child {
            let ended = wait(&child, deadline.saturating_duration_since(Instant::now()));
            let _ = child.wait();
            if let (true, Some(mut out)) = (ended, child.stdout.take()) {
                let _ = out.read_to_string(&mut text);
            }
        }
        let code = |n: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(n)?.strip_prefix(' '))
                .unwrap_or("")
        };
        let words = self.names.iter().map(|n| (n.clone(), word(code(n))));
        words.collect()
    }
}

/// Waits for `child` up to `timeout`; on the deadline SIGTERM (overlay-go
/// passes it on inside), SIGKILL a second later. True if it ended in time.
fn wait(child: &std::process::Child, timeout: Duration) -> bool {
    let Ok(fd) = pidfd_open(Pid::from_raw(child.id() as i32)) else {
        return false;
    };
    let exited = |limit: Duration| {
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            match poll(
                &mut fds,
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(n) if n > 0 => return true,
                Ok(_) => return false,
                Err(_) if left.is_zero() => return false,
                Err(_) => continue,
            }
        }
    };
    if exited(timeout) {
        return true;
    }
    let _ = pidfd_send_signal(fd.as_fd(), Signal::SIGTERM);
    if !exited(Duration::from_secs(1)) {
        let _ = pidfd_send_signal(fd.as_fd(), Signal::SIGKILL);
    }
    false
}

/// The host's processes by pid namespace (the target of their
/// /proc/PID/ns/pid link), for the namespaces asked for only: one scan of
/// /proc for all the subhosts' supervised services, not one per service,
/// which grew with the square of the count (issue 14).
pub struct Procs(HashMap<PathBuf, Vec<i32>>);

impl Procs {
    /// Scans /proc for the processes in the pid namespaces of `pid1s`.
    pub fn scan(pid1s: &[i32]) -> Procs {
        let mut by_ns: HashMap<PathBuf, Vec<i32>> = pid1s
            .iter()
            .filter_map(|p| Some((pid_ns(*p)?, Vec::new())))
            .collect();
        if by_ns.is_empty() {
            return Procs(by_ns);
        }
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Procs(by_ns);
        };
        let pids = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok());
        for p in pids {
            if let Some(found) = pid_ns(p).and_then(|ns| by_ns.get_mut(&ns)) {
                found.push(p);
            }
        }
        Procs(by_ns)
    }

    /// A supervised service's `run`, pid `inside` in the pid namespace of
    /// PID 1 (host pid `pid1`): its host pid and how long it has run,
    /// seconds.
    pub fn supervised(&self, pid1: i32, inside: u32) -> Option<(i32, u64)> {
        let in_ns = self.0.get(&pid_ns(pid1)?)?;
        let host = *in_ns.iter().find(|p| innermost_pid(**p) == Some(inside))?;
        Some((host, age(host)?))
    }
}

/// The pid namespace of process `pid` (its ns/pid link's target).
fn pid_ns(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// The last NSpid of a process: its pid in its own pid namespace.
fn innermost_pid(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

/// Seconds since process `pid` started.
fn age(pid: i32) -> Option<u64> {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    let start = crate::kernel::process::start_time(pid)? / u64::try_from(ticks).ok()?.max(1);
    let up = std::fs::read_to_string("/proc/uptime").ok()?;
    let up: f64 = up.split_whitespace().next()?.parse().ok()?;
    Some((up as u64).saturating_sub(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_words() {
        assert!(sysv_name("ssh") && sysv_name("lighttpd") && sysv_name("x.y-z@1"));
        for bad in ["", "../x", ".hidden", "/etc/rc.local", "a b", "a;b"] {
            assert!(!sysv_name(bad), "{bad}");
        }
        assert_eq!(word("0"), "running");
        assert_eq!(word("3"), "not-running");
        assert_eq!(word("4"), "unknown");
        assert_eq!(word(""), "unknown");
        assert_eq!(word("-"), "no-status");
    }
}
