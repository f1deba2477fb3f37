//! The monitor: lives as long as the subhost. Built from a boot's
//! reservation, it makes the netns (in the host's mount namespace), then,
//! in a private mount namespace, the cgroup, the root filesystem and its
//! mounts; clones PID 1; relays readiness to the caller and keeps the
//! status file while it waits for PID 1 (`watch`); and when PID 1 ends
//! for any reason runs the one teardown.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe2, ForkResult, Pid};

use crate::error::{At, Op, Result};
use crate::kernel::notify::Notifier;
use crate::kernel::nsenter::{self, Ns};
use crate::kernel::sys::pidfd_send_signal;
use crate::model::config::Config;
use crate::model::report::{self, Outcome};
use crate::subhost::attach::{Attach, SessionRequest};
use crate::subhost::interrupt::Interrupt;
use crate::subhost::reserve::{abandon, Reserved};
use crate::subhost::setup::{self, Child};
use crate::subhost::state;
use crate::subhost::teardown::{self, Made, Scope};
use crate::subhost::tell;
use proto::event::Event;

/// How long teardown waits for the cgroup to empty after cgroup.kill.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Where events go: the caller's status pipe, or (with --foreground) the
/// terminal directly.
pub enum Sink {
    Pipe(Option<File>),
    Terminal(Outcome),
}

pub struct Monitor {
    pub(super) cfg: Config,
    pub(super) log: File,
    sink: Sink,
    /// PID 1's status pipe and, for `--session`, its pty and command.
    pub(super) attach: Attach,
    /// `--foreground`: the service manager's NOTIFY_SOCKET (sd_notify).
    notify: Option<Notifier>,
    /// The subinit reported ready.
    ready: bool,
}

impl Monitor {
    /// The monitor of a reserved boot (`session`: what `--session` asks
    /// for; `stop`: the stop signals, caught since before the fork): boots,
    /// waits, tears down, releases the locks last; returns the process
    /// exit status, and whether the subhost was ever ready.
    pub fn run(
        r: Reserved,
        sink: Sink,
        session: Option<SessionRequest>,
        stop: &Interrupt,
    ) -> (i32, bool) {
        let Reserved {
            cfg,
            subinit,
            lock,
            upper_lock,
            log,
        } = r;
        // A monitor that prints to the terminal runs in the foreground,
        // where a service manager may be waiting for READY=1.
        let notify = matches!(sink, Sink::Terminal(_)).then(Notifier::from_env);
        let mut monitor = Monitor {
            cfg,
            log,
            sink,
            attach: Attach::new(session),
            notify,
            ready: false,
        };
        let mut made = Made::default();
        let code = match monitor.start(subinit, &mut made, stop) {
            Ok(code) => code,
            Err(e) => {
                log::error!("{e}");
                monitor.send(Event::Error(e.to_string()));
                1
            }
        };
        let scope = Scope::Monitor {
            made: &made,
            log: &monitor.log,
        };
        // Errors are logged step by step; the checklist carries on.
        let _ = teardown::teardown(&monitor.cfg.name, &scope, KILL_WAIT);
        monitor.close();
        // Held (never read) while the monitor lives: the subhost is running.
        drop(upper_lock);
        drop(lock);
        (code, monitor.ready)
    }

    /// `subinit`: the binary to exec as PID 1 (closed once it runs).
    fn start(&mut self, subinit: OwnedFd, made: &mut Made, stop: &Interrupt) -> Result<i32> {
        // Stop signals are caught (before anything is made): overlay-stop
        // may find us now.
        state::write_monitor(&self.cfg.name, self.cfg.stop_timeout.as_secs())?;
        // Why: the set-up leaves us in a private mount namespace; the
        // netns file and the cgroup are host objects, removed from the
        // host's mount namespace, where the netns bind lives.
        let child = nsenter::returning(Ns::Mount, || {
            setup::subhost(&self.cfg, subinit, &self.log, made, &mut self.attach, stop)
        })?;
        let status = self.attach.spawned(&self.cfg.name);
        self.record(&child)?;
        let oom = crate::subhost::oom::watch(&self.cfg.name);
        self.send(Event::Pid(child.pid.as_raw()));
        Ok(self.wait(child, stop, status, oom))
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
            pid_start: crate::kernel::process::start_time(child.pid.as_raw()).unwrap_or(0),
            stop_timeout: self.cfg.stop_timeout.as_secs(),
        };
        state::write(&self.cfg.name, &s).inspect_err(|_| {
            let _ = pidfd_send_signal(child.pidfd.as_fd(), Signal::SIGKILL);
            let _ = waitpid(child.pid, None);
        })
    }

    /// The subinit closed its ready fd: pass on what it said.
    pub(super) fn relay_ready(&mut self, text: &[u8]) {
        let Some(failed) = report::parse_subinit(&String::from_utf8_lossy(text)) else {
            return;
        };
        log::info!("ready ({} start actions failed)", failed.len());
        self.ready = true;
        for f in failed {
            self.send(Event::Failed(f));
        }
        self.send(Event::Ready);
        if let Some(n) = self.notify.as_mut() {
            let pid = match &self.sink {
                Sink::Terminal(o) => o.pid.unwrap_or(0),
                Sink::Pipe(_) => 0,
            };
            n.ready(&format!("{} ready: pid {pid}", self.cfg.name));
        }
        self.close();
        // At rest from here on, for the subhost's life.
        crate::kernel::rest::give_back();
    }

    /// STOPPING=1, once, to the service manager (`--foreground`).
    pub(super) fn notify_stopping(&mut self, status: &str) {
        if let Some(mut n) = self.notify.take() {
            n.stopping(&format!("{}: {status}", self.cfg.name));
        }
    }

    pub(super) fn send(&mut self, ev: Event) {
        match &mut self.sink {
            Sink::Pipe(Some(pipe)) => {
                let _ = pipe.write_all(ev.encode().as_bytes());
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
                tell::print_ready(&self.cfg.name, o.pid.unwrap_or(0), &self.cfg.log, &o.failed);
                self.sink = Sink::Pipe(None);
            }
            Sink::Terminal(o) => {
                let reason = o
                    .reason
                    .clone()
                    .unwrap_or_else(|| "no readiness reported".into());
                tell::print_failure(&self.cfg.name, &reason, &self.cfg.log);
                self.sink = Sink::Pipe(None);
            }
        }
    }
}

/// The caller's side of a forked monitor.
pub struct Spawned {
    pub pid: Pid,
    /// The read end of the monitor's event pipe (`Outcome::read`).
    pub events: File,
    /// For a session: where the monitor sends the pty master once PID 1
    /// runs (EOF if it never does).
    pub handoff: Option<UnixStream>,
    /// The NAME lock file (device, inode) the caller still holds with the
    /// monitor: while the run directory's lock is that file, nobody else
    /// owns the NAME, so a monitor that died leaves its work to the caller.
    pub lock_id: Option<(u64, u64)>,
    /// The caller's stop signals (the monitor has its own).
    pub stop: Interrupt,
}

/// Forks the monitor of a reserved boot (for `overlay-boot` and
/// `--session` alike): the child leaves the caller's session, runs the
/// monitor and exits with its status; the parent gets what `Spawned`
/// holds. Either way the locks stay with the monitor. `stop`: the
/// caller's stop signals, caught since before the reservation; the child
/// catches its own before it drops the caller's, so none is missed.
pub fn spawn_monitor(
    r: Reserved,
    mut session: Option<SessionRequest>,
    stop: Interrupt,
) -> Result<Spawned> {
    let name = r.cfg.name.clone();
    let abandon = |e| abandon(&name, e);
    let handoff = match session.as_mut() {
        Some(req) => {
            let (mine, theirs) = UnixStream::pair()
                .at("socketpair", "session")
                .map_err(abandon)?;
            req.handoff = Some(theirs);
            Some(mine)
        }
        None => None,
    };
    let (events_r, events_w) = pipe2(OFlag::O_CLOEXEC).op("pipe").map_err(abandon)?;
    // SAFETY: the launcher is single-threaded here, so the child may run
    // any code after fork.
    match unsafe { fork() }.op("fork").map_err(abandon)? {
        ForkResult::Child => {
            drop(handoff);
            drop(events_r);
            if let Err(e) = daemonize(&r.log) {
                log::warn!("monitor: {e}");
            }
            let mine = match Interrupt::catch() {
                Ok(mine) => mine,
                Err(e) => {
                    log::error!("monitor: {e}");
                    std::process::exit(1)
                }
            };
            // A stop signal that came between the fork and `catch` went
            // to the caller's handlers: passed on to the monitor's own.
            if stop.signal().is_some() {
                let _ = nix::sys::signal::raise(Signal::SIGTERM);
            }
            drop(stop);
            let sink = Sink::Pipe(Some(File::from(events_w)));
            std::process::exit(Monitor::run(r, sink, session, &mine).0)
        }
        ForkResult::Parent { child } => {
            drop(events_w);
            drop(session);
            let lock_id = r.lock.metadata().ok().map(|m| (m.dev(), m.ino()));
            // The locks are shared with the monitor; dropping them here
            // would unlock them for both. Closing happens at exit.
            std::mem::forget(r.lock);
            std::mem::forget(r.upper_lock);
            Ok(Spawned {
                pid: child,
                events: File::from(events_r),
                handoff,
                lock_id,
                stop,
            })
        }
    }
}

/// The monitor leaves the caller's session and terminal; its output goes to LOG.
fn daemonize(log: &File) -> Result<()> {
    nix::unistd::setsid().op("setsid")?;
    let null: OwnedFd = nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .at("open", "/dev/null")?;
    nix::unistd::dup2_stdin(&null).op("dup2 stdin")?;
    nix::unistd::dup2_stdout(log).op("dup2 stdout")?;
    nix::unistd::dup2_stderr(log).op("dup2 stderr")?;
    nix::unistd::chdir("/").at("chdir", "/")
}
