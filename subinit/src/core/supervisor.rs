//! The supervised services as a whole: which one is due for a restart,
//! whether any still runs, their stop signals, their answers and exits.

use std::time::Instant;

use nix::unistd::Pid;
use proto::Outcome;

use super::action::{Action, Launch};
use super::service::Service;

pub struct Supervisor {
    services: Vec<Service>,
}

impl Supervisor {
    pub fn new(services: Vec<Service>) -> Supervisor {
        Supervisor { services }
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    pub fn name(&self, index: usize) -> String {
        let service = self.services.get(index);
        service.map(|s| s.name.clone()).unwrap_or_default()
    }

    /// A `run` or `finish` still runs.
    pub fn busy(&self) -> bool {
        self.services.iter().any(Service::busy)
    }

    pub fn restart_deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.services.iter().filter_map(Service::restart_at)
    }

    /// Service `index`'s `run` to launch (None when it is `down`).
    pub fn launch(&mut self, index: usize) -> Option<Launch> {
        self.services.get_mut(index)?.launch(index)
    }

    /// The first service whose backoff has run out, to launch.
    pub fn due(&mut self, now: Instant) -> Option<Launch> {
        let index = self.services.iter().position(|s| s.due(now))?;
        self.launch(index)
    }

    pub fn started(&mut self, index: usize, pid: Option<Pid>, now: Instant) {
        if let Some(service) = self.services.get_mut(index) {
            service.started(pid, now);
        }
    }

    pub fn finish_started(&mut self, index: usize, pid: Option<Pid>) {
        if let Some(service) = self.services.get_mut(index) {
            service.finish_started(pid);
        }
    }

    pub fn finish_ended(&mut self, index: usize) {
        if let Some(service) = self.services.get_mut(index) {
            service.finish_ended();
        }
    }

    /// `run` of `index` ended: its `finish` to launch, if any.
    pub fn exited(
        &mut self,
        index: usize,
        outcome: Outcome,
        now: Instant,
        stopping: bool,
    ) -> Option<Launch> {
        let service = self.services.get_mut(index)?;
        service.exited(index, outcome, now, stopping)
    }

    pub fn log_ready(&self, index: usize, now: Instant) {
        if let Some(service) = self.services.get(index) {
            service.log_ready(now);
        }
    }

    /// The stop: no more restarts, and each running `run` its stop signal.
    pub fn stop_all(&mut self) -> Vec<Action> {
        let signals = self.services.iter_mut().filter_map(Service::stop);
        signals
            .map(|(pid, signal)| Action::Signal { pid, signal })
            .collect()
    }
}
