//! Capabilities that act on the whole machine (issue 9, item 8): PID 1,
//! an overlay-go command and a session's command lack them in every set;
//! `open_by_handle_at` (the "shocker" escape) and `settimeofday` fail
//! inside; KEEP_CAPS keeps the ones it names. LOWER is the host's root,
//! for its python3.

use std::time::Duration;

use e2e::require_root;
use e2e::subhost::Subhost;

/// The dropped capabilities' numbers (linux/capability.h).
const DROPPED: [(&str, u32); 9] = [
    ("CAP_DAC_READ_SEARCH", 2),
    ("CAP_SYS_MODULE", 16),
    ("CAP_SYS_RAWIO", 17),
    ("CAP_SYS_TIME", 25),
    ("CAP_MAC_OVERRIDE", 32),
    ("CAP_MAC_ADMIN", 33),
    ("CAP_SYSLOG", 34),
    ("CAP_WAKE_ALARM", 35),
    ("CAP_BLOCK_SUSPEND", 36),
];

/// Prints `obh=RESULT/ERRNO` for open_by_handle_at on a handle of /dev
/// (a tmpfs, which gives handles) and `stod=RESULT/ERRNO` for
/// settimeofday to the present time (only run when `set_time`).
fn probe(set_time: bool) -> String {
    format!(
        r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(8 + 128)
buf[0:4] = (128).to_bytes(4, "little")
mid = ctypes.c_int()
r = libc.name_to_handle_at(-100, b"/dev", buf, ctypes.byref(mid), 0)
assert r == 0, ctypes.get_errno()
fd = os.open("/dev", os.O_RDONLY)
r = libc.open_by_handle_at(fd, buf, os.O_RDONLY)
print("obh=%d/%d" % (min(r, 0), ctypes.get_errno()))
if {set_time}:
    class TV(ctypes.Structure):
        _fields_ = [("s", ctypes.c_long), ("us", ctypes.c_long)]
    tv = TV()
    libc.gettimeofday(ctypes.byref(tv), None)
    r = libc.settimeofday(ctypes.byref(tv), None)
    print("stod=%d/%d" % (r, ctypes.get_errno()))
"#,
        set_time = if set_time { "True" } else { "False" }
    )
}

/// The set named `field` (CapBnd, CapEff…) in a /proc/PID/status text.
fn set_of(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.trim(), 16).expect("hex")
}

/// Every set in `status` lacks the dropped capabilities but `kept`.
fn assert_dropped(status: &str, kept: &[u32], what: &str) {
    for field in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] {
        let set = set_of(status, field);
        for (name, n) in DROPPED {
            let has = set & 1 << n != 0;
            if kept.contains(&n) {
                if field == "CapBnd" || field == "CapEff" {
                    assert!(has, "{what}: {field} lacks kept {name}: {status}");
                }
            } else {
                assert!(!has, "{what}: {field} has {name}: {status}");
            }
        }
    }
}

#[test]
fn machine_wide_capabilities_are_dropped_from_pid1_go_and_sessions() {
    require_root!();
    let mut sh = Subhost::new("cap").line("START=none");
    let pid1 = sh.boot_ok();
    let pid1_status =
        std::fs::read_to_string(format!("/proc/{pid1}/status")).expect("PID 1's status");
    assert_dropped(&pid1_status, &[], "PID 1");
    let go = sh.sh("cat /proc/self/status");
    assert_dropped(&go, &[], "overlay-go");
    // A service PID 1 starts has them neither (inherited bounding set).
    let out = sh.go(&["python3", "-c", &probe(true)]);
    assert!(out.ok(), "{out}");
    assert!(out.out.contains("obh=-1/1\n"), "open_by_handle_at: {out}");
    assert!(out.out.contains("stod=-1/1\n"), "settimeofday: {out}");
    sh.stop_ok();

    let out = sh.session_sh("cat /proc/self/status; exit 0", Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    assert_dropped(&out.out, &[], "session command");
    let out = sh.session_sh(
        &format!("python3 -c '{}'", probe(true)),
        Duration::from_secs(60),
    );
    assert!(out.out.contains("obh=-1/1"), "open_by_handle_at: {out}");
    assert!(out.out.contains("stod=-1/1"), "settimeofday: {out}");
    assert!(
        sh.wait_gone(Duration::from_secs(20)),
        "{:?}",
        sh.leftovers()
    );
}

#[test]
fn keep_caps_keeps_what_it_names() {
    require_root!();
    let mut sh = Subhost::new("capk")
        .line("START=none")
        .line("KEEP_CAPS=CAP_DAC_READ_SEARCH sys_time");
    let pid1 = sh.boot_ok();
    let status = std::fs::read_to_string(format!("/proc/{pid1}/status")).expect("status");
    assert_dropped(&status, &[2, 25], "PID 1 with KEEP_CAPS");
    let go = sh.sh("cat /proc/self/status");
    assert_dropped(&go, &[2, 25], "overlay-go with KEEP_CAPS");
    // open_by_handle_at works again (the host's clock is left alone).
    let out = sh.go(&["python3", "-c", &probe(false)]);
    assert!(out.out.contains("obh=0/"), "open_by_handle_at: {out}");
    sh.stop_ok();
}

#[test]
fn an_unknown_capability_in_keep_caps_is_refused() {
    require_root!();
    let mut sh = Subhost::new("capx").line("KEEP_CAPS=CAP_SYS_TIME CAP_SYS_ADMIN");
    let out = sh.boot();
    assert_eq!(out.code, 2, "{out}");
    let want = format!("{}:2: KEEP_CAPS: \"CAP_SYS_ADMIN\"", sh.conf.display());
    assert!(out.err.contains(&want), "{out}");
    sh.assert_gone();
}
