//! End-to-end tests of boots under signals, kills and races (issue 11,
//! items 2, 3, 4 and 12), as root, through the real launcher: each race is
//! repeated at random small delays (the delay is what is tested, never a
//! synchronisation); every outcome must agree with what runs, and nothing
//! may be left.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::subhost::Subhost;
use e2e::{bin, require_root, wait_for, ChildGuard};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A pseudo-random delay of 0..max_ms milliseconds.
fn jitter(max_ms: u64) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0) as u64;
    Duration::from_micros((nanos / 7) % (max_ms * 1000))
}

/// Whether a subinit of NAME runs on the host.
fn runs(name: &str) -> bool {
    let want = format!("subinit\0--name\0{name}\0");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|c| c.starts_with(want.as_bytes()))
}

/// `overlay-boot CONF` in the background, output to files in scratch.
fn spawn_boot(sh: &Subhost, n: usize) -> ChildGuard {
    use std::os::unix::process::CommandExt;
    let out = std::fs::File::create(sh.scratch.join(format!("boot{n}.out"))).expect("out");
    let err = std::fs::File::create(sh.scratch.join(format!("boot{n}.err"))).expect("err");
    let mut cmd = Command::new(bin("overlay-boot"));
    cmd.arg0("overlay-boot")
        .arg(&sh.conf)
        .env("OVERLAY_BOOT_SUBINIT", bin("subinit"))
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err);
    ChildGuard::spawn(&mut cmd)
}

fn text(sh: &Subhost, file: String) -> String {
    std::fs::read_to_string(sh.scratch.join(file)).unwrap_or_default()
}

/// After an outcome: a failed boot left nothing; a ready one is stopped.
fn settle(sh: &mut Subhost, code: Option<i32>, what: &str) {
    if code != Some(0) {
        assert!(
            !runs(&sh.name),
            "{what}: exit {code:?}, yet the subhost runs"
        );
    }
    if runs(&sh.name) {
        let out = sh.stop();
        assert!(out.ok(), "{what}: stop: {out}");
    }
    assert!(
        wait_for(Duration::from_secs(10), || sh.leftovers().is_empty()),
        "{what}: left {:?}",
        sh.leftovers()
    );
}

/// Whether `pid` has a handler for SIGINT (`SigCgt` in its status), or
/// has already ended.
fn catches_sigint(pid: Pid) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (Signal::SIGINT as u64 - 1)) != 0)
}

#[test]
fn sigint_during_boot_aborts_it_with_a_message_and_130() {
    require_root!();
    let mut sh = Subhost::new("rsi").line("START=/bin/true");
    for i in 0..25 {
        let mut boot = spawn_boot(&sh, i);
        // The boot starts when the launcher runs: from then on (its SIGINT
        // handler is its first step) a SIGINT must abort it. Before that
        // the process is still being exec'd and has made nothing.
        assert!(
            wait_for(Duration::from_secs(5), || catches_sigint(boot.pid())),
            "try {i}: the launcher never caught SIGINT"
        );
        std::thread::sleep(jitter(30));
        let _ = kill(boot.pid(), Signal::SIGINT);
        let status = boot.wait_timeout(Duration::from_secs(60));
        let code = status.and_then(|s| s.code());
        let err = text(&sh, format!("boot{i}.err"));
        if code != Some(0) {
            assert_eq!(code, Some(130), "try {i}: {err}");
            assert!(err.contains("boot aborted by SIGINT"), "try {i}: {err}");
        }
        settle(&mut sh, code, &format!("SIGINT try {i}"));
    }
}

/// Whether `pid` holds SIGINT blocked or caught (`SigBlk`, `SigCgt`), or
/// has already ended: main's first step is done.
fn holds_sigint(pid: Pid) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    let bit = 1u64 << (Signal::SIGINT as u64 - 1);
    ["SigBlk:", "SigCgt:"].iter().any(|field| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & bit != 0)
    })
}

#[test]
fn sigint_from_mains_first_step_never_kills_the_launcher() {
    require_root!();
    let mut sh = Subhost::new("rse").line("START=/bin/true");
    for i in 0..20 {
        let mut boot = spawn_boot(&sh, i);
        // From main's first step on, the stop signals are held until the
        // handlers are in place: no death by the signal. (Before it, the
        // exec and the runtime's start, the default action still applies.)
        assert!(
            wait_for(Duration::from_secs(5), || holds_sigint(boot.pid())),
            "try {i}: the launcher never held SIGINT"
        );
        let _ = kill(boot.pid(), Signal::SIGINT);
        let status = boot.wait_timeout(Duration::from_secs(60));
        let err = text(&sh, format!("boot{i}.err"));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(130),
            "try {i}: {status:?} {err}"
        );
        assert!(err.contains("boot aborted by SIGINT"), "try {i}: {err}");
        settle(&mut sh, Some(130), &format!("SIGINT from main, try {i}"));
    }
}

#[test]
fn stop_in_the_first_milliseconds_is_never_not_running_then_up() {
    require_root!();
    // A slow `!` command: the stop comes while the configuration loads.
    let mut sh = Subhost::new("rst").line("START=!sleep 0.05; echo /bin/true");
    for i in 0..20 {
        let mut boot = spawn_boot(&sh, i);
        std::thread::sleep(jitter(80));
        let stop = sh.stop();
        let status = boot.wait_timeout(Duration::from_secs(60));
        let code = status.and_then(|s| s.code());
        assert!(
            stop.ok() || !runs(&sh.name),
            "try {i}: stop said {stop}, and the boot (exit {code:?}) came up"
        );
        settle(&mut sh, code, &format!("stop try {i}"));
    }
}

#[test]
fn a_stop_while_a_bang_name_loads_aborts_the_boot() {
    require_root!();
    let mut sh = Subhost::new("rbn").line("START=/bin/true");
    let mark = sh.scratch.join("loading");
    let script = format!(
        "#!/bin/sh\ntouch {}\nsleep 0.3\necho {}\n",
        mark.display(),
        sh.name
    );
    let script = sh.scratch.write("name.sh", &script, 0o755);
    sh = sh.line(&format!("NAME=!{}", script.display()));
    for i in 0..5 {
        let _ = std::fs::remove_file(&mark);
        let mut boot = spawn_boot(&sh, i);
        // The NAME's `!` command runs: no NAME is locked yet.
        assert!(
            wait_for(Duration::from_secs(10), || mark.exists()),
            "try {i}: the ! command never ran"
        );
        let stop = sh.stop();
        let code = boot
            .wait_timeout(Duration::from_secs(60))
            .and_then(|s| s.code());
        let err = text(&sh, format!("boot{i}.err"));
        assert!(stop.ok(), "try {i}: {stop}\nboot: {code:?} {err}");
        assert_eq!(code, Some(143), "try {i}: {err}");
        settle(&mut sh, code, &format!("stop during ! NAME, try {i}"));
    }
    // At random points of the load too: never "not running", then up.
    for i in 5..15 {
        let mut boot = spawn_boot(&sh, i);
        std::thread::sleep(jitter(400));
        let stop = sh.stop();
        let code = boot
            .wait_timeout(Duration::from_secs(60))
            .and_then(|s| s.code());
        assert!(
            stop.ok() || !runs(&sh.name),
            "try {i}: stop said {stop}, and the boot (exit {code:?}) came up"
        );
        settle(&mut sh, code, &format!("stop during ! NAME, try {i}"));
    }
}

#[test]
fn a_monitor_killed_during_boot_leaves_nothing_running() {
    require_root!();
    let mut sh = Subhost::new("rkm").line("START=/bin/true");
    let monitor = sh.run_dir().join("monitor");
    for i in 0..10 {
        let mut boot = spawn_boot(&sh, i);
        let mut pid = None;
        wait_for(Duration::from_secs(10), || {
            pid = std::fs::read_to_string(&monitor)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok());
            pid.is_some()
        });
        std::thread::sleep(jitter(10));
        if let Some(pid) = pid {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let code = boot
            .wait_timeout(Duration::from_secs(60))
            .and_then(|s| s.code());
        settle(&mut sh, code, &format!("monitor kill {i}"));
    }
}

#[test]
fn a_monitor_killed_after_ready_hides_nothing() {
    require_root!();
    let mut sh = Subhost::new("rka").line("START=/bin/true");
    sh.boot_ok();
    let monitor = sh.monitor();
    monitor.kill9();
    assert!(wait_for(Duration::from_secs(10), || !monitor.alive()));
    assert!(runs(&sh.name));
    let list = sh.tool("overlay-boot", &["--list"], Duration::from_secs(10));
    assert!(list.out.contains(&sh.name), "--list hides it: {list}");
    assert_eq!(sh.go_ok(&["echo", "inside"]).trim(), "inside");
    let out = sh.stop();
    assert!(out.ok(), "{out}");
    assert!(!runs(&sh.name));
    assert!(sh.leftovers().is_empty(), "{:?}", sh.leftovers());
}

#[test]
fn a_double_boot_gives_no_false_stale_warning() {
    require_root!();
    let mut sh = Subhost::new("rdb").line("START=/bin/true");
    for i in 0..20 {
        let (a, b) = (2 * i, 2 * i + 1);
        let mut first = spawn_boot(&sh, a);
        let mut second = spawn_boot(&sh, b);
        let ca = first
            .wait_timeout(Duration::from_secs(60))
            .and_then(|s| s.code());
        let cb = second
            .wait_timeout(Duration::from_secs(60))
            .and_then(|s| s.code());
        for n in [a, b] {
            let err = text(&sh, format!("boot{n}.err"));
            assert!(!err.contains("launcher that died"), "try {i}: {err}");
        }
        assert!(ca == Some(0) || cb == Some(0), "try {i}: {ca:?} {cb:?}");
        settle(&mut sh, Some(0), &format!("double boot {i}"));
    }
}
