//! The one root check of the commands: every command acts on host
//! namespaces, mounts and cgroups, and says so plainly when it is not run
//! as root (exit 1) instead of failing at its first privileged step.

use crate::error::{Error, Result};

pub fn require_root() -> Result<()> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(Error::NotRoot)
    }
}
