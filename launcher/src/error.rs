//! The launcher's errors. Each variant names the step that failed and, where
//! there is one, the path it acted on, so a message reads like
//! `mount overlay on /opt/x/live: Device or resource busy`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::cli::UsageError;
use crate::kernel::netlink::NetlinkError;
use crate::model::config::ConfigError;
use crate::model::ostext::OsText;

#[derive(Debug)]
pub enum Error {
    /// Bad command line: exit status 2.
    Usage(UsageError),
    /// Refused configuration: exit status 2.
    Config(ConfigError),
    /// A system call on a path failed.
    Sys {
        op: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    /// A system call that has no path failed.
    Call { op: &'static str, errno: Errno },
    /// File I/O through std failed.
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// The launcher must run as root.
    NotRoot,
    /// A boot of a subhost that is already running (or still booting).
    AlreadyRunning { name: String },
    /// A stop or go for a subhost that is not running.
    NotRunning { what: String },
    /// Something on the host is in the way (e.g. a foreign `/run/netns/NAME`).
    InTheWay { what: &'static str, path: PathBuf },
    /// LOG names something the launcher will not write to: exit status 2.
    /// What is at LOG is not safe to write; `set_at` is the configuration
    /// file and line that set LOG (none for the default).
    BadLog {
        path: PathBuf,
        why: String,
        set_at: Option<(PathBuf, usize)>,
    },
    /// An object of our own subhost still there after its teardown.
    LeftOver { path: PathBuf },
    /// A directory another running subhost holds (its UPPER).
    InUse { what: &'static str, path: PathBuf },
    /// A file found where we expect our own (wrong type or owner).
    Untrusted { path: PathBuf, why: &'static str },
    /// No subinit binary could be found.
    NoSubinit { tried: Vec<PathBuf> },
    /// A configured hook command with no program in it.
    EmptyHook { which: &'static str },
    /// A configured hook command failed.
    Hook {
        which: &'static str,
        command: String,
        status: std::process::ExitStatus,
    },
    /// A configured hook command still ran at its deadline (its process
    /// group was killed).
    HookTimedOut {
        which: &'static str,
        command: String,
        secs: u64,
    },
    /// The subhost's PID 1 failed before exec: step and errno, as it reported them.
    Child { step: String, errno: Errno },
    /// A stop signal (overlay-stop) reached the monitor during the set-up.
    Stopped,
    /// SIGINT, SIGTERM or SIGHUP reached the launcher before the subhost
    /// was ready: the boot was aborted and torn down; exit 128 + signal.
    Interrupted { signal: i32 },
    /// A wait ran past its deadline.
    Timeout { what: &'static str },
    /// A cable could not be made: its CABLES item (None: before any cable).
    Cable {
        item: Option<String>,
        source: NetlinkError,
    },
    /// A disk image's partition table does not give the partition asked for.
    Image {
        path: PathBuf,
        fault: crate::model::parttable::Fault,
    },
    /// No filesystem of a known type on a disk image's loop device.
    NoFilesystem { path: PathBuf },
    /// overlay-diskfile without IMAGE, and nothing mounted on the mount point.
    NotMounted { path: PathBuf },
}

impl Error {
    /// Exit status: 2 for usage or configuration errors, else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) | Self::Config(_) | Self::EmptyHook { .. } | Self::BadLog { .. } => 2,
            Self::Interrupted { signal } => 128 + signal,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(u) => write!(f, "{u}"),
            Self::Config(c) => write!(f, "{c}"),
            Self::Sys { op, path, errno } => {
                write!(f, "{op} {}: {}", path.display(), errno.desc())
            }
            Self::Call { op, errno } => write!(f, "{op}: {}", errno.desc()),
            Self::Io { op, path, source } => {
                write!(f, "{op} {}: {}", path.display(), OsText(source))
            }
            Self::NotRoot => write!(f, "must be run as root"),
            Self::AlreadyRunning { name } => write!(f, "subhost {name} is already running"),
            Self::NotRunning { what } => write!(f, "{what} is not running"),
            Self::InTheWay { what, path } => {
                write!(f, "{} exists and is not ours ({what})", path.display())
            }
            Self::BadLog { path, why, set_at } => {
                if let Some((conf, line)) = set_at {
                    write!(f, "{}:{line}: ", conf.display())?;
                }
                write!(f, "LOG {}: {why}; refused, and left as it is", path.display())
            }
            Self::LeftOver { path } => {
                write!(f, "{} is still there after the teardown", path.display())
            }
            Self::Untrusted { path, why } => write!(f, "{}: {why}", path.display()),
            Self::InUse { what, path } => {
                write!(
                    f,
                    "{what} {} is in use by another running subhost",
                    path.display()
                )
            }
            Self::NoSubinit { tried } => {
                write!(f, "no subinit found (tried")?;
                for p in tried {
                    write!(f, " {}", p.display())?;
                }
                write!(f, "; set OVERLAY_BOOT_SUBINIT)")
            }
            Self::EmptyHook { which } => write!(f, "{which}: the command names no program"),
            Self::Hook {
                which,
                command,
                status,
            } => {
                write!(f, "{which} command {command:?} failed: {status}")
            }
            Self::HookTimedOut {
                which,
                command,
                secs,
            } => write!(
                f,
                "{which} command {command:?} did not end within {secs} s; it and its process group were killed"
            ),
            Self::Child { step, errno } => {
                write!(f, "subhost PID 1 setup: {step}: {}", errno.desc())
            }
            Self::Stopped => write!(f, "stopped during boot"),
            Self::Interrupted { signal } => {
                let name = nix::sys::signal::Signal::try_from(*signal)
                    .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_string());
                write!(f, "boot aborted by {name}; nothing of it is left")
            }
            Self::Timeout { what } => write!(f, "timed out waiting for {what}"),
            Self::Image { path, fault } => write!(f, "{}: {fault}", path.display()),
            Self::NoFilesystem { path } => write!(
                f,
                "{}: no ext2/3/4, xfs, btrfs or vfat filesystem found",
                path.display()
            ),
            Self::NotMounted { path } => {
                write!(
                    f,
                    "nothing is mounted on {} and no IMAGE given",
                    path.display()
                )
            }
            Self::Cable {
                item: Some(item),
                source,
            } => write!(f, "cable {item:?}: {source}"),
            Self::Cable { item: None, source } => write!(f, "CABLES: {source}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Adds the step and the path to a nix error at the call site.
pub trait At<T> {
    fn at(self, op: &'static str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> At<T> for nix::Result<T> {
    fn at(self, op: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|errno| Error::Sys {
            op,
            path: path.as_ref().to_path_buf(),
            errno,
        })
    }
}

impl<T> At<T> for io::Result<T> {
    fn at(self, op: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.as_ref().to_path_buf(),
            source,
        })
    }
}

/// Adds the step to a nix error of a call that has no path.
pub trait Op<T> {
    fn op(self, op: &'static str) -> Result<T>;
}

impl<T> Op<T> for nix::Result<T> {
    fn op(self, op: &'static str) -> Result<T> {
        self.map_err(|errno| Error::Call { op, errno })
    }
}
