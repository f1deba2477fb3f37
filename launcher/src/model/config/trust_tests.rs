//! Security check 25: a configuration file, a `!` program or a hook program
//! that someone other than root could have written is refused before any
//! command runs.

use std::os::unix::fs::{chown, symlink};
use std::path::{Path, PathBuf};

use super::load_tests::{chmod, load_err, Tree};
use super::*;

/// The uid and gid of `nobody`.
const NOBODY: u32 = 65534;

/// True when root. Otherwise says SKIP and returns false, except under CI
/// (`CI` set to anything but empty or `false`), where a missing privilege
/// is a failure.
fn root_or_skip(why: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let ci = matches!(std::env::var("CI"), Ok(v) if !v.is_empty() && v != "false");
    assert!(
        !ci,
        "this test needs root ({why}), and CI must run it as root"
    );
    eprintln!("SKIP: needs root to {why}");
    false
}

fn give_to_nobody(path: &Path) {
    chown(path, Some(NOBODY), Some(NOBODY)).expect("chown");
}

/// An executable script `rel` that creates `marker` and prints a value.
fn marker_script(t: &Tree, rel: &str, marker: &Path) -> PathBuf {
    let text = format!("#!/bin/sh\n: > {}\necho obtx\n", marker.display());
    let path = t.file(rel, &text);
    chmod(&path, 0o755);
    path
}

/// Loads `conf`, expects a refusal starting with `conf` + `want`, and
/// expects `marker` not to have been created.
fn refused(conf: &Path, env: &HostEnv, want: &str, marker: &Path) {
    let got = load_err(conf, env);
    let want = format!("{}{want}", conf.display());
    assert_eq!(got, want);
    assert!(!marker.exists(), "the command ran: {}", marker.display());
}

#[test]
fn a_config_others_can_write_is_refused_before_any_command() {
    let t = Tree::new();
    t.subhost("s");
    let marker = t.path("ran");
    let cmd = marker_script(&t, "cmd.sh", &marker);
    let text = format!("NAME=!{}\nBASE=s\nLIVE=.\n", cmd.display());
    let env = t.env(&[]);

    let conf = t.file("a.conf", &text);
    chmod(&conf, 0o666);
    let want = ": refused: writable by group or others (mode 0666)";
    refused(&conf, &env, want, &marker);
    chmod(&conf, 0o664);
    let want = ": refused: writable by group or others (mode 0664)";
    refused(&conf, &env, want, &marker);

    // Group or other writable directory, not sticky.
    t.dirs(&["open"]);
    let conf = t.file("open/b.conf", &text.replace("BASE=s", "BASE=../s"));
    chmod(&t.path("open"), 0o777);
    let want = format!(
        ": refused: directory {}: writable by group or others (mode 0777)",
        t.path("open").display()
    );
    refused(&conf, &env, &want, &marker);

    // Sticky like /tmp: anyone may have made the file first; refused too.
    chmod(&t.path("open"), 0o1777);
    let want = format!(
        ": refused: directory {}: writable by group or others (mode 1777)",
        t.path("open").display()
    );
    refused(&conf, &env, &want, &marker);

    // Higher up, sticky is fine: a root-owned directory in it stays put.
    t.dirs(&["open/safe"]);
    let conf = t.file("open/safe/c.conf", &text.replace("BASE=s", "BASE=../../s"));
    let config = Config::load_with(&conf, &env).expect("a sticky grandparent is fine");
    assert_eq!(config.name, "obtx");
    assert!(marker.exists());
}

#[test]
fn a_directory_higher_up_that_others_can_write_is_refused() {
    let t = Tree::new();
    t.subhost("s");
    let marker = t.path("ran");
    let cmd = marker_script(&t, "cmd.sh", &marker);
    let env = t.env(&[]);
    t.dirs(&["up/down"]);
    let conf = t.file(
        "up/down/a.conf",
        &format!("NAME=!{}\nBASE=../../s\nLIVE=.\n", cmd.display()),
    );
    chmod(&t.path("up"), 0o777);
    let want = format!(
        ": refused: directory {}: writable by group or others (mode 0777)",
        t.path("up").display()
    );
    refused(&conf, &env, &want, &marker);
    // Through a symlink: the real directories are what count.
    chmod(&t.path("up"), 0o755);
    symlink(t.path("up/down"), t.path("via")).expect("symlink");
    chmod(&t.path("up"), 0o775);
    let via = t.path("via/a.conf");
    let got = load_err(&via, &env);
    assert!(
        got.contains("writable by group or others (mode 0775)"),
        "{got}"
    );
    assert!(!marker.exists());
}

#[test]
fn a_config_or_program_in_a_running_subhosts_tree_is_refused() {
    let t = Tree::new();
    t.subhost("s");
    t.dirs(&["a/root/etc/evil", "a/work", "a/live"]);
    let marker = t.path("ran");
    let pwn = marker_script(&t, "a/root/etc/evil/pwn", &marker);
    let mut env = t.env(&[]);
    env.guarded = vec![Guarded {
        path: t.path("a/root"),
        what: "UPPER /x of running subhost a".into(),
    }];
    // The subhost root's own configuration, with a `!` program of its own.
    let text = format!("BASE=../../../../s\nLIVE=.\nLOWER=!{}\n", pwn.display());
    let conf = t.file("a/root/etc/evil/x.conf", &text);
    refused(
        &conf,
        &env,
        ": refused: lies under the UPPER /x of running subhost a",
        &marker,
    );
    // A host configuration naming that program, as `!` or as a hook.
    let conf = t.file(
        "h.conf",
        &format!("BASE=s\nLIVE=.\nNAME=!{}\n", pwn.display()),
    );
    let want = format!(
        ":3: NAME: program {} refused: lies under the UPPER /x of running subhost a",
        pwn.display()
    );
    refused(&conf, &env, &want, &marker);
    for var in ["PREMOUNT", "POSTMOUNT", "INIT"] {
        let conf = t.file(
            "h.conf",
            &format!("BASE=s\nLIVE=.\n{var}={}\n", pwn.display()),
        );
        let want = format!(
            ":3: {var}: program {} refused: lies under the UPPER /x of running subhost a",
            pwn.display()
        );
        refused(&conf, &env, &want, &marker);
    }
    // A host symlink to it is no way round; a link in the tree to a host
    // program is refused as well.
    symlink(&pwn, t.path("link")).expect("symlink");
    let conf = t.file(
        "h.conf",
        &format!("BASE=s\nLIVE=.\nINIT={}\n", t.path("link").display()),
    );
    let got = load_err(&conf, &env);
    assert!(got.contains("lies under the UPPER"), "{got}");
    symlink("/bin/true", t.path("a/root/etc/evil/t")).expect("symlink");
    let conf = t.file(
        "h.conf",
        &format!(
            "BASE=s\nLIVE=.\nINIT={}\n",
            t.path("a/root/etc/evil/t").display()
        ),
    );
    let got = load_err(&conf, &env);
    assert!(got.contains("lies under the UPPER"), "{got}");
    // Outside the tree, the same program is fine.
    env.guarded.clear();
    Config::load_with(&conf, &env).expect("no subhost runs");
}

#[test]
fn a_config_not_owned_by_root_is_refused() {
    if !root_or_skip("chown") {
        return;
    }
    let t = Tree::new();
    t.subhost("s");
    let marker = t.path("ran");
    let cmd = marker_script(&t, "cmd.sh", &marker);
    let text = format!("NAME=!{}\nBASE=s\nLIVE=.\n", cmd.display());
    let env = t.env(&[]);

    // The reviewer's case: nobody's, mode 0666.
    let conf = t.file("a.conf", &text);
    give_to_nobody(&conf);
    chmod(&conf, 0o666);
    refused(
        &conf,
        &env,
        ": refused: owned by uid 65534, not root",
        &marker,
    );
    chmod(&conf, 0o644);
    refused(
        &conf,
        &env,
        ": refused: owned by uid 65534, not root",
        &marker,
    );

    // A directory owned by nobody, even 0755, could have its file replaced.
    t.dirs(&["theirs"]);
    let conf = t.file("theirs/b.conf", &text.replace("BASE=s", "BASE=../s"));
    give_to_nobody(&t.path("theirs"));
    let want = format!(
        ": refused: directory {}: owned by uid 65534, not root",
        t.path("theirs").display()
    );
    refused(&conf, &env, &want, &marker);
}

#[test]
fn a_command_program_others_can_write_is_refused_and_not_run() {
    let t = Tree::new();
    t.subhost("s");
    let marker = t.path("ran");
    let env = t.env(&[]);

    // Other writable program, named by an absolute path.
    let cmd = marker_script(&t, "cmd.sh", &marker);
    chmod(&cmd, 0o757);
    let conf = t.file("a.conf", &format!("NAME=!{} x\nBASE=s\n", cmd.display()));
    let want = format!(
        ":1: NAME: program {} refused: writable by group or others (mode 0757)",
        cmd.display()
    );
    refused(&conf, &env, &want, &marker);

    // A program relative to BASE in a group writable directory.
    t.dirs(&["s/bin"]);
    marker_script(&t, "s/bin/cmd", &marker);
    chmod(&t.path("s/bin"), 0o775);
    let conf = t.file("b.conf", "BASE=s\nLIVE=.\nUPPER=!bin/cmd\n");
    let want = format!(
        ":3: UPPER: program {} refused: directory {}: writable by group or others (mode 0775)",
        t.path("s/bin/cmd").display(),
        t.path("s/bin").display()
    );
    refused(&conf, &env, &want, &marker);

    // A trusted symlink leading to an untrusted file.
    chmod(&t.path("s/bin"), 0o755);
    let evil = marker_script(&t, "evil", &marker);
    chmod(&evil, 0o757);
    symlink(&evil, t.path("s/bin/link")).expect("symlink");
    let conf = t.file("c.conf", "BASE=s\nLIVE=!./bin/link\n");
    let want = format!(
        ":2: LIVE: program {} refused: target {}: writable by group or others (mode 0757)",
        t.path("s/bin/link").display(),
        evil.display()
    );
    refused(&conf, &env, &want, &marker);

    // A bare name found in PATH.
    t.dirs(&["path"]);
    let cmd = marker_script(&t, "path/obtcmd", &marker);
    chmod(&cmd, 0o775);
    let env = HostEnv {
        search_path: t.path("path").into_os_string(),
        ..env
    };
    let conf = t.file("d.conf", "BASE=s\nLOWER=!obtcmd\n");
    let want = format!(
        ":2: LOWER: program {} refused: writable by group or others (mode 0775)",
        cmd.display()
    );
    refused(&conf, &env, &want, &marker);

    // Trusted again: it runs, through the symlink and with argv[0] kept.
    chmod(&evil, 0o755);
    let conf = t.file("e.conf", "BASE=s\nLIVE=.\nSTART=!./bin/link\n");
    let config = Config::load_with(&conf, &env).expect("a trusted program runs");
    assert_eq!(config.start, vec!["obtx"]);
    assert!(marker.exists());
}

#[test]
fn a_command_program_not_owned_by_root_is_refused_and_not_run() {
    if !root_or_skip("chown") {
        return;
    }
    let t = Tree::new();
    t.subhost("s");
    let marker = t.path("ran");
    let env = t.env(&[]);
    t.dirs(&["x"]);
    let cmd = marker_script(&t, "x/cmd.sh", &marker);
    give_to_nobody(&cmd);
    let conf = t.file("a.conf", &format!("NAME=!{}\nBASE=s\n", cmd.display()));
    let want = format!(
        ":1: NAME: program {} refused: owned by uid 65534, not root",
        cmd.display()
    );
    refused(&conf, &env, &want, &marker);

    chown(&cmd, Some(0), Some(0)).expect("chown");
    give_to_nobody(&t.path("x"));
    let want = format!(
        ":1: NAME: program {} refused: directory {}: owned by uid 65534, not root",
        cmd.display(),
        t.path("x").display()
    );
    refused(&conf, &env, &want, &marker);
}

#[test]
fn hook_programs_must_be_roots_alone() {
    let t = Tree::new();
    t.subhost("s");
    t.dirs(&["s/hooks"]);
    let marker = t.path("ran");
    let env = t.env(&[]);
    let hook = marker_script(&t, "s/hooks/hook", &marker);
    for var in ["PREMOUNT", "POSTMOUNT", "INIT"] {
        chmod(&hook, 0o775);
        let conf = t.file("a.conf", &format!("BASE=s\nLIVE=.\n{var}=hooks/hook -x\n"));
        let want = format!(
            ":3: {var}: program {} refused: writable by group or others (mode 0775)",
            hook.display()
        );
        refused(&conf, &env, &want, &marker);

        chmod(&hook, 0o755);
        chmod(&t.path("s/hooks"), 0o757);
        let want = format!(
            ":3: {var}: program {} refused: directory {}: writable by group or others (mode 0757)",
            hook.display(),
            t.path("s/hooks").display()
        );
        refused(&conf, &env, &want, &marker);
        chmod(&t.path("s/hooks"), 0o755);

        if root_or_skip("chown") {
            give_to_nobody(&hook);
            let want = format!(
                ":3: {var}: program {} refused: owned by uid 65534, not root",
                hook.display()
            );
            refused(&conf, &env, &want, &marker);
            chown(&hook, Some(0), Some(0)).expect("chown");
        }
        Config::load_with(&conf, &env).expect("a trusted hook is accepted");
        assert!(!marker.exists(), "loading never runs a hook");
    }
}

#[test]
fn trees_others_could_change_are_refused_naming_the_variable() {
    let t = Tree::new();
    t.subhost("s");
    t.dirs(&["open/lower", "pub"]);
    let env = t.env(&[]);
    let cases = [
        (
            "UPPER",
            "UPPER=root\n",
            t.path("s/root"),
            t.path("s/root"),
            "writable by group or others (mode 0777)",
        ),
        (
            "WORK",
            "WORK=work\n",
            t.path("s/work"),
            t.path("s/work"),
            "writable by group or others (mode 0777)",
        ),
        (
            "LOWER",
            "LOWER=../open/lower\n",
            t.path("open"),
            t.path("open/lower"),
            "",
        ),
        (
            "SHARE",
            "SHARE=../pub:/pub\n",
            t.path("pub"),
            t.path("pub"),
            "writable by group or others (mode 0777)",
        ),
    ];
    for (var, line, open, named, why) in cases {
        chmod(&open, 0o777);
        let conf = t.file("a.conf", &format!("BASE=s\n{line}"));
        let got = load_err(&conf, &env);
        let want = if why.is_empty() {
            format!(
                ":2: {var}: {} refused: directory {}: writable by group or others (mode 0777)",
                named.display(),
                open.display()
            )
        } else {
            format!(":2: {var}: {} refused: {why}", named.display())
        };
        assert_eq!(got, format!("{}{want}", conf.display()));
        chmod(&open, 0o755);
        Config::load_with(&conf, &env).expect("a tree of root's alone");
    }
    chmod(&t.path("s"), 0o775);
    let conf = t.file("a.conf", "BASE=s\n");
    let want = format!(
        ":1: BASE: {} refused: writable by group or others (mode 0775)",
        t.path("s").display()
    );
    assert_eq!(load_err(&conf, &env), format!("{}{want}", conf.display()));
    chmod(&t.path("s"), 0o755);
}
