//! Issue 11, item 5: a stale run directory authorises nothing by itself.
//! A boot or stop that finds one reclaims only what its record proves is
//! ours (the netns's inode, the cgroups' inodes, PID 1's pid with its start
//! time); a netns, cgroup or process of that NAME that is someone else's
//! is left alone and the boot is refused (exit 1, naming it). A real stale
//! state (monitor and PID 1 killed) is still reclaimed, and a lock-only
//! directory is cleaned by the next stop or boot.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e::subhost::{cgroup1_roots, cgroup2_root, Subhost, RUN_DIR};
use e2e::{require_root, run, wait_for};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Someone else's objects under a subhost's NAME: `ip netns add NAME`, a
/// cgroup NAME in cgroup2 and in every v1 hierarchy, and a `sleep` in
/// them. Removed when dropped (declare it after the Subhost, so that it
/// goes first).
struct Foreign {
    name: String,
    sleep: Child,
    cgroups: Vec<PathBuf>,
}

impl Foreign {
    fn make(name: &str) -> Foreign {
        let sleep = Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        let mut f = Foreign {
            name: name.to_string(),
            sleep,
            cgroups: Vec::new(),
        };
        let (code, _, err) = run("ip", &["netns", "add", name]);
        assert_eq!(code, 0, "ip netns add {name}: {err}");
        let pid = f.sleep.id().to_string();
        for root in cgroup2_root().into_iter().chain(cgroup1_roots()) {
            let dir = root.join(name);
            fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
            f.cgroups.push(dir.clone());
            // cpuset wants its cpus and mems first: the sleep stays out of it.
            let _ = fs::write(dir.join("cgroup.procs"), &pid);
        }
        assert!(!f.cgroups.is_empty(), "no cgroup hierarchy mounted");
        f
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.sleep.id() as i32)
    }

    fn alive(&mut self) -> bool {
        matches!(self.sleep.try_wait(), Ok(None))
    }

    fn netns_id(&self) -> (u64, u64) {
        let m = fs::metadata(Path::new("/run/netns").join(&self.name)).expect("stat netns");
        (m.dev(), m.ino())
    }

    /// The sleep's start time (field 22 of /proc/PID/stat).
    fn start_time(&self) -> String {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        let after = stat.rsplit_once(") ").expect("comm").1;
        after.split(' ').nth(19).expect("starttime").to_string()
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = kill(self.pid(), Signal::SIGKILL);
        let _ = self.sleep.wait();
        for dir in &self.cgroups {
            wait_for(Duration::from_secs(10), || {
                fs::remove_dir(dir).is_ok() || !dir.exists()
            });
        }
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// A run directory of NAME as a dead launcher would leave it, with `files`.
fn stale_dir(sh: &Subhost, files: &[(&str, String)]) {
    let dir = sh.run_dir();
    let _ = fs::create_dir(RUN_DIR);
    fs::create_dir(&dir).expect("mkdir run dir");
    for (file, text) in files {
        fs::write(dir.join(file), format!("{text}\n")).expect("write record");
    }
}

/// Boots over the foreign objects: refused (exit 1, naming one of them),
/// and every one is still there, the sleep alive, the netns the same.
fn assert_refused_untouched(sh: &mut Subhost, f: &mut Foreign) {
    let before = f.netns_id();
    let out = sh.boot();
    assert_eq!(out.code, 1, "{out}\nlog:\n{}", sh.log_text());
    assert!(out.err.contains("exists and is not ours"), "{out}");
    assert!(out.err.contains(&sh.name), "{out}");
    assert!(f.alive(), "the foreign sleep was killed: {out}");
    assert_eq!(
        f.netns_id(),
        before,
        "the foreign netns was replaced: {out}"
    );
    for dir in &f.cgroups {
        assert!(dir.exists(), "{} removed: {out}", dir.display());
    }
}

#[test]
fn an_empty_stale_run_directory_destroys_nothing_foreign() {
    require_root!();
    let mut sh = Subhost::new("sfe").line("START=/bin/true");
    let mut f = Foreign::make(&sh.name);
    stale_dir(&sh, &[]);
    assert_refused_untouched(&mut sh, &mut f);
    assert!(!sh.run_dir().exists(), "the stale run directory stayed");
}

#[test]
fn a_stale_record_that_does_not_match_destroys_nothing_foreign() {
    require_root!();
    let mut sh = Subhost::new("sfr").line("START=/bin/true");
    let mut f = Foreign::make(&sh.name);
    let cg = f.cgroups[0].display().to_string();
    stale_dir(
        &sh,
        &[
            ("conf", sh.conf.display().to_string()),
            ("owned", format!("netns 1:1\nmaking {cg}\ncgroup 1:1 {cg}")),
            ("pid", "999999".into()),
            ("pid_start", "1".into()),
            ("monitor", "999998".into()),
            ("started", "1".into()),
            ("stop_timeout", "10".into()),
        ],
    );
    assert_refused_untouched(&mut sh, &mut f);
    assert!(!sh.run_dir().exists(), "the stale run directory stayed");
    // overlay-stop on the same state: refused the same way, nothing killed.
    stale_dir(&sh, &[("conf", sh.conf.display().to_string())]);
    let out = sh.stop();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.err.contains("exists and is not ours"), "{out}");
    assert!(f.alive(), "overlay-stop killed the foreign sleep: {out}");
    assert!(!sh.run_dir().exists(), "the stale run directory stayed");
}

#[test]
fn an_older_builds_record_authorises_no_kill() {
    require_root!();
    let mut sh = Subhost::new("sfo").line("START=/bin/true");
    let mut f = Foreign::make(&sh.name);
    // An older build recorded PID 1 (pid and start time) and no identity:
    // here the foreign sleep stands for it.
    stale_dir(
        &sh,
        &[
            ("conf", sh.conf.display().to_string()),
            ("pid", f.pid().to_string()),
            ("pid_start", f.start_time()),
            ("monitor", "999998".into()),
            ("started", "1".into()),
            ("stop_timeout", "1".into()),
        ],
    );
    assert_refused_untouched(&mut sh, &mut f);
    // Its recorded PID 1 runs: the record stays, for --list and the admin.
    assert!(sh.run_dir().join("pid").exists());
    let out = sh.stop();
    assert_eq!(out.code, 1, "{out}");
    assert!(f.alive(), "overlay-stop killed the process: {out}");
    fs::remove_dir_all(sh.run_dir()).expect("remove the planted record");
}

#[test]
fn a_real_stale_state_is_reclaimed_and_the_next_boot_comes_up() {
    require_root!();
    let mut sh = Subhost::new("sfk").line("START=/bin/true");
    let pid1 = sh.boot_ok();
    let monitor = sh.monitor();
    let first = sh.booted.clone().expect("booted");
    monitor.kill9();
    assert!(wait_for(Duration::from_secs(10), || !monitor.alive()));
    first.pid1.kill9();
    assert!(wait_for(Duration::from_secs(10), || !first.pid1.alive()));
    assert!(sh.run_dir().join("owned").exists(), "no identity record");
    let out = sh.boot();
    assert!(out.ok(), "{out}\nlog:\n{}", sh.log_text());
    assert!(
        out.err
            .contains("cleaning state left by a launcher that died"),
        "{out}"
    );
    assert_ne!(sh.pid1(), pid1);
    sh.stop_ok();
}

#[test]
fn a_lock_only_run_directory_is_cleaned_by_stop_and_by_boot() {
    require_root!();
    let mut sh = Subhost::new("sfl").line("START=/bin/true");
    stale_dir(&sh, &[("lock", String::new())]);
    let out = sh.stop();
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.err
            .contains("removed an empty run directory left by a launcher that died"),
        "{out}"
    );
    assert!(!sh.run_dir().exists());
    stale_dir(&sh, &[("lock", String::new())]);
    sh.boot_ok();
    sh.stop_ok();
}

/// The configuration-file lock of a launcher killed with -9 (an unheld
/// file in `.conf-locks.d`) goes with the next boot of any subhost, even
/// when its own configuration is never booted or stopped again.
#[test]
fn an_unheld_configuration_lock_is_swept_by_the_next_boot() {
    require_root!();
    let mut sh = Subhost::new("scl").line("START=/bin/true");
    let dir = Path::new(RUN_DIR).join(".conf-locks.d");
    fs::create_dir_all(&dir).expect("mkdir .conf-locks.d");
    // A name no real file has (device 0), as a dead launcher would leave it.
    let stale = dir.join(format!("0:{}", std::process::id()));
    let _guard = RemoveFile(stale.clone());
    fs::write(&stale, "999999 1\n").expect("plant a stale lock");
    sh.boot_ok();
    assert!(
        !stale.exists(),
        "the unheld lock {} is still there",
        stale.display()
    );
    sh.stop_ok();
}

/// Removes a file when dropped (on failure too).
struct RemoveFile(PathBuf);

impl Drop for RemoveFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
