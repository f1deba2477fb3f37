//! invoke-rc.d's policy inside the subhost (issue 11, item 13). A running
//! subhost lets package maintenance act on its START services and answers
//! as a host would for the others (not started, as when not enabled in
//! the runlevel); a session forbids every action. A policy-rc.d of the
//! subhost's own, in UPPER or LOWER, hides this one.
//!
//! It comes from an extra read-only layer of the overlay, owned by the
//! launcher and stacked below LOWER: a small tmpfs holding only
//! `usr/sbin/policy-rc.d`, mounted on `/run/overlay-boot/NAME/rc-layer` in
//! the monitor's private mount namespace (the host sees an empty
//! directory). Nothing is written into UPPER, and the layer goes with the
//! subhost's mount namespaces.
//!
//! Why a tmpfs of its own: a layer directory under LOWER (`/run` on
//! LOWER=/) is refused by the kernel as overlapping (ELOOP). Why below
//! LOWER: LOWER's own files and directories (their modes, owners, a `usr`
//! that is a link) stay what the subhost sees, and LOWER stays the first
//! lower layer, whose identity an overlay with `index=on` records in UPPER
//! and checks at each mount.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;

use crate::error::{At, Result};
use crate::model::config::{Config, RootMode};
use crate::subhost::state;

/// The policy script's place, in the layer as in the subhost.
pub const POLICY_RC_D: &str = "usr/sbin/policy-rc.d";
/// The layer's mount point in the run directory.
const LAYER: &str = "rc-layer";
/// The layer's tmpfs: room for the script and little else.
const TMPFS: &str = "mode=0755,size=64k,nr_inodes=16";

/// The session's policy: 101 is "action forbidden" (invoke-rc.d(8)).
const SESSION_TEXT: &str = "#!/bin/sh\n\
    # overlay-boot --session: package installs start and stop no daemons\n\
    # while the session runs (overlay-boot(8), PACKAGE MAINTENANCE).\n\
    exit 101\n";

/// The layer for an overlay root: its path and an O_PATH fd on it; None
/// when there is no overlay. Must run in the monitor's private mount
/// namespace.
pub fn prepare(cfg: &Config, session: bool) -> Result<Option<(PathBuf, OwnedFd)>> {
    if cfg.mode != RootMode::Overlay {
        return Ok(None);
    }
    let layer = state::dir(&cfg.name).join(LAYER);
    if !layer.exists() {
        fs::create_dir(&layer).at("mkdir", &layer)?;
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(Some("rc-layer"), &layer, Some("tmpfs"), flags, Some(TMPFS))
        .at("mount tmpfs on", &layer)?;
    for dir in ["usr", "usr/sbin"] {
        make_dir(&layer.join(dir))?;
    }
    let text = match session {
        true => SESSION_TEXT.to_string(),
        false => running_text(&cfg.name, &cfg.start),
    };
    let script = layer.join(POLICY_RC_D);
    fs::write(&script, text).at("write", &script)?;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).at("chmod", &script)?;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::open(&layer, flags, Mode::empty()).at("open", &layer)?;
    Ok(Some((layer, fd)))
}

/// A directory of the layer, mode 0755 whatever the umask.
fn make_dir(dir: &Path) -> Result<()> {
    fs::create_dir(dir).at("mkdir", dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).at("chmod", dir)
}

/// The running subhost's policy: `policy-rc.d [--quiet] ID ACTION [RL]`
/// allows every action on a START service; for the others it refuses
/// start, restart and try-restart (101), as a host does for a service not
/// enabled in its runlevel, and allows the rest (stop, reload, status).
fn running_text(name: &str, start: &[String]) -> String {
    let ids: Vec<&str> = start.iter().filter_map(|e| service_id(e)).collect();
    format!(
        "#!/bin/sh\n\
         # overlay-boot: invoke-rc.d's policy in the running subhost {name}\n\
         # (overlay-boot(8), PACKAGE MAINTENANCE). Its START services may be\n\
         # started and restarted; others are not started, as on a host where\n\
         # they are not enabled. A policy-rc.d of your own takes precedence.\n\
         [ \"$1\" = --quiet ] && shift\n\
         case \" {} \" in *\" $1 \"*) exit 0 ;; esac\n\
         case \"$2\" in *start*) exit 101 ;; esac\n\
         exit 0\n",
        ids.join(" ")
    )
}

/// The init script id of a START entry: the entry itself, or the file
/// name of an `/etc/init.d/` path; None for other paths and for names a
/// shell pattern could misread.
fn service_id(entry: &str) -> Option<&str> {
    let id = match entry.strip_prefix("/etc/init.d/") {
        Some(rest) => rest,
        None if entry.starts_with('/') => return None,
        None => entry,
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || "._@+-".contains(c);
    (!id.is_empty() && id.chars().all(plain)).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ids_of_start_entries() {
        assert_eq!(service_id("ssh"), Some("ssh"));
        assert_eq!(service_id("/etc/init.d/cron"), Some("cron"));
        assert_eq!(service_id("/usr/local/bin/x"), None);
        assert_eq!(service_id("a*b"), None);
        assert_eq!(service_id(""), None);
    }

    #[test]
    fn running_text_lists_the_start_services() {
        let text = running_text("web", &["networking".into(), "/etc/init.d/ssh".into()]);
        assert!(text.contains("case \" networking ssh \" in"), "{text}");
        assert!(text.starts_with("#!/bin/sh\n"));
    }
}
