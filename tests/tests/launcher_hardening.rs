//! Holes a review found in the launcher, kept closed: one UPPER mounted by
//! two subhosts at once, a FIFO at LOG, the caller's fds held for the
//! subhost's life, a stop lost while the boot was setting up.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use e2e::subhost::{run_captured, Subhost, BOOT};
use e2e::{bin, require_root, wait_for, ChildGuard};

/// Security check 22: a second subhost under another NAME over the same
/// BASE (hence the same UPPER and WORK) is refused; the first lives on.
#[test]
fn the_same_upper_is_never_mounted_twice() {
    require_root!();
    let mut first = Subhost::new("hup").line("START=none");
    first.boot_ok();
    // A copy of the file under another name: NAME defaults to it.
    let mut second = Subhost::new("hup2").line("START=none");
    let conf = first.base.join(format!("{}.conf", second.name));
    fs::copy(&first.conf, &conf).expect("copy conf");
    second.conf = conf.clone();
    let out = second.boot();
    let _ = fs::remove_file(&conf);
    assert_eq!(out.code, 1, "second boot over the same UPPER: {out}");
    assert!(
        out.err.contains("is in use by another running subhost"),
        "{out}"
    );
    second.assert_gone();
    assert_eq!(first.sh("echo alive").trim(), "alive");
    first.stop_ok();
}

/// Security check 26 and issue 9, hole 4: a FIFO at LOG neither hangs the
/// boot nor is replaced: the boot is refused (exit 2, naming LOG) and the
/// FIFO stays as it was.
#[test]
fn a_fifo_planted_at_log_is_refused_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    require_root!();
    let mut sh = Subhost::new("hfifo").line("START=none");
    let planted = sh.scratch.join("planted.log");
    nix::unistd::mkfifo(&planted, nix::sys::stat::Mode::from_bits_truncate(0o666)).expect("mkfifo");
    sh = sh.line(&format!("LOG={}", planted.display()));
    let out = sh.boot();
    assert_eq!(out.code, 2, "{out}");
    let want = format!("LOG {}: a FIFO, not a regular file", planted.display());
    assert!(out.err.contains(&want), "{out}");
    let meta = fs::symlink_metadata(&planted).expect("the FIFO");
    assert!(meta.file_type().is_fifo(), "the FIFO was replaced");
    sh.assert_gone();
}

/// The caller's inherited fds are not kept by the monitor nor passed to the
/// subhost: a pipe the caller passed as fd 3 is open in neither the monitor
/// nor PID 1 once the boot command has returned. (Not checked by waiting for
/// EOF: another test thread's child, forked but not yet exec'd, may hold the
/// close-on-exec original for a moment.)
#[test]
fn the_monitor_does_not_keep_the_callers_fds() {
    require_root!();
    let mut sh = Subhost::new("hfd").line("START=none");
    // Close-on-exec here, so no other test's child keeps it past its exec;
    // dup2 in the child makes fd 3 a plain inherited fd.
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    let raw = write.as_raw_fd();
    let mut cmd = Command::new(bin("overlay-boot"));
    cmd.arg(&sh.conf)
        .env("OVERLAY_BOOT_SUBINIT", bin("subinit"));
    // SAFETY: dup2(2) is async-signal-safe; it leaves the pipe on fd 3
    // without close-on-exec, as a careless caller would.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = run_captured(
        &mut cmd,
        "overlay-boot CONF 3>pipe".into(),
        &sh.scratch.path,
        BOOT,
    );
    drop(write);
    assert!(out.ok(), "{out}");
    let pid = out
        .out
        .split("pid ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .expect("ready line");
    sh.record(nix::unistd::Pid::from_raw(pid.trim().parse().expect("pid")));
    let pipe = fs::read_link(format!("/proc/self/fd/{}", read.as_raw_fd())).expect("fd link");
    for (who, holder) in [("PID 1", sh.pid1()), ("the monitor", sh.monitor().pid)] {
        let fds = fs::read_dir(format!("/proc/{holder}/fd")).expect("fd dir");
        let held = fds
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|t| t == pipe));
        assert!(!held, "{who} (pid {holder}) holds the caller's fd 3");
    }
    sh.stop_ok();
}

/// `overlay-stop CONF` while the boot is still setting up (in PREMOUNT,
/// before PID 1 exists) is not lost: the stop succeeds, the boot fails
/// saying it was stopped, and nothing of the subhost is left.
#[test]
fn a_stop_during_the_set_up_aborts_the_boot() {
    use std::os::unix::fs::PermissionsExt;
    require_root!();
    let mut sh = Subhost::new("hsdb");
    let started = sh.scratch.join("premount-started");
    let release = sh.scratch.join("premount-release");
    // Root's, 0755 in a 0755 directory: the configuration trusts it.
    let script = sh.scratch.write(
        "hooks/premount",
        &format!(
            "#!/bin/sh\ntouch {}\ni=0\n\
             while [ ! -e {} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done\n",
            started.display(),
            release.display()
        ),
        0o755,
    );
    fs::set_permissions(sh.scratch.join("hooks"), fs::Permissions::from_mode(0o755))
        .expect("chmod hooks");
    sh = sh.line(&format!("PREMOUNT={}", script.display()));
    let out_path = sh.scratch.join("boot.out");
    let err_path = sh.scratch.join("boot.err");
    let mut boot = ChildGuard::spawn(
        Command::new(bin("overlay-boot"))
            .arg0("overlay-boot")
            .arg(&sh.conf)
            .env("OVERLAY_BOOT_SUBINIT", bin("subinit"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out_path).expect("create stdout file"))
            .stderr(fs::File::create(&err_path).expect("create stderr file")),
    );
    assert!(
        wait_for(BOOT, || started.exists()),
        "PREMOUNT never ran\nlog:\n{}",
        sh.log_text()
    );
    let stop = sh.stop();
    assert!(
        stop.ok(),
        "stop during the set-up: {stop}\nlog:\n{}",
        sh.log_text()
    );
    let status = boot.wait_timeout(BOOT).expect("the boot did not end");
    let out = fs::read_to_string(&out_path).unwrap_or_default();
    let err = fs::read_to_string(&err_path).unwrap_or_default();
    assert_eq!(status.code(), Some(1), "boot: {out}\n{err}");
    assert!(err.contains("stopped during boot"), "boot: {out}\n{err}");
    sh.assert_gone();
}

/// What a session writes as its policy-rc.d (launcher/src/session.rs).
const SESSION_POLICY: &str = "#!/bin/sh\n\
    # Written by overlay-boot --session for the session only: no daemons\n\
    # are started by package installs while it runs.\n\
    exit 101\n";

/// A session's policy-rc.d left in UPPER (its record in /run lost with a
/// host crash) is removed by the next boot; the administrator's own
/// policy-rc.d is left alone.
#[test]
fn a_leftover_session_policy_is_removed_and_an_admins_is_kept() {
    require_root!();
    for (text, kept) in [(SESSION_POLICY, false), ("#!/bin/sh\nexit 0\n", true)] {
        let mut sh = Subhost::busybox("hpol").line("START=none");
        let policy = sh.write_upper("usr/sbin/policy-rc.d", text, 0o755);
        sh.boot_ok();
        assert_eq!(policy.exists(), kept, "policy-rc.d {text:?}");
        sh.stop_ok();
    }
}
