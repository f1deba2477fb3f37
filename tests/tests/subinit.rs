//! End-to-end tests of the subinit: the real static binary as PID 1 of a new
//! pid namespace and as a child subreaper, with real scripts and services.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use e2e::pid1::{As, Subinit};
use e2e::{bin, require_root, wait_for, Scratch};
use nix::sys::signal::Signal;

const BOOT: Duration = Duration::from_secs(10);
const STOP: Duration = Duration::from_secs(15);

fn lines(path: &std::path::Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A script appending "NAME $1" to `record` (start/stop order).
fn recorder(scratch: &Scratch, rel: &str, name: &str) -> String {
    let record = scratch.join("order");
    let body = format!("#!/bin/sh\necho \"{name} $1\" >> {}\n", record.display());
    scratch.write(rel, &body, 0o755).display().to_string()
}

#[test]
fn binary_is_static_with_no_program_interpreter() {
    let bytes = fs::read(bin("subinit")).expect("read subinit");
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(bytes[4], 2, "64-bit ELF expected");
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().expect("8 bytes")) as usize;
    let (entsize, count) = (u16_at(54), u16_at(56));
    const PT_INTERP: u32 = 3;
    for i in 0..count {
        let at = phoff + i * entsize;
        let kind = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        assert_ne!(
            kind, PT_INTERP,
            "subinit has a program interpreter: not static"
        );
    }
    let (_, out, _) = e2e::run("file", &[bin("subinit")]);
    assert!(out.contains("static"), "file(1) says: {out}");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let (code, _, err) = e2e::run(bin("subinit"), &["--bogus"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--bogus"));
    let (code, out, _) = e2e::run(bin("subinit"), &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("usage: subinit"));
    let (code, _, err) = e2e::run(bin("subinit"), &["--stop-timeout", "soon"]);
    assert_eq!(code, 2, "{err}");
}

fn start_and_stop_order(how: As) {
    let s = Scratch::new("order");
    let a = recorder(&s, "a", "A");
    let b = recorder(&s, "b", "B");
    recorder(&s, "svc/10-x", "X");
    recorder(&s, "svc/30-y", "Y");
    recorder(&s, "svc/20-z.dpkg-old", "skipped");
    recorder(&s, "svc/.hidden", "skipped");
    let svc = s.join("svc").display().to_string();
    let mut init = Subinit::start(how, &s, &["--start", &a, "--start", &b, "--services", &svc]);
    assert_eq!(
        init.ready(BOOT).as_deref(),
        Some("ready 0\n"),
        "{}",
        init.log_text()
    );
    assert_eq!(
        lines(&s.join("order")),
        ["A start", "B start", "X start", "Y start"]
    );
    let status = init.stop(STOP).expect("subinit did not stop");
    assert!(
        status.success(),
        "exit status {status:?}: {}",
        init.log_text()
    );
    let all = lines(&s.join("order"));
    assert_eq!(
        all[4..],
        ["Y stop", "X stop", "B stop", "A stop"],
        "{}",
        init.log_text()
    );
}

#[test]
fn start_in_order_and_stop_in_reverse_as_pid1() {
    require_root!();
    start_and_stop_order(As::Pid1);
}

#[test]
fn start_in_order_and_stop_in_reverse_as_subreaper() {
    start_and_stop_order(As::Subreaper);
}

#[test]
fn maintenance_boot_stays_up_idle_then_stops_at_once() {
    require_root!();
    let s = Scratch::new("maint");
    let mut init = Subinit::start(As::Pid1, &s, &["--services", "none"]);
    assert_eq!(init.ready(BOOT).as_deref(), Some("ready 0\n"));
    let before = init.cpu_ticks();
    // A measurement window, not synchronisation: PID 1 must stay idle over it.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(init.cpu_ticks(), before, "PID 1 used CPU while idle");
    assert!(
        init.guard.child.try_wait().expect("try_wait").is_none(),
        "PID 1 exited with no children"
    );
    init.stop_ok_within(Duration::from_secs(1));
}

#[test]
fn failing_and_unrunnable_start_scripts_are_reported_and_boot_goes_on() {
    let s = Scratch::new("fail");
    let fails = s
        .write("fails", "#!/bin/sh\nexit 5\n", 0o755)
        .display()
        .to_string();
    let not_exec = s
        .write("noexec", "#!/bin/sh\nexit 0\n", 0o644)
        .display()
        .to_string();
    let missing = s.join("missing").display().to_string();
    let good = recorder(&s, "good", "GOOD");
    let args = [
        "--services",
        "none",
        "--start",
        &fails,
        "--start",
        &not_exec,
        "--start",
        &missing,
        "--start",
        &good,
    ];
    let mut init = Subinit::start(As::Subreaper, &s, &args);
    let ready = init.ready(BOOT).expect("no readiness report");
    let expected = format!(
        "ready 3\nfailed {fails} exit:5\nfailed {not_exec} exit:126\nfailed {missing} exit:127\n"
    );
    assert_eq!(ready, expected);
    assert_eq!(lines(&s.join("order")), ["GOOD start"]);
    let log = init.log_text();
    for name in [&fails, &not_exec, &missing] {
        assert!(
            log.contains(name.as_str()),
            "log does not name {name}:\n{log}"
        );
    }
    assert!(init.stop(STOP).expect("stop").success());
}

/// A supervised service whose `run` sets `trap` and then creates the file
/// `armed`; returns the services directory and the marker to wait for.
fn trapped(s: &Scratch, name: &str, trap: &str) -> (String, std::path::PathBuf) {
    let armed = s.join(format!("{name}.armed"));
    let run = format!(
        "#!/bin/sh\n{trap}\ntouch {}\nwhile :; do sleep 0.1; done\n",
        armed.display()
    );
    (supervised(s, name, &run), armed)
}

fn supervised(s: &Scratch, name: &str, run: &str) -> String {
    s.write(format!("svc/{name}/run"), run, 0o755);
    s.join("svc").display().to_string()
}

#[test]
fn supervised_service_restarts_with_backoff() {
    let s = Scratch::new("backoff");
    let starts = s.join("starts");
    let svc = supervised(
        &s,
        "crash",
        &format!("#!/bin/sh\ndate +%s.%N >> {}\nexit 1\n", starts.display()),
    );
    let mut init = Subinit::start(As::Subreaper, &s, &["--services", &svc]);
    assert!(init.ready(BOOT).is_some());
    // Starts at about 0 s, then 1 s, then 3 s later (1 s, then 2 s of backoff).
    assert!(
        wait_for(Duration::from_secs(6), || lines(&starts).len() >= 3),
        "{}",
        init.log_text()
    );
    let t: Vec<f64> = lines(&starts)
        .iter()
        .map(|l| l.parse().expect("time"))
        .collect();
    let (gap1, gap2) = (t[1] - t[0], t[2] - t[1]);
    assert!((0.9..1.5).contains(&gap1), "first backoff {gap1} s");
    assert!((1.9..2.5).contains(&gap2), "second backoff {gap2} s");
    assert!(init.stop(STOP).expect("stop").success());
    assert!(
        lines(&starts).len() <= 4,
        "restarted too often: {:?}",
        lines(&starts)
    );
}

#[test]
fn finish_gets_exit_code_and_signal() {
    let s = Scratch::new("finish");
    let count = s.join("count");
    let run = format!(
        "#!/bin/sh\necho x >> {c}\nif [ $(wc -l < {c}) -eq 1 ]; then exit 3; fi\nkill -USR1 $$\nexec sleep 100\n",
        c = count.display()
    );
    let svc = supervised(&s, "svc", &run);
    let finished = s.join("finished");
    s.write(
        "svc/svc/finish",
        &format!("#!/bin/sh\necho \"$1 $2\" >> {}\n", finished.display()),
        0o755,
    );
    let mut init = Subinit::start(As::Subreaper, &s, &["--services", &svc]);
    assert!(init.ready(BOOT).is_some());
    assert!(
        wait_for(Duration::from_secs(8), || lines(&finished).len() >= 2),
        "{}",
        init.log_text()
    );
    assert_eq!(lines(&finished)[..2], ["3 0", "-1 10"]);
    assert!(init.stop(STOP).expect("stop").success());
}

#[test]
fn down_file_keeps_a_service_from_starting() {
    let s = Scratch::new("down");
    let ran = s.join("ran");
    let svc = supervised(
        &s,
        "idle",
        &format!("#!/bin/sh\ntouch {}\nexec sleep 100\n", ran.display()),
    );
    s.write("svc/idle/down", "", 0o644);
    let mut init = Subinit::start(As::Subreaper, &s, &["--services", &svc]);
    assert_eq!(init.ready(BOOT).as_deref(), Some("ready 0\n"));
    assert!(init.stop(STOP).expect("stop").success());
    assert!(!ran.exists(), "a service marked down was started");
    assert!(init.log_text().contains("idle: down, not started"));
}

#[test]
fn service_ignoring_sigterm_is_killed_when_the_stop_budget_runs_out() {
    let s = Scratch::new("stubborn");
    let (svc, armed) = trapped(&s, "stubborn", "trap '' TERM");
    let mut init = Subinit::start(
        As::Subreaper,
        &s,
        &["--services", &svc, "--stop-timeout", "2"],
    );
    assert!(init.ready(BOOT).is_some());
    assert!(
        wait_for(BOOT, || armed.exists()),
        "service never set its trap"
    );
    // Within the 2 s budget + 1 s.
    let took = init.stop_ok_within(Duration::from_secs(3));
    assert!(
        took >= Duration::from_millis(1900),
        "killed before the timeout: {took:?}"
    );
}

#[test]
fn second_stop_signal_kills_at_once() {
    let s = Scratch::new("twice");
    let (svc, armed) = trapped(&s, "stubborn", "trap '' TERM");
    let mut init = Subinit::start(
        As::Subreaper,
        &s,
        &["--services", &svc, "--stop-timeout", "60"],
    );
    assert!(init.ready(BOOT).is_some());
    assert!(
        wait_for(BOOT, || armed.exists()),
        "service never set its trap"
    );
    init.signal(Signal::SIGTERM);
    let t0 = Instant::now();
    init.signal(Signal::SIGINT);
    let status = init.guard.wait_timeout(STOP).expect("no exit");
    assert!(status.success());
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn hanging_stop_script_is_killed_and_the_stop_goes_on() {
    let s = Scratch::new("hang");
    let svc = s.join("svc").display().to_string();
    recorder(&s, "svc/10-first", "FIRST");
    s.write(
        "svc/20-hang",
        "#!/bin/sh\n[ \"$1\" = stop ] && exec sleep 100\nexit 0\n",
        0o755,
    );
    let mut init = Subinit::start(
        As::Subreaper,
        &s,
        &["--services", &svc, "--script-timeout", "1"],
    );
    assert!(init.ready(BOOT).is_some());
    init.stop_ok_within(Duration::from_secs(3));
    assert_eq!(lines(&s.join("order")), ["FIRST start", "FIRST stop"]);
    assert!(init
        .log_text()
        .contains("20-hang stop: still running at its timeout, killed"));
}

#[test]
fn stop_signal_file_chooses_the_signal() {
    let s = Scratch::new("quit");
    let got = s.join("got");
    let (svc, armed) = trapped(
        &s,
        "q",
        &format!("trap 'echo QUIT > {}; exit 0' QUIT", got.display()),
    );
    s.write("svc/q/stop-signal", "QUIT\n", 0o644);
    let mut init = Subinit::start(As::Subreaper, &s, &["--services", &svc]);
    assert!(init.ready(BOOT).is_some());
    assert!(
        wait_for(BOOT, || armed.exists()),
        "service never set its trap"
    );
    assert!(init.stop(STOP).expect("stop").success());
    assert_eq!(lines(&got), ["QUIT"], "{}", init.log_text());
}

#[test]
fn stop_during_boot_is_not_lost() {
    require_root!();
    let s = Scratch::new("early");
    let slow = s
        .write("slow", "#!/bin/sh\nexec sleep 100\n", 0o755)
        .display()
        .to_string();
    let after = recorder(&s, "after", "AFTER");
    let mut init = Subinit::start(
        As::Pid1,
        &s,
        &[
            "--services",
            "none",
            "--start",
            &slow,
            "--start",
            &after,
            "--stop-timeout",
            "1",
        ],
    );
    assert!(wait_for(BOOT, || !init.children().is_empty()));
    init.stop_ok_within(Duration::from_secs(2));
    assert_eq!(
        init.ready(Duration::from_secs(1)),
        None,
        "readiness reported for a cancelled boot"
    );
    assert!(
        !s.join("order").exists(),
        "a start step ran after the stop request"
    );
}

#[test]
fn signals_from_inside_and_other_signals_do_not_stop_pid1() {
    require_root!();
    let s = Scratch::new("inside");
    let kill1 = s.write(
        "kill1",
        "#!/bin/sh\nkill -TERM 1; kill -INT 1; kill -HUP 1; kill -KILL 1\n",
        0o755,
    );
    // A second script: PID 1 has read kill1's SIGTERM by then (it reads
    // signals in number order, so before kill1's SIGCHLD), and a pending
    // SIGTERM would swallow the forged one.
    let forge = s.write(
        "forge",
        "#!/bin/sh\nperl -e 'my $i = pack(q(iiiiiI), 15, 0, -1, 0, 0, 0) . (chr(0) x 104); \
         syscall(129, 1, 15, $i) == 0 or die'\n",
        0o755,
    );
    let (kill1, forge) = (kill1.display().to_string(), forge.display().to_string());
    let args = ["--services", "none", "--start", &kill1, "--start", &forge];
    let mut init = Subinit::start(As::Pid1, &s, &args);
    assert_eq!(
        init.ready(BOOT).as_deref(),
        Some("ready 0\n"),
        "{}",
        init.log_text()
    );
    for sig in [
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
        Signal::SIGCONT,
        Signal::SIGPIPE,
    ] {
        init.signal(sig);
    }
    assert!(wait_for(BOOT, || init
        .log_text()
        .contains("SIGHUP received")));
    assert!(
        init.guard.child.try_wait().expect("try_wait").is_none(),
        "PID 1 died"
    );
    assert_ne!(
        e2e::pid1::process_state(init.pid),
        Some('T'),
        "PID 1 was stopped"
    );
    let log = init.log_text();
    assert!(log.contains("SIGTERM from pid"), "{log}");
    // rt_sigqueueinfo with si_code SI_QUEUE (-1) and a forged si_pid 0.
    assert!(
        log.contains("SIGTERM from pid 0 inside the subhost (code -1)"),
        "{log}"
    );
    assert!(init.stop(STOP).expect("stop").success());
}

#[test]
fn children_start_clean() {
    require_root!();
    let s = Scratch::new("clean");
    let probe = s.join("probe");
    let script = format!(
        "#!/bin/sh\nexec > {}\ngrep -E '^Sig(Blk|Ign)' /proc/self/status\nls /proc/self/fd\necho sid=$(cut -d' ' -f6 /proc/self/stat) pid=$$\n/usr/bin/env\n",
        probe.display()
    );
    let start = s.write("probe.sh", &script, 0o755).display().to_string();
    let mut init = Subinit::start_with(
        As::Pid1,
        &s,
        &["--services", "none", "--start", &start, "--name", "probe"],
        |cmd| {
            cmd.env("OBT_LEAK", "1");
        },
    );
    assert!(init.ready(BOOT).is_some(), "{}", init.log_text());
    let out = fs::read_to_string(&probe).expect("probe output");
    assert!(out.contains("SigBlk:\t0000000000000000"), "{out}");
    assert!(out.contains("SigIgn:\t0000000000000000"), "{out}");
    let fds: Vec<&str> = out
        .lines()
        .filter(|l| l.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(
        fds,
        ["0", "1", "2", "3"],
        "fds other than 0-2 (3 is ls's own directory)"
    );
    let ids = out
        .lines()
        .find(|l| l.starts_with("sid="))
        .expect("sid line");
    let (sid, pid) = ids.split_once(' ').expect("two fields");
    assert_eq!(
        sid.trim_start_matches("sid="),
        pid.trim_start_matches("pid="),
        "not a session leader"
    );
    assert!(!out.contains("OBT_LEAK"), "environment leaked: {out}");
    assert!(out.contains("SUBHOST=probe"));
    assert!(init.stop(STOP).expect("stop").success());
}

#[test]
fn hostname_from_etc_hostname_else_the_name() {
    require_root!();
    for (content, expected) in [("fromfile\n", "fromfile"), ("", "byname")] {
        let s = Scratch::new("host");
        let file = s.write("hostname", content, 0o644);
        let got = s.join("got");
        let start = s.write(
            "h.sh",
            &format!("#!/bin/sh\nhostname > {}\n", got.display()),
            0o755,
        );
        let start = start.display().to_string();
        let file = file.display().to_string();
        // A private mount namespace shows our file as /etc/hostname.
        let mut init = Subinit::start_with(
            As::Pid1,
            &s,
            &["--services", "none", "--name", "byname", "--start", &start],
            |cmd| {
                let program = cmd.get_program().to_owned();
                let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
                let mut wrapped = std::process::Command::new("unshare");
                wrapped.args([
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    "mount --bind \"$0\" /etc/hostname && exec \"$@\"",
                    &file,
                ]);
                wrapped.arg(program).args(args);
                wrapped.stdin(std::process::Stdio::null());
                wrapped.stderr(fs::File::create(s.join("subinit.log")).expect("log"));
                *cmd = wrapped;
            },
        );
        assert!(init.ready(BOOT).is_some(), "{}", init.log_text());
        assert_eq!(lines(&got), [expected]);
        assert!(init.stop(STOP).expect("stop").success());
    }
}

#[test]
fn closed_stderr_does_not_stop_pid1() {
    let s = Scratch::new("epipe");
    let said = s.join("said");
    let run = format!(
        "#!/bin/sh\nwhile :; do echo chatter; echo x >> {}; sleep 0.01; done\n",
        said.display()
    );
    let svc = supervised(&s, "chatty", &run);
    let mut init = Subinit::start_with(As::Subreaper, &s, &["--services", &svc], |cmd| {
        let (r, w) = nix::unistd::pipe().expect("pipe");
        drop(r);
        cmd.stderr(std::process::Stdio::from(w));
    });
    assert!(init.ready(BOOT).is_some());
    // Each line the service wrote was logged by PID 1 into a broken pipe.
    assert!(wait_for(BOOT, || lines(&said).len() >= 20));
    assert!(
        init.guard.child.try_wait().expect("try_wait").is_none(),
        "died on a broken stderr"
    );
    assert!(init.stop(STOP).expect("stop").success());
}

#[test]
fn script_output_is_logged_with_the_service_name() {
    let s = Scratch::new("tag");
    s.write("svc/10-talk", "#!/bin/sh\necho \"hello from $1\"\n", 0o755);
    let svc = s.join("svc").display().to_string();
    let mut init = Subinit::start(As::Subreaper, &s, &["--services", &svc]);
    assert!(init.ready(BOOT).is_some());
    assert!(init.stop(STOP).expect("stop").success());
    let log = init.log_text();
    assert!(
        log.lines()
            .any(|l| l.ends_with(" INFO 10-talk: hello from start")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.ends_with(" INFO 10-talk stop: hello from stop")),
        "{log}"
    );
    let executable = fs::metadata(s.join("svc/10-talk"))
        .expect("meta")
        .permissions()
        .mode()
        & 0o111;
    assert_ne!(executable, 0);
}

/// Reads what is available on `fd` until `done` holds for the text so far.
fn read_until(fd: &std::os::fd::OwnedFd, done: impl Fn(&str) -> bool) -> String {
    use std::io::Read;
    let mut text = String::new();
    let mut file = fs::File::from(fd.try_clone().expect("dup"));
    let deadline = Instant::now() + BOOT;
    while !done(&text) && Instant::now() < deadline {
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(fd),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)).expect("poll") == 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}

#[test]
fn status_snapshots_follow_the_boot_and_the_stop() {
    let s = Scratch::new("status");
    s.write("svc/10-script", "#!/bin/sh\nexit 0\n", 0o755);
    s.write("svc/20-bad", "#!/bin/sh\nexit 1\n", 0o755);
    let (svc, armed) = trapped(&s, "30-daemon", "trap 'exit 0' TERM");
    s.write("svc/40-off/run", "#!/bin/sh\nexec sleep 100\n", 0o755);
    s.write("svc/40-off/down", "", 0o644);
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    let args = ["--services", svc.as_str(), "--status-fd", "4"];
    let mut init = Subinit::start_with_fds(As::Subreaper, &s, &args, vec![(write, 4)], |_| {});
    assert!(init.ready(BOOT).is_some());
    assert!(wait_for(BOOT, || armed.exists()));
    let text = read_until(&read, |t| t.contains("30-daemon supervised running"));
    assert!(text.starts_with("state booting\n"), "{text}");
    let last_ready = text.rsplit("state ").next().expect("snapshot");
    // A running supervised service carries its run's pid inside (issue 12).
    let (before, pid) = last_ready
        .split_once(" pid=")
        .expect("the running service's pid");
    let (pid, after) = pid.split_once('\n').expect("end of the pid line");
    assert!(pid.parse::<u32>().is_ok_and(|p| p > 1), "pid {pid:?}");
    assert_eq!(
        format!("{before}\n{after}"),
        "ready\nservice 10-script script started\nservice 20-bad script failed\n\
         service 30-daemon supervised running\nservice 40-off supervised down\nend\n"
    );
    init.signal(Signal::SIGTERM);
    let text = read_until(&read, |t| t.contains("state stopping"));
    assert!(text.contains("state stopping\n"), "{text}");
    assert!(init.guard.wait_timeout(STOP).expect("exit").success());
}

#[test]
fn session_command_runs_on_its_terminal_and_its_status_is_the_exit_status() {
    let s = Scratch::new("session");
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let script = "tty; [ -t 0 ] && echo on-a-tty; echo term=$TERM; exit 7";
    let args = [
        "--services",
        "none",
        "--session-fd",
        "5",
        "--session-term",
        "xterm",
        "--",
        "/bin/sh",
        "-c",
        script,
    ];
    let mut init = Subinit::start_with_fds(As::Subreaper, &s, &args, vec![(pty.slave, 5)], |_| {});
    assert_eq!(init.ready(BOOT).as_deref(), Some("ready 0\n"));
    let out = read_until(&pty.master, |t| t.contains("term="));
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("on-a-tty"), "{out}");
    assert!(out.contains("term=xterm"), "{out}");
    let status = init.guard.wait_timeout(STOP).expect("subinit did not exit");
    assert_eq!(status.code(), Some(7), "{}", init.log_text());
}

/// Issue 13: arguments are bytes; a session command's argument that is not
/// UTF-8 reaches the command unchanged (the subinit used to abort on it).
#[test]
fn session_argument_that_is_not_utf8_reaches_the_command() {
    use std::os::unix::ffi::OsStrExt;
    let s = Scratch::new("sessbyte");
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let script = "printf '%s' \"$1\" | od -An -tx1 | tr -d ' \\n'; echo ' end'; exit 3";
    let args = [
        "--services",
        "none",
        "--session-fd",
        "5",
        "--",
        "/bin/sh",
        "-c",
        script,
        "sh",
    ];
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let mut init = Subinit::start_with_fds(As::Subreaper, &s, &args, vec![(pty.slave, 5)], |c| {
        c.arg(odd);
    });
    let out = read_until(&pty.master, |t| t.contains(" end"));
    assert!(out.contains("636166e9 end"), "{out}\n{}", init.log_text());
    let status = init.guard.wait_timeout(STOP).expect("subinit did not exit");
    assert_eq!(status.code(), Some(3), "{}", init.log_text());
}

#[test]
fn session_killed_by_a_signal_exits_128_plus_the_signal() {
    let s = Scratch::new("sesskill");
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let args = [
        "--services",
        "none",
        "--session-fd",
        "5",
        "--",
        "/bin/sh",
        "-c",
        "kill -KILL $$",
    ];
    let mut init = Subinit::start_with_fds(As::Subreaper, &s, &args, vec![(pty.slave, 5)], |_| {});
    let status = init.guard.wait_timeout(STOP).expect("subinit did not exit");
    assert_eq!(status.code(), Some(137), "{}", init.log_text());
}

/// Edge case 12: SIGPWR (LXC) and SIGRTMIN+3 (systemd-nspawn) stop the
/// subhost as SIGTERM does, with exit status 0.
#[test]
fn alternative_stop_signals_stop_gracefully() {
    require_root!();
    // SIGRTMIN+3 is systemd's 37, whatever SIGRTMIN the C library has.
    for signo in [libc::SIGPWR, 37] {
        let s = Scratch::new("altsig");
        let a = recorder(&s, "a", "A");
        let mut init = Subinit::start(As::Pid1, &s, &["--services", "none", "--start", &a]);
        assert!(init.ready(BOOT).is_some(), "{}", init.log_text());
        // SAFETY: kill(2) with a real-time signal number nix cannot name.
        assert_eq!(unsafe { libc::kill(init.pid.as_raw(), signo) }, 0);
        let status = init.guard.wait_timeout(STOP).expect("no exit");
        assert!(status.success(), "signal {signo}: {status:?}");
        assert_eq!(
            lines(&s.join("order")),
            ["A start", "A stop"],
            "signal {signo}"
        );
    }
}

/// Edge case 5: processes that keep forking and ignore SIGTERM while the
/// stop kills them: the SIGKILL sweep repeats until PID 1 is alone.
#[test]
fn fork_storm_during_the_stop_is_swept_away() {
    require_root!();
    let s = Scratch::new("storm");
    let armed = s.join("armed");
    let run = format!(
        "#!/bin/sh\ntrap '' TERM\ntouch {}\nwhile :; do sh -c 'sleep 5' & sleep 0.01; done\n",
        armed.display()
    );
    let svc = supervised(&s, "storm", &run);
    let mut init = Subinit::start(As::Pid1, &s, &["--services", &svc, "--stop-timeout", "1"]);
    assert!(init.ready(BOOT).is_some());
    assert!(wait_for(BOOT, || armed.exists()));
    // The namespace's own /proc (unshare --mount-proc) counts the storm.
    let in_namespace = || {
        fs::read_dir(format!("/proc/{}/root/proc", init.pid))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(
        wait_for(BOOT, || in_namespace() > 20),
        "the storm never grew: {} processes",
        in_namespace()
    );
    init.stop_ok_within(Duration::from_secs(3));
}

/// Edge case 30: a supervised service with `notification-fd` holds the boot
/// until it writes a newline there; the entries after it start only then.
#[test]
fn boot_waits_for_a_notifying_service_to_be_ready() {
    let s = Scratch::new("notify");
    let up = s.join("up");
    let run = format!(
        "#!/bin/sh\nsleep 0.3\ntouch {}\necho >&3\nexec 3>&-\nexec sleep 100\n",
        up.display()
    );
    let svc = supervised(&s, "10-db", &run);
    s.write("svc/10-db/notification-fd", "3\n", 0o644);
    let seen = s.join("seen");
    let check = format!(
        "#!/bin/sh\n[ -e {} ] && echo up > {}\nexit 0\n",
        up.display(),
        seen.display()
    );
    s.write("svc/20-app", &check, 0o755);
    let mut init = Subinit::start(As::Subreaper, &s, &["--services", &svc]);
    assert_eq!(
        init.ready(BOOT).as_deref(),
        Some("ready 0\n"),
        "{}",
        init.log_text()
    );
    assert_eq!(
        lines(&seen),
        ["up"],
        "20-app started before 10-db was ready"
    );
    assert!(
        init.log_text().contains("10-db: ready after"),
        "{}",
        init.log_text()
    );
    assert!(init.stop(STOP).expect("stop").success());
}

/// A notifying service that never says ready holds the boot only until
/// --script-timeout; one that exits first fails at once. Both are reported.
#[test]
fn a_service_that_never_gets_ready_is_reported_and_the_boot_goes_on() {
    let s = Scratch::new("nonotify");
    let svc = supervised(&s, "10-mute", "#!/bin/sh\nexec sleep 100\n");
    s.write("svc/10-mute/notification-fd", "3\n", 0o644);
    s.write("svc/20-dies/run", "#!/bin/sh\nexit 3\n", 0o755);
    s.write("svc/20-dies/notification-fd", "4\n", 0o644);
    recorder(&s, "svc/30-after", "AFTER");
    let t0 = Instant::now();
    let mut init = Subinit::start(
        As::Subreaper,
        &s,
        &["--services", &svc, "--script-timeout", "1"],
    );
    let ready = init.ready(BOOT).expect("no readiness report");
    assert_eq!(
        ready,
        "ready 2\nfailed 10-mute timeout\nfailed 20-dies exit:3\n"
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "boot took {took:?}"
    );
    assert_eq!(lines(&s.join("order")), ["AFTER start"]);
    assert!(init.stop(STOP).expect("stop").success());
}
