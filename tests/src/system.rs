//! Tests that change the machine itself (a Debian package installed, files
//! under /usr/local and /etc): one at a time, each restoring the machine on
//! failure too, and the original overlay-boot 1.6.4 fetched at test time
//! (never committed), as bench/boot-bench does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::Scratch;

/// Held by every test that installs something system-wide.
static SYSTEM: Mutex<()> = Mutex::new(());

pub fn lock() -> MutexGuard<'static, ()> {
    SYSTEM.lock().unwrap_or_else(|e| e.into_inner())
}

/// The repository's top directory.
pub fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repository top")
}

/// Runs `cmd`; (exit code, stdout and stderr together).
pub fn output(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("run command");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// The dpkg state of `pkg` ("installed", "config-files", ...), None when
/// dpkg does not know it.
pub fn dpkg_state(pkg: &str) -> Option<String> {
    let (code, text) =
        output(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Status}", pkg]));
    (code == 0 && !text.trim().is_empty() && text.trim() != "not-installed")
        .then(|| text.trim().to_string())
}

/// How long dpkg and apt may wait for the package database's lock, which
/// anything else on the machine may hold for a while (an apt-get install).
pub const DPKG_LOCK: Duration = Duration::from_secs(300);

/// `dpkg ARGS`, tried again while the database is locked by another
/// process (dpkg has no lock timeout of its own); (exit code, output).
pub fn dpkg(args: &[&str]) -> (i32, String) {
    let deadline = Instant::now() + DPKG_LOCK;
    loop {
        let (code, text) = output(
            Command::new("dpkg")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        );
        let locked = code == 2 && text.contains("lock");
        if !locked || Instant::now() >= deadline {
            return (code, text);
        }
        // No event to wait on: another process's lock.
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Purges the packages (when dpkg knows them) when dropped: the machine
/// is restored whatever the test did.
pub struct Purge(pub &'static [&'static str]);

impl Drop for Purge {
    fn drop(&mut self) {
        for pkg in self.0 {
            if dpkg_state(pkg).is_some() {
                let (code, text) = dpkg(&["--purge", "--force-depends", pkg]);
                if code != 0 {
                    eprintln!("dpkg --purge {pkg}: {text}");
                }
            }
        }
    }
}

/// Builds our package into `dir` from the release binaries under test.
pub fn build_deb(dir: &Path) -> PathBuf {
    let (code, text) = output(
        Command::new(top().join("pkg/deb"))
            .arg(dir)
            .env("LAUNCHER_BIN", crate::bin("overlay-boot"))
            .env("SUBINIT_BIN", crate::bin("subinit")),
    );
    assert_eq!(code, 0, "pkg/deb failed: {text}");
    PathBuf::from(text.lines().last().expect("pkg/deb printed the path"))
}

/// The original overlay-boot 1.6.4 .deb, downloaded with apt from Debian
/// into `scratch` (as bench/boot-bench does); None when apt cannot get it.
pub fn original_deb(scratch: &Scratch) -> Option<PathBuf> {
    let apt = scratch.join("apt");
    for d in ["lists/partial", "cache/archives/partial"] {
        std::fs::create_dir_all(apt.join(d)).expect("apt dirs");
    }
    let list = scratch.write(
        "apt/sources.list",
        "deb http://deb.debian.org/debian sid main\n",
        0o644,
    );
    let opts = [
        format!("Dir::Etc::SourceList={}", list.display()),
        "Dir::Etc::SourceParts=/dev/null".to_string(),
        format!("Dir::State::Lists={}", apt.join("lists").display()),
        format!("Dir::Cache={}", apt.join("cache").display()),
        "APT::Sandbox::User=root".to_string(),
    ];
    let apt_get = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.arg("-q").current_dir(&scratch.path);
        for o in &opts {
            cmd.arg("-o").arg(o);
        }
        output(cmd.args(args))
    };
    let (code, text) = apt_get(&["update"]);
    if code != 0 {
        eprintln!("apt-get update: {text}");
        return None;
    }
    let (code, text) = apt_get(&["download", "overlay-boot"]);
    if code != 0 {
        eprintln!("apt-get download overlay-boot: {text}");
        return None;
    }
    std::fs::read_dir(&scratch.path)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("overlay-boot_") && n.ends_with(".deb"))
        })
}
