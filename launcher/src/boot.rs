//! `overlay-boot CONF`: load and check everything, take the lock, fork the
//! monitor, and return when the subhost is ready (exit 0, one line) or has
//! failed (exit 1, the reason and the log's tail, nothing left behind).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe2, ForkResult};

use crate::config::Config;
use crate::error::{At, Error, Op, Result};
use crate::monitor::{Monitor, Sink};
use crate::report::{self, Outcome};
use crate::state::Lock;
use crate::{cgroup, diskmounts, netns, spawn, state};

/// How long the cleanup of a stale subhost waits for its processes to end.
const STALE_KILL_WAIT: Duration = Duration::from_secs(10);

/// A boot that passed every check and holds the subhost's lock, with its
/// subinit opened and LOG ready. An error after this point must go
/// through `abandon`, so that nothing of the refused boot is left.
pub struct Reserved {
    pub cfg: Config,
    pub subinit: OwnedFd,
    pub lock: Lock,
    pub log: File,
}

/// Loads CONF (then lets `adjust` change it, as a session does), checks
/// privilege, opens the subinit, takes the lock and prepares the run state.
pub fn reserve(conf: &Path, adjust: impl FnOnce(&mut Config)) -> Result<Reserved> {
    // Loading runs the `!` commands; overlay-diskfile among them may mount
    // disk images on the host, which a refusal must release again.
    let (mut cfg, disks) = diskmounts::load_config(conf)?;
    adjust(&mut cfg);
    let release = |e: Error| {
        diskmounts::release(&disks);
        e
    };
    require_root().map_err(release)?;
    let subinit = spawn::open_subinit().map_err(release)?;
    let (lock, stale) = state::acquire(&cfg.name).map_err(release)?;
    diskmounts::record(&cfg.name, &disks)
        .map_err(release)
        .map_err(|e| abandon(&cfg.name, e))?;
    let log = prepare(&cfg, stale).map_err(|e| abandon(&cfg.name, e))?;
    Ok(Reserved {
        cfg,
        subinit,
        lock,
        log,
    })
}

/// Undoes a reservation on a refusal: the disk images it recorded and the
/// run directory. Returns `err` for `map_err`.
pub fn abandon(name: &str, err: Error) -> Error {
    diskmounts::release_recorded(name);
    let _ = state::remove(name);
    err
}

pub fn boot(conf: &Path, foreground: bool) -> Result<i32> {
    let Reserved {
        cfg,
        subinit,
        lock,
        log,
    } = reserve(conf, |_| {})?;
    let name = cfg.name.clone();
    let abandon = |e: Error| abandon(&name, e);
    if foreground {
        let sink = Sink::Terminal(Outcome::default());
        return Ok(Monitor::new(cfg, log, lock, sink).run(subinit));
    }
    let (r, w) = pipe2(OFlag::O_CLOEXEC).op("pipe").map_err(abandon)?;
    // SAFETY: the launcher is single-threaded here, so the child may run
    // any code after fork.
    match unsafe { fork() }.op("fork").map_err(abandon)? {
        ForkResult::Child => {
            drop(r);
            if let Err(e) = daemonize(&log) {
                log::warn!("monitor: {e}");
            }
            let sink = Sink::Pipe(Some(File::from(w)));
            std::process::exit(Monitor::new(cfg, log, lock, sink).run(subinit))
        }
        ForkResult::Parent { child } => {
            drop(w);
            // The lock is shared with the monitor; dropping it here would
            // unlock it for both. Closing happens at exit.
            std::mem::forget(lock);
            let out = Outcome::read(File::from(r));
            if let (true, Some(pid)) = (out.ready, out.pid) {
                report::print_ready(&cfg.name, pid, &cfg.log, &out.failed);
                return Ok(0);
            }
            // Teardown is the monitor's last act: wait for it.
            let _ = waitpid(child, None);
            let reason = out
                .reason
                .unwrap_or_else(|| "the monitor ended without a report".into());
            report::print_failure(&cfg.name, &reason, &cfg.log);
            Ok(1)
        }
    }
}

/// With the lock held: clean a dead launcher's leftovers, check nothing of
/// that name is in the way, record the config path, open LOG.
pub fn prepare(cfg: &Config, stale: bool) -> Result<File> {
    if stale {
        log::warn!("{}: cleaning state left by a launcher that died", cfg.name);
        crate::stop::stop_orphan(&cfg.name)?;
        state::clean_objects(&cfg.name, STALE_KILL_WAIT)?;
    }
    let ns = netns::path(&cfg.name);
    if ns.exists() {
        return Err(Error::InTheWay {
            what: "network namespace",
            path: ns,
        });
    }
    if let Some(cg) = cgroup::path(&cfg.name)?.filter(|p| p.exists()) {
        return Err(Error::InTheWay {
            what: "cgroup",
            path: cg,
        });
    }
    state::write_conf(&cfg.name, &cfg.path)?;
    open_log(&cfg.log)
}

/// Opens LOG for this boot, refusing one a local user could have planted
/// (a symlink, or a file not owned by root: security check 26).
fn open_log(path: &Path) -> Result<File> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .at("open log", path)?;
    let meta = file.metadata().at("stat", path)?;
    if !meta.is_file() || meta.uid() != 0 {
        return Err(Error::Untrusted {
            path: path.into(),
            why: "log is not a regular file owned by root",
        });
    }
    file.set_len(0).at("truncate", path)?;
    // Appending keeps the monitor's and the subhost's lines whole.
    nix::fcntl::fcntl(
        &file,
        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_APPEND | OFlag::O_WRONLY),
    )
    .at("fcntl", path)?;
    Ok(file)
}

/// The monitor leaves the caller's session and terminal; its output goes to LOG.
pub fn daemonize(log: &File) -> Result<()> {
    nix::unistd::setsid().op("setsid")?;
    let null: OwnedFd = nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .at("open", "/dev/null")?;
    nix::unistd::dup2_stdin(&null).op("dup2 stdin")?;
    nix::unistd::dup2_stdout(log).op("dup2 stdout")?;
    nix::unistd::dup2_stderr(log).op("dup2 stderr")?;
    nix::unistd::chdir("/").at("chdir", "/")
}

pub fn require_root() -> Result<()> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(Error::NotRoot)
    }
}
