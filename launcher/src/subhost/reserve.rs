//! A boot's reservation, before the monitor forks: load and check the
//! configuration, take the subhost's locks (its NAME and its UPPER),
//! reclaim what a dead launcher left under that NAME, record the config
//! path and open LOG. Shared by `overlay-boot` and `--session`.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use nix::fcntl::OFlag;

use crate::error::{At, Error, Result};
use crate::kernel::privilege::require_root;
use crate::kernel::{cgroup, netns};
use crate::model::config::Config;
use crate::subhost::lock::{self, Lock};
use crate::subhost::{diskmounts, spawn, state, teardown};

/// How long the cleanup of a stale subhost waits for its processes to end.
const STALE_KILL_WAIT: Duration = Duration::from_secs(10);

/// A boot that passed every check and holds the subhost's locks (its NAME
/// and its UPPER), with its subinit opened and LOG ready. An error after
/// this point must go through `abandon`, so that nothing of the refused
/// boot is left. Both locks must stay open as long as the monitor lives.
pub struct Reserved {
    pub cfg: Config,
    pub subinit: OwnedFd,
    pub lock: Lock,
    pub upper_lock: Lock,
    pub log: File,
}

/// Loads CONF (then lets `adjust` change it, as a session does), checks
/// privilege, opens the subinit, takes the locks, cleans what a dead
/// launcher left under that NAME, and prepares the run state.
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
    let (lock, stale) = lock::acquire(&cfg.name).map_err(release)?;
    if stale {
        // Not `abandon` when this fails: the stale record is the only trace
        // of what still runs, for the next stop or boot to find.
        teardown::reclaim_for_boot(&cfg.name, STALE_KILL_WAIT).map_err(release)?;
    }
    let name = cfg.name.clone();
    let abandon = |e: Error| abandon(&name, e);
    let upper_lock = lock::lock_upper(&cfg.upper)
        .map_err(release)
        .map_err(abandon)?;
    diskmounts::record(&cfg.name, &disks)
        .map_err(release)
        .map_err(abandon)?;
    let log = prepare(&cfg).map_err(abandon)?;
    if let Ok(upper) = crate::kernel::inroot::Root::open(&cfg.upper) {
        crate::subhost::policy::remove_leftover(&upper);
    }
    Ok(Reserved {
        cfg,
        subinit,
        lock,
        upper_lock,
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

/// With the lock held: check nothing of that name is in the way, record
/// the config path, open LOG.
pub fn prepare(cfg: &Config) -> Result<File> {
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

/// Opens LOG for this boot (truncated, appending). The default LOG is a
/// predictable path under /tmp (security check 26): whatever a local user
/// planted there (a symlink, a FIFO that would hang the open, a file of
/// theirs, a hard link to a file of root's) is removed and LOG made anew.
fn open_log(path: &Path) -> Result<File> {
    let file = match open_log_file(path, false) {
        Ok(file) if owned_by_root_alone(&file) => file,
        Ok(_) | Err(_) => {
            log::warn!("{}: not a file of root's: replaced", path.display());
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).at("remove", path);
                }
                _ => {}
            }
            open_log_file(path, true).at("create log", path)?
        }
    };
    file.set_len(0).at("truncate", path)?;
    // Appending keeps the monitor's and the subhost's lines whole; this
    // also clears O_NONBLOCK.
    nix::fcntl::fcntl(
        &file,
        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_APPEND | OFlag::O_WRONLY),
    )
    .at("fcntl", path)?;
    Ok(file)
}

/// O_NOFOLLOW (no symlink), O_NONBLOCK (a FIFO fails with ENXIO instead of
/// waiting for a reader); `fresh`: O_EXCL, a file this call creates.
fn open_log_file(path: &Path, fresh: bool) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options
        .write(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    if fresh {
        options.create_new(true);
    } else {
        options.create(true);
    }
    options.open(path)
}

fn owned_by_root_alone(file: &File) -> bool {
    file.metadata()
        .is_ok_and(|m| m.is_file() && m.uid() == 0 && m.nlink() == 1)
}
