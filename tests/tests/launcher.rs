//! End-to-end tests of the launcher's life cycle, as root, against the real
//! binaries: `overlay-boot CONF`, `overlay-go NAME …`, `overlay-stop CONF`,
//! with the host's root and with a busybox root as LOWER, in each root mode.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::rootfs;
use e2e::subhost::{launcher, Proc, Subhost, BOOT};
use e2e::{bin, require_root, wait_for, ChildGuard, Scratch};
use nix::sys::signal::{kill, Signal};

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A start/stop script appending "TAG $1" to the subhost's own /root/order.
fn recorder(tag: &str) -> String {
    format!("#!/bin/sh\necho \"{tag} $1\" >> /root/order\n")
}

// ---------------------------------------------------------------- examples

#[test]
fn man_page_minimal_example_boots_enters_and_stops() {
    require_root!();
    // mkdir -p BASE/{work,root,live}; echo BASE=. > BASE/NAME.conf
    let mut sh = Subhost::new("min");
    assert_eq!(
        fs::read_to_string(&sh.conf).expect("conf"),
        "BASE=.\n",
        "the example's configuration"
    );
    let pid = sh.boot_ok();
    assert_eq!(sh.pid1(), pid);
    // Default START is `networking ssh`: absent here, they fail harmlessly
    // and are named in the log.
    let log = sh.log_text();
    assert!(
        log.contains("networking") && log.contains("ssh"),
        "log does not name the failed default START entries:\n{log}"
    );
    let cmdline = sh.go_ok(&["cat", "/proc/1/cmdline"]);
    assert!(cmdline.starts_with("subinit\0"), "PID 1 is {cmdline:?}");
    // No CMD: a login shell, here reading an empty stdin.
    let shell = sh.go(&[] as &[&str]);
    assert_eq!(shell.code, 0, "{shell}");
    sh.stop_ok();
}

#[test]
fn man_page_tiny_busybox_example_with_a_supervised_service() {
    require_root!();
    let mut sh = Subhost::busybox("tiny").line("START=none");
    sh.write_upper(
        "etc/overlay-boot/services.d/tick/run",
        "#!/bin/sh\nwhile date; do sleep 60; done\n",
        0o755,
    );
    sh.boot_ok();
    let ps = sh.go_ok(&["ps"]);
    assert!(ps.contains("sleep 60"), "tick's sleep not running:\n{ps}");
    assert!(
        wait_for(Duration::from_secs(10), || sh
            .log_text()
            .lines()
            .any(|l| l.contains("tick") && !l.contains("subinit"))),
        "no line tagged tick in the log:\n{}",
        sh.log_text()
    );
    sh.stop_ok();
}

// ------------------------------------------------------------ NAME and LOG

#[test]
fn name_and_log_default_to_the_file_name() {
    require_root!();
    let mut sh = Subhost::busybox("dflt").line("START=none");
    let default_log = format!("/tmp/oly-{}.log", sh.name);
    assert_eq!(sh.log, Path::new(&default_log));
    let pid = sh.boot_ok();
    assert!(sh.log.exists(), "{default_log} not written");
    assert!(sh.netns().exists(), "no /run/netns/{}", sh.name);
    assert!(sh.run_dir().is_dir(), "no run directory");
    if let Some(cg) = sh.cgroup() {
        assert!(cg.is_dir(), "no cgroup {}", cg.display());
    }
    let list = launcher("overlay-go", &[] as &[&str], &sh.scratch.path, BOOT);
    let want = format!("{} {} {}", sh.name, pid, sh.conf.display());
    assert!(
        list.out.lines().any(|l| l == want),
        "list lacks `{want}`: {list}"
    );
    assert_eq!(sh.go_ok(&["hostname"]).trim(), sh.name);
    sh.stop_ok();
}

#[test]
fn name_and_log_overrides() {
    require_root!();
    let mut sh = Subhost::busybox("ovr");
    let other = format!("{}x", sh.name.trim_start_matches("obt"));
    let name = format!("obt{}", &other[other.len().saturating_sub(9)..]);
    // The file is named differently from NAME, in a directory of its own.
    let conf_dir = sh.scratch.join("etc");
    fs::create_dir_all(&conf_dir).expect("conf dir");
    let stem = sh.name.clone();
    sh.conf = conf_dir.join(format!("{stem}.conf"));
    sh.name = name.clone();
    sh.expect_log(conf_dir.join("sub.log"));
    sh.set_conf(&format!(
        "NAME={name}\nLOG=sub.log\nBASE=../base\nLOWER=lower\nSTART=none\n"
    ));
    sh.boot_ok();
    assert!(sh.log.exists(), "LOG={} not written", sh.log.display());
    assert!(Path::new("/run/netns").join(&name).exists());
    assert!(
        !Path::new("/run/netns").join(&stem).exists(),
        "netns named after the file, not NAME"
    );
    assert!(!Path::new(&format!("/tmp/oly-{name}.log")).exists());
    assert!(!Path::new(&format!("/tmp/oly-{stem}.log")).exists());
    assert_eq!(sh.go_ok(&["hostname"]).trim(), name);
    sh.stop_ok();
    assert!(!Path::new("/run/overlay-boot").join(&stem).exists());
}

// -------------------------------------------------------------- root modes

#[test]
fn overlay_mode_on_the_host_root() {
    require_root!();
    let mut sh = Subhost::new("ovh").line("START=none");
    sh.boot_ok();
    let mounts = sh.go_ok(&["cat", "/proc/mounts"]);
    let root = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/"))
        .expect("no root in /proc/mounts");
    assert!(
        root.starts_with(&format!("{} / overlay ", sh.name)),
        "root is not an overlay named NAME: {root}"
    );
    // The host's files are there (LOWER=/).
    assert!(sh.go(&["test", "-x", "/usr/bin/env"]).ok());
    sh.stop_ok();
}

/// `UPPER=LOWER=tree`: LIVE is a bind mount of the tree; writes go into it.
#[test]
fn bind_mode_upper_equals_lower() {
    require_root!();
    let mut sh = Subhost::new("bind");
    let tree = rootfs::busybox(&sh.base.join("tree"));
    sh.set_conf("BASE=.\nUPPER=tree\nLOWER=tree\nSTART=none\n");
    sh.boot_ok();
    sh.sh("echo bound > /root/written");
    assert_eq!(
        fs::read_to_string(tree.join("root/written")).expect("write went into the tree"),
        "bound\n"
    );
    let mounts = sh.go_ok(&["cat", "/proc/mounts"]);
    let root = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/"))
        .expect("no root in /proc/mounts");
    assert!(
        !root.contains(" overlay "),
        "bind mode made an overlay: {root}"
    );
    sh.stop_ok();
    assert!(
        tree.join("root/written").exists(),
        "the tree lost the write"
    );
    assert!(
        fs::read_dir(&sh.live).expect("live").next().is_none(),
        "LIVE still shows the tree after stop"
    );
}

fn as_is_mode(premounted: bool) {
    let mut sh = Subhost::new(if premounted { "asm" } else { "asd" });
    let tree = sh.base.join("tree");
    fs::create_dir_all(&tree).expect("tree");
    let files = if premounted {
        // A tree elsewhere, bind-mounted on LIVE on the host before boot.
        let src = rootfs::busybox(&sh.scratch.join("src-tree"));
        sh.bind_on_host(&src, &tree);
        src
    } else {
        rootfs::busybox(&tree)
    };
    sh.set_conf("BASE=.\nLIVE=tree\nUPPER=tree\nLOWER=tree\nSTART=none\n");
    sh.boot_ok();
    sh.sh("echo as-is > /root/written");
    assert_eq!(
        fs::read_to_string(files.join("root/written")).expect("write went into the tree"),
        "as-is\n"
    );
    assert_eq!(sh.go_ok(&["hostname"]).trim(), sh.name);
    sh.stop_ok();
    if premounted {
        let still = e2e::subhost::host_mounts()
            .iter()
            .filter(|m| m.point == tree)
            .count();
        assert_eq!(still, 1, "the user's own mount of LIVE changed after stop");
    }
    assert!(files.join("root/written").exists());
}

/// LIVE=UPPER=LOWER, a plain directory (the original fails here: BUG).
#[test]
fn as_is_mode_on_a_plain_directory() {
    require_root!();
    as_is_mode(false);
}

/// LIVE=UPPER=LOWER, already a mount point on the host.
#[test]
fn as_is_mode_on_a_premounted_live() {
    require_root!();
    as_is_mode(true);
}

// ------------------------------------------------------------------- START

fn start_order(busybox: bool) {
    let mut sh = if busybox {
        Subhost::busybox("sob")
    } else {
        Subhost::new("soh")
    };
    sh = sh.line("START=/start-a obtsvc /start-b");
    sh.write_upper("start-a", &recorder("a"), 0o755);
    sh.write_upper("start-b", &recorder("b"), 0o755);
    sh.write_upper("etc/init.d/obtsvc", &recorder("svc"), 0o755);
    sh.boot_ok();
    let order = sh.upper.join("root/order");
    assert_eq!(
        lines(&order),
        ["a start", "svc start", "b start"],
        "log:\n{}",
        sh.log_text()
    );
    if !busybox {
        // With the host's root as LOWER, `service` exists and is used.
        assert!(sh.go(&["test", "-x", "/usr/sbin/service"]).ok());
    }
    sh.stop_ok();
    assert_eq!(
        lines(&order),
        [
            "a start",
            "svc start",
            "b start",
            "b stop",
            "svc stop",
            "a stop"
        ],
        "log:\n{}",
        sh.log_text()
    );
    assert!(
        !Path::new("/root/order").exists() || busybox,
        "a START script wrote into the host's /root"
    );
}

#[test]
fn start_by_path_and_by_service_name_on_the_host_root_in_order() {
    require_root!();
    start_order(false);
}

#[test]
fn start_by_path_and_by_init_d_name_on_busybox_in_order() {
    require_root!();
    start_order(true);
}

// ------------------------------------------------------------- maintenance

#[test]
fn maintenance_boot_is_entered_with_go() {
    require_root!();
    let mut sh = Subhost::busybox("mnt").line("START=none");
    sh.boot_ok();
    let cmdline = sh.go_ok(&["cat", "/proc/1/cmdline"]);
    assert!(
        cmdline.starts_with(&format!("subinit\0--name\0{}\0", sh.name)),
        "PID 1 is not the subinit: {cmdline:?}"
    );
    let ps = sh.go_ok(&["ps", "-o", "pid,args"]);
    let pids: Vec<&str> = ps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        pids.len(),
        2,
        "a maintenance boot runs only PID 1 (and ps):\n{ps}"
    );
    let status = sh.go(&["sh", "-c", "exit 7"]);
    assert_eq!(status.code, 7, "overlay-go's status is not CMD's: {status}");
    // What ps, top and `pgrep -x subinit` show, inside and on the host.
    let comm = sh.go_ok(&["cat", "/proc/1/comm"]);
    let t0 = Instant::now();
    sh.stop_ok();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "an idle subhost took {:?} to stop",
        t0.elapsed()
    );
    assert_eq!(
        comm.trim(),
        "subinit",
        "PID 1's process name (comm) is not subinit"
    );
}

// ----------------------------------------------- several boots and stops

#[test]
fn two_subhosts_at_once() {
    require_root!();
    let mut a = Subhost::busybox("twa").line("START=none");
    let mut b = Subhost::busybox("twb").line("START=none");
    let pa = a.boot_ok();
    let pb = b.boot_ok();
    assert_ne!(pa, pb);
    let list = launcher("overlay-go", &[] as &[&str], &a.scratch.path, BOOT);
    for (sh, pid) in [(&a, pa), (&b, pb)] {
        let want = format!("{} {} {}", sh.name, pid, sh.conf.display());
        assert!(
            list.out.lines().any(|l| l == want),
            "list lacks `{want}`: {list}"
        );
        assert_eq!(sh.go_ok(&["hostname"]).trim(), sh.name);
    }
    a.sh("echo a > /root/mine");
    assert!(
        b.go(&["test", "-e", "/root/mine"]).code != 0,
        "a's file seen in b"
    );
    a.stop_ok();
    assert_eq!(b.go_ok(&["hostname"]).trim(), b.name, "b hurt by a's stop");
    b.stop_ok();
}

#[test]
fn double_boot_is_refused_and_the_first_lives_on() {
    require_root!();
    let mut sh = Subhost::new("dbl").line("START=/start-a");
    sh.write_upper("start-a", &recorder("a"), 0o755);
    let pid = sh.boot_ok();
    let again = sh.tool("overlay-boot", &[&sh.conf], BOOT);
    assert_eq!(again.code, 1, "second boot: {again}");
    assert!(
        again.err.contains(&sh.name) && again.err.contains("running"),
        "no clear message: {again}"
    );
    assert!(Proc::of(pid).is_some(), "the first PID 1 died");
    let recorded = fs::read_to_string(sh.run_dir().join("pid")).unwrap_or_default();
    assert_eq!(
        recorded.trim(),
        pid.to_string(),
        "run state now names another PID 1"
    );
    assert_eq!(
        lines(&sh.upper.join("root/order")),
        ["a start"],
        "START ran twice"
    );
    // Another file naming the same subhost is refused too.
    let other = sh.scratch.join("other.conf");
    fs::write(
        &other,
        format!("NAME={}\nBASE=base\nSTART=/start-a\n", sh.name),
    )
    .expect("other conf");
    let third = sh.tool("overlay-boot", &[&other], BOOT);
    assert_eq!(
        third.code, 1,
        "boot of the same NAME from another file: {third}"
    );
    assert!(third.err.contains("running"), "no clear message: {third}");
    assert_eq!(
        lines(&sh.upper.join("root/order")),
        ["a start"],
        "START ran twice"
    );
    let cmdline = sh.go_ok(&["cat", "/proc/1/cmdline"]);
    assert!(cmdline.starts_with("subinit\0"));
    sh.stop_ok();
}

#[test]
fn stop_of_a_stopped_subhost_fails_with_a_message() {
    require_root!();
    let mut sh = Subhost::busybox("stp").line("START=none");
    let never = sh.stop();
    assert_eq!(never.code, 1, "stop before any boot: {never}");
    assert!(never.err.contains("not running"), "{never}");
    sh.boot_ok();
    sh.stop_ok();
    let again = sh.stop();
    assert_eq!(again.code, 1, "second stop: {again}");
    assert!(again.err.contains("not running"), "{again}");
    let go = sh.go(&["true"]);
    assert_eq!(go.code, 1, "go into a stopped subhost: {go}");
    sh.assert_gone();
}

// ------------------------------------------------------------ kill -9

#[test]
fn kill_9_of_the_monitor_then_stop_and_boot_again() {
    require_root!();
    let mut sh = Subhost::busybox("kmon").line("START=/start-a");
    sh.write_upper("start-a", &recorder("a"), 0o755);
    let pid = sh.boot_ok();
    let monitor = sh.monitor();
    let from_run_dir = fs::read_to_string(sh.run_dir().join("monitor")).unwrap_or_default();
    assert_eq!(
        from_run_dir.trim(),
        monitor.pid.to_string(),
        "the run directory's monitor is not PID 1's parent"
    );
    kill(monitor.pid, Signal::SIGKILL).expect("kill -9 the monitor");
    assert!(
        wait_for(Duration::from_secs(10), || !monitor.alive()),
        "monitor survived kill -9"
    );
    let pid1_alive = Proc::of(pid).is_some_and(|p| p.alive());
    let stop = sh.stop();
    sh.assert_gone();
    let order = lines(&sh.upper.join("root/order"));
    let log = sh.log_text();
    sh.boot_ok();
    sh.go_ok(&["true"]);
    sh.stop_ok();
    // Checked last, so that the clean-up and the second boot are seen too.
    if pid1_alive {
        assert_eq!(
            stop.code, 0,
            "PID 1 was still running after its monitor died: {stop}"
        );
        assert_eq!(
            order,
            ["a start", "a stop"],
            "the subhost was running but its stop was not graceful (no stop actions)\nlog:\n{log}"
        );
    } else {
        eprintln!("note: PID 1 died with its monitor; stop said: {stop}");
    }
}

#[test]
fn kill_9_of_pid1_tears_everything_down_without_stop() {
    require_root!();
    let mut sh = Subhost::new("kp1").line("START=none");
    sh.boot_ok();
    let monitor = sh.monitor();
    kill(sh.pid1(), Signal::SIGKILL).expect("kill -9 PID 1");
    let gone = sh.wait_gone(Duration::from_secs(15));
    assert!(gone, "after kill -9 of PID 1: {:?}", sh.leftovers());
    assert!(!monitor.alive(), "monitor still alive");
    let stop = sh.stop();
    assert_eq!(stop.code, 1, "stop after the subhost died: {stop}");
    assert!(stop.err.contains("not running"), "{stop}");
    sh.assert_gone();
}

// ------------------------------------------------------------- foreground

fn foreground(kill_pid1: bool) {
    let mut sh = Subhost::busybox(if kill_pid1 { "fgk" } else { "fgs" }).line("START=none");
    let out = sh.scratch.join("fg.out");
    let mut cmd = Command::new(bin("overlay-boot"));
    cmd.arg("--foreground")
        .arg(&sh.conf)
        .env("OVERLAY_BOOT_SUBINIT", bin("subinit"))
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(&out).expect("out file"))
        .stderr(fs::File::create(sh.scratch.join("fg.err")).expect("err file"));
    let mut fg = ChildGuard::spawn(&mut cmd);
    let ready = format!("{} ready: pid ", sh.name);
    assert!(
        wait_for(BOOT, || fs::read_to_string(&out)
            .unwrap_or_default()
            .contains(&ready)),
        "no ready line from --foreground: {:?}\n{}",
        fs::read_to_string(&out),
        sh.log_text()
    );
    let line = fs::read_to_string(&out).expect("out");
    let pid: i32 = line
        .trim()
        .strip_prefix(&ready)
        .and_then(|r| r.split(',').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("bad ready line {line:?}"));
    let pid = nix::unistd::Pid::from_raw(pid);
    // Learn PID 1 and its monitor (the --foreground process) for the
    // leftover checks.
    sh.record(pid);
    assert_eq!(
        sh.monitor().pid,
        fg.pid(),
        "PID 1's parent is not the --foreground launcher"
    );
    let status = fg.child.try_wait().expect("try_wait");
    assert!(
        status.is_none(),
        "--foreground returned while the subhost runs"
    );
    if kill_pid1 {
        kill(pid, Signal::SIGKILL).expect("kill -9 PID 1");
    } else {
        let stop = sh.stop();
        assert_eq!(stop.code, 0, "{stop}");
    }
    let status = fg
        .wait_timeout(Duration::from_secs(20))
        .expect("--foreground did not end");
    assert_eq!(
        status.code(),
        Some(if kill_pid1 { 1 } else { 0 }),
        "--foreground exit status"
    );
    assert!(sh.wait_gone(Duration::from_secs(5)), "{:?}", sh.leftovers());
}

#[test]
fn foreground_stays_attached_and_exits_0_on_stop() {
    require_root!();
    foreground(false);
}

#[test]
fn foreground_exits_1_when_pid1_is_killed() {
    require_root!();
    foreground(true);
}

// ----------------------------------------------------------------- usage

#[test]
fn usage_errors_exit_2() {
    require_root!();
    let s = Scratch::new("use");
    for (tool, args) in [
        ("overlay-boot", vec![]),
        ("overlay-boot", vec!["--bogus", "x.conf"]),
        ("overlay-stop", vec![]),
        ("overlay-stop", vec!["a.conf", "b.conf"]),
        ("overlay-go", vec!["--bogus"]),
    ] {
        let out = launcher(tool, &args, &s.path, BOOT);
        assert_eq!(out.code, 2, "{out}");
    }
    let help = launcher("overlay-boot", &["--help"], &s.path, BOOT);
    assert_eq!(help.code, 0, "{help}");
}
