//! What the boot does, in order: the INIT script or the START entries, then
//! the services directory's entries (scripts waited for, supervised services
//! launched as they come). Pure: the services directory is read by
//! `runtime::services_dir`, sysvinit's `service` looked up there too.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An executable file: `FILE start` at boot, `FILE stop` at shutdown.
    Script,
    /// A directory with an executable `run`, kept running.
    Supervised {
        /// A file `down` is present: not started.
        down: bool,
        /// From the file `stop-signal`; SIGTERM by default.
        stop_signal: Signal,
        /// An executable `finish` is present.
        finish: bool,
        /// From the file `notification-fd` (s6's convention): the service
        /// writes a newline to this fd when it is ready.
        notify_fd: Option<i32>,
    },
}

/// One entry of the services directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub kind: Kind,
}

/// One thing to do at boot, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A script waited for; `stop` is what undoes it at shutdown.
    Script {
        tag: String,
        start: Vec<OsString>,
        stop: Option<Vec<OsString>>,
        /// A START entry that provides `$network` (see [`provides_network`]):
        /// the stop sends every remaining process SIGTERM before its `stop`.
        network: bool,
    },
    /// Supervised service N (its index among the supervised entries).
    Supervise(usize),
}

/// The boot steps: the INIT script if given, else the START entries; then
/// the services directory's entries. `service` is sysvinit's wrapper, if
/// the subhost has one. `header` says whether a START entry's LSB header
/// provides `$network` (read by the runtime).
pub fn plan(
    start: &[OsString],
    init_script: Option<String>,
    services: &[Entry],
    service: Option<&Path>,
    header: &dyn Fn(&OsStr) -> bool,
) -> Vec<Step> {
    let mut steps: Vec<Step> = match init_script {
        Some(script) => vec![Step::Script {
            tag: "INIT".to_owned(),
            start: ["/bin/sh", "-c", &script, "INIT"]
                .map(OsString::from)
                .to_vec(),
            stop: None,
            network: false,
        }],
        None => start
            .iter()
            .map(|e| start_entry(e, service, provides_network(e) || header(e)))
            .collect(),
    };
    let mut supervised = 0;
    for entry in services {
        match entry.kind {
            Kind::Script => steps.push(script_step(&entry.name, &entry.path, false)),
            Kind::Supervised { .. } => {
                steps.push(Step::Supervise(supervised));
                supervised += 1;
            }
        }
    }
    steps
}

fn script_step(tag: &str, path: &Path, network: bool) -> Step {
    let with = |action: &str| vec![OsString::from(path), OsString::from(action)];
    Step::Script {
        tag: tag.to_owned(),
        start: with("start"),
        stop: Some(with("stop")),
        network,
    }
}

/// The START entries that bring the network up, as insserv's `$network`
/// facility (`/etc/insserv.conf`: `$network +networking +ifupdown`): the
/// entry, or the file name of a `/path` entry, is `networking` or
/// `ifupdown`, or its script's LSB header `Provides:` one of them or
/// `$network` (`runtime::lsb`).
pub const NETWORK_ENTRIES: [&str; 2] = ["networking", "ifupdown"];

/// True when the START entry `entry` provides `$network` by its name.
pub fn provides_network(entry: &OsStr) -> bool {
    let name = Path::new(entry).file_name().unwrap_or(entry);
    NETWORK_ENTRIES.iter().any(|n| name == *n)
}

/// `/path` runs as `/path start`; a name is a sysvinit service.
fn start_entry(entry: &OsStr, service: Option<&Path>, network: bool) -> Step {
    let tag = entry.to_string_lossy();
    if entry.as_bytes().starts_with(b"/") {
        return script_step(&tag, Path::new(entry), network);
    }
    let with = |action: &str| match service {
        Some(service) => vec![service.into(), entry.into(), action.into()],
        None => vec![Path::new("/etc/init.d").join(entry).into(), action.into()],
    };
    Step::Script {
        tag: tag.into_owned(),
        start: with("start"),
        stop: Some(with("stop")),
        network,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_header(_: &OsStr) -> bool {
        false
    }

    fn entry(name: &str, kind: Kind) -> Entry {
        Entry {
            name: name.into(),
            path: PathBuf::from("/s").join(name),
            kind,
        }
    }

    fn tags(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                Step::Script { tag, .. } => tag.clone(),
                Step::Supervise(i) => format!("supervise {i}"),
            })
            .collect()
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
        let steps = plan(&["/opt/x".into()], None, &services, None, &no_header);
        assert_eq!(
            tags(&steps),
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
    fn names_are_sysvinit_services() {
        let service = Path::new("/usr/sbin/service");
        let steps = plan(&["ssh".into()], None, &[], Some(service), &no_header);
        let Step::Script { start, .. } = &steps[0] else {
            panic!("script expected")
        };
        assert_eq!(
            start,
            &["/usr/sbin/service", "ssh", "start"].map(OsString::from)
        );
        let steps = plan(&["ssh".into()], None, &[], None, &no_header);
        let Step::Script { stop, .. } = &steps[0] else {
            panic!("script expected")
        };
        assert_eq!(
            stop.as_deref(),
            Some(&["/etc/init.d/ssh", "stop"].map(OsString::from)[..])
        );
    }

    #[test]
    fn networking_entries_provide_network() {
        let entries = [
            "networking",
            "/etc/init.d/ifupdown",
            "/opt/networking",
            "ssh",
            "/etc/init.d/networking.old",
        ];
        let mut start: Vec<OsString> = entries.iter().map(OsString::from).collect();
        let services = [entry("networking", Kind::Script)];
        let header = |e: &OsStr| e == "/opt/net.sh";
        start.push("/opt/net.sh".into());
        let network: Vec<bool> = plan(&start, None, &services, None, &header)
            .iter()
            .map(|s| matches!(s, Step::Script { network: true, .. }))
            .collect();
        assert_eq!(
            network,
            [true, true, true, false, false, true, false],
            "a services-directory script never is"
        );
    }

    #[test]
    fn init_script_replaces_start_entries() {
        let steps = plan(
            &["ssh".into()],
            Some("echo hi".into()),
            &[],
            None,
            &no_header,
        );
        assert_eq!(steps.len(), 1);
        let Step::Script {
            tag, start, stop, ..
        } = &steps[0]
        else {
            panic!("script expected")
        };
        assert_eq!(tag, "INIT");
        assert_eq!(start[2], "echo hi");
        assert!(stop.is_none());
    }
}
