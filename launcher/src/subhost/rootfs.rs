//! The subhost's root filesystem on LIVE, by mode (compat "Root filesystem
//! modes"), and the SHARE binds. Runs in the monitor's private mount
//! namespace, so none of it shows in the host's mount table.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};

use crate::error::{At, Result};
use crate::kernel::inroot::{fd_path, file_kind, Root};
use crate::model::config::{Config, RootMode, Share};
use crate::model::mountinfo;

/// Mounts the root filesystem on LIVE; `layer` (see rclayer) goes below
/// LOWER in an overlay.
pub fn mount_root(cfg: &Config, layer: Option<&(PathBuf, OwnedFd)>) -> Result<()> {
    let live = cfg.live.as_path();
    match cfg.mode {
        RootMode::Overlay => mount_overlay(cfg, layer),
        RootMode::Bind => {
            // Why: UPPER is the subhost's root itself, seen at LIVE.
            mount(
                Some(cfg.upper.as_path()),
                live,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .at("bind UPPER onto", live)
        }
        RootMode::AsIs => as_is(live),
    }
}

/// The overlay on LIVE. Why: the subhost sees LOWER read-only with its own
/// changes in UPPER; the source name NAME identifies the mount (compat).
/// The layers are given as `/proc/self/fd/N` of fds opened here, so the
/// mount options in mountinfo, also inside the subhost, name no host path
/// (issue 9, hole 13); a kernel that refuses that gets the paths.
fn mount_overlay(cfg: &Config, layer: Option<&(PathBuf, OwnedFd)>) -> Result<()> {
    let live = cfg.live.as_path();
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let open = |p: &Path| nix::fcntl::open(p, flags, nix::sys::stat::Mode::empty()).at("open", p);
    let (lower, upper, work) = (open(&cfg.lower)?, open(&cfg.upper)?, open(&cfg.work)?);
    let mut lowers = vec![fd_path(&lower)];
    let mut lower_paths = vec![cfg.lower.clone()];
    if let Some((path, fd)) = layer {
        lowers.push(fd_path(fd));
        lower_paths.push(path.clone());
    }
    let by_fd = overlay_options(&lowers, &fd_path(&upper), &fd_path(&work));
    let overlay = |data: &str| {
        let name = Some(cfg.name.as_str());
        mount(name, live, Some("overlay"), MsFlags::empty(), Some(data))
    };
    match overlay(&by_fd) {
        Ok(()) => Ok(()),
        Err(errno) => {
            log::info!("overlay by fd: {}; by path instead", errno.desc());
            let data = overlay_options(&lower_paths, &cfg.upper, &cfg.work);
            overlay(&data).at("mount overlay on", live)
        }
    }
}

/// LIVE used as it is: pivot_root needs a mount point, so a plain directory
/// is bound onto itself (with its submounts) first.
fn as_is(live: &Path) -> Result<()> {
    let text = fs::read(mountinfo::MOUNTINFO).at("read", mountinfo::MOUNTINFO)?;
    if mountinfo::is_mount_point(&text, live) {
        return Ok(());
    }
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(live), live, None::<&str>, flags, None::<&str>).at("bind onto itself", live)
}

/// `lowerdir=…,upperdir=…,workdir=…` with `\`, `,` and `:` escaped; the
/// lower layers, topmost first, are joined by `:`.
pub fn overlay_options<P: AsRef<Path>>(lowers: &[P], upper: &Path, work: &Path) -> String {
    let lowers: Vec<String> = lowers.iter().map(|p| escape(p.as_ref())).collect();
    format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        escape(upper),
        escape(work)
    )
}

fn escape(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Binds each SHARE's host path onto its place under LIVE, creating the
/// target (a directory, or an empty file for a file). A share of LOWER
/// itself is skipped (compat).
pub fn bind_shares(cfg: &Config, live: &Root) -> Result<()> {
    for share in &cfg.shares {
        if share.host == cfg.lower {
            log::info!("share {}: LOWER itself, skipped", share.host.display());
            continue;
        }
        bind_share(share, live)?;
    }
    Ok(())
}

fn bind_share(share: &Share, live: &Root) -> Result<()> {
    let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    let src = nix::fcntl::open(&share.host, flags, nix::sys::stat::Mode::empty())
        .at("open share", &share.host)?;
    let is_dir = file_kind(&src, &share.host)? == nix::sys::stat::SFlag::S_IFDIR;
    // The target is reached inside LIVE only: a symlink planted there
    // cannot redirect the bind onto a host path.
    let dst = live.mount_target(&share.subhost, is_dir)?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(
        Some(&fd_path(&src)),
        &fd_path(&dst),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .at("bind share onto", live.show(&share.subhost))?;
    log::info!(
        "share {} on {}",
        share.host.display(),
        share.subhost.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_escape_separators() {
        let o = overlay_options(&["/"], Path::new("/a,b/root"), Path::new("/x:y/w"));
        assert_eq!(o, "lowerdir=/,upperdir=/a\\,b/root,workdir=/x\\:y/w");
        let o = overlay_options(&["/r:l", "/"], Path::new("/u"), Path::new("/w"));
        assert_eq!(o, "lowerdir=/r\\:l:/,upperdir=/u,workdir=/w");
    }
}
