//! The bad-input table: broken configurations that `overlay-boot` must
//! refuse before creating anything (exit status 2, a message naming the
//! file, the line and the variable), leaving nothing behind on the host.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use e2e::require_root;
use e2e::subhost::{host_mounts, Subhost};

/// One broken configuration.
struct Case {
    what: &'static str,
    /// The file's text; `{base}` becomes BASE's absolute path.
    conf: &'static str,
    /// The variable the message must name (None: the file alone is at fault).
    var: Option<&'static str>,
    /// The line the message must name (None: no line is at fault).
    line: Option<usize>,
    /// Prepares the subhost's scratch (BASE holds work, root and live).
    setup: fn(&mut Subhost),
}

fn none(_: &mut Subhost) {}

fn file_afile(sh: &mut Subhost) {
    fs::write(sh.base.join("afile"), "not a directory\n").expect("afile");
}

fn live_mounted(sh: &mut Subhost) {
    let live = sh.live.clone();
    sh.bind_on_host(&live, &live);
}

fn script(sh: &Subhost, rel: &str, mode: u32) {
    let path = sh.base.join(rel);
    fs::write(&path, "#!/bin/sh\nexit 0\n").expect("script");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn premount_not_exec(sh: &mut Subhost) {
    script(sh, "premount", 0o644);
}

fn init_not_exec(sh: &mut Subhost) {
    script(sh, "init", 0o644);
}

fn conf_missing(sh: &mut Subhost) {
    sh.conf = sh.base.join("missing.conf");
}

fn conf_is_dir(sh: &mut Subhost) {
    let dir = sh.base.join("dir.conf");
    fs::create_dir_all(&dir).expect("dir.conf");
    sh.conf = dir;
}

fn conf_group_writable(sh: &mut Subhost) {
    fs::set_permissions(&sh.conf, fs::Permissions::from_mode(0o664)).expect("chmod conf");
}

fn empty_work(sh: &mut Subhost) {
    fs::remove_dir(sh.base.join("work")).expect("rm work");
}

const CASES: &[Case] = &[
    Case {
        what: "no BASE",
        conf: "START=none\n",
        var: Some("BASE"),
        line: None,
        setup: none,
    },
    Case {
        what: "BASE missing",
        conf: "BASE=nothere\n",
        var: Some("BASE"),
        line: Some(1),
        setup: none,
    },
    Case {
        what: "BASE a file",
        conf: "# a subhost\nBASE=afile\n",
        var: Some("BASE"),
        line: Some(2),
        setup: file_afile,
    },
    Case {
        what: "LIVE missing",
        conf: "BASE=.\nLIVE=nolive\n",
        var: Some("LIVE"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "LIVE a file",
        conf: "BASE=.\n\nLIVE=afile\n",
        var: Some("LIVE"),
        line: Some(3),
        setup: file_afile,
    },
    Case {
        what: "UPPER missing",
        conf: "BASE=.\nUPPER=noupper\n",
        var: Some("UPPER"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "first assignment counts",
        conf: "BASE=.\nUPPER=noupper\nUPPER=root\n",
        var: Some("UPPER"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "LOWER missing",
        conf: "BASE=.\nLOWER=/nonexistent/obt-lower\n",
        var: Some("LOWER"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "LOWER a file",
        conf: "BASE=.\nLOWER={base}/afile\n",
        var: Some("LOWER"),
        line: Some(2),
        setup: file_afile,
    },
    Case {
        what: "WORK missing in overlay mode",
        conf: "BASE=.\nSTART=none\nWORK=work\n",
        var: Some("WORK"),
        line: Some(3),
        setup: empty_work,
    },
    Case {
        what: "LIVE already a mount point",
        conf: "BASE=.\nLIVE=live\n",
        var: Some("LIVE"),
        line: Some(2),
        setup: live_mounted,
    },
    Case {
        what: "NAME too long",
        conf: "NAME=obtwaytoolongname\nBASE=.\n",
        var: Some("NAME"),
        line: Some(1),
        setup: none,
    },
    Case {
        what: "NAME with a slash",
        conf: "BASE=.\nNAME=obt/x\n",
        var: Some("NAME"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "NAME with a blank",
        conf: "BASE=.\nNAME=obt x\n",
        var: Some("NAME"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "bad CABLES grammar",
        conf: "BASE=.\nCABLES=br0\n",
        var: Some("CABLES"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "bad MAC",
        conf: "BASE=.\nCABLES==02:00:zz:00:00:01\n",
        var: Some("CABLES"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "multicast MAC",
        conf: "BASE=.\nCABLES==01:00:00:00:00:01\n",
        var: Some("CABLES"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "VLAN without a previous cable",
        conf: "BASE=.\nCABLES==.20\n",
        var: Some("CABLES"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "VLAN tag out of range",
        conf: "BASE=.\nCABLES== =.5000\n",
        var: Some("CABLES"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "STOP_TIMEOUT not a number",
        conf: "BASE=.\nSTOP_TIMEOUT=soon\n",
        var: Some("STOP_TIMEOUT"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "STOP_TIMEOUT zero",
        conf: "BASE=.\nSTOP_TIMEOUT=0\n",
        var: Some("STOP_TIMEOUT"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "RAM_SIZE garbage",
        conf: "BASE=.\nRAM_SIZE=lots\n",
        var: Some("RAM_SIZE"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "MEMORY_MAX malformed",
        conf: "BASE=.\nMEMORY_MAX=64MB\n",
        var: Some("MEMORY_MAX"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "MEMORY_HIGH negative",
        conf: "BASE=.\nMEMORY_HIGH=-1\n",
        var: Some("MEMORY_HIGH"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "MEMORY_MAX overflowing",
        conf: "BASE=.\nMEMORY_MAX=99999999999999999999\n",
        var: Some("MEMORY_MAX"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "MEMORY_MAX over 100%",
        conf: "BASE=.\nMEMORY_MAX=101%\n",
        var: Some("MEMORY_MAX"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "CPU_MAX above the host's CPUs",
        conf: "BASE=.\nCPU_MAX=100000%\n",
        var: Some("CPU_MAX"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "CPU_MAX without %",
        conf: "BASE=.\nCPU_MAX=1.5\n",
        var: Some("CPU_MAX"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "CPU_WEIGHT zero",
        conf: "BASE=.\nCPU_WEIGHT=0\n",
        var: Some("CPU_WEIGHT"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "PIDS_MAX below what the subinit needs",
        conf: "BASE=.\nPIDS_MAX=3\n",
        var: Some("PIDS_MAX"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "IO_WEIGHT above 10000",
        conf: "BASE=.\nIO_WEIGHT=10001\n",
        var: Some("IO_WEIGHT"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "!false value",
        conf: "BASE=.\nUPPER=!false\n",
        var: Some("UPPER"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "! command printing nothing",
        conf: "BASE=.\nLOWER=!true\n",
        var: Some("LOWER"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "! command that cannot start",
        conf: "BASE=.\nLIVE=!/nonexistent/obt-cmd\n",
        var: Some("LIVE"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "PREMOUNT not executable",
        conf: "BASE=.\nPREMOUNT={base}/premount\n",
        var: Some("PREMOUNT"),
        line: Some(2),
        setup: premount_not_exec,
    },
    Case {
        what: "POSTMOUNT missing",
        conf: "BASE=.\nPOSTMOUNT=/nonexistent/obt-postmount\n",
        var: Some("POSTMOUNT"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "INIT missing",
        conf: "BASE=.\nINIT=/nonexistent/obt-init\n",
        var: Some("INIT"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "INIT not executable",
        conf: "BASE=.\nINIT={base}/init\n",
        var: Some("INIT"),
        line: Some(2),
        setup: init_not_exec,
    },
    Case {
        what: "SERVICES relative",
        conf: "BASE=.\nSERVICES=etc/services.d\n",
        var: Some("SERVICES"),
        line: Some(2),
        setup: none,
    },
    Case {
        what: "unreadable conf path (missing)",
        conf: "BASE=.\n",
        var: None,
        line: None,
        setup: conf_missing,
    },
    Case {
        what: "unreadable conf path (a directory)",
        conf: "BASE=.\n",
        var: None,
        line: None,
        setup: conf_is_dir,
    },
    Case {
        what: "conf writable by its group (security check 25)",
        conf: "BASE=.\nNAME=!echo obtx\n",
        var: None,
        line: None,
        setup: conf_group_writable,
    },
];

/// Runs one case; returns what went wrong, if anything.
fn check(case: &Case) -> Vec<String> {
    let mut sh = Subhost::new("cfg");
    let conf = case.conf.replace("{base}", &sh.base.display().to_string());
    sh.set_conf(&conf);
    (case.setup)(&mut sh);
    let mounts_before: Vec<_> = host_mounts().into_iter().map(|m| m.line).collect();
    let out = sh.boot();
    let mut bad = Vec::new();
    if out.code != 2 {
        bad.push(format!("exit status {} (want 2)", out.code));
    }
    let file = sh.conf.display().to_string();
    if !out.err.contains(&file) {
        bad.push(format!("message does not name the file {file}"));
    }
    if let Some(var) = case.var {
        if !out.err.contains(var) {
            bad.push(format!("message does not name the variable {var}"));
        }
    }
    if let Some(n) = case.line {
        if !out.err.contains(&format!("{file}:{n}:")) {
            bad.push(format!("message does not name line {n} as `{file}:{n}:`"));
        }
    }
    if out.out.contains("ready") {
        bad.push("printed a ready line".into());
    }
    let new_mounts: Vec<_> = host_mounts()
        .into_iter()
        .filter(|m| !mounts_before.contains(&m.line))
        .map(|m| m.line)
        .filter(|l| l.contains(&sh.name) || l.contains("obt"))
        .collect();
    if !new_mounts.is_empty() {
        bad.push(format!("new mounts: {new_mounts:?}"));
    }
    let left = sh.leftovers();
    if !left.is_empty() {
        bad.push(format!("left behind: {left:?}"));
    }
    if bad.is_empty() {
        return bad;
    }
    vec![format!(
        "{} — {}\n    conf: {:?}\n    {}",
        case.what,
        bad.join("; "),
        conf,
        out.to_string().replace('\n', "\n    ")
    )]
}

#[test]
fn bad_configurations_are_refused_with_exit_2_and_leave_nothing() {
    require_root!();
    assert!(CASES.len() >= 20);
    let failures: Vec<String> = CASES.iter().flat_map(check).collect();
    assert!(
        failures.is_empty(),
        "{} of {} bad configurations mishandled:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
