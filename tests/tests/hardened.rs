//! `SECURITY=hardened` end to end, as root (issue 10, item 1; security.md
//! checks 13–16): each escape the audit of the default profile reproduced
//! fails inside a hardened subhost, and the same subhosts still work
//! (services.d example, a cable, overlay-go, a session, overlay-share). The
//! seccomp filter and PRIVATE_USERS have tests of their own.
//!
//! Probes that would change the host if they succeeded write back the
//! value they read (core_pattern, vm.*, a disk's read-ahead), or only open
//! the file (sysrq-trigger, /sys/power/state): a failing test cannot harm
//! the machine.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use e2e::subhost::{run_captured, Subhost};
use e2e::{bin, require_root};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

/// How long an overlay-go may take.
const GO: Duration = Duration::from_secs(30);

/// The capabilities a hardened subhost keeps (model/caps.rs HARDENED_KEEP).
const KEEP: [u32; 15] = [0, 1, 3, 4, 5, 6, 7, 8, 10, 12, 13, 18, 24, 29, 31];
/// Never kept in hardened: SYS_ADMIN, MKNOD, SYS_PTRACE, SYS_BOOT.
const PINNED: [u32; 4] = [21, 27, 19, 22];
/// Check 16's list: SYS_MODULE, SYS_RAWIO, SYS_TIME, MAC_OVERRIDE,
/// MAC_ADMIN, SYSLOG.
const CHECK16: [u32; 6] = [16, 17, 25, 32, 33, 34];

/// The set named `field` in a /proc/PID/status text.
fn set_of(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.trim(), 16).expect("hex")
}

/// The bounding set a hardened subhost has here: KEEP, less what this
/// test process itself lacks (a sandbox may have dropped some).
fn hardened_bounding() -> u64 {
    let own = fs::read_to_string("/proc/self/status").expect("own status");
    let keep = KEEP.iter().fold(0u64, |m, n| m | 1 << n);
    keep & set_of(&own, "CapBnd")
}

/// `NAME=open|refused` for each probe: a shell function runs each command
/// line in a subshell (a failed redirection does not end the script).
const PROBES: &str = r#"
t() { if (eval "$2") >/dev/null 2>&1; then echo "$1=open"; else echo "$1=refused"; fi; }
back() { cat "$1" > /tmp/ob.v && cat /tmp/ob.v > "$1"; }
t mknod 'mknod /tmp/ob.node b 8 0'
t read_hostdisk 'head -c1 /hostdisk'
t read_mem 'head -c1 /mem'
t mount_hostdisk 'mkdir -p /tmp/ob.m && mount -o ro /hostdisk /tmp/ob.m'
t release_agent 'mkdir -p /tmp/ob.c && mount -t cgroup -o none,name=obt cgroup /tmp/ob.c && echo /bin/true > /tmp/ob.c/release_agent'
t mount_cgroup_memory 'mkdir -p /tmp/ob.d && mount -t cgroup -o memory cgroup /tmp/ob.d'
t core_pattern 'back /proc/sys/kernel/core_pattern'
t modprobe 'back /proc/sys/kernel/modprobe'
t vm 'back /proc/sys/vm/overcommit_memory'
t sysrq ': > /proc/sysrq-trigger'
t sys_block 'for f in /sys/block/*/queue/read_ahead_kb; do back $f || exit 1; done'
t sys_power ': > /sys/power/state'
t uevent_helper 'back /sys/kernel/uevent_helper'
t proc_sys_net 'echo 1 > /proc/sys/net/ipv4/ip_forward'
echo "ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
echo "keys=$(wc -c < /proc/keys)"
echo "timer_list=$(wc -c < /proc/timer_list)"
echo "kcore=$(if [ -e /proc/kcore ]; then head -c 16 /proc/kcore | wc -c; else echo 0; fi)"
echo "block_devices=$(ls /sys/block | wc -l)"
echo "dev=$(ls -A /dev | tr '\n' ' ')"
echo "cgroup=$(grep '^0::' /proc/self/cgroup)"
"#;

/// settimeofday to the present time, init_module, and PTRACE_ATTACH to a
/// non-dumpable child (as overlay-go's entering child is until its exec;
/// CVE-2016-9962): `stod=R/ERRNO`, `insmod=R/ERRNO`, `ptrace=R/ERRNO`.
const PY_PROBE: &str = r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
class TV(ctypes.Structure):
    _fields_ = [("s", ctypes.c_long), ("us", ctypes.c_long)]
tv = TV()
libc.gettimeofday(ctypes.byref(tv), None)
r = libc.settimeofday(ctypes.byref(tv), None)
print("stod=%d/%d" % (r, ctypes.get_errno()))
r = libc.syscall(175, None, 0, b"")
print("insmod=%d/%d" % (r, ctypes.get_errno()))
import os, signal
rd, wr = os.pipe()
pid = os.fork()
if pid == 0:
    libc.prctl(4, 0, 0, 0, 0)
    os.write(wr, b"x")
    while True:
        signal.pause()
os.close(wr)
os.read(rd, 1)
r = libc.ptrace(16, pid, None, None)
print("ptrace=%d/%d" % (r, ctypes.get_errno()))
os.kill(pid, 9)
os.waitpid(pid, 0)
"#;

/// `perl -e HTTP_GET HOST:PORT`: GET / and print the answer.
const HTTP_GET: &str = r#"$s = IO::Socket::INET->new(PeerAddr => $ARGV[0], Timeout => 5)
    or die "connect: $!"; print $s "GET / HTTP/1.0\r\n\r\n"; print while <$s>;"#;

fn results(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Device nodes planted in UPPER before the boot: the host root's block
/// device (as /hostdisk) and /dev/mem's 1:1 (as /mem).
fn plant_nodes(sh: &Subhost) {
    let root = fs::metadata("/").expect("stat /").dev();
    let mode = Mode::from_bits_truncate(0o600);
    mknod(&sh.upper.join("hostdisk"), SFlag::S_IFBLK, mode, root).expect("mknod hostdisk");
    mknod(&sh.upper.join("mem"), SFlag::S_IFCHR, mode, makedev(1, 1)).expect("mknod mem");
}

#[test]
fn hardened_closes_the_audit_escapes_checks_13_to_16() {
    require_root!();
    let mut sh = Subhost::new("hdn")
        .line("START=none")
        .line("SECURITY=hardened");
    plant_nodes(&sh);
    let host_core = fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern");
    let pid1 = sh.boot_ok();

    // Check 16: PID 1's bounding set is the profile's, overlay-go's too.
    let want = hardened_bounding();
    let status = fs::read_to_string(format!("/proc/{pid1}/status")).expect("PID 1 status");
    assert_eq!(set_of(&status, "CapBnd"), want, "PID 1: {status}");
    assert_eq!(set_of(&status, "CapEff"), want, "PID 1: {status}");
    for n in PINNED.iter().chain(&CHECK16) {
        assert_eq!(set_of(&status, "CapBnd") & 1 << n, 0, "cap {n}");
    }
    let go = sh.sh("cat /proc/self/status");
    for field in ["CapBnd", "CapEff", "CapPrm"] {
        assert_eq!(set_of(&go, field), want, "overlay-go {field}: {go}");
    }
    let py = results(&sh.go_ok(&["python3", "-c", PY_PROBE]));
    assert_eq!(py["stod"], "-1/1", "settimeofday");
    // EPERM; ENOSYS on a kernel without modules (the bounding set above
    // lacks CAP_SYS_MODULE all the same).
    assert!(["-1/1", "-1/38"].contains(&py["insmod"].as_str()), "{py:?}");
    assert_eq!(py["ptrace"], "-1/1", "ptrace of a non-dumpable process");

    let r = results(&sh.sh(PROBES));
    let refused = [
        "mknod",
        "read_hostdisk",
        "read_mem",
        "mount_hostdisk",
        "release_agent",
        "mount_cgroup_memory",
        "core_pattern",
        "modprobe",
        "vm",
        "sysrq",
        "sys_block",
        "sys_power",
        "uevent_helper",
    ];
    for probe in refused {
        assert_eq!(r[probe], "refused", "{probe}: {r:?}\n{}", sh.log_text());
    }
    // The subhost's own network namespace stays its to tune.
    assert_eq!(r["proc_sys_net"], "open", "{r:?}");
    assert_eq!(r["ip_forward"], "1");
    // Check 14: nothing to read in the masked files.
    for masked in ["keys", "timer_list", "kcore"] {
        assert_eq!(r[masked], "0", "{masked}: {r:?}");
    }
    // The sys_block probe had disks to try.
    assert_ne!(r["block_devices"], "0");
    // Check 13: /dev holds the allowed set only.
    let dev: Vec<&str> = r["dev"].split_whitespace().collect();
    let allowed = [
        "console", "fd", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout",
        "tty", "urandom", "zero",
    ];
    assert_eq!(dev, allowed, "/dev inside");
    // Check 15: a cgroup namespace rooted at the subhost's cgroup.
    assert_eq!(r["cgroup"], "0::/");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern"),
        host_core
    );
    sh.stop_ok();
}

/// The masks come from the launcher's own read-only tmpfs, not from the
/// subhost's /dev/null (CVE-2025-31133): each masked path is a read-only
/// tmpfs bind in mountinfo, and /proc/sys and /sys are read-only mounts.
#[test]
fn masks_are_the_launchers_own_and_read_only() {
    require_root!();
    let mut sh = Subhost::busybox("hdm")
        .line("START=none")
        .line("SECURITY=hardened");
    let mountinfo = {
        sh.boot_ok();
        sh.sh("cat /proc/self/mountinfo")
    };
    for path in [
        "/proc/keys",
        "/proc/timer_list",
        "/proc/kmsg",
        "/sys/firmware",
    ] {
        let line = mountinfo
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(path))
            .unwrap_or_else(|| panic!("{path} not masked:\n{mountinfo}"));
        assert!(line.contains(" - tmpfs "), "{line}");
        assert!(line.split(' ').nth(5).is_some_and(|o| o.starts_with("ro")));
    }
    for path in ["/proc/sys", "/sys"] {
        let ro = mountinfo.lines().any(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f.get(4) == Some(&path) && f.get(5).is_some_and(|o| o.starts_with("ro"))
        });
        assert!(ro, "{path} is not read-only:\n{mountinfo}");
    }
    let out = sh.go(&["sh", "-c", "echo x > /proc/keys"]);
    assert_ne!(out.code, 0, "{out}");
    sh.stop_ok();
}

/// A START entry that needs a capability the profile removed fails with
/// its own error in LOG; the subhost boots all the same, and LOG names
/// what the profile removed.
#[test]
fn a_start_entry_needing_a_removed_capability_fails_and_the_subhost_boots() {
    require_root!();
    let mut sh = Subhost::busybox("hde")
        .line("START=/etc/ob-needs-admin")
        .line("SECURITY=hardened");
    sh.write_upper(
        "etc/ob-needs-admin",
        "#!/bin/sh\ncase \"$1\" in start) exec hostname obt-renamed;; esac\n",
        0o755,
    );
    let out = sh.boot();
    assert!(out.ok(), "{out}\n{}", sh.log_text());
    assert!(
        out.err.contains("start action failed: /etc/ob-needs-admin"),
        "{out}"
    );
    let log = sh.log_text();
    assert!(log.contains("Operation not permitted"), "{log}");
    let note = log
        .lines()
        .find(|l| l.contains("SECURITY=hardened removed"))
        .unwrap_or_else(|| panic!("no note of the removed capabilities:\n{log}"));
    assert!(note.contains("/etc/ob-needs-admin"), "{note}");
    assert!(note.contains("CAP_SYS_ADMIN"), "{note}");
    assert!(note.contains("CAP_MKNOD"), "{note}");
    assert_eq!(sh.sh("echo alive").trim(), "alive");
    sh.stop_ok();
}

/// The services.d example (syslog and HTTP) in a hardened subhost, on the
/// host's root and on a busybox root, with a cable: the subhost gives its
/// end an address (CAP_NET_ADMIN in its own netns), pings the host, and
/// the host fetches the page over the cable.
#[test]
fn services_example_and_a_cable_work_hardened() {
    require_root!();
    for (i, busybox) in [false, true].into_iter().enumerate() {
        let sh = if busybox {
            Subhost::busybox("hds")
        } else {
            Subhost::new("hds")
        };
        let mut sh = sh
            .line("START=none")
            .line("CABLES==")
            .line("SECURITY=hardened");
        sh.add_services_example();
        sh.boot_ok();
        sh.assert_services_example_runs("hardened");

        let net = format!("169.254.{}.", (std::process::id() * 3 + i as u32) % 250 + 1);
        let host_end = format!("{}0", sh.name);
        let (code, _, err) = e2e::run(
            "ip",
            &[
                "addr",
                "add",
                format!("{net}1/24").as_str(),
                "dev",
                host_end.as_str(),
            ],
        );
        assert_eq!(code, 0, "{err}");
        // The example serves 127.0.0.1 only: a second httpd (a daemon,
        // reparented to PID 1) serves its page on the cable's address.
        sh.sh(&format!(
            "ip addr add {net}2/24 dev eth0 && ip link set eth0 up && \
             busybox httpd -p {net}2:8080 -h /run/example-www"
        ));
        let host_addr = format!("{net}1");
        let pinged = (0..5).any(|_| {
            sh.go(&["busybox", "ping", "-c1", "-W1", host_addr.as_str()])
                .ok()
        });
        assert!(pinged, "no ping over the cable");
        // perl (a test dependency) as the host's HTTP client.
        let (code, page, err) = e2e::run(
            "perl",
            &[
                "-MIO::Socket::INET",
                "-e",
                HTTP_GET,
                format!("{net}2:8080").as_str(),
            ],
        );
        assert_eq!(code, 0, "{err}");
        assert!(page.contains("Hello from subhost"), "{page}");
        sh.stop_services_example();
    }
}

/// A session's command, overlay-go on a terminal and overlay-share in a
/// hardened subhost: the commands have the profile's bounding set and a
/// pty; a share made while it runs is there.
#[test]
fn session_and_overlay_share_work_hardened() {
    require_root!();
    let mut sh = Subhost::busybox("hdq")
        .line("START=none")
        .line("SECURITY=hardened");
    let out = sh.session_sh("cat /proc/self/status; tty", Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(set_of(&out.out, "CapBnd"), hardened_bounding(), "{out}");
    assert!(out.out.contains("/dev/pts/"), "no pty: {out}");
    assert!(
        sh.wait_gone(Duration::from_secs(20)),
        "{:?}",
        sh.leftovers()
    );

    sh.boot_ok();
    // overlay-go on a terminal (script(1) gives it one): a pty of the
    // subhost's devpts (allowed by the device cgroup it joins), and the
    // profile's bounding set.
    let go = format!(
        "exec -a overlay-go {} {} sh -c 'tty; grep CapBnd /proc/self/status'",
        bin("overlay-boot").display(),
        sh.name
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", go.as_str(), "/dev/null"])
        .env("SHELL", "/bin/bash")
        .env("OVERLAY_BOOT_SUBINIT", bin("subinit"));
    let out = run_captured(&mut cmd, go.clone(), &sh.scratch.path, GO);
    assert!(out.ok(), "{out}");
    assert!(out.out.contains("/dev/pts/"), "no pty: {out}");
    // A NUL byte sometimes comes first from the terminal relay (seen in
    // admin subhosts too; not this profile's).
    let text = out.out.replace('\0', "");
    assert_eq!(set_of(&text, "CapBnd"), hardened_bounding(), "{out}");
    let dir = sh.scratch.join("share");
    fs::create_dir_all(&dir).expect("host dir");
    fs::write(dir.join("f"), "shared\n").expect("host file");
    let path = dir.to_string_lossy().into_owned();
    let out = sh.tool("overlay-share", &[&path, &sh.name], GO);
    assert!(out.ok(), "{out}");
    assert_eq!(sh.go_ok(&["cat", &format!("{path}/f")]), "shared\n");
    sh.stop_ok();
}

/// The default profile is unchanged: the machine-wide capabilities only
/// are gone, /proc/sys and /sys are writable mounts, nothing is masked
/// (what an admin subhost may do is documented in overlay-boot(8)).
#[test]
fn admin_stays_as_it_was() {
    require_root!();
    let mut sh = Subhost::busybox("hda").line("START=none");
    let pid1 = sh.boot_ok();
    let status = fs::read_to_string(format!("/proc/{pid1}/status")).expect("status");
    for n in PINNED.iter().chain(&KEEP) {
        let own = set_of(
            &fs::read_to_string("/proc/self/status").expect("own"),
            "CapBnd",
        );
        assert_eq!(set_of(&status, "CapBnd") & 1 << n, own & 1 << n, "cap {n}");
    }
    let mountinfo = sh.sh("cat /proc/self/mountinfo");
    assert!(!mountinfo.contains(" /proc/keys "), "{mountinfo}");
    assert!(!mountinfo.contains(" /proc/sys "), "{mountinfo}");
    assert!(sh.sh("ls -A /dev").contains("core"));
    sh.stop_ok();
}

/// `dpkg -i` and `dpkg -r` of a package in a hardened session over the
/// host's root (chown, fowner and the other file capabilities are kept).
#[test]
fn dpkg_installs_and_removes_a_package_in_a_hardened_session() {
    require_root!();
    let sh = Subhost::new("hdp").line("SECURITY=hardened");
    let pkg = sh.scratch.join("obt-hello");
    fs::create_dir_all(pkg.join("DEBIAN")).expect("DEBIAN");
    fs::create_dir_all(pkg.join("usr/bin")).expect("usr/bin");
    let control = "Package: obt-hello\nVersion: 1.0\nArchitecture: all\n\
                   Maintainer: t <t@example.org>\nDescription: test\n test\n";
    fs::write(pkg.join("DEBIAN/control"), control).expect("control");
    let script = sh.write_upper("obt.tmp", "#!/bin/sh\necho hello from obt\n", 0o755);
    fs::rename(&script, pkg.join("usr/bin/obt-hello")).expect("script");
    let deb = sh.upper.join("obt-hello.deb");
    let (code, _, err) = e2e::run(
        "dpkg-deb",
        &["-b".as_ref(), pkg.as_os_str(), deb.as_os_str()],
    );
    assert_eq!(code, 0, "dpkg-deb: {err}");
    // A database of its own in UPPER: the host's /var/lib/dpkg (LOWER) may
    // change under the overlay while another test installs a package on
    // the host, and overlayfs then answers ESTALE.
    let script = "A=/var/tmp/obt-dpkg; mkdir -p $A/updates $A/info && : > $A/status && \
                  dpkg --admindir=$A -i /obt-hello.deb >/dev/null && obt-hello && \
                  dpkg --admindir=$A -r obt-hello >/dev/null && \
                  [ ! -e /usr/bin/obt-hello ] && echo removed";
    let out = sh.session_sh(script, Duration::from_secs(120));
    assert_eq!(out.code, 0, "{out}\n{}", sh.log_text());
    assert!(out.out.contains("hello from obt"), "{out}");
    assert!(out.out.contains("removed"), "{out}");
    assert!(
        sh.wait_gone(Duration::from_secs(20)),
        "{:?}",
        sh.leftovers()
    );
}

/// SECURITY=hardened with PRIVATE_USERS=yes: the masks' tmpfs is made
/// once PID 1 is root of its user namespace (an unmapped host root may
/// create nothing in it); the tunables are read-only and the keys masked.
#[test]
fn hardened_with_private_users_boots_confined() {
    require_root!();
    let mut sh = Subhost::new("hdu")
        .line("START=none")
        .line("SECURITY=hardened")
        .line("PRIVATE_USERS=yes");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&sh.base, fs::Permissions::from_mode(0o700)).expect("chmod BASE");
    sh.boot_ok();
    let r = results(&sh.sh(
        "echo \"uid0=$(awk 'NR == 1 {print $2}' /proc/self/uid_map)\"; \
         echo \"keys=$(wc -c < /proc/keys)\"; \
         if (echo x > /proc/sys/kernel/core_pattern) 2>/dev/null; then echo cp=open; \
         else echo cp=refused; fi",
    ));
    assert_ne!(r["uid0"], "0", "{r:?}");
    assert_eq!(r["keys"], "0", "{r:?}");
    assert_eq!(r["cp"], "refused", "{r:?}");
    // overlay-go on a terminal: the device cgroup allows the subhost's
    // pty, and its group is tty inside (mode 620, for mesg/write).
    let tty = sh.go_ok(&["getent", "group", "tty"]);
    let tty = tty.split(':').nth(2).expect("tty's gid").to_string();
    let text = sh.pty_of_go_on_a_terminal();
    assert!(text.contains(&format!("pty=0:{tty}:620")), "{text}");
    sh.stop_ok();
}
