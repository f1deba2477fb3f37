//! Resource limits (issue 12): MEMORY_MAX, PIDS_MAX and CPU_MAX hold in a
//! real subhost, every process of it is in its cgroups in every hierarchy,
//! and nothing of them is left after a stop or a killed monitor. Each test
//! says which cgroup layout it ran on (hybrid: the controllers on v1).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e::require_root;
use e2e::subhost::{cgroup1_roots, cgroup2_root, Subhost};

/// Where a controller is on this host: its v1 hierarchy, else cgroup2 if
/// its root offers it.
fn place(v1: &str, v2: &str) -> Option<(PathBuf, bool)> {
    if let Some(root) = cgroup1_roots().into_iter().find(|r| {
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains(&format!(" {} ", r.display())) && l.ends_with(&format!(",{v1}")))
    }) {
        return Some((root, true));
    }
    let root = cgroup2_root()?;
    let offered = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
    offered
        .split_whitespace()
        .any(|c| c == v2)
        .then_some((root, false))
}

/// The subhost's cgroup directory serving a controller, and whether v1.
fn dir(sh: &Subhost, v1: &str, v2: &str) -> (PathBuf, bool) {
    let (root, is_v1) = place(v1, v2).expect("controller on this host");
    eprintln!(
        "layout: {v1} on {} ({})",
        root.display(),
        if is_v1 {
            "cgroup v1, hybrid"
        } else {
            "cgroup2"
        }
    );
    (root.join(&sh.name), is_v1)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn number(path: &Path) -> u64 {
    read(path).trim().parse().expect("a number")
}

/// A field of a flat-keyed cgroup file ("oom_kill 1").
fn field(path: &Path, key: &str) -> Option<u64> {
    read(path).lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn pid1_alive(sh: &Subhost) -> bool {
    sh.booted.as_ref().is_some_and(|b| b.pid1.alive())
}

fn wait_until(timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ok()
}

#[test]
fn a_memory_hog_is_killed_near_memory_max_and_the_subhost_stops_gracefully() {
    require_root!();
    let mut sh = Subhost::busybox("lmem").line("START=none\nMEMORY_MAX=64M");
    sh.write_upper(
        "usr/bin/hog",
        "#!/bin/sh\nx=$(head -c 400000000 /dev/zero | tr '\\0' a)\necho survived\n",
        0o755,
    );
    sh.boot_ok();
    let (cg, v1) = dir(&sh, "memory", "memory");
    let limit = if v1 {
        "memory.limit_in_bytes"
    } else {
        "memory.max"
    };
    assert_eq!(number(&cg.join(limit)), 64 << 20);
    let out = sh.go(&["/usr/bin/hog"]);
    assert!(
        !out.out.contains("survived"),
        "the hog was not stopped: {out}"
    );
    let (events, key) = if v1 {
        (cg.join("memory.oom_control"), "oom_kill")
    } else {
        (cg.join("memory.events"), "oom_kill")
    };
    assert!(field(&events, key).unwrap_or(0) >= 1, "no OOM kill counted");
    if v1 {
        let peak = number(&cg.join("memory.max_usage_in_bytes"));
        eprintln!(
            "memory peak {peak} bytes ({} MiB) under MEMORY_MAX=64M",
            peak >> 20
        );
    }
    if v1 {
        let peak = number(&cg.join("memory.max_usage_in_bytes"));
        assert!(peak > 60 << 20 && peak <= 64 << 20, "peak {peak}");
    }
    assert!(pid1_alive(&sh), "PID 1 died:\n{}", sh.log_text());
    assert_eq!(sh.sh("echo still here").trim(), "still here");
    let log_ok = wait_until(Duration::from_secs(5), || {
        sh.log_text()
            .lines()
            .any(|l| l.contains("out of memory") && l.contains("hog"))
    });
    assert!(log_ok, "LOG does not name the victim:\n{}", sh.log_text());
    for l in sh
        .log_text()
        .lines()
        .filter(|l| l.contains("out of memory"))
    {
        eprintln!("LOG: {l}");
    }
    assert!(
        !sh.log_text().contains("not named in the kernel log"),
        "a kill was logged without its name:\n{}",
        sh.log_text()
    );
    sh.stop_ok();
}

fn wake_ups(pid: i32) -> u64 {
    let status = read(Path::new(&format!("/proc/{pid}/status")));
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches")
}

/// Issue 14: the OOM watch reads the kernel log only after an OOM
/// notification, so an idle subhost's monitor sleeps through the host's
/// kernel messages (with many subhosts, each message woke every monitor).
#[test]
fn kernel_messages_do_not_wake_an_idle_monitor() {
    require_root!();
    let mut sh = Subhost::busybox("lkm").line("START=none\nMEMORY_MAX=64M");
    sh.boot_ok();
    let monitor = sh.monitor().pid.as_raw();
    let before = wake_ups(monitor);
    let mut kmsg = fs::OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")
        .expect("open /dev/kmsg");
    // Spaced out, so that a monitor polling the log would wake for each.
    for n in 0..20 {
        use std::io::Write;
        writeln!(
            kmsg,
            "<7>overlay-boot test: kernel message {n} for idle monitors"
        )
        .expect("write /dev/kmsg");
        std::thread::sleep(Duration::from_millis(20));
    }
    let woke = wake_ups(monitor) - before;
    eprintln!("the idle monitor woke {woke} times for 20 kernel messages");
    assert!(
        woke <= 2,
        "the idle monitor woke {woke} times for 20 kernel messages"
    );
    sh.stop_ok();
}

#[test]
fn a_fork_bomb_stays_within_pids_max_and_the_subhost_still_stops() {
    require_root!();
    let mut sh = Subhost::busybox("lpid").line("START=none\nPIDS_MAX=64\nSTOP_TIMEOUT=3");
    sh.boot_ok();
    let (cg, _) = dir(&sh, "pids", "pids");
    assert_eq!(read(&cg.join("pids.max")).trim(), "64");
    let bomb = "exec </dev/null >/dev/null 2>&1; b() { b | b & }; b";
    let _ = sh.go(&["sh", "-c", bomb]);
    // The real event: the kernel refused a fork for the limit.
    let hit = wait_until(Duration::from_secs(10), || {
        field(&cg.join("pids.events"), "max").unwrap_or(0) > 0
    });
    assert!(hit, "the fork bomb never reached PIDS_MAX");
    assert!(number(&cg.join("pids.current")) <= 64);
    if cg.join("pids.peak").exists() {
        assert!(number(&cg.join("pids.peak")) <= 64);
    }
    assert!(pid1_alive(&sh), "PID 1 died:\n{}", sh.log_text());
    let t0 = Instant::now();
    let out = sh.stop();
    let took = t0.elapsed();
    assert!(out.ok(), "stop failed: {out}\nlog:\n{}", sh.log_text());
    sh.assert_gone();
    eprintln!("fork bomb: PIDS_MAX=64, stop took {took:?} (STOP_TIMEOUT=3)");
    // STOP_TIMEOUT=3: SIGTERM, then SIGKILL at 3 s; the teardown after it.
    assert!(took < Duration::from_secs(4), "stop took {took:?}");
}

#[test]
fn cpu_max_50_percent_holds_a_burner_to_half_a_cpu() {
    require_root!();
    let mut sh = Subhost::busybox("lcpu").line("START=none\nCPU_MAX=50%");
    sh.boot_ok();
    let (cg, v1) = dir(&sh, "cpu", "cpu");
    if v1 {
        assert_eq!(number(&cg.join("cpu.cfs_quota_us")), 50_000);
    } else {
        assert_eq!(read(&cg.join("cpu.max")).trim(), "50000 100000");
    }
    let (acct, _) = dir(&sh, "cpuacct", "cpu");
    let usage_ns = || -> u64 {
        if acct.join("cpuacct.usage").exists() {
            number(&acct.join("cpuacct.usage"))
        } else {
            field(&acct.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000
        }
    };
    let _ = sh.go(&[
        "sh",
        "-c",
        "exec </dev/null >/dev/null 2>&1; while :; do :; done &",
    ]);
    // The burner is running once the subhost's cgroup uses CPU.
    let start = usage_ns();
    assert!(wait_until(Duration::from_secs(5), || usage_ns() > start + 10_000_000));
    let (u0, t0) = (usage_ns(), Instant::now());
    std::thread::sleep(Duration::from_secs(5)); // the measuring window
    let (u1, t1) = (usage_ns(), Instant::now());
    let share = (u1 - u0) as f64 / (t1 - t0).as_nanos() as f64;
    eprintln!(
        "CPU_MAX=50%: {:.1}% of one CPU over {:?}",
        share * 100.0,
        t1 - t0
    );
    assert!(share <= 0.55, "used {:.1}% of one CPU", share * 100.0);
    assert!(share > 0.05, "the burner did not run ({share})");
    sh.stop_ok();
}

/// Every line of /proc/self/cgroup inside at the namespace's root: the
/// process is in the subhost's cgroup in every hierarchy (one outside it
/// shows a path with "..").
fn all_at_root(text: &str) -> bool {
    !text.is_empty() && text.lines().all(|l| l.ends_with(":/"))
}

#[test]
fn pid1_overlay_go_and_session_processes_are_in_every_cgroup_of_the_subhost() {
    require_root!();
    let mut sh = Subhost::busybox("lcg").line("START=none\nMEMORY_MAX=256M\nPIDS_MAX=200");
    sh.boot_ok();
    let pid1 = sh.pid1().as_raw().to_string();
    for cg in sh.cgroup().into_iter().chain(sh.cgroups_v1()) {
        if cg.exists() {
            let procs = read(&cg.join("cgroup.procs"));
            assert!(
                procs.lines().any(|p| p == pid1),
                "PID 1 not in {}",
                cg.display()
            );
        }
    }
    let inside = sh.go_ok(&["cat", "/proc/self/cgroup"]);
    assert!(all_at_root(&inside), "overlay-go: {inside}");
    let pid1_inside = sh.go_ok(&["cat", "/proc/1/cgroup"]);
    assert!(all_at_root(&pid1_inside), "PID 1: {pid1_inside}");
    // A process from overlay-go, seen from the host: in each v1 directory.
    let pid = sh.sh("sleep 30 </dev/null >/dev/null 2>&1 & echo $!");
    let host_pid = fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|p| {
            fs::read_to_string(format!("/proc/{p}/status"))
                .unwrap_or_default()
                .lines()
                .any(|l| l.starts_with("NSpid:") && l.split_whitespace().last() == Some(pid.trim()))
                && fs::read_link(format!("/proc/{p}/ns/pid")).ok()
                    == fs::read_link(format!("/proc/{}/ns/pid", sh.pid1())).ok()
        })
        .expect("the sleep on the host");
    for cg in sh.cgroups_v1().into_iter().filter(|d| d.exists()) {
        let procs = read(&cg.join("cgroup.procs"));
        assert!(
            procs.lines().any(|p| p == host_pid.to_string()),
            "overlay-go's process {host_pid} not in {}",
            cg.display()
        );
    }
    sh.stop_ok();

    let se = Subhost::busybox("lses").line("MEMORY_MAX=256M");
    let out = se.tool(
        "overlay-boot",
        &[
            "--session".as_ref(),
            se.conf.as_os_str(),
            "cat".as_ref(),
            "/proc/self/cgroup".as_ref(),
        ],
        Duration::from_secs(30),
    );
    assert!(out.ok(), "session: {out}");
    assert!(all_at_root(out.out.trim()), "session: {}", out.out);
    se.assert_gone();
}

#[test]
fn nothing_is_left_in_any_hierarchy_after_a_killed_monitor_and_the_next_stop() {
    require_root!();
    let mut sh =
        Subhost::busybox("lkil").line("START=none\nMEMORY_MAX=128M\nPIDS_MAX=100\nCPU_MAX=100%");
    sh.boot_ok();
    let dirs: Vec<PathBuf> = sh.cgroup().into_iter().chain(sh.cgroups_v1()).collect();
    assert!(dirs.iter().any(|d| d.exists()));
    sh.monitor().kill9();
    let out = sh.stop();
    assert!(out.ok() || out.code == 1, "stop: {out}");
    assert!(
        sh.wait_gone(Duration::from_secs(10)),
        "{:?}",
        sh.leftovers()
    );
    for d in &dirs {
        assert!(!d.exists(), "{} left", d.display());
    }
}

#[test]
fn a_foreign_cgroup_of_the_same_name_is_not_taken_over() {
    require_root!();
    let mut sh = Subhost::busybox("lfor").line("START=none\nPIDS_MAX=50");
    let Some(foreign) = sh.cgroups_v1().into_iter().next() else {
        e2e::note_skip("no cgroup v1 hierarchy on this host (pure v2)");
        return;
    };
    fs::create_dir(&foreign).expect("foreign cgroup");
    let out = sh.boot();
    let still = foreign.exists();
    let _ = fs::remove_dir(&foreign);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.err.contains(&foreign.display().to_string()), "{out}");
    assert!(still, "the foreign cgroup was removed");
    sh.assert_gone();
}

/// The `"usage":{…}` object of subhost `name` in a `--list --json`
/// document, as key → value text.
fn usage_of(json: &str, name: &str) -> Vec<(String, String)> {
    let at = json
        .find(&format!("{{\"name\":\"{name}\""))
        .unwrap_or_else(|| panic!("{name} not listed: {json}"));
    let rest = &json[at..];
    let start = rest.find("\"usage\":{").expect("usage object") + "\"usage\":{".len();
    let body = &rest[start..start + rest[start..].find('}').expect("end of usage")];
    body.split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once(':')?;
            Some((k.trim_matches('"').to_string(), v.to_string()))
        })
        .collect()
}

fn get(kv: &[(String, String)], key: &str) -> String {
    kv.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{key} missing in {kv:?}"))
}

#[test]
fn list_json_usage_matches_the_cgroup_files() {
    require_root!();
    let mut sh = Subhost::busybox("ljsn").line("START=none\nMEMORY_MAX=96M\nPIDS_MAX=77");
    sh.boot_ok();
    let (mem, v1) = dir(&sh, "memory", "memory");
    let (pids, _) = dir(&sh, "pids", "pids");
    let (acct, _) = dir(&sh, "cpuacct", "cpu");
    let cur = if v1 {
        "memory.usage_in_bytes"
    } else {
        "memory.current"
    };
    let cpu = || -> f64 {
        if v1 {
            number(&acct.join("cpuacct.usage")) as f64 / 1e9
        } else {
            field(&acct.join("cpu.stat"), "usage_usec").unwrap_or(0) as f64 / 1e6
        }
    };
    // Read the files before and after the listing: the figures lie between.
    let (m0, c0, p0) = (
        number(&mem.join(cur)),
        cpu(),
        number(&pids.join("pids.current")),
    );
    let out = sh.tool(
        "overlay-boot",
        &["--list", "--json"],
        Duration::from_secs(20),
    );
    let (m1, c1, p1) = (
        number(&mem.join(cur)),
        cpu(),
        number(&pids.join("pids.current")),
    );
    assert!(out.ok(), "{out}");
    let kv = usage_of(&out.out, &sh.name);
    assert_eq!(get(&kv, "memory_max_bytes"), (96u64 << 20).to_string());
    assert_eq!(get(&kv, "pids_max"), "77");
    let m: u64 = get(&kv, "memory_bytes").parse().expect("memory_bytes");
    assert!(
        m >= m0.min(m1) && m <= m0.max(m1),
        "memory {m} not in [{m0}, {m1}]"
    );
    let p: u64 = get(&kv, "pids").parse().expect("pids");
    assert!(
        p >= p0.min(p1) && p <= p0.max(p1),
        "pids {p} not in [{p0}, {p1}]"
    );
    let c: f64 = get(&kv, "cpu_seconds").parse().expect("cpu_seconds");
    assert!(
        c >= c0 - 1e-6 && c <= c1 + 1e-6,
        "cpu {c} not in [{c0}, {c1}]"
    );
    // The text listing has the same figures in its columns.
    let text = sh
        .tool("overlay-boot", &["--list"], Duration::from_secs(20))
        .out;
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{} ", sh.name)))
        .unwrap_or_else(|| panic!("not listed: {text}"));
    assert!(line.contains("/96M ") && line.contains("/77 "), "{line}");
    sh.stop_ok();
}

#[test]
fn list_watch_prints_the_listing_again() {
    require_root!();
    let mut sh = Subhost::busybox("lwat").line("START=none\nPIDS_MAX=50");
    sh.boot_ok();
    let mut child = std::process::Command::new(e2e::bin("overlay-boot"))
        .args(["--list", "--json", "--watch", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("overlay-boot --list --watch");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut docs = Vec::new();
    for _ in 0..2 {
        docs.push(lines.next().expect("a document").expect("read"));
    }
    let _ = child.kill();
    let _ = child.wait();
    for d in &docs {
        assert_eq!(get(&usage_of(d, &sh.name), "pids_max"), "50");
    }
    sh.stop_ok();
}

/// The sysv script of the liveness test: start runs a daemon and records
/// its pid, status says whether it still runs (LSB: 0 running, 3 not).
const LSVC: &str = "#!/bin/sh\ncase $1 in\n\
start) sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > /run/lsvc.pid ;;\n\
stop) kill $(cat /run/lsvc.pid) ;;\n\
status) [ -e /run/lsvc.pid ] && kill -0 $(cat /run/lsvc.pid) 2>/dev/null && exit 0; exit 3 ;;\n\
esac\n";

#[test]
fn list_shows_a_sysv_service_s_liveness_from_its_status_action() {
    require_root!();
    let mut sh = Subhost::busybox("lliv").line("START=lsvc\nSERVICES=none");
    sh.write_upper("etc/init.d/lsvc", LSVC, 0o755);
    sh.boot_ok();
    // The subinit's snapshot may lag the ready line, and a status action
    // may be cut off on a loaded machine: wait for the listing to say it.
    let shows = |sh: &Subhost, word: &str| {
        let mut seen = String::new();
        let ok = wait_until(Duration::from_secs(15), || {
            let out = sh.tool("overlay-boot", &["--list"], Duration::from_secs(20));
            seen = out.out;
            seen.lines()
                .any(|l| l.starts_with("  lsvc ") && l.ends_with(&format!(" {word}")))
        });
        assert!(ok, "lsvc never {word}:\n{seen}");
    };
    shows(&sh, "running");
    sh.sh("kill $(cat /run/lsvc.pid)");
    shows(&sh, "not-running");
    let json = sh
        .tool(
            "overlay-boot",
            &["--list", "--json"],
            Duration::from_secs(20),
        )
        .out;
    assert!(
        json.contains("{\"name\":\"lsvc\",\"kind\":\"script\",\"state\":\"started\",\"restarts\":0,\"live\":\"not-running\",\"pid\":null"),
        "{json}"
    );
    sh.stop_ok();
}

#[test]
fn list_shows_a_supervised_service_s_pid_and_uptime() {
    require_root!();
    let mut sh = Subhost::busybox("lsup").line("START=none");
    sh.write_upper(
        "etc/overlay-boot/services.d/tick/run",
        "#!/bin/sh\nexec sleep 1000\n",
        0o755,
    );
    sh.boot_ok();
    let mut line = String::new();
    let found = wait_until(Duration::from_secs(10), || {
        let out = sh.tool("overlay-boot", &["--list"], Duration::from_secs(20));
        line = out
            .out
            .lines()
            .find(|l| l.starts_with("  tick "))
            .unwrap_or_default()
            .to_string();
        line.contains(" running ") && line.contains("pid=")
    });
    assert!(found, "tick: {line:?}");
    let pid: i32 = line
        .split("pid=")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|p| p.parse().ok())
        .expect("pid");
    let cmd = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(cmd.starts_with("sleep\0"), "pid {pid} is {cmd:?}");
    assert!(line.contains(",up="), "{line}");
    let json = sh
        .tool(
            "overlay-boot",
            &["--list", "--json"],
            Duration::from_secs(20),
        )
        .out;
    assert!(
        json.contains(&format!("\"pid\":{pid},\"uptime_seconds\":")),
        "{json}"
    );
    sh.stop_ok();
}

#[test]
fn every_limit_lands_in_its_cgroup_file() {
    require_root!();
    let mut sh = Subhost::busybox("lall").line(
        "START=none\nMEMORY_MAX=200M\nMEMORY_HIGH=150M\nCPU_MAX=150%\nCPU_WEIGHT=50\nPIDS_MAX=99",
    );
    sh.boot_ok();
    let (mem, v1) = dir(&sh, "memory", "memory");
    let (cpu, _) = dir(&sh, "cpu", "cpu");
    let (pids, _) = dir(&sh, "pids", "pids");
    if v1 {
        assert_eq!(number(&mem.join("memory.limit_in_bytes")), 200 << 20);
        assert_eq!(number(&mem.join("memory.soft_limit_in_bytes")), 150 << 20);
        assert_eq!(number(&cpu.join("cpu.cfs_period_us")), 100_000);
        assert_eq!(number(&cpu.join("cpu.cfs_quota_us")), 150_000);
        assert_eq!(number(&cpu.join("cpu.shares")), 512);
    } else {
        assert_eq!(number(&mem.join("memory.max")), 200 << 20);
        assert_eq!(number(&mem.join("memory.high")), 150 << 20);
        assert_eq!(read(&cpu.join("cpu.max")).trim(), "150000 100000");
        assert_eq!(number(&cpu.join("cpu.weight")), 50);
    }
    assert_eq!(number(&pids.join("pids.max")), 99);
    sh.stop_ok();
}
