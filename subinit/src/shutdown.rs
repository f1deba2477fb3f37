//! The graceful stop, a small state machine whose every step has a
//! deadline: supervised services get their stop signal; the start scripts'
//! `stop` actions run in reverse order; every remaining process gets
//! SIGTERM; whatever is left when the stop budget (`--stop-timeout`, counted
//! from the request) runs out gets SIGKILL, sweep after sweep, until PID 1 is
//! alone. Each step is logged with its duration; a step ends as soon as its
//! condition holds, never by sleeping out the budget.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{getpid, Pid};

use crate::init::Init;
use crate::logging::SELF;
use crate::procs;

/// How often the SIGKILL sweep repeats while processes remain (some may not
/// be PID 1's children, such as entered sessions, and send no SIGCHLD).
const KILL_SWEEP: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Services,
    Scripts,
    Term,
    Kill,
}

pub struct Stop {
    requested: Instant,
    deadline: Instant,
    step: Step,
    step_began: Instant,
    next_sweep: Option<Instant>,
    pub finished: bool,
}

impl Init {
    pub fn request_stop(&mut self, why: &str) {
        if let Some(stop) = &mut self.stop {
            if stop.step != Step::Kill {
                log::warn!(target: SELF, "{why} again: killing everything now");
                self.enter_step(Step::Kill);
            }
            return;
        }
        log::info!(target: SELF, "{why}: stopping (budget {} s)", self.opts.stop_timeout.as_secs_f32());
        self.boot.cancel();
        self.status_changed = true;
        // Refresh `no_children`: a subhost with nothing running stops at once.
        self.reap();
        let now = Instant::now();
        let deadline = now + self.opts.stop_timeout;
        // A start script still running may finish, within the stop budget.
        if let Some(fg) = &mut self.foreground {
            fg.deadline = fg.deadline.min(deadline);
        }
        self.stop = Some(Stop {
            requested: now,
            deadline,
            step: Step::Services,
            step_began: now,
            next_sweep: None,
            finished: false,
        });
        self.signal_services();
    }

    /// When the stop wants to look again without an event: at the budget's
    /// end, at the next kill sweep, or soon when only processes that are not
    /// PID 1's children (entered sessions) remain, since their exit sends
    /// PID 1 no SIGCHLD.
    pub fn stop_deadline(&self) -> Option<Instant> {
        let stop = self.stop.as_ref().filter(|s| !s.finished)?;
        match stop.step {
            Step::Kill => stop.next_sweep,
            Step::Term if self.no_children => Some(stop.deadline.min(Instant::now() + KILL_SWEEP)),
            _ => Some(stop.deadline),
        }
    }

    pub fn advance_stop(&mut self, now: Instant) {
        while let Some(stop) = &self.stop {
            if stop.finished {
                return;
            }
            let over = now >= stop.deadline;
            match stop.step {
                Step::Services if over || !self.services.iter().any(|s| s.busy()) => {
                    self.enter_step(Step::Scripts)
                }
                Step::Scripts if self.foreground.is_none() => {
                    if over || !self.run_next_stop_action() {
                        self.enter_step(Step::Term);
                    }
                }
                Step::Term if self.nothing_left() => self.finish(),
                Step::Term if over => self.enter_step(Step::Kill),
                Step::Kill if self.nothing_left() => self.finish(),
                Step::Kill if stop.next_sweep.is_some_and(|at| at <= now) => self.sweep(),
                _ => return,
            }
        }
    }

    /// Starts the next stop action; false when none is left.
    fn run_next_stop_action(&mut self) -> bool {
        while let Some((tag, argv)) = self.boot.stop_actions.pop() {
            let left = self.stop.as_ref().map_or(Duration::ZERO, |s| {
                s.deadline.saturating_duration_since(Instant::now())
            });
            let timeout = self.opts.script_timeout.min(left);
            if self
                .start_foreground(&format!("{tag} stop"), &argv, timeout)
                .is_ok()
            {
                return true;
            }
        }
        false
    }

    fn enter_step(&mut self, next: Step) {
        let Some(stop) = &mut self.stop else { return };
        log::info!(
            target: SELF,
            "stop step {:?} done in {} ms",
            stop.step,
            stop.step_began.elapsed().as_millis()
        );
        stop.step = next;
        stop.step_began = Instant::now();
        match next {
            Step::Term => self.signal_all(Signal::SIGTERM),
            Step::Kill => self.sweep(),
            Step::Services | Step::Scripts => {}
        }
    }

    fn sweep(&mut self) {
        self.signal_all(Signal::SIGKILL);
        if let Some(stop) = &mut self.stop {
            stop.next_sweep = Some(Instant::now() + KILL_SWEEP);
        }
    }

    fn finish(&mut self) {
        let Some(stop) = &mut self.stop else { return };
        log::info!(
            target: SELF,
            "stop step {:?} done in {} ms; stopped in {} ms",
            stop.step,
            stop.step_began.elapsed().as_millis(),
            stop.requested.elapsed().as_millis()
        );
        stop.finished = true;
    }

    /// Every process but PID 1 is gone (and reaped).
    fn nothing_left(&self) -> bool {
        self.no_children && (!self.is_pid1 || procs::alone_in_namespace())
    }

    /// As PID 1, `kill(-1)` reaches every process of the namespace but
    /// itself. As a subreaper it would reach the whole host, so the
    /// descendants are signalled one by one instead.
    fn signal_all(&self, sig: Signal) {
        let result = if self.is_pid1 {
            kill(Pid::from_raw(-1), sig)
        } else {
            procs::descendants(getpid())
                .into_iter()
                .try_for_each(|pid| match kill(pid, sig) {
                    // Gone since the table was read.
                    Err(Errno::ESRCH) | Ok(()) => Ok(()),
                    Err(err) => Err(err),
                })
        };
        match result {
            // Nobody left to signal.
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(err) => log::warn!(target: SELF, "sending {sig} to all: {err}"),
        }
    }
}
