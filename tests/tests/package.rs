//! Install, package and service-manager integration (issue 8), as root,
//! for real: the Debian package installed on this machine and purged (on
//! failure too), the init script with two subhosts and a broken line, the
//! sd_notify protocol on a datagram socket the test listens on, a subhost
//! booted by the original 1.6.4 stopped by ours, `make install` under
//! /usr/local and `make uninstall`.

use std::fs;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::subhost::{Subhost, BOOT, STOP};
use e2e::system::{self, build_deb, dpkg_state, output, top, Purge};
use e2e::{bin, in_ci, note_skip, require_root, wait_for, ChildGuard, Scratch};

const PACKAGES: &[&str] = &["overlay-boot-rs", "overlay-boot"];

/// What the package owns outside /usr, and what its scripts make.
const SYSTEM_PATHS: &[&str] = &[
    "/etc/subhosts.conf",
    "/etc/init.d/subhosts",
    "/etc/rc2.d/S01subhosts",
    "/etc/rc0.d/K01subhosts",
    "/usr/sbin/overlay-boot",
    "/usr/sbin/overlay-stop",
    "/usr/lib/overlay-boot",
    "/usr/lib/systemd/system/overlay-boot@.service",
    "/etc/systemd/system/multi-user.target.wants/subhosts.service",
    "/var/lib/systemd/deb-systemd-helper-enabled/subhosts.service.dsh-also",
];

fn left_on_system() -> Vec<String> {
    let mut left: Vec<String> = SYSTEM_PATHS
        .iter()
        .filter(|p| Path::new(p).symlink_metadata().is_ok())
        .map(|p| p.to_string())
        .collect();
    for rc in [
        "rc0.d", "rc1.d", "rc2.d", "rc3.d", "rc4.d", "rc5.d", "rc6.d",
    ] {
        if let Ok(entries) = fs::read_dir(Path::new("/etc").join(rc)) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().ends_with("subhosts") {
                    left.push(e.path().display().to_string());
                }
            }
        }
    }
    left
}

/// Refuses to run on a machine where the package (or the files it would
/// take) already exist: the test would change an administrator's setup.
fn require_clean_machine() {
    for pkg in PACKAGES {
        assert!(
            dpkg_state(pkg).is_none(),
            "{pkg} is installed here: refusing to test over it"
        );
    }
    let left = left_on_system();
    assert!(
        left.is_empty(),
        "files of the package exist already: {left:?}"
    );
}

fn dpkg(args: &[&str]) -> String {
    let (code, text) = system::dpkg(args);
    assert_eq!(code, 0, "dpkg {args:?}: {text}");
    text
}

fn init_script(action: &str) -> (i32, String) {
    output(
        Command::new("/etc/init.d/subhosts")
            .arg(action)
            .env("SUBHOSTS_STOP_OTHERS", "no")
            .stdin(Stdio::null()),
    )
}

fn running_names() -> String {
    output(Command::new("/usr/sbin/overlay-boot").arg("--list")).1
}

#[test]
fn package_upgrade_from_original_keeps_subhosts_conf() {
    require_root!();
    let _lock = system::lock();
    require_clean_machine();
    let scratch = Scratch::new("pkgu");
    let Some(original) = system::original_deb(&scratch) else {
        assert!(!in_ci(), "could not fetch overlay-boot 1.6.4 with apt");
        note_skip("the original overlay-boot could not be fetched with apt");
        return;
    };
    let ours = build_deb(&scratch.join("out"));
    let _purge = Purge(PACKAGES);
    // The original depends on ifupdown, which this machine need not have.
    dpkg(&["-i", "--force-depends", original.to_str().expect("utf-8")]);
    let admin = "# the administrator's list\n/opt/nowhere/mta.conf\n";
    fs::write("/etc/subhosts.conf", admin).expect("edit /etc/subhosts.conf");
    // No --force-confold: dpkg itself keeps the edited list (Replaces).
    let text = dpkg(&["-i", ours.to_str().expect("utf-8")]);
    assert_eq!(
        dpkg_state("overlay-boot-rs").as_deref(),
        Some("installed"),
        "{text}"
    );
    assert!(
        !matches!(dpkg_state("overlay-boot").as_deref(), Some("installed")),
        "{text}"
    );
    assert_eq!(
        fs::read_to_string("/etc/subhosts.conf").expect("read"),
        admin,
        "{text}"
    );
    assert!(Path::new("/usr/sbin/overlay-boot").is_file(), "{text}");
    let (code, version) = output(Command::new("/usr/sbin/overlay-stop").arg("--version"));
    assert_eq!(code, 0, "{version}");
    drop(_purge);
    assert_eq!(left_on_system(), Vec::<String>::new(), "left after purge");
}

#[test]
fn package_install_init_script_and_purge() {
    require_root!();
    let _lock = system::lock();
    require_clean_machine();
    let scratch = Scratch::new("pkgi");
    let deb = build_deb(&scratch.join("out"));
    // Reproducible: a second build of the same tree is byte-identical.
    let again = build_deb(&scratch.join("again"));
    assert!(
        fs::read(&deb).expect("read") == fs::read(&again).expect("read"),
        "two builds of the package differ"
    );
    assert_lintian_clean(&deb);
    let _purge = Purge(PACKAGES);
    let (code, text) = output(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .arg(format!(
                "-oDPkg::Lock::Timeout={}",
                system::DPKG_LOCK.as_secs()
            ))
            .arg(&deb)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
    assert_eq!(code, 0, "apt-get install ./deb: {text}");
    // Registered like the original's, nothing started.
    assert!(
        Path::new("/etc/rc2.d/S01subhosts").exists(),
        "not registered with update-rc.d"
    );
    let started = started_by("/usr/sbin/overlay-boot");
    assert!(started.is_empty(), "started at install: {started:?}");
    let (code, version) = output(Command::new("/usr/sbin/overlay-boot").arg("--version"));
    assert!(
        code == 0 && version.starts_with("overlay-boot "),
        "{version}"
    );
    verify_units();
    init_script_cycle(&scratch);
    // remove keeps the conffiles (policy), purge removes everything.
    dpkg(&["--remove", "overlay-boot-rs"]);
    assert!(
        Path::new("/etc/subhosts.conf").exists(),
        "remove took a conffile"
    );
    assert!(
        !Path::new("/usr/sbin/overlay-boot").exists(),
        "remove left the launcher"
    );
    // The fallback log directory the launcher makes on demand is the
    // package's data: purge takes it.
    let _ = fs::create_dir("/var/log/overlay-boot");
    fs::write("/var/log/overlay-boot/obtpkg.log", "a log line\n").expect("write a log");
    dpkg(&["--purge", "overlay-boot-rs"]);
    assert_eq!(dpkg_state("overlay-boot-rs"), None);
    assert_eq!(left_on_system(), Vec::<String>::new(), "left after purge");
    assert!(
        !Path::new("/var/log/overlay-boot").exists(),
        "purge left /var/log/overlay-boot"
    );
}

/// lintian finds no error and no warning: each remaining hint is an
/// override with its reason in pkg/debian/lintian-overrides.
fn assert_lintian_clean(deb: &Path) {
    let (code, text) = output(Command::new("lintian").arg("--pedantic").arg(deb));
    let found: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(
        code == 0 && found.is_empty(),
        "lintian (exit {code}): {found:?}\n{text}"
    );
}

/// The init script with two subhosts listed and a broken line between.
fn init_script_cycle(scratch: &Scratch) {
    let a = Subhost::busybox("ia").line("START=none");
    let b = Subhost::busybox("ib").line("START=none");
    let missing = scratch.join("missing.conf");
    let refused = scratch.write("refused.conf", "BASE=/nonexistent/obt\n", 0o644);
    let list = format!(
        "# test list\n{}\n{}   # a broken line\n{}\n{}\n",
        a.conf.display(),
        missing.display(),
        refused.display(),
        b.conf.display()
    );
    fs::write("/etc/subhosts.conf", list).expect("write /etc/subhosts.conf");
    let (code, start) = init_script("start");
    eprintln!("== /etc/init.d/subhosts start (exit {code})\n{start}");
    assert_eq!(code, 1, "a broken line fails start: {start}");
    assert!(
        start.contains("line 3: ") && start.contains("missing.conf: no such"),
        "{start}"
    );
    assert!(
        start.contains("line 4: ") && start.contains("refused.conf: failed: "),
        "{start}"
    );
    assert!(
        start.contains("BASE"),
        "the refusal's reason is not shown: {start}"
    );
    let listing = running_names();
    for sh in [&a, &b] {
        assert!(
            listing.contains(&format!("{} ", sh.name)),
            "{} not running: {listing}\n{start}",
            sh.name
        );
    }
    let (code, again) = init_script("start");
    assert!(code == 1 && again.contains("already running"), "{again}");
    let (code, status) = init_script("status");
    eprintln!("== /etc/init.d/subhosts status (exit {code})\n{status}");
    assert_eq!(code, 3, "one listed subhost does not run: {status}");
    assert!(
        status.contains(&format!("{}: {} ready", a.conf.display(), a.name)),
        "{status}"
    );
    assert!(
        status.contains(&format!("{}: not running", missing.display())),
        "{status}"
    );
    let pid_before = pid_of(&a.name);
    let (code, restart) = init_script("restart");
    assert_eq!(code, 1, "{restart}");
    assert_ne!(
        pid_of(&a.name),
        pid_before,
        "restart did not boot anew: {restart}"
    );
    let (code, stop) = init_script("stop");
    eprintln!("== /etc/init.d/subhosts stop (exit {code})\n{stop}");
    assert_eq!(code, 0, "{stop}");
    let first = stop.find(&b.conf.display().to_string());
    let second = stop.find(&a.conf.display().to_string());
    assert!(first < second, "not stopped in reverse order: {stop}");
    a.assert_gone();
    b.assert_gone();
    let (code, status) = init_script("status");
    assert_eq!(code, 3, "{status}");
    let logged = fs::read_to_string(&a.log).unwrap_or_default();
    assert!(!logged.is_empty(), "no LOG");
    let mut old = a.log.clone().into_os_string();
    old.push(".1");
    assert!(
        Path::new(&old).exists(),
        "restart did not keep the previous LOG as LOG.1"
    );
}

/// The running subhosts whose monitor runs `exe` (other subhosts may run
/// on this machine: other tests', an administrator's).
fn started_by(exe: &str) -> Vec<String> {
    running_names()
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with(' '))
        .filter(|l| {
            let pid = l.split(' ').nth(1).and_then(|p| p.parse().ok());
            pid.and_then(|p| e2e::subhost::parent_of(nix::unistd::Pid::from_raw(p)))
                .and_then(|m| fs::read_link(format!("/proc/{m}/exe")).ok())
                .is_some_and(|e| e == Path::new(exe))
        })
        .map(str::to_string)
        .collect()
}

fn pid_of(name: &str) -> Option<String> {
    running_names()
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split(' ').nth(1).map(str::to_string))
}

/// `systemd-analyze verify` on the installed units, where it exists.
fn verify_units() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        note_skip("systemd-analyze is not installed: units not verified");
        return;
    }
    let dir = Scratch::new("unit");
    let units = Path::new("/usr/lib/systemd/system");
    for (file, instance) in [
        (
            "overlay-boot@.service",
            "overlay-boot@opt-mta-mta.conf.service",
        ),
        ("subhosts@.service", "subhosts@opt-mta-mta.conf.service"),
        ("subhosts.service", "subhosts.service"),
    ] {
        let copy = dir.join(instance);
        fs::copy(units.join(file), &copy).expect("copy unit");
        let (code, text) = output(
            Command::new("systemd-analyze")
                .args(["verify", "--man=no"])
                .arg(&copy),
        );
        // Only what concerns our unit: the host's own units may warn.
        let ours: Vec<&str> = text.lines().filter(|l| l.contains(instance)).collect();
        assert!(
            code == 0 && ours.is_empty(),
            "systemd-analyze verify {instance}: {text}"
        );
    }
}

// ------------------------------------------------------------- sd_notify

fn notify_boot(sh: &Subhost, socket: &Path, err: &Path) -> ChildGuard {
    let mut cmd = Command::new(bin("overlay-boot"));
    cmd.arg("--foreground")
        .arg(&sh.conf)
        .env("OVERLAY_BOOT_SUBINIT", bin("subinit"))
        .env("NOTIFY_SOCKET", socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(err).expect("err file"));
    ChildGuard::spawn(&mut cmd)
}

#[test]
fn foreground_notifies_ready_after_start_and_stopping_at_stop() {
    require_root!();
    let gate = Scratch::new("gate");
    let mut sh = Subhost::busybox("ntf")
        .line("START=/bin/gated")
        .line(&format!("SHARE={}:/gate", gate.path.display()));
    sh.write_upper(
        "bin/gated",
        "#!/bin/sh\n[ \"$1\" = start ] || exit 0\nwhile [ ! -e /gate/go ]; do sleep 0.05; done\n",
        0o755,
    );
    let socket = sh.scratch.join("notify.sock");
    let listener = UnixDatagram::bind(&socket).expect("bind notify socket");
    let mut fg = notify_boot(&sh, &socket, &sh.scratch.join("fg.err"));
    let mut buf = [0u8; 4096];
    listener
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    assert!(
        listener.recv(&mut buf).is_err(),
        "a notification came before the start action returned"
    );
    fs::write(gate.join("go"), "").expect("open the gate");
    listener.set_read_timeout(Some(BOOT)).expect("timeout");
    let err = sh.scratch.join("fg.err");
    let n = listener.recv(&mut buf).unwrap_or_else(|e| {
        panic!(
            "READY=1 never came ({e}): {}\nlog:\n{}",
            fs::read_to_string(&err).unwrap_or_default(),
            sh.log_text()
        )
    });
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.contains("READY=1\n"), "{ready:?}");
    assert!(
        ready.contains(&format!("STATUS={} ready: pid ", sh.name)),
        "{ready:?}"
    );
    assert!(
        ready.contains(&format!("MAINPID={}\n", fg.child.id())),
        "{ready:?}"
    );
    // The list shows what the subinit last reported, which may lag a little.
    let line = format!("{} {} ready ", sh.name, pid_field(&ready));
    assert!(
        wait_for(Duration::from_secs(5), || output(
            Command::new(bin("overlay-boot")).arg("--list")
        )
        .1
        .contains(&line)),
        "--list does not show {line:?}"
    );
    let stop = sh.stop();
    assert!(stop.ok(), "{stop}");
    listener.set_read_timeout(Some(STOP)).expect("timeout");
    let n = listener.recv(&mut buf).expect("STOPPING=1 never came");
    let stopping = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping:?}");
    let status = fg.wait_timeout(STOP).expect("--foreground did not end");
    assert_eq!(status.code(), Some(0));
    sh.assert_gone();
}

/// PID 1's pid in `STATUS=NAME ready: pid PID`.
fn pid_field(notification: &str) -> String {
    notification
        .lines()
        .find_map(|l| {
            l.split_once(" ready: pid ")
                .map(|(_, p)| p.trim().to_string())
        })
        .unwrap_or_default()
}

#[test]
fn foreground_runs_with_a_socket_that_refuses_datagrams() {
    require_root!();
    let mut sh = Subhost::busybox("ntb").line("START=none");
    // A stream socket: sendto() of a datagram to it fails.
    let socket = sh.scratch.join("stream.sock");
    let _stream = UnixListener::bind(&socket).expect("bind stream socket");
    let err = sh.scratch.join("fg.err");
    let mut fg = notify_boot(&sh, &socket, &err);
    assert!(
        wait_for(BOOT, || sh.run_dir().join("pid").exists()
            || fs::read_to_string(&err)
                .unwrap_or_default()
                .contains("ready")),
        "no boot"
    );
    assert!(
        wait_for(BOOT, || fs::read_to_string(&err)
            .unwrap_or_default()
            .contains("no readiness notification")),
        "no warning: {}",
        fs::read_to_string(&err).unwrap_or_default()
    );
    assert!(
        fg.child.try_wait().expect("try_wait").is_none(),
        "--foreground ended"
    );
    let stop = sh.stop();
    assert!(stop.ok(), "{stop}");
    assert_eq!(fg.wait_timeout(STOP).and_then(|s| s.code()), Some(0));
    let text = fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(
        text.matches("no readiness notification").count(),
        1,
        "{text}"
    );
    sh.assert_gone();
}

// ------------------------------------------------------ the original 1.6.4

#[test]
fn overlay_stop_stops_a_subhost_the_original_booted() {
    require_root!();
    let scratch = Scratch::new("orig");
    let Some(deb) = system::original_deb(&scratch) else {
        assert!(!in_ci(), "could not fetch overlay-boot 1.6.4 with apt");
        note_skip("the original overlay-boot could not be fetched with apt");
        return;
    };
    let root = scratch.join("root");
    let (code, text) = output(Command::new("dpkg").arg("-x").arg(&deb).arg(&root));
    assert_eq!(code, 0, "{text}");
    // Its scripts find their helpers through their real path; the link's
    // name keeps "overlay-boot" in its command line (its own bookkeeping).
    let orig = scratch.join("bin/overlay-boot");
    fs::create_dir_all(orig.parent().expect("bin")).expect("bin dir");
    std::os::unix::fs::symlink(root.join("var/lib/overlay-boot/overlay-boot"), &orig)
        .expect("link");
    let mut sh = Subhost::new("orb").line("START=none");
    let (code, text) = output(
        Command::new(&orig)
            .arg(&sh.conf)
            .env_remove("UNSHARED")
            .env_remove("REAPER")
            .env_remove("CONFIG")
            .stdin(Stdio::null()),
    );
    assert_eq!(code, 0, "the original's boot: {text}");
    let mut found = None;
    assert!(
        wait_for(BOOT, || {
            found = find_reaper(&sh.netns());
            found.is_some()
        }),
        "the original's .reaper never ran; its log ends:\n{}",
        tail(&sh.log_text(), 40)
    );
    let reaper = found.expect("reaper");
    let stop = sh.stop();
    assert_eq!(stop.code, 0, "{stop}\nlog:\n{}", sh.log_text());
    assert!(stop.err.contains("booted by the original"), "{stop}");
    assert!(
        sh.wait_gone(Duration::from_secs(10)),
        "{:?}",
        sh.leftovers()
    );
    assert!(!reaper.exists(), "the .reaper still runs");
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// /proc/PID of the `.reaper` in the network namespace `netns`.
fn find_reaper(netns: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let ino = fs::metadata(netns).ok()?.ino();
    fs::read_dir("/proc")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            fs::read_to_string(p.join("comm")).is_ok_and(|c| c.trim() == ".reaper")
                && fs::metadata(p.join("ns/net")).is_ok_and(|m| m.ino() == ino)
        })
}

// ---------------------------------------------------- make install, uninstall

fn make(args: &[&str]) -> (i32, String) {
    // -o build: the release binaries under test are used as built.
    output(
        Command::new("make")
            .args(["-s", "-o", "build", "-o", "deps-build"])
            .args(args)
            .current_dir(top()),
    )
}

fn tree(dirs: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for d in dirs {
        let (_, text) = output(Command::new("find").arg(d));
        out.extend(text.lines().map(str::to_string));
    }
    out.sort();
    out
}

#[test]
fn make_install_under_usr_local_boots_stops_and_uninstalls_to_nothing() {
    require_root!();
    let _lock = system::lock();
    require_clean_machine();
    let watched = ["/usr/local", "/etc/init.d", "/etc"];
    let before = tree(&watched);
    struct Uninstall;
    impl Drop for Uninstall {
        fn drop(&mut self) {
            let _ = make(&["uninstall", "PREFIX=/usr/local"]);
        }
    }
    let guard = Uninstall;
    let (code, text) = make(&["install", "PREFIX=/usr/local"]);
    assert_eq!(code, 0, "make install: {text}");
    let launcher = Path::new("/usr/local/sbin/overlay-boot");
    assert!(
        Path::new("/usr/local/lib/overlay-boot/subinit").is_file(),
        "{text}"
    );
    let init = fs::read_to_string("/etc/init.d/subhosts").expect("init script");
    assert!(
        init.contains("SBINDIR=/usr/local/sbin"),
        "init script not for /usr/local"
    );
    let sh = Subhost::busybox("loc").line("START=none");
    // The installed commands alone: no OVERLAY_BOOT_SUBINIT.
    let (code, text) = output(
        Command::new(launcher)
            .arg(&sh.conf)
            .env_remove("OVERLAY_BOOT_SUBINIT")
            .stdin(Stdio::null()),
    );
    assert_eq!(
        code,
        0,
        "boot with the installed launcher: {text}\n{}",
        sh.log_text()
    );
    let (code, text) = output(
        Command::new("/usr/local/sbin/overlay-stop")
            .arg(&sh.conf)
            .env_remove("OVERLAY_BOOT_SUBINIT"),
    );
    assert_eq!(code, 0, "stop: {text}");
    sh.assert_gone();
    drop(guard);
    assert_eq!(tree(&watched), before, "make uninstall left something");
}

#[test]
fn make_install_into_a_read_only_destdir_fails_and_leaves_nothing() {
    require_root!();
    let scratch = Scratch::new("ro");
    let ro = scratch.join("ro");
    let half = scratch.join("half");
    for d in [&ro, &half.join("etc")] {
        fs::create_dir_all(d).expect("dir");
        nix::mount::mount(
            Some("tmpfs"),
            d.as_path(),
            Some("tmpfs"),
            nix::mount::MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .expect("read-only tmpfs");
    }
    let (code, text) = make(&["install", &format!("DESTDIR={}", ro.display())]);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("Read-only file system") && text.contains("install: failed"),
        "{text}"
    );
    assert_eq!(
        tree(&[ro.to_str().expect("utf-8")]).len(),
        1,
        "something was made"
    );
    // Writable at first, read-only at /etc: what was installed is removed.
    let (code, text) = make(&["install", &format!("DESTDIR={}", half.display())]);
    assert_ne!(code, 0, "{text}");
    let left = tree(&[half.to_str().expect("utf-8")]);
    assert_eq!(left.len(), 2, "half an install left: {left:?}\n{text}");
}
