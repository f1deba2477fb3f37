//! The wire formats between overlay-boot's launcher and its subinit, each
//! written and read in one place (see docs/subinit-contract.md):
//!
//! - [`child`]: the clone3 child's report of the step that failed before exec;
//! - [`event`]: the monitor's events to the caller of `overlay-boot`;
//! - [`ready`]: the subinit's ready report (`ready N`, `failed NAME STATUS`);
//! - [`status`]: the subinit's status snapshots;
//! - [`timestamp`]: the log lines' time stamp; [`PATH`]: the services' PATH.
//!
//! Every decoder takes text and returns a typed message or a [`DecodeError`].

pub mod child;
mod error;
pub mod event;
mod name;
pub mod outcome;
pub mod ready;
pub mod status;
pub mod timestamp;

pub use error::DecodeError;
pub use name::{escape_name, percent_escape, unescape_name};
pub use outcome::Outcome;

/// The PATH services, sessions and entered shells get inside a subhost
/// (Debian's root default).
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
