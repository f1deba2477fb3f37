//! The seccomp filter of SECURITY=hardened (issue 10, item 1): inside a
//! hardened subhost, from overlay-go, a session and PID 1's children, the
//! refused calls return EPERM (never a kill), in the x86_64 ABI, through
//! `int 0x80` (i386) and with the x32 numbers; the classic "shocker"
//! open_by_handle_at from a SHARE bind fails; setuid still works (no
//! NO_NEW_PRIVS). An admin subhost has no filter and the same calls get
//! the kernel's own answers. The calls are made by `ob-syscall-probe`
//! (src/bin/syscall_probe.rs), copied into UPPER; LOWER is the host's root.

use std::path::Path;
use std::time::Duration;

use e2e::subhost::Subhost;
use e2e::{note_skip, require_root};

const PROBE: &str = "/usr/local/sbin/ob-syscall-probe";

/// Calls the filter refuses with EPERM (the probe's names).
const REFUSED: &[&str] = &[
    "open_by_handle_at",
    "name_to_handle_at",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "add_key",
    "request_key",
    "keyctl",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "mount-proc",
    "mount-sysfs",
    "mount-cgroup",
    "mount-cgroup2",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare-userns",
    "clone-userns",
    "personality",
    "x32-getpid",
];

/// The same through int 0x80 (i386 numbers).
const REFUSED_I386: &[&str] = &[
    "i386-keyctl",
    "i386-bpf",
    "i386-unshare-userns",
    "i386-personality",
    "i386-mount",
];

/// Calls whose answer without a filter is not EPERM whatever the
/// capabilities (bad fd, bad flags, missing path, or no privilege needed);
/// the admin subhost must give that answer.
const NOT_EPERM_WITHOUT_FILTER: &[&str] = &[
    "name_to_handle_at",
    "add_key",
    "request_key",
    "keyctl",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "mount-proc",
    "mount-sysfs",
    "mount-cgroup",
    "mount-cgroup2",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare-userns",
    "clone-userns",
    "clone3",
    "personality",
    "x32-getpid",
    "i386-keyctl",
    "i386-bpf",
    "i386-unshare-userns",
    "i386-personality",
    "i386-mount",
    "i386-clone3",
];

/// A subhost (LOWER the host's root) with the probe in UPPER, a SHARE of
/// BASE/shared on /shared, and `profile` lines.
fn subhost(tag: &str, profile: &[&str]) -> Subhost {
    let mut sh = Subhost::new(tag)
        .line("START=none")
        .line("SHARE=shared:/shared");
    for line in profile {
        sh = sh.line(line);
    }
    std::fs::create_dir_all(sh.base.join("shared")).expect("mkdir shared");
    let dst = sh.upper.join(PROBE.trim_start_matches('/'));
    std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir in UPPER");
    std::fs::copy(env!("CARGO_BIN_EXE_ob-syscall-probe"), &dst).expect("copy the probe");
    sh
}

/// `NAME=RESULT` lines of the probe's output, as a lookup.
fn result<'a>(out: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}=");
    out.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in the probe's output:\n{out}"))
}

/// The probe inside, through overlay-go.
fn probe(sh: &Subhost, calls: &[&str]) -> String {
    let mut args = vec![PROBE];
    args.extend(calls);
    sh.go_ok(&args)
}

/// True when this kernel runs i386 calls (IA32 emulation), else a SKIP note.
fn has_i386(out: &str) -> bool {
    let ok = result(out, "i386-getpid") == "ok";
    if !ok {
        note_skip("no IA32 emulation in this kernel: the int 0x80 calls are not checked");
    }
    ok
}

/// A status field of `/proc/…/status` text (`Seccomp`, `NoNewPrivs`).
fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map_or("", str::trim)
}

/// A file handle (`TYPE:HEX`) of `path`, made on the host.
fn handle_of(path: &Path) -> String {
    let mut buf = [0u8; 136];
    buf[0] = 128;
    let mut mnt_id: i32 = 0;
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: name_to_handle_at with a valid path, buffer and mount id.
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            c.as_ptr(),
            buf.as_mut_ptr(),
            &mut mnt_id as *mut i32,
            0,
        )
    };
    assert_eq!(r, 0, "name_to_handle_at {}", path.display());
    let len = u32::from_ne_bytes(buf[0..4].try_into().expect("4")) as usize;
    let kind = i32::from_ne_bytes(buf[4..8].try_into().expect("4"));
    let hex: String = buf[8..8 + len].iter().map(|b| format!("{b:02x}")).collect();
    format!("{kind}:{hex}")
}

/// A file on the host outside every share, on the SHARE's filesystem.
fn host_secret(sh: &Subhost) -> String {
    let secret = sh.scratch.write("secret", "obt-host-secret\n", 0o600);
    handle_of(&secret)
}

#[test]
fn a_hardened_subhost_refuses_the_filtered_calls_with_eperm() {
    require_root!();
    let mut sh = subhost("sch", &["SECURITY=hardened"]);
    let handle = host_secret(&sh);
    let suid = sh.upper.join("usr/local/bin/suid-id");
    std::fs::create_dir_all(suid.parent().expect("parent")).expect("mkdir");
    std::fs::copy("/usr/bin/id", &suid).expect("copy id");
    std::fs::set_permissions(&suid, std::os::unix::fs::PermissionsExt::from_mode(0o4755))
        .expect("chmod u+s");
    let pid1 = sh.boot_ok();
    let status = std::fs::read_to_string(format!("/proc/{pid1}/status")).expect("status");
    assert_eq!(status_field(&status, "Seccomp"), "2", "PID 1: {status}");
    assert_eq!(status_field(&status, "NoNewPrivs"), "0", "PID 1: {status}");
    // overlay-go's command: under one filter of its own, setuid still works.
    let go = sh.sh("cat /proc/self/status");
    assert_eq!(status_field(&go, "Seccomp"), "2", "overlay-go: {go}");
    assert_eq!(
        status_field(&go, "Seccomp_filters"),
        "1",
        "overlay-go: {go}"
    );
    assert_eq!(status_field(&go, "NoNewPrivs"), "0", "overlay-go: {go}");

    let mut calls: Vec<&str> = REFUSED.to_vec();
    calls.extend(REFUSED_I386);
    calls.extend(["clone3", "i386-clone3", "personality-query", "i386-getpid"]);
    let out = probe(&sh, &calls);
    for name in REFUSED {
        assert_eq!(result(&out, name), "EPERM", "{name}:\n{out}");
    }
    // clone3's flags are out of seccomp's reach: ENOSYS, so libc uses clone.
    assert_eq!(result(&out, "clone3"), "ENOSYS", "{out}");
    assert_eq!(result(&out, "personality-query"), "ok", "{out}");
    if has_i386(&out) {
        for name in REFUSED_I386 {
            assert_eq!(result(&out, name), "EPERM", "{name}:\n{out}");
        }
        assert_eq!(result(&out, "i386-clone3"), "ENOSYS", "{out}");
    }
    // util-linux's way in: a user namespace, then a proc mount there.
    let out = sh.go(&["unshare", "-Urm", "--mount-proc", "-pf", "true"]);
    assert!(!out.ok(), "{out}");
    assert!(out.err.contains("Operation not permitted"), "{out}");
    // Without NO_NEW_PRIVS, a setuid-root program still gives root to a user.
    let euid =
        sh.sh("setpriv --reuid=65534 --regid=65534 --clear-groups /usr/local/bin/suid-id -u");
    assert_eq!(euid.trim(), "0", "a setuid-root program as nobody");
    // The shocker: a handle of a host file, opened from the SHARE bind.
    let out = sh.go_ok(&[PROBE, "shocker", &handle, "/shared"]);
    assert_eq!(result(&out, "shocker"), "EPERM", "{out}");
    assert!(!out.contains("obt-host-secret"), "{out}");
    sh.stop_ok();

    // A session's command, a child of PID 1, inherits the filter.
    let out = sh.session_sh(
        &format!("{PROBE} keyctl bpf; grep Seccomp: /proc/self/status"),
        Duration::from_secs(60),
    );
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(result(&out.out, "keyctl"), "EPERM", "{out}");
    assert_eq!(result(&out.out, "bpf"), "EPERM", "{out}");
    assert_eq!(status_field(&out.out, "Seccomp"), "2", "{out}");
    assert!(
        sh.wait_gone(Duration::from_secs(20)),
        "{:?}",
        sh.leftovers()
    );
}

#[test]
fn an_admin_subhost_has_no_filter() {
    require_root!();
    // KEEP_CAPS=CAP_DAC_READ_SEARCH: the shocker works there, so the
    // hardened test's EPERM is the filter's.
    let mut sh = subhost("sca", &["KEEP_CAPS=CAP_DAC_READ_SEARCH"]);
    let handle = host_secret(&sh);
    let pid1 = sh.boot_ok();
    let status = std::fs::read_to_string(format!("/proc/{pid1}/status")).expect("status");
    assert_eq!(status_field(&status, "Seccomp"), "0", "PID 1: {status}");
    let go = sh.sh("cat /proc/self/status");
    assert_eq!(status_field(&go, "Seccomp"), "0", "overlay-go: {go}");

    let mut calls = NOT_EPERM_WITHOUT_FILTER.to_vec();
    calls.push("i386-getpid");
    let out = probe(&sh, &calls);
    let i386 = has_i386(&out);
    for name in NOT_EPERM_WITHOUT_FILTER {
        if name.starts_with("i386-") && !i386 {
            continue;
        }
        let got = result(&out, name);
        assert!(
            got != "EPERM" && !got.starts_with("signal"),
            "{name}={got}:\n{out}"
        );
    }
    let mounted = sh.sh("unshare -Urm sh -c 'mount -t tmpfs none /mnt && echo mounted'");
    assert_eq!(mounted.trim(), "mounted");
    let out = sh.go_ok(&[PROBE, "shocker", &handle, "/shared"]);
    assert_eq!(result(&out, "shocker"), "ok", "{out}");
    assert_eq!(result(&out, "shocker-read"), "obt-host-secret", "{out}");
    sh.stop_ok();
}

/// The services example (a syslog daemon from a start/stop script and a
/// supervised HTTP server) boots and serves in a hardened subhost, its
/// services under the filter; overlay-go and overlay-share work there.
#[test]
fn a_hardened_subhost_runs_the_services_example() {
    require_root!();
    let mut sh = subhost("scs", &["SECURITY=hardened"]);
    sh.add_services_example();
    sh.boot_ok();
    sh.assert_services_example_runs("hardened, filtered");
    // Every process inside runs under the filter.
    let seccomp = sh.sh("grep -h '^Seccomp:' /proc/[0-9]*/status 2>/dev/null | sort -u");
    assert_eq!(seccomp.trim(), "Seccomp:\t2", "{seccomp}");
    // overlay-share binds from the host (the launcher is not filtered).
    let dir = sh.scratch.join("live-share");
    std::fs::create_dir_all(&dir).expect("host dir");
    std::fs::write(dir.join("file"), "shared\n").expect("host file");
    let path = dir.to_string_lossy().into_owned();
    let out = sh.tool("overlay-share", &[&path, &sh.name], e2e::subhost::GO);
    assert!(out.ok(), "{out}");
    assert_eq!(sh.go_ok(&["cat", &format!("{path}/file")]), "shared\n");
    sh.stop_services_example();
}

/// Package maintenance and debugging under the filter: in a hardened
/// session, `dpkg -i` and `apt-get install` of a local package (apt's
/// `_apt` sandbox included), and `strace` (ptrace is left to the
/// capabilities).
#[test]
fn a_hardened_session_installs_packages_and_traces() {
    require_root!();
    let sh = subhost("scp", &["SECURITY=hardened"]);
    let pkg = sh.scratch.join("pkg");
    std::fs::create_dir_all(pkg.join("DEBIAN")).expect("mkdir");
    std::fs::create_dir_all(pkg.join("usr/share/obts")).expect("mkdir");
    std::fs::write(pkg.join("usr/share/obts/hello"), "hello\n").expect("write");
    std::fs::write(
        pkg.join("DEBIAN/control"),
        "Package: obts\nVersion: 1.0\nArchitecture: all\n\
         Maintainer: overlay-boot tests <root@localhost>\n\
         Description: an empty package for overlay-boot's tests\n",
    )
    .expect("write control");
    let deb = sh.upper.join("tmp/obts.deb");
    std::fs::create_dir_all(deb.parent().expect("parent")).expect("mkdir");
    let (code, _, err) = e2e::run(
        "dpkg-deb",
        &[
            "--root-owner-group".as_ref(),
            "-b".as_ref(),
            pkg.as_os_str(),
            deb.as_os_str(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let script = "dpkg -i /tmp/obts.deb >/dev/null; echo dpkg=$?; \
        dpkg -r obts >/dev/null; echo remove=$?; \
        apt-get install -y -q /tmp/obts.deb >/dev/null 2>&1; echo apt=$?; \
        cat /usr/share/obts/hello; \
        strace -f -o /dev/null true; echo strace=$?; \
        grep Seccomp: /proc/self/status";
    let out = sh.session_sh(script, Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    for line in [
        "dpkg=0",
        "remove=0",
        "apt=0",
        "hello",
        "strace=0",
        "Seccomp:\t2",
    ] {
        assert!(out.out.lines().any(|l| l == line), "no {line:?}: {out}");
    }
    assert!(
        sh.wait_gone(Duration::from_secs(20)),
        "{:?}",
        sh.leftovers()
    );
}

/// With PRIVATE_USERS=yes and no filter, the shocker still fails:
/// open_by_handle_at needs CAP_DAC_READ_SEARCH in the host's user
/// namespace, and the subhost's capabilities (KEEP_CAPS=CAP_DAC_READ_SEARCH
/// included, which reads the host file in admin) count only in its own.
/// A dpkg -i and -r in a session works there too.
#[test]
fn private_users_refuses_the_shocker_and_a_session_installs_a_package() {
    require_root!();
    let mut sh = subhost(
        "scu",
        &["PRIVATE_USERS=yes", "KEEP_CAPS=CAP_DAC_READ_SEARCH"],
    );
    std::fs::set_permissions(
        &sh.base,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod BASE 0700");
    let handle = host_secret(&sh);
    sh.boot_ok();
    let map = sh.sh("cat /proc/self/uid_map");
    let host_root = map.split_whitespace().nth(1);
    assert!(
        host_root.is_some_and(|id| id != "0"),
        "root inside is host root: {map}"
    );
    let out = sh.go_ok(&[PROBE, "shocker", &handle, "/shared"]);
    assert_eq!(result(&out, "shocker"), "EPERM", "{out}");
    assert!(!out.contains("obt-host-secret"), "{out}");
    sh.stop_ok();
    // A package built on the host, installed and removed in a session.
    let deb = sh.scratch.join("obt-pu.deb");
    let pkg = sh.scratch.join("pkg");
    std::fs::create_dir_all(pkg.join("DEBIAN")).expect("mkdir DEBIAN");
    std::fs::create_dir_all(pkg.join("usr/share/obt-pu")).expect("mkdir data");
    std::fs::write(pkg.join("usr/share/obt-pu/hello"), "hello\n").expect("write data");
    std::fs::write(
        pkg.join("DEBIAN/control"),
        "Package: obt-pu\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n",
    )
    .expect("write control");
    let (code, _, err) = e2e::run(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "-b",
            &pkg.to_string_lossy(),
            &deb.to_string_lossy(),
        ],
    );
    assert_eq!(code, 0, "dpkg-deb: {err}");
    std::fs::copy(&deb, sh.upper.join("obt-pu.deb")).expect("copy the package into UPPER");
    // A database of its own (see hardened.rs: the host's may change under
    // the overlay while another test installs a package on the host).
    let out = sh.session_sh("A=/var/tmp/obt-dpkg; mkdir -p $A/updates $A/info && : > $A/status && \
         dpkg --admindir=$A -i /obt-pu.deb >/dev/null && cat /usr/share/obt-pu/hello && \
         stat -c %u:%g /usr/share/obt-pu/hello && \
         dpkg --admindir=$A -r obt-pu >/dev/null && [ ! -e /usr/share/obt-pu/hello ] && echo removed", Duration::from_secs(60));
    assert!(out.ok(), "session: {out}");
    assert!(out.out.contains("hello"), "{out}");
    assert!(out.out.contains("0:0"), "owner inside: {out}");
    assert!(out.out.contains("removed"), "{out}");
}
