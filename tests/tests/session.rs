//! End-to-end tests of sessions and status, as root, on a real terminal:
//! `overlay-boot --session CONF` and `overlay-go NAME` driven through a
//! tmux pane (send-keys, capture-pane), `overlay-boot --list [--json]`
//! through the booting, ready and stopping states, and a session without
//! a terminal driven through a pipe.

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::subhost::{
    cmdline, launcher, ns_of, parent_of, procs_in_ns, stat_field, Proc, Subhost, RUN_DIR, STOP,
};
use e2e::{bin, require_root, wait_for, ChildGuard};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const STEP: Duration = Duration::from_secs(20);

/// A tmux server of its own (socket in the scratch directory) with one 80x24 pane running
/// /bin/sh with a clean environment, the prompt `OUT$ ` and the launcher's
/// names on PATH. Killed when dropped.
struct Pane {
    socket: PathBuf,
}

impl Pane {
    fn new(sh: &Subhost) -> Pane {
        let bindir = sh.scratch.join("bin");
        fs::create_dir_all(&bindir).expect("mkdir bin");
        for tool in ["overlay-boot", "overlay-go", "overlay-stop"] {
            let _ = symlink(bin("overlay-boot"), bindir.join(tool));
        }
        let pane = Pane {
            socket: sh.scratch.join("tmux.sock"),
        };
        let shell = format!(
            "env -i PATH={}:/usr/sbin:/usr/bin:/sbin:/bin TERM=screen PS1='OUT$ ' \
             OVERLAY_BOOT_SUBINIT={} /bin/sh",
            bindir.display(),
            bin("subinit").display()
        );
        let st = pane
            .tmux(&[
                "new-session",
                "-d",
                "-s",
                "obt",
                "-x",
                "80",
                "-y",
                "24",
                &shell,
            ])
            .status;
        assert!(st.success(), "tmux new-session failed");
        assert!(
            pane.wait(|t| t.contains("OUT$")),
            "no prompt in the pane:\n{}",
            pane.text()
        );
        pane
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Types `line` and Enter.
    fn line(&self, line: &str) {
        self.tmux(&["send-keys", "-t", "obt", "-l", line]);
        self.tmux(&["send-keys", "-t", "obt", "Enter"]);
    }

    /// A key by tmux's name (C-c, C-z, C-u).
    fn key(&self, key: &str) {
        self.tmux(&["send-keys", "-t", "obt", key]);
    }

    /// The pane's text with its history, wrapped lines joined.
    fn text(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-J", "-S", "-200", "-t", "obt"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait(&self, mut cond: impl FnMut(&str) -> bool) -> bool {
        wait_for(STEP, || cond(&self.text()))
    }

    /// Waits for `needle` in the pane; fails the test with the pane's text.
    fn expect(&self, needle: &str) {
        assert!(
            self.wait(|t| t.contains(needle)),
            "{needle:?} not seen in the pane:\n{}",
            self.text()
        );
    }

    /// Clears the pane and its history (so earlier output cannot match).
    fn clear(&self) {
        self.tmux(&["clear-history", "-t", "obt"]);
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
        let _ = fs::remove_file(&self.socket);
    }
}

/// `overlay-boot --list --json` filtered through `jq -c` with `filter`.
fn list_jq(sh: &Subhost, filter: &str) -> String {
    let out = launcher(
        "overlay-boot",
        &["--list", "--json"],
        &sh.scratch.path,
        STEP,
    );
    assert!(out.ok(), "{out}");
    let mut jq = Command::new("jq")
        .args(["-c", filter])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run jq");
    jq.stdin
        .take()
        .expect("jq stdin")
        .write_all(out.out.as_bytes())
        .expect("write to jq");
    let res = jq.wait_with_output().expect("jq output");
    assert!(
        res.status.success(),
        "jq {filter} failed on {}: {}",
        out.out,
        String::from_utf8_lossy(&res.stderr)
    );
    String::from_utf8_lossy(&res.stdout).trim().to_string()
}

/// This subhost's entry from `--list --json`, or "" when it is not listed.
fn entry(sh: &Subhost) -> String {
    list_jq(
        sh,
        &format!(".subhosts[] | select(.name == \"{}\")", sh.name),
    )
}

/// Waits until the subhost is listed with PID 1's pid; records it.
fn record_pid1(sh: &mut Subhost) -> Pid {
    let mut pid = 0;
    assert!(
        wait_for(STEP, || {
            pid = list_jq(
                sh,
                &format!(".subhosts[] | select(.name == \"{}\") | .pid // 0", sh.name),
            )
            .parse()
            .unwrap_or(0);
            pid > 0
        }),
        "subhost {} never listed with a pid",
        sh.name
    );
    sh.record(Pid::from_raw(pid));
    Pid::from_raw(pid)
}

/// The children of `pid` on the host.
fn children(pid: Pid) -> Vec<Pid> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .filter(|p| stat_field(*p, 4).and_then(|s| s.parse().ok()) == Some(pid.as_raw()))
        .collect()
}

fn stty_same(sh: &Subhost) {
    // The pane prints rc= before it notes the modes; the note appears whole
    // (written aside, then renamed).
    let after = sh.scratch.join("after");
    assert!(
        wait_for(STEP, || after.exists()),
        "the pane never noted its modes after"
    );
    let before = fs::read_to_string(sh.scratch.join("before")).expect("stty before");
    let after = fs::read_to_string(sh.scratch.join("after")).expect("stty after");
    assert!(!before.trim().is_empty(), "no stty -g before");
    assert_eq!(
        before, after,
        "the caller's terminal modes were not restored"
    );
}

/// The pane's command line: note the modes, run `cmd`, print its status,
/// note the modes again.
fn around(sh: &Subhost, cmd: &str) -> String {
    format!(
        "stty -g > {b}; {cmd}; echo rc=$?; stty -g > {a}.tmp && mv {a}.tmp {a}",
        b = sh.scratch.join("before").display(),
        a = sh.scratch.join("after").display()
    )
}

fn policy_in_upper(sh: &Subhost) -> PathBuf {
    sh.upper.join("usr/sbin/policy-rc.d")
}

/// Waits until a process in `pid1`'s pid namespace runs `cmd` (its whole
/// command line) in a state `want` accepts; its identity.
fn wait_proc(pid1: Pid, cmd: &str, want: impl Fn(char) -> bool) -> Proc {
    let ns = ns_of(pid1, "pid").expect("PID 1's pid namespace");
    let line = format!("{cmd} ");
    let mut found = None;
    let seen = wait_for(STEP, || {
        found = procs_in_ns("pid", &ns)
            .into_iter()
            .filter(|p| cmdline(*p) == line)
            .find(|p| {
                stat_field(*p, 3)
                    .and_then(|s| s.chars().next())
                    .is_some_and(&want)
            })
            .and_then(Proc::of);
        found.is_some()
    });
    assert!(seen, "no {cmd:?} in the wanted state inside");
    found.expect("found")
}

/// Waits until `cmd` runs inside as the foreground job of its terminal
/// (its process group is the terminal's), so that a key reaches it.
fn wait_foreground(pid1: Pid, cmd: &str) -> Proc {
    let job = wait_proc(pid1, cmd, |s| s != 'T' && s != 'Z');
    let fg = || stat_field(job.pid, 8) == stat_field(job.pid, 5);
    assert!(
        wait_for(STEP, fg),
        "{cmd:?} never became the foreground job"
    );
    job
}

/// Waits until the terminal of some process inside has `rows` x `cols`.
fn wait_winsize(pid1: Pid, rows: u16, cols: u16) {
    let ns = ns_of(pid1, "pid").expect("PID 1's pid namespace");
    let sized = || {
        procs_in_ns("pid", &ns)
            .into_iter()
            .any(|p| winsize(&format!("/proc/{p}/fd/0")) == Some((rows, cols)))
    };
    assert!(
        wait_for(STEP, sized),
        "no terminal inside became {rows}x{cols}"
    );
}

/// The window size of the terminal at `path`; None for anything else.
fn winsize(path: &str) -> Option<(u16, u16)> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = libc::O_NOCTTY | libc::O_NONBLOCK;
    let tty = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .ok()?;
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`, which outlives the call;
    // nix has no wrapper for it.
    let rc = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (rc == 0).then_some((ws.ws_row, ws.ws_col))
}

// ------------------------------------------------------------- --session

#[test]
fn session_on_a_terminal_job_control_resize_policy_and_exit_status() {
    require_root!();
    let mut sh = Subhost::busybox("ses");
    let pane = Pane::new(&sh);
    pane.line(&around(
        &sh,
        &format!("overlay-boot --session {}", sh.conf.display()),
    ));
    pane.expect("/ #");
    let pid1 = record_pid1(&mut sh);

    // Commands run inside, on the subhost's own pty.
    pane.line("echo in-$((6*7)); hostname; tty");
    pane.expect("in-42");
    // tty's line is the last of the three: wait for it, not for the first.
    pane.expect("/dev/pts/");
    let text = pane.text();
    assert!(
        text.contains(&sh.name),
        "hostname is not the subhost's:\n{text}"
    );
    assert!(
        text.contains("/dev/pts/0"),
        "not the subhost's pty 0:\n{text}"
    );

    // policy-rc.d is there during the session, and forbids; it is the
    // launcher's layer over LOWER, not a file in UPPER.
    pane.line("/usr/sbin/policy-rc.d; echo policy=$?");
    pane.expect("policy=101");
    assert_no_policy(&sh);

    // Ctrl-C interrupts the foreground job, not the session.
    pane.line("sleep 100");
    wait_foreground(pid1, "sleep 100");
    pane.key("C-c");
    pane.line("echo int=$?");
    pane.expect("int=130");

    // Ctrl-Z stops it, fg brings it back.
    pane.line("sleep 101");
    wait_foreground(pid1, "sleep 101");
    pane.key("C-z");
    pane.expect("Stopped");
    wait_proc(pid1, "sleep 101", |s| s == 'T');
    pane.line("jobs; echo jobs-listed");
    pane.expect("jobs-listed");
    pane.line("fg");
    wait_foreground(pid1, "sleep 101");
    pane.key("C-c");
    pane.line("echo fg=$?");
    pane.expect("fg=130");

    // The window size follows the caller's.
    pane.line("stty size");
    pane.expect("24 80");
    pane.tmux(&["resize-window", "-t", "obt", "-x", "100", "-y", "30"]);
    wait_winsize(pid1, 30, 100);
    pane.line("stty size");
    pane.expect("30 100");

    // --list during the session: ready, maintenance mode (no services).
    let e = entry(&sh);
    assert!(e.contains("\"state\":\"ready\""), "{e}");
    assert!(e.contains("\"services\":[]"), "{e}");

    // Install something: it stays in UPPER.
    pane.line("mkdir -p /usr/local/bin && echo tool > /usr/local/bin/tool && echo installed");
    pane.expect("installed");

    pane.line("exit 7");
    pane.expect("rc=7");
    assert!(sh.wait_gone(STEP), "left: {:?}", sh.leftovers());
    stty_same(&sh);
    assert_eq!(
        fs::read_to_string(sh.upper.join("usr/local/bin/tool"))
            .ok()
            .as_deref(),
        Some("tool\n"),
        "the session's install is not in UPPER"
    );
    assert!(
        policy_in_upper(&sh).symlink_metadata().is_err(),
        "policy-rc.d left in UPPER"
    );
    assert!(
        sh.upper.join("usr/sbin").symlink_metadata().is_err(),
        "the directory made for policy-rc.d was left in UPPER"
    );
}

#[test]
fn session_terminal_is_restored_after_kill_9_of_the_inner_shell() {
    require_root!();
    let mut sh = Subhost::busybox("sk9");
    let pane = Pane::new(&sh);
    pane.line(&around(
        &sh,
        &format!("overlay-boot --session {}", sh.conf.display()),
    ));
    pane.expect("/ #");
    let pid1 = record_pid1(&mut sh);
    let shells = children(pid1);
    assert_eq!(shells.len(), 1, "PID 1's children: {shells:?}");
    kill(shells[0], Signal::SIGKILL).expect("kill -9 the inner shell");
    pane.expect("rc=137");
    assert!(sh.wait_gone(STEP), "left: {:?}", sh.leftovers());
    stty_same(&sh);
    pane.line("echo outer-$((1+1))");
    pane.expect("outer-2");
}

#[test]
fn session_stops_the_subhost_gracefully_when_the_terminal_hangs_up() {
    require_root!();
    let mut sh = Subhost::busybox("shup");
    // A stop script that leaves a mark in UPPER: the stop was graceful.
    sh.write_upper(
        "etc/overlay-boot/hup",
        "#!/bin/sh\n[ \"$1\" = stop ] && echo graceful > /root/stopped\n",
        0o755,
    );
    let pane = Pane::new(&sh);
    pane.line(&format!(
        "overlay-boot --session {} sh -c 'trap \"/etc/overlay-boot/hup stop; exit 1\" HUP TERM; \
         echo up; while :; do sleep 1; done'",
        sh.conf.display()
    ));
    pane.expect("up");
    record_pid1(&mut sh);
    pane.tmux(&["kill-server"]);
    assert!(sh.wait_gone(STEP), "left: {:?}", sh.leftovers());
    assert_eq!(
        fs::read_to_string(sh.upper.join("root/stopped"))
            .ok()
            .as_deref(),
        Some("graceful\n"),
        "the session's command did not get to handle its hangup"
    );
}

#[test]
fn session_policy_rc_d_of_the_subhost_is_left_alone() {
    require_root!();
    let mut sh = Subhost::busybox("spol");
    let mine = "#!/bin/sh\nexit 0\n";
    sh.write_upper("usr/sbin/policy-rc.d", mine, 0o755);
    let out = piped_session(&mut sh, "cat /usr/sbin/policy-rc.d; exit 0\n");
    assert_eq!(out.code, 0, "{out}");
    assert!(out.out.contains("exit 0"), "{out}");
    assert_eq!(
        fs::read_to_string(policy_in_upper(&sh)).ok().as_deref(),
        Some(mine)
    );
}

/// Starts `overlay-boot --session CONF` in `pane` and waits for its
/// shell; returns the session's caller (the `overlay-boot --session`
/// process, the monitor's parent) and records PID 1 and the monitor.
fn session_in_pane(sh: &mut Subhost, pane: &Pane) -> Pid {
    pane.line(&format!("overlay-boot --session {}", sh.conf.display()));
    pane.expect("/ #");
    record_pid1(sh);
    let monitor = sh.monitor().pid;
    let caller = parent_of(monitor).expect("the monitor's parent");
    let cmd = cmdline(caller);
    assert!(
        cmd.starts_with("overlay-boot --session "),
        "the monitor's parent {caller} is not the session's caller: {cmd}"
    );
    caller
}

/// Nothing of the session's policy-rc.d is in UPPER; in bind mode
/// (UPPER is the root) only the busybox root's own `usr/sbin`.
fn assert_no_policy(sh: &Subhost) {
    assert!(
        policy_in_upper(sh).symlink_metadata().is_err(),
        "policy-rc.d in UPPER\nlog:\n{}",
        sh.log_text()
    );
    let bind = sh.upper.join("bin/busybox").exists();
    assert!(
        bind || sh.upper.join("usr/sbin").symlink_metadata().is_err(),
        "a directory made for policy-rc.d is in UPPER"
    );
}

#[test]
fn session_policy_rc_d_goes_when_the_caller_is_killed() {
    require_root!();
    let mut sh = Subhost::busybox("spkc");
    let pane = Pane::new(&sh);
    let caller = session_in_pane(&mut sh, &pane);
    // The caller dies without its destructors: the session hangs up, and
    // the monitor's teardown removes the file.
    kill(caller, Signal::SIGKILL).expect("kill -9 the session's caller");
    assert!(sh.wait_gone(STOP), "left: {:?}", sh.leftovers());
    assert_no_policy(&sh);
    // overlay-stop has nothing left to do.
    let out = sh.stop();
    assert!(!out.ok(), "{out}");
    sh.assert_gone();
    assert_no_policy(&sh);
}

#[test]
fn session_policy_rc_d_goes_when_caller_and_monitor_are_killed() {
    require_root!();
    // Bind mode (UPPER is the root itself, LOWER=UPPER): no overlay, so no
    // policy layer; the session writes its policy-rc.d into UPPER.
    let mut sh = Subhost::new("spkm").line("LOWER=root");
    e2e::rootfs::busybox(&sh.upper);
    // Both die (an OOM kill, say): the monitor is held stopped while the
    // caller is killed, so that its teardown cannot run; overlay-stop then
    // finds the stale run state and removes the file.
    let pane = Pane::new(&sh);
    let caller = session_in_pane(&mut sh, &pane);
    assert!(policy_in_upper(&sh).exists(), "no policy-rc.d in UPPER");
    let monitor = sh.monitor().pid;
    kill(monitor, Signal::SIGSTOP).expect("stop the monitor");
    kill(caller, Signal::SIGKILL).expect("kill -9 the session's caller");
    kill(monitor, Signal::SIGKILL).expect("kill -9 the monitor");
    assert!(
        wait_for(STEP, || !sh.monitor().alive()),
        "the monitor lives on"
    );
    assert!(policy_in_upper(&sh).exists(), "removed by nobody?");
    let out = sh.stop();
    assert!(
        out.err.contains("its monitor had died"),
        "{out}\nlog:\n{}",
        sh.log_text()
    );
    sh.assert_gone();
    assert_no_policy(&sh);
    drop(pane);

    // The same, cleaned by the next session's boot: that session makes
    // the file anew and removes it when it ends.
    let pane = Pane::new(&sh);
    let caller = session_in_pane(&mut sh, &pane);
    let monitor = sh.monitor().pid;
    kill(monitor, Signal::SIGSTOP).expect("stop the monitor");
    kill(caller, Signal::SIGKILL).expect("kill -9 the session's caller");
    kill(monitor, Signal::SIGKILL).expect("kill -9 the monitor");
    assert!(
        wait_for(STEP, || !sh.monitor().alive()),
        "the monitor lives on"
    );
    drop(pane);
    let out = piped_session(
        &mut sh,
        "test -x /usr/sbin/policy-rc.d && echo policy-there; exit 0\n",
    );
    assert_eq!(out.code, 0, "{out}\nlog:\n{}", sh.log_text());
    assert!(out.out.contains("policy-there"), "{out}");
    assert!(sh.wait_gone(STEP), "left: {:?}", sh.leftovers());
    assert_no_policy(&sh);
}

/// `overlay-boot --session CONF` with `input` on a pipe.
fn piped_session(sh: &mut Subhost, input: &str) -> e2e::subhost::Outcome {
    let mut cmd = Command::new(bin("overlay-boot"));
    cmd.arg0("overlay-boot")
        .args([Path::new("--session"), &sh.conf])
        .env("OVERLAY_BOOT_SUBINIT", bin("subinit"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard::spawn(&mut cmd);
    let mut stdin = child.child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write input");
    drop(stdin);
    let status = child.wait_timeout(STOP);
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = child.child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut o, &mut out);
    }
    if let Some(mut e) = child.child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    e2e::subhost::Outcome {
        command: format!("echo {input:?} | overlay-boot --session CONF"),
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        out,
        err,
    }
}

#[test]
fn session_without_a_terminal_relays_pipes() {
    require_root!();
    let mut sh = Subhost::busybox("spip");
    let out = piped_session(&mut sh, "echo hi; exit 3\n");
    assert_eq!(out.code, 3, "{out}\nlog:\n{}", sh.log_text());
    assert!(
        out.out.lines().any(|l| l.trim_end().ends_with("hi")),
        "no hi: {out}"
    );
    assert!(!out.out.contains("echo hi"), "input was echoed: {out}");
    assert!(sh.wait_gone(STEP), "left: {:?}", sh.leftovers());
    assert!(policy_in_upper(&sh).symlink_metadata().is_err());
    // An explicit command, its status passed on; input without a final
    // newline still ends.
    let out = piped_session(&mut sh, "");
    assert_eq!(out.code, 0, "{out}");
    let mut cmd_sh = Subhost::busybox("spic");
    let conf = cmd_sh.conf.clone();
    let res = launcher(
        "overlay-boot",
        &[
            "--session".as_ref(),
            conf.as_os_str(),
            "sh".as_ref(),
            "-c".as_ref(),
            "echo cmd-ran; exit 9".as_ref(),
        ],
        &cmd_sh.scratch.path,
        STOP,
    );
    assert_eq!(res.code, 9, "{res}");
    assert!(res.out.contains("cmd-ran"), "{res}");
    assert!(cmd_sh.wait_gone(STEP));
    let partial = piped_session(&mut cmd_sh, "echo no-newline; exit 4");
    assert_eq!(partial.code, 4, "{partial}");
}

// ------------------------------------------------------------- TIOCSTI

/// perl inside: TIOCSTI of "x" on the session's terminal (the message is
/// split so that the echoed command line does not match it).
const TIOCSTI: &str = "perl -e 'my $c = \"x\"; ioctl(STDERR, 0x5412, $c) or die \"ioctl: $!\"; \
                       print \"sti-\" . \"done\\n\"'";

/// The same a second after the session has ended, from a process left
/// behind in the background: were its stderr the caller's terminal, the
/// "x" would land in the caller's shell.
const TIOCSTI_LATER: &str = "perl -e 'sleep 1; my $c = \"x\"; ioctl(STDERR, 0x5412, $c)' &";
/// Its command line as /proc shows it.
const TIOCSTI_LATER_CMDLINE: &str = "perl -e sleep 1; my $c = \"x\"; ioctl(STDERR, 0x5412, $c)";

fn tiocsti_reaches_nothing_outside(pane: &Pane, pid1: Pid, later: bool) {
    pane.line(TIOCSTI);
    pane.expect("sti-done");
    // The "x" went into the inner terminal's input: drop it there.
    pane.key("C-u");
    let late = later.then(|| {
        pane.line(TIOCSTI_LATER);
        wait_proc(pid1, TIOCSTI_LATER_CMDLINE, |s| s != 'Z')
    });
    pane.line("exit 5");
    pane.expect("rc=5");
    // The late one has tried (or was ended by the stop) before we look.
    if let Some(late) = late {
        assert!(
            wait_for(STEP, || !late.alive()),
            "the late TIOCSTI never ended"
        );
    }
    pane.clear();
    pane.line("echo outer-$((5+5))");
    pane.expect("outer-10");
    let text = pane.text();
    assert!(
        !text.contains("xecho") && !text.contains("not found"),
        "TIOCSTI from inside reached the caller's shell:\n{text}"
    );
}

/// (st_dev, st_ino) of the file behind `path`.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Every fd of every process in `pid1`'s pid namespace that is the pane's
/// terminal.
fn holders_of_the_pane_tty(pane: &Pane, pid1: Pid) -> Vec<String> {
    let out = pane.tmux(&["display-message", "-p", "-t", "obt", "#{pane_tty}"]);
    let tty = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let id = file_id(&tty).expect("stat the pane's tty");
    let ns = fs::read_link(format!("/proc/{pid1}/ns/pid")).expect("pid ns");
    let mut found = Vec::new();
    for p in e2e::subhost::procs_in_ns("pid", &ns) {
        let Ok(fds) = fs::read_dir(format!("/proc/{p}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if file_id(&fd.path()) == Some(id) {
                found.push(format!("{} ({})", fd.path().display(), tty.display()));
            }
        }
    }
    found
}

#[test]
fn tiocsti_from_a_session_reaches_nothing_outside() {
    require_root!();
    // The host's root as LOWER, for perl.
    let mut sh = Subhost::new("sti");
    let pane = Pane::new(&sh);
    pane.line(&around(
        &sh,
        &format!("overlay-boot --session {} /bin/sh", sh.conf.display()),
    ));
    pane.expect("# ");
    let pid1 = record_pid1(&mut sh);
    let held = holders_of_the_pane_tty(&pane, pid1);
    assert!(
        held.is_empty(),
        "the caller's terminal is held inside: {held:?}"
    );
    tiocsti_reaches_nothing_outside(&pane, pid1, false);
    assert!(sh.wait_gone(STEP), "left: {:?}", sh.leftovers());
    stty_same(&sh);
}

#[test]
fn tiocsti_from_overlay_go_reaches_nothing_outside() {
    require_root!();
    let mut sh = Subhost::new("gsti").line("START=none");
    let pid1 = sh.boot_ok();
    let pane = Pane::new(&sh);
    pane.line(&around(&sh, &format!("overlay-go {} /bin/sh", sh.name)));
    pane.expect("# ");
    let held = holders_of_the_pane_tty(&pane, pid1);
    assert!(
        held.is_empty(),
        "the caller's terminal is held inside: {held:?}"
    );
    tiocsti_reaches_nothing_outside(&pane, pid1, true);
    stty_same(&sh);
    sh.stop_ok();
}

// ------------------------------------------------------------- overlay-go

#[test]
fn go_on_a_terminal_gets_its_own_pty_and_the_terminal_survives_a_stop() {
    require_root!();
    let mut sh = Subhost::busybox("gpty").line("START=none");
    let pid1 = sh.boot_ok();
    let pane = Pane::new(&sh);
    pane.line(&around(&sh, &format!("overlay-go {}", sh.name)));
    pane.expect("/ #");
    pane.line("tty; readlink /proc/self/fd/0; echo $$-$((2*3))");
    pane.expect("-6");
    let text = pane.text();
    assert!(
        text.contains("/dev/pts/0"),
        "not the subhost's pty:\n{text}"
    );
    // Ctrl-C reaches the job inside only.
    pane.line("sleep 100");
    wait_foreground(pid1, "sleep 100");
    pane.key("C-c");
    pane.line("echo int=$?");
    pane.expect("int=130");
    // Window size.
    pane.tmux(&["resize-window", "-t", "obt", "-x", "90", "-y", "20"]);
    wait_winsize(pid1, 20, 90);
    pane.line("stty size");
    pane.expect("20 90");
    // The subhost stops under the session.
    let stop = sh.stop();
    assert!(stop.ok(), "{stop}");
    pane.expect("the subhost stopped; the session ended");
    pane.expect("rc=137");
    stty_same(&sh);
    sh.assert_gone();
}

#[test]
fn go_terminal_is_restored_after_kill_9_of_the_inner_shell() {
    require_root!();
    let mut sh = Subhost::busybox("gk9").line("START=none");
    let pid1 = sh.boot_ok();
    let pane = Pane::new(&sh);
    pane.line(&around(&sh, &format!("overlay-go {}", sh.name)));
    pane.expect("/ #");
    let mut shell = None;
    wait_for(STEP, || {
        shell = e2e::subhost::procs_in_ns(
            "pid",
            &fs::read_link(format!("/proc/{pid1}/ns/pid")).expect("pid ns"),
        )
        .into_iter()
        .find(|p| *p != pid1);
        shell.is_some()
    });
    let shell = shell.expect("the entered shell");
    kill(shell, Signal::SIGKILL).expect("kill -9");
    pane.expect("rc=137");
    stty_same(&sh);
    pane.line("echo outer-$((3+4))");
    pane.expect("outer-7");
    sh.stop_ok();
}

// ------------------------------------------------------------- --list

#[test]
fn list_shows_booting_ready_and_stopping_with_services() {
    require_root!();
    let mut sh = Subhost::busybox("lst").line("START=/etc/slow");
    sh.write_upper("etc/slow", "#!/bin/sh\nsleep 3\n", 0o755);
    sh.write_upper(
        "etc/overlay-boot/services.d/tick/run",
        "#!/bin/sh\nexec sleep 1000\n",
        0o755,
    );
    let conf = sh.conf.clone();
    let dir = sh.scratch.path.clone();
    let boot = std::thread::spawn(move || {
        launcher("overlay-boot", &[&conf], &dir, Duration::from_secs(60))
    });
    let mut seen = String::new();
    assert!(
        wait_for(STEP, || {
            seen = entry(&sh);
            seen.contains("\"state\":\"booting\"") && seen.contains("\"pid\":")
        }),
        "never listed as booting: {seen}"
    );
    let text = launcher("overlay-boot", &["--list"], &sh.scratch.path, STEP);
    assert!(
        text.out
            .lines()
            .any(|l| l.starts_with(&format!("{} ", sh.name)) && l.contains(" booting ")),
        "{text}"
    );
    let booted = boot.join().expect("boot thread");
    assert!(booted.ok(), "{booted}");
    record_pid1(&mut sh);
    assert!(
        wait_for(STEP, || {
            seen = entry(&sh);
            seen.contains("\"state\":\"ready\"")
        }),
        "never ready: {seen}"
    );
    let slow = list_jq(
        &sh,
        &format!(
            ".subhosts[] | select(.name == \"{}\") | .services[] | select(.name == \"/etc/slow\")",
            sh.name
        ),
    );
    assert!(
        slow.contains("\"kind\":\"script\"") && slow.contains("\"state\":\"started\""),
        "START entry: {slow} in {seen}"
    );
    let tick = list_jq(
        &sh,
        &format!(
            ".subhosts[] | select(.name == \"{}\") | .services[] | select(.name == \"tick\")",
            sh.name
        ),
    );
    assert!(
        tick.contains("\"kind\":\"supervised\"")
            && tick.contains("\"state\":\"running\"")
            && tick.contains("\"restarts\":0"),
        "tick: {tick} in {seen}"
    );
    let conf = list_jq(
        &sh,
        &format!(".subhosts[] | select(.name == \"{}\") | .config", sh.name),
    );
    assert_eq!(conf, format!("\"{}\"", sh.conf.display()));
    let up: u64 = list_jq(
        &sh,
        &format!(
            ".subhosts[] | select(.name == \"{}\") | .uptime_seconds",
            sh.name
        ),
    )
    .parse()
    .expect("uptime_seconds is a number");
    assert!(up < 120, "uptime {up}");

    // The stop runs `/etc/slow stop` (sleep 3): stopping meanwhile.
    let conf = sh.conf.clone();
    let dir = sh.scratch.path.clone();
    let stop = std::thread::spawn(move || launcher("overlay-stop", &[&conf], &dir, STOP));
    assert!(
        wait_for(STEP, || {
            seen = entry(&sh);
            seen.contains("\"state\":\"stopping\"")
        }),
        "never listed as stopping: {seen}"
    );
    let stopped = stop.join().expect("stop thread");
    assert!(stopped.ok(), "{stopped}");
    sh.assert_gone();
    assert_eq!(entry(&sh), "", "still listed after the stop");
}

#[test]
fn list_with_nothing_of_ours_running_is_valid_json() {
    require_root!();
    let sh = Subhost::busybox("lnil");
    let v = list_jq(&sh, ".subhosts | type");
    assert_eq!(v, "\"array\"");
    assert_eq!(entry(&sh), "");
}

#[test]
fn list_and_go_without_a_name_refuse_non_root() {
    require_root!();
    for (tool, args) in [
        ("overlay-boot", &["--list"][..]),
        ("overlay-boot", &["--list", "--json"][..]),
        ("overlay-go", &[][..]),
    ] {
        let out = Command::new(bin("overlay-boot"))
            .arg0(tool)
            .args(args)
            .current_dir("/")
            .env_clear()
            .uid(65534)
            .gid(65534)
            .output()
            .expect("run as nobody");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{tool} {args:?} as nobody: {err}"
        );
        assert!(
            err.contains(&format!("{tool}: must be run as root")),
            "{tool} {args:?} as nobody: {err}"
        );
        assert!(out.stdout.is_empty(), "{tool} {args:?} printed as nobody");
    }
}

#[test]
fn list_creates_nothing_in_a_run_directory() {
    require_root!();
    let sh = Subhost::busybox("lnlk");
    // A run directory without a lock file (a boot that died right after
    // making it): --list and overlay-go show nothing and create nothing.
    let run = Path::new(RUN_DIR).join(&sh.name);
    fs::create_dir_all(&run).expect("mkdir run directory");
    let json = launcher(
        "overlay-boot",
        &["--list", "--json"],
        &sh.scratch.path,
        STEP,
    );
    let go = launcher("overlay-go", &[] as &[&str], &sh.scratch.path, STEP);
    let lock = run.join("lock").symlink_metadata().is_ok();
    let _ = fs::remove_dir_all(&run);
    assert!(json.ok(), "{json}");
    assert!(!json.out.contains(&sh.name), "{json}");
    assert!(go.ok(), "{go}");
    assert!(!go.out.contains(&sh.name), "{go}");
    assert!(!lock, "--list or overlay-go created {}/lock", run.display());
}
