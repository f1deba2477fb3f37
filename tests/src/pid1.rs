//! Running the real subinit for a test: as PID 1 of a fresh pid namespace
//! (`unshare --fork --pid --mount-proc --uts`) or as a child subreaper, with
//! a readiness pipe on fd 3 and its log in a file.

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{bin, wait_for, ChildGuard, Scratch};

/// How long a test waits at most for a stopped subinit to exit.
const STOP_DEADLINE: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum As {
    /// PID 1 of a new pid (and uts) namespace.
    Pid1,
    /// A plain child that makes itself a subreaper.
    Subreaper,
}

pub struct Subinit {
    pub guard: ChildGuard,
    /// The subinit's pid as the host sees it.
    pub pid: Pid,
    pub log: PathBuf,
    ready: Option<OwnedFd>,
}

impl Subinit {
    /// Starts the subinit with `args`; its stderr goes to `scratch/subinit.log`.
    pub fn start(how: As, scratch: &Scratch, args: &[&str]) -> Subinit {
        Self::start_with(how, scratch, args, |_| {})
    }

    /// As `start`, letting the caller adjust the command (environment, wrapper).
    pub fn start_with(
        how: As,
        scratch: &Scratch,
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> Subinit {
        Self::start_with_fds(how, scratch, args, Vec::new(), adjust)
    }

    /// As `start_with`, also handing the subinit `fds` as (fd, number in
    /// the child); fd 3 is the readiness pipe.
    pub fn start_with_fds(
        how: As,
        scratch: &Scratch,
        args: &[&str],
        fds: Vec<(OwnedFd, i32)>,
        adjust: impl FnOnce(&mut Command),
    ) -> Subinit {
        let log = scratch.join("subinit.log");
        let (ready_read, ready_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
        let mut cmd = match how {
            As::Pid1 => {
                let mut c = Command::new("unshare");
                c.args(["--fork", "--pid", "--mount-proc", "--uts", "--kill-child"])
                    .arg(bin("subinit"));
                c
            }
            As::Subreaper => Command::new(bin("subinit")),
        };
        cmd.args(["--ready-fd", "3"]).args(args);
        cmd.stdin(Stdio::null())
            .stdout(File::create(scratch.join("subinit.out")).expect("stdout file"))
            .stderr(File::create(&log).expect("log file"));
        adjust(&mut cmd);
        let mut map: Vec<(i32, i32)> = vec![(ready_write.as_raw_fd(), 3)];
        map.extend(fds.iter().map(|(fd, target)| (fd.as_raw_fd(), *target)));
        // SAFETY: fcntl(2) and dup2(2) are async-signal-safe and allocate
        // nothing. Each fd is first copied above 100, so no dup2 onto a
        // target can clobber a source not yet placed; dup2 clears
        // close-on-exec on the copy.
        unsafe {
            cmd.pre_exec(move || {
                let mut high = [0i32; 8];
                for (i, (source, _)) in map.iter().enumerate().take(high.len()) {
                    high[i] = libc::fcntl(*source, libc::F_DUPFD_CLOEXEC, 100);
                    if high[i] < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for (i, (_, target)) in map.iter().enumerate().take(high.len()) {
                    if libc::dup2(high[i], *target) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let guard = ChildGuard::spawn(&mut cmd);
        drop(ready_write);
        drop(fds);
        let pid = match how {
            As::Subreaper => guard.pid(),
            As::Pid1 => subinit_child(guard.pid(), Duration::from_secs(5))
                .expect("unshare started no child"),
        };
        Subinit {
            guard,
            pid,
            log,
            ready: Some(ready_read),
        }
    }

    /// Reads the readiness report: `Some(text)` once it came whole (the
    /// `ready N` line and N `failed` lines; unshare keeps its own copy of the
    /// pipe open, so EOF cannot mark the end), `None` if the pipe closed
    /// without one or nothing came within the deadline.
    pub fn ready(&mut self, timeout: Duration) -> Option<String> {
        let fd = self.ready.take()?;
        let deadline = Instant::now() + timeout;
        let mut text = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            let n = poll(
                &mut fds,
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
            )
            .expect("poll");
            if n == 0 {
                return None;
            }
            let mut buf = [0u8; 4096];
            let got = File::from(fd.try_clone().expect("dup"))
                .read(&mut buf)
                .expect("read ready fd");
            if got == 0 {
                let text = String::from_utf8_lossy(&text).into_owned();
                return text.starts_with("ready ").then_some(text);
            }
            text.extend_from_slice(&buf[..got]);
            let text = String::from_utf8_lossy(&text);
            if report_complete(&text) {
                return Some(text.into_owned());
            }
        }
    }

    pub fn signal(&self, sig: Signal) {
        kill(self.pid, sig).expect("signal subinit");
    }

    /// Sends SIGTERM, asserts the subinit exits 0 within `limit`, and
    /// returns how long the stop took.
    pub fn stop_ok_within(&mut self, limit: Duration) -> Duration {
        let t0 = Instant::now();
        let status = self.stop(STOP_DEADLINE).expect("the subinit did not stop");
        let took = t0.elapsed();
        assert!(
            status.success(),
            "exit status {status:?}:\n{}",
            self.log_text()
        );
        assert!(took < limit, "the stop took {took:?}, more than {limit:?}");
        took
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.signal(Signal::SIGTERM);
        self.guard.wait_timeout(timeout)
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The subinit's direct children as the host sees them (zombies included).
    pub fn children(&self) -> Vec<Pid> {
        children_of(self.pid)
    }

    pub fn zombie_children(&self) -> usize {
        self.children()
            .into_iter()
            .filter(|p| process_state(*p) == Some('Z'))
            .count()
    }

    /// utime + stime of the subinit, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid)).expect("stat");
        let fields: Vec<&str> = stat[stat.rfind(')').expect("stat format") + 2..]
            .split(' ')
            .collect();
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
    }
}

fn report_complete(text: &str) -> bool {
    let mut lines = text.split_inclusive('\n').filter(|l| l.ends_with('\n'));
    let failed = lines
        .next()
        .and_then(|first| first.trim_end().strip_prefix("ready "))
        .and_then(|n| n.parse::<usize>().ok());
    failed.is_some_and(|n| lines.count() >= n)
}

pub fn children_of(pid: Pid) -> Vec<Pid> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .map(Pid::from_raw)
        .collect()
}

pub fn process_state(pid: Pid) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// The child of `parent` that runs the subinit (wrappers may fork helpers first).
fn subinit_child(parent: Pid, timeout: Duration) -> Option<Pid> {
    let subinit = bin("subinit");
    let mut found = None;
    wait_for(timeout, || {
        found = children_of(parent)
            .into_iter()
            .find(|p| fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|exe| exe == subinit));
        found.is_some()
    });
    found
}
