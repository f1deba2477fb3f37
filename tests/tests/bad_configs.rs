//! The table of bad configurations (`tests/data/bad-configs.txt`): each is
//! booted with the real binary and must exit 2 at once with exactly its
//! message, print no ready line, and leave nothing behind: no netns, run
//! directory, cgroup, interface or mount, and no process of its `!`
//! commands (they run in BASE, so none may keep a working directory there).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::subhost::{host_mounts, run_captured, Subhost};
use e2e::{bin, require_root};

/// The `!` command and hook time limit the table runs with.
const COMMAND_TIMEOUT: &str = "2";
/// How long a refusal may take; one that waits on a `!` command's time
/// limit gets that limit on top.
const FAST: Duration = Duration::from_millis(1500);

struct Case {
    what: String,
    setups: Vec<String>,
    /// The lines as written in the table.
    conf: String,
    message: String,
}

/// Reads the table; see the file's header for its format.
fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/bad-configs.txt");
    let text = fs::read_to_string(&path).expect("read the table");
    let mut cases = Vec::new();
    for block in text.split("\n== ").skip(1) {
        let mut lines = block.lines();
        let what = lines.next().expect("a name").to_string();
        let (mut setups, mut conf, mut message) = (Vec::new(), String::new(), None);
        for line in lines {
            if let Some(s) = line.strip_prefix("@ ") {
                setups.push(s.to_string());
            } else if let Some(m) = line.strip_prefix("-> ") {
                message = Some(m.to_string());
                break;
            } else {
                conf.push_str(line);
                conf.push('\n');
            }
        }
        let message = message.unwrap_or_else(|| panic!("{what}: no `-> message` line"));
        cases.push(Case {
            what,
            setups,
            conf,
            message,
        });
    }
    cases
}

/// `{c*N}`: the character (or characters) c, N times.
fn expand(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 1..start + len];
        out.push_str(&rest[..start]);
        match inner.rsplit_once('*').map(|(c, n)| (c, n.parse::<usize>())) {
            Some((c, Ok(n))) => out.push_str(&c.repeat(n)),
            _ => out.push_str(&rest[start..=start + len]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// `<NUL>` and `<xHH>` as bytes.
fn raw_bytes(line: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find('<') {
        out.extend_from_slice(&rest.as_bytes()[..start]);
        let tail = &rest[start..];
        if let Some(after) = tail.strip_prefix("<NUL>") {
            out.push(0);
            rest = after;
        } else if let Some(byte) = tail
            .get(2..4)
            .filter(|_| tail.starts_with("<x") && tail.get(4..5) == Some(">"))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            rest = &tail[5..];
        } else {
            out.push(b'<');
            rest = &tail[1..];
        }
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

fn script(sh: &Subhost, rel: &str, mode: u32) {
    let path = sh.base.join(rel);
    fs::write(&path, "#!/bin/sh\nexit 0\n").expect("script");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The set-ups a case may ask for with `@ NAME` or `@ NAME:FILE`.
fn set_up(sh: &mut Subhost, setup: &str) {
    let (kind, arg) = setup.split_once(':').unwrap_or((setup, ""));
    match kind {
        "afile" => fs::write(sh.base.join("afile"), "not a directory\n").expect("afile"),
        "live_mounted" => {
            let live = sh.live.clone();
            sh.bind_on_host(&live, &live);
        }
        "noexec" => script(sh, arg, 0o644),
        "groupwritable" => script(sh, arg, 0o775),
        "no_work" => fs::remove_dir(sh.base.join("work")).expect("rm work"),
        "work_tmpfs" => {
            let dir = sh.base.join("work2");
            fs::create_dir(&dir).expect("work2");
            nix::mount::mount(
                Some("tmpfs"),
                &dir,
                Some("tmpfs"),
                nix::mount::MsFlags::empty(),
                Some("size=1m,mode=0755"),
            )
            .expect("mount a tmpfs on work2");
            sh.adopt_host_mount(dir);
        }
        "conf_missing" => sh.conf = sh.base.join("missing.conf"),
        "conf_dir" => {
            sh.conf = sh.base.join("dir.conf");
            fs::create_dir(&sh.conf).expect("dir.conf");
        }
        "conf_fifo" => {
            sh.conf = sh.base.join("fifo.conf");
            nix::unistd::mkfifo(&sh.conf, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .expect("mkfifo");
        }
        "conf_groupwritable" => {
            fs::set_permissions(&sh.conf, fs::Permissions::from_mode(0o664)).expect("chmod")
        }
        other => panic!("unknown set-up {other:?}"),
    }
}

/// The host's memory in MiB, as the launcher counts it.
fn memory_mib() -> u64 {
    let info = fs::read_to_string("/proc/meminfo").expect("meminfo");
    let kib: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal");
    kib >> 10
}

/// Processes whose working directory is under `dir`.
fn procs_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| fs::read_link(e.path().join("cwd")).is_ok_and(|c| c.starts_with(dir)))
        .map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            let cmd = fs::read(e.path().join("cmdline")).unwrap_or_default();
            format!(
                "pid {pid}: {}",
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            )
        })
        .collect()
}

/// Runs one case; what went wrong, if anything.
fn check(case: &Case, mem: u64) -> Option<String> {
    let mut sh = Subhost::new("bad");
    let (base, name) = (sh.base.display().to_string(), sh.name.clone());
    let fill = |s: &str| {
        expand(s)
            .replace("{base}", &base)
            .replace("{name}", &name)
            .replace("{mem}", &mem.to_string())
    };
    let conf = raw_bytes(&fill(&case.conf));
    fs::write(&sh.conf, &conf).expect("write the configuration");
    for setup in &case.setups {
        set_up(&mut sh, setup);
    }
    let want = format!(
        "overlay-boot: {}",
        fill(&case.message).replace("{conf}", &sh.conf.display().to_string())
    );
    let mounts_before: Vec<_> = host_mounts().into_iter().map(|m| m.line).collect();
    let mut cmd = Command::new(bin("overlay-boot"));
    cmd.arg0("overlay-boot")
        .arg(&sh.conf)
        .env("OVERLAY_BOOT_SUBINIT", bin("subinit"))
        .env("OVERLAY_BOOT_COMMAND_TIMEOUT", COMMAND_TIMEOUT);
    let started = Instant::now();
    let out = run_captured(
        &mut cmd,
        "overlay-boot CONF".into(),
        &sh.scratch.path,
        e2e::subhost::BOOT,
    );
    let took = started.elapsed();
    let mut bad = Vec::new();
    if out.code == 0 {
        // Booted by mistake: stop it now, whatever its NAME.
        let stop = sh.tool("overlay-stop", &[&sh.conf], e2e::subhost::STOP);
        bad.push(format!("booted; stopped: {stop}"));
    }
    if out.code != 2 {
        bad.push(format!("exit status {} (want 2)", out.code));
    }
    if out.err.trim_end() != want {
        bad.push(format!(
            "message\n      {:?}\n    want\n      {want:?}",
            out.err.trim_end()
        ));
    }
    if !out.out.is_empty() {
        bad.push("printed something on stdout".into());
    }
    let limit = if want.contains("did not end within") {
        FAST + Duration::from_secs(2)
    } else {
        FAST
    };
    if took > limit {
        bad.push(format!("took {took:?} (limit {limit:?})"));
    }
    let new_mounts: Vec<_> = host_mounts()
        .into_iter()
        .map(|m| m.line)
        .filter(|l| !mounts_before.contains(l))
        .filter(|l| l.contains(&sh.name) || l.contains(&*sh.scratch.path.to_string_lossy()))
        .collect();
    if !new_mounts.is_empty() {
        bad.push(format!("new mounts: {new_mounts:?}"));
    }
    bad.extend(sh.leftovers());
    bad.extend(procs_in(&sh.scratch.path));
    if bad.is_empty() {
        return None;
    }
    Some(format!("{}: {}", case.what, bad.join("; ")))
}

#[test]
fn a_hundred_bad_configurations_each_refused_with_its_exact_message() {
    require_root!();
    let cases = cases();
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.what.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "two cases share a name");
    let mem = memory_mib();
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c, mem)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} bad configurations mishandled:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_reader_expands_repeats_and_bytes() {
    assert_eq!(expand("a{x*3}b{a *2}{base}"), "axxxba a {base}");
    assert_eq!(raw_bytes("a<NUL>b<xE9><x>"), b"a\0b\xe9<x>".to_vec());
}
