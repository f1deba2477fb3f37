//! What the caller of a boot is told: one line when the subhost is ready
//! (and each start action that failed), or the reason it failed and the
//! last lines of LOG. Printed by the caller, or by a --foreground monitor.

use std::io::Write;
use std::path::Path;

use crate::model::report::last_lines;

/// `NAME ready: pid PID, log LOG` on stdout, failed start actions on stderr.
pub fn print_ready(name: &str, pid: i32, log: &Path, failed: &[String]) {
    let _ = writeln!(
        std::io::stdout(),
        "{name} ready: pid {pid}, log {}",
        log.display()
    );
    for f in failed {
        let _ = writeln!(
            std::io::stderr(),
            "overlay-boot: {name}: start action failed: {f}"
        );
    }
}

/// The reason on stderr, then the last 10 lines of LOG.
pub fn print_failure(name: &str, reason: &str, log: &Path) {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "overlay-boot: {name}: boot failed: {reason}");
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail = last_lines(&text, 10);
    if !tail.is_empty() {
        let _ = writeln!(err, "last lines of {}:", log.display());
        for l in tail {
            let _ = writeln!(err, "  {l}");
        }
    }
}
