//! A real Debian root for the tests that need one: debootstrap of a
//! bookworm minbase against the Debian mirror in apt's sources.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::subhost::run_captured;
use crate::{in_ci, note_skip};

/// debootstrap's limit: a minbase downloads and unpacks about 100 packages.
pub const DEBOOTSTRAP: Duration = Duration::from_secs(900);

/// The first Debian mirror of apt's sources (deb822 `URIs:` or a one-line
/// `deb` entry) whose path is `/debian` (not the security archive nor
/// another vendor's repository).
pub fn mirror() -> Option<String> {
    let mut text = fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.flatten() {
            text.push_str(&fs::read_to_string(e.path()).unwrap_or_default());
            text.push('\n');
        }
    }
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("URIs:") || l.starts_with("deb "))
        .flat_map(|l| l.split_whitespace().filter(|w| w.starts_with("http")))
        .find(|u| u.trim_end_matches('/').ends_with("/debian"))
        .map(str::to_string)
}

/// debootstraps a bookworm minbase root at `root`, with the packages of
/// `include` too; None (after a SKIP note naming `test`, a failure under
/// CI) when debootstrap or a mirror is missing. Its output goes to a log
/// in `scratch`.
pub fn minbase(root: &Path, scratch: &Path, include: &[&str], test: &str) -> Option<PathBuf> {
    let have = Path::new("/usr/sbin/debootstrap").exists();
    let Some(url) = mirror().filter(|_| have) else {
        let why = "debootstrap or an apt mirror is missing (run .ci/deps-test)";
        assert!(!in_ci(), "{why}");
        note_skip(&format!("{test}: {why}"));
        return None;
    };
    let mut cmd = Command::new("/usr/sbin/debootstrap");
    cmd.arg("--variant=minbase");
    if !include.is_empty() {
        cmd.arg(format!("--include={}", include.join(",")));
    }
    cmd.arg("bookworm").arg(root).arg(&url);
    let out = run_captured(&mut cmd, format!("debootstrap {url}"), scratch, DEBOOTSTRAP);
    assert!(out.ok(), "{out}");
    Some(root.to_path_buf())
}
