//! The subhost's cgroups in every hierarchy used: NAME under cgroup2 (see
//! `cgroup`, PID 1 is cloned into it) and NAME under each cgroup v1
//! hierarchy with a controller of `hierarchy::Ctl::ALL` (hybrid or v1
//! hosts: memory, cpu, cpuacct, pids, blkio). A directory of that name that
//! exists before the boot is someone else's: the boot is refused.
//!
//! v1 membership before PID 1 runs anything: the monitor joins the v1
//! cgroups itself just before clone3 (the child inherits them, and its
//! cgroup namespace is rooted there), then goes back where it was. It
//! moves its one thread ("0" into each v1 `tasks` file): a move of the
//! caller's own thread skips the kernel's global threadgroup lock, whose
//! first writer after a quiet spell waits an RCU grace period (~10 ms
//! here); a process move through cgroup.procs would pay that each boot.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{At, Error, Result};
use crate::kernel::{cgroup, limits, sys};
use crate::model::config::Limits;
use crate::model::hierarchy::{Ctl, Layout};
use crate::model::mountinfo;

/// The host's cgroup layout, read once per process (a forked monitor
/// keeps its launcher's): /proc/self/mountinfo grows by a line with every
/// running subhost (its /run/netns file) and costs ~3.5 ms to read at a
/// thousand; a boot asked for the layout four times (issue 14). The
/// hierarchies do not move while a subhost runs.
pub fn layout() -> Result<Layout> {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    if let Some(l) = LAYOUT.get() {
        return Ok(l.clone());
    }
    let text = fs::read_to_string(mountinfo::MOUNTINFO).at("read", mountinfo::MOUNTINFO)?;
    let l = Layout::parse(&text, |m| {
        fs::read_to_string(m.join("cgroup.controllers")).unwrap_or_default()
    });
    Ok(LAYOUT.get_or_init(|| l).clone())
}

/// The subhost's v1 cgroup directories (made or not).
pub fn v1_dirs(layout: &Layout, name: &str) -> Vec<PathBuf> {
    layout.v1.iter().map(|h| h.mount.join(name)).collect()
}

/// Every cgroup directory of the subhost, v2 first (made or not).
pub fn all(name: &str) -> Result<Vec<PathBuf>> {
    let layout = layout()?;
    let v2 = layout.v2.as_ref().map(|m| m.join(name));
    Ok(v2.into_iter().chain(v1_dirs(&layout, name)).collect())
}

/// The first of the subhost's cgroup directories that exists.
pub fn existing(name: &str) -> Result<Option<PathBuf>> {
    Ok(all(name)?.into_iter().find(|p| p.exists()))
}

/// What `create` made, for the teardown.
#[derive(Debug, Default)]
pub struct Made {
    pub v2: Option<PathBuf>,
    pub v1: Vec<PathBuf>,
}

/// Makes the subhost's cgroup in every hierarchy used and writes the
/// limits; returns the v2 directory's fd for CLONE_INTO_CGROUP. `note`
/// hears of each directory just before its mkdir (false) and after (true).
pub fn create(
    name: &str,
    lim: &Limits,
    made: &mut Made,
    note: &mut dyn FnMut(&Path, bool) -> Result<()>,
) -> Result<Option<OwnedFd>> {
    let layout = layout()?;
    let fd = match &layout.v2 {
        Some(mount) => {
            // The usage figures want memory and pids; limits what they need.
            let mut want = vec![Ctl::Memory, Ctl::Pids];
            want.extend(limits::controllers(lim));
            enable(mount, &layout.v2_enable(&want))?;
            let dir = mount.join(name);
            note(&dir, false)?;
            let fd = cgroup::create(&dir)?;
            made.v2 = Some(dir.clone());
            note(&dir, true)?;
            Some(fd)
        }
        None => None,
    };
    for dir in v1_dirs(&layout, name) {
        note(&dir, false)?;
        cgroup::create(&dir)?;
        made.v1.push(dir.clone());
        note(&dir, true)?;
    }
    limits::apply(&layout, name, lim)?;
    Ok(fd)
}

/// Enables controllers for cgroup2's root's children (subtree_control).
fn enable(mount: &Path, names: &[&str]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let file = mount.join("cgroup.subtree_control");
    let now = fs::read_to_string(&file).at("read", &file)?;
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !now.split_whitespace().any(|w| w == **n))
        .map(|n| format!("+{n}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    fs::write(&file, missing.join(" ")).at("write", &file)
}

/// The monitor in the subhost's v1 cgroups until `leave` (or drop): what
/// it clones meanwhile is born there.
pub struct Visit {
    back: Vec<PathBuf>,
}

/// Joins `dirs` (v1), remembering where this process was in each hierarchy.
pub fn visit(layout: &Layout, dirs: &[PathBuf]) -> Result<Visit> {
    let own = fs::read_to_string("/proc/self/cgroup").at("read", "/proc/self/cgroup")?;
    let mut visit = Visit { back: Vec::new() };
    for (h, dir) in layout.v1.iter().zip(dirs) {
        let here = own.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctls, path) = (f.next()?, f.next()?, f.next()?);
            let ours = !ctls.is_empty()
                && ctls
                    .split(',')
                    .all(|c| h.controllers.iter().any(|x| x == c));
            ours.then(|| h.mount.join(path.trim_start_matches('/')))
        });
        let Some(here) = here else { continue };
        join_thread(dir)?;
        visit.back.push(here);
    }
    Ok(visit)
}

impl Visit {
    /// Goes back to the cgroups this process was in.
    pub fn leave(mut self) -> Result<()> {
        let back = std::mem::take(&mut self.back);
        back.iter().try_for_each(|dir| join_thread(dir))
    }
}

impl Drop for Visit {
    fn drop(&mut self) {
        for dir in &self.back {
            let _ = join_thread(dir);
        }
    }
}

/// Moves the calling thread (the whole process while it has one thread)
/// into the v1 cgroup `dir`, without the global lock (see the module note).
pub fn join_thread(dir: &Path) -> Result<()> {
    let tasks = dir.join("tasks");
    fs::write(&tasks, "0").at("write", &tasks)
}

/// Ends every process left in the v1 directories, waits for them, removes
/// the directories (after the v2 teardown they are empty already).
pub fn remove_v1(dirs: &[PathBuf], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    for dir in dirs.iter().filter(|d| d.exists()) {
        end_all(dir, deadline)?;
        cgroup::remove(dir)?;
    }
    Ok(())
}

/// SIGKILL to each process in `dir`'s cgroup.procs, then a wait on each
/// one's pidfd, until none is listed or the deadline passes.
fn end_all(dir: &Path, deadline: Instant) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    loop {
        let text = fs::read_to_string(&procs).at("read", &procs)?;
        let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if pids.is_empty() {
            return Ok(());
        }
        for pid in pids {
            let Ok(fd) = sys::pidfd_open(Pid::from_raw(pid)) else {
                continue;
            };
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout {
                    what: "the subhost's v1 cgroups to empty",
                });
            }
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            match poll(
                &mut fds,
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(Error::Call { op: "poll", errno }),
            }
        }
    }
}

/// Subhost `name`'s cgroup2 directory (if cgroup2 is mounted) and v1
/// directories, made or not (stale reclaim, stop).
pub fn dirs(name: &str) -> Result<(Option<PathBuf>, Vec<PathBuf>)> {
    let layout = layout()?;
    let v2 = layout.v2.as_ref().map(|m| m.join(name));
    Ok((v2, v1_dirs(&layout, name)))
}
