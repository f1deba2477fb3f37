//! Configuration errors. Every message names the file; a fault in a variable
//! also names the variable and either the line it was set on or "(default)".

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use super::parse::{Flaw, Var};
use super::trust::Distrust;
use crate::model::ostext::OsText;

/// Where the faulty value of a variable came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Set on this line of the file (1-based).
    Line(usize),
    /// Not set: the built-in default was used.
    Default,
}

/// A configuration refused before anything is created on the host.
/// Every variant means exit status 2, "usage or configuration error"
/// (product spec); the launcher's `Error::exit_code` maps it so.
#[derive(Debug)]
pub enum ConfigError {
    /// The file itself cannot be read (or its directory resolved).
    Unreadable { file: PathBuf, source: io::Error },
    /// The file (or its directory) is not root's alone (security check 25).
    Untrusted { file: PathBuf, distrust: Distrust },
    /// A variable without a default is not set.
    Missing { file: PathBuf, var: Var },
    /// A variable's value, as set or by default, is refused.
    Value {
        file: PathBuf,
        var: Var,
        origin: Origin,
        fault: Fault,
    },
}

/// What is wrong with a value.
#[derive(Debug)]
pub enum Fault {
    NotUtf8,
    /// A NUL byte in the value (as written or from a `!` command).
    Nul,
    /// A value longer than `VALUE_MAX` bytes; its length.
    TooLong(usize),
    NoSuchDirectory(PathBuf),
    NotADirectory(PathBuf),
    NoSuchPath(PathBuf),
    Io {
        path: PathBuf,
        source: io::Error,
    },
    AlreadyMounted(PathBuf),
    NotExecutable(PathBuf),
    NotAFile(PathBuf),
    NotInPath(String),
    EmptyCommand(String),
    CommandSpawn {
        command: String,
        source: io::Error,
    },
    CommandFailed {
        command: String,
        status: ExitStatus,
    },
    CommandSilent(String),
    /// A `!` command still running at the deadline; its process group was killed.
    CommandTimedOut {
        command: String,
        secs: u64,
    },
    /// A `!` command whose first line of output is longer than `VALUE_MAX`.
    CommandLineTooLong(String),
    /// A program to run that is not root's alone (security check 25).
    Untrusted {
        program: PathBuf,
        distrust: Distrust,
    },
    /// A tree that is not root's alone (LOWER, UPPER, WORK, BASE, SHARE).
    NotRootsAlone {
        path: PathBuf,
        distrust: Box<Distrust>,
    },
    NameEmpty,
    NameTooLong(String),
    NameBadChar {
        name: String,
        ch: char,
    },
    NameDots(String),
    InterfaceTooLong(String),
    BadCable(String),
    BadBridge(String),
    BadMac(String),
    MulticastMac(String),
    ZeroMac(String),
    BadVlanTag(String),
    VlanWithoutCable(String),
    BadRamSize(String),
    /// RAM_SIZE 0 (or 0%): tmpfs would take it as "no limit".
    ZeroRamSize(String),
    /// RAM_SIZE above the host's memory (bytes), or beyond 100%.
    HugeRamSize {
        size: String,
        memory: u64,
    },
    /// START's entries need more argument space than exec(2) can be counted on for.
    StartTooLongForExec(usize),
    /// The LOG file name's length, longer than NAME_MAX.
    LogNameTooLong(usize),
    /// WORK not on the same mount (filesystem) as UPPER, as overlayfs needs.
    WorkNotWithUpper {
        work: PathBuf,
        upper: PathBuf,
    },
    BadTimeout(String),
    UnknownCap(String),
    /// Under SECURITY=hardened: not a capability the profile lets go.
    UnkeptCap(String),
    BadSecurity(String),
    BadPrivateUsers(String),
    /// A FIRST:COUNT range that maps host root, is empty or passes 2^32-1.
    PrivateUsersRange(String),
    /// A PRIVATE_USERS range that shares host ids with a running
    /// subhost's recorded range (checked at boot, `subhost::idrange`).
    IdRangeInUse {
        range: String,
        by: String,
    },
    /// PRIVATE_USERS=yes and every candidate range is taken.
    NoFreeIdRange,
    /// The kernel or a filesystem cannot give the subhost its user
    /// namespace: what is missing.
    NoUserNamespace(String),
    /// PRIVATE_USERS with an UPPER or a SHARE that host users can reach.
    Reachable {
        what: &'static str,
        path: PathBuf,
    },
    NotAbsolute(String),
    DotDot(String),
    BadShare(String),
    BadSize(String),
    TooSmall {
        value: String,
        least: String,
    },
    BadPercent(String),
    CpuMaxAboveHost {
        value: String,
        cpus: u64,
    },
    OutOfRange {
        value: String,
        lo: u64,
        hi: u64,
    },
    NoController {
        controller: String,
    },
}

impl From<Flaw> for Fault {
    fn from(flaw: Flaw) -> Fault {
        match flaw {
            Flaw::NotUtf8 => Fault::NotUtf8,
            Flaw::Nul => Fault::Nul,
            Flaw::TooLong(n) => Fault::TooLong(n),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable { file, source } => {
                write!(
                    f,
                    "{}: cannot read the configuration: {}",
                    file.display(),
                    OsText(source)
                )
            }
            Self::Untrusted { file, distrust } => {
                write!(f, "{}: refused: {distrust}", file.display())
            }
            Self::Missing { file, var } => {
                write!(f, "{}: {var}: required variable missing", file.display())
            }
            Self::Value {
                file,
                var,
                origin: Origin::Line(n),
                fault,
            } => {
                write!(f, "{}:{n}: {var}: {fault}", file.display())
            }
            Self::Value {
                file,
                var,
                origin: Origin::Default,
                fault,
            } => {
                write!(f, "{}: {var} (default): {fault}", file.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unreadable { source, .. } => Some(source),
            Self::Value {
                fault: Fault::Io { source, .. },
                ..
            }
            | Self::Value {
                fault: Fault::CommandSpawn { source, .. },
                ..
            } => Some(source),
            _ => None,
        }
    }
}

/// `exit status 1` or `killed by signal 9`.
fn describe_status(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => status.to_string(),
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotUtf8 => write!(f, "value is not valid UTF-8"),
            Self::Nul => write!(f, "value holds a NUL byte"),
            Self::TooLong(n) => write!(
                f,
                "value is {n} bytes long; the limit is {} bytes",
                super::parse::VALUE_MAX
            ),
            Self::NoSuchDirectory(p) => write!(f, "{}: no such directory", p.display()),
            Self::NotADirectory(p) => write!(f, "{}: not a directory", p.display()),
            Self::NoSuchPath(p) => write!(f, "{}: no such file or directory", p.display()),
            Self::Io { path, source } => write!(f, "{}: {}", path.display(), OsText(source)),
            Self::AlreadyMounted(p) => write!(f, "{} is already a mount point", p.display()),
            Self::NotExecutable(p) => write!(f, "{} is not an executable file", p.display()),
            Self::NotAFile(p) => write!(f, "{}: not a file name", p.display()),
            Self::NotInPath(w) => write!(f, "{w:?}: no executable file of that name in PATH"),
            Self::EmptyCommand(c) => write!(f, "command {c:?} names no program"),
            Self::CommandSpawn { command, source } => {
                write!(f, "command {command:?} could not be run: {}", OsText(source))
            }
            Self::CommandFailed { command, status } => {
                write!(
                    f,
                    "command {command:?} failed ({})",
                    describe_status(status)
                )
            }
            Self::CommandSilent(c) => write!(f, "command {c:?} printed nothing"),
            Self::CommandTimedOut { command, secs } => write!(
                f,
                "command {command:?} did not end within {secs} s; it and its process group were killed"
            ),
            Self::CommandLineTooLong(c) => write!(
                f,
                "command {c:?} printed a first line longer than {} bytes",
                super::parse::VALUE_MAX
            ),
            Self::Untrusted { program, distrust } => {
                write!(f, "program {} refused: {distrust}", program.display())
            }
            Self::NotRootsAlone { path, distrust } => {
                write!(f, "{} refused: {distrust}", path.display())
            }
            Self::NameEmpty => write!(f, "the name is empty"),
            Self::NameTooLong(n) => write!(f, "{n:?} is longer than 12 characters"),
            Self::NameBadChar { name, ch } => {
                write!(
                    f,
                    "{name:?} holds {ch:?}, which a subhost name may not hold"
                )
            }
            Self::NameDots(n) => write!(f, "{n:?} is not a usable name"),
            Self::InterfaceTooLong(i) => write!(
                f,
                "host interface name {i:?} would be longer than 15 characters \
                 (kernel limit); shorten the name"
            ),
            Self::BadCable(c) => write!(f, "bad cable {c:?}: expected [bridge]=[mac|.vlan]"),
            Self::BadBridge(b) => write!(f, "bad bridge name {b:?}"),
            Self::BadMac(m) => write!(f, "bad MAC address {m:?}: expected xx:xx:xx:xx:xx:xx"),
            Self::MulticastMac(m) => {
                write!(
                    f,
                    "MAC address {m:?} is a multicast address (lowest bit of the first byte set)"
                )
            }
            Self::ZeroMac(m) => write!(f, "MAC address {m:?} is all zeros"),
            Self::BadVlanTag(t) => write!(f, "bad VLAN tag {t:?}: expected .1 to .4095"),
            Self::VlanWithoutCable(c) => {
                write!(
                    f,
                    "VLAN cable {c:?} has no previous (non-VLAN) cable to ride on"
                )
            }
            Self::BadRamSize(s) => {
                write!(f, "bad size {s:?}: expected a number with an optional k, m, g or % suffix, or none")
            }
            Self::ZeroRamSize(s) => {
                write!(f, "size {s:?} is zero, which tmpfs takes as no limit at all")
            }
            Self::HugeRamSize { size, .. } if size.ends_with('%') => {
                write!(f, "size {size:?} is more than 100%")
            }
            Self::HugeRamSize { size, memory } => write!(
                f,
                "size {size:?} is more than this host's memory ({} MiB)",
                memory >> 20
            ),
            Self::StartTooLongForExec(n) => write!(
                f,
                "the entries take {n} bytes as the subinit's arguments; the limit is {} bytes",
                super::values::START_ARGS_MAX
            ),
            Self::LogNameTooLong(n) => write!(
                f,
                "the file name is {n} bytes long; a file name has at most 255 (NAME_MAX)"
            ),
            Self::WorkNotWithUpper { work, upper } => write!(
                f,
                "{} is not on the same mount as UPPER {}, as overlayfs needs",
                work.display(),
                upper.display()
            ),
            Self::BadTimeout(t) => {
                write!(f, "{t:?} is not a whole number of seconds from 1 to 3600")
            }
            Self::UnknownCap(c) => write!(
                f,
                "{c:?} is not one of the capabilities dropped by default: {}",
                crate::model::caps::Caps::machine().names()
            ),
            Self::UnkeptCap(c) => write!(
                f,
                "{c:?} is not one of the capabilities SECURITY=hardened drops and lets KEEP_CAPS \
                 keep (CAP_SYS_ADMIN, CAP_MKNOD, CAP_SYS_PTRACE and CAP_SYS_BOOT never are): {}",
                super::Security::Hardened.keepable().names()
            ),
            Self::BadSecurity(v) => write!(f, "{v:?} is not a profile: expected admin or hardened"),
            Self::BadPrivateUsers(v) => {
                write!(f, "{v:?}: expected no, yes or FIRST:COUNT (two whole numbers)")
            }
            Self::PrivateUsersRange(v) => write!(
                f,
                "{v:?}: the range must not start at 0 (host root), must hold at least one id and must end below 4294967295"
            ),
            Self::IdRangeInUse { range, by } => {
                write!(f, "host ids {range} overlap those of running subhost {by}")
            }
            Self::NoFreeIdRange => write!(
                f,
                "no free range of 65536 host ids from 1879048192 up (every one is taken by a running subhost or /etc/subuid)"
            ),
            Self::NoUserNamespace(why) => write!(f, "cannot be done here: {why}"),
            Self::Reachable { what, path } => write!(
                f,
                "{what} {} can be reached by users other than root: a setuid-root file made by root inside would be setuid-root for them on the host; keep it under a directory of mode 0700 (BASE 0700 for UPPER)",
                path.display()
            ),
            Self::NotAbsolute(p) => write!(f, "{p:?} is not an absolute path"),
            Self::DotDot(p) => write!(f, "{p:?}: a path inside the subhost may not hold \"..\""),
            Self::BadShare(s) => write!(f, "bad share {s:?}: expected dir or hostdir:subhostdir"),
            Self::BadSize(s) => write!(
                f,
                "bad size {s:?}: expected bytes with an optional K, M, G or T suffix, or 1% to 100% of the host's memory"
            ),
            Self::TooSmall { value, least } => {
                write!(f, "{value:?} is less than the subhost needs (at least {least})")
            }
            Self::BadPercent(s) => {
                write!(f, "bad value {s:?}: expected a whole percentage of one CPU, e.g. 150%")
            }
            Self::CpuMaxAboveHost { value, cpus } => {
                write!(f, "{value:?} is more than this host's {cpus} CPUs ({}%)", cpus * 100)
            }
            Self::OutOfRange { value, lo, hi } => {
                write!(f, "{value:?} is not a whole number from {lo} to {hi}")
            }
            Self::NoController { controller } => {
                write!(f, "this host has no {controller}: the limit cannot be applied")
            }
        }
    }
}
