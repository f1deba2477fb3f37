//! The subhost's root filesystem on LIVE, by mode (compat "Root filesystem
//! modes"), and the SHARE binds. Runs in the monitor's private mount
//! namespace, so none of it shows in the host's mount table.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};

use crate::error::{At, Error, Result};
use crate::kernel::inroot::{fd_path, file_kind, Root};
use crate::kernel::{idmap, userns};
use crate::model::config::{Config, RootMode, Share};
use crate::model::mountinfo;
use crate::subhost::idmount;

/// Mounts the root filesystem on LIVE; `layer` (see rclayer) goes below
/// LOWER in an overlay. With `userns` (PRIVATE_USERS) every tree is an
/// idmapped mount through it (`idmount`).
pub fn mount_root(
    cfg: &Config,
    layer: Option<&(PathBuf, OwnedFd)>,
    userns: Option<&OwnedFd>,
) -> Result<()> {
    let live = cfg.live.as_path();
    match (cfg.mode, userns) {
        (RootMode::Overlay, None) => mount_overlay(cfg, [&cfg.lower, &cfg.upper, &cfg.work], layer),
        (RootMode::Overlay, Some(ns)) => {
            let s = idmount::stage(cfg, ns, layer.map(|(p, _)| p.as_path()))?;
            userns::as_range_root(s.map, || {
                mount_overlay(cfg, [&s.lower, &s.upper, &s.work], s.rc.as_ref())
            })
        }
        (RootMode::Bind, None) => {
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
        (RootMode::Bind, Some(ns)) => idmapped_bind(cfg, "UPPER", &cfg.upper, ns, live, false),
        (RootMode::AsIs, None) => as_is(live),
        // Refused before the fork (idmount::probe).
        (RootMode::AsIs, Some(_)) => Err(Error::Call {
            op: "idmap LIVE used as it is",
            errno: nix::errno::Errno::EINVAL,
        }),
    }
}

/// An idmapped clone of `tree` attached on `at` (with its submounts when
/// `recursive`); refused (exit 2) when its filesystem cannot be idmapped.
fn idmapped_bind(
    cfg: &Config,
    what: &str,
    tree: &Path,
    ns: &OwnedFd,
    at: &Path,
    recursive: bool,
) -> Result<()> {
    let mnt = idmap::idmapped_clone(tree, ns, recursive)
        .map_err(|e| idmount::refusal(cfg, what, tree, e))?;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let to = nix::fcntl::open(at, flags, nix::sys::stat::Mode::empty()).at("open", at)?;
    idmap::attach(&mnt, &to, at)
}

/// The overlay on LIVE. Why: the subhost sees LOWER read-only with its own
/// changes in UPPER; the source name NAME identifies the mount (compat).
/// The layers are given as `/proc/self/fd/N` of fds opened here, so the
/// mount options in mountinfo, also inside the subhost, name no host path
/// (issue 9, hole 13); a kernel that refuses that gets the paths.
fn mount_overlay(
    cfg: &Config,
    [lower_dir, upper_dir, work_dir]: [&Path; 3],
    layer: Option<&(PathBuf, OwnedFd)>,
) -> Result<()> {
    let live = cfg.live.as_path();
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let open = |p: &Path| nix::fcntl::open(p, flags, nix::sys::stat::Mode::empty()).at("open", p);
    let (lower, upper, work) = (open(lower_dir)?, open(upper_dir)?, open(work_dir)?);
    let mut lowers = vec![fd_path(&lower)];
    let mut lower_paths = vec![lower_dir.to_path_buf()];
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
            let data = overlay_options(&lower_paths, upper_dir, work_dir);
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
/// With `userns` (PRIVATE_USERS) each is an idmapped clone, submounts
/// included, refused (exit 2) when one of its filesystems cannot be.
pub fn bind_shares(cfg: &Config, live: &Root, userns: Option<&OwnedFd>) -> Result<()> {
    for share in &cfg.shares {
        if share.host == cfg.lower {
            log::info!("share {}: LOWER itself, skipped", share.host.display());
            continue;
        }
        bind_share(cfg, share, live, userns)?;
    }
    Ok(())
}

fn bind_share(cfg: &Config, share: &Share, live: &Root, userns: Option<&OwnedFd>) -> Result<()> {
    let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    let src = nix::fcntl::open(&share.host, flags, nix::sys::stat::Mode::empty())
        .at("open share", &share.host)?;
    let is_dir = file_kind(&src, &share.host)? == nix::sys::stat::SFlag::S_IFDIR;
    // The target is reached inside LIVE only: a symlink planted there
    // cannot redirect the bind onto a host path.
    let dst = live.mount_target(&share.subhost, is_dir)?;
    if let Some(ns) = userns {
        let mnt = idmap::idmapped_clone(&fd_path(&src), ns, true)
            .map_err(|e| idmount::refusal(cfg, "SHARE", &share.host, e))?;
        idmap::attach(&mnt, &dst, &live.show(&share.subhost))?;
        log::info!(
            "share {} on {} (idmapped)",
            share.host.display(),
            share.subhost.display()
        );
        return Ok(());
    }
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
