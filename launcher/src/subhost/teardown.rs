//! The one teardown: what a subhost leaves on the host besides its mounts
//! (which go with its mount namespaces), removed in one checklist by the
//! monitor at its end, by overlay-stop after a monitor died, and by a boot
//! that finds a dead launcher's state under its NAME. Every step accepts
//! "already gone", so a teardown that was cut short can run again.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::kernel::{cgroup, cgroups, netns, pidfd};
use crate::subhost::{cables, diskmounts, lock, owned, policy, rootindex, state};

/// Grace added to STOP_TIMEOUT for the subinit's own stop sequence, and
/// given to PID 1 after SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// What a monitor created on the host, so its teardown removes only that.
#[derive(Default)]
pub struct Made {
    pub netns: bool,
    /// The subhost's cgroups: cgroup2's and the v1 hierarchies'.
    pub cgroups: cgroups::Made,
    pub cables: cables::Made,
}

/// Who tears down: it decides what is known and what stays.
pub enum Scope<'a> {
    /// The monitor, at its end: it knows what it made (and the LOG its
    /// ifdown writes to), and removes all of it whatever fails.
    Monitor { made: &'a Made, log: &'a File },
    /// A monitor died (overlay-stop, or a stop finishing a killed
    /// monitor's work): everything under the NAME goes, the run directory
    /// last. When processes survive, the record stays for the next try.
    Reclaim,
    /// A boot reclaiming its NAME: as `Reclaim`, but the run directory
    /// (whose lock the new boot holds) and the disk images (which the new
    /// boot's `!overlay-diskfile` reuses, unnoted, when still mounted) stay.
    ReclaimForBoot,
}

/// The checklist. Must run in the host's mount namespace (the netns bind
/// lives there). `kill_wait`: how long the cgroup may take to empty.
pub fn teardown(name: &str, scope: &Scope, kill_wait: Duration) -> Result<()> {
    let monitor = match scope {
        Scope::Monitor { made, log } => Some((*made, *log)),
        Scope::Reclaim | Scope::ReclaimForBoot => None,
    };
    // 0. A reclaim takes only what the run directory's record proves is
    //    ours (`owned`); the rest under the NAME is foreign, left alone.
    let vetted = match monitor {
        Some(_) => owned::Vetted::default(),
        None => owned::vet(name)?,
    };
    // 1. Every process of the subhost ends (cgroup.kill) and its cgroup2
    //    directory goes: nothing may use what the next steps remove.
    let (v2, v1) = match monitor {
        Some((made, _)) => (made.cgroups.v2.clone(), made.cgroups.v1.clone()),
        None => (vetted.v2.clone(), vetted.v1.clone()),
    };
    let ended = end_processes(v2.as_deref(), &v1, kill_wait);
    if let Err(e) = &ended {
        log::error!("cgroup: {e}");
    }
    // 2. The host ends of the cables ifup configured are deconfigured
    //    (ifdown), while the netns, and so the pairs, still exist.
    // 3. The netns file: deleting the netns takes the veth pairs with it.
    match monitor {
        Some((made, log)) if made.netns => {
            cables::deconfigure(&made.cables, log);
            netns::remove(name);
        }
        Some(_) => {}
        None if vetted.netns => netns::remove(name),
        None => {}
    }
    // 4. Host sides still there (a process outside held the netns).
    if let Some((made, _)) = monitor {
        cables::remove(&made.cables);
    }
    // 4b. The v1 directories, empty since step 1. Why after the netns:
    //     their removal's kernel work (css offlining) would otherwise delay
    //     the netns's own cleanup, and with it the veth pairs' end.
    let ended = match (ended, v2.is_some()) {
        (Ok(()), true) => {
            cgroups::remove_v1(&v1, kill_wait).inspect_err(|e| log::error!("cgroup: {e}"))
        }
        (other, _) => other,
    };
    if ended.is_err() && monitor.is_none() {
        // Something still runs: the notes below stay for the next cleanup.
        return ended;
    }
    // 5. The disk images overlay-diskfile mounted for this boot (the run
    //    directory lists them); their loop devices detach themselves.
    if !matches!(scope, Scope::ReclaimForBoot) {
        diskmounts::release_recorded(name);
    }
    // 6. A session's policy-rc.d in UPPER, even when its caller was killed.
    policy::release_recorded(name);
    // 7. Its trees' entries in the index (rootindex), by the `roots` file
    //    (a reclaiming boot writes its own after this); the run directory,
    //    the lock file with it (while held), and, for a monitor that died,
    //    its UPPER lock file (a monitor removes its own).
    rootindex::unregister(name);
    if monitor.is_none() {
        lock::release_stale_upper(name);
    }
    if !vetted.foreign.is_empty() {
        return refuse_foreign(name, scope, vetted.foreign);
    }
    match scope {
        Scope::ReclaimForBoot => owned::forget(name),
        _ => {
            if let Err(e) = state::remove(name) {
                log::error!("{e}");
                if monitor.is_none() {
                    return Err(e);
                }
            }
        }
    }
    log::info!("torn down");
    Ok(())
}

/// What exists under the NAME and is not ours stays as it is; what is
/// ours is gone by now, so the run directory goes too (its record would
/// stand only for what is not ours), unless the PID 1 it records still
/// runs (an older build's record proves nothing: see `stop_orphan`).
fn refuse_foreign(name: &str, scope: &Scope, foreign: Vec<(&'static str, PathBuf)>) -> Result<()> {
    let mut foreign = foreign.into_iter();
    let Some((what, path)) = foreign.next() else {
        return Ok(());
    };
    for (what, path) in foreign {
        log::warn!(
            "{} exists and is not ours ({what}); left alone",
            path.display()
        );
    }
    if !lock::orphan_runs(name) {
        if matches!(scope, Scope::ReclaimForBoot) {
            diskmounts::release_recorded(name);
        }
        state::remove(name)?;
    }
    Err(Error::InTheWay { what, path })
}

/// Ends every process of the subhost: through cgroup2 (cgroup.kill, wait,
/// remove) where it is mounted, else through the v1 directories (SIGKILL
/// to each, wait, remove).
fn end_processes(v2: Option<&Path>, v1: &[PathBuf], kill_wait: Duration) -> Result<()> {
    match v2 {
        Some(dir) => cgroup::teardown(dir, kill_wait),
        None => cgroups::remove_v1(v1, kill_wait),
    }
}

/// With the lock held, what a launcher that died left under `name`: its
/// PID 1, if it still runs, is stopped as gracefully as with a monitor,
/// then its objects are removed for the new boot.
pub fn reclaim_for_boot(name: &str, kill_wait: Duration) -> Result<()> {
    log::warn!("{name}: cleaning state left by a launcher that died");
    stop_orphan(name)?;
    teardown(name, &Scope::ReclaimForBoot, kill_wait)
}

/// The caller of a monitor that ended without a report: if the run
/// directory's lock is still the one the caller holds (`lock_id`), the
/// monitor was killed before its teardown, and whatever it made (PID 1
/// in the cgroup among it) is ended and removed now, so that a failed
/// boot leaves nothing running (issue 11, item 3). A monitor that tore
/// down removed the run directory, and then nothing is touched.
pub fn reclaim_after_monitor(name: &str, lock_id: Option<(u64, u64)>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let lock = state::dir(name).join("lock");
    let same = std::fs::symlink_metadata(&lock)
        .ok()
        .is_some_and(|m| Some((m.dev(), m.ino())) == lock_id);
    if !same {
        return Ok(());
    }
    log::warn!("{name}: the monitor died during the boot; removing what it made");
    teardown(name, &Scope::Reclaim, Duration::from_secs(10))
}

/// The monitor died but PID 1 may live on: stop it as gracefully as with
/// a monitor. True when it was running. The caller holds the lock.
pub fn stop_orphan(name: &str) -> Result<bool> {
    let Some(st) = state::read(name) else {
        return Ok(false);
    };
    let Some(pid1) = state::open_pid1(&st) else {
        return Ok(false);
    };
    if !owned::proves_anything(name) {
        log::warn!(
            "{name}: PID 1 (pid {}) runs without its monitor, but the record (from an \
             older build) proves nothing of it; left alone",
            st.pid
        );
        return Ok(false);
    }
    log::warn!("{name}: PID 1 runs without its monitor; stopping it");
    end_pid1(name, &pid1, Duration::from_secs(st.stop_timeout) + GRACE)?;
    Ok(true)
}

/// SIGTERM, a grace period, then SIGKILL to everything in the subhost.
pub fn end_pid1(name: &str, pid1: &OwnedFd, grace: Duration) -> Result<()> {
    pidfd::signal(pid1.as_fd(), Signal::SIGTERM).map_err(|errno| Error::Call {
        op: "pidfd_send_signal SIGTERM",
        errno,
    })?;
    if wait_exit(pid1, grace)? {
        return Ok(());
    }
    log::warn!("{name}: still running after {} s; killing", grace.as_secs());
    match cgroup::path(name)? {
        Some(dir) if dir.exists() => cgroup::kill(&dir)?,
        _ => pidfd::signal(pid1.as_fd(), Signal::SIGKILL).map_err(|errno| Error::Call {
            op: "pidfd_send_signal SIGKILL",
            errno,
        })?,
    }
    if wait_exit(pid1, GRACE)? {
        Ok(())
    } else {
        Err(Error::Timeout {
            what: "the subhost's PID 1 to end",
        })
    }
}

/// Waits until the process behind `pidfd` has ended; false at the deadline.
pub fn wait_exit(pidfd: &OwnedFd, timeout: Duration) -> Result<bool> {
    pidfd::wait_exit(pidfd, timeout).map_err(|errno| Error::Call {
        op: "poll pidfd",
        errno,
    })
}
