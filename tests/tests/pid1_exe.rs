//! CVE-2019-5736 with the shared subinit: PID 1 runs the installed file
//! through a detached read-only overlay (launcher/src/exeseal.rs). Nothing
//! inside may write to it or reopen it for writing, while PID 1 runs or
//! after it has exited, and the host's file stays byte-identical.

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;

use e2e::subhost::Subhost;
use e2e::{bin, require_root};

/// Every way a root shell inside has to write through /proc/1/exe; each
/// must fail with "Read-only file system" (not "Text file busy", which
/// would end with PID 1).
const ATTEMPTS: [&str; 5] = [
    "echo x >> /proc/1/exe",
    "echo x > /proc/1/exe",
    "exec 3</proc/1/exe; echo x >> /proc/self/fd/3",
    "exec 3</proc/1/exe; echo x > /proc/self/fd/3",
    "exec 3</proc/1/exe; : > /proc/self/fd/3",
];

#[test]
fn nothing_inside_writes_the_file_pid1_runs_from() {
    require_root!();
    let host_file = bin("subinit");
    let before = fs::read(&host_file).expect("read the subinit");
    let mut sh = Subhost::busybox("exe").line("START=none");
    sh.boot_ok();
    let mut bad = Vec::new();
    for attempt in ATTEMPTS {
        let out = sh.go(&["sh", "-c", attempt]);
        if out.ok() || !out.err.contains("Read-only file system") {
            bad.push(format!("inside, `{attempt}`: {out}"));
        }
    }
    // The link as seen from the host: root there fares no better.
    let exe = format!("/proc/{}/exe", sh.pid1());
    match OpenOptions::new().append(true).open(&exe) {
        Err(e) if e.kind() == ErrorKind::ReadOnlyFilesystem => {}
        other => bad.push(format!("host open of {exe} for writing: {other:?}")),
    }
    // A handle kept past PID 1's exit (the CVE's window once the binary
    // is no longer busy) still reopens read-only only.
    let held = fs::File::open(&exe).expect("open /proc/PID/exe");
    sh.stop_ok();
    let reopen = format!("/proc/self/fd/{}", held.as_raw_fd());
    match OpenOptions::new().write(true).open(&reopen) {
        Err(e) if e.kind() == ErrorKind::ReadOnlyFilesystem => {}
        other => bad.push(format!("reopen for writing after PID 1 exited: {other:?}")),
    }
    drop(held);
    if fs::read(&host_file).expect("read the subinit again") != before {
        bad.push(format!("{} changed", host_file.display()));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// PID 1's text is the installed file's page cache, not a private copy:
/// no memfd, and nothing of it counted as shared memory of the subhost.
#[test]
fn pid1_maps_the_installed_file_not_a_copy() {
    require_root!();
    let mut sh = Subhost::busybox("exm").line("START=none");
    sh.boot_ok();
    let maps = fs::read_to_string(format!("/proc/{}/maps", sh.pid1())).expect("maps");
    let link = fs::read_link(format!("/proc/{}/exe", sh.pid1())).expect("exe link");
    sh.stop_ok();
    assert!(!maps.contains("memfd:"), "PID 1 maps a memfd:\n{maps}");
    assert_eq!(
        link.file_name(),
        bin("subinit").file_name(),
        "PID 1 runs {link:?}"
    );
}
