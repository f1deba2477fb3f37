//! A process's identity beyond its pid, which the kernel reuses: its start
//! time (field 22 of /proc/PID/stat), and a pidfd opened first and then
//! checked against a recorded start time, so it cannot be another process.

use std::fs;
use std::os::fd::OwnedFd;

use nix::unistd::Pid;

use super::sys::pidfd_open;

/// Fields 3.. of /proc/PID/stat (after the command, which may hold blanks).
fn proc_stat(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.rsplit_once(") ")?
            .1
            .split(' ')
            .map(str::to_string)
            .collect(),
    )
}

/// A process's start time (field 22), in clock ticks since boot.
pub fn start_time(pid: i32) -> Option<u64> {
    proc_stat(pid)?.get(19)?.parse().ok()
}

/// A pidfd on `pid` if it is still the process that started at `start`:
/// opened first, then checked, so it cannot be another process.
pub fn open_checked(pid: i32, start: u64) -> Option<OwnedFd> {
    let fd = pidfd_open(Pid::from_raw(pid)).ok()?;
    (start_time(pid) == Some(start)).then_some(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_of_self_is_stable() {
        let me = std::process::id() as i32;
        let t = start_time(me);
        assert!(t.is_some());
        assert_eq!(t, start_time(me));
        assert_eq!(
            proc_stat(me)
                .and_then(|f| f.first().cloned())
                .map(|s| s.len()),
            Some(1)
        );
    }
}
