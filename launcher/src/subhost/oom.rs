//! OOM kills in the subhost, logged in LOG with the victim's name. The
//! monitor's wait loop polls the kernel's notification (no thread of its
//! own: a thread costs every idle subhost its kernel stack, its stack and
//! its malloc arena, about 30 kB): cgroup2's
//! memory.events (POLLPRI on change, `oom_kill N`), or on v1 an eventfd
//! registered for memory.oom_control in cgroup.event_control. The kernel
//! log, /dev/kmsg, names the victim in its `oom-kill:...,oom_memcg=/NAME,
//! ...,task=T,pid=N` record; it is read from where the log was when the
//! watch began, and polled only for `NAMING` after a notification. Why
//! not always: every kernel message would wake every idle subhost's
//! monitor (a thousand wake-ups per message with a thousand subhosts).
//! v1 notifies before the kill and its record, cgroup2 after: the window
//! covers both. A kill not named in the window, or with no /dev/kmsg to
//! read, is logged without a name. The notification also tells when the
//! cgroup is gone.

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use crate::model::hierarchy::{Ctl, Place};

/// How a memory cgroup reports OOM kills.
struct Notice {
    dir: PathBuf,
    /// What poll waits on, and with which event.
    fd: OwnedFd,
    flags: PollFlags,
}

/// How long after a notification the kernel log is polled for the
/// victim's record.
const NAMING: Duration = Duration::from_secs(2);

/// The OOM watch of one subhost: the cgroup's notification and the
/// kernel log, polled by the monitor's wait loop.
pub struct Watch {
    notice: Notice,
    kmsg: Option<File>,
    memcg: String,
    /// After a notification: until when the kernel log is polled, and
    /// whether a victim was named since.
    naming: Option<(Instant, bool)>,
}

/// The watch for subhost `name`, if its memory is accounted.
pub fn watch(name: &str) -> Option<Watch> {
    let layout = crate::kernel::cgroups::layout().ok()?;
    let notice = match layout.place(Ctl::Memory) {
        Some(Place::V1(h)) => v1(&h.mount.join(name)),
        Some(Place::V2(m)) => v2(&m.join(name)),
        None => None,
    };
    let Some(notice) = notice else {
        log::debug!("no OOM notification for this subhost");
        return None;
    };
    Some(Watch {
        notice,
        kmsg: open_kmsg(),
        memcg: format!("/{name}"),
        naming: None,
    })
}

impl Watch {
    /// The fds to poll: the notification (with its event) and, while a
    /// victim is being named, the kernel log.
    pub fn poll_fds(&self) -> Vec<PollFd<'_>> {
        let mut fds = vec![PollFd::new(self.notice.fd.as_fd(), self.notice.flags)];
        if let (Some(k), Some(_)) = (&self.kmsg, self.naming) {
            fds.push(PollFd::new(k.as_fd(), PollFlags::POLLIN));
        }
        fds
    }

    /// When the naming window ends (the wait loop's timeout).
    pub fn deadline(&self) -> Option<Instant> {
        self.naming.map(|(until, _)| until)
    }

    /// One of the fds polled ready (`notified`: the cgroup's, `logged`:
    /// the kernel log's), or the deadline passed: logs each OOM kill of
    /// the subhost. False once the cgroup is gone (the watch ends).
    pub fn handle(&mut self, notified: bool, logged: bool, now: Instant) -> bool {
        if notified {
            let mut buf = [0u8; 8];
            let _ = nix::unistd::read(&self.notice.fd, &mut buf);
            if !self.notice.dir.exists() {
                return false;
            }
            let named = self.naming.is_some_and(|(_, named)| named);
            self.naming = Some((now + NAMING, named));
        }
        if let (Some((until, named)), Some(k)) = (self.naming.as_mut(), self.kmsg.as_mut()) {
            // Read on a notification too: cgroup2's record came before it.
            if notified || logged {
                for v in victims(k, &self.memcg) {
                    log::warn!("out of memory (MEMORY_MAX): the kernel killed {v}");
                    *named = true;
                }
            }
            if now < *until {
                return true;
            }
        }
        if let Some((_, named)) = self.naming.take() {
            if !named {
                log::warn!("out of memory (MEMORY_MAX): the kernel killed a process (not named in the kernel log)");
            }
        }
        true
    }
}

fn v2(dir: &Path) -> Option<Notice> {
    let file = File::open(dir.join("memory.events")).ok()?;
    Some(Notice {
        dir: dir.into(),
        fd: file.into(),
        flags: PollFlags::POLLPRI,
    })
}

fn v1(dir: &Path) -> Option<Notice> {
    let control = File::open(dir.join("memory.oom_control")).ok()?;
    // SAFETY: eventfd(2) with valid flags; the fd returned is ours.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if efd < 0 {
        return None;
    }
    // SAFETY: efd is a fresh fd nobody else owns.
    let efd = unsafe { OwnedFd::from_raw_fd(efd) };
    let line = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
    fs::write(dir.join("cgroup.event_control"), line).ok()?;
    Some(Notice {
        dir: dir.into(),
        fd: efd,
        flags: PollFlags::POLLIN,
    })
}

/// /dev/kmsg positioned at its end (only new records are read).
fn open_kmsg() -> Option<File> {
    let mut f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/kmsg")
        .ok()?;
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::End(0)).ok()?;
    Some(f)
}

/// The victims in the new kmsg records whose OOM was in `memcg` or below.
fn victims(kmsg: &mut File, memcg: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8192];
    // Each read returns one record; EAGAIN when none is left.
    while let Ok(n) = kmsg.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Some(v) = victim(&String::from_utf8_lossy(&buf[..n]), memcg) {
            out.push(v);
        }
    }
    out
}

/// `pid N (task)` from an `oom-kill:` record of `memcg` (or below it).
pub fn victim(record: &str, memcg: &str) -> Option<String> {
    let msg = record.split_once(';')?.1.lines().next()?;
    let fields = msg.strip_prefix("oom-kill:")?;
    let get = |key: &str| {
        fields
            .split(',')
            .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
    };
    let cg = get("oom_memcg")?;
    if cg != memcg && !cg.starts_with(&format!("{memcg}/")) {
        return None;
    }
    Some(format!("pid {} ({})", get("pid")?, get("task")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn victims_of_our_memcg_only() {
        let rec = "6,1234,5678,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),\
                   cpuset=/,mems_allowed=0,oom_memcg=/obtx,task_memcg=/obtx,task=hog,pid=42,uid=0\n";
        assert_eq!(victim(rec, "/obtx").as_deref(), Some("pid 42 (hog)"));
        assert_eq!(victim(rec, "/obt"), None);
        let sub = rec.replace("oom_memcg=/obtx", "oom_memcg=/obtx/sub");
        assert_eq!(victim(&sub, "/obtx").as_deref(), Some("pid 42 (hog)"));
        assert_eq!(victim("6,1,2,-;Out of memory\n", "/obtx"), None);
    }
}
