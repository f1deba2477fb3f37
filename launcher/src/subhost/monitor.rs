//! The monitor: lives as long as the subhost. It makes the netns (in the
//! host's mount namespace), then, in a private mount namespace, the cgroup,
//! the root filesystem and its mounts; clones PID 1; relays readiness to the
//! caller; waits for PID 1; and when PID 1 ends for any reason removes all
//! that lives on the host: cgroup, netns file, run state.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};

use crate::error::{Error, Result};
use crate::kernel::nsenter::{self, Ns};
use crate::kernel::sys::pidfd_send_signal;
use crate::model::config::Config;
use crate::model::report::{self, Event, Outcome};
use crate::subhost::attach::Attach;
use crate::subhost::interrupt::Interrupt;
use crate::subhost::setup::{self, Child};
use crate::subhost::state::{self, Lock};
use crate::subhost::teardown::{self, Made, Scope};

/// How long teardown waits for the cgroup to empty after cgroup.kill.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Where events go: the caller's status pipe, or (with --foreground) the
/// terminal directly.
pub enum Sink {
    Pipe(Option<File>),
    Terminal(Outcome),
}

pub struct Monitor {
    pub cfg: Config,
    pub log: File,
    /// Held (never read) while the monitor lives: the subhost is running.
    pub lock: Lock,
    /// The lock on UPPER (see `state::lock_upper`), released with `lock`.
    pub upper_lock: Option<Lock>,
    pub sink: Sink,
    /// PID 1's status pipe and, for `--session`, its pty and command.
    pub attach: Attach,
}

impl Monitor {
    pub fn new(cfg: Config, log: File, lock: Lock, sink: Sink) -> Monitor {
        Monitor {
            cfg,
            log,
            lock,
            upper_lock: None,
            sink,
            attach: Attach::default(),
        }
    }

    /// Boots, waits, tears down; returns the process exit status.
    /// `subinit`: the binary to exec as PID 1 (closed once it runs).
    pub fn run(mut self, subinit: OwnedFd) -> i32 {
        let mut made = Made::default();
        let code = match self.start(subinit, &mut made) {
            Ok(code) => code,
            Err(e) => {
                log::error!("{e}");
                self.send(Event::Error(e.to_string()));
                1
            }
        };
        self.attach.finish();
        let scope = Scope::Monitor {
            made: &made,
            log: &self.log,
        };
        // Errors are logged step by step; the checklist carries on.
        let _ = teardown::teardown(&self.cfg.name, &scope, KILL_WAIT);
        self.close();
        drop(self.upper_lock.take());
        drop(self.lock);
        code
    }

    fn start(&mut self, subinit: OwnedFd, made: &mut Made) -> Result<i32> {
        // Stop signals are caught from here on, before anything is made.
        let stop = Interrupt::catch()?;
        // Only now that a stop signal is caught: overlay-stop finds us.
        state::write_monitor(&self.cfg.name, self.cfg.stop_timeout.as_secs())?;
        // Why: the set-up leaves us in a private mount namespace; the
        // netns file and the cgroup are host objects, removed from the
        // host's mount namespace, where the netns bind lives.
        let child = nsenter::returning(Ns::Mount, || {
            setup::subhost(&self.cfg, subinit, &self.log, made, &mut self.attach, &stop)
        })?;
        self.attach.spawned(&self.cfg.name);
        self.record(&child)?;
        self.send(Event::Pid(child.pid.as_raw()));
        Ok(self.wait(child, &stop))
    }

    /// Writes the run state; on failure PID 1 is killed (teardown follows).
    fn record(&self, child: &Child) -> Result<()> {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let s = state::State {
            pid: child.pid.as_raw(),
            monitor: std::process::id() as i32,
            conf: self.cfg.path.clone(),
            started,
            pid_start: state::start_time(child.pid.as_raw()).unwrap_or(0),
            stop_timeout: self.cfg.stop_timeout.as_secs(),
        };
        state::write(&self.cfg.name, &s).inspect_err(|_| {
            let _ = pidfd_send_signal(child.pidfd.as_fd(), Signal::SIGKILL);
            let _ = waitpid(child.pid, None);
        })
    }

    /// Relays readiness, forwards stop signals, returns when PID 1 ends.
    fn wait(&mut self, child: Child, stop: &Interrupt) -> i32 {
        let mut ready = Some(child.ready);
        let mut text = Vec::new();
        // Stopped before PID 1 was ready: the boot failed, say why.
        let mut stopped = false;
        loop {
            let (exited, woke, readable) = match wait_any(&child.pidfd, stop, ready.as_ref()) {
                Ok(r) => r,
                Err(e) => {
                    log::error!("{e}");
                    continue;
                }
            };
            if woke {
                stop.drain();
                stopped |= ready.is_some();
                log::info!("stop signal: SIGTERM to PID 1");
                if let Err(e) = pidfd_send_signal(child.pidfd.as_fd(), Signal::SIGTERM) {
                    log::warn!("signal PID 1: {}", e.desc());
                }
            }
            if let (true, Some(r)) = (readable, ready.as_mut()) {
                let mut buf = [0u8; 512];
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        ready = None;
                        self.relay_ready(&text);
                    }
                    Ok(n) => text.extend_from_slice(&buf[..n]),
                }
            }
            if exited {
                break;
            }
        }
        let status = waitpid(child.pid, None);
        log::info!("PID 1 ended: {}", describe(&status));
        self.send(Event::Exited(describe(&status)));
        if stopped {
            self.send(Event::Error(Error::Stopped.to_string()));
        }
        match status {
            Ok(WaitStatus::Exited(_, 0)) => 0,
            // A session ends with its command's status (the subinit's).
            Ok(WaitStatus::Exited(_, c)) if self.attach.is_session() => c,
            _ => 1,
        }
    }

    /// The subinit closed its ready fd: pass on what it said.
    fn relay_ready(&mut self, text: &[u8]) {
        let Some(failed) = report::parse_subinit(&String::from_utf8_lossy(text)) else {
            return;
        };
        log::info!("ready ({} start actions failed)", failed.len());
        for f in failed {
            self.send(Event::Failed(f));
        }
        self.send(Event::Ready);
        self.close();
    }

    fn send(&mut self, ev: Event) {
        match &mut self.sink {
            Sink::Pipe(Some(pipe)) => {
                let _ = pipe.write_all(ev.to_line().as_bytes());
            }
            Sink::Pipe(None) => {}
            Sink::Terminal(outcome) => outcome.add(ev),
        }
    }

    /// The boot's outcome is known: release the caller (or print it).
    fn close(&mut self) {
        match &mut self.sink {
            Sink::Pipe(pipe) => drop(pipe.take()),
            Sink::Terminal(o) if o.ready => {
                report::print_ready(&self.cfg.name, o.pid.unwrap_or(0), &self.cfg.log, &o.failed);
                self.sink = Sink::Pipe(None);
            }
            Sink::Terminal(o) => {
                let reason = o
                    .reason
                    .clone()
                    .unwrap_or_else(|| "no readiness reported".into());
                report::print_failure(&self.cfg.name, &reason, &self.cfg.log);
                self.sink = Sink::Pipe(None);
            }
        }
    }
}

/// Waits for PID 1's exit, a stop signal or readiness data.
fn wait_any(pidfd: &OwnedFd, stop: &Interrupt, ready: Option<&File>) -> Result<(bool, bool, bool)> {
    let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    fds.extend(stop.fd().map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
    if let Some(r) = ready {
        fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
    }
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) | Err(Errno::EINTR) => {}
        Err(errno) => return Err(Error::Call { op: "poll", errno }),
    }
    let hit = |i: usize| {
        fds.get(i)
            .and_then(PollFd::revents)
            .is_some_and(|r| !r.is_empty())
    };
    Ok((hit(0), hit(1), hit(2)))
}

fn describe(status: &nix::Result<WaitStatus>) -> String {
    match status {
        Ok(WaitStatus::Exited(_, c)) => format!("exit status {c}"),
        // The subinit blocks both: only reboot(2) inside the subhost kills
        // a pid namespace's init with them (pid_namespaces(7)). Policy: the
        // subhost is not started again; the administrator boots it anew.
        Ok(WaitStatus::Signaled(_, Signal::SIGHUP, _)) => {
            "reboot: reboot(2) called inside the subhost (restart), not restarted".to_owned()
        }
        Ok(WaitStatus::Signaled(_, Signal::SIGINT, _)) => {
            "halt: reboot(2) called inside the subhost (halt or power-off)".to_owned()
        }
        Ok(WaitStatus::Signaled(_, s, _)) => format!("killed by {s}"),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("waitpid: {}", e.desc()),
    }
}
