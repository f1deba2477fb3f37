//! SHARE lines and `overlay-share PATH NAME [SUBPATH]`, as root, against the
//! real binaries: host directories and files bound into a busybox subhost,
//! live in both directions; a share of LOWER skipped; a symlink planted in
//! UPPER at a share target never sends the bind (or a created directory)
//! to a host path; nothing left after stop.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use e2e::require_root;
use e2e::subhost::{Subhost, GO};

/// Writes `text` to a host file `rel` under BASE (parents created).
fn host_file(sh: &Subhost, rel: &str, text: &str) -> std::path::PathBuf {
    let p = sh.base.join(rel);
    fs::create_dir_all(p.parent().expect("parent")).expect("create host directory");
    fs::write(&p, text).expect("write host file");
    p
}

/// The whole of `dir`'s entries, sorted (what must stay unchanged on the host).
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ------------------------------------------------------------ SHARE lines

#[test]
fn share_of_a_directory_is_the_live_host_directory() {
    require_root!();
    let mut sh = Subhost::busybox("shd")
        .line("START=none")
        .line("SHARE=data");
    host_file(&sh, "data/before", "before boot\n");
    sh.boot_ok();
    // Same path inside; BASE-relative `data` is /data there.
    assert_eq!(sh.go_ok(&["cat", "/data/before"]), "before boot\n");
    host_file(&sh, "data/after", "written on the host\n");
    assert_eq!(sh.go_ok(&["cat", "/data/after"]), "written on the host\n");
    sh.sh("echo written inside > /data/inside");
    assert_eq!(
        fs::read_to_string(sh.base.join("data/inside")).expect("inside write reached the host"),
        "written inside\n"
    );
    // The target directory was made inside (in UPPER), not on the host.
    assert!(sh.upper.join("data").is_dir(), "no /data made in UPPER");
    assert!(
        !sh.upper.join("data/inside").exists(),
        "the write went into UPPER, not the share"
    );
    sh.stop_ok();
}

#[test]
fn share_of_a_file_gets_an_empty_target_file() {
    require_root!();
    let mut sh = Subhost::busybox("shf")
        .line("START=none")
        .line("SHARE=conf/app.conf:/etc/app/app.conf");
    let host = host_file(&sh, "conf/app.conf", "key=value\n");
    sh.boot_ok();
    assert_eq!(sh.go_ok(&["cat", "/etc/app/app.conf"]), "key=value\n");
    // Same file: a change on the host is seen at once.
    fs::write(&host, "key=changed\n").expect("rewrite host file");
    assert_eq!(sh.go_ok(&["cat", "/etc/app/app.conf"]), "key=changed\n");
    let target = sh.upper.join("etc/app/app.conf");
    let meta = fs::metadata(&target).expect("target file made in UPPER");
    assert!(
        meta.is_file() && meta.len() == 0,
        "target is not an empty file"
    );
    sh.stop_ok();
}

#[test]
fn two_shares_one_with_a_blank_before_the_equals_sign() {
    require_root!();
    let mut sh = Subhost::busybox("sh2")
        .line("START=none")
        .line("SHARE=one:/srv/first")
        .line("SHARE =two:/mnt/second/deeper");
    host_file(&sh, "one/f", "1\n");
    host_file(&sh, "two/f", "2\n");
    sh.boot_ok();
    assert_eq!(sh.go_ok(&["cat", "/srv/first/f"]), "1\n");
    assert_eq!(sh.go_ok(&["cat", "/mnt/second/deeper/f"]), "2\n");
    sh.stop_ok();
}

#[test]
fn share_of_lower_is_skipped() {
    require_root!();
    let mut sh = Subhost::busybox("shl")
        .line("START=none")
        .line("SHARE=lower:/mnt/lower");
    sh.boot_ok();
    let out = sh.go(&["ls", "-d", "/mnt/lower"]);
    assert_ne!(out.code, 0, "a share of LOWER was bound: {out}");
    assert!(!sh.upper.join("mnt/lower").exists());
    sh.stop_ok();
}

/// Security check 12 and issue 9, hole 12: `<share target> → host path`
/// planted in UPPER. The symlink resolves inside the subhost: where that
/// path does not exist there, it is made there (as the original does) and
/// the boot succeeds; where it does, the bind lands there. The host
/// directory and file the symlinks name are never created, bound or
/// written.
#[test]
fn symlink_planted_at_a_share_target_stays_inside() {
    require_root!();
    let mut sh = Subhost::busybox("shs")
        .line("START=none")
        .line("SHARE=data:/srv/data")
        .line("SHARE=conf/app.conf:/etc/app.conf");
    host_file(&sh, "data/shared", "share\n");
    host_file(&sh, "conf/app.conf", "key=value\n");
    // Host paths outside BASE the symlinks point at.
    let victim_dir = sh.scratch.join("victim");
    let victim_file = sh.scratch.join("victim.conf");
    fs::create_dir_all(victim_dir.join("existing")).expect("victim dir");
    fs::write(&victim_file, "precious\n").expect("victim file");
    fs::create_dir_all(sh.upper.join("srv")).expect("UPPER/srv");
    symlink(victim_dir.join("new"), sh.upper.join("srv/data")).expect("plant dir symlink");
    fs::create_dir_all(sh.upper.join("etc")).expect("UPPER/etc");
    symlink(&victim_file, sh.upper.join("etc/app.conf")).expect("plant file symlink");
    let inside_dir = sh
        .upper
        .join(victim_dir.join("new").strip_prefix("/").expect("abs"));
    let inside_file = sh.upper.join(victim_file.strip_prefix("/").expect("abs"));
    let inside = format!("{}/shared", victim_dir.join("new").display());
    let victims_intact = |sh: &Subhost| {
        assert_eq!(listing(&victim_dir), vec!["existing"], "{}", sh.name);
        assert_eq!(
            fs::read_to_string(&victim_file).expect("victim"),
            "precious\n"
        );
    };

    // Nothing at those paths inside the subhost: made there, in UPPER.
    sh.boot_ok();
    assert_eq!(sh.go_ok(&["cat", "/srv/data/shared"]), "share\n");
    assert_eq!(sh.go_ok(&["cat", "/etc/app.conf"]), "key=value\n");
    assert_eq!(sh.go_ok(&["cat", &inside]), "share\n");
    assert!(inside_dir.is_dir(), "target directory not made in UPPER");
    assert!(inside_file.is_file(), "target file not made in UPPER");
    victims_intact(&sh);
    sh.stop_ok();

    // The same paths present inside the subhost (in UPPER): the binds land
    // there, and the host's victims stay as they were.
    fs::write(&inside_file, "").expect("the file symlink's target inside");
    sh.boot_ok();
    assert_eq!(sh.go_ok(&["cat", "/srv/data/shared"]), "share\n");
    assert_eq!(sh.go_ok(&["cat", "/etc/app.conf"]), "key=value\n");
    assert_eq!(sh.go_ok(&["cat", &inside]), "share\n");
    victims_intact(&sh);
    assert_eq!(fs::read_to_string(&inside_file).expect("inside"), "");
    sh.stop_ok();
}

// ---------------------------------------------------------- overlay-share

#[test]
fn overlay_share_binds_a_live_host_directory_both_ways() {
    require_root!();
    let mut sh = Subhost::busybox("osh").line("START=none");
    sh.boot_ok();
    let dir = sh.scratch.join("live-share");
    fs::create_dir_all(&dir).expect("host dir");
    fs::write(dir.join("old"), "old\n").expect("host file");
    let path = dir.to_string_lossy().into_owned();
    let out = sh.tool("overlay-share", &[&path, &sh.name], GO);
    assert!(out.ok(), "{out}");
    assert!(out.out.is_empty(), "overlay-share printed: {out}");
    // At the same path inside, created there.
    assert_eq!(sh.go_ok(&["cat", &format!("{path}/old")]), "old\n");
    fs::write(dir.join("new"), "from the host\n").expect("host write");
    assert_eq!(
        sh.go_ok(&["cat", &format!("{path}/new")]),
        "from the host\n"
    );
    sh.sh(&format!("echo from inside > {path}/back"));
    assert_eq!(
        fs::read_to_string(dir.join("back")).expect("inside write on the host"),
        "from inside\n"
    );
    // The bind is the subhost's alone: the host's mount table has none.
    assert!(
        !e2e::subhost::host_mounts().iter().any(|m| m.point == dir),
        "overlay-share mounted on the host"
    );
    sh.stop_ok();
    assert_eq!(listing(&dir), vec!["back", "new", "old"]);
}

#[test]
fn overlay_share_at_a_subpath_and_of_a_file() {
    require_root!();
    let mut sh = Subhost::busybox("oss").line("START=none");
    sh.boot_ok();
    let dir = sh.scratch.join("spool");
    fs::create_dir_all(&dir).expect("host dir");
    fs::write(dir.join("mail"), "you have mail\n").expect("host file");
    let file = sh.scratch.join("motd");
    fs::write(&file, "hello\n").expect("host file");
    let dir_s = dir.to_string_lossy().into_owned();
    let file_s = file.to_string_lossy().into_owned();
    // A symlink planted at the SUBPATH's parent resolves inside.
    sh.sh("mkdir -p /var/x && ln -s /var/x /var/spool");
    let out = sh.tool("overlay-share", &[&dir_s, &sh.name, "/var/spool/mail"], GO);
    assert!(out.ok(), "{out}");
    assert_eq!(sh.go_ok(&["cat", "/var/x/mail/mail"]), "you have mail\n");
    let out = sh.tool("overlay-share", &[&file_s, &sh.name, "etc/motd"], GO);
    assert!(out.ok(), "{out}");
    assert_eq!(sh.go_ok(&["cat", "/etc/motd"]), "hello\n");
    fs::write(&file, "changed\n").expect("rewrite");
    assert_eq!(sh.go_ok(&["cat", "/etc/motd"]), "changed\n");
    assert!(
        !sh.go(&["test", "-e", &dir_s]).ok(),
        "PATH itself appeared inside as well"
    );
    sh.stop_ok();
}

#[test]
fn overlay_share_refuses_a_stopped_subhost_and_bad_usage() {
    require_root!();
    let sh = Subhost::busybox("osn");
    let dir = sh.scratch.path.to_string_lossy().into_owned();
    let out = sh.tool("overlay-share", &[&dir, &sh.name], GO);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.err
            .contains(&format!("subhost {} is not running", sh.name)),
        "{out}"
    );
    let out = sh.tool("overlay-share", &[&dir], GO);
    assert_eq!(out.code, 2, "{out}");
    let out = sh.tool("overlay-share", &[&dir, &sh.name, "/a/../etc"], GO);
    assert_eq!(out.code, 2, "{out}");
    let out = sh.tool("overlay-share", &["--help"], GO);
    assert!(
        out.ok() && out.out.contains("overlay-share PATH NAME"),
        "{out}"
    );
}
