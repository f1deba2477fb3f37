//! `overlay-boot --list [--json]`: every running subhost (its run directory
//! is locked by a live monitor) with PID 1's host pid, its configuration,
//! its uptime, its state and its services as the subinit last reported
//! them. The JSON form is stable and documented in overlay-boot(8):
//!
//!     {"subhosts":[{"name":"mta","pid":4242,"config":"/opt/mta/mta.conf",
//!       "uptime_seconds":93,"state":"ready","services":[{"name":"ssh",
//!       "kind":"script","state":"started","restarts":0}]}]}
//!
//! Each service also has `"live"`: for a sysv START entry the word its
//! `status` action gives (`running`, `not-running`, `unknown`,
//! `no-status`; see `liveness`), else null; and `"pid"` and
//! `"uptime_seconds"`: a running supervised service's host pid and how long
//! its `run` has run, else null.
//! `pid` and `uptime_seconds` are null while PID 1 has not been started.
//! Each subhost also has `"usage":{"memory_bytes":…,"memory_max_bytes":…,
//! "cpu_seconds":…,"pids":…,"pids_max":…}` from its cgroup files (see
//! `usage`), null where unknown or unlimited. `--watch SECONDS` prints the
//! listing again every SECONDS (the screen cleared first on a terminal;
//! one JSON document per line with --json) until interrupted.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use crate::error::Result;
use crate::kernel::privilege::require_root;
use crate::kernel::usage::Usage;
use crate::kernel::userns::IdMap;
use proto::status::Service;

mod collect;

/// One running subhost.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub pid: Option<i32>,
    pub config: PathBuf,
    pub uptime: Option<u64>,
    /// `booting`, `ready` or `stopping`.
    pub state: String,
    pub services: Vec<Service>,
    pub usage: Usage,
    /// The sysv START entries' liveness from their `status` action.
    pub live: Vec<(String, &'static str)>,
    /// The running supervised services: name, host pid, seconds up.
    pub procs: Vec<(String, i32, u64)>,
    /// PRIVATE_USERS: the host ids of its user namespace.
    pub users: Option<IdMap>,
}

impl Entry {
    /// A service's liveness word, if it has one.
    fn live(&self, svc: &Service) -> Option<&'static str> {
        if svc.kind != proto::status::Kind::Script {
            return None;
        }
        self.live
            .iter()
            .find(|(n, _)| *n == svc.name)
            .map(|(_, w)| *w)
    }

    /// A running supervised service's host pid and seconds up.
    fn proc(&self, svc: &Service) -> Option<(i32, u64)> {
        if svc.kind != proto::status::Kind::Supervised {
            return None;
        }
        let found = self.procs.iter().find(|(n, ..)| *n == svc.name);
        found.map(|(_, p, u)| (*p, *u))
    }

    /// The LIVE column: the sysv word, `pid=N,up=T` for a running
    /// supervised service, else `-`.
    fn live_word(&self, svc: &Service) -> String {
        match (self.live(svc), self.proc(svc)) {
            (Some(w), _) => w.to_string(),
            (None, Some((pid, up))) => format!("pid={pid},up={}", uptime(up)),
            (None, None) => "-".to_string(),
        }
    }
}

pub fn list(json: bool, watch: Option<u64>) -> Result<i32> {
    // Why: the run directories' locks say what runs; only root may look.
    require_root()?;
    let clear = watch.is_some() && !json && nix::unistd::isatty(std::io::stdout()).unwrap_or(false);
    loop {
        let entries = collect::collect();
        let mut text = if json {
            to_json(&entries) + "\n"
        } else {
            to_text(&entries)
        };
        if clear {
            text.insert_str(0, "\x1b[H\x1b[2J");
        }
        let mut out = std::io::stdout().lock();
        // A closed reader (a pipe to head) ends the watch.
        if out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return Ok(0);
        }
        let Some(secs) = watch else {
            return Ok(0);
        };
        // The refresh interval the user asked for, not a synchronisation.
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
}

/// `NAME PID STATE UPTIME MEMORY CPU PIDS USERS CONFIG` (MEMORY and PIDS
/// as current/max, CPU in seconds; see `usage`; USERS the PRIVATE_USERS
/// host ids FIRST:COUNT, `-` without), then one indented line per service:
/// `NAME KIND STATE RESTARTS LIVE` (LIVE: a sysv entry's `status`, see
/// `liveness`; `pid=N,up=T` for a running supervised one; `-` else).
pub fn to_text(entries: &[Entry]) -> String {
    let mut s = String::new();
    if entries.is_empty() {
        return s;
    }
    let _ = writeln!(s, "NAME PID STATE UPTIME MEMORY CPU PIDS USERS CONFIG");
    for e in entries {
        let pid = e.pid.map_or_else(|| "-".to_string(), |p| p.to_string());
        let up = e.uptime.map_or_else(|| "-".to_string(), uptime);
        let users = e
            .users
            .map_or_else(|| "-".to_string(), |m| format!("{}:{}", m.first, m.count));
        let _ = writeln!(
            s,
            "{} {pid} {} {up} {} {users} {}",
            field(&e.name),
            field(&e.state),
            e.usage.columns(),
            field(&e.config.to_string_lossy())
        );
        for svc in &e.services {
            let _ = writeln!(
                s,
                "  {} {} {} {} {}",
                field(&svc.name),
                field(svc.kind.as_str()),
                field(svc.state.as_str()),
                svc.restarts,
                e.live_word(svc)
            );
        }
    }
    s
}

/// One field of the text output, safe on a terminal and one word: `%`,
/// blanks, control characters (C0, DEL, C1) and the invisible format
/// characters (zero-width, bidirectional overrides) as `%XX` per UTF-8
/// byte. Names and states come from root inside a subhost, who must not
/// drive the admin's terminal (issue 9, hole 7).
pub fn field(text: &str) -> String {
    proto::percent_escape(text, |c| {
        c == '%' || c.is_whitespace() || c.is_control() || invisible(c)
    })
}

/// Zero-width and bidirectional formatting characters.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// `1d02h03m`, `2h03m04s`, `3m04s`, `4s`.
fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m{s:02}s"),
        _ => format!("{d}d{h:02}h{m:02}m"),
    }
}

/// The documented JSON document, on one line.
pub fn to_json(entries: &[Entry]) -> String {
    let mut s = String::from("{\"subhosts\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"name\":{},\"pid\":{},\"config\":{},\"uptime_seconds\":{},\"state\":{},\"usage\":{},\"users\":{},\"services\":[",
            string(&e.name),
            e.pid.map_or_else(|| "null".to_string(), |p| p.to_string()),
            string(&e.config.to_string_lossy()),
            e.uptime
                .map_or_else(|| "null".to_string(), |u| u.to_string()),
            string(&e.state),
            e.usage.json(),
            e.users.map_or_else(
                || "null".to_string(),
                |m| format!("{{\"first\":{},\"count\":{}}}", m.first, m.count)
            ),
        );
        for (j, svc) in e.services.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                "{{\"name\":{},\"kind\":{},\"state\":{},\"restarts\":{},\"live\":{},\"pid\":{},\"uptime_seconds\":{}}}",
                string(&svc.name),
                string(svc.kind.as_str()),
                string(svc.state.as_str()),
                svc.restarts,
                e.live(svc).map_or_else(|| "null".to_string(), string),
                e.proc(svc).map_or_else(|| "null".to_string(), |p| p.0.to_string()),
                e.proc(svc).map_or_else(|| "null".to_string(), |p| p.1.to_string()),
            );
        }
        s.push_str("]}");
    }
    s.push_str("]}");
    s
}

/// A JSON string literal (RFC 8259): `"` and `\` escaped, control
/// characters as `\n`, `\t`… or `\u00XX`; everything else as UTF-8. A path
/// that is not UTF-8 arrives here with U+FFFD in place of the bad bytes.
pub fn string(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\u{8}' => s.push_str("\\b"),
            '\u{c}' => s.push_str("\\f"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(s, "\\u{:04x}", u32::from(c));
            }
            // U+2028/2029 are valid JSON but break JavaScript parsers.
            '\u{2028}' => s.push_str("\\u2028"),
            '\u{2029}' => s.push_str("\\u2029"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::status::{Kind, ServiceState};

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(string("plain"), "\"plain\"");
        assert_eq!(string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(string("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
        assert_eq!(string("\u{1}\u{1f}\u{7f}"), "\"\\u0001\\u001f\\u007f\"");
        assert_eq!(string("\u{8}\u{c}"), "\"\\b\\f\"");
        assert_eq!(string("é ✓ /opt/x y"), "\"é ✓ /opt/x y\"");
        assert_eq!(string("\u{2028}"), "\"\\u2028\"");
        assert_eq!(string(""), "\"\"");
    }

    fn sample() -> Vec<Entry> {
        vec![
            Entry {
                name: "mta".into(),
                pid: Some(4242),
                config: PathBuf::from("/opt/mta/\"m\".conf"),
                uptime: Some(93),
                state: "ready".into(),
                services: vec![
                    Service {
                        name: "ssh".into(),
                        kind: Kind::Script,
                        state: ServiceState::Started,
                        restarts: 0,
                        pid: None,
                    },
                    Service {
                        name: "web ui".into(),
                        kind: Kind::Supervised,
                        state: ServiceState::Restarting,
                        restarts: 2,
                        pid: None,
                    },
                ],
                usage: Usage {
                    memory: Some(12_900_000),
                    memory_max: Some(64 << 20),
                    cpu_seconds: Some(1.5),
                    pids: Some(5),
                    pids_max: Some(64),
                },
                live: vec![("ssh".into(), "not-running")],
                procs: vec![("web ui".into(), 5151, 64)],
                users: Some(IdMap {
                    first: 1_879_048_192,
                    count: 65536,
                }),
            },
            Entry {
                name: "new".into(),
                pid: None,
                config: PathBuf::from("/opt/new/new.conf"),
                uptime: None,
                state: "booting".into(),
                services: vec![],
                usage: Usage::default(),
                live: Vec::new(),
                procs: Vec::new(),
                users: None,
            },
        ]
    }

    #[test]
    fn json_document() {
        assert_eq!(to_json(&[]), "{\"subhosts\":[]}");
        assert_eq!(
            to_json(&sample()),
            concat!(
                "{\"subhosts\":[",
                "{\"name\":\"mta\",\"pid\":4242,\"config\":\"/opt/mta/\\\"m\\\".conf\",",
                "\"uptime_seconds\":93,\"state\":\"ready\",\"usage\":{\"memory_bytes\":12900000,",
                "\"memory_max_bytes\":67108864,\"cpu_seconds\":1.500000,\"pids\":5,\"pids_max\":64},",
                "\"users\":{\"first\":1879048192,\"count\":65536},\"services\":[",
                "{\"name\":\"ssh\",\"kind\":\"script\",\"state\":\"started\",\"restarts\":0,\"live\":\"not-running\",\"pid\":null,\"uptime_seconds\":null},",
                "{\"name\":\"web ui\",\"kind\":\"supervised\",\"state\":\"restarting\",\"restarts\":2,\"live\":null,\"pid\":5151,\"uptime_seconds\":64}]},",
                "{\"name\":\"new\",\"pid\":null,\"config\":\"/opt/new/new.conf\",",
                "\"uptime_seconds\":null,\"state\":\"booting\",\"usage\":{\"memory_bytes\":null,",
                "\"memory_max_bytes\":null,\"cpu_seconds\":null,\"pids\":null,\"pids_max\":null},",
                "\"users\":null,\"services\":[]}]}"
            )
        );
    }

    #[test]
    fn text_fields_escape_control_bytes_blanks_and_percent() {
        assert_eq!(field("ssh"), "ssh");
        assert_eq!(field("web ui"), "web%20ui");
        assert_eq!(field("50%"), "50%25");
        assert_eq!(field("\u{1b}]0;owned\u{7}"), "%1B]0;owned%07");
        assert_eq!(field("a\u{1b}[2Jb\r\n"), "a%1B[2Jb%0D%0A");
        assert_eq!(field("\u{9b}31m"), "%C2%9B31m");
        assert_eq!(field("\u{7f}\t"), "%7F%09");
        assert_eq!(field("x\u{202e}y\u{200b}"), "x%E2%80%AEy%E2%80%8B");
        assert_eq!(field("é ✓"), "é%20✓");
    }

    #[test]
    fn text_table() {
        assert_eq!(to_text(&[]), "");
        assert_eq!(
            to_text(&sample()),
            "NAME PID STATE UPTIME MEMORY CPU PIDS USERS CONFIG\n\
             mta 4242 ready 1m33s 12.3M/64M 1.50s 5/64 1879048192:65536 /opt/mta/\"m\".conf\n  \
             ssh script started 0 not-running\n  \
             web%20ui supervised restarting 2 pid=5151,up=1m04s\n\
             new - booting - -/- - -/- - /opt/new/new.conf\n"
        );
        assert_eq!(uptime(4), "4s");
        assert_eq!(uptime(3 * 3600 + 4), "3h00m04s");
        assert_eq!(uptime(86_400 + 7200 + 180), "1d02h03m");
    }
}
