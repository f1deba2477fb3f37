//! PID 1's decisions in one place: the boot, the supervised services, the
//! one script waited for, the session and the stop, driven by `now` and the
//! facts the runtime reports (a child started, a child ended, a stop was
//! requested, a service said it is ready). Every decision comes out as an
//! `Action` for the runtime; nothing here makes a system call.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use proto::status::Snapshot;
use proto::Outcome;

pub use super::action::Config;
use super::action::{Action, Facts, Launch, Role, Started};
use super::boot::Boot;
use super::foreground::{Foreground, Pending};
use super::plan::Step;
use super::service::Service;
use super::session::Session;
use super::snapshot::snapshot;
use super::stop::{Move, Stop, View};
use super::supervisor::Supervisor;
use crate::logging::SELF;

pub struct Machine {
    cfg: Config,
    boot: Boot,
    services: Supervisor,
    foreground: Option<Foreground>,
    pending: Option<Pending>,
    stop: Option<Stop>,
    session: Option<Session>,
    facts: Facts,
    out: Vec<Action>,
    /// Something a status snapshot shows may have changed.
    changed: bool,
}

impl Machine {
    pub fn new(
        cfg: Config,
        steps: Vec<Step>,
        services: Vec<Service>,
        session: bool,
        now: Instant,
    ) -> Machine {
        Machine {
            cfg,
            boot: Boot::new(steps, now),
            services: Supervisor::new(services),
            foreground: None,
            pending: None,
            stop: None,
            session: session.then(Session::default),
            facts: Facts::default(),
            out: Vec::new(),
            changed: true,
        }
    }

    /// Moves every part as far as it can go now; the actions to take. A
    /// `Spawn` is answered with `started` before the next call.
    pub fn advance(&mut self, now: Instant, facts: Facts) -> Vec<Action> {
        self.facts = facts;
        self.check_foreground(now);
        self.check_ready_wait(now);
        if !self.restart_due(now) && !self.advance_boot(now) {
            self.advance_stop(now);
        }
        std::mem::take(&mut self.out)
    }

    /// When to look again if nothing happens before.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let fg = self.foreground.as_ref().and_then(Foreground::deadline);
        let restarts = self.services.restart_deadlines();
        let stop = self
            .stop
            .as_ref()
            .and_then(|s| s.wake_at(now, self.facts.no_children));
        fg.into_iter()
            .chain(restarts)
            .chain(stop)
            .chain(self.boot.waiting_deadline())
            .min()
    }

    /// The stop needs to know whether any process but PID 1 is left.
    pub fn wants_census(&self) -> bool {
        self.stop.as_ref().is_some_and(Stop::counts_processes)
    }

    /// The stop's sweep wants to know whether any process is left but
    /// PID 1 and the omitted ones (`Facts::no_strays`).
    pub fn wants_stray_census(&self) -> bool {
        self.stop.as_ref().is_some_and(Stop::sweeping)
    }

    /// The exit status once the stop is done: the session's, or 0.
    pub fn exit_status(&self) -> Option<i32> {
        let done = self.stop.as_ref().is_some_and(Stop::finished);
        done.then(|| self.session.as_ref().and_then(Session::status).unwrap_or(0))
    }

    /// A new snapshot if anything shown may have changed since the last.
    pub fn take_snapshot(&mut self) -> Option<Snapshot> {
        std::mem::take(&mut self.changed)
            .then(|| snapshot(&self.boot, self.services.services(), self.stop.is_some()))
    }

    /// The answer to a `Spawn` or `StartSession`.
    pub fn started(&mut self, role: Role, result: Started, now: Instant) {
        self.changed = true;
        match role {
            Role::Foreground => self.script_started(result, now),
            Role::Run(i) => {
                self.services.started(i, result.pid(), now);
                if result.notifying() && !self.boot.done() {
                    // The boot goes on once it says it is ready.
                    self.boot.wait_for(i, now + self.cfg.script_timeout);
                }
            }
            Role::Finish(i) => self.services.finish_started(i, result.pid()),
            Role::Session => {
                if let (Started::Failed(outcome), Some(session)) = (result, &mut self.session) {
                    session.failed(outcome);
                    self.request_stop("session command failed", now);
                }
            }
        }
    }

    /// A tracked child ended.
    pub fn exited(&mut self, role: Role, pid: Pid, outcome: Outcome, now: Instant) {
        self.changed = true;
        match role {
            Role::Foreground => {
                let Some(fg) = self.foreground.take_if(|f| f.pid == pid) else {
                    return;
                };
                let outcome = fg.ended(outcome, now);
                if self.stop.is_none() {
                    if let (false, Some(caps)) = (outcome.is_success(), self.cfg.removed_caps) {
                        log::warn!(target: SELF, "{}: if it failed on \"Operation not permitted\" (EPERM), \
                            the capability it needs may be one SECURITY=hardened removed: {caps}", fg.tag);
                    }
                    self.boot.script_ended(&fg.tag, outcome);
                }
            }
            Role::Run(i) => self.run_exited(i, outcome, now),
            Role::Finish(i) => self.services.finish_ended(i),
            Role::Session => {
                let ended = self.session.as_mut().is_some_and(|s| s.ended(outcome));
                // During a stop (its sweep or final SIGTERM ended it) this
                // is no second stop request.
                if ended && self.stop.is_none() {
                    self.request_stop("session ended", now);
                }
            }
        }
    }

    /// Supervised service `index` wrote its readiness line.
    pub fn service_ready(&mut self, index: usize, now: Instant) {
        if self.boot.stop_waiting_for(index) {
            self.services.log_ready(index, now);
        }
    }

    /// A stop signal (`why` names it), or the session's end. The runtime
    /// reaps first, so that `no_children` is current.
    pub fn request_stop(&mut self, why: &str, now: Instant) {
        if let Some(stop) = &mut self.stop {
            if let Move::SignalAll(sig) = stop.again(now) {
                log::warn!(target: SELF, "{why} again: killing everything now");
                self.out.push(Action::SignalAll(sig));
            }
            return;
        }
        log::info!(target: SELF, "{why}: stopping (budget {} s)", self.cfg.stop_timeout.as_secs_f32());
        if self.boot.cancel() {
            self.out.push(Action::CancelReady);
        }
        self.changed = true;
        let stop = Stop::new(now, self.cfg.stop_timeout);
        // A start script still running may finish, within the stop budget.
        if let Some(fg) = &mut self.foreground {
            fg.cut_to(stop.deadline());
        }
        self.stop = Some(stop);
        let signals = self.services.stop_all();
        self.out.extend(signals);
    }

    fn script_started(&mut self, result: Started, now: Instant) {
        let Some(p) = self.pending.take() else { return };
        let outcome = match result {
            Started::Running { pid, .. } => {
                self.foreground = Some(Foreground::new(pid, p.tag.clone(), now, p.timeout));
                Ok(())
            }
            Started::Failed(outcome) => Err(outcome),
        };
        if p.boot {
            self.boot.script_started(&p.tag, outcome);
        }
    }

    fn run_exited(&mut self, index: usize, outcome: Outcome, now: Instant) {
        if self.boot.stop_waiting_for(index) {
            let name = self.services.name(index);
            log::warn!(target: SELF, "{name}: exited before it was ready");
            self.boot.fail(&name, outcome);
        }
        let stopping = self.stop.is_some();
        if let Some(finish) = self.services.exited(index, outcome, now, stopping) {
            self.out.push(Action::Spawn(finish));
        }
    }

    fn check_foreground(&mut self, now: Instant) {
        if let Some(fg) = self.foreground.as_mut() {
            if fg.overdue(now) {
                // Its own session, so its group holds what it started and did not detach.
                self.out.push(Action::KillGroup(fg.pid));
            }
        }
    }

    /// A notifying service that has not said it is ready in time: counted
    /// as failed, and the boot goes on (the service keeps running).
    fn check_ready_wait(&mut self, now: Instant) {
        let Some(index) = self.boot.overdue(now) else {
            return;
        };
        let name = self.services.name(index);
        log::warn!(target: SELF, "{name}: not ready at its timeout; the boot goes on");
        self.boot.fail(&name, Outcome::Timeout);
        self.changed = true;
    }

    /// Starts a service whose backoff has run out; true if it asked for one.
    fn restart_due(&mut self, now: Instant) -> bool {
        if self.stop.is_some() {
            return false;
        }
        let launch = self.services.due(now);
        self.spawn(launch)
    }

    /// Takes boot steps until one needs an answer; true then.
    fn advance_boot(&mut self, now: Instant) -> bool {
        let script_running = self.foreground.is_some();
        while let Some(step) = self.boot.next_step(script_running) {
            let launch = match step {
                Step::Script { tag, start, .. } => {
                    self.script(tag, start, self.cfg.script_timeout, true)
                }
                Step::Supervise(i) => self.services.launch(i),
            };
            if self.spawn(launch) {
                return true;
            }
        }
        let Some(report) = self.boot.finish(script_running, now) else {
            return false;
        };
        self.changed = true;
        self.out.push(Action::ReportReady(report));
        if self.session.is_some() {
            self.out.push(Action::StartSession);
        }
        self.out.push(Action::BootDone);
        true
    }

    fn advance_stop(&mut self, now: Instant) {
        loop {
            let next_action = self.boot.next_stop_action();
            let view = View {
                services_busy: self.services.busy(),
                script_running: self.foreground.is_some(),
                stop_actions_left: next_action.is_some(),
                network_next: next_action.is_some_and(|a| a.network),
                no_strays: self.facts.no_strays,
                nothing_left: self.facts.nothing_left,
            };
            let Some(stop) = self.stop.as_mut() else {
                return;
            };
            match stop.next(now, view) {
                Move::Wait | Move::Finished => return,
                Move::Next => {}
                Move::SignalAll(sig) => self.out.push(Action::SignalAll(sig)),
                Move::Sweep(sig) => {
                    let tag = self.boot.next_stop_action().map(|a| a.tag.as_str());
                    let before = tag.unwrap_or_default();
                    log::info!(target: SELF, "{sig} to every process left but the omitted, before `{before} stop` (sendsigs)");
                    self.out.push(Action::Sweep(sig));
                }
                Move::RunStopAction => {
                    let left = stop.left(now);
                    let launch = self.boot.pop_stop_action().and_then(|a| {
                        let timeout = self.cfg.script_timeout.min(left);
                        self.script(format!("{} stop", a.tag), a.argv, timeout, false)
                    });
                    self.spawn(launch);
                    return;
                }
            }
        }
    }

    /// A script to wait for: its launch, remembered until it is answered.
    fn script(
        &mut self,
        tag: String,
        argv: Vec<OsString>,
        timeout: Duration,
        boot: bool,
    ) -> Option<Launch> {
        let (pending, launch) = Pending::script(tag, argv, timeout, boot);
        self.pending = Some(pending);
        Some(launch)
    }

    fn spawn(&mut self, launch: Option<Launch>) -> bool {
        let Some(launch) = launch else { return false };
        self.out.push(Action::Spawn(launch));
        true
    }
}
