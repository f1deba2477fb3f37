//! Issue 9: what a subhost's root or a local user can make root's launcher
//! do. Each test runs as root with a real unprivileged user it creates and
//! removes ([`e2e::user::User`]), shows the hole closed, and shows that the
//! ordinary case still works.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use std::time::Duration;

use e2e::subhost::{Proc, Subhost};
use e2e::user::User;
use e2e::{require_root, wait_for};
use nix::sys::signal::{kill, Signal};

const STEP: Duration = Duration::from_secs(20);

/// (type bits, dev, ino, rdev, size) of what is at `path` (not followed).
fn id_of(path: &Path) -> (u32, u64, u64, u64, u64) {
    let m = fs::symlink_metadata(path).expect("stat");
    (m.mode() & 0o170000, m.dev(), m.ino(), m.rdev(), m.size())
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

// ------------------------------------------------------------- hole 4: LOG

/// LOG never unlinks, replaces or writes into what the launcher did not
/// create as a regular file: a user's symlink (to a root file), FIFO and
/// own file in a sticky directory, and a device node, are each refused with
/// exit 2 naming LOG, and left exactly as they were. A missing LOG is
/// created (0640, root's) and reused by the next boot.
#[test]
fn log_refuses_what_it_did_not_create_and_leaves_it_alone() {
    require_root!();
    let user = User::new("lg");
    let mut sh = Subhost::new("hlog").line("START=none");
    let drop_box = sh.scratch.join("box");
    fs::create_dir(&drop_box).expect("mkdir box");
    set_mode(&drop_box, 0o1777);
    let victim = sh.scratch.write("victim", "root's own\n", 0o600);
    let d = drop_box.display();
    user.sh_ok(&format!(
        "ln -s {v} {d}/link.log && mkfifo {d}/fifo.log && echo mine > {d}/mine.log",
        v = victim.display()
    ));
    let zero = sh.scratch.join("zero");
    let dev = nix::sys::stat::makedev(1, 5);
    let kind = nix::sys::stat::SFlag::S_IFCHR;
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o666);
    nix::sys::stat::mknod(&zero, kind, mode, dev).expect("mknod");
    let cases: [(PathBuf, &str); 4] = [
        (
            drop_box.join("link.log"),
            "a symbolic link (not followed), not a regular file",
        ),
        (drop_box.join("fifo.log"), "a FIFO, not a regular file"),
        (
            drop_box.join("mine.log"),
            &format!("owned by uid {}, not root", user.uid),
        ),
        (
            zero,
            "a device other than the null device, not a regular file",
        ),
    ];
    let base_lines = fs::read_to_string(&sh.conf).expect("conf");
    for (log, why) in &cases {
        let before = id_of(log);
        sh.set_conf(&format!("{base_lines}LOG={}\n", log.display()));
        let out = sh.boot();
        assert_eq!(out.code, 2, "LOG={}: {out}", log.display());
        // Named with the file and line that set LOG (file:line: VARIABLE).
        let conf = fs::canonicalize(&sh.conf).expect("conf path");
        let line = base_lines.lines().count() + 1;
        let want = format!(
            "{}:{line}: LOG {}: {why}; refused, and left as it is",
            conf.display(),
            log.display()
        );
        assert!(out.err.contains(&want), "want {want:?}: {out}");
        assert_eq!(id_of(log), before, "{} was changed", log.display());
        sh.assert_gone();
    }
    assert_eq!(fs::read_to_string(&victim).expect("victim"), "root's own\n");
    assert_eq!(
        fs::read_to_string(drop_box.join("mine.log")).expect("user's file"),
        "mine\n",
        "the user's file received bytes"
    );

    // The ordinary case: a LOG that is not there is created, root's, 0640.
    let fresh = sh.scratch.join("fresh.log");
    sh.set_conf(&format!("{base_lines}LOG={}\n", fresh.display()));
    sh.expect_log(fresh.clone());
    sh.boot_ok();
    let meta = fs::symlink_metadata(&fresh).expect("log");
    assert!(meta.is_file() && meta.uid() == 0, "{meta:?}");
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert!(sh.log_text().contains("ready"), "{}", sh.log_text());
    sh.stop_ok();

    // A null device node (1,3) of root's is used as it is.
    let null = sh.scratch.join("null");
    let dev = nix::sys::stat::makedev(1, 3);
    nix::sys::stat::mknod(&null, kind, mode, dev).expect("mknod null");
    let before = id_of(&null);
    sh.set_conf(&format!("{base_lines}LOG={}\n", null.display()));
    sh.log = null.clone();
    sh.boot_ok();
    sh.stop_ok();
    assert_eq!(id_of(&null), before, "the null node was changed");
}

/// `LOG=/dev/null` boots and stops; the output is discarded and the node
/// is untouched (same inode, still the character device 1,3).
#[test]
fn log_dev_null_boots_and_the_node_is_untouched() {
    require_root!();
    let null = Path::new("/dev/null");
    let before = id_of(null);
    let real = (0o020000, nix::sys::stat::makedev(1, 3));
    assert_eq!(
        (before.0, before.3),
        real,
        "this host's /dev/null is not the null device (something replaced it): {:?}",
        fs::read_link(null)
    );
    let mut sh = Subhost::new("hnul")
        .line("START=none")
        .line("LOG=/dev/null");
    // Set directly (expect_log would keep the default log for removal;
    // the guard never removes anything but a regular file).
    sh.log = null.to_path_buf();
    sh.boot_ok();
    let meta = fs::symlink_metadata(null).expect("/dev/null");
    assert!(meta.file_type().is_char_device(), "/dev/null replaced");
    assert_eq!(meta.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(id_of(null), before, "/dev/null changed");
    sh.stop_ok();
    assert_eq!(id_of(null), before, "/dev/null changed");
}

// ------------------------------------------------------------- hole 7: --list

/// A service whose name root inside chose to hold terminal control bytes
/// (an OSC title change, a clear screen) shows escaped in `--list`'s text:
/// no control byte but the line ends reaches the admin's terminal. The
/// JSON names it exactly, an ordinary service shows as it is, and a local
/// user is told `--list` needs root.
#[test]
fn list_text_escapes_control_bytes_from_inside() {
    require_root!();
    let user = User::new("ls");
    let mut sh = Subhost::busybox("hlst").line("START=none");
    let evil = "x\u{1b}]0;owned\u{7}\u{1b}[2J";
    let run = "#!/bin/sh\nexec sleep 1000\n";
    sh.write_upper(
        &format!("etc/overlay-boot/services.d/{evil}/run"),
        run,
        0o755,
    );
    sh.write_upper("etc/overlay-boot/services.d/plain/run", run, 0o755);
    sh.boot_ok();
    let mut text = String::new();
    let listed = e2e::wait_for(STEP, || {
        let out = sh.tool("overlay-boot", &["--list"], STEP);
        text = out.out;
        text.contains("  plain ") && text.contains("x%1B]0;owned%07%1B[2J")
    });
    assert!(listed, "services not listed (escaped) in:\n{text:?}");
    let bad: Vec<u8> = text
        .bytes()
        .filter(|b| (*b < 0x20 && *b != b'\n') || *b == 0x7f)
        .collect();
    assert!(bad.is_empty(), "control bytes {bad:?} in --list:\n{text:?}");
    let json = sh.tool("overlay-boot", &["--list", "--json"], STEP).out;
    assert!(json.contains("x\\u001b]0;owned\\u0007\\u001b[2J"), "{json}");
    let bin = e2e::bin("overlay-boot");
    let (code, _, err) = user.sh(&format!("{} --list", bin.display()));
    assert_ne!(code, 0, "--list ran for a user: {err}");
    assert!(err.contains("must be run as root"), "{err}");
    sh.stop_ok();
}

// ------------------------------------------------------------- hole 9: adjtime

/// The host's /etc/adjtime for the test: the host's own if it has one,
/// else one the test writes and removes when dropped.
struct HostAdjtime {
    made: bool,
}

const ADJTIME: &str = "/etc/adjtime";

impl HostAdjtime {
    fn ensure() -> HostAdjtime {
        let path = Path::new(ADJTIME);
        if fs::symlink_metadata(path).is_ok() {
            return HostAdjtime { made: false };
        }
        fs::write(path, "0.0 0 0.0\n0\nUTC\n").expect("write /etc/adjtime");
        HostAdjtime { made: true }
    }
}

impl Drop for HostAdjtime {
    fn drop(&mut self) {
        if self.made {
            let _ = fs::remove_file(ADJTIME);
        }
    }
}

/// Root inside cannot change the host's /etc/adjtime: the bind is
/// read-only. Reading it inside gives the host's content.
#[test]
fn adjtime_is_bound_read_only() {
    require_root!();
    let _adjtime = HostAdjtime::ensure();
    let host = fs::read(ADJTIME).expect("read /etc/adjtime");
    let mut sh = Subhost::new("hadj").line("START=none");
    sh.boot_ok();
    let inside = sh.sh("cat /etc/adjtime");
    assert_eq!(
        inside.as_bytes(),
        &host[..],
        "inside differs from the host's"
    );
    let write = sh.go(&["/bin/sh", "-c", "echo 9.9 9 9.9 >> /etc/adjtime"]);
    assert_ne!(write.code, 0, "root inside wrote /etc/adjtime: {write}");
    assert!(write.err.contains("Read-only file system"), "{write}");
    let mounts = sh.sh("grep ' /etc/adjtime ' /proc/self/mountinfo");
    assert!(mounts.contains(" ro,"), "not mounted read-only: {mounts}");
    sh.stop_ok();
    assert_eq!(fs::read(ADJTIME).expect("read /etc/adjtime"), host);
}

// ------------------------------------------------------------- hole 12: SHARE onto a dangling link

/// SHARE targets that are dangling symlinks planted in UPPER (absolute,
/// relative, and one for a file share) get their targets made where the
/// links lead inside the subhost, never on the host, and the boot
/// succeeds with the shares in place.
#[test]
fn share_onto_a_dangling_symlink_makes_its_target_inside() {
    require_root!();
    let mut sh = Subhost::busybox("hdng").line("START=none");
    let pub_dir = sh.scratch.join("pub");
    fs::create_dir(&pub_dir).expect("mkdir pub");
    fs::write(pub_dir.join("hello"), "shared\n").expect("write");
    let note = sh.scratch.write("note", "a file\n", 0o644);
    let host_probe = format!("/{}-nonexistent", sh.name);
    let upper = sh.upper.clone();
    std::os::unix::fs::symlink(format!("{host_probe}/dir"), upper.join("share2")).expect("ln");
    fs::create_dir_all(upper.join("srv")).expect("mkdir srv");
    std::os::unix::fs::symlink("../opt/rel", upper.join("srv/share3")).expect("ln");
    std::os::unix::fs::symlink(format!("{host_probe}/note"), upper.join("note")).expect("ln");
    let (p, n) = (pub_dir.display(), note.display());
    sh = sh
        .line(&format!("SHARE={p}:/share2"))
        .line(&format!("SHARE={p}:/srv/share3"))
        .line(&format!("SHARE={n}:/note"));
    sh.boot_ok();
    assert!(
        !Path::new(&host_probe).exists(),
        "{host_probe} made on the host"
    );
    assert_eq!(sh.sh("cat /share2/hello"), "shared\n");
    assert_eq!(sh.sh(&format!("cat {host_probe}/dir/hello")), "shared\n");
    assert_eq!(
        sh.sh("cat /srv/share3/hello /opt/rel/hello"),
        "shared\nshared\n"
    );
    assert_eq!(sh.sh("cat /note"), "a file\n");
    assert!(
        upper.join(&host_probe[1..]).join("dir").is_dir(),
        "target not in UPPER"
    );
    sh.stop_ok();
    assert!(
        !Path::new(&host_probe).exists(),
        "{host_probe} made on the host"
    );
}

// ------------------------------------------------------------- hole 1: CONF and programs

/// A file the test puts in the host's /etc, removed when dropped.
struct EtcFile(PathBuf);

impl Drop for EtcFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The audit's reproduction: root inside subhost A writes a configuration
/// and an executable into its own /etc; neither the configuration nor a
/// host configuration naming the program (as `!` command, PREMOUNT,
/// POSTMOUNT or INIT) runs anything: exit 2, naming the file and "lies
/// under the UPPER … of running subhost A". A configuration or program a
/// local user could have written (their directory, their file, a sticky
/// directory) is refused the same way. A root-owned configuration in /etc
/// with a root-owned hook boots.
#[test]
fn conf_and_programs_from_a_subhost_or_a_user_are_refused() {
    require_root!();
    let user = User::new("cf");
    let mut a = Subhost::busybox("hcfa").line("START=none");
    a.boot_ok();
    let marker = a.scratch.join("pwned");
    let upper = fs::canonicalize(&a.upper).expect("UPPER");
    let pwn = upper.join("etc/evil/pwn");
    a.sh(&format!(
        "mkdir -p /etc/evil/root /etc/evil/work /etc/evil/live && \
         printf '#!/bin/sh\\ntouch {m}\\necho /\\n' > /etc/evil/pwn && chmod 755 /etc/evil/pwn && \
         printf 'NAME=obtevil\\nBASE=.\\nSTART=none\\nLOWER=!{p}\\n' > /etc/evil/x.conf",
        m = marker.display(),
        p = pwn.display()
    ));
    let under = format!(
        "lies under the UPPER {} of running subhost {}",
        upper.display(),
        a.name
    );
    let no_run = |out: &e2e::subhost::Outcome, what: &str| {
        assert_eq!(out.code, 2, "{what}: {out}");
        assert!(
            !marker.exists(),
            "{what}: the subhost's program ran as host root"
        );
    };

    // The subhost root's own configuration.
    let x = upper.join("etc/evil/x.conf");
    let out = a.tool("overlay-boot", &[&x], STEP);
    no_run(&out, "x.conf");
    assert!(
        out.err
            .contains(&format!("{}: refused: {under}", x.display())),
        "{out}"
    );

    // A root-owned host configuration in /etc naming the program.
    let mut b = Subhost::busybox("hcfb").line("START=none");
    let etc = EtcFile(PathBuf::from(format!("/etc/{}.conf", b.name)));
    let base = format!("BASE={}\nLOWER=lower\nSTART=none\n", b.base.display());
    b.conf = etc.0.clone();
    for (var, line) in [
        ("RAM_SIZE", format!("RAM_SIZE=!{}", pwn.display())),
        ("PREMOUNT", format!("PREMOUNT={}", pwn.display())),
        ("POSTMOUNT", format!("POSTMOUNT={} -x", pwn.display())),
        ("INIT", format!("INIT={}", pwn.display())),
    ] {
        fs::write(&etc.0, format!("{base}{line}\n")).expect("write /etc conf");
        let out = b.boot();
        no_run(&out, var);
        let want = format!(":4: {var}: program {} refused: {under}", pwn.display());
        assert!(out.err.contains(&want), "{var}: want {want:?}: {out}");
        b.assert_gone();
    }

    // What a local user could have written.
    let theirs = b.scratch.join("theirs");
    fs::create_dir(&theirs).expect("mkdir");
    std::os::unix::fs::chown(&theirs, Some(user.uid), Some(user.gid)).expect("chown");
    let in_theirs = theirs.join("c.conf");
    fs::write(&in_theirs, &base).expect("write");
    let out = b.tool("overlay-boot", &[&in_theirs], STEP);
    assert_eq!(out.code, 2, "{out}");
    let want = format!(
        "directory {}: owned by uid {}, not root",
        theirs.display(),
        user.uid
    );
    assert!(out.err.contains(&want), "{out}");
    let sticky = b.scratch.join("box");
    fs::create_dir(&sticky).expect("mkdir");
    set_mode(&sticky, 0o1777);
    let in_sticky = sticky.join("c.conf");
    fs::write(&in_sticky, &base).expect("write");
    let out = b.tool("overlay-boot", &[&in_sticky], STEP);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.err.contains("writable by group or others (mode 1777)"),
        "{out}"
    );
    let hook = sticky.join("hook");
    user.sh_ok(&format!(
        "printf '#!/bin/sh\\ntouch {}\\n' > {}; chmod 755 {}",
        marker.display(),
        hook.display(),
        hook.display()
    ));
    fs::write(&etc.0, format!("{base}PREMOUNT={}\n", hook.display())).expect("write");
    let out = b.boot();
    no_run(&out, "a user's PREMOUNT");
    assert!(
        out.err
            .contains(&format!("owned by uid {}, not root", user.uid)),
        "{out}"
    );

    // The ordinary case: root's configuration in /etc, root's hook.
    let ok_hook = b
        .scratch
        .write("hooks/premount", "#!/bin/sh\nexit 0\n", 0o755);
    fs::write(&etc.0, format!("{base}PREMOUNT={}\n", ok_hook.display())).expect("write");
    b.boot_ok();
    b.stop_ok();
    a.stop_ok();
    assert!(!marker.exists());
}

/// The index entries (`/run/overlay-boot/.guarded-roots/KEY/NAME`) of
/// subhost `name`: one for each of its UPPER, WORK and LIVE.
fn index_entries(name: &str) -> Vec<PathBuf> {
    let Ok(keys) = fs::read_dir("/run/overlay-boot/.guarded-roots") else {
        return Vec::new();
    };
    keys.flatten()
        .map(|k| k.path().join(name))
        .filter(|p| p.exists())
        .collect()
}

/// The trust check finds a running subhost's trees in an index instead of
/// reading every run directory (issue 14: a boot's cost does not grow with
/// the count). A boot enters its UPPER, WORK and LIVE; an entry whose
/// subhost no longer runs (monitor and PID 1 killed, no teardown) refuses
/// nothing, so a configuration in that dead subhost's UPPER boots; the
/// stop that reclaims the dead subhost removes its entries, as the
/// monitor's own teardown does.
#[test]
fn the_trees_index_follows_the_running_subhosts() {
    require_root!();
    let mut a = Subhost::busybox("hixa").line("START=none");
    let pid1 = a.boot_ok();
    assert_eq!(index_entries(&a.name).len(), 3, "UPPER, WORK and LIVE");
    let mut b = Subhost::busybox("hixb").line("START=none");
    let base = format!("BASE={}\nLOWER=lower\nSTART=none\n", b.base.display());
    b.conf = a.write_upper(&format!("etc/{}.conf", b.name), &base, 0o644);
    let out = b.boot();
    assert_eq!(out.code, 2, "{out}");
    assert!(out.err.contains("lies under the UPPER"), "{out}");

    let monitor = a.monitor();
    kill(monitor.pid, Signal::SIGKILL).expect("kill -9 the monitor");
    kill(pid1, Signal::SIGKILL).expect("kill -9 PID 1");
    assert!(
        wait_for(STEP, || !monitor.alive()
            && !Proc::of(pid1).is_some_and(|p| p.alive())),
        "the monitor or PID 1 survived kill -9"
    );
    assert_eq!(index_entries(&a.name).len(), 3, "no teardown ran");
    b.boot_ok();
    b.stop_ok();
    a.stop();
    a.assert_gone();
    assert!(index_entries(&a.name).is_empty(), "reclaimed by the stop");

    a.boot_ok();
    assert_eq!(index_entries(&a.name).len(), 3);
    a.stop_ok();
    assert!(index_entries(&a.name).is_empty(), "removed by the teardown");
}

// ------------------------------------------------------------- hole 2: user-controlled trees

/// LOWER, SHARE, UPPER/WORK and BASE that a local user owns or could
/// change (their directory, or a root directory inside theirs) are refused
/// with exit 2 naming the variable and the path, and nothing runs or is
/// left. A SHARE of a root-owned directory works as before.
#[test]
fn trees_a_user_controls_are_refused() {
    require_root!();
    let user = User::new("tr");
    let mut sh = Subhost::new("htre").line("START=none");
    let home = sh.scratch.join("home");
    fs::create_dir_all(home.join("lower")).expect("mkdir");
    fs::create_dir_all(home.join("pub")).expect("mkdir");
    let chown = |p: &Path| {
        std::os::unix::fs::chown(p, Some(user.uid), Some(user.gid)).expect("chown");
    };
    chown(&home.join("lower"));
    chown(&home.join("pub"));
    let conf = fs::read_to_string(&sh.conf).expect("conf");
    let uid = user.uid;
    let refused = |sh: &mut Subhost, line: &str, want: String| {
        sh.set_conf(&format!("{conf}{line}\n"));
        let out = sh.boot();
        assert_eq!(out.code, 2, "{line}: {out}");
        assert!(out.err.contains(&want), "{line}: want {want:?}: {out}");
        sh.assert_gone();
    };
    let lower = home.join("lower");
    let owned = format!("{} refused: owned by uid {uid}, not root", lower.display());
    refused(
        &mut sh,
        &format!("LOWER={}", lower.display()),
        format!("LOWER: {owned}"),
    );
    let pubd = home.join("pub");
    let owned = format!("{} refused: owned by uid {uid}, not root", pubd.display());
    refused(
        &mut sh,
        &format!("SHARE={}:/pub", pubd.display()),
        format!("SHARE: {owned}"),
    );
    // A root directory inside the user's: they could swap it for a link.
    user.sh_ok(&format!("mkdir {}/inner", pubd.display()));
    let inner = pubd.join("inner");
    std::os::unix::fs::chown(&inner, Some(0), Some(0)).expect("chown");
    let want = format!(
        "SHARE: {} refused: directory {}: owned by uid {uid}, not root",
        inner.display(),
        pubd.display()
    );
    refused(&mut sh, &format!("SHARE={}:/pub", inner.display()), want);
    // UPPER writable by others; BASE owned by the user.
    set_mode(&sh.upper, 0o777);
    let want = format!(
        "UPPER (default): {} refused: writable by group or others (mode 0777)",
        sh.upper.display()
    );
    refused(&mut sh, "", want);
    set_mode(&sh.upper, 0o755);
    // BASE owned by the user, named by a configuration outside it.
    chown(&sh.base);
    let base = fs::canonicalize(&sh.base).expect("base");
    let outside = sh.scratch.join("outside.conf");
    let text = format!("NAME={}\nBASE={}\nSTART=none\n", sh.name, base.display());
    fs::write(&outside, text).expect("write");
    let out = sh.tool("overlay-boot", &[&outside], STEP);
    assert_eq!(out.code, 2, "{out}");
    let want = format!(
        ":2: BASE: {} refused: owned by uid {uid}, not root",
        base.display()
    );
    assert!(out.err.contains(&want), "want {want:?}: {out}");
    sh.assert_gone();
    std::os::unix::fs::chown(&sh.base, Some(0), Some(0)).expect("chown");

    // The ordinary case: a SHARE of a root-owned directory.
    let data = sh.scratch.join("data");
    fs::create_dir(&data).expect("mkdir");
    fs::write(data.join("f"), "root's\n").expect("write");
    sh.set_conf(&format!("{conf}SHARE={}:/data\n", data.display()));
    sh.boot_ok();
    assert_eq!(sh.sh("cat /data/f"), "root's\n");
    sh.stop_ok();
}

// ------------------------------------------------------------- hole 11: reachable UPPER

/// A BASE of mode 0755 boots with one warning that host users can reach
/// UPPER, where a setuid file made inside the subhost sits; the user can
/// indeed reach it. With BASE 0700 there is no warning and the user cannot.
#[test]
fn a_reachable_upper_is_warned_about_and_base_0700_closes_it() {
    require_root!();
    let user = User::new("su");
    let mut sh = Subhost::new("hsid").line("START=none");
    set_mode(&sh.base, 0o755);
    let warning = "can be reached by users other than root";
    let out = sh.boot();
    assert!(out.ok(), "{out}");
    assert_eq!(out.err.matches(warning).count(), 1, "{out}");
    sh.sh("mkdir -p /usr/local/sbin && cp /usr/bin/id /usr/local/sbin/sid && chmod 4755 /usr/local/sbin/sid");
    let sid = sh.upper.join("usr/local/sbin/sid");
    let (code, id, err) = user.sh(&format!("{} -u", sid.display()));
    assert_eq!(code, 0, "the user cannot run it with BASE 0755: {err}");
    eprintln!(
        "setuid copy run by the user from UPPER, BASE 0755: id -u = {}",
        id.trim()
    );
    sh.stop_ok();

    set_mode(&sh.base, 0o700);
    let out = sh.boot();
    assert!(out.ok(), "{out}");
    assert!(!out.err.contains(warning), "{out}");
    let (code, _, err) = user.sh(&format!("{} -u", sid.display()));
    assert_ne!(code, 0, "the user reached UPPER through a 0700 BASE");
    assert!(err.contains("Permission denied"), "{err}");
    sh.stop_ok();
}

// ------------------------------------------------------------- hole 13: mountinfo inside

/// The overlay's options inside the subhost name no host path: its layers
/// show as `/proc/self/fd/N`, and neither BASE, UPPER nor WORK appears in
/// the subhost's mountinfo.
#[test]
fn mountinfo_inside_names_no_host_layer_path() {
    require_root!();
    let mut sh = Subhost::busybox("hmnt").line("START=none");
    sh.boot_ok();
    let table = sh.sh("cat /proc/self/mountinfo");
    let root = table
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .expect("a root mount");
    assert!(root.contains(" - overlay "), "{root}");
    assert!(root.contains("upperdir=/proc/self/fd/"), "{root}");
    assert!(root.contains("workdir=/proc/self/fd/"), "{root}");
    assert!(root.contains("lowerdir=/proc/self/fd/"), "{root}");
    for host in [&sh.base, &sh.upper, &sh.scratch.path] {
        let real = fs::canonicalize(host).expect("canonical");
        let shown = real.display().to_string();
        assert!(
            !table.contains(&shown),
            "{shown} in mountinfo inside:\n{table}"
        );
    }
    sh.stop_ok();
}

// ------------------------------------------------------------- hole 5: PID 1's output

/// PID 1's fds 0–2 are pipes or the null device, never a host file (seen
/// from inside with readlink, and from the host as no regular file), and
/// LOG still gets the subinit's and a service's lines with their
/// timestamps and tags: the monitor copies them, and drains the pipe to
/// its end at stop, so the service's last words (written on SIGTERM) are
/// in LOG once overlay-stop returns.
#[test]
fn pid1_output_is_a_pipe_and_log_keeps_every_line() {
    require_root!();
    let mut sh = Subhost::busybox("hout").line("START=none");
    sh.write_upper(
        "etc/overlay-boot/services.d/talk/run",
        "#!/bin/sh\ntrap 'echo talk-bye-marker; exit 0' TERM\necho talk-hello-marker\n\
         while :; do sleep 1 & wait $!; done\n",
        0o755,
    );
    let pid = sh.boot_ok();
    let seen = sh.go_ok(&[
        "sh",
        "-c",
        "for f in 0 1 2; do readlink /proc/1/fd/$f; done",
    ]);
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines.len(), 3, "readlink: {seen}");
    for l in &lines {
        assert!(
            l.starts_with("pipe:[") || *l == "/dev/null",
            "PID 1's fd is {l:?}, not a pipe or /dev/null: {seen}"
        );
    }
    assert!(lines[1].starts_with("pipe:["), "stdout: {seen}");
    for fd in 0..3 {
        let m = fs::metadata(format!("/proc/{pid}/fd/{fd}")).expect("PID 1's fd");
        assert!(
            !m.is_file(),
            "PID 1's fd {fd} is a regular file on the host"
        );
    }
    let tagged = |text: &str, marker: &str| {
        text.lines()
            .any(|l| l.contains(marker) && l.contains("talk") && l.contains(':'))
    };
    assert!(
        e2e::wait_for(STEP, || tagged(&sh.log_text(), "talk-hello-marker")),
        "no tagged talk line in LOG:\n{}",
        sh.log_text()
    );
    sh.stop_ok();
    let log = sh.log_text();
    assert!(
        tagged(&log, "talk-bye-marker"),
        "the last words are lost:\n{log}"
    );
    let bye = log.find("talk-bye-marker").expect("bye");
    let ended = log.find("PID 1 ended").expect("the monitor's end line");
    assert!(
        bye < ended,
        "PID 1's output after the monitor's end line:\n{log}"
    );
    // The subinit's own lines keep their timestamp (as before: a digit first).
    let subinit = log
        .lines()
        .find(|l| l.contains("subinit"))
        .expect("a subinit line");
    assert!(
        subinit.starts_with(|c: char| c.is_ascii_digit()),
        "subinit line without its timestamp: {subinit}\n{log}"
    );
}

// ------------------------------------------------------------- hole 3: a user blocks boots

/// The first line a user's background command prints (it says its lock is
/// held): the real event, read from its stdout.
fn first_line(holder: &mut e2e::ChildGuard) -> String {
    use std::io::BufRead;
    let out = holder.child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .expect("read");
    line
}

/// Mode bits of `path` (not followed).
fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).expect("stat").mode() & 0o7777
}

/// A user holding `flock -x` on UPPER (reachable: BASE 0755) no longer
/// blocks the boot: the UPPER lock is a file in a root-only run directory,
/// keyed by UPPER's device and inode. Every run directory is 0700 and its
/// lock 0600, so the user cannot open them; a second subhost on the same
/// UPPER is still refused; the UPPER lock goes at stop.
#[test]
fn a_user_flock_on_upper_does_not_block_the_boot() {
    require_root!();
    let user = User::new("fu");
    let mut sh = Subhost::busybox("hfu").line("START=none");
    for dir in [&sh.scratch.path, &sh.base, &sh.upper] {
        set_mode(dir, 0o755);
    }
    let mut holder = user.spawn(&format!(
        "exec flock -x {} sh -c 'echo held; exec sleep 60'",
        sh.upper.display()
    ));
    assert_eq!(first_line(&mut holder).trim(), "held", "the user's flock");
    sh.boot_ok();
    let run = Path::new("/run/overlay-boot");
    let upper_locks = run.join(".upper-locks.d");
    assert_eq!(mode_of(run), 0o700);
    assert_eq!(mode_of(&sh.run_dir()), 0o700);
    assert_eq!(mode_of(&upper_locks), 0o700);
    assert_eq!(mode_of(&sh.run_dir().join("lock")), 0o600);
    let meta = fs::metadata(&sh.upper).expect("UPPER");
    let upper_lock = upper_locks.join(format!("{}:{}", meta.dev(), meta.ino()));
    assert_eq!(mode_of(&upper_lock), 0o600);
    let lock = sh.run_dir().join("lock");
    let (code, _, err) = user.sh(&format!("flock -n {} true", lock.display()));
    assert_ne!(code, 0, "the user could lock {}", lock.display());
    assert!(err.contains("Permission denied"), "{err}");

    // Another NAME on the same UPPER is still refused.
    let twin = sh.base.join("twin.conf");
    fs::write(
        &twin,
        format!(
            "BASE=.\nLOWER=lower\nSTART=none\nUPPER={}\n",
            sh.upper.display()
        ),
    )
    .expect("twin conf");
    let out = sh.tool("overlay-boot", &[&twin], STEP);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.err.contains("in use by another running subhost"),
        "{out}"
    );
    sh.stop_ok();
    assert!(!upper_lock.exists(), "the UPPER lock outlived the subhost");
    drop(holder);
}

/// Removes a path (file or empty directory) a test planted, on failure too.
struct Planted(PathBuf);

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0).or_else(|_| fs::remove_dir(&self.0));
    }
}

/// What a user plants at the default LOG, `/tmp/oly-NAME.log` (a
/// directory, a FIFO, a symlink to a root file, a file of their own),
/// never blocks the boot and never receives a byte: the boot warns once
/// and logs to `/var/log/overlay-boot/NAME.log`, root's. An explicit LOG
/// that is not safe is still refused (the LOG test above).
#[test]
fn a_users_plant_at_the_default_log_never_blocks_a_boot() {
    require_root!();
    let user = User::new("pl");
    let mut sh = Subhost::busybox("hpl").line("START=none");
    let default = sh.log.clone();
    let fallback = PathBuf::from(format!("/var/log/overlay-boot/{}.log", sh.name));
    sh.expect_log(fallback.clone());
    let victim = sh.scratch.write("victim", "root's own\n", 0o644);
    let d = default.display();
    let plants = [
        format!("mkdir {d}"),
        format!("mkfifo {d}"),
        format!("ln -s {} {d}", victim.display()),
        format!("echo mine > {d}"),
    ];
    for plant in &plants {
        let _planted = Planted(default.clone());
        user.sh_ok(plant);
        let before = id_of(&default);
        let out = sh.boot();
        assert!(out.ok(), "{plant}: {out}");
        let warned: Vec<&str> = out
            .err
            .lines()
            .filter(|l| l.contains("logging to"))
            .collect();
        assert_eq!(warned.len(), 1, "{plant}: one warning wanted: {out}");
        assert!(warned[0].contains(&fallback.display().to_string()), "{out}");
        assert!(
            out.out.contains(&format!("log {}", fallback.display())),
            "{plant}: the ready line names the fallback: {out}"
        );
        sh.stop_ok();
        assert_eq!(id_of(&default), before, "{plant}: the plant was changed");
        let meta = fs::symlink_metadata(&fallback).expect("fallback log");
        assert!(meta.is_file() && meta.uid() == 0, "{meta:?}");
        assert_eq!(
            mode_of(&fallback) & 0o007,
            0,
            "the fallback log is not root's"
        );
        assert!(sh.log_text().contains("ready"), "{}", sh.log_text());
    }
    assert_eq!(fs::read_to_string(&victim).expect("victim"), "root's own\n");
    assert_eq!(mode_of(Path::new("/var/log/overlay-boot")), 0o700);
}

/// After the monitor is killed, a user can neither lock nor read the run
/// state (0700), so nothing blocks root: overlay-stop reclaims the
/// subhost whose monitor died, and the next boot works.
#[test]
fn a_killed_monitor_is_reclaimed_whatever_a_user_does() {
    require_root!();
    let user = User::new("km");
    let mut sh = Subhost::busybox("hkm").line("START=none");
    sh.boot_ok();
    let meta = fs::metadata(&sh.upper).expect("UPPER");
    let upper_lock = format!(
        "/run/overlay-boot/.upper-locks.d/{}:{}",
        meta.dev(),
        meta.ino()
    );
    assert!(
        Path::new(&upper_lock).exists(),
        "no UPPER lock {upper_lock}"
    );
    let monitor = sh.monitor();
    monitor.kill9();
    assert!(
        e2e::wait_for(STEP, || !monitor.alive()),
        "monitor still alive"
    );
    let lock = sh.run_dir().join("lock");
    let (code, _, err) = user.sh(&format!("flock -n {} true", lock.display()));
    assert_ne!(code, 0, "the user could lock {}", lock.display());
    assert!(err.contains("Permission denied"), "{err}");
    let (code, _, _) = user.sh(&format!("cat {}/pid", sh.run_dir().display()));
    assert_ne!(code, 0, "the user could read the run state");
    let out = sh.stop();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.err.contains("its monitor had died"), "{out}");
    sh.assert_gone();
    assert!(
        !Path::new(&upper_lock).exists(),
        "the dead monitor's UPPER lock is left"
    );
    sh.boot_ok();
    sh.stop_ok();
}

// ------------------------------------------------------------- hole 10: the launcher inside

/// What of the host's launcher binary process `pid` maps: its `exe` and
/// every `map_files` entry, compared by (dev, ino) with the binary.
fn maps_binary(pid: nix::unistd::Pid, binary: (u64, u64)) -> Vec<String> {
    let mut hits = Vec::new();
    let id = |p: &Path| fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let exe = PathBuf::from(format!("/proc/{pid}/exe"));
    if id(&exe) == Some(binary) {
        hits.push(format!("{}: {:?}", exe.display(), fs::read_link(&exe)));
    }
    let maps = PathBuf::from(format!("/proc/{pid}/map_files"));
    for entry in fs::read_dir(&maps).into_iter().flatten().flatten() {
        if id(&entry.path()) == Some(binary) {
            hits.push(format!("{}", entry.path().display()));
        }
    }
    hits
}

/// While overlay-go starts its command, no process in the subhost's pid
/// namespace maps the host's launcher binary: the command is forked by
/// the subinit's exec helper. strace delays every exec by 1.5 s, which
/// holds the command's process in the pid namespace before its exec
/// (where the launcher's own fork used to sit); the test looks at every
/// process there meanwhile. The command's exit status still comes back.
#[test]
fn overlay_go_runs_no_host_binary_in_the_pid_namespace() {
    require_root!();
    if !Path::new("/usr/bin/strace").exists() {
        assert!(!e2e::in_ci(), "strace missing (make deps-test)");
        e2e::note_skip("strace missing");
        return;
    }
    let mut sh = Subhost::busybox("hgo").line("START=none");
    let pid1 = sh.boot_ok();
    let ns = e2e::subhost::HeldNs::of(pid1, "pid").expect("PID 1's pid namespace");
    let launcher = e2e::bin("overlay-boot");
    let meta = fs::metadata(&launcher).expect("launcher");
    let binary = (meta.dev(), meta.ino());
    let go = sh.scratch.join("overlay-go");
    std::os::unix::fs::symlink(&launcher, &go).expect("symlink overlay-go");
    let mut cmd = std::process::Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        "trace=execve,execveat",
    ])
    .args(["-e", "inject=execve,execveat:delay_enter=1500000", "--"])
    .arg(&go)
    .args([&sh.name, "sh", "-c", "exit 7"])
    .env("OVERLAY_BOOT_SUBINIT", e2e::bin("subinit"))
    .stdin(std::process::Stdio::null());
    let mut child = e2e::ChildGuard::spawn(&mut cmd);
    let (mut seen, mut hits) = (0, std::collections::BTreeSet::new());
    let status = loop {
        for p in ns.members("pid").into_iter().filter(|p| *p != pid1) {
            seen += 1;
            hits.extend(maps_binary(p, binary));
        }
        if let Some(status) = child.child.try_wait().expect("wait") {
            break status;
        }
        // A look every 2 ms (as e2e::wait_for polls) across the 1.5 s hold.
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(hits.is_empty(), "the host's launcher inside: {hits:?}");
    assert!(
        seen > 0,
        "never saw the command's process in the pid namespace"
    );
    assert_eq!(status.code(), Some(7), "overlay-go's exit status");
    sh.stop_ok();
}
