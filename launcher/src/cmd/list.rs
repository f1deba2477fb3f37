//! `overlay-boot --list [--json]`: every running subhost (its run directory
//! is locked by a live monitor) with PID 1's host pid, its configuration,
//! its uptime, its state and its services as the subinit last reported
//! them. The JSON form is stable and documented in overlay-boot(8):
//!
//!     {"subhosts":[{"name":"mta","pid":4242,"config":"/opt/mta/mta.conf",
//!       "uptime_seconds":93,"state":"ready","services":[{"name":"ssh",
//!       "kind":"script","state":"started","restarts":0}]}]}
//!
//! `pid` and `uptime_seconds` are null while PID 1 has not been started.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::kernel::privilege::require_root;
use crate::subhost::lock;
use crate::subhost::state;
use crate::subhost::status;
use proto::status::Service;

/// One running subhost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub pid: Option<i32>,
    pub config: PathBuf,
    pub uptime: Option<u64>,
    /// `booting`, `ready` or `stopping`.
    pub state: String,
    pub services: Vec<Service>,
}

pub fn list(json: bool) -> Result<i32> {
    // Why: the run directories' locks say what runs; only root may look.
    require_root()?;
    let entries = collect();
    let text = if json {
        to_json(&entries) + "\n"
    } else {
        to_text(&entries)
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(0)
}

/// Reads the run directories of the running subhosts.
fn collect() -> Vec<Entry> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut out = Vec::new();
    for name in state::names() {
        if !lock::shown(&name) {
            continue;
        }
        // Why field by field: only the three files --list shows, not the
        // whole record (six files); its cost per subhost is what --list
        // costs at a thousand.
        let conf = state::field(&name, "conf").unwrap_or_default();
        let pid: Option<i32> = state::field(&name, "pid").and_then(|p| p.parse().ok());
        let started: Option<u64> = pid
            .and_then(|_| state::field(&name, "started"))
            .and_then(|s| s.parse().ok());
        let snap = started.and_then(|_| status::read(&name));
        out.push(Entry {
            name,
            pid: started.and(pid),
            config: PathBuf::from(conf),
            uptime: started.map(|s| now.saturating_sub(s)),
            state: snap
                .as_ref()
                .map_or_else(|| "booting".to_string(), |s| s.state.as_str().to_string()),
            services: snap.map(|s| s.services).unwrap_or_default(),
        });
    }
    out
}

/// `NAME PID STATE UPTIME CONFIG`, then one indented line per service:
/// `NAME KIND STATE RESTARTS`.
pub fn to_text(entries: &[Entry]) -> String {
    let mut s = String::new();
    if entries.is_empty() {
        return s;
    }
    let _ = writeln!(s, "NAME PID STATE UPTIME CONFIG");
    for e in entries {
        let pid = e.pid.map_or_else(|| "-".to_string(), |p| p.to_string());
        let up = e.uptime.map_or_else(|| "-".to_string(), uptime);
        let _ = writeln!(
            s,
            "{} {pid} {} {up} {}",
            field(&e.name),
            field(&e.state),
            field(&e.config.to_string_lossy())
        );
        for svc in &e.services {
            let _ = writeln!(
                s,
                "  {} {} {} {}",
                field(&svc.name),
                field(svc.kind.as_str()),
                field(svc.state.as_str()),
                svc.restarts
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
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '%' || c.is_whitespace() || c.is_control() || invisible(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(s, "%{b:02X}");
            }
        } else {
            s.push(c);
        }
    }
    s
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
            "{{\"name\":{},\"pid\":{},\"config\":{},\"uptime_seconds\":{},\"state\":{},\"services\":[",
            string(&e.name),
            e.pid.map_or_else(|| "null".to_string(), |p| p.to_string()),
            string(&e.config.to_string_lossy()),
            e.uptime
                .map_or_else(|| "null".to_string(), |u| u.to_string()),
            string(&e.state),
        );
        for (j, svc) in e.services.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                "{{\"name\":{},\"kind\":{},\"state\":{},\"restarts\":{}}}",
                string(&svc.name),
                string(svc.kind.as_str()),
                string(svc.state.as_str()),
                svc.restarts
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
                    },
                    Service {
                        name: "web ui".into(),
                        kind: Kind::Supervised,
                        state: ServiceState::Restarting,
                        restarts: 2,
                    },
                ],
            },
            Entry {
                name: "new".into(),
                pid: None,
                config: PathBuf::from("/opt/new/new.conf"),
                uptime: None,
                state: "booting".into(),
                services: vec![],
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
                "\"uptime_seconds\":93,\"state\":\"ready\",\"services\":[",
                "{\"name\":\"ssh\",\"kind\":\"script\",\"state\":\"started\",\"restarts\":0},",
                "{\"name\":\"web ui\",\"kind\":\"supervised\",\"state\":\"restarting\",\"restarts\":2}]},",
                "{\"name\":\"new\",\"pid\":null,\"config\":\"/opt/new/new.conf\",",
                "\"uptime_seconds\":null,\"state\":\"booting\",\"services\":[]}]}"
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
            "NAME PID STATE UPTIME CONFIG\n\
             mta 4242 ready 1m33s /opt/mta/\"m\".conf\n  \
             ssh script started 0\n  \
             web%20ui supervised restarting 2\n\
             new - booting - /opt/new/new.conf\n"
        );
        assert_eq!(uptime(4), "4s");
        assert_eq!(uptime(3 * 3600 + 4), "3h00m04s");
        assert_eq!(uptime(86_400 + 7200 + 180), "1d02h03m");
    }
}
