//! What `--list` shows of each running subhost, read from its run
//! directory and its cgroups. What a subhost costs here is what --list
//! costs at a thousand (issue 14): each file is opened relative to a
//! directory opened once (`dirfd`), only the files shown are read, and
//! the subhosts are read by as many threads as there are CPUs to run on
//! (two on the reference host), each a contiguous share in name order.

use std::path::{Path, PathBuf};
use std::thread::ScopedJoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::sched::{sched_getaffinity, CpuSet};
use nix::unistd::Pid;

use super::Entry;
use crate::cmd::liveness;
use crate::kernel::dirfd::Dir;
use crate::kernel::usage;
use crate::subhost::{idrange, lock, state, status};

/// Subhosts a thread reads at least: below that, another thread costs
/// more to start than it saves.
const SHARE_MIN: usize = 64;

/// Reads the run directories of the running subhosts, in name order.
pub fn collect() -> Vec<Entry> {
    let mut out = read_all();
    let pending: Vec<liveness::Pending> =
        out.iter()
            .map(|e| {
                let sysv = e.services.iter().filter(|s| {
                    s.kind == proto::status::Kind::Script && liveness::sysv_name(&s.name)
                });
                liveness::start(&e.name, sysv.map(|s| s.name.clone()).collect())
            })
            .collect();
    let deadline = std::time::Instant::now() + liveness::STATUS_TIMEOUT;
    for (e, p) in out.iter_mut().zip(pending) {
        e.live = p.finish(deadline);
    }
    // Only the subhosts with a running service need the scan of /proc.
    let pid1s: Vec<i32> = out
        .iter()
        .filter(|e| e.services.iter().any(|s| s.pid.is_some()))
        .filter_map(|e| e.pid)
        .collect();
    let procs = liveness::Procs::scan(&pid1s);
    for e in out.iter_mut() {
        let pid1 = e.pid.unwrap_or(0);
        e.procs = e
            .services
            .iter()
            .filter_map(|s| {
                let (host, up) = procs.supervised(pid1, s.pid?)?;
                Some((s.name.clone(), host, up))
            })
            .collect();
    }
    out
}

/// The entries of the running subhosts without their services' liveness,
/// the names shared out among the threads.
fn read_all() -> Vec<Entry> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let layout = crate::kernel::cgroups::layout().unwrap_or_default();
    let usage = usage::Reader::new(&layout);
    let Some(runs) = Dir::open(Path::new(state::RUN_DIR)) else {
        return Vec::new();
    };
    let names = state::names();
    let share = names.len().div_ceil(cpus()).max(SHARE_MIN);
    let read = |part: &[String]| -> Vec<Entry> {
        part.iter()
            .filter_map(|name| {
                let run = runs.sub(name).filter(|r| lock::shown_in(r, name))?;
                Some(entry(&run, name.clone(), now, &usage))
            })
            .collect()
    };
    if names.len() <= share {
        return read(&names);
    }
    std::thread::scope(|s| {
        let spawn = |part| std::thread::Builder::new().spawn_scoped(s, move || read(part));
        let threads: Vec<_> = names
            .chunks(share)
            .map(|part| (part, spawn(part)))
            .collect();
        // A share whose thread could not start (or failed) is read here.
        type Started<'s> = std::io::Result<ScopedJoinHandle<'s, Vec<Entry>>>;
        let done = |(part, t): (&[String], Started)| match t {
            Ok(t) => t.join().unwrap_or_else(|_| read(part)),
            Err(_) => read(part),
        };
        threads.into_iter().flat_map(done).collect()
    })
}

/// The CPUs this process may run on. Why not available_parallelism: on a
/// host with cgroup v1 it reads /proc/self/mountinfo again for a CPU quota,
/// a file that grows by a line with every subhost.
fn cpus() -> usize {
    let set = sched_getaffinity(Pid::from_raw(0)).unwrap_or_default();
    let on = (0..CpuSet::count()).filter(|&i| set.is_set(i).unwrap_or(false));
    on.count().max(1)
}

/// One running subhost's entry from its run directory `run`, without the
/// liveness of its services. Only the files --list shows are read, each
/// once.
fn entry(run: &Dir, name: String, now: u64, usage: &usage::Reader) -> Entry {
    let conf = run.field("conf").unwrap_or_default();
    let pid: Option<i32> = run.field("pid").and_then(|p| p.parse().ok());
    let started: Option<u64> = pid
        .and_then(|_| run.field("started"))
        .and_then(|s| s.parse().ok());
    let snap = started.and_then(|_| status::read(run));
    Entry {
        pid: started.and(pid),
        config: PathBuf::from(conf),
        uptime: started.map(|s| now.saturating_sub(s)),
        state: snap
            .as_ref()
            .map_or_else(|| "booting".to_string(), |s| s.state.as_str().to_string()),
        services: snap.map(|s| s.services).unwrap_or_default(),
        usage: usage.read(&name),
        live: Vec::new(),
        procs: Vec::new(),
        users: run.field(idrange::FILE).and_then(|t| idrange::parse(&t)),
        name,
    }
}
