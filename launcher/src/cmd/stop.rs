//! `overlay-stop CONF`: ask PID 1 to stop (SIGTERM through its pidfd), give
//! it STOP_TIMEOUT + 5 s, then kill what is left; return only when the
//! monitor has removed everything: no process, mount, netns, cgroup or run
//! state of the subhost remains. During the set-up, before PID 1 exists,
//! SIGTERM goes to the monitor, which aborts the boot.

use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::kernel::privilege::require_root;
use crate::kernel::sys::pidfd_open;
use crate::kernel::{cgroup, netns, pidfd};
use crate::subhost::lock::{self, Probe};
use crate::subhost::teardown::{end_pid1, stop_orphan, teardown, wait_exit, Scope, GRACE};
use crate::subhost::{conflock, early, state};

/// How long a launcher still reserving the NAME may take to abort: its
/// `!` commands are bounded by their timeouts.
const LAUNCHER_WAIT: Duration = Duration::from_secs(600);

/// How long the monitor may take for its teardown.
const TEARDOWN: Duration = Duration::from_secs(15);

pub fn stop(conf: &Path) -> Result<i32> {
    require_root()?;
    let conf = fs::canonicalize(conf).unwrap_or_else(|_| conf.to_path_buf());
    // A launcher still loading CONF (its NAME from a `!` command, not
    // locked yet) holds CONF's lock until the run directory records CONF:
    // looked at between two looks at the run directories, it is not missed.
    let found = find_by_conf(&conf).or_else(|| match conflock::loading(&conf) {
        Some(launcher) => Some(Err(launcher)),
        None => find_by_conf(&conf),
    });
    if let Some(Err(launcher)) = found {
        return abort_loading(&conf, &launcher);
    }
    let Some(Ok(name)) = found else {
        if let Some(launcher) = unrecorded(&conf)? {
            return abort_loading(&conf, &launcher);
        }
        if let Some(code) = crate::subhost::legacy::stop(&conf)? {
            return Ok(code);
        }
        return Err(Error::NotRunning {
            what: format!("the subhost of {}", conf.display()),
        });
    };
    let not_running = || Error::NotRunning {
        what: format!("subhost {name}"),
    };
    match lock::probe(&name)? {
        Probe::Absent => Err(not_running()),
        Probe::Running => {
            graceful(&name)?;
            Ok(0)
        }
        Probe::Stale(lock) => {
            let was_running = stop_orphan(&name)?;
            teardown(&name, &Scope::Reclaim, TEARDOWN)?;
            drop(lock);
            verify_gone(&name)?;
            let _ = writeln!(
                std::io::stderr(),
                "overlay-stop: {name}: its monitor had died; cleaned up what it left"
            );
            if was_running {
                Ok(0)
            } else {
                Err(not_running())
            }
        }
    }
}

/// A run directory of the NAME `conf` states, that records nothing (not
/// even `conf`) and whose lock nobody holds: left by a launcher killed in
/// its first milliseconds. It is removed, and said so; unless a launcher
/// loading `conf` is making it (it holds `conf`'s lock from before): that
/// launcher is returned, to be stopped.
fn unrecorded(conf: &Path) -> Result<Option<OwnedFd>> {
    if !fs::metadata(conf).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let Some(name) = crate::model::config::plain_name(conf) else {
        return Ok(None);
    };
    if !state::dir(&name).exists() || lock::has_record(&name) {
        return Ok(None);
    }
    if let Probe::Stale(lock) = lock::probe(&name)? {
        if let Some(launcher) = conflock::loading(conf) {
            return Ok(Some(launcher));
        }
        state::remove(&name)?;
        drop(lock);
        let _ = writeln!(
            std::io::stderr(),
            "overlay-stop: {name}: removed an empty run directory left by a launcher that died"
        );
    }
    Ok(None)
}

/// The run directory whose recorded config path is `conf` (`Ok`, for
/// `stop`'s look that may also find a loading launcher).
fn find_by_conf(conf: &Path) -> Option<std::result::Result<String, OwnedFd>> {
    state::names()
        .into_iter()
        .find(|name| {
            fs::read_to_string(state::dir(name).join("conf"))
                .map(|c| Path::new(c.trim_end_matches('\n')) == conf)
                .unwrap_or(false)
        })
        .map(Ok)
}

/// Stop while the launcher loads CONF: SIGTERM to it (it aborts once its
/// `!` commands end, or passes the signal on to the monitor it has just
/// forked), wait for it, then check nothing of the boot is left.
fn abort_loading(conf: &Path, launcher: &OwnedFd) -> Result<i32> {
    pidfd::signal(launcher.as_fd(), Signal::SIGTERM).map_err(|errno| Error::Call {
        op: "pidfd_send_signal SIGTERM",
        errno,
    })?;
    if !wait_exit(launcher, LAUNCHER_WAIT)? {
        return Err(Error::Timeout {
            what: "the booting launcher to abort",
        });
    }
    if let Some(Ok(name)) = find_by_conf(conf) {
        finish_teardown(&name)?;
    }
    Ok(0)
}

/// Stop with the monitor alive: it sees PID 1 end and tears down.
fn graceful(name: &str) -> Result<()> {
    let Some(st) = state::read(name) else {
        return during_boot(name);
    };
    let monitor = pidfd_open(Pid::from_raw(st.monitor)).map_err(|errno| Error::Call {
        op: "pidfd_open monitor",
        errno,
    })?;
    match state::open_pid1(&st) {
        Some(pid1) => end_pid1(name, &pid1, Duration::from_secs(st.stop_timeout) + GRACE)?,
        None => log::info!("{name}: PID 1 already gone"),
    }
    if !wait_exit(&monitor, TEARDOWN)? {
        return Err(Error::Timeout {
            what: "the monitor's teardown",
        });
    }
    finish_teardown(name)
}

/// Stop while the boot is setting up (PID 1 not yet recorded): SIGTERM to
/// the monitor, which aborts the set-up (or, once PID 1 runs, stops it)
/// and tears down. Waits as `graceful` does.
fn during_boot(name: &str) -> Result<()> {
    if state::read_monitor(name).is_none() {
        if let Some(launcher) = early::open_launcher(name) {
            return abort_launcher(name, &launcher);
        }
    }
    let Some((m, monitor)) = recorded_monitor(name)? else {
        return Err(Error::NotRunning {
            what: format!("subhost {name}"),
        });
    };
    pidfd::signal(monitor.as_fd(), Signal::SIGTERM).map_err(|errno| Error::Call {
        op: "pidfd_send_signal SIGTERM",
        errno,
    })?;
    let deadline = Duration::from_secs(m.stop_timeout) + GRACE + TEARDOWN;
    if !wait_exit(&monitor, deadline)? {
        // PID 1 came up meanwhile and outlived its grace: kill it all.
        log::warn!(
            "{name}: still running after {} s; killing",
            deadline.as_secs()
        );
        if let Some(dir) = cgroup::path(name)?.filter(|d| d.exists()) {
            cgroup::kill(&dir)?;
        }
        if !wait_exit(&monitor, TEARDOWN)? {
            return Err(Error::Timeout {
                what: "the monitor to abort the boot",
            });
        }
    }
    finish_teardown(name)
}

/// Stop while the launcher reserves the NAME (its `!` commands run, no
/// monitor yet): SIGTERM to the launcher, which aborts the boot (or passes
/// the signal on to the monitor it has just forked) and exits once
/// nothing of the boot is left. Each of its steps is bounded, `!` commands
/// by their timeout.
fn abort_launcher(name: &str, launcher: &OwnedFd) -> Result<()> {
    pidfd::signal(launcher.as_fd(), Signal::SIGTERM).map_err(|errno| Error::Call {
        op: "pidfd_send_signal SIGTERM",
        errno,
    })?;
    if !wait_exit(launcher, LAUNCHER_WAIT)? {
        return Err(Error::Timeout {
            what: "the booting launcher to abort",
        });
    }
    finish_teardown(name)
}

/// After the monitor has gone: a monitor killed half-way leaves things
/// behind, so finish its work; then check nothing of the subhost is left.
fn finish_teardown(name: &str) -> Result<()> {
    if let Probe::Stale(lock) = lock::probe(name)? {
        teardown(name, &Scope::Reclaim, TEARDOWN)?;
        drop(lock);
    }
    verify_gone(name)
}

/// The monitor of a booting subhost and a pidfd on it, waiting (a little)
/// for it to record itself; None when the boot ended meanwhile.
fn recorded_monitor(name: &str) -> Result<Option<(state::Monitor, OwnedFd)>> {
    let deadline = std::time::Instant::now() + GRACE;
    loop {
        if let Some(m) = state::read_monitor(name) {
            if let Some(fd) = state::open_monitor(&m) {
                return Ok(Some((m, fd)));
            }
        }
        if !matches!(lock::probe(name)?, Probe::Running) {
            return Ok(None);
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: "the booting monitor to record itself",
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks that nothing of the subhost is left on the host.
fn verify_gone(name: &str) -> Result<()> {
    let mut ours: Vec<PathBuf> = vec![netns::path(name), state::dir(name)];
    // Every hierarchy's cgroup of the subhost (cgroup2 and v1).
    ours.extend(crate::kernel::cgroups::all(name)?);
    first_left_over(ours)
}

/// Our own objects that should be gone: the first that still exists is a
/// leftover of our teardown (not something foreign in the way).
fn first_left_over(ours: Vec<PathBuf>) -> Result<()> {
    match ours.into_iter().find(|p| p.exists()) {
        Some(path) => Err(Error::LeftOver { path }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_leftover_is_reported_as_left_over_not_in_the_way() {
        let dir = std::env::temp_dir().join(format!("obt-leftover-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("mkdir");
        let gone = dir.join("gone");
        let err = first_left_over(vec![gone.clone(), dir.clone()]).expect_err("left over");
        let text = err.to_string();
        fs::remove_dir(&dir).expect("rmdir");
        assert!(
            matches!(&err, Error::LeftOver { path } if *path == dir),
            "{err:?}"
        );
        assert!(!text.contains("not ours"), "{text}");
        assert!(text.contains("still there after the teardown"), "{text}");
        assert_eq!(err.exit_code(), 1);
        assert!(first_left_over(vec![gone]).is_ok());
    }
}
