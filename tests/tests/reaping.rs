//! Reaping bursts of thousands of orphans. In a test binary of its own:
//! cargo runs test binaries one after the other, so the 5,000 processes
//! of a burst never compete for the CPUs with the timing-sensitive tests.

use std::time::Duration;

use e2e::pid1::{As, Subinit};
use e2e::{require_root, wait_for, Scratch};

const BOOT: Duration = Duration::from_secs(10);
const STOP: Duration = Duration::from_secs(15);

/// Writes a start script that makes `n` orphans blocked on a pipe, then
/// releases them all at once and records "released".
fn orphan_burst(s: &Scratch, n: u32) -> String {
    let mark = s.join("released").display().to_string();
    let perl = format!(
        "use POSIX; pipe(my $r, my $w) or die; \
         for (1..{n}) {{ my $p = fork // die; if (!$p) {{ if (!fork) {{ close $w; sysread($r, my $b, 1); POSIX::_exit(0) }} POSIX::_exit(0) }} waitpid($p, 0) }} \
         close $w; open(my $m, '>', '{mark}'); close $m;"
    );
    let script = format!(
        "#!/bin/sh\nperl -e \"{}\" </dev/null >/dev/null 2>&1 &\n",
        perl.replace('$', "\\$")
    );
    s.write("burst", &script, 0o755).display().to_string()
}

fn burst_leaves_no_zombie(how: As) {
    let s = Scratch::new("burst");
    let burst = orphan_burst(&s, 5000);
    let mut init = Subinit::start(how, &s, &["--services", "none", "--start", &burst]);
    assert!(init.ready(BOOT).is_some(), "{}", init.log_text());
    assert!(
        wait_for(Duration::from_secs(120), || s.join("released").exists()),
        "generator never finished"
    );
    let drained = wait_for(Duration::from_secs(30), || init.children().is_empty());
    assert!(
        drained,
        "{} children left, {} zombies",
        init.children().len(),
        init.zombie_children()
    );
    assert!(init.stop(STOP).expect("stop").success());
}

#[test]
fn burst_of_5000_orphans_leaves_no_zombie_as_pid1() {
    require_root!();
    burst_leaves_no_zombie(As::Pid1);
}

#[test]
fn burst_of_5000_orphans_leaves_no_zombie_as_subreaper() {
    burst_leaves_no_zombie(As::Subreaper);
}
