//! A subhost under test: a configuration file and a BASE layout in a
//! scratch directory, booted, entered and stopped with the real launcher
//! (`overlay-boot`, called as `overlay-stop` and `overlay-go` through
//! argv[0]), with the release subinit as PID 1.
//!
//! The guard's Drop runs `overlay-stop` when anything of the subhost is
//! still there and, if that leaves anything, removes it by hand (kills PID 1
//! and the monitor, deletes the netns, the cgroup and the run state). A test
//! must still fail when the launcher leaves things: tests call
//! [`Subhost::assert_gone`] after each stop, and Drop panics (unless the test
//! is already failing) when it had to remove anything by hand.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{bin, rootfs, unique_name, wait_for, ChildGuard, Scratch};

/// Deadlines for the launcher's commands (a hang is a failure, not a wait).
pub const BOOT: Duration = Duration::from_secs(30);
pub const STOP: Duration = Duration::from_secs(40);
pub const GO: Duration = Duration::from_secs(30);

/// Where the launcher keeps each subhost's run state.
pub const RUN_DIR: &str = "/run/overlay-boot";

/// What a finished command gave: exit code (-1 when killed or timed out),
/// standard output and standard error.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub command: String,
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout\n{}--- stderr\n{}---",
            self.command, self.code, self.out, self.err
        )
    }
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// Runs the launcher as `tool` (its argv[0]: overlay-boot, overlay-stop,
/// overlay-go) with `args`, output into files under `dir` (a boot leaves a
/// monitor behind, which must not hold a pipe of ours), killed after
/// `timeout`. Never panics on the command's behaviour.
pub fn launcher<S: AsRef<OsStr>>(tool: &str, args: &[S], dir: &Path, timeout: Duration) -> Outcome {
    let mut cmd = Command::new(bin("overlay-boot"));
    cmd.arg0(tool)
        .args(args)
        .env("OVERLAY_BOOT_SUBINIT", bin("subinit"));
    let command = std::iter::once(tool.to_string())
        .chain(
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned()),
        )
        .collect::<Vec<_>>()
        .join(" ");
    run_captured(&mut cmd, command, dir, timeout)
}

/// Runs `cmd` with stdin from /dev/null and its output in files under `dir`.
pub fn run_captured(cmd: &mut Command, command: String, dir: &Path, timeout: Duration) -> Outcome {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.join(format!(".cmd{n}.out"));
    let err_path = dir.join(format!(".cmd{n}.err"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create stdout file"))
        .stderr(File::create(&err_path).expect("create stderr file"));
    let mut child = ChildGuard::spawn(cmd);
    let status = child.wait_timeout(timeout);
    drop(child);
    let out = fs::read_to_string(&out_path).unwrap_or_default();
    let mut err = fs::read_to_string(&err_path).unwrap_or_default();
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    let code = match status {
        Some(s) => s.code().unwrap_or(-1),
        None => {
            err.push_str(&format!("\n[test: killed after {timeout:?}]\n"));
            -1
        }
    };
    Outcome {
        command,
        code,
        out,
        err,
    }
}

/// The cgroup v2 mount point of the host (`/sys/fs/cgroup/unified` here).
pub fn cgroup2_root() -> Option<PathBuf> {
    let table = fs::read_to_string("/proc/self/mountinfo").ok()?;
    table.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split(' ').next() != Some("cgroup2") {
            return None;
        }
        Some(PathBuf::from(unescape(left.split(' ').nth(4)?)))
    })
}

/// The cgroup v1 hierarchies' mount points (hybrid or v1 hosts).
pub fn cgroup1_roots() -> Vec<PathBuf> {
    let table = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    table
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            if right.split(' ').next() != Some("cgroup") {
                return None;
            }
            Some(PathBuf::from(unescape(left.split(' ').nth(4)?)))
        })
        .collect()
}

/// A mountinfo path with its octal escapes (`\040` for a blank) decoded.
pub fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(c as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One line of a mountinfo table, the parts the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub point: PathBuf,
    pub fstype: String,
    pub source: String,
    pub line: String,
}

pub fn mounts_of(mountinfo: &str) -> Vec<MountEntry> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = PathBuf::from(unescape(left.split(' ').nth(4)?));
            let mut r = right.split(' ');
            let fstype = r.next()?.to_string();
            let source = unescape(r.next()?);
            Some(MountEntry {
                point,
                fstype,
                source,
                line: line.to_string(),
            })
        })
        .collect()
}

/// The host's mount table as this (the test's) process sees it.
pub fn host_mounts() -> Vec<MountEntry> {
    mounts_of(&fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo"))
}

/// Host-side interfaces (in the test's network namespace).
pub fn interfaces() -> Vec<String> {
    let (_, out, _) = crate::run("ip", &["-o", "link", "show"]);
    out.lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// Interfaces that the subhost `name` would have on the host: `NAMEn`, `NAMEn.t`.
pub fn interfaces_of(name: &str) -> Vec<String> {
    interfaces()
        .into_iter()
        .filter(|i| {
            i.strip_prefix(name).is_some_and(|rest| {
                !rest.is_empty()
                    && rest.chars().next().is_some_and(|c| c.is_ascii_digit())
                    && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
            })
        })
        .collect()
}

/// Field `n` (1-based, as in proc(5)) of /proc/PID/stat.
pub fn stat_field(pid: Pid, n: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(n.checked_sub(3)?).map(str::to_string)
}

pub fn parent_of(pid: Pid) -> Option<Pid> {
    stat_field(pid, 4)?.parse().ok().map(Pid::from_raw)
}

/// A process identity that survives pid reuse: pid plus start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: Pid,
    pub start: u64,
}

impl Proc {
    pub fn of(pid: Pid) -> Option<Proc> {
        let start = stat_field(pid, 22)?.parse().ok()?;
        Some(Proc { pid, start })
    }

    /// Still running. A zombie has ended: it only waits for its reaper
    /// (for an orphaned monitor, the host's init), which the launcher does
    /// not control.
    pub fn alive(&self) -> bool {
        Proc::of(self.pid) == Some(*self) && stat_field(self.pid, 3).as_deref() != Some("Z")
    }

    pub fn kill9(&self) {
        if self.alive() {
            let _ = kill(self.pid, Signal::SIGKILL);
        }
    }
}

/// The namespace link `/proc/PID/ns/KIND` (e.g. `pid:[4026532]`).
pub fn ns_of(pid: Pid, kind: &str) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok()
}

/// Every process whose namespace `kind` is `ns`.
pub fn procs_in_ns(kind: &str, ns: &Path) -> Vec<Pid> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .filter(|p| ns_of(*p, kind).as_deref() == Some(ns))
        .collect()
}

/// A namespace held open by the test, so that its inode number (what
/// `/proc/PID/ns/*` shows) cannot be reused by another namespace while the
/// test compares against it: a freed namespace's number comes back for the
/// next one made, often another subhost's.
#[derive(Debug, Clone)]
pub struct HeldNs {
    pub link: PathBuf,
    _fd: Arc<File>,
}

impl HeldNs {
    /// Holds the namespace `kind` of `pid`, unless it is the test's own.
    pub fn of(pid: Pid, kind: &str) -> Option<HeldNs> {
        let fd = File::open(format!("/proc/{pid}/ns/{kind}")).ok()?;
        let link = ns_of(pid, kind)?;
        if Some(&link) == ns_of(nix::unistd::getpid(), kind).as_ref() {
            return None;
        }
        // The process may have died between open and readlink.
        let held = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        (held == link).then(|| HeldNs {
            link,
            _fd: Arc::new(fd),
        })
    }

    /// The processes in this namespace that have not ended (a zombie only
    /// waits for its reaper, the host's init once its parent is gone).
    pub fn members(&self, kind: &str) -> Vec<Pid> {
        procs_in_ns(kind, &self.link)
            .into_iter()
            .filter(|p| stat_field(*p, 3).as_deref() != Some("Z"))
            .collect()
    }
}

/// What was learnt about a booted subhost on the host.
#[derive(Debug, Clone)]
pub struct Booted {
    pub pid1: Proc,
    pub monitor: Option<Proc>,
    /// PID 1's pid namespace, held (a pid namespace holds no mounts).
    pub pid_ns: Option<HeldNs>,
}

/// A subhost with its scratch directory; see the module documentation.
pub struct Subhost {
    pub scratch: Scratch,
    /// BASE (`scratch/base`), holding work, root (UPPER) and live.
    pub base: PathBuf,
    pub conf: PathBuf,
    /// The NAME the launcher should use.
    pub name: String,
    /// The LOG the launcher should use.
    pub log: PathBuf,
    pub upper: PathBuf,
    pub live: PathBuf,
    /// The LOWER, when it is a fixture (None: the host's root).
    pub lower: Option<PathBuf>,
    /// The last successful boot's findings.
    pub booted: Option<Booted>,
    lines: Vec<String>,
    host_mounts: Vec<PathBuf>,
    extra_logs: Vec<PathBuf>,
}

impl Subhost {
    /// The man page's minimal example: `mkdir -p BASE/{work,root,live}`,
    /// `echo BASE=. > BASE/NAME.conf`; LOWER is the host's root.
    /// `tag` is at most 4 characters (NAME has at most 12).
    pub fn new(tag: &str) -> Subhost {
        let name = unique_name(tag);
        assert!(
            name.len() <= 12,
            "subhost name {name} too long: shorten the tag"
        );
        let scratch = Scratch::new(tag);
        let base = scratch.join("base");
        for dir in ["work", "root", "live"] {
            fs::create_dir_all(base.join(dir)).expect("create BASE layout");
        }
        let log = PathBuf::from(format!("/tmp/oly-{name}.log"));
        let _ = fs::remove_file(&log);
        let sh = Subhost {
            conf: base.join(format!("{name}.conf")),
            upper: base.join("root"),
            live: base.join("live"),
            base,
            scratch,
            name,
            log,
            lower: None,
            booted: None,
            lines: vec!["BASE=.".to_string()],
            host_mounts: Vec::new(),
            extra_logs: Vec::new(),
        };
        sh.write_conf();
        sh
    }

    /// The man page's tiny example: the busybox root (see [`rootfs`]) in
    /// `BASE/lower`, used as `LOWER=lower`.
    pub fn busybox(tag: &str) -> Subhost {
        let mut sh = Subhost::new(tag);
        let lower = rootfs::busybox(&sh.base.join("lower"));
        sh.lower = Some(lower);
        sh.line("LOWER=lower")
    }

    /// Appends `line` to the configuration file.
    pub fn line(mut self, line: &str) -> Subhost {
        self.lines.push(line.to_string());
        self.write_conf();
        self
    }

    /// Replaces the whole configuration file.
    pub fn set_conf(&mut self, text: &str) {
        self.lines = text.lines().map(str::to_string).collect();
        self.write_conf();
    }

    fn write_conf(&self) {
        let mut text = self.lines.join("\n");
        text.push('\n');
        fs::write(&self.conf, text).expect("write configuration");
    }

    /// A log file the test expects the subhost to write (removed at the end).
    pub fn expect_log(&mut self, log: PathBuf) {
        self.extra_logs.push(self.log.clone());
        self.log = log;
    }

    /// Writes `rel` under UPPER (parents created) with `mode`.
    pub fn write_upper(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.upper.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("create parent in UPPER");
        fs::write(&path, text).expect("write into UPPER");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod in UPPER");
        path
    }

    /// Bind-mounts `src` on `dst` in the host's mount namespace (visible to
    /// the launcher); undone by Drop.
    pub fn bind_on_host(&mut self, src: &Path, dst: &Path) {
        nix::mount::mount(
            Some(src),
            dst,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .expect("bind mount on the host");
        self.host_mounts.push(dst.to_path_buf());
    }

    /// Tells the guard that `point`, a host mount under the scratch
    /// directory, is the test's own (not a leftover); undone by Drop.
    pub fn adopt_host_mount(&mut self, point: PathBuf) {
        self.host_mounts.push(point);
    }

    /// `overlay-boot --session CONF sh -c SCRIPT`, stdin empty, given
    /// `timeout` to end.
    pub fn session_sh(&self, script: &str, timeout: Duration) -> Outcome {
        let args: [&OsStr; 5] = [
            "--session".as_ref(),
            self.conf.as_os_str(),
            "sh".as_ref(),
            "-c".as_ref(),
            script.as_ref(),
        ];
        self.tool("overlay-boot", &args, timeout)
    }

    pub fn tool<S: AsRef<OsStr>>(&self, tool: &str, args: &[S], timeout: Duration) -> Outcome {
        launcher(tool, args, &self.scratch.path, timeout)
    }

    /// `overlay-boot CONF`; on success records PID 1 and the monitor.
    pub fn boot(&mut self) -> Outcome {
        let out = self.tool("overlay-boot", &[&self.conf], BOOT);
        if out.ok() {
            if let Some(pid) = self.ready_pid(&out.out) {
                self.record(pid);
            }
        }
        out
    }

    /// Boots and asserts the one ready line: `NAME ready: pid PID, log LOG`.
    pub fn boot_ok(&mut self) -> Pid {
        let out = self.boot();
        assert!(out.ok(), "boot failed: {out}\nlog:\n{}", self.log_text());
        let pid = self.ready_pid(&out.out).unwrap_or_else(|| {
            panic!(
                "no ready line `{} ready: pid PID, log {}`: {out}",
                self.name,
                self.log.display()
            )
        });
        assert_eq!(
            out.out.lines().count(),
            1,
            "boot printed more than the ready line: {out}"
        );
        pid
    }

    /// PID from `NAME ready: pid PID, log LOG` (LOG must be the expected one).
    fn ready_pid(&self, stdout: &str) -> Option<Pid> {
        let line = stdout.lines().find(|l| l.contains(" ready: pid "))?;
        let rest = line.strip_prefix(&format!("{} ready: pid ", self.name))?;
        let (pid, log) = rest.split_once(", log ")?;
        (Path::new(log.trim()) == self.log).then_some(())?;
        pid.trim().parse().ok().map(Pid::from_raw)
    }

    /// Records PID 1 (and its parent, the monitor) for the leftover checks;
    /// `boot` does it from the ready line.
    pub fn record(&mut self, pid: Pid) {
        let Some(pid1) = Proc::of(pid) else {
            return;
        };
        let monitor = parent_of(pid).and_then(Proc::of);
        self.booted = Some(Booted {
            pid1,
            monitor,
            pid_ns: HeldNs::of(pid, "pid"),
        });
    }

    /// PID 1's host pid (the subhost must have been booted).
    pub fn pid1(&self) -> Pid {
        self.booted.as_ref().expect("subhost not booted").pid1.pid
    }

    /// The monitor: PID 1's parent on the host.
    pub fn monitor(&self) -> Proc {
        self.booted
            .as_ref()
            .expect("subhost not booted")
            .monitor
            .expect("PID 1 had no parent on the host")
    }

    pub fn run_dir(&self) -> PathBuf {
        Path::new(RUN_DIR).join(&self.name)
    }

    pub fn netns(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    pub fn cgroup(&self) -> Option<PathBuf> {
        cgroup2_root().map(|root| root.join(&self.name))
    }

    /// The subhost's cgroup directories in the v1 hierarchies (made or not).
    pub fn cgroups_v1(&self) -> Vec<PathBuf> {
        cgroup1_roots()
            .into_iter()
            .map(|r| r.join(&self.name))
            .collect()
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `overlay-go NAME ARGS…`.
    pub fn go<S: AsRef<OsStr>>(&self, args: &[S]) -> Outcome {
        let mut all: Vec<&OsStr> = vec![OsStr::new(&self.name)];
        all.extend(args.iter().map(|a| a.as_ref()));
        self.tool("overlay-go", &all, GO)
    }

    /// `overlay-go NAME ARGS…`, asserting exit 0; returns its stdout.
    pub fn go_ok<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.go(args);
        assert!(out.ok(), "{out}\nlog:\n{}", self.log_text());
        out.out
    }

    /// Runs a shell command line inside (`overlay-go NAME sh -c SCRIPT`).
    pub fn sh(&self, script: &str) -> String {
        self.go_ok(&["sh", "-c", script])
    }

    /// `stat -c pty=UID:GID:MODE` of the pty an overlay-go command gets
    /// when the caller is on a terminal (script(1) gives it one); the
    /// output with the NUL bytes the relay may send first removed.
    pub fn pty_of_go_on_a_terminal(&self) -> String {
        let go = format!(
            "exec -a overlay-go {} {} sh -c 'stat -c \"pty=%u:%g:%a\" $(tty)'",
            crate::bin("overlay-boot").display(),
            self.name
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qec", go.as_str(), "/dev/null"])
            .env("SHELL", "/bin/bash")
            .env("OVERLAY_BOOT_SUBINIT", crate::bin("subinit"));
        let out = run_captured(&mut cmd, go, &self.scratch.path, GO);
        assert!(out.ok(), "{out}");
        // Why NULs: script(1) meets the end of its stdin (/dev/null) at
        // once and writes VEOF to its pty; read by the canonical line
        // discipline, that is a NUL once the relay's raw mode is on, and
        // the relay passes the byte on (the pty inside echoes it as ^@).
        out.out.replace('\0', "")
    }

    /// Copies the repository's services.d-example into UPPER, at the
    /// default SERVICES directory.
    pub fn add_services_example(&self) {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../services.d-example");
        let target = self.upper.join("etc/overlay-boot/services.d");
        fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        let (code, _, err) = crate::run(
            "cp",
            &["-a".as_ref(), example.as_os_str(), target.as_os_str()],
        );
        assert_eq!(code, 0, "cp the services example: {err}");
    }

    /// Stops the subhost (gracefully) and checks that the services
    /// example's scripts were stopped by their own `stop`.
    pub fn stop_services_example(&mut self) {
        self.stop_ok();
        assert!(
            self.log_text().contains("10-syslog stop: done"),
            "{}",
            self.log_text()
        );
    }

    /// The services example runs inside: its syslog socket is there and
    /// its HTTP page answers. `what` names the case in a failure.
    pub fn assert_services_example_runs(&self, what: &str) {
        let socket = self.sh("[ -S /dev/log ] && echo socket");
        assert_eq!(socket.trim(), "socket", "{what}: {}", self.log_text());
        let page = self.example_page();
        assert!(
            page.contains("Hello from subhost"),
            "{what}: {page}\n{}",
            self.log_text()
        );
    }

    /// The services example's HTTP page from inside, waited for (up to
    /// 10 s): the subhost is ready before 20-httpd's run script has exec'd
    /// httpd and it listens. The last answer, or "no answer".
    pub fn example_page(&self) -> String {
        let mut page = String::new();
        crate::wait_for(Duration::from_secs(10), || {
            page = self.sh("busybox wget -q -O - http://127.0.0.1:8080/ || echo no answer");
            page.contains("Hello from subhost")
        });
        page
    }

    /// `overlay-stop CONF`.
    pub fn stop(&mut self) -> Outcome {
        self.tool("overlay-stop", &[&self.conf], STOP)
    }

    /// Stops, asserting exit 0 and that nothing of the subhost remains.
    pub fn stop_ok(&mut self) {
        let out = self.stop();
        assert!(out.ok(), "stop failed: {out}\nlog:\n{}", self.log_text());
        self.assert_gone();
    }

    /// Everything of the subhost still on the host, each described.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for path in [self.netns(), self.run_dir()] {
            if path.symlink_metadata().is_ok() {
                left.push(format!("{} exists", path.display()));
            }
        }
        for cg in self.cgroup().into_iter().chain(self.cgroups_v1()) {
            if cg.exists() {
                left.push(format!("cgroup {} exists", cg.display()));
            }
        }
        for i in interfaces_of(&self.name) {
            left.push(format!("interface {i}"));
        }
        for m in host_mounts() {
            let ours = self.host_mounts.contains(&m.point);
            let under = m.point.starts_with(&self.scratch.path) && !ours;
            let named = m.source == self.name && m.fstype == "overlay";
            let netns = m.point == self.netns();
            if under || named || netns {
                left.push(format!("host mount: {}", m.line));
            }
        }
        if let Some(b) = &self.booted {
            if b.pid1.alive() {
                left.push(format!("PID 1 (host pid {}) alive", b.pid1.pid));
            }
            if let Some(m) = b.monitor.filter(Proc::alive) {
                left.push(format!("monitor (pid {}) alive", m.pid));
            }
            if let Some(ns) = &b.pid_ns {
                for p in ns.members("pid") {
                    left.push(format!(
                        "process {p} in the subhost's pid namespace ({}): {}",
                        ns.link.display(),
                        cmdline(p)
                    ));
                }
            }
        }
        left.sort();
        left.dedup();
        left
    }

    /// Fails the test when anything of the subhost is left on the host.
    pub fn assert_gone(&self) {
        let left = self.leftovers();
        assert!(
            left.is_empty(),
            "{} left behind:\n  {}\nlog:\n{}",
            self.name,
            left.join("\n  "),
            self.log_text()
        );
    }

    /// Waits up to `timeout` for nothing of the subhost to be left.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        wait_for(timeout, || self.leftovers().is_empty())
    }

    /// Removes by hand what is left: processes, cgroup, netns, interfaces,
    /// host mounts named after the subhost, run state.
    fn remove_by_hand(&self) {
        let mut procs: Vec<Pid> = Vec::new();
        if let Some(b) = &self.booted {
            for p in [Some(b.pid1), b.monitor].into_iter().flatten() {
                if p.alive() {
                    procs.push(p.pid);
                }
            }
            if let Some(ns) = &b.pid_ns {
                procs.extend(ns.members("pid"));
            }
        }
        for pid in ["pid", "monitor"]
            .iter()
            .filter_map(|f| fs::read_to_string(self.run_dir().join(f)).ok())
            .filter_map(|t| t.trim().parse().ok())
            .map(Pid::from_raw)
        {
            // Only our processes: the subinit of this NAME, or a launcher
            // working on this configuration file.
            let cmd = cmdline(pid);
            let conf = format!(" {} ", self.conf.display());
            if cmd.starts_with(&format!("subinit --name {} ", self.name))
                || (cmd.starts_with("overlay-") && cmd.contains(&conf))
            {
                procs.push(pid);
            }
        }
        if let Some(cg) = self.cgroup() {
            let _ = fs::write(cg.join("cgroup.kill"), "1");
            procs.extend(
                fs::read_to_string(cg.join("cgroup.procs"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .map(Pid::from_raw),
            );
        }
        for cg in self.cgroups_v1() {
            procs.extend(
                fs::read_to_string(cg.join("cgroup.procs"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .map(Pid::from_raw),
            );
        }
        for pid in &procs {
            let _ = kill(*pid, Signal::SIGKILL);
        }
        wait_for(Duration::from_secs(10), || {
            procs
                .iter()
                .all(|p| kill(*p, None).is_err() || stat_field(*p, 3).as_deref() == Some("Z"))
        });
        for cg in self.cgroup().into_iter().chain(self.cgroups_v1()) {
            if cg.exists() {
                wait_for(Duration::from_secs(10), || {
                    fs::remove_dir(&cg).is_ok() || !cg.exists()
                });
            }
        }
        for i in interfaces_of(&self.name) {
            let _ = crate::run("ip", &["link", "del", &i]);
        }
        if self.netns().symlink_metadata().is_ok() {
            let _ = crate::run("ip", &["netns", "del", &self.name]);
            let _ = nix::mount::umount2(&self.netns(), nix::mount::MntFlags::MNT_DETACH);
            let _ = fs::remove_file(self.netns());
        }
        for m in host_mounts() {
            if (m.source == self.name && m.fstype == "overlay") || m.point.starts_with(&self.live) {
                let _ = nix::mount::umount2(&m.point, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = fs::remove_dir_all(self.run_dir());
    }
}

/// A process's command line, arguments joined by blanks.
pub fn cmdline(pid: Pid) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
                + " "
        })
        .unwrap_or_default()
}

impl Drop for Subhost {
    fn drop(&mut self) {
        let mut by_hand = Vec::new();
        if !self.leftovers().is_empty() {
            let _ = self.stop();
            by_hand = self.leftovers();
            if !by_hand.is_empty() {
                self.remove_by_hand();
            }
        }
        for point in self.host_mounts.iter().rev() {
            let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
        }
        for log in self.extra_logs.iter().chain([&self.log]) {
            // Only a regular file the boot wrote: never /dev/null or a plant.
            let regular = fs::symlink_metadata(log).is_ok_and(|m| m.is_file());
            if !log.starts_with(&self.scratch.path) && regular {
                let _ = fs::remove_file(log);
                // The previous boot's log, kept by the launcher.
                let mut old = log.as_os_str().to_owned();
                old.push(".1");
                let _ = fs::remove_file(old);
            }
        }
        let _ = fs::remove_file(format!("/tmp/oly-{}.log", self.name));
        let old = format!("/tmp/oly-{}.log.1", self.name);
        if fs::symlink_metadata(&old).is_ok_and(|m| m.is_file()) {
            let _ = fs::remove_file(old);
        }
        if !by_hand.is_empty() && !std::thread::panicking() {
            panic!(
                "{}: overlay-stop left these behind; removed by hand:\n  {}\nconf {}:\n{}",
                self.name,
                by_hand.join("\n  "),
                self.conf.display(),
                fs::read_to_string(&self.conf).unwrap_or_default()
            );
        }
    }
}
