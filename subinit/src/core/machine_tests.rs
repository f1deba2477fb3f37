//! The core's decisions with fake time: a harness plays the runtime (pids,
//! exits, the process census) and records every action as a line.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use proto::status::ServiceState;
use proto::Outcome;

use super::action::{Action, Facts, Role, Started};
use super::machine::{Config, Machine};
use super::plan::{plan, Entry, Kind};
use super::service::Service;

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(3);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

struct Harness {
    m: Machine,
    t0: Instant,
    now: Instant,
    next_pid: i32,
    running: HashMap<String, (Pid, Role)>,
    /// Processes that are not PID 1's children (entered sessions).
    strangers: bool,
    /// Tags whose spawn fails (exit:127).
    missing: Vec<String>,
    /// Tags of running processes whose pids are in the omit list.
    omitted: Vec<String>,
    log: Vec<String>,
}

fn supervised(name: &str, stop_signal: Signal, finish: bool, notify_fd: Option<i32>) -> Entry {
    Entry {
        name: name.into(),
        path: PathBuf::from("/sv").join(name),
        kind: Kind::Supervised {
            down: false,
            stop_signal,
            finish,
            notify_fd,
        },
    }
}

impl Harness {
    fn new(start: &[&str], entries: &[Entry], session: bool) -> Harness {
        let start: Vec<OsString> = start.iter().map(OsString::from).collect();
        let t0 = Instant::now();
        let cfg = Config {
            script_timeout: SCRIPT_TIMEOUT,
            stop_timeout: STOP_TIMEOUT,
            removed_caps: None,
        };
        let steps = plan(&start, None, entries, None, &|_| false);
        let services = Service::from_entries(entries, t0);
        Harness {
            m: Machine::new(cfg, steps, services, session, t0),
            t0,
            now: t0,
            next_pid: 100,
            running: HashMap::new(),
            strangers: false,
            missing: Vec::new(),
            omitted: Vec::new(),
            log: Vec::new(),
        }
    }

    /// Lets the core act at `ms` after the start; the actions taken.
    fn at(&mut self, ms: u64) -> Vec<String> {
        self.now = self.t0 + Duration::from_millis(ms);
        self.settle()
    }

    /// As `runtime::event_loop` does: again only after a start or when
    /// the census is newly wanted.
    fn settle(&mut self) -> Vec<String> {
        let before = self.log.len();
        loop {
            let no_children = self.running.is_empty();
            let had_census = self.m.wants_census();
            let sweeping = self.m.wants_stray_census();
            let strays = self.running.keys().any(|t| !self.omitted.contains(t));
            let facts = Facts {
                no_children,
                nothing_left: had_census && no_children && !self.strangers,
                no_strays: sweeping && !strays && !self.strangers,
            };
            let actions = self.m.advance(self.now, facts);
            let mut again = !had_census && self.m.wants_census();
            for action in actions {
                again |= matches!(action, Action::Spawn(_) | Action::StartSession);
                self.execute(action);
            }
            if !again {
                return self.log[before..].to_vec();
            }
        }
    }

    fn execute(&mut self, action: Action) {
        let line = match action {
            Action::Spawn(launch) => {
                let argv: Vec<String> = launch
                    .argv
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                let started = self.start(&launch.tag, launch.role, launch.notify_fd.is_some());
                self.m.started(launch.role, started, self.now);
                format!("spawn {}", argv.join(" "))
            }
            Action::StartSession => {
                let started = self.start("session", Role::Session, false);
                self.m.started(Role::Session, started, self.now);
                "session".into()
            }
            Action::Signal { pid, signal } => format!("signal {} {signal}", self.tag(pid)),
            Action::KillGroup(pid) => format!("killpg {}", self.tag(pid)),
            Action::SignalAll(sig) => format!("all {sig}"),
            Action::Sweep(sig) => format!("sweep {sig}"),
            Action::ReportReady(r) => {
                format!("report {}", r.encode().trim_end().replace('\n', " / "))
            }
            Action::CancelReady => "cancel ready".into(),
            Action::BootDone => "boot done".into(),
        };
        self.log.push(line);
    }

    fn start(&mut self, tag: &str, role: Role, notifying: bool) -> Started {
        if self.missing.iter().any(|m| m == tag) {
            return Started::Failed(Outcome::Exit(127));
        }
        self.next_pid += 1;
        let pid = Pid::from_raw(self.next_pid);
        self.running.insert(tag.to_owned(), (pid, role));
        Started::Running { pid, notifying }
    }

    fn tag(&self, pid: Pid) -> String {
        let found = self.running.iter().find(|(_, (p, _))| *p == pid);
        found
            .map(|(t, _)| t.clone())
            .unwrap_or_else(|| format!("pid {pid}"))
    }

    /// The child tagged `tag` ends with `outcome` at `ms`.
    fn exit(&mut self, tag: &str, outcome: Outcome, ms: u64) -> Vec<String> {
        self.now = self.t0 + Duration::from_millis(ms);
        let (pid, role) = self
            .running
            .remove(tag)
            .unwrap_or_else(|| panic!("{tag} is not running"));
        self.m.exited(role, pid, outcome, self.now);
        self.settle()
    }

    fn stop(&mut self, ms: u64) -> Vec<String> {
        self.now = self.t0 + Duration::from_millis(ms);
        self.m.request_stop("SIGTERM", self.now);
        self.settle()
    }

    fn states(&mut self) -> Vec<(String, ServiceState, u64)> {
        let snap = self.m.take_snapshot().expect("a change to show");
        snap.services
            .into_iter()
            .map(|s| (s.name, s.state, s.restarts))
            .collect()
    }

    fn ms(&self, at: Option<Instant>) -> Option<u64> {
        at.map(|a| a.duration_since(self.t0).as_millis() as u64)
    }
}

const OK: Outcome = Outcome::Exit(0);

/// Boots START /a /b and supervised s1 (stop signal QUIT) and s2.
fn booted() -> Harness {
    let entries = [
        supervised("s1", Signal::SIGQUIT, false, None),
        supervised("s2", Signal::SIGTERM, false, None),
    ];
    let mut h = Harness::new(&["/a", "/b"], &entries, false);
    assert_eq!(h.at(0), ["spawn /a start"]);
    assert_eq!(h.exit("/a", OK, 5), ["spawn /b start"]);
    assert_eq!(
        h.exit("/b", OK, 9),
        [
            "spawn /sv/s1/run",
            "spawn /sv/s2/run",
            "report ready 0",
            "boot done"
        ]
    );
    h
}

#[test]
fn boot_runs_each_step_in_turn_and_reports_failures() {
    let mut h = Harness::new(&["/a", "/gone", "/b"], &[], false);
    h.missing.push("/gone".into());
    assert_eq!(h.at(0), ["spawn /a start"]);
    assert_eq!(h.at(100), Vec::<String>::new(), "nothing while /a runs");
    assert_eq!(
        h.exit("/a", Outcome::Exit(1), 200),
        ["spawn /gone start", "spawn /b start"]
    );
    assert_eq!(
        h.exit("/b", Outcome::Signal(9), 300),
        [
            "report ready 3 / failed /a exit:1 / failed /gone exit:127 / failed /b signal:9",
            "boot done"
        ]
    );
    let failed = ServiceState::Failed;
    assert_eq!(
        h.states(),
        [
            ("/a".into(), failed, 0),
            ("/gone".into(), failed, 0),
            ("/b".into(), failed, 0)
        ]
    );
}

#[test]
fn whole_stop_sequence_in_order() {
    let mut h = booted();
    assert_eq!(h.stop(1000), ["signal s1 SIGQUIT", "signal s2 SIGTERM"]);
    assert_eq!(
        h.exit("s1", Outcome::Signal(3), 1010),
        Vec::<String>::new(),
        "s2 still runs"
    );
    // Services done: the stop actions in reverse START order, one at a time.
    assert_eq!(h.exit("s2", OK, 1020), ["spawn /b stop"]);
    assert_eq!(h.exit("/b stop", OK, 1030), ["spawn /a stop"]);
    h.running
        .insert("straggler".into(), (Pid::from_raw(7), Role::Run(99)));
    assert_eq!(h.exit("/a stop", OK, 1040), ["all SIGTERM"]);
    assert_eq!(h.m.exit_status(), None);
    // The last process ends: done at once, without waiting out the budget.
    h.running.clear();
    assert_eq!(h.at(1050), Vec::<String>::new());
    assert_eq!(h.m.exit_status(), Some(0));
    assert_eq!(h.m.next_deadline(h.now), None);
}

#[test]
fn one_budget_for_the_whole_stop_then_kill_sweeps() {
    let mut h = booted();
    assert_eq!(h.stop(1000), ["signal s1 SIGQUIT", "signal s2 SIGTERM"]);
    // s1 ignores its signal; nothing happens until the budget is spent.
    h.exit("s2", OK, 1100);
    let wait_for_s1 = h.log.last().cloned();
    assert_eq!(wait_for_s1.as_deref(), Some("signal s2 SIGTERM"));
    assert_eq!(h.ms(h.m.next_deadline(h.now)), Some(11_000));
    assert_eq!(h.at(10_999), Vec::<String>::new());
    // Budget spent: no stop script runs, TERM then KILL to all at once.
    assert_eq!(h.at(11_000), ["all SIGTERM", "all SIGKILL"]);
    // KILL sweeps repeat while anything is left.
    assert_eq!(h.ms(h.m.next_deadline(h.now)), Some(11_010));
    assert_eq!(h.at(11_005), Vec::<String>::new());
    assert_eq!(h.at(11_010), ["all SIGKILL"]);
    h.exit("s1", Outcome::Signal(9), 11_012);
    assert_eq!(h.m.exit_status(), Some(0));
}

#[test]
fn a_second_stop_signal_kills_at_once() {
    let mut h = booted();
    h.stop(1000);
    assert_eq!(h.stop(1001), ["all SIGKILL"]);
    assert_eq!(h.stop(1002), Vec::<String>::new(), "already killing");
    h.running.clear();
    assert_eq!(h.at(1003), Vec::<String>::new());
    assert_eq!(h.m.exit_status(), Some(0));
}

#[test]
fn hanging_stop_scripts_are_killed_at_their_timeout_cut_to_the_budget() {
    let mut h = Harness::new(&["/a", "/b", "/c", "/d"], &[], false);
    h.at(0);
    for (tag, ms) in [("/a", 1), ("/b", 2), ("/c", 3), ("/d", 4)] {
        h.exit(tag, OK, ms);
    }
    assert_eq!(h.stop(1000), ["spawn /d stop"]);
    // Each hangs: killed at the script timeout (3 s), and the stop goes on.
    assert_eq!(h.ms(h.m.next_deadline(h.now)), Some(4000));
    assert_eq!(h.at(4000), ["killpg /d stop"]);
    assert_eq!(
        h.exit("/d stop", Outcome::Signal(9), 4001),
        ["spawn /c stop"]
    );
    assert_eq!(h.at(7001), ["killpg /c stop"]);
    assert_eq!(
        h.exit("/c stop", Outcome::Signal(9), 7002),
        ["spawn /b stop"]
    );
    assert_eq!(h.at(10_002), ["killpg /b stop"]);
    assert_eq!(
        h.exit("/b stop", Outcome::Signal(9), 10_003),
        ["spawn /a stop"]
    );
    // Less than the script timeout is left of the budget: cut to it.
    assert_eq!(h.ms(h.m.next_deadline(h.now)), Some(11_000));
    assert_eq!(h.at(11_000), ["killpg /a stop"]);
    assert_eq!(
        h.exit("/a stop", Outcome::Signal(9), 11_001),
        ["all SIGTERM", "all SIGKILL"]
    );
    assert_eq!(h.at(11_002), Vec::<String>::new());
    assert_eq!(h.m.exit_status(), Some(0));
}

#[test]
fn stop_during_boot_skips_the_rest_and_undoes_what_started() {
    let mut h = Harness::new(
        &["/a", "/b"],
        &[supervised("s", Signal::SIGTERM, false, None)],
        false,
    );
    assert_eq!(h.at(0), ["spawn /a start"]);
    assert_eq!(h.stop(10), ["cancel ready"]);
    // /a may finish within the budget; then only its stop action runs.
    assert_eq!(h.exit("/a", OK, 20), ["spawn /a stop"]);
    assert_eq!(h.exit("/a stop", OK, 30), ["all SIGTERM"]);
    assert_eq!(h.m.exit_status(), Some(0));
    // A start script cut to the stop budget.
    let mut h = Harness::new(&["/slow"], &[], false);
    h.at(0);
    h.stop(2000);
    assert_eq!(
        h.ms(h.m.next_deadline(h.now)),
        Some(3000),
        "script timeout first"
    );
}

#[test]
fn crash_loops_back_off_then_show_as_failing() {
    let mut h = Harness::new(&[], &[supervised("s", Signal::SIGTERM, false, None)], false);
    assert_eq!(h.at(0), ["spawn /sv/s/run", "report ready 0", "boot done"]);
    let mut at = 0;
    for (n, delay) in [1000, 2000, 4000, 8000, 16000].into_iter().enumerate() {
        assert_eq!(h.exit("s", Outcome::Exit(1), at + 10), Vec::<String>::new());
        assert_eq!(h.ms(h.m.next_deadline(h.now)), Some(at + 10 + delay));
        let state = if n < 4 {
            ServiceState::Restarting
        } else {
            ServiceState::Failing
        };
        assert_eq!(h.states(), [("s".into(), state, n as u64)]);
        at += 10 + delay;
        assert_eq!(h.at(at), ["spawn /sv/s/run"]);
    }
    h.stop(at + 1);
    assert_eq!(h.states(), [("s".into(), ServiceState::Running, 5)]);
}

#[test]
fn finish_gets_code_and_signal_and_a_restart_waits_for_it() {
    let mut h = Harness::new(&[], &[supervised("s", Signal::SIGTERM, true, None)], false);
    h.at(0);
    assert_eq!(
        h.exit("s", Outcome::Signal(15), 10),
        ["spawn /sv/s/finish -1 15"]
    );
    assert_eq!(h.at(5000), Vec::<String>::new(), "finish still runs");
    assert_eq!(h.exit("s/finish", OK, 5001), ["spawn /sv/s/run"]);
    assert_eq!(
        h.exit("s", Outcome::Exit(3), 5002),
        ["spawn /sv/s/finish 3 0"]
    );
}

#[test]
fn the_boot_waits_for_a_notifying_service_up_to_the_script_timeout() {
    let entries = [supervised("db", Signal::SIGTERM, false, Some(3))];
    let mut h = Harness::new(&[], &entries, false);
    assert_eq!(h.at(0), ["spawn /sv/db/run"]);
    assert_eq!(h.at(100), Vec::<String>::new());
    h.m.service_ready(0, h.now);
    assert_eq!(h.settle(), ["report ready 0", "boot done"]);
    let mut h = Harness::new(&[], &entries, false);
    h.at(0);
    assert_eq!(
        h.at(3000),
        ["report ready 1 / failed db timeout", "boot done"]
    );
}

#[test]
fn the_session_starts_after_the_boot_and_its_status_is_the_exit_status() {
    let mut h = Harness::new(&["/a"], &[], true);
    h.at(0);
    assert_eq!(
        h.exit("/a", OK, 1),
        ["report ready 0", "session", "boot done"]
    );
    assert_eq!(h.exit("session", Outcome::Signal(9), 2), ["spawn /a stop"]);
    h.exit("/a stop", OK, 3);
    assert_eq!(h.m.exit_status(), Some(137));
    let mut h = Harness::new(&[], &[], true);
    h.missing.push("session".into());
    assert_eq!(
        h.at(0),
        ["report ready 0", "session", "boot done", "all SIGTERM"]
    );
    assert_eq!(h.at(1), Vec::<String>::new());
    assert_eq!(h.m.exit_status(), Some(127));
}

#[test]
fn processes_that_are_not_children_are_looked_for_every_sweep_interval() {
    let mut h = Harness::new(&[], &[], false);
    h.at(0);
    h.strangers = true;
    assert_eq!(h.stop(100), ["all SIGTERM"]);
    assert_eq!(h.ms(h.m.next_deadline(h.now)), Some(110));
    h.strangers = false;
    assert_eq!(h.at(110), Vec::<String>::new());
    assert_eq!(h.m.exit_status(), Some(0));
}

// ------------------------------------------------ the sweep before $network

/// A process no START entry or service owns (an ssh session, say).
fn stray(h: &mut Harness, tag: &str) {
    h.next_pid += 1;
    let pid = Pid::from_raw(h.next_pid);
    h.running.insert(tag.into(), (pid, Role::Run(99)));
}

/// Boots START /a networking /b and supervised s; stopped at 1000 ms.
fn stopping_with_networking() -> Harness {
    let entries = [supervised("s", Signal::SIGTERM, false, None)];
    let mut h = Harness::new(&["/a", "networking", "/b"], &entries, false);
    h.at(0);
    h.exit("/a", OK, 1);
    assert_eq!(h.exit("networking", OK, 2), ["spawn /b start"]);
    h.exit("/b", OK, 3);
    stray(&mut h, "sshd-session");
    assert_eq!(h.stop(1000), ["signal s SIGTERM"]);
    assert_eq!(h.exit("s", OK, 1010), ["spawn /b stop"]);
    h
}

#[test]
fn the_sweep_comes_before_networking_stops_and_once() {
    let mut h = stopping_with_networking();
    // The entries after networking in START have stopped: then every
    // process left gets SIGTERM, and networking waits for them.
    assert_eq!(h.exit("/b stop", OK, 1020), ["sweep SIGTERM"]);
    assert_eq!(
        h.ms(h.m.next_deadline(h.now)),
        Some(1030),
        "looks again soon"
    );
    assert_eq!(h.at(1030), Vec::<String>::new(), "the stray still runs");
    assert_eq!(
        h.exit("sshd-session", OK, 1040),
        ["spawn /etc/init.d/networking stop"]
    );
    // The entries before it stop as before: no second sweep.
    assert_eq!(h.exit("networking stop", OK, 1050), ["spawn /a stop"]);
    assert_eq!(h.exit("/a stop", OK, 1060), ["all SIGTERM"]);
    assert_eq!(h.m.exit_status(), Some(0));
}

#[test]
fn the_sweep_waits_half_the_budget_left_then_kills_and_goes_on() {
    let mut h = stopping_with_networking();
    assert_eq!(h.exit("/b stop", OK, 2000), ["sweep SIGTERM"]);
    // 9 s of the budget were left: the sweep waits 4.5 s at most.
    assert_eq!(h.at(6499), Vec::<String>::new());
    assert_eq!(
        h.at(6500),
        ["sweep SIGKILL", "spawn /etc/init.d/networking stop"]
    );
    // networking's stop gets the script timeout, within what is left.
    h.exit("sshd-session", Outcome::Signal(9), 6501);
    assert_eq!(h.ms(h.m.next_deadline(h.now)), Some(9500));
    assert_eq!(h.exit("networking stop", OK, 6600), ["spawn /a stop"]);
    // A second stop request during the sweep kills at once.
    let mut h = stopping_with_networking();
    h.exit("/b stop", OK, 2000);
    assert_eq!(h.stop(2001), ["all SIGKILL"]);
}

#[test]
fn omitted_processes_do_not_hold_the_sweep() {
    let mut h = stopping_with_networking();
    h.omitted.push("sshd-session".into());
    assert_eq!(
        h.exit("/b stop", OK, 1020),
        ["sweep SIGTERM", "spawn /etc/init.d/networking stop"]
    );
}

#[test]
fn without_a_network_entry_the_order_is_unchanged() {
    let mut h = Harness::new(&["/a", "/opt/networking.d", "ssh"], &[], false);
    h.at(0);
    h.exit("/a", OK, 1);
    h.exit("/opt/networking.d", OK, 2);
    h.exit("ssh", OK, 3);
    stray(&mut h, "orphan");
    assert_eq!(h.stop(100), ["spawn /etc/init.d/ssh stop"]);
    assert_eq!(
        h.exit("ssh stop", OK, 110),
        ["spawn /opt/networking.d stop"]
    );
    assert_eq!(h.exit("/opt/networking.d stop", OK, 120), ["spawn /a stop"]);
    assert_eq!(h.exit("/a stop", OK, 130), ["all SIGTERM"]);
}

#[test]
fn a_session_ended_by_the_sweep_is_no_second_stop_request() {
    let mut h = Harness::new(&["/etc/init.d/networking"], &[], true);
    h.at(0);
    assert_eq!(
        h.exit("/etc/init.d/networking", OK, 1),
        ["report ready 0", "session", "boot done"]
    );
    assert_eq!(h.stop(100), ["sweep SIGTERM"]);
    assert_eq!(
        h.exit("session", Outcome::Signal(15), 110),
        ["spawn /etc/init.d/networking stop"]
    );
    h.exit("/etc/init.d/networking stop", OK, 120);
    assert_eq!(h.m.exit_status(), Some(143));
}
