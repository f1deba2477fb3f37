//! The boot's bookkeeping: the steps left, the stop actions of the scripts
//! started, the failures and each script's state, and the one supervised
//! service the boot may be waiting for (its notification-fd).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::time::Instant;

use proto::ready::{Failure, ReadyReport};
use proto::status::ServiceState;
use proto::Outcome;

use super::plan::Step;

/// What undoes a boot script at shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopAction {
    pub tag: String,
    pub argv: Vec<OsString>,
    /// Its entry provides `$network`: the stop sweeps before it runs.
    pub network: bool,
}

pub struct Boot {
    queue: VecDeque<Step>,
    /// Stop actions of the scripts whose start was attempted, in start order.
    stop_actions: Vec<StopAction>,
    failures: Vec<Failure>,
    /// Each boot script and its state (starting, started, failed).
    scripts: Vec<(String, ServiceState)>,
    done: bool,
    began: Instant,
    /// A supervised service the boot waits for, and until when.
    waiting: Option<(usize, Instant)>,
}

impl Boot {
    pub fn new(steps: Vec<Step>, now: Instant) -> Boot {
        Boot {
            queue: steps.into(),
            stop_actions: Vec::new(),
            failures: Vec::new(),
            scripts: Vec::new(),
            done: false,
            began: now,
            waiting: None,
        }
    }

    pub fn done(&self) -> bool {
        self.done
    }

    pub fn scripts(&self) -> &[(String, ServiceState)] {
        &self.scripts
    }

    /// The next step, if the boot may take one now; keeps the script's
    /// stop action for the shutdown.
    pub fn next_step(&mut self, script_running: bool) -> Option<Step> {
        if self.done || script_running || self.waiting.is_some() {
            return None;
        }
        let step = self.queue.pop_front()?;
        if let Step::Script {
            tag,
            stop: Some(stop),
            network,
            ..
        } = &step
        {
            self.stop_actions.push(StopAction {
                tag: tag.clone(),
                argv: stop.clone(),
                network: *network,
            });
        }
        Some(step)
    }

    /// No step is left and nothing is waited for: the boot is over; the
    /// report for the launcher.
    pub fn finish(&mut self, script_running: bool, now: Instant) -> Option<ReadyReport> {
        if self.done || script_running || self.waiting.is_some() || !self.queue.is_empty() {
            return None;
        }
        self.done = true;
        log::info!(
            target: crate::logging::SELF,
            "ready in {} ms ({} start action(s) failed)",
            now.saturating_duration_since(self.began).as_millis(),
            self.failures.len()
        );
        Some(ReadyReport {
            failures: std::mem::take(&mut self.failures),
        })
    }

    /// A boot script started (or could not be executed: `Err`).
    pub fn script_started(&mut self, tag: &str, result: Result<(), Outcome>) {
        match result {
            Ok(()) => self.scripts.push((tag.to_owned(), ServiceState::Starting)),
            Err(outcome) => {
                self.scripts.push((tag.to_owned(), ServiceState::Failed));
                self.fail(tag, outcome);
            }
        }
    }

    /// The boot script `tag` ended.
    pub fn script_ended(&mut self, tag: &str, outcome: Outcome) {
        if let Some(entry) = self.scripts.last_mut().filter(|(t, _)| t == tag) {
            entry.1 = if outcome.is_success() {
                ServiceState::Started
            } else {
                ServiceState::Failed
            };
        }
        if !outcome.is_success() {
            self.fail(tag, outcome);
        }
    }

    pub fn fail(&mut self, name: &str, outcome: Outcome) {
        self.failures.push(Failure {
            name: name.to_owned(),
            outcome,
        });
    }

    /// The next stop action, last started first.
    pub fn pop_stop_action(&mut self) -> Option<StopAction> {
        self.stop_actions.pop()
    }

    /// The stop action `pop_stop_action` would return.
    pub fn next_stop_action(&self) -> Option<&StopAction> {
        self.stop_actions.last()
    }

    /// Waits for supervised service `index` to report ready, until `until`.
    pub fn wait_for(&mut self, index: usize, until: Instant) {
        self.waiting = Some((index, until));
    }

    /// Ends the wait for `index`; true if the boot was waiting for it.
    pub fn stop_waiting_for(&mut self, index: usize) -> bool {
        self.waiting.take_if(|(i, _)| *i == index).is_some()
    }

    pub fn waiting_deadline(&self) -> Option<Instant> {
        self.waiting.map(|(_, at)| at)
    }

    /// The service waited for past its deadline (the wait then ends).
    pub fn overdue(&mut self, now: Instant) -> Option<usize> {
        self.waiting.take_if(|(_, at)| *at <= now).map(|(i, _)| i)
    }

    /// Stop arrived before the boot finished: start nothing more; true if
    /// the boot was cut short (the launcher then gets no report).
    pub fn cancel(&mut self) -> bool {
        if self.done {
            return false;
        }
        log::warn!(target: crate::logging::SELF, "stop requested during boot: {} start steps skipped", self.queue.len());
        self.queue.clear();
        self.waiting = None;
        self.done = true;
        true
    }
}
