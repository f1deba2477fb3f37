//! A real unprivileged host user for the trust-boundary tests: created with
//! useradd (no home, no login shell), removed with userdel when dropped, on
//! failure too. Commands run as the user through setpriv.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::unique_name;

/// How long to retry useradd/userdel while another test holds the lock on
/// /etc/passwd.
const LOCKED: Duration = Duration::from_secs(30);

pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl User {
    /// A new system user `obt<tag>…` with a group of its own.
    pub fn new(tag: &str) -> User {
        let name = unique_name(tag);
        let args = ["-r", "-M", "-U", "-s", "/usr/sbin/nologin", &name];
        retry("useradd", &args);
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().expect("id");
            let text = String::from_utf8_lossy(&out.stdout);
            text.trim().parse().expect("numeric id")
        };
        let (uid, gid) = (id("-u"), id("-g"));
        assert_ne!(uid, 0, "useradd gave uid 0");
        User { name, uid, gid }
    }

    /// Runs `script` with /bin/sh as this user (no other groups); exit
    /// status, stdout, stderr.
    pub fn sh(&self, script: &str) -> (i32, String, String) {
        let out = Command::new("setpriv")
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .args(["--clear-groups", "--", "/bin/sh", "-c", script])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir("/")
            .output()
            .expect("run setpriv");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Starts `script` as this user in the background, stdout piped; the
    /// guard kills and reaps it (drop it before the user).
    pub fn spawn(&self, script: &str) -> crate::ChildGuard {
        crate::ChildGuard::spawn(
            Command::new("setpriv")
                .arg(format!("--reuid={}", self.uid))
                .arg(format!("--regid={}", self.gid))
                .args(["--clear-groups", "--", "/bin/sh", "-c", script])
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .current_dir("/")
                .stdout(std::process::Stdio::piped()),
        )
    }

    /// As [`User::sh`], and asserts that it succeeded.
    pub fn sh_ok(&self, script: &str) -> String {
        let (code, out, err) = self.sh(script);
        assert_eq!(code, 0, "as {}: {script}: {err}", self.name);
        out
    }
}

impl Drop for User {
    fn drop(&mut self) {
        // Every command of the user's was waited for: none still runs.
        retry("userdel", &[self.name.as_str()]);
    }
}

/// Runs useradd or userdel; retries while /etc/passwd is locked (exit 10
/// for userdel, 1 for useradd: "cannot lock"), panics on another failure
/// unless already panicking.
fn retry(tool: &str, args: &[&str]) {
    let deadline = Instant::now() + LOCKED;
    loop {
        let out = Command::new(tool)
            .args(args)
            .output()
            .expect("run useradd/userdel");
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("lock") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if !std::thread::panicking() {
            panic!("{tool} {args:?}: {err}");
        }
        return;
    }
}
