//! The netlink module's errors: each names the operation and the interface
//! it acted on, and carries the errno where the kernel gave one.

use std::fmt;
use std::io;

pub type Result<T> = std::result::Result<T, NetlinkError>;

#[derive(Debug)]
pub enum NetlinkError {
    /// A name the kernel would refuse; nothing was sent.
    BadName { name: String, why: &'static str },
    /// Opening the socket failed (`socket`, `bind`).
    Open {
        step: &'static str,
        source: io::Error,
    },
    /// Sending the request or reading its reply failed.
    Transport {
        op: &'static str,
        ifname: String,
        source: io::Error,
    },
    /// The kernel's reply did not parse.
    Malformed {
        op: &'static str,
        ifname: String,
        why: &'static str,
    },
    /// The kernel refused the request with this errno (and, when it says
    /// more through the extended ack, `detail`).
    Kernel {
        op: &'static str,
        ifname: String,
        errno: i32,
        detail: Option<String>,
    },
    /// The kernel lacks the link type (EOPNOTSUPP, "Unknown device type"),
    /// e.g. 8021q not built or loadable for a VLAN.
    NotSupported {
        op: &'static str,
        ifname: String,
        errno: i32,
        detail: Option<String>,
    },
    /// An interface the request refers to (a bridge, a VLAN's parent) does
    /// not exist.
    NoSuchLink {
        op: &'static str,
        ifname: String,
        missing: String,
    },
}

impl NetlinkError {
    /// The errno behind the error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Kernel { errno, .. } | Self::NotSupported { errno, .. } => Some(*errno),
            Self::Open { source, .. } | Self::Transport { source, .. } => source.raw_os_error(),
            Self::BadName { .. } | Self::Malformed { .. } | Self::NoSuchLink { .. } => None,
        }
    }
}

/// `strerror` text of `errno`, with the extended ack's message if any.
fn kernel_says(f: &mut fmt::Formatter<'_>, errno: i32, detail: &Option<String>) -> fmt::Result {
    write!(f, "{}", io::Error::from_raw_os_error(errno))?;
    match detail {
        Some(detail) => write!(f, " ({detail})"),
        None => Ok(()),
    }
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadName { name, why } => write!(f, "bad interface name {name:?}: {why}"),
            Self::Open { step, source } => write!(f, "open rtnetlink socket: {step}: {source}"),
            Self::Transport { op, ifname, source } => write!(f, "{op} {ifname}: {source}"),
            Self::Malformed { op, ifname, why } => {
                write!(f, "{op} {ifname}: bad reply from the kernel: {why}")
            }
            Self::Kernel {
                op,
                ifname,
                errno,
                detail,
            } => {
                write!(f, "{op} {ifname}: ")?;
                kernel_says(f, *errno, detail)
            }
            Self::NotSupported {
                op,
                ifname,
                errno,
                detail,
            } => {
                write!(f, "{op} {ifname}: not supported by this kernel: ")?;
                kernel_says(f, *errno, detail)
            }
            Self::NoSuchLink {
                op,
                ifname,
                missing,
            } => write!(f, "{op} {ifname}: no interface {missing:?}"),
        }
    }
}

impl std::error::Error for NetlinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Open { source, .. } | Self::Transport { source, .. } => Some(source),
            _ => None,
        }
    }
}
