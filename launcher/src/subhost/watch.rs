//! PID 1 runs: the monitor's one wait loop, a single poll over up to
//! seven fds: PID 1's pidfd (it ended), the stop signals (passed on to
//! PID 1 as SIGTERM), the ready pipe (readiness, relayed to the caller
//! once the subinit closes it), the status pipe (the newest snapshot,
//! kept in the run directory), PID 1's output (copied to LOG) and the
//! OOM watch's (`oom`: the cgroup's notification, and the kernel log
//! only while it names a victim, with a deadline).

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};

use crate::error::{Error, Result};
use crate::kernel::sys::pidfd_send_signal;
use crate::subhost::interrupt::Interrupt;
use crate::subhost::monitor::Monitor;
use crate::subhost::oom::Watch;
use crate::subhost::output::Output;
use crate::subhost::setup::Child;
use crate::subhost::status::StatusPipe;
use proto::event::Event;

/// Which of the fds polled readable (or hung up).
#[derive(Default)]
struct Woke {
    exited: bool,
    stop: bool,
    ready: bool,
    status: bool,
    output: bool,
    oom_notified: bool,
    oom_logged: bool,
}

impl Monitor {
    /// Relays readiness, keeps the status, forwards stop signals; returns
    /// the monitor's exit status when PID 1 ends.
    pub(super) fn wait(
        &mut self,
        child: Child,
        stop: &Interrupt,
        mut status: Option<StatusPipe>,
        mut oom: Option<Watch>,
    ) -> i32 {
        let mut ready = Some(child.ready);
        let mut output = Some(Output::new(child.output));
        let mut text = Vec::new();
        // Stopped before PID 1 was ready: the boot failed, say why.
        let mut stopped = false;
        loop {
            let fds = Polled {
                stop,
                ready: ready.as_ref(),
                status: status.as_ref(),
                output: output.as_ref(),
                oom: oom.as_ref(),
            };
            let woke = match wait_any(&child.pidfd, &fds) {
                Ok(w) => w,
                Err(e) => {
                    log::error!("{e}");
                    continue;
                }
            };
            if woke.stop {
                stop.drain();
                stopped |= ready.is_some();
                log::info!("stop signal: SIGTERM to PID 1");
                self.notify_stopping("stopping");
                if let Err(e) = pidfd_send_signal(child.pidfd.as_fd(), Signal::SIGTERM) {
                    log::warn!("signal PID 1: {}", e.desc());
                }
            }
            if let (true, Some(r)) = (woke.ready, ready.as_mut()) {
                if !read_some(r, &mut text) {
                    ready = None;
                    self.relay_ready(&text);
                }
            }
            if let (true, Some(s)) = (woke.status, status.as_mut()) {
                if !s.read() {
                    status = None;
                }
            }
            if let (true, Some(o)) = (woke.output, output.as_mut()) {
                if !o.copy(&self.log) {
                    output = None;
                }
            }
            if let Some(w) = oom.as_mut() {
                let now = Instant::now();
                let due = w.deadline().is_some_and(|at| now >= at);
                if (woke.oom_notified || woke.oom_logged || due)
                    && !w.handle(woke.oom_notified, woke.oom_logged, now)
                {
                    oom = None;
                }
            }
            if woke.exited {
                // PID 1 may have reported ready and ended at once (a quick
                // session): poll saw both; what it wrote still counts.
                if let Some(r) = ready.take() {
                    read_rest(&r, &mut text);
                    self.relay_ready(&text);
                }
                break;
            }
        }
        // Why before the teardown: LOG keeps the subhost's last lines, in
        // order, before the teardown's.
        if let Some(o) = output {
            o.drain(&self.log);
        }
        let ended = waitpid(child.pid, None);
        log::info!("PID 1 ended: {}", describe(&ended));
        self.notify_stopping(&format!("PID 1 ended: {}", describe(&ended)));
        self.send(Event::Exited(describe(&ended)));
        if stopped {
            self.send(Event::Error(Error::Stopped.to_string()));
        }
        match ended {
            Ok(WaitStatus::Exited(_, 0)) => 0,
            // A session ends with its command's status (the subinit's).
            Ok(WaitStatus::Exited(_, c)) if self.attach.is_session() => c,
            _ => 1,
        }
    }
}

/// Appends what `r` holds to `text`; false at EOF or on an error.
fn read_some(r: &mut File, text: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 512];
    match r.read(&mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            text.extend_from_slice(&buf[..n]);
            true
        }
    }
}

/// What is left in the ready pipe, without waiting for a writer.
fn read_rest(r: &File, text: &mut Vec<u8>) {
    let _ = fcntl(r, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    let mut buf = [0u8; 512];
    let mut r = r;
    while let Ok(n @ 1..) = r.read(&mut buf) {
        text.extend_from_slice(&buf[..n]);
    }
}

/// The fds polled beside PID 1's pidfd (those still open).
struct Polled<'a> {
    stop: &'a Interrupt,
    ready: Option<&'a File>,
    status: Option<&'a StatusPipe>,
    output: Option<&'a Output>,
    oom: Option<&'a Watch>,
}

/// Waits for PID 1's exit, a stop signal, readiness data, a snapshot or
/// output.
fn wait_any(pidfd: &impl AsFd, p: &Polled) -> Result<Woke> {
    let optional = [
        p.stop.fd(),
        p.ready.map(AsFd::as_fd),
        p.status.map(|s| s.file().as_fd()),
        p.output.map(Output::fd),
    ];
    let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    // Where each optional fd sits in `fds`.
    let mut at = [None; 4];
    for (slot, fd) in at.iter_mut().zip(optional) {
        if let Some(fd) = fd {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
            *slot = Some(fds.len() - 1);
        }
    }
    let [stop_at, ready_at, status_at, output_at] = at;
    // The OOM watch's fds come last, in its order.
    let oom_at = fds.len();
    let oom_n = p.oom.map_or(0, |w| {
        let extra = w.poll_fds();
        let n = extra.len();
        fds.extend(extra);
        n
    });
    // While the OOM watch names a victim, its deadline bounds the wait.
    let timeout = match p.oom.and_then(Watch::deadline) {
        Some(at) => {
            // Rounded up: a wake-up just before the deadline would spin.
            let left = at.saturating_duration_since(Instant::now()) + Duration::from_micros(999);
            PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
        }
        None => PollTimeout::NONE,
    };
    match poll(&mut fds, timeout) {
        Ok(_) | Err(Errno::EINTR) => {}
        Err(errno) => return Err(Error::Call { op: "poll", errno }),
    }
    let hit = |i: Option<usize>| {
        i.and_then(|i| fds.get(i))
            .and_then(PollFd::revents)
            .is_some_and(|r| !r.is_empty())
    };
    Ok(Woke {
        exited: hit(Some(0)),
        stop: hit(stop_at),
        ready: hit(ready_at),
        status: hit(status_at),
        output: hit(output_at),
        oom_notified: oom_n > 0 && hit(Some(oom_at)),
        oom_logged: oom_n > 1 && hit(Some(oom_at + 1)),
    })
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
