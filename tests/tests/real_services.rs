//! Real Debian services in a subhost under each security profile (issue
//! 10's "the same subhosts still work in each mode"): over a debootstrapped
//! bookworm minbase with openssh-server, cron and ifupdown as LOWER, START
//! runs their System V init scripts (`networking ssh cron`); from the host,
//! ssh over the cable logs in as root, sshd runs with the profile's host
//! uid and seccomp mode, cron has run an `@reboot` job of /etc/cron.d, and
//! overlay-stop is graceful (each service stopped by its script) and leaves
//! nothing. Profiles:
//! the default (admin), SECURITY=hardened, PRIVATE_USERS=yes, and both.
//!
//! The root is made once (about a minute); each profile boots its own
//! subhost on it, and a failing profile does not hide the others.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::debootstrap::minbase;
use e2e::subhost::{run_captured, Outcome, Subhost};
use e2e::{in_ci, note_skip, require_root, wait_for, Scratch};

/// How long sshd may take to answer and cron to run its job once ready.
const STEP: Duration = Duration::from_secs(20);

/// Each profile: a tag (for NAME) and its configuration lines.
const PROFILES: [(&str, &[&str]); 4] = [
    ("rsad", &[]),
    ("rshd", &["SECURITY=hardened"]),
    ("rspu", &["PRIVATE_USERS=yes"]),
    ("rshp", &["SECURITY=hardened", "PRIVATE_USERS=yes"]),
];

/// cron's `@reboot` job: runs when cron starts.
const CRON_JOB: &str = "@reboot root echo cron-ran > /root/cron-marker\n";

/// A /24 of 169.254.0.0/16 for profile `k` of this run: `169.254.N.`.
fn subnet(k: u32) -> String {
    format!("169.254.{}.", (std::process::id() * 11 + k) % 250 + 1)
}

/// The host's ssh as root to `addr` with `key`, running `id -u`.
fn ssh(addr: &str, key: &Path, dir: &Path) -> Outcome {
    let mut cmd = Command::new("ssh");
    cmd.arg("-i").arg(key);
    for opt in [
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "BatchMode=yes",
        "ConnectTimeout=5",
        "LogLevel=ERROR",
    ] {
        cmd.args(["-o", opt]);
    }
    cmd.arg(format!("root@{addr}")).args(["id", "-u"]);
    run_captured(&mut cmd, format!("ssh root@{addr} id -u"), dir, STEP)
}

/// An ed25519 key pair without passphrase in `dir`: (private key, public key text).
fn keypair(dir: &Path) -> (std::path::PathBuf, String) {
    let key = dir.join("id_ed25519");
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", "obt-test", "-f"])
        .arg(&key);
    let out = run_captured(&mut cmd, "ssh-keygen".into(), dir, STEP);
    assert!(out.ok(), "{out}");
    let public = fs::read_to_string(key.with_extension("pub")).expect("read the public key");
    (key, public)
}

/// The `field` line of the /proc status of the subhost's sshd (the
/// listener, found in its pid namespace): its first value.
fn sshd_status(sh: &Subhost, field: &str) -> Option<String> {
    let ns = sh.booted.as_ref()?.pid_ns.as_ref()?;
    ns.members("pid").into_iter().find_map(|p| {
        let comm = fs::read_to_string(format!("/proc/{p}/comm")).ok()?;
        if comm.trim() != "sshd" {
            return None;
        }
        let status = fs::read_to_string(format!("/proc/{p}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        line.split_whitespace().nth(1).map(str::to_string)
    })
}

/// The subhost of a profile over `lower`: the cable, eth0's address in
/// UPPER's interfaces, root's authorized key and the cron job.
fn subhost(tag: &str, lines: &[&str], lower: &Path, net: &str, public: &str) -> Subhost {
    let mut sh = Subhost::new(tag)
        .line(&format!("LOWER={}", lower.display()))
        .line("START=networking ssh cron")
        .line("CABLES==");
    for l in lines {
        sh = sh.line(l);
    }
    // PRIVATE_USERS refuses an UPPER host users can reach.
    fs::set_permissions(&sh.base, fs::Permissions::from_mode(0o700)).expect("chmod BASE");
    sh.write_upper(
        "etc/network/interfaces",
        &format!(
            "auto lo\niface lo inet loopback\n\n\
             auto eth0\niface eth0 inet static\n    address {net}2/24\n"
        ),
        0o644,
    );
    sh.write_upper("root/.ssh/authorized_keys", public, 0o600);
    fs::set_permissions(
        sh.upper.join("root/.ssh"),
        fs::Permissions::from_mode(0o700),
    )
    .expect("chmod .ssh");
    fs::set_permissions(sh.upper.join("root"), fs::Permissions::from_mode(0o700))
        .expect("chmod root");
    sh.write_upper("etc/cron.d/obtreboot", CRON_JOB, 0o644);
    sh
}

/// One profile: boot, ssh in, cron's marker, sshd's host uid, stop.
fn profile(tag: &str, lines: &[&str], lower: &Path, k: u32, key: &Path, public: &str) {
    let net = subnet(k);
    let mut sh = subhost(tag, lines, lower, &net, public);
    sh.boot_ok();
    let host_end = format!("{}0", sh.name);
    let out = Command::new("ip")
        .args(["addr", "add", &format!("{net}1/24"), "dev", &host_end])
        .output()
        .expect("run ip");
    assert!(out.status.success(), "ip addr add: {out:?}");

    let mut last = None;
    let answered = wait_for(STEP, || {
        let out = ssh(&format!("{net}2"), key, &sh.scratch.path);
        let ok = out.ok();
        last = Some(out);
        ok
    });
    let last = last.expect("ssh ran");
    assert!(
        answered,
        "{tag}: no ssh login: {last}\nlog:\n{}",
        sh.log_text()
    );
    assert_eq!(last.out.trim(), "0", "{tag}: id -u over ssh: {last}");

    // sshd runs as the profile says: as the range's first id on the host
    // with PRIVATE_USERS (host root otherwise), under the seccomp filter
    // (mode 2) with SECURITY=hardened.
    let want_uid = if lines.contains(&"PRIVATE_USERS=yes") {
        let range = fs::read_to_string(sh.run_dir().join("idrange")).expect("idrange");
        range.split_whitespace().next().expect("first").to_string()
    } else {
        "0".to_string()
    };
    let uid = sshd_status(&sh, "Uid:");
    assert_eq!(uid, Some(want_uid), "{tag}: sshd's uid on the host");
    let seccomp = if lines.contains(&"SECURITY=hardened") {
        "2"
    } else {
        "0"
    };
    let mode = sshd_status(&sh, "Seccomp:");
    assert_eq!(mode.as_deref(), Some(seccomp), "{tag}: sshd's seccomp mode");

    let marker = sh.upper.join("root/cron-marker");
    let ran = wait_for(STEP, || {
        fs::read_to_string(&marker).is_ok_and(|t| t == "cron-ran\n")
    });
    assert!(
        ran,
        "{tag}: cron's @reboot job did not run\nlog:\n{}",
        sh.log_text()
    );
    sh.stop_ok();
    // Graceful: every START entry started, and each stopped by its script.
    let log = sh.log_text();
    for want in [
        "(0 start action(s) failed)",
        "cron stop: done",
        "ssh stop: done",
        "networking stop: done",
        "PID 1 ended: exit status 0",
    ] {
        assert!(log.contains(want), "{tag}: no `{want}` in the log:\n{log}");
    }
}

/// Whether the host has ssh and ssh-keygen; a SKIP note (a failure under
/// CI) when not.
fn host_ssh() -> bool {
    if ["/usr/bin/ssh", "/usr/bin/ssh-keygen"]
        .iter()
        .all(|p| Path::new(p).exists())
    {
        return true;
    }
    let why = "ssh or ssh-keygen is missing (run .ci/deps-test)";
    assert!(!in_ci(), "{why}");
    note_skip(&format!("real_services: {why}"));
    false
}

#[test]
fn sshd_and_cron_work_under_each_security_profile() {
    require_root!();
    if !host_ssh() {
        return;
    }
    let scratch = Scratch::new("rsvc");
    let include = ["openssh-server", "cron", "ifupdown"];
    let start = Instant::now();
    let Some(lower) = minbase(
        &scratch.join("lower"),
        &scratch.path,
        &include,
        "real_services",
    ) else {
        return;
    };
    eprintln!("debootstrap: {} ms", start.elapsed().as_millis());
    let (key, public) = keypair(&scratch.path);
    let mut failed = Vec::new();
    for (k, (tag, lines)) in (0u32..).zip(PROFILES) {
        let start = Instant::now();
        let run = || profile(tag, lines, &lower, k, &key, &public);
        let result = catch_unwind(AssertUnwindSafe(run));
        eprintln!("{tag}: {} ms", start.elapsed().as_millis());
        if result.is_err() {
            failed.push(format!("{tag} ({})", lines.join(" ")));
        }
    }
    assert!(failed.is_empty(), "failed profiles: {}", failed.join(", "));
}
