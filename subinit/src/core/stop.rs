//! The graceful stop, a small state machine whose every step has a
//! deadline: supervised services get their stop signal; the start scripts'
//! `stop` actions run in reverse order; every remaining process gets
//! SIGTERM; whatever is left when the stop budget (`--stop-timeout`, counted
//! from the request) runs out gets SIGKILL, sweep after sweep, until PID 1 is
//! alone. A step ends as soon as its condition holds, never by sleeping out
//! the budget. Pure: `now` and a view of the rest in, the next move out.
//!
//! Before the `stop` of a START entry that provides `$network` (Debian's
//! rc0 runs `sendsigs` before `networking`), once per stop: the sweep.
//! Every process but PID 1 and those in the omit list gets SIGTERM; the
//! stop waits until none is left, at most half of what is left of the
//! budget, then SIGKILLs the rest of them and runs that `stop`. So servers
//! close their connections while the network still carries the FIN.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::logging::SELF;

/// How often the SIGKILL sweep repeats while processes remain (some may not
/// be PID 1's children, such as entered sessions, and send no SIGCHLD).
pub const KILL_SWEEP: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Services,
    Scripts,
    /// The sweep before a `$network` entry's stop action.
    Sweep,
    Term,
    Kill,
}

/// What the rest of PID 1 looks like to the stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// A supervised service's `run` or `finish` is still running.
    pub services_busy: bool,
    /// A start or stop script is running.
    pub script_running: bool,
    /// A stop action is left to run.
    pub stop_actions_left: bool,
    /// The next stop action is a `$network` START entry's.
    pub network_next: bool,
    /// A census found no process left but PID 1 and the omitted ones.
    pub no_strays: bool,
    /// Every process but PID 1 is gone and reaped.
    pub nothing_left: bool,
}

/// The stop's next move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Nothing to do until an event or the deadline.
    Wait,
    /// A step ended; look again.
    Next,
    /// Start the next stop action (the last started script's first).
    RunStopAction,
    /// Send this signal to every remaining process.
    SignalAll(Signal),
    /// Send this signal to every process but PID 1 and the omitted ones.
    Sweep(Signal),
    /// Done: PID 1 may exit.
    Finished,
}

pub struct Stop {
    requested: Instant,
    deadline: Instant,
    step: Step,
    step_began: Instant,
    next_sweep: Option<Instant>,
    /// When the sweep gives up waiting (set once the sweep has begun).
    sweep_until: Option<Instant>,
    finished: bool,
}

impl Stop {
    pub fn new(now: Instant, budget: Duration) -> Stop {
        Stop {
            requested: now,
            deadline: now + budget,
            step: Step::Services,
            step_began: now,
            next_sweep: None,
            sweep_until: None,
            finished: false,
        }
    }

    pub fn finished(&self) -> bool {
        self.finished
    }

    /// When the budget runs out.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// What is left of the budget at `now`.
    pub fn left(&self, now: Instant) -> Duration {
        self.deadline.saturating_duration_since(now)
    }

    /// The census of processes matters (Term and Kill end when none is left).
    pub fn counts_processes(&self) -> bool {
        !self.finished && matches!(self.step, Step::Sweep | Step::Term | Step::Kill)
    }

    /// The sweep is under way: its census (processes left but the omitted)
    /// matters.
    pub fn sweeping(&self) -> bool {
        !self.finished && self.step == Step::Sweep
    }

    /// When to look again without an event: at the budget's end, at the
    /// next kill sweep, or soon when only processes that are not PID 1's
    /// children (entered sessions) remain, since their exit sends PID 1 no
    /// SIGCHLD. The sweep looks every `KILL_SWEEP` until its end, for the
    /// same reason (and PID 1's children it spares may keep running).
    pub fn wake_at(&self, now: Instant, no_children: bool) -> Option<Instant> {
        if self.finished {
            return None;
        }
        match self.step {
            Step::Kill => self.next_sweep,
            Step::Sweep => self.sweep_until.map(|until| until.min(now + KILL_SWEEP)),
            Step::Term if no_children => Some(self.deadline.min(now + KILL_SWEEP)),
            _ => Some(self.deadline),
        }
    }

    /// One move of the stop.
    pub fn next(&mut self, now: Instant, v: View) -> Move {
        if self.finished {
            return Move::Wait;
        }
        let over = now >= self.deadline;
        match self.step {
            Step::Services if over || !v.services_busy => {
                self.enter(Step::Scripts, now);
                Move::Next
            }
            Step::Scripts
                if !v.script_running && !over && v.network_next && self.sweep_until.is_none() =>
            {
                self.sweep_until = Some(now + self.left(now) / 2);
                self.enter(Step::Sweep, now);
                Move::Sweep(Signal::SIGTERM)
            }
            Step::Scripts if !v.script_running && !over && v.stop_actions_left => {
                Move::RunStopAction
            }
            Step::Sweep => self.sweep_step(now, v),
            Step::Scripts if !v.script_running => {
                self.enter(Step::Term, now);
                Move::SignalAll(Signal::SIGTERM)
            }
            Step::Term | Step::Kill if v.nothing_left => {
                self.finish(now);
                Move::Finished
            }
            Step::Term if over => self.kill(now),
            Step::Kill if self.next_sweep.is_some_and(|at| at <= now) => self.sweep(now),
            _ => Move::Wait,
        }
    }

    /// The sweep ends when no stray is left, or at its time, with SIGKILL
    /// to those left; then the stop actions go on.
    fn sweep_step(&mut self, now: Instant, v: View) -> Move {
        let until = self.sweep_until.unwrap_or(now);
        if v.no_strays || now >= self.deadline {
            self.enter(Step::Scripts, now);
            Move::Next
        } else if now >= until {
            self.enter(Step::Scripts, now);
            Move::Sweep(Signal::SIGKILL)
        } else {
            Move::Wait
        }
    }

    /// A second stop request: SIGKILL at once (unless already killing).
    pub fn again(&mut self, now: Instant) -> Move {
        if self.finished || self.step == Step::Kill {
            return Move::Wait;
        }
        self.kill(now)
    }

    fn kill(&mut self, now: Instant) -> Move {
        self.enter(Step::Kill, now);
        self.sweep(now)
    }

    fn sweep(&mut self, now: Instant) -> Move {
        self.next_sweep = Some(now + KILL_SWEEP);
        Move::SignalAll(Signal::SIGKILL)
    }

    fn enter(&mut self, next: Step, now: Instant) {
        log::info!(
            target: SELF,
            "stop step {:?} done in {} ms",
            self.step,
            now.saturating_duration_since(self.step_began).as_millis()
        );
        self.step = next;
        self.step_began = now;
    }

    fn finish(&mut self, now: Instant) {
        log::info!(
            target: SELF,
            "stop step {:?} done in {} ms; stopped in {} ms",
            self.step,
            now.saturating_duration_since(self.step_began).as_millis(),
            now.saturating_duration_since(self.requested).as_millis()
        );
        self.finished = true;
    }
}
