//! End-to-end isolation checks of a booted subhost (security.md checks 1-12,
//! in admin mode): PID 1, hostname, where writes land, mounts, the host's
//! files, setns into PID 1's mount namespace, /proc/1/exe, the built-in
//! /dev, /proc, /sys and /run, and symlinks planted in UPPER.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};

use e2e::subhost::{mounts_of, Subhost};
use e2e::{bin, require_root, rootfs};

/// Both LOWERs every isolation property must hold on.
#[derive(Clone, Copy, Debug)]
enum Lower {
    Host,
    Busybox,
}

fn subhost(lower: Lower, tag: &str) -> Subhost {
    match lower {
        Lower::Host => Subhost::new(tag),
        Lower::Busybox => Subhost::busybox(tag),
    }
}

/// A canary in a host-only directory (outside BASE, not in a busybox LOWER).
fn canary(sh: &Subhost) -> PathBuf {
    let path = sh.scratch.join("host-only/canary");
    fs::create_dir_all(path.parent().expect("parent")).expect("host-only dir");
    fs::write(&path, "host canary\n").expect("canary");
    path
}

// ------------------------------------------------------------------- PID 1

fn pid1_is_the_subinit(lower: Lower) {
    let mut sh = subhost(lower, "p1").line("START=none");
    sh.boot_ok();
    let cmdline = sh.go_ok(&["cat", "/proc/1/cmdline"]);
    let args: Vec<&str> = cmdline.split('\0').collect();
    assert_eq!(
        args[..3],
        ["subinit", "--name", sh.name.as_str()],
        "{cmdline:?}"
    );
    // The host sees the same process as the ready line's pid.
    let host_view = fs::read(format!("/proc/{}/cmdline", sh.pid1())).expect("host cmdline");
    assert_eq!(host_view, cmdline.as_bytes());
    sh.stop_ok();
}

#[test]
fn pid1_is_the_subinit_on_the_host_root() {
    require_root!();
    pid1_is_the_subinit(Lower::Host);
}

#[test]
fn pid1_is_the_subinit_on_busybox() {
    require_root!();
    pid1_is_the_subinit(Lower::Busybox);
}

/// /proc/1/exe inside opens the subinit, does not name the host's path of
/// it, cannot be opened for writing (CVE-2019-5736), and /proc/1/maps
/// names no host path.
#[test]
fn proc_1_exe_is_no_host_path_leak() {
    require_root!();
    let mut sh = Subhost::busybox("exe").line("START=none");
    sh.boot_ok();
    let host_path = bin("subinit");
    let host_str = host_path.display().to_string();
    let scratch_str = sh.scratch.path.display().to_string();
    let mut bad = Vec::new();
    let link = sh.go_ok(&["readlink", "/proc/1/exe"]);
    if link.contains(&host_str) || link.contains("/target/") {
        bad.push(format!(
            "readlink /proc/1/exe inside names the host's file: {link:?}"
        ));
    }
    let sum_inside = sh.go_ok(&["md5sum", "/proc/1/exe"]);
    let (_, sum_host, _) = e2e::run("md5sum", &[&host_path]);
    if sum_inside.split_whitespace().next() != sum_host.split_whitespace().next() {
        bad.push(format!(
            "/proc/1/exe inside does not open the subinit: {sum_inside:?} vs {sum_host:?}"
        ));
    }
    let write = sh.go(&["sh", "-c", "echo x >> /proc/1/exe"]);
    if write.ok() {
        bad.push(format!("/proc/1/exe opened for writing: {write}"));
    }
    let maps = sh.go_ok(&["cat", "/proc/1/maps"]);
    for l in maps.lines() {
        if l.contains(&host_str) || l.contains(&scratch_str) || l.contains("/target/") {
            bad.push(format!("/proc/1/maps lists a host path: {l}"));
        }
    }
    sh.stop_ok();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Security check 10: a command run by overlay-go is in every namespace
/// and the cgroup of PID 1, at its root, with / as cwd, a clean
/// environment and no inherited fds beyond 0-2.
#[test]
fn go_joins_every_namespace_root_and_cgroup_of_pid1() {
    require_root!();
    let mut sh = Subhost::busybox("gons").line("START=none");
    sh.boot_ok();
    let script = "for n in mnt pid net ipc uts time cgroup; do \
                  echo $n $(readlink /proc/self/ns/$n) $(readlink /proc/1/ns/$n); done";
    let mut bad = Vec::new();
    for l in sh.sh(script).lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 3 || f[1] != f[2] {
            bad.push(format!("namespace differs from PID 1's: {l}"));
        }
    }
    let own = sh.go_ok(&["cat", "/proc/self/cgroup"]);
    let pid1 = sh.go_ok(&["cat", "/proc/1/cgroup"]);
    if own != pid1 {
        bad.push(format!("cgroup {own:?} is not PID 1's {pid1:?}"));
    }
    let host_cg = fs::read_to_string(format!("/proc/{}/cgroup", sh.pid1())).expect("cgroup");
    if !host_cg.lines().any(|l| l == format!("0::/{}", sh.name)) {
        bad.push(format!(
            "PID 1 is not in cgroup /{} on the host: {host_cg:?}",
            sh.name
        ));
    }
    let cwd = sh.go_ok(&["pwd"]);
    if cwd.trim() != "/" {
        bad.push(format!("cwd is {cwd:?}"));
    }
    let root = sh.go_ok(&["readlink", "/proc/self/root"]);
    if root.trim() != "/" {
        bad.push(format!("root is {root:?}"));
    }
    let env = sh.go_ok(&["env"]);
    for l in env.lines() {
        if l.starts_with("CARGO") || l.starts_with("RUST") || l.starts_with("OVERLAY_BOOT") {
            bad.push(format!("caller's environment leaked: {l}"));
        }
    }
    // `; :` keeps the shell from exec-ing ls (whose own dir fd would show).
    let fds = sh.sh("ls /proc/$$/fd; :");
    let fds: Vec<&str> = fds.split_whitespace().collect();
    if fds != ["0", "1", "2"] {
        bad.push(format!("fds of the command beyond 0-2: {fds:?}"));
    }
    sh.stop_ok();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ---------------------------------------------------------------- hostname

#[test]
fn hostname_is_name_when_the_subhost_has_no_etc_hostname() {
    require_root!();
    let mut sh = Subhost::busybox("hn").line("START=none");
    assert!(!sh
        .lower
        .as_ref()
        .expect("lower")
        .join("etc/hostname")
        .exists());
    sh.boot_ok();
    assert_eq!(sh.go_ok(&["hostname"]).trim(), sh.name);
    assert_eq!(
        sh.go_ok(&["cat", "/proc/sys/kernel/hostname"]).trim(),
        sh.name
    );
    let host = fs::read_to_string("/proc/sys/kernel/hostname").expect("host hostname");
    assert_ne!(host.trim(), sh.name, "the host's hostname changed");
    sh.stop_ok();
}

#[test]
fn hostname_comes_from_etc_hostname_in_upper() {
    require_root!();
    let mut sh = Subhost::busybox("hnu").line("START=none");
    sh.write_upper("etc/hostname", "obtupperhost\n", 0o644);
    sh.boot_ok();
    assert_eq!(sh.go_ok(&["hostname"]).trim(), "obtupperhost");
    sh.stop_ok();
}

/// With the host's root as LOWER the host's /etc/hostname shows through,
/// by design; the subhost's UTS namespace is still its own.
#[test]
fn hostname_on_the_host_root_is_the_hosts_etc_hostname() {
    require_root!();
    let mut sh = Subhost::new("hnh").line("START=none");
    sh.boot_ok();
    let want = fs::read_to_string("/etc/hostname")
        .map(|t| t.trim().to_string())
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| sh.name.clone());
    assert_eq!(sh.go_ok(&["hostname"]).trim(), want);
    let ours = sh.go_ok(&["readlink", "/proc/self/ns/uts"]);
    let host = fs::read_link("/proc/self/ns/uts").expect("host uts ns");
    assert_ne!(
        Path::new(ours.trim()),
        host,
        "the subhost shares the host's UTS namespace"
    );
    sh.stop_ok();
}

// ------------------------------------------------------------------ writes

fn writes_land_in_upper(lower: Lower) {
    let mut sh = subhost(lower, "wr").line("START=none");
    sh.boot_ok();
    let file = format!("root/{}-written", sh.name);
    sh.sh(&format!("echo inside > /{file}"));
    assert_eq!(
        fs::read_to_string(sh.upper.join(&file)).expect("write not in UPPER"),
        "inside\n"
    );
    let lower_root = sh.lower.clone().unwrap_or_else(|| PathBuf::from("/"));
    assert!(
        !lower_root.join(&file).exists(),
        "write landed in LOWER {}",
        lower_root.join(&file).display()
    );
    // A host file changed inside stays unchanged on the host.
    let passwd = lower_root.join("etc/passwd");
    let before = fs::read(&passwd).expect("LOWER's passwd");
    sh.sh("echo obt:x:4242:4242::/:/bin/false >> /etc/passwd");
    assert_eq!(
        fs::read(&passwd).expect("passwd"),
        before,
        "LOWER's /etc/passwd changed"
    );
    assert!(sh.upper.join("etc/passwd").exists(), "copy-up not in UPPER");
    // Deleting a LOWER file leaves a whiteout in UPPER only.
    sh.sh("rm /etc/group");
    assert!(
        lower_root.join("etc/group").exists(),
        "rm inside removed LOWER's file"
    );
    let whiteout = fs::symlink_metadata(sh.upper.join("etc/group")).expect("no whiteout");
    assert_eq!(whiteout.rdev(), 0, "not a whiteout");
    sh.stop_ok();
}

#[test]
fn writes_land_in_upper_not_in_the_host_root() {
    require_root!();
    writes_land_in_upper(Lower::Host);
}

#[test]
fn writes_land_in_upper_not_in_the_busybox_lower() {
    require_root!();
    writes_land_in_upper(Lower::Busybox);
}

// ------------------------------------------------------------------ mounts

fn mount_inside_stays_inside(lower: Lower) {
    let mut sh = subhost(lower, "mi").line("START=none");
    sh.boot_ok();
    let source = format!("{}m", sh.name);
    sh.sh(&format!(
        "mkdir -p /mnt/obt && mount -t tmpfs {source} /mnt/obt"
    ));
    let inside = sh.go_ok(&["cat", "/proc/self/mountinfo"]);
    assert!(
        mounts_of(&inside).iter().any(|m| m.source == source),
        "the mount did not happen inside:\n{inside}"
    );
    let host = e2e::subhost::host_mounts();
    let seen: Vec<_> = host.iter().filter(|m| m.source == source).collect();
    assert!(
        seen.is_empty(),
        "a mount made inside shows on the host: {seen:?}"
    );
    // Nothing of the host's mount paths shows inside (security check 4).
    for m in mounts_of(&inside) {
        let p = m.point.display().to_string();
        assert!(
            !p.starts_with("/run/netns") && !p.contains(&sh.live.display().to_string()),
            "host mount point inside: {}",
            m.line
        );
    }
    sh.stop_ok();
}

#[test]
fn mount_made_inside_never_shows_on_the_host_root() {
    require_root!();
    mount_inside_stays_inside(Lower::Host);
}

#[test]
fn mount_made_inside_never_shows_on_busybox() {
    require_root!();
    mount_inside_stays_inside(Lower::Busybox);
}

// ---------------------------------------------------------- host's files

/// Security checks 1 and 3: with a busybox LOWER nothing outside LIVE is
/// reachable: the root is the subhost's, `/..` is `/`, and a host canary
/// is absent, also after `nsenter -t 1 -m` inside.
#[test]
fn nothing_outside_live_is_reachable() {
    require_root!();
    let mut sh = Subhost::busybox("cnr").line("START=none");
    let canary = canary(&sh);
    let c = canary.display().to_string();
    sh.boot_ok();
    let listing = sh.go_ok(&["ls", "-a", "/"]);
    let mut inside: Vec<&str> = listing
        .lines()
        .filter(|l| *l != "." && *l != "..")
        .collect();
    inside.sort();
    let lower = rootfs::top_level(sh.lower.as_ref().expect("lower"));
    assert_eq!(inside, lower, "`ls /` inside is not the busybox root");
    for probe in [
        format!("test -e {c}"),
        format!("cat {c}"),
        format!("test -e /proc/1/root{c}"),
        format!("nsenter -t 1 -m test -e {c}"),
        format!("nsenter -t 1 -m -r test -e {c}"),
        format!("test -e /proc/1/cwd{c}"),
    ] {
        let out = sh.go(&["sh", "-c", &probe]);
        assert_ne!(
            out.code, 0,
            "host canary reachable inside with `{probe}`: {out}"
        );
    }
    let ids = sh.go_ok(&["stat", "-c", "%d:%i", "/", "/.."]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1], "/.. is not / inside");
    assert_eq!(sh.go_ok(&["readlink", "/proc/1/root"]).trim(), "/");
    sh.stop_ok();
}

/// `nsenter -t <PID 1> -m ls /` from the host lands in the subhost's root
/// (the 1.6 fix: the old root is detached).
#[test]
fn nsenter_into_pid1_mount_namespace_lands_inside() {
    require_root!();
    let mut sh = Subhost::busybox("nse").line("START=none");
    let canary = canary(&sh);
    sh.boot_ok();
    let pid = sh.pid1().to_string();
    let (code, out, err) = e2e::run("nsenter", &["-t", &pid, "-m", "ls", "/"]);
    assert_eq!(code, 0, "nsenter -t {pid} -m ls /: {err}");
    let mut inside: Vec<&str> = out.lines().collect();
    inside.sort();
    let lower = rootfs::top_level(sh.lower.as_ref().expect("lower"));
    assert_eq!(
        inside, lower,
        "nsenter -m did not land in the subhost's root"
    );
    let c = canary.display().to_string();
    let (code, out, _) = e2e::run("nsenter", &["-t", &pid, "-m", "ls", &c]);
    assert_ne!(code, 0, "host canary visible after nsenter -m: {out}");
    sh.stop_ok();
}

// ---------------------------------------------- /dev, /proc, /sys, /run

/// `name type major,minor mode` as busybox `stat -c '%n %F %t,%T %a'` prints.
fn dev_entries(sh: &Subhost) -> BTreeMap<String, String> {
    let out = sh.go_ok(&[
        "stat",
        "-c",
        "%n|%F|%t,%T|%a|%N",
        "/dev/console",
        "/dev/null",
        "/dev/zero",
        "/dev/ptmx",
        "/dev/tty",
        "/dev/random",
        "/dev/urandom",
        "/dev/fd",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/shm",
        "/dev/pts",
    ]);
    out.lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(n, rest)| (n.to_string(), rest.to_string()))
        .collect()
}

fn dev_proc_sys_run(lower: Lower) {
    let mut sh = subhost(lower, "dev").line("START=none");
    sh.boot_ok();
    let dev = dev_entries(&sh);
    let want_chr = [
        ("/dev/null", "1,3", "666"),
        ("/dev/zero", "1,5", "666"),
        ("/dev/ptmx", "5,2", "666"),
        ("/dev/tty", "5,0", "666"),
        ("/dev/random", "1,8", "444"),
        ("/dev/urandom", "1,9", "444"),
    ];
    for (name, nums, mode) in want_chr {
        let got = dev
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing: {dev:?}"));
        let f: Vec<&str> = got.split('|').collect();
        assert_eq!(f[0], "character special file", "{name}: {got}");
        assert_eq!(f[1], nums, "{name} major,minor: {got}");
        assert_eq!(f[2], mode, "{name} mode: {got}");
    }
    let console = dev.get("/dev/console").expect("/dev/console missing");
    assert!(
        console.starts_with("character special file"),
        "/dev/console: {console}"
    );
    // Security check 11: never the host's console (c 5 1).
    assert!(
        !console.contains("|5,1|"),
        "/dev/console is the host's console: {console}"
    );
    for (name, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let got = dev
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing: {dev:?}"));
        assert!(got.starts_with("symbolic link"), "{name}: {got}");
        let link = sh.go_ok(&["readlink", name]);
        assert_eq!(link.trim(), target, "{name} → {got}");
    }
    let shm = dev.get("/dev/shm").expect("/dev/shm missing");
    let f: Vec<&str> = shm.split('|').collect();
    assert_eq!((f[0], f[2]), ("directory", "1777"), "/dev/shm: {shm}");
    assert!(dev
        .get("/dev/pts")
        .is_some_and(|p| p.starts_with("directory")));
    // Nothing beyond the listed set (the original's core link aside).
    let listing = sh.go_ok(&["ls", "/dev"]);
    for name in listing.split_whitespace() {
        assert!(
            [
                "console", "null", "zero", "ptmx", "tty", "random", "urandom", "fd", "stdin",
                "stdout", "stderr", "shm", "pts", "core"
            ]
            .contains(&name),
            "unexpected /dev/{name}"
        );
    }
    let mounts = sh.go_ok(&["cat", "/proc/mounts"]);
    let has = |point: &str, fstype: &str| {
        mounts.lines().any(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f.len() > 2 && f[1] == point && f[2] == fstype
        })
    };
    assert!(has("/proc", "proc"), "no proc on /proc:\n{mounts}");
    assert!(has("/sys", "sysfs"), "no sysfs on /sys:\n{mounts}");
    assert!(has("/dev", "tmpfs"), "no tmpfs on /dev:\n{mounts}");
    assert!(
        has("/dev/pts", "devpts"),
        "no devpts on /dev/pts:\n{mounts}"
    );
    assert!(has("/run", "tmpfs"), "no tmpfs on /run:\n{mounts}");
    let run = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/run"))
        .expect("/run");
    assert!(run.contains("size=51200k"), "/run is not 50M: {run}");
    assert!(run.contains("mode=755"), "/run is not mode 0755: {run}");
    let lock = sh.go_ok(&["stat", "-c", "%F %a", "/run/lock"]);
    assert_eq!(lock.trim(), "directory 1777", "/run/lock");
    // /run is fresh: nothing but lock.
    assert_eq!(sh.go_ok(&["ls", "-A", "/run"]).trim(), "lock");
    sh.stop_ok();
}

#[test]
fn dev_proc_sys_run_are_set_up_on_the_host_root() {
    require_root!();
    dev_proc_sys_run(Lower::Host);
}

#[test]
fn dev_proc_sys_run_are_set_up_on_busybox() {
    require_root!();
    dev_proc_sys_run(Lower::Busybox);
}

#[test]
fn ram_size_none_mounts_no_tmpfs_on_run() {
    require_root!();
    let mut sh = Subhost::busybox("rs0")
        .line("START=none")
        .line("RAM_SIZE=none");
    sh.write_upper("run/obt-kept", "from UPPER\n", 0o644);
    sh.boot_ok();
    let mounts = sh.go_ok(&["cat", "/proc/mounts"]);
    assert!(
        !mounts.lines().any(|l| l.split(' ').nth(1) == Some("/run")),
        "RAM_SIZE=none but something is mounted on /run:\n{mounts}"
    );
    assert_eq!(sh.go_ok(&["cat", "/run/obt-kept"]), "from UPPER\n");
    sh.stop_ok();
}

#[test]
fn ram_size_sets_the_size_of_the_run_tmpfs() {
    require_root!();
    let mut sh = Subhost::busybox("rs1")
        .line("START=none")
        .line("RAM_SIZE=10M");
    sh.boot_ok();
    let mounts = sh.go_ok(&["cat", "/proc/mounts"]);
    let run = mounts
        .lines()
        .find(|l| l.split(' ').nth(1) == Some("/run"))
        .unwrap_or_else(|| panic!("no /run mount:\n{mounts}"));
    assert!(
        run.contains("tmpfs") && run.contains("size=10240k"),
        "/run: {run}"
    );
    sh.stop_ok();
}

// ------------------------------------------------------ planted symlinks

/// Every entry under `dir` (or `dir` itself when a file): path, size,
/// mtime, content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, i64, i64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let meta = fs::symlink_metadata(&p).expect("stat snapshot entry");
        let content = if meta.is_file() {
            fs::read(&p).expect("read")
        } else {
            Vec::new()
        };
        out.insert(
            p.clone(),
            (meta.len(), meta.mtime(), meta.mtime_nsec(), content),
        );
        if meta.is_dir() {
            for e in fs::read_dir(&p).expect("read_dir") {
                todo.push(e.expect("entry").path());
            }
        }
    }
    out
}

/// The symlinks of security check 12: (path in UPPER, target in the
/// scratch's host-only directory, the target is a directory).
const PLANTS: &[(&str, &str, bool)] = &[
    ("etc/network", "netdir", true),
    ("etc/adjtime", "adjtime", false),
    ("dev", "devdir", true),
    ("run", "rundir", true),
];

/// Security check 12: symlinks planted in UPPER that point at host paths
/// outside BASE make the launcher write or mount nothing there, whether
/// the boot goes on or is refused. Each symlink alone (so that every setup
/// step meets one), then all together.
fn planted_symlinks(lower: Lower) {
    let mut sets: Vec<Vec<usize>> = (0..PLANTS.len()).map(|i| vec![i]).collect();
    sets.push((0..PLANTS.len()).collect());
    for set in sets {
        let mut sh = subhost(lower, "sym").line("START=none");
        let host = sh.scratch.join("host");
        fs::create_dir_all(&host).expect("host dir");
        for &i in &set {
            let (rel, target, is_dir) = PLANTS[i];
            let t = host.join(target);
            if is_dir {
                fs::create_dir_all(&t).expect("host target dir");
                fs::write(t.join("keep"), format!("{target}\n")).expect("host file");
            } else {
                fs::write(&t, "0.0 0 0.0\n0\nUTC\n").expect("host file");
            }
            let link = sh.upper.join(rel);
            fs::create_dir_all(link.parent().expect("parent")).expect("UPPER parent");
            symlink(&t, &link).expect("plant symlink");
        }
        let planted: Vec<&str> = set.iter().map(|&i| PLANTS[i].0).collect();
        let before = snapshot(&host);
        let boot = sh.boot();
        eprintln!(
            "boot with {planted:?} planted ({lower:?}): exit {}\n{}",
            boot.code, boot.err
        );
        assert!(
            [0, 1, 2].contains(&boot.code),
            "boot with {planted:?} neither succeeded nor failed cleanly: {boot}"
        );
        if boot.ok() {
            // While it runs: nothing mounted over the targets in the
            // monitor's mount namespace or the host's.
            let b = sh.booted.clone().expect("booted");
            let mut tables = vec![(
                "host",
                fs::read_to_string("/proc/self/mountinfo").expect("mountinfo"),
            )];
            if let Some(m) = b.monitor {
                if let Ok(t) = fs::read_to_string(format!("/proc/{}/mountinfo", m.pid)) {
                    tables.push(("monitor", t));
                }
            }
            for (whose, table) in tables {
                for m in mounts_of(&table) {
                    assert!(
                        !m.point.starts_with(&host),
                        "{planted:?}: {whose} mount over a planted symlink's target: {}",
                        m.line
                    );
                }
            }
            assert_eq!(
                snapshot(&host),
                before,
                "{planted:?}: host targets changed while running"
            );
            sh.stop_ok();
        } else {
            sh.assert_gone();
        }
        assert_eq!(
            snapshot(&host),
            before,
            "{planted:?}: host targets changed by boot and stop"
        );
    }
}

#[test]
fn symlinks_planted_in_upper_touch_nothing_on_the_host_root() {
    require_root!();
    planted_symlinks(Lower::Host);
}

#[test]
fn symlinks_planted_in_upper_touch_nothing_on_busybox() {
    require_root!();
    planted_symlinks(Lower::Busybox);
}
