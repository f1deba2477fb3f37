//! `Config::load` on real files in temporary directories under /tmp.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

/// A directory tree under /tmp, removed on drop. Directories are made
/// 0755 and files 0644 whatever the umask, so that they pass the trust
/// checks (security check 25) when the tests run as root.
pub(super) struct Tree {
    pub(super) root: PathBuf,
}

impl Tree {
    pub(super) fn new() -> Tree {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let root = PathBuf::from(format!("/tmp/ob-config-test-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("create test tree");
        let root = fs::canonicalize(&root).expect("canonical test tree");
        chmod(&root, 0o755);
        Tree { root }
    }

    pub(super) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub(super) fn dirs(&self, rels: &[&str]) {
        for rel in rels {
            fs::create_dir_all(self.path(rel)).expect("create dir");
            let mut dir = self.root.clone();
            for part in Path::new(rel).components() {
                dir.push(part);
                chmod(&dir, 0o755);
            }
        }
    }

    pub(super) fn file(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        fs::write(&path, text).expect("write file");
        chmod(&path, 0o644);
        path
    }

    /// An environment whose mount table lists `mounted`.
    pub(super) fn env(&self, mounted: &[&Path]) -> HostEnv {
        let lines: String = mounted
            .iter()
            .map(|p| format!("40 22 0:40 / {} rw - overlay x rw\n", p.display()))
            .collect();
        HostEnv {
            mountinfo: self.file("mountinfo", &lines),
            search_path: "/usr/bin:/bin".into(),
            guarded: std::sync::Arc::new(Vec::new()),
            runner: std::sync::Arc::new(super::command::Plain),
        }
    }

    /// A subhost directory `rel` with live, root and work.
    pub(super) fn subhost(&self, rel: &str) -> PathBuf {
        self.dirs(&[
            &format!("{rel}/live"),
            &format!("{rel}/root"),
            &format!("{rel}/work"),
        ]);
        self.path(rel)
    }
}

pub(super) fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

pub(super) fn load_err(conf: &Path, env: &HostEnv) -> String {
    match Config::load_with(conf, env) {
        Ok(config) => format!("unexpected success: {config:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_with_base_relative_to_the_file() {
    let t = Tree::new();
    let base = t.subhost("srv/mta");
    t.dirs(&["etc"]);
    let conf = t.file("etc/mta.conf", "# a subhost\nBASE=../srv/mta\n");
    let config = Config::load_with(&conf, &t.env(&[])).expect("loads");
    assert_eq!(config.path, conf);
    assert_eq!(config.name, "mta");
    assert_eq!(config.log, PathBuf::from("/tmp/oly-mta.log"));
    assert_eq!(config.base, base);
    assert_eq!(config.live, base.join("live"));
    assert_eq!(config.upper, base.join("root"));
    assert_eq!(config.work, base.join("work"));
    assert_eq!(config.lower, PathBuf::from("/"));
    assert_eq!(config.mode, RootMode::Overlay);
    assert_eq!(config.cables, vec![]);
    assert_eq!(config.start, vec!["networking", "ssh"]);
    assert_eq!(
        (config.premount, config.postmount, config.init),
        (Hook::BuiltIn, Hook::BuiltIn, Hook::BuiltIn)
    );
    assert_eq!(config.ram_size, RamSize::Size("50M".into()));
    assert_eq!(config.shares, vec![]);
    assert_eq!(
        config.services,
        Some(PathBuf::from("/etc/overlay-boot/services.d"))
    );
    assert_eq!(config.stop_timeout, Duration::from_secs(10));
}

#[test]
fn commands_run_in_base_and_base_command_in_the_file_directory() {
    let t = Tree::new();
    t.subhost("etc");
    let base = t.subhost("etc/sub");
    let conf = t.file("etc/x.conf", "BASE=!pwd\nLIVE=!pwd\n");
    let config = Config::load_with(&conf, &t.env(&[])).expect("loads");
    assert_eq!(config.base, t.path("etc"));
    assert_eq!(config.live, t.path("etc"));
    let conf = t.file("etc/y.conf", "BASE=sub\nSTART= !pwd\n");
    let config = Config::load_with(&conf, &t.env(&[])).expect("loads");
    assert_eq!(config.start, vec![base.display().to_string()]);
}

#[test]
fn explicit_values() {
    let t = Tree::new();
    let base = t.subhost("b");
    t.dirs(&["b/data", "b/live2"]);
    t.file("b/pre", "#!/bin/sh\n");
    fs::set_permissions(t.path("b/pre"), fs::Permissions::from_mode(0o755)).expect("chmod");
    let text = "NAME=web\nBASE=b\nCABLES=br0= =02:00:00:00:00:01 br1=.7\nSTART=none\n\
                PREMOUNT=./pre -x\nRAM_SIZE=none\nSERVICES=none\nSTOP_TIMEOUT=30\nKEEP_CAPS=sys_time\n\
                SHARE =data:/srv/data\nSHARE=/\nLOG=log/web.log\n";
    t.dirs(&["log"]);
    let conf = t.file("x.conf", text);
    let config = Config::load_with(&conf, &t.env(&[])).expect("loads");
    assert_eq!(config.name, "web");
    assert_eq!(config.log, t.path("log/web.log"));
    assert_eq!(config.cables.len(), 3);
    let ifnames = name::host_ifnames(&config.name, &config.cables);
    assert_eq!(ifnames, vec!["web0", "web1", "web1.7"]);
    assert_eq!(config.start, Vec::<String>::new());
    let pre = base.join("pre").display().to_string();
    assert_eq!(config.premount, Hook::Command(vec![pre, "-x".into()]));
    assert_eq!(config.ram_size, RamSize::None);
    assert_eq!(config.services, None);
    assert_eq!(config.stop_timeout, Duration::from_secs(30));
    assert_eq!(config.keep_caps, crate::model::caps::Caps(1 << 25));
    let share = Share {
        host: base.join("data"),
        subhost: "/srv/data".into(),
    };
    assert_eq!(config.shares, vec![share]);
}

#[test]
fn bind_and_as_is_modes() {
    let t = Tree::new();
    t.dirs(&["live", "root"]);
    let conf = t.file("bind.conf", "BASE=.\nLOWER=root\n");
    let config = Config::load_with(&conf, &t.env(&[])).expect("loads without WORK");
    assert_eq!(config.mode, RootMode::Bind);
    let live = t.path("live");
    let conf = t.file("asis.conf", "BASE=.\nLOWER=live\nUPPER=live\n");
    let config = Config::load_with(&conf, &t.env(&[&live])).expect("a mounted LIVE is fine");
    assert_eq!(config.mode, RootMode::AsIs);
}

#[test]
fn errors_name_the_file_line_and_variable() {
    let t = Tree::new();
    let base = t.subhost("s");
    let env = t.env(&[&base.join("live")]);
    let f = |name: &str, text: &str| t.file(name, text);
    let cases = [
        (
            f("a.conf", "# x\n\nBASE=/nonexistent/b\n"),
            ":3: BASE: /nonexistent/b: no such directory".to_string(),
        ),
        (
            f("b.conf", "NAME=x\n"),
            ": BASE: required variable missing".into(),
        ),
        (
            f("c.conf", "BASE=s\nLIVE=live\n"),
            format!(":2: LIVE: {}/live is already a mount point", base.display()),
        ),
        (
            f("d.conf", "BASE=s\nUPPER=nope\n"),
            format!(":2: UPPER: {}/nope: no such directory", base.display()),
        ),
        (
            f("e.conf", "NAME=averyveryverylongname\n"),
            ":1: NAME: \"averyveryverylongname\" is longer than 12 characters".into(),
        ),
        (
            f("f.conf", "BASE=!false\n"),
            ":1: BASE: command \"!false\" failed (exit status 1)".into(),
        ),
        (
            f("g.conf", "BASE=s\nCABLES=br0= =zz:00:00:00:00:01\n"),
            ":2: CABLES: bad MAC address \"zz:00:00:00:00:01\"".into(),
        ),
        (
            f("h.conf", "BASE=s\nLIVE=.\nPREMOUNT=/etc/passwd\n"),
            ":3: PREMOUNT: /etc/passwd is not an executable file".into(),
        ),
        (
            f("i.conf", "BASE=s\nLIVE=.\nSHARE=nothere\n"),
            format!(
                ":3: SHARE: {}/nothere: no such file or directory",
                base.display()
            ),
        ),
        (
            f("abcdefghijkl.conf", "BASE=s\nLIVE=.\nCABLES== =.4095\n"),
            ": NAME (default): host interface name \"abcdefghijkl0.4095\"".into(),
        ),
        (
            f("j.conf", "BASE=.\n"),
            format!(
                ": LIVE (default): {}/live: no such directory",
                t.root.display()
            ),
        ),
        (
            f("k.conf", "BASE=s\nLIVE=.\nSTOP_TIMEOUT=0\n"),
            ":3: STOP_TIMEOUT: \"0\"".into(),
        ),
        (
            f(
                "l.conf",
                "BASE=s\nLIVE=.\nKEEP_CAPS=CAP_SYS_TIME CAP_NET_ADMIN\n",
            ),
            ":3: KEEP_CAPS: \"CAP_NET_ADMIN\" is not one of".into(),
        ),
    ];
    for (conf, want) in cases {
        let got = load_err(&conf, &env);
        let want = format!("{}{want}", conf.display());
        assert!(got.starts_with(&want), "\n got: {got}\nwant: {want}");
    }
}

#[test]
fn an_unreadable_file_is_named() {
    let t = Tree::new();
    let conf = t.path("missing.conf");
    let got = load_err(&conf, &t.env(&[]));
    assert!(
        got.starts_with(&format!("{}: cannot read", conf.display())),
        "{got}"
    );
}
