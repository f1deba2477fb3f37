//! A boot's reservation, before the monitor forks: load and check the
//! configuration, take the subhost's locks (its NAME and its UPPER),
//! reclaim what a dead launcher left under that NAME, record the config
//! path and open LOG. Shared by `overlay-boot` and `--session`.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::error::{At, Error, Result};
use crate::kernel::privilege::require_root;
use crate::kernel::{cgroups, netns};
use crate::model::config::Config;
use crate::subhost::interrupt::Interrupt;
use crate::subhost::lock::{self, Lock, UpperLock};
use crate::subhost::{conflock, diskmounts, early, exeseal, logrotate, rootindex, state};

/// A boot that passed every check and holds the subhost's locks (its NAME
/// and its UPPER), with its subinit opened and LOG ready. An error after
/// this point must go through `abandon`, so that nothing of the refused
/// boot is left. Both locks must stay open as long as the monitor lives.
pub struct Reserved {
    pub cfg: Config,
    pub subinit: OwnedFd,
    pub lock: Lock,
    pub upper_lock: UpperLock,
    pub log: File,
}

/// Loads CONF (then lets `adjust` change it, as a session does), checks
/// privilege, opens the subinit, takes the locks, cleans what a dead
/// launcher left under that NAME, and prepares the run state. When the
/// file states NAME plainly, its lock is taken before any `!` command
/// runs (`early`), so that overlay-stop finds the boot from its first
/// steps. A stop signal caught in `stop` aborts the reservation.
pub fn reserve(
    conf: &Path,
    adjust: impl FnOnce(&mut Config),
    stop: &Interrupt,
) -> Result<Reserved> {
    // CONF itself is locked first, until the run directory records it:
    // overlay-stop finds the launcher by it before a NAME is locked (a `!`
    // NAME), and never takes the lock-only run directory this launcher is
    // making for one left by a dead launcher.
    let conf_lock = conflock::lock(conf)?;
    let early = early::take(conf)?;
    let early_name = early.as_ref().map(|e| e.name.clone());
    let undo = |e: Error| early::undo(early_name.as_deref(), e);
    // Loading runs the `!` commands; overlay-diskfile among them may mount
    // disk images on the host, which a refusal must release again.
    let (mut cfg, disks) = diskmounts::load_config(conf).map_err(undo)?;
    adjust(&mut cfg);
    warn_reachable(&cfg);
    let release = |e: Error| {
        diskmounts::release(&disks);
        undo(e)
    };
    require_root().map_err(release)?;
    stop.check_launcher().map_err(release)?;
    let subinit = exeseal::open_subinit().map_err(release)?;
    let lock = match early {
        Some(e) if e.name == cfg.name => e.lock,
        other => {
            let _ = undo_mismatch(other);
            early::take_lock(&cfg.name).map_err(release)?
        }
    };
    let name = cfg.name.clone();
    let abandon = |e: Error| abandon(&name, e);
    early::write_launcher(&name)
        .map_err(release)
        .map_err(abandon)?;
    let upper_lock = lock::lock_upper(&cfg.upper)
        .map_err(release)
        .map_err(abandon)?;
    diskmounts::record(&cfg.name, &disks)
        .map_err(release)
        .map_err(abandon)?;
    let log = prepare(&mut cfg).map_err(abandon)?;
    // The run directory records CONF now: overlay-stop finds it there.
    drop(conf_lock);
    stop.check_launcher().map_err(abandon)?;
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

/// An early lock whose NAME the loaded configuration does not confirm
/// (the file changed meanwhile): given up.
fn undo_mismatch(early: Option<early::Early>) -> Option<()> {
    let e = early?;
    let _ = state::remove(&e.name);
    drop(e.lock);
    Some(())
}

fn warn_reachable(cfg: &Config) {
    if crate::model::config::reachable_by_users(&cfg.upper) {
        log::warn!(
            "UPPER {} can be reached by users other than root: a setuid file made \
             inside the subhost runs as root for them; give BASE mode 0700",
            cfg.upper.display()
        );
    }
}

/// Undoes a reservation on a refusal: the disk images it recorded and the
/// run directory. Returns `err` for `map_err`.
pub fn abandon(name: &str, err: Error) -> Error {
    diskmounts::release_recorded(name);
    rootindex::unregister(name);
    let _ = state::remove(name);
    err
}

/// With the lock held: check nothing of that name is in the way, record
/// the config path, open LOG (`cfg.log` is where it went).
pub fn prepare(cfg: &mut Config) -> Result<File> {
    let ns = netns::path(&cfg.name);
    if ns.exists() {
        return Err(Error::InTheWay {
            what: "network namespace",
            path: ns,
        });
    }
    if let Some(cg) = cgroups::existing(&cfg.name)? {
        return Err(Error::InTheWay {
            what: "cgroup",
            path: cg,
        });
    }
    state::write_conf(&cfg.name, &cfg.path)?;
    state::write_roots(&cfg.name, [&cfg.upper, &cfg.work, &cfg.live])?;
    state::write_security(&cfg.name, cfg.security)?;
    rootindex::register(&cfg.name)?;
    // PRIVATE_USERS: the host ids, checked and recorded under one lock.
    if let Some(map) = crate::subhost::idrange::reserve(cfg)? {
        crate::subhost::idmount::probe(cfg, map)?;
    }
    let set_at = cfg.log_line.map(|line| (cfg.path.clone(), line));
    match open_log(&cfg.log, set_at) {
        Err(e) if cfg.log_line.is_none() => {
            let fallback = Path::new(LOG_DIR).join(format!("{}.log", cfg.name));
            log::warn!("{e}; logging to {} instead", fallback.display());
            cfg.log = fallback;
            mkdir_log_dir()?;
            open_log(&cfg.log, None)
        }
        opened => opened,
    }
}

/// Where the log goes when a local user planted something at the default
/// LOG, `/tmp/oly-NAME.log` (issue 9, item 3): a directory of root's that
/// no user can write to, so nothing of theirs is ever in the way.
const LOG_DIR: &str = "/var/log/overlay-boot";

/// Makes `LOG_DIR` (0700) if missing; what is there must be a directory
/// of root's that no one else may write to.
fn mkdir_log_dir() -> Result<()> {
    let dir = Path::new(LOG_DIR);
    match nix::unistd::mkdir(dir, Mode::from_bits_truncate(0o700)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(errno) => {
            return Err(Error::Sys {
                op: "mkdir",
                path: dir.into(),
                errno,
            })
        }
    }
    let meta = std::fs::symlink_metadata(dir).at("stat", dir)?;
    if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(Error::Untrusted {
            path: dir.into(),
            why: "not a directory of root's that only root may write to",
        });
    }
    Ok(())
}

/// Opens LOG for this boot (truncated, appending). The default LOG is a
/// predictable path under /tmp (security check 26): whatever a local user
/// planted there (a symlink, a FIFO that would hang the open, a file of
/// theirs, a hard link to a file of root's) is removed and LOG made anew.
/// Opens LOG without ever removing or replacing what is there: a regular
/// file of root's alone is truncated and reused, a missing one is created,
/// the null device is used as it is (output discarded); anything else (a
/// symlink, another device, a FIFO, a directory, a file someone else owns
/// or that has other links) is refused, exit 2, untouched. What is there is
/// looked at through an O_PATH fd first, so no device or FIFO is opened.
/// `set_at` is the configuration file and line that set LOG, for the
/// refusal's message.
fn open_log(path: &Path, set_at: Option<(PathBuf, usize)>) -> Result<File> {
    let refuse = |why: String| Error::BadLog {
        path: path.to_path_buf(),
        why,
        set_at: set_at.clone(),
    };
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let file = match nix::fcntl::open(path, flags, Mode::empty()) {
        Err(nix::errno::Errno::ENOENT) => create_log(path)?,
        Err(errno) => return Err(refuse(format!("cannot be examined: {}", errno.desc()))),
        Ok(fd) => {
            let meta = File::from(fd);
            let kind = log_kind(&meta.metadata().at("fstat", path)?);
            if let LogKind::Refused(why) = kind {
                return Err(refuse(why));
            }
            let file = reopen_for_writing(&meta).at("open", path)?;
            if let LogKind::Null = kind {
                return Ok(file);
            }
            // The previous boot's lines are kept as LOG.1 where possible.
            let used = meta.metadata().map(|m| m.len() > 0).unwrap_or(false);
            if used && logrotate::keep_previous(path) {
                drop(file);
                create_log(path)?
            } else {
                file.set_len(0).at("truncate", path)?;
                file
            }
        }
    };
    // Appending keeps the monitor's and the subhost's lines whole.
    nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_APPEND)).at("fcntl", path)?;
    Ok(file)
}

/// A new LOG, 0640; never through a symlink, never over something there.
fn create_log(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
        .at("create log", path)
}

/// The very file behind an O_PATH fd, opened for writing.
fn reopen_for_writing(opath: &File) -> std::io::Result<File> {
    use std::os::fd::AsRawFd;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(format!("/proc/self/fd/{}", opath.as_raw_fd()))
}

enum LogKind {
    /// The null device: output is discarded.
    Null,
    /// A regular file of root's alone: ours to truncate.
    Ours,
    Refused(String),
}

fn log_kind(meta: &std::fs::Metadata) -> LogKind {
    use std::os::unix::fs::FileTypeExt;
    let kind = meta.file_type();
    if kind.is_char_device() && meta.rdev() == nix::sys::stat::makedev(1, 3) {
        return LogKind::Null;
    }
    let what = match kind {
        k if k.is_file() => None,
        k if k.is_symlink() => Some("a symbolic link (not followed)"),
        k if k.is_dir() => Some("a directory"),
        k if k.is_fifo() => Some("a FIFO"),
        k if k.is_socket() => Some("a socket"),
        _ => Some("a device other than the null device"),
    };
    if let Some(what) = what {
        return LogKind::Refused(format!("{what}, not a regular file"));
    }
    match (meta.uid(), meta.nlink()) {
        (0, 1) => LogKind::Ours,
        (0, n) => LogKind::Refused(format!("a file with {n} links, not root's alone")),
        (uid, _) => LogKind::Refused(format!("owned by uid {uid}, not root")),
    }
}
