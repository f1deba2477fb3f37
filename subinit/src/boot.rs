//! The boot: START entries (or the INIT script), then the services directory
//! in byte order, one start script at a time, supervised services launched
//! as they come; then readiness goes to the launcher.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use proto::ready::{Failure, ReadyReport};
use proto::status::ServiceState;

use crate::init::Init;
use crate::logging::SELF;
use crate::services::{Entry, Kind};

/// One thing to do at boot, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A script waited for; `stop` is what undoes it at shutdown.
    Script {
        tag: String,
        start: Vec<OsString>,
        stop: Option<Vec<OsString>>,
    },
    /// Supervised service N (index into `Init::services`).
    Supervise(usize),
}

pub struct Boot {
    queue: VecDeque<Step>,
    /// Stop actions of the scripts whose start was attempted, in start order.
    pub stop_actions: Vec<(String, Vec<OsString>)>,
    pub failures: Vec<Failure>,
    /// Each boot script and its state (starting, started, failed).
    pub scripts: Vec<(String, ServiceState)>,
    pub done: bool,
    began: Instant,
    ready_fd: Option<File>,
    /// A supervised service the boot waits for (its notification-fd), and
    /// until when.
    waiting: Option<(usize, Instant)>,
}

impl Boot {
    pub fn new(steps: Vec<Step>, ready_fd: Option<File>) -> Boot {
        Boot {
            queue: steps.into(),
            stop_actions: Vec::new(),
            failures: Vec::new(),
            scripts: Vec::new(),
            done: false,
            began: Instant::now(),
            ready_fd,
            waiting: None,
        }
    }

    /// Waits for supervised service `index` to report ready, at most `timeout`.
    pub fn wait_for(&mut self, index: usize, timeout: std::time::Duration) {
        self.waiting = Some((index, Instant::now() + timeout));
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

    /// Stop arrived before the boot finished: start nothing more, and tell
    /// the launcher nothing (it sees the readiness pipe close without "ready").
    pub fn cancel(&mut self) {
        if !self.done {
            log::warn!(target: SELF, "stop requested during boot: {} start steps skipped", self.queue.len());
            self.queue.clear();
            self.waiting = None;
            self.done = true;
            self.ready_fd = None;
        }
    }

    fn report_ready(&mut self) {
        let failed = self.failures.len();
        log::info!(
            target: SELF,
            "ready in {} ms ({failed} start action(s) failed)",
            self.began.elapsed().as_millis()
        );
        let Some(mut fd) = self.ready_fd.take() else {
            return;
        };
        let text = ReadyReport {
            failures: std::mem::take(&mut self.failures),
        }
        .encode();
        // The launcher may be gone (a killed caller): the subhost runs on.
        if let Err(err) = fd.write_all(text.as_bytes()) {
            log::warn!(target: SELF, "cannot report readiness: {err}");
        }
    }
}

impl Init {
    pub fn advance_boot(&mut self) {
        while !self.boot.done && self.foreground.is_none() && self.boot.waiting.is_none() {
            match self.boot.queue.pop_front() {
                Some(Step::Script { tag, start, stop }) => {
                    if let Some(stop) = stop {
                        self.boot.stop_actions.push((tag.clone(), stop));
                    }
                    let timeout = self.opts.script_timeout;
                    match self.start_foreground(&tag, &start, timeout) {
                        Ok(()) => self.boot.scripts.push((tag, ServiceState::Starting)),
                        Err(outcome) => {
                            self.boot.scripts.push((tag.clone(), ServiceState::Failed));
                            self.boot.failures.push(Failure { name: tag, outcome });
                        }
                    }
                }
                Some(Step::Supervise(index)) => self.start_service(index),
                None => {
                    self.boot.done = true;
                    self.status_changed = true;
                    self.boot.report_ready();
                    self.start_session();
                    crate::memory::release_clean_text();
                }
            }
        }
    }
}

/// The boot steps: the INIT script if given, else the START entries; then
/// the services directory's entries.
pub fn plan(start: &[OsString], init_script: Option<String>, services: &[Entry]) -> Vec<Step> {
    let mut steps: Vec<Step> = match init_script {
        Some(script) => vec![Step::Script {
            tag: "INIT".to_owned(),
            start: ["/bin/sh", "-c", &script, "INIT"]
                .map(OsString::from)
                .to_vec(),
            stop: None,
        }],
        None => start.iter().map(|entry| start_entry(entry)).collect(),
    };
    let mut supervised = 0;
    for entry in services {
        match entry.kind {
            Kind::Script => steps.push(script_step(&entry.name, &entry.path)),
            Kind::Supervised { .. } => {
                steps.push(Step::Supervise(supervised));
                supervised += 1;
            }
        }
    }
    steps
}

fn script_step(tag: &str, path: &Path) -> Step {
    let with = |action: &str| vec![OsString::from(path), OsString::from(action)];
    Step::Script {
        tag: tag.to_owned(),
        start: with("start"),
        stop: Some(with("stop")),
    }
}

/// `/path` runs as `/path start`; a name is a sysvinit service.
fn start_entry(entry: &OsStr) -> Step {
    let tag = entry.to_string_lossy();
    if entry.as_bytes().starts_with(b"/") {
        return script_step(&tag, Path::new(entry));
    }
    let with = |action: &str| match find_service_command() {
        Some(service) => vec![service.into(), entry.into(), action.into()],
        None => vec![Path::new("/etc/init.d").join(entry).into(), action.into()],
    };
    Step::Script {
        tag: tag.into_owned(),
        start: with("start"),
        stop: Some(with("stop")),
    }
}

/// sysvinit's `service` wrapper, looked up on the services' PATH.
fn find_service_command() -> Option<PathBuf> {
    [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
    .iter()
    .map(|dir| Path::new(dir).join("service"))
    .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    fn entry(name: &str, kind: Kind) -> Entry {
        Entry {
            name: name.into(),
            path: PathBuf::from("/s").join(name),
            kind,
        }
    }

    #[test]
    fn start_entries_then_services_in_order() {
        let supervised = Kind::Supervised {
            down: false,
            stop_signal: Signal::SIGTERM,
            finish: false,
            notify_fd: None,
        };
        let services = [
            entry("10-a", Kind::Script),
            entry("20-b", supervised.clone()),
            entry("30-c", Kind::Script),
            entry("40-d", supervised),
        ];
        let steps = plan(&["/opt/x".into()], None, &services);
        let tags: Vec<String> = steps
            .iter()
            .map(|s| match s {
                Step::Script { tag, .. } => tag.clone(),
                Step::Supervise(i) => format!("supervise {i}"),
            })
            .collect();
        assert_eq!(
            tags,
            ["/opt/x", "10-a", "supervise 0", "30-c", "supervise 1"]
        );
        let Step::Script { start, stop, .. } = &steps[0] else {
            panic!("script expected")
        };
        assert_eq!(start, &["/opt/x", "start"].map(OsString::from));
        assert_eq!(
            stop.as_deref(),
            Some(&["/opt/x", "stop"].map(OsString::from)[..])
        );
    }

    #[test]
    fn init_script_replaces_start_entries() {
        let steps = plan(&["ssh".into()], Some("echo hi".into()), &[]);
        assert_eq!(steps.len(), 1);
        let Step::Script { tag, start, stop } = &steps[0] else {
            panic!("script expected")
        };
        assert_eq!(tag, "INIT");
        assert_eq!(start[2], "echo hi");
        assert!(stop.is_none());
    }
}
