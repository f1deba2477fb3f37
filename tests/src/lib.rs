//! Helpers shared by the end-to-end tests: privilege gating, the binaries
//! under test, scratch directories and processes with cleanup guards, and
//! waiting on a condition with a deadline.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub mod debootstrap;
pub mod pid1;
pub mod rootfs;
pub mod subhost;
pub mod system;
pub mod user;

/// Prefix of every object a test creates (names, directories, netns), so the
/// suite's final leak check can find anything left behind.
pub const PREFIX: &str = "obt";

/// Skips the test (returns early) when not root, saying why; under CI
/// (`CI` set to anything but empty or `false`) a missing privilege is a failure.
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::is_root() {
            if $crate::in_ci() {
                panic!("this test needs root, and CI must run it as root");
            }
            eprintln!("SKIP: needs root");
            return;
        }
    };
}

/// Says that a test skips (for a missing kernel feature) and why: on stderr,
/// and appended to the file named by `OB_SKIP_LOG` (`make test` prints it
/// at the end, since cargo hides a passing test's output).
pub fn note_skip(reason: &str) {
    eprintln!("SKIP: {reason}");
    if let Some(path) = std::env::var_os("OB_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(f, "SKIP: {reason}");
        }
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn in_ci() -> bool {
    matches!(std::env::var("CI"), Ok(v) if !v.is_empty() && v != "false")
}

/// Directory of the release binaries under test (`OB_BIN_DIR` overrides).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OB_BIN_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/x86_64-unknown-linux-musl/release")
        .canonicalize()
        .expect("release binaries not built: run `make build` first")
}

/// The subinit under test: static musl, built apart from the launcher
/// (`OB_SUBINIT`, which the Makefile exports, overrides).
pub fn subinit_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("OB_SUBINIT") {
        return PathBuf::from(path);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/x86_64-unknown-linux-musl/release/subinit")
}

/// A release binary under test; `subinit` is [`subinit_bin`].
pub fn bin(name: &str) -> PathBuf {
    let path = match name {
        "subinit" => subinit_bin(),
        _ => bin_dir().join(name),
    };
    assert!(
        path.exists(),
        "{} missing: run `make build` first",
        path.display()
    );
    path
}

/// A name unique to this test process and call, starting with `PREFIX`.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{PREFIX}{tag}{}{n}", std::process::id() % 1000)
}

/// A scratch directory removed (with everything mounted under it detached
/// first) when dropped, on failure too.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let path = std::env::temp_dir().join(unique_name(tag));
        fs::create_dir_all(&path).expect("create scratch directory");
        Scratch { path }
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// Writes `text` to `rel` (parents created) with the given mode.
    pub fn write(&self, rel: impl AsRef<Path>, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent directory");
        }
        fs::write(&path, text).expect("write file");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        detach_mounts_under(&self.path);
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Lazily unmounts every mount point at or below `dir` in this mount namespace.
pub fn detach_mounts_under(dir: &Path) {
    let Ok(table) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<&str> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| Path::new(point).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A child process killed (its whole process group too) and reaped when dropped.
pub struct ChildGuard {
    pub child: Child,
}

impl ChildGuard {
    /// Spawns `cmd` in a process group of its own.
    pub fn spawn(cmd: &mut Command) -> ChildGuard {
        use std::os::unix::process::CommandExt;
        let child = cmd.process_group(0).spawn().expect("spawn child");
        ChildGuard { child }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Waits up to `timeout` for the child to exit and returns its status.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut status = None;
        wait_for(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(-(self.child.id() as i32)), Signal::SIGKILL);
            let _ = kill(self.pid(), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Polls `cond` until it holds or `timeout` passes; true if it held.
/// Used only where no event can be waited on (a file appearing, a process
/// table changing); every call has a deadline.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs a command to completion and returns (status code, stdout, stderr).
pub fn run<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> (i32, String, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .expect("run command");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
