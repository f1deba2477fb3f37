//! The services directory: which entries exist and what kind each is
//! (`core::plan::Entry`).
//! Entries are taken in byte order of their names; editor and package
//! manager leftovers are skipped.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;

use crate::core::plan::{Entry, Kind};
use crate::logging::SELF;

/// Reads `dir`; a missing directory means no services. Unusable entries are
/// logged and skipped.
pub fn scan(dir: &Path) -> Vec<Entry> {
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(err) => {
            log::error!(target: SELF, "services directory {}: {err}", dir.display());
            return Vec::new();
        }
    };
    let mut names: Vec<_> = listing
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| !skipped(n.as_bytes()))
        .collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names
        .into_iter()
        .filter_map(|n| classify(&dir.join(&n), &n.to_string_lossy()))
        .collect()
}

/// Hidden files, editor backups and dpkg/ucf leftovers are not services.
pub fn skipped(name: &[u8]) -> bool {
    let contains = |needle: &[u8]| name.windows(needle.len()).any(|w| w == needle);
    name.starts_with(b".") || name.ends_with(b"~") || contains(b".dpkg-") || contains(b".ucf-")
}

fn classify(path: &Path, name: &str) -> Option<Entry> {
    let meta = fs::metadata(path).ok()?;
    let kind = if meta.is_dir() {
        if !is_executable(&path.join("run")) {
            log::warn!(target: SELF, "service {name}: no executable run, skipped");
            return None;
        }
        Kind::Supervised {
            down: path.join("down").exists(),
            stop_signal: stop_signal(path, name),
            finish: is_executable(&path.join("finish")),
            notify_fd: notification_fd(path, name),
        }
    } else if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
        Kind::Script
    } else {
        log::debug!(target: SELF, "service {name}: not executable, skipped");
        return None;
    };
    Some(Entry {
        name: name.to_owned(),
        path: path.to_owned(),
        kind,
    })
}

/// sysvinit's `service` wrapper, looked up on the services' PATH.
pub fn find_service_command() -> Option<PathBuf> {
    proto::PATH
        .split(':')
        .map(|dir| Path::new(dir).join("service"))
        .find(|p| p.is_file())
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn stop_signal(dir: &Path, name: &str) -> Signal {
    let Ok(text) = fs::read_to_string(dir.join("stop-signal")) else {
        return Signal::SIGTERM;
    };
    parse_signal(text.trim()).unwrap_or_else(|| {
        log::warn!(target: SELF, "service {name}: unknown stop-signal {:?}, using SIGTERM", text.trim());
        Signal::SIGTERM
    })
}

/// The fd number in `notification-fd`, 3 to 255.
fn notification_fd(dir: &Path, name: &str) -> Option<i32> {
    let text = fs::read_to_string(dir.join("notification-fd")).ok()?;
    let fd = text
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|n| (3..=255).contains(n));
    if fd.is_none() {
        log::warn!(target: SELF, "service {name}: notification-fd {:?} is not a number from 3 to 255, ignored", text.trim());
    }
    fd
}

/// `QUIT`, `SIGQUIT` or `3`.
pub fn parse_signal(text: &str) -> Option<Signal> {
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = text.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_are_skipped() {
        for name in [
            ".hidden",
            "foo~",
            "foo.dpkg-old",
            "foo.dpkg-dist",
            "x.ucf-new",
        ] {
            assert!(skipped(name.as_bytes()), "{name}");
        }
        for name in ["10-syslog", "httpd", "a.b"] {
            assert!(!skipped(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("QUIT"), Some(Signal::SIGQUIT));
        assert_eq!(parse_signal("sigusr1"), Some(Signal::SIGUSR1));
        assert_eq!(parse_signal("15"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("BOGUS"), None);
    }
}
