//! PID 1 edge cases (../shared/spec/pid1-edge-cases.md) that need a real
//! subhost: orphans of entered sessions and of daemons, sessions dying with
//! the subhost, a fresh /run on every boot, reboot(2) inside.

use std::time::{Duration, Instant};

use e2e::pid1::{children_of, process_state};
use e2e::subhost::{Subhost, GO};
use e2e::{require_root, wait_for};

const SETTLE: Duration = Duration::from_secs(5);

/// Edge case 18: an entered session leaves `sleep &` behind and exits; the
/// orphan is reparented inside the subhost and reaped by PID 1.
#[test]
fn orphans_of_entered_sessions_are_reaped_by_pid1() {
    require_root!();
    let mut sh = Subhost::new("eorp").line("START=none");
    let pid1 = sh.boot_ok();
    let out = sh.go_ok(&["sh", "-c", "sleep 0.5 >/dev/null 2>&1 & echo started"]);
    assert_eq!(out.trim(), "started");
    assert!(
        wait_for(SETTLE, || !children_of(pid1).is_empty()),
        "the orphan was not reparented to PID 1"
    );
    assert!(
        wait_for(SETTLE, || children_of(pid1).is_empty()),
        "PID 1 still has children (zombies: {:?})",
        children_of(pid1)
            .into_iter()
            .map(process_state)
            .collect::<Vec<_>>()
    );
    sh.stop_ok();
}

/// Edge case 17: a start script whose daemon double-forks; the daemon's
/// exit is reaped by PID 1 within a second.
#[test]
fn daemons_that_double_fork_are_reaped_when_they_exit() {
    require_root!();
    let mut sh = Subhost::new("edae").line("START=/daemon");
    sh.write_upper(
        "daemon",
        "#!/bin/sh\n[ \"$1\" = start ] && (sleep 0.5 </dev/null >/dev/null 2>&1 &)\nexit 0\n",
        0o755,
    );
    let pid1 = sh.boot_ok();
    assert!(
        wait_for(SETTLE, || !children_of(pid1).is_empty()),
        "no daemon under PID 1"
    );
    let t0 = Instant::now();
    assert!(
        wait_for(SETTLE, || children_of(pid1).is_empty()),
        "daemon never reaped"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "reaped after {:?}",
        t0.elapsed()
    );
    sh.stop_ok();
}

/// Edge case 7: a session entered with overlay-go ends when the subhost stops.
#[test]
fn entered_sessions_die_with_the_subhost() {
    require_root!();
    let mut sh = Subhost::new("eses").line("START=none");
    sh.boot_ok();
    let go = std::thread::scope(|scope| {
        let session = scope.spawn(|| sh.go(&["sleep", "100"]));
        let name = sh.name.clone();
        // The entered sleep shows in the subhost's pid namespace once joined.
        let ns = sh
            .booted
            .as_ref()
            .and_then(|b| b.pid_ns.as_ref())
            .expect("pid namespace held");
        let joined = || {
            ns.members("pid").into_iter().any(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == b"sleep\x00100\x00")
            })
        };
        assert!(wait_for(GO, joined), "the session of {name} never started");
        let t0 = Instant::now();
        let stop = e2e::subhost::launcher(
            "overlay-stop",
            &[&sh.conf],
            &sh.scratch.path,
            e2e::subhost::STOP,
        );
        assert!(stop.ok(), "stop failed: {stop}");
        let go = session.join().expect("session thread");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "stop took {:?}",
            t0.elapsed()
        );
        go
    });
    assert!(
        !go.ok(),
        "the entered command should have been killed: {go}"
    );
    sh.assert_gone();
}

/// Edge case 38: /run is a fresh tmpfs on every boot, whatever a previous
/// boot left there.
#[test]
fn run_is_fresh_on_every_boot() {
    require_root!();
    let mut sh = Subhost::new("erun").line("START=none");
    sh.boot_ok();
    sh.sh("echo 4242 > /run/stale.pid");
    sh.stop_ok();
    sh.boot_ok();
    let out = sh.sh("ls /run/stale.pid 2>/dev/null || echo absent");
    assert_eq!(out.trim(), "absent");
    sh.stop_ok();
}

/// Edge case 14: reboot(2) inside kills PID 1 with SIGHUP; the launcher
/// reports a reboot, and everything of the subhost is gone without a stop.
#[test]
fn reboot_inside_ends_the_subhost_and_is_reported() {
    require_root!();
    let mut sh = Subhost::new("ebot").line("START=none");
    sh.boot_ok();
    let _ = sh.go(&["busybox", "reboot", "-f"]);
    assert!(
        wait_for(SETTLE, || sh.leftovers().is_empty()),
        "left after reboot(2): {:?}",
        sh.leftovers()
    );
    assert!(
        sh.log_text()
            .contains("reboot: reboot(2) called inside the subhost"),
        "{}",
        sh.log_text()
    );
}

/// Edge case 15: halt tools inside neither hang nor stop the subhost: the
/// busybox ones signal PID 1 with SIGUSR1/SIGUSR2 (ignored), sysvinit's
/// find no /run/initctl and fail at once.
#[test]
fn halt_and_poweroff_inside_return_at_once_and_change_nothing() {
    require_root!();
    let mut sh = Subhost::new("ehlt").line("START=none");
    let pid1 = sh.boot_ok();
    for tool in ["halt", "poweroff"] {
        let t0 = Instant::now();
        let _ = sh.go(&["busybox", tool]);
        assert!(t0.elapsed() < Duration::from_secs(5), "busybox {tool} hung");
    }
    assert_eq!(sh.sh("echo alive").trim(), "alive", "the subhost went away");
    assert!(process_state(pid1).is_some());
    sh.stop_ok();
}

/// Edge case 33 and the services example: with services.d-example in
/// UPPER, a syslog socket exists (/dev/log) and the supervised HTTP server
/// answers, on the host's root as LOWER and on a busybox root.
#[test]
fn services_example_gives_a_syslog_socket_and_a_web_server() {
    require_root!();
    for busybox in [false, true] {
        let mut sh = if busybox {
            Subhost::busybox("eex")
        } else {
            Subhost::new("eex")
        };
        sh = sh.line("START=none");
        sh.add_services_example();
        sh.boot_ok();
        sh.assert_services_example_runs(&format!("busybox={busybox}"));
        sh.stop_services_example();
    }
}

/// rt_sigqueueinfo(1, SIGTERM, {si_code=SI_QUEUE, si_pid=0}) in perl
/// (x86_64: syscall 129; siginfo: signo, errno, code, pad, pid, uid, then
/// zeros to 128 bytes).
const FORGED_SIGTERM: &str = "my $i = pack('iiiiiI', 15, 0, -1, 0, 0, 0) . (\"\\0\" x 104); \
     syscall(129, 1, 15, $i) == 0 or die \"rt_sigqueueinfo: $!\"; print \"sent\"";

/// Edge case 8 and design trap 5: a process inside forges `si_pid = 0` (the
/// host's mark) with rt_sigqueueinfo; PID 1 ignores it as it ignores
/// `kill -TERM 1` from inside, and a host overlay-stop still stops it.
#[test]
fn forged_stop_signal_from_inside_is_ignored_and_the_host_still_stops_it() {
    require_root!();
    let mut sh = Subhost::new("forg").line("START=none");
    let pid1 = sh.boot_ok();
    let out = sh.go_ok(&["perl", "-e", FORGED_SIGTERM]);
    assert_eq!(out.trim(), "sent");
    assert!(
        wait_for(SETTLE, || sh
            .log_text()
            .contains("inside the subhost (code -1) ignored")),
        "PID 1 did not log the forged SIGTERM as from inside:\n{}",
        sh.log_text()
    );
    assert!(
        !sh.log_text().contains("stopping (budget"),
        "a forged SIGTERM started the stop:\n{}",
        sh.log_text()
    );
    assert!(process_state(pid1).is_some(), "PID 1 is gone");
    sh.stop_ok();
}
