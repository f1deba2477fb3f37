//! invoke-rc.d's policy inside the subhost (issue 11, item 13), given by
//! an extra read-only layer of the overlay, owned by the launcher and
//! stacked on LOWER: `/run/overlay-boot/NAME/rc-layer/usr/sbin/policy-rc.d`.
//! Nothing is written into UPPER, and the layer goes with the run
//! directory. A running subhost lets package maintenance act on its START
//! services and answers as a host would for the others (not started, as
//! when not enabled in the runlevel); a session forbids every action.
//! A policy-rc.d of the subhost's own wins: in UPPER it is the upper
//! layer; in LOWER no layer is added.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::config::{Config, RootMode};
use crate::error::{At, Result};
use crate::state;

/// The policy script's place, in the layer as in the subhost.
pub const POLICY_RC_D: &str = "usr/sbin/policy-rc.d";
/// The layer's directory in the run directory.
const LAYER: &str = "rc-layer";

/// The session's policy: 101 is "action forbidden" (invoke-rc.d(8)).
const SESSION_TEXT: &str = "#!/bin/sh\n\
    # overlay-boot --session: package installs start and stop no daemons\n\
    # while the session runs (overlay-boot(8), PACKAGE MAINTENANCE).\n\
    exit 101\n";

/// The layer for an overlay root: its path and an O_PATH fd on it; None
/// when there is no overlay, LOWER has a policy-rc.d of its own, or
/// LOWER's `usr` or `usr/sbin` is not a plain directory (the layer's
/// directories would hide it).
pub fn prepare(cfg: &Config, session: bool) -> Result<Option<(PathBuf, OwnedFd)>> {
    if cfg.mode != RootMode::Overlay {
        return Ok(None);
    }
    let lower = &cfg.lower;
    if fs::symlink_metadata(lower.join(POLICY_RC_D)).is_ok() {
        log::info!("LOWER has its own {POLICY_RC_D}: no policy layer");
        return Ok(None);
    }
    let dirs = ["usr", "usr/sbin"].map(|d| fs::symlink_metadata(lower.join(d)));
    if !dirs.iter().all(|m| m.as_ref().is_ok_and(|m| m.is_dir())) {
        log::info!("LOWER's usr/sbin is not a plain directory: no policy layer");
        return Ok(None);
    }
    let layer = state::dir(&cfg.name).join(LAYER);
    if layer.exists() {
        fs::remove_dir_all(&layer).at("remove", &layer)?;
    }
    make_dir(&layer, 0o755, None)?;
    for (d, meta) in ["usr", "usr/sbin"].iter().zip(dirs.iter().flatten()) {
        make_dir(
            &layer.join(d),
            meta.mode() & 0o7777,
            Some((meta.uid(), meta.gid())),
        )?;
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

fn make_dir(dir: &Path, mode: u32, owner: Option<(u32, u32)>) -> Result<()> {
    fs::create_dir(dir).at("mkdir", dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).at("chmod", dir)?;
    if let Some((uid, gid)) = owner {
        chown(dir, Some(uid), Some(gid)).at("chown", dir)?;
    }
    Ok(())
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
