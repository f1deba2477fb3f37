//! The monitor: lives as long as the subhost. It makes the netns (in the
//! host's mount namespace), then, in a private mount namespace, the cgroup,
//! the root filesystem and its mounts; clones PID 1; relays readiness to the
//! caller; waits for PID 1; and when PID 1 ends for any reason removes all
//! that lives on the host: cgroup, netns file, run state.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::attach::Attach;
use crate::config::Config;
use crate::error::{At, Error, Op, Result};
use crate::report::{self, Event, Outcome};
use crate::state::{self, Lock};
use crate::sys::{pidfd_open, pidfd_send_signal};
use crate::{cables, cgroup, netns, setup};

/// How long teardown waits for the cgroup to empty after cgroup.kill.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How long a set-up command may take to end after SIGTERM on a stop.
const SETUP_GRACE: Duration = Duration::from_secs(5);

/// The signal pipe's read end, for the set-up's waits (`wait_setup`).
static SIGNALS: OnceLock<UnixStream> = OnceLock::new();

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
    /// `--foreground`: the service manager's NOTIFY_SOCKET (sd_notify).
    pub notify: Option<crate::notify::Notifier>,
}

/// What this monitor created on the host, so teardown removes only that.
#[derive(Default)]
pub struct Made {
    pub netns: bool,
    pub cgroups: crate::cgroups::Made,
    pub cables: cables::Made,
}

/// The running PID 1.
pub struct Child {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub ready: File,
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
            notify: None,
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
        self.teardown(&made);
        self.close();
        drop(self.upper_lock.take());
        drop(self.lock);
        code
    }

    fn start(&mut self, subinit: OwnedFd, made: &mut Made) -> Result<i32> {
        let host_mnt = open(
            "/proc/self/ns/mnt",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .at("open", "/proc/self/ns/mnt")?;
        let signals = signal_pipe()?;
        // Only now that a stop signal is caught: overlay-stop finds us.
        state::write_monitor(&self.cfg.name, self.cfg.stop_timeout.as_secs())?;
        let result = setup::subhost(&self.cfg, subinit, &self.log, made, &mut self.attach);
        // Why: the netns file and the cgroup are host objects; remove them
        // from the host's mount namespace, where the netns bind lives.
        let back =
            setns(&host_mnt, CloneFlags::CLONE_NEWNS).op("setns back to the host mount namespace");
        let child = result?;
        back?;
        self.attach.spawned(&self.cfg.name);
        self.record(&child)?;
        crate::oom::watch(&self.cfg.name);
        self.send(Event::Pid(child.pid.as_raw()));
        Ok(self.wait(child, &signals))
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
    fn wait(&mut self, child: Child, signals: &UnixStream) -> i32 {
        let mut ready = Some(child.ready);
        let mut text = Vec::new();
        // Stopped before PID 1 was ready: the boot failed, say why.
        let mut stopped = false;
        loop {
            let (exited, woke, readable) = match wait_any(&child.pidfd, signals, ready.as_ref()) {
                Ok(r) => r,
                Err(e) => {
                    log::error!("{e}");
                    continue;
                }
            };
            if woke {
                drain(signals);
                stopped |= ready.is_some();
                log::info!("stop signal: SIGTERM to PID 1");
                self.notify_stopping("stopping");
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
                // PID 1 may have reported ready and ended at once (a quick
                // session): poll saw both; what it wrote still counts.
                if let Some(r) = ready.take() {
                    read_rest(&r, &mut text);
                    self.relay_ready(&text);
                }
                break;
            }
        }
        let status = waitpid(child.pid, None);
        log::info!("PID 1 ended: {}", describe(&status));
        self.notify_stopping(&format!("PID 1 ended: {}", describe(&status)));
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
        if let Some(n) = self.notify.as_mut() {
            let pid = match &self.sink {
                Sink::Terminal(o) => o.pid.unwrap_or(0),
                Sink::Pipe(_) => 0,
            };
            n.ready(&format!("{} ready: pid {pid}", self.cfg.name));
        }
        self.close();
    }

    /// STOPPING=1, once, to the service manager (`--foreground`).
    fn notify_stopping(&mut self, status: &str) {
        if let Some(mut n) = self.notify.take() {
            n.stopping(&format!("{}: {status}", self.cfg.name));
        }
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

    /// Removes what this monitor made on the host, then the run state.
    fn teardown(&self, made: &Made) {
        if let Some(dir) = &made.cgroups.v2 {
            if let Err(e) = cgroup::teardown(dir, KILL_WAIT) {
                log::error!("cgroup: {e}");
            }
        }
        if let Err(e) = crate::cgroups::remove_v1(&made.cgroups.v1, KILL_WAIT) {
            log::error!("cgroup: {e}");
        }
        if made.netns {
            cables::deconfigure(&made.cables, &self.log);
            netns::remove(&self.cfg.name);
        }
        cables::remove(&made.cables);
        // The disk images overlay-diskfile mounted for this boot (the run
        // directory lists them); their loop devices detach themselves.
        crate::diskmounts::release_recorded(&self.cfg.name);
        // A session's policy-rc.d in UPPER, even when its caller was killed.
        crate::session::release_recorded(&self.cfg.name);
        if let Err(e) = state::remove(&self.cfg.name) {
            log::error!("{e}");
        }
        log::info!("torn down");
    }
}

/// Waits for PID 1's exit, a stop signal or readiness data.
fn wait_any(pidfd: &OwnedFd, sig: &UnixStream, ready: Option<&File>) -> Result<(bool, bool, bool)> {
    let mut fds = vec![
        PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        PollFd::new(sig.as_fd(), PollFlags::POLLIN),
    ];
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

/// The stop signals' pipe, when the set-up runs in a monitor: readable
/// once one has come (`contain::wait` ends a hook's wait on it).
pub fn stop_fd() -> Option<std::os::fd::BorrowedFd<'static>> {
    SIGNALS.get().map(|s| s.as_fd())
}

/// Whether a stop signal has come (and not yet been passed on to PID 1).
pub fn stop_requested() -> bool {
    let Some(sig) = SIGNALS.get() else {
        return false;
    };
    let mut fds = [PollFd::new(sig.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

/// Err(Stopped) once a stop signal has come during the set-up.
pub fn stopped() -> Result<()> {
    if stop_requested() {
        return Err(Error::Stopped);
    }
    Ok(())
}

/// Waits for a command of the set-up (ifup, PREMOUNT, POSTMOUNT, INIT). A
/// stop signal meanwhile ends it (SIGTERM, SIGKILL after SETUP_GRACE) and
/// gives Err(Stopped). Outside a monitor, a plain wait.
pub fn wait_setup(child: &mut std::process::Child) -> Result<ExitStatus> {
    let wait = |child: &mut std::process::Child| child.wait().at("wait", "set-up command");
    let Some(sig) = SIGNALS.get() else {
        return wait(child);
    };
    // The child is not reaped yet: its pid is still its own.
    let pidfd = pidfd_open(Pid::from_raw(child.id() as i32)).op("pidfd_open set-up command")?;
    loop {
        let (exited, woke, _) = wait_any(&pidfd, sig, None)?;
        if exited {
            return wait(child);
        }
        if woke {
            break;
        }
    }
    log::info!("stop signal during the set-up: ending pid {}", child.id());
    let _ = pidfd_send_signal(pidfd.as_fd(), Signal::SIGTERM);
    let deadline = std::time::Instant::now() + SETUP_GRACE;
    let ended = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
        ) {
            Err(Errno::EINTR) => continue,
            Ok(n) => break n > 0,
            Err(_) => break false,
        }
    };
    if !ended {
        let _ = pidfd_send_signal(pidfd.as_fd(), Signal::SIGKILL);
    }
    let _ = child.wait();
    Err(Error::Stopped)
}

/// SIGTERM, SIGINT and SIGHUP to the monitor wake it through this socket;
/// before PID 1 exists they abort the set-up (`wait_setup`, `stopped`),
/// then it asks PID 1 to stop gracefully.
fn signal_pipe() -> Result<UnixStream> {
    let (r, w) = UnixStream::pair().at("socketpair", "signal pipe")?;
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let w2 = w.try_clone().at("dup", "signal pipe")?;
        signal_hook::low_level::pipe::register(sig, w2).at("register signal", "signal pipe")?;
    }
    r.set_nonblocking(true)
        .at("set nonblocking", "signal pipe")?;
    let _ = SIGNALS.set(r.try_clone().at("dup", "signal pipe")?);
    Ok(r)
}

/// What is left in the ready pipe, without waiting for a writer.
fn read_rest(r: &File, text: &mut Vec<u8>) {
    let _ = nix::fcntl::fcntl(r, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    let mut buf = [0u8; 512];
    let mut r = r;
    while let Ok(n @ 1..) = r.read(&mut buf) {
        text.extend_from_slice(&buf[..n]);
    }
}

fn drain(mut s: &UnixStream) {
    let mut buf = [0u8; 64];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
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
