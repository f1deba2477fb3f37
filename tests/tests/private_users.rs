//! PRIVATE_USERS (issue 10, item 2), as root, against the real binaries:
//! the subhost in a user namespace of its own whose root is an unprivileged
//! host uid; LOWER, UPPER and SHAREs seen through idmapped mounts (real
//! owners inside, the same owners in UPPER as inside); two `yes` subhosts
//! on disjoint recorded ranges; refusals with exit 2; the audit's escapes
//! failing; cables, SHARE, overlay-share, overlay-go, a session and
//! `--list` working; a setuid-root file made inside giving no host user
//! host root.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use e2e::require_root;
use e2e::subhost::{Subhost, GO};
use e2e::user::User;

/// Where `yes` starts picking (0x70000000) and the size of its ranges.
const PICK_FIRST: u64 = 0x7000_0000;
const RANGE: u64 = 65536;

/// BASE mode 0700: PRIVATE_USERS refuses an UPPER host users can reach.
fn private(sh: &Subhost) {
    fs::set_permissions(&sh.base, fs::Permissions::from_mode(0o700)).expect("chmod BASE");
}

/// A busybox subhost with no services and PRIVATE_USERS=`value`.
fn busybox(tag: &str, value: &str) -> Subhost {
    let sh = Subhost::busybox(tag)
        .line("START=none")
        .line(&format!("PRIVATE_USERS={value}"));
    private(&sh);
    sh
}

/// The recorded range of a running subhost: (first, count).
fn recorded(sh: &Subhost) -> (u64, u64) {
    let text = fs::read_to_string(sh.run_dir().join("idrange")).expect("idrange recorded");
    let mut it = text
        .split_whitespace()
        .map(|w| w.parse::<u64>().expect("number"));
    (it.next().expect("first"), it.next().expect("count"))
}

/// `stat -c %u:%g PATH` inside.
fn owner_inside(sh: &Subhost, path: &str) -> String {
    sh.go_ok(&["stat", "-c", "%u:%g", path]).trim().to_string()
}

fn owner_on_host(path: &Path) -> String {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{}:{}", m.uid(), m.gid())
}

#[test]
fn uid_map_inside_and_owners_of_lower_and_upper() {
    require_root!();
    let mut sh = busybox("puo", "yes");
    let lower = sh.lower.clone().expect("busybox LOWER");
    fs::write(lower.join("etc/user-file"), "a user's\n").expect("write LOWER");
    std::os::unix::fs::chown(lower.join("etc/user-file"), Some(1000), Some(1001)).expect("chown");
    let pid = sh.boot_ok();
    let (first, count) = recorded(&sh);
    assert!(first >= PICK_FIRST && count == RANGE, "{first}:{count}");
    // Inside: 0 is host `first`, 65536 ids.
    let map = sh.sh("cat /proc/self/uid_map");
    let fields: Vec<&str> = map.split_whitespace().collect();
    assert_eq!(fields, ["0", &first.to_string(), "65536"], "{map}");
    assert_eq!(sh.sh("id -u").trim(), "0");
    // PID 1 is an unprivileged host uid.
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid");
    assert!(uid_line.contains(&first.to_string()), "{uid_line}");
    // LOWER's real owners inside.
    assert_eq!(owner_inside(&sh, "/etc/passwd"), "0:0");
    assert_eq!(owner_inside(&sh, "/etc/user-file"), "1000:1001");
    // Made inside: the same owners in UPPER as inside.
    sh.sh("mkdir -p /srv/d && echo x > /srv/d/f && chown 1234:4321 /srv/d/f && touch /srv/r");
    assert_eq!(owner_inside(&sh, "/srv/d/f"), "1234:4321");
    assert_eq!(owner_on_host(&sh.upper.join("srv/d/f")), "1234:4321");
    assert_eq!(owner_on_host(&sh.upper.join("srv/r")), "0:0");
    assert_eq!(owner_on_host(&sh.upper.join("srv/d")), "0:0");
    // A LOWER file changed inside is copied up with its owner.
    sh.sh("echo more >> /etc/user-file");
    assert_eq!(owner_on_host(&sh.upper.join("etc/user-file")), "1000:1001");
    sh.stop_ok();
    // The same UPPER boots without PRIVATE_USERS and shows the same owners.
    let text = fs::read_to_string(&sh.conf).expect("conf");
    sh.set_conf(&text.replace("PRIVATE_USERS=yes", "PRIVATE_USERS=no"));
    sh.boot_ok();
    assert_eq!(owner_inside(&sh, "/srv/d/f"), "1234:4321");
    assert_eq!(owner_inside(&sh, "/srv/r"), "0:0");
    assert!(!sh.run_dir().join("idrange").exists());
    sh.stop_ok();
}

#[test]
fn host_root_as_lower_shows_its_owners() {
    require_root!();
    let mut sh = Subhost::new("puh")
        .line("START=none")
        .line("PRIVATE_USERS=yes");
    private(&sh);
    let file = sh.scratch.join("owned-by-a-user");
    fs::write(&file, "x\n").expect("write");
    std::os::unix::fs::chown(&file, Some(4242), Some(4243)).expect("chown");
    sh.boot_ok();
    assert_eq!(owner_inside(&sh, "/etc/passwd"), "0:0");
    assert_eq!(owner_inside(&sh, "/usr/bin"), "0:0");
    assert_eq!(owner_inside(&sh, &file.to_string_lossy()), "4242:4243");
    // Root inside reads root's 0640 files (its own, through the idmap).
    sh.sh("head -c1 /etc/shadow >/dev/null");
    sh.stop_ok();
}

#[test]
fn two_yes_subhosts_get_disjoint_recorded_ranges_shown_by_list() {
    require_root!();
    let mut a = busybox("pua", "yes");
    let mut b = busybox("pub", "yes");
    a.boot_ok();
    b.boot_ok();
    let (ra, rb) = (recorded(&a), recorded(&b));
    assert!(ra.0 + ra.1 <= rb.0 || rb.0 + rb.1 <= ra.0, "{ra:?} {rb:?}");
    let list = a.tool("overlay-boot", &["--list"], GO);
    assert!(list.ok(), "{list}");
    for (sh, r) in [(&a, ra), (&b, rb)] {
        let line = list
            .out
            .lines()
            .find(|l| l.starts_with(&format!("{} ", sh.name)))
            .unwrap_or_else(|| panic!("{} not listed: {list}", sh.name));
        assert!(line.contains(&format!(" {}:{} ", r.0, r.1)), "{line}");
    }
    let json = a.tool("overlay-boot", &["--list", "--json"], GO);
    assert!(
        json.out.contains(&format!(
            "\"users\":{{\"first\":{},\"count\":{}}}",
            ra.0, ra.1
        )),
        "{json}"
    );
    a.stop_ok();
    b.stop_ok();
}

#[test]
fn an_overlapping_range_and_a_reachable_upper_are_refused_with_exit_2() {
    require_root!();
    let mut a = busybox("pux", "yes");
    a.boot_ok();
    let (first, _) = recorded(&a);
    let mut b = busybox("puy", &format!("{}:100", first + 10));
    let out = b.boot();
    assert_eq!(out.code, 2, "{out}");
    let line = fs::read_to_string(&b.conf)
        .expect("conf")
        .lines()
        .position(|l| l.starts_with("PRIVATE_USERS="))
        .expect("line")
        + 1;
    let want = format!("{}:{line}: PRIVATE_USERS:", b.conf.display());
    assert!(out.err.contains(&want), "{out}");
    assert!(out.err.contains(&a.name), "names the other subhost: {out}");
    // A range clear of it boots.
    let text = fs::read_to_string(&b.conf).expect("conf");
    let clear = format!("PRIVATE_USERS={}:65536", first + 4 * RANGE);
    b.set_conf(&text.replace(&format!("PRIVATE_USERS={}:100", first + 10), &clear));
    b.boot_ok();
    assert_eq!(recorded(&b), (first + 4 * RANGE, RANGE));
    b.stop_ok();
    a.stop_ok();
    // UPPER reachable by host users: refused, naming it.
    let mut c = busybox("puz", "yes");
    fs::set_permissions(&c.base, fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::set_permissions(&c.scratch.path, fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = c.boot();
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.err.contains("PRIVATE_USERS") && out.err.contains("setuid"),
        "{out}"
    );
    // So is a SHARE host users can reach (root inside writes there as host root).
    let d = busybox("puw", "yes");
    let open = d.scratch.join("open-share");
    fs::create_dir_all(&open).expect("mkdir");
    let mut d = d.line(&format!("SHARE={}", open.display()));
    let out = d.boot();
    assert_eq!(out.code, 2, "{out}");
    assert!(out.err.contains("PRIVATE_USERS: SHARE"), "{out}");
}

#[test]
fn a_lower_that_cannot_be_idmapped_is_refused_naming_it() {
    require_root!();
    let mut sh = busybox("pul", "yes");
    let lower = sh.lower.clone().expect("LOWER");
    // An overlay as LOWER: overlayfs has no idmapped-mount support.
    let (up, work) = (sh.scratch.join("ovl-up"), sh.scratch.join("ovl-work"));
    fs::create_dir_all(&up).expect("mkdir");
    fs::create_dir_all(&work).expect("mkdir");
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        up.display(),
        work.display()
    );
    nix::mount::mount(
        Some("obt-ovl"),
        &lower,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(opts.as_str()),
    )
    .expect("mount an overlay on LOWER");
    sh.adopt_host_mount(lower.clone());
    let out = sh.boot();
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.err.contains("PRIVATE_USERS")
            && out.err.contains("LOWER")
            && out.err.contains("overlay"),
        "{out}"
    );
}

#[test]
fn the_audit_escapes_fail() {
    require_root!();
    let mut sh = busybox("pue", "yes");
    sh.boot_ok();
    // mknod of the host's disk, and a mount of it.
    let disk = fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        .expect("root's device");
    let (major, minor) = disk.split_once(':').expect("major:minor");
    let out = sh.go(&["mknod", "/tmp/disk", "b", major, minor]);
    assert!(!out.ok(), "mknod of the host disk worked: {out}");
    sh.sh("mkdir -p /mnt/d");
    let out = sh.go(&["mount", "-t", "ext4", "/dev/null", "/mnt/d"]);
    assert!(!out.ok(), "{out}");
    // core_pattern, and a /sys write.
    let before = fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern");
    let out = sh.go(&["sh", "-c", "echo '|/tmp/x' > /proc/sys/kernel/core_pattern"]);
    assert!(!out.ok(), "{out}");
    let after = fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern");
    assert_eq!(before, after);
    let out = sh.go(&[
        "sh",
        "-c",
        "for f in /sys/block/*/queue/read_ahead_kb; do echo 4096 > $f || exit 1; done",
    ]);
    assert!(!out.ok(), "a /sys write worked: {out}");
    let out = sh.go(&["sh", "-c", "echo 1 > /sys/kernel/mm/ksm/run"]);
    assert!(!out.ok(), "{out}");
    // settimeofday (to the present time: harmless were it to work).
    // (busybox date exits 0 when it cannot set the clock: its message counts.)
    let out = sh.go(&["sh", "-c", "date -s \"$(date '+%Y-%m-%d %H:%M:%S')\""]);
    assert!(
        out.err.contains("can't set date"),
        "settimeofday worked: {out}"
    );
    // /proc/keys: only the keys of the subhost's own ids, none of the host's.
    let host_keys = fs::read_to_string("/proc/keys").unwrap_or_default();
    let inside = sh.go_ok(&["cat", "/proc/keys"]);
    for line in inside.lines() {
        assert!(
            !host_keys.lines().any(|h| h == line),
            "a host key inside: {line}"
        );
    }
    // A new cgroup v1 hierarchy (for release_agent) cannot be mounted;
    // an existing one can (root inside owns its cgroup namespace), rooted
    // at the subhost's cgroup, without release_agent, which only host
    // root may write.
    let out = sh.go(&[
        "mount",
        "-t",
        "cgroup",
        "-o",
        "none,name=obtpu",
        "cgroup",
        "/mnt/d",
    ]);
    assert!(!out.ok(), "a new v1 hierarchy was mounted: {out}");
    let v1 = sh.go(&["mount", "-t", "cgroup", "-o", "memory", "cgroup", "/mnt/d"]);
    if v1.ok() {
        let out = sh.go(&["sh", "-c", "echo /srv/x > /mnt/d/release_agent"]);
        assert!(!out.ok(), "release_agent written: {out}");
        let out = sh.go(&["sh", "-c", "find /mnt/d -name release_agent | grep ."]);
        assert!(!out.ok(), "a release_agent inside: {out}");
        sh.sh("umount /mnt/d");
    }
    sh.stop_ok();
}

#[test]
fn a_setuid_root_file_made_inside_gives_no_host_user_root() {
    require_root!();
    let mut sh = busybox("pus", "yes");
    let pid = sh.boot_ok();
    sh.sh("cp /bin/busybox /srv-suid && chmod 4755 /srv-suid");
    let on_host = sh.upper.join("srv-suid");
    let meta = fs::metadata(&on_host).expect("in UPPER");
    // It lands as uid 0, setuid (as nspawn's --private-users-ownership=map):
    // the same UPPER works without PRIVATE_USERS, where it is root's.
    assert_eq!((meta.uid(), meta.mode() & 0o4000), (0, 0o4000));
    // No host user reaches it: not through BASE (0700, required) ...
    let user = User::new("pus");
    let (code, _, _) = user.sh(&format!("{} id -u", on_host.display()));
    assert_ne!(code, 0, "a host user ran the setuid file in UPPER");
    // ... nor through PID 1's root (a process of another user).
    let (code, _, _) = user.sh(&format!("/proc/{pid}/root/srv-suid id -u"));
    assert_ne!(code, 0, "a host user ran it through /proc/PID/root");
    drop(user);
    sh.stop_ok();
}

#[test]
fn cable_share_overlay_share_session_and_go_work() {
    require_root!();
    let mut sh = busybox("puc", "yes").line("CABLES==").line("SHARE=data");
    let data = sh.base.join("data");
    fs::create_dir_all(&data).expect("mkdir");
    fs::write(data.join("theirs"), "x\n").expect("write");
    std::os::unix::fs::chown(data.join("theirs"), Some(1000), Some(1000)).expect("chown");
    sh.boot_ok();
    // The cable: root inside administers its netns (CAP_NET_ADMIN there).
    let host_end = format!("{}0", sh.name);
    let net = format!("169.254.{}.", std::process::id() % 200 + 30);
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("ip");
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    };
    ip(&["addr", "add", &format!("{net}1/24"), "dev", &host_end]);
    ip(&["link", "set", &host_end, "up"]);
    sh.sh(&format!(
        "ip addr add {net}2/24 dev eth0 && ip link set eth0 up"
    ));
    let pinged = (0..5).any(|_| sh.go(&["ping", "-c1", "-W1", &format!("{net}1")]).ok());
    assert!(pinged, "no ping over the cable");
    assert!(
        sh.sh("ls /sys/class/net").contains("eth0"),
        "sysfs of its netns"
    );
    // SHARE: real owners inside; root's writes land as host root's.
    assert_eq!(owner_inside(&sh, "/data/theirs"), "1000:1000");
    sh.sh("echo in > /data/mine");
    assert_eq!(owner_on_host(&data.join("mine")), "0:0");
    // overlay-share: idmapped too; refused for a tree host users can reach.
    let open = sh.scratch.join("reachable");
    fs::create_dir_all(&open).expect("mkdir");
    let out = sh.tool(
        "overlay-share",
        &[open.to_string_lossy().as_ref(), sh.name.as_str()],
        GO,
    );
    assert!(!out.ok() && out.err.contains("PRIVATE_USERS"), "{out}");
    let dir = sh.base.join("later");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("f"), "f\n").expect("write");
    std::os::unix::fs::chown(dir.join("f"), Some(2000), Some(2000)).expect("chown");
    let path = dir.to_string_lossy().into_owned();
    let out = sh.tool("overlay-share", &[&path, &sh.name], GO);
    assert!(out.ok(), "{out}");
    assert_eq!(owner_inside(&sh, &format!("{path}/f")), "2000:2000");
    sh.sh(&format!("echo back > {path}/g"));
    assert_eq!(owner_on_host(&dir.join("g")), "0:0");
    // overlay-go joins the user namespace as root.
    let (first, _) = recorded(&sh);
    assert!(sh.sh("cat /proc/self/uid_map").contains(&first.to_string()));
    sh.stop_ok();
    // A session over the same configuration.
    let text = fs::read_to_string(&sh.conf).expect("conf");
    sh.set_conf(&text.replace("CABLES==\n", ""));
    let out = sh.session_sh("id -u; cat /proc/self/uid_map; touch /from-session", GO);
    assert!(out.ok(), "{out}\n{}", sh.log_text());
    assert!(out.out.contains("65536"), "{out}");
    assert_eq!(owner_on_host(&sh.upper.join("from-session")), "0:0");
}

/// The services.d example (syslog and HTTP) over the host's root, with
/// root inside owning what the launcher made for it (/dev, /run, the
/// policy layer's script) and PID 1 in the subhost's cgroup.
#[test]
fn services_example_over_host_root_runs_with_private_users() {
    require_root!();
    let mut sh = Subhost::new("pui")
        .line("START=none")
        .line("PRIVATE_USERS=yes");
    private(&sh);
    sh.add_services_example();
    let pid = sh.boot_ok();
    sh.assert_services_example_runs("PRIVATE_USERS=yes");
    for path in ["/dev", "/dev/null", "/run", "/usr/sbin/policy-rc.d"] {
        assert_eq!(owner_inside(&sh, path), "0:0", "{path}");
    }
    // The cgroup is host root's, and PID 1 runs in it.
    if let Some(cg) = sh.cgroup() {
        assert_eq!(owner_on_host(&cg), "0:0");
        let procs = fs::read_to_string(cg.join("cgroup.procs")).expect("cgroup.procs");
        assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    }
    sh.stop_services_example();
}

/// UPPER == LOWER (LIVE a bind of UPPER): an idmapped bind, the same
/// owners inside as on the host; LIVE used as it is: refused, exit 2.
#[test]
fn bind_mode_is_idmapped_and_live_as_is_is_refused() {
    require_root!();
    let mut sh = busybox("pum", "yes");
    let lower = sh.lower.clone().expect("LOWER");
    std::os::unix::fs::chown(lower.join("etc/passwd"), Some(1000), Some(1000)).expect("chown");
    let conf = "BASE=.\nLOWER=lower\nUPPER=lower\nSTART=none\nPRIVATE_USERS=yes\n";
    sh.set_conf(&format!("NAME={}\n{conf}", sh.name));
    sh.boot_ok();
    assert_eq!(owner_inside(&sh, "/etc/passwd"), "1000:1000");
    assert_eq!(owner_inside(&sh, "/bin/busybox"), "0:0");
    sh.sh("touch /made-inside");
    assert_eq!(owner_on_host(&lower.join("made-inside")), "0:0");
    sh.stop_ok();
    sh.set_conf(&format!("NAME={}\n{conf}LIVE=lower\n", sh.name));
    let out = sh.boot();
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.err.contains("PRIVATE_USERS: cannot be done here: LIVE"),
        "{out}"
    );
}

/// The tty group's devices inside (/dev/console, /dev/ptmx, /dev/tty and
/// the devpts instance's gid=) are root:tty as the subhost sees them, not
/// nogroup; /dev/pts is root's; and a pty overlay-go gets on a terminal, or a
/// session's command, is mode 620 group tty inside (`mesg`/`write`).
#[test]
fn tty_devices_and_a_ptys_group_are_tty_inside() {
    require_root!();
    let mut sh = Subhost::new("put")
        .line("START=none")
        .line("PRIVATE_USERS=yes");
    private(&sh);
    sh.boot_ok();
    let tty = sh.go_ok(&["getent", "group", "tty"]);
    let tty = tty.split(':').nth(2).expect("tty's gid").to_string();
    let owners = sh.go_ok(&[
        "stat",
        "-c",
        "%u:%g %n",
        "/dev/console",
        "/dev/ptmx",
        "/dev/tty",
    ]);
    for n in ["console", "ptmx", "tty"] {
        let want = format!("0:{tty} /dev/{n}");
        assert!(owners.lines().any(|l| l == want), "{want}:\n{owners}");
    }
    // The devpts instance and its ptmx are root's inside, as in a host-mode
    // subhost (the kernel makes its root directory host root's).
    assert_eq!(owner_inside(&sh, "/dev/pts"), "0:0");
    assert_eq!(owner_inside(&sh, "/dev/pts/ptmx"), "0:0");
    // devpts prints its gid= as the initial user namespace sees it: the
    // host id that is tty inside.
    let (first, _) = recorded(&sh);
    let host_tty = first + tty.parse::<u64>().expect("tty's gid");
    let mounts = sh.sh("grep ' /dev/pts ' /proc/self/mountinfo");
    assert!(mounts.contains(&format!("gid={host_tty},")), "{mounts}");
    let text = sh.pty_of_go_on_a_terminal();
    assert!(text.contains(&format!("pty=0:{tty}:620")), "{text}");
    sh.stop_ok();
    // A session's command gets a pty of its subhost's devpts too.
    let out = sh.session_sh("stat -c pty=%u:%g:%a $(tty)", GO);
    assert!(out.ok(), "{out}\n{}", sh.log_text());
    let text = out.out.replace('\0', "");
    assert!(text.contains(&format!("pty=0:{tty}:620")), "{out}");
}

/// The tty group inside is the subhost's own: a tty of gid 7 in its
/// /etc/group gives /dev/console and the devpts instance host gid FIRST+7.
#[test]
fn the_tty_group_is_the_subhosts_own() {
    require_root!();
    let mut sh = busybox("pug", "yes");
    sh.write_upper("etc/group", "root:x:0:\ntty:x:7:\n", 0o644);
    sh.boot_ok();
    let owners = sh.go_ok(&["stat", "-c", "%u:%g %n", "/dev/console", "/dev/tty"]);
    assert_eq!(owners, "0:7 /dev/console\n0:7 /dev/tty\n");
    let (first, _) = recorded(&sh);
    let mounts = sh.sh("grep ' /dev/pts ' /proc/self/mountinfo");
    assert!(mounts.contains(&format!("gid={},", first + 7)), "{mounts}");
    sh.stop_ok();
}
