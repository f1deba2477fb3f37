//! `overlay-stop CONF` for a subhost that the original overlay-boot 1.6.4
//! booted (before this package replaced it): it has no run directory of
//! ours. It is found by its network namespace `/run/netns/NAME` and its
//! PID 1, the original's `/.reaper` (a process in that netns that is PID 1
//! of its own pid namespace). Its processes get SIGTERM and STOP_TIMEOUT
//! (10 s) to end, then the reaper gets SIGKILL, which ends the pid
//! namespace. The original's boot script, waiting for its PID 1, then
//! deletes the netns and unmounts LIVE; what it leaves (its cgroup, always;
//! the netns if it was killed) is removed here, so nothing is left.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::kernel::sys::{pidfd_open, pidfd_send_signal};
use crate::kernel::{cgroup, netns};

/// The processes' grace after SIGTERM (the default STOP_TIMEOUT).
const GRACE: Duration = Duration::from_secs(10);
/// How long the original's boot script may take for its own clean-up.
const CLEANUP: Duration = Duration::from_secs(15);
/// How often the process table is looked at while waiting (no event exists).
const POLL: Duration = Duration::from_millis(20);

/// Stops the original's subhost of CONF; None when there is none.
pub fn stop(conf: &Path) -> Result<Option<i32>> {
    let Some(name) = crate::model::config::plain_name(conf) else {
        return Ok(None);
    };
    let ns_file = netns::path(&name);
    let Ok(ns) = fs::metadata(&ns_file) else {
        return Ok(None);
    };
    let Some(reaper) = find_reaper((ns.dev(), ns.ino())) else {
        return Ok(None);
    };
    log::info!("{name}: booted by the original overlay-boot; PID 1 (.reaper) is {reaper}");
    let pidfd = pidfd_open(reaper).map_err(|errno| Error::Call {
        op: "pidfd_open .reaper",
        errno,
    })?;
    let pidns = ns_id(reaper, "pid");
    terminate_inside(reaper, pidns);
    match pidfd_send_signal(pidfd.as_fd(), Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(errno) => {
            return Err(Error::Call {
                op: "pidfd_send_signal SIGKILL",
                errno,
            })
        }
    }
    wait_gone(&pidfd)?;
    clean_up(&name)?;
    eprintln!("overlay-stop: {name}: stopped (it was booted by the original overlay-boot)");
    Ok(Some(0))
}

/// The `.reaper` that is PID 1 of its pid namespace inside netns `ns`.
fn find_reaper(ns: (u64, u64)) -> Option<Pid> {
    let entries = fs::read_dir("/proc").ok()?;
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .find(|&pid| {
            ns_id(pid, "net") == Some(ns)
                && is_ns_init(pid)
                && fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == ".reaper")
        })
}

/// (device, inode) of the process's namespace of `kind`.
fn ns_id(pid: Pid, kind: &str) -> Option<(u64, u64)> {
    let m = fs::metadata(format!("/proc/{pid}/ns/{kind}")).ok()?;
    Some((m.dev(), m.ino()))
}

/// PID 1 of a pid namespace below ours: NSpid's last field is 1.
fn is_ns_init(pid: Pid) -> bool {
    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|f| f.split_whitespace().collect::<Vec<_>>())
        .is_some_and(|f| f.len() > 1 && f.last() == Some(&"1"))
}

/// SIGTERM to every process of the subhost but its PID 1 (the reaper
/// ignores it), then up to GRACE for them to end.
fn terminate_inside(reaper: Pid, pidns: Option<(u64, u64)>) {
    let others = || -> Vec<Pid> {
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .map(Pid::from_raw)
            .filter(|&p| p != reaper && pidns.is_some() && ns_id(p, "pid") == pidns)
            .collect()
    };
    for pid in others() {
        let _ = kill(pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    while !others().is_empty() && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
}

fn wait_gone(pidfd: &OwnedFd) -> Result<()> {
    let mut fds = [nix::poll::PollFd::new(
        pidfd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let timeout = nix::poll::PollTimeout::try_from(CLEANUP).unwrap_or(nix::poll::PollTimeout::MAX);
    match nix::poll::poll(&mut fds, timeout) {
        Ok(n) if n > 0 => Ok(()),
        _ => Err(Error::Timeout {
            what: "the original's PID 1 to end",
        }),
    }
}

/// Waits for the original's boot script (in the subhost's cgroup) to end
/// after its clean-up, then removes what it leaves: the cgroup, the netns.
fn clean_up(name: &str) -> Result<()> {
    let cg = cgroup::path(name)?.filter(|d| d.exists());
    if let Some(dir) = &cg {
        if cgroup::wait_empty(dir, CLEANUP).is_err() {
            log::warn!("{name}: the original's boot script did not end; killing it");
            cgroup::kill(dir)?;
            cgroup::wait_empty(dir, CLEANUP)?;
        }
        cgroup::remove(dir)?;
    } else {
        let deadline = Instant::now() + CLEANUP;
        while netns::path(name).exists() && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
    netns::remove(name);
    Ok(())
}
