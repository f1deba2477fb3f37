//! The subhost's configuration: the original overlay-boot file format, parsed,
//! resolved and checked before anything is created on the host.
//!
//! `Config::load(path)` is the one entry point: it reads the file, applies the
//! defaults, runs `!command` values (in BASE), resolves every path and checks
//! them. Everything after it acts on a validated `Config` and never re-reads
//! the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod cable;
mod caps;
mod command;
mod error;
mod limits;
mod load;
#[cfg(test)]
mod load_tests;
mod name;
mod parse;
#[cfg(test)]
mod parse_props;
mod paths;
mod resolve;
mod roots;
mod security;
mod share;
mod trust;
#[cfg(test)]
mod trust_tests;
mod values;

pub use command::{BangCommand, BangRunner, Ran};
pub use error::{ConfigError, Fault, Origin};
pub use limits::Limits;
pub use resolve::HostEnv;
pub use security::{PrivateUsers, Security};
pub use trust::{reachable_by_users, Guarded, Trees};

/// One virtual cable from `CABLES`: `[bridge]=[mac|.vlan]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cable {
    /// A veth pair `NAMEn` (host) / `ethN` (subhost).
    Veth {
        /// Index N counted over veth cables only.
        index: u32,
        bridge: Option<String>,
        mac: Option<[u8; 6]>,
    },
    /// `.T`: a VLAN with tag T on the previous veth cable.
    Vlan {
        /// Index of the veth cable it rides on.
        index: u32,
        tag: u16,
        bridge: Option<String>,
    },
}

/// One `SHARE` line: `dir` or `hostdir:subhostdir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// Absolute, resolved host path (relative values are relative to BASE).
    pub host: PathBuf,
    /// Absolute path inside the subhost.
    pub subhost: PathBuf,
}

/// How the root filesystem is made, chosen by the paths (compat "Root filesystem modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootMode {
    /// UPPER != LOWER: overlay of LOWER (read-only) and UPPER on LIVE.
    Overlay,
    /// UPPER == LOWER, LIVE different: LIVE is a bind mount of UPPER.
    Bind,
    /// LIVE == UPPER == LOWER: LIVE is used as it is.
    AsIs,
}

/// A `PREMOUNT`, `POSTMOUNT` or `INIT` value: the built-in action, or a
/// configured command line (split into words, no shell syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    BuiltIn,
    Command(Vec<String>),
}

/// `RAM_SIZE`: the size of the tmpfs on the subhost's `/run`, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RamSize {
    None,
    /// The value as given (e.g. `50M`), passed to tmpfs `size=`.
    Size(String),
}

/// A validated subhost configuration: every path absolute and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The configuration file, absolute and canonical.
    pub path: PathBuf,
    /// Subhost name: 1..=12 printable ASCII characters, no `/` or blank.
    pub name: String,
    pub log: PathBuf,
    /// The line that set LOG; `None` when LOG was not set and `log` is the
    /// default, `/tmp/oly-NAME.log`, which a local user may have planted
    /// something at (the boot then logs to `/var/log/overlay-boot/NAME.log`).
    pub log_line: Option<usize>,
    pub base: PathBuf,
    pub cables: Vec<Cable>,
    pub live: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub lower: PathBuf,
    pub mode: RootMode,
    /// START entries in order; empty for `START=none`.
    pub start: Vec<String>,
    pub premount: Hook,
    pub postmount: Hook,
    pub init: Hook,
    pub ram_size: RamSize,
    pub shares: Vec<Share>,
    /// `SERVICES`: services directory inside the subhost; `None` for `none`.
    pub services: Option<PathBuf>,
    /// `STOP_TIMEOUT` in seconds (default 10).
    pub stop_timeout: Duration,
    /// MEMORY_MAX, CPU_MAX and the other resource limits.
    pub limits: Limits,
    /// `KEEP_CAPS`: capabilities its profile drops that the subhost keeps.
    pub keep_caps: crate::model::caps::Caps,
    /// `SECURITY`: the confinement profile (default `admin`).
    pub security: Security,
    /// `PRIVATE_USERS`: a user namespace of its own (default `no`).
    pub private_users: PrivateUsers,
    /// Where PRIVATE_USERS was set, for the boot's refusals (a range in
    /// use, no user namespaces, a layer that cannot be idmapped).
    pub private_users_origin: Origin,
}

impl Config {
    /// Reads, resolves and checks the configuration file `path` against the
    /// running host (`/proc/self/mountinfo`, the process's PATH, the trees
    /// of the running subhosts in `guarded`). `!command` values are run
    /// here, by `runner`, in the documented order.
    pub fn load(
        path: &Path,
        guarded: Arc<dyn Trees>,
        runner: Arc<dyn BangRunner>,
    ) -> Result<Config, ConfigError> {
        Self::load_with(path, &HostEnv::from_process(guarded, runner))
    }

    /// [`Config::load`] with the host facts given, for tests.
    pub fn load_with(path: &Path, env: &HostEnv) -> Result<Config, ConfigError> {
        load::load(path, env)
    }
}

/// NAME as the file `path` states it, without running any `!` command: its
/// NAME assignment, else its base name without `.conf`; None when that is
/// not a valid name. For finding a subhost booted by the original tool.
pub fn plain_name(path: &Path) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    let assignments = parse::parse(&text).ok()?;
    let name = match assignments.get(parse::Var::Name) {
        Some(a) if a.value.starts_with('!') => return None,
        Some(a) => a.value.clone(),
        None => load::default_name(path).ok()?,
    };
    name::check_name(&name).ok().map(|()| name)
}
