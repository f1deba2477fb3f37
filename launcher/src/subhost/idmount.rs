//! The subhost's trees as idmapped mounts, for `PRIVATE_USERS`: LOWER,
//! UPPER with WORK, the policy layer and each SHARE are seen through the
//! subhost's user namespace, so a file of host uid N shows as uid N
//! inside, and a file made by root inside (host uid FIRST) lands as uid 0
//! in UPPER: the same UPPER works with and without PRIVATE_USERS.
//!
//! The overlay takes its layers by path, and refuses a detached mount:
//! each idmapped clone is attached under the run directory
//! (`/run/overlay-boot/NAME/idmap/…`, in the monitor's private mount
//! namespace only), the overlay is mounted, and the clones are detached
//! again (the overlay keeps private copies of its layers).

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{umount2, MntFlags};
use nix::sys::stat::Mode;

use crate::error::{At, Error, Result};
use crate::kernel::idmap::{attach, idmapped_clone};
use crate::kernel::userns::IdMap;
use crate::model::config::{reachable_by_users, Config, Fault, RootMode};
use crate::subhost::{idrange, state};

/// The overlay's layers as idmapped mounts under the run directory.
pub struct Staged {
    pub lower: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// The policy layer (rclayer), and an fd on it.
    pub rc: Option<(PathBuf, OwnedFd)>,
    /// The subhost's ids (its root is `map.first`).
    pub map: IdMap,
    mounts: Vec<PathBuf>,
}

impl Drop for Staged {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            if let Err(errno) = umount2(m, MntFlags::MNT_DETACH) {
                log::debug!("umount {}: {}", m.display(), errno.desc());
            }
        }
    }
}

/// Idmaps LOWER, the tree holding UPPER and WORK, and the policy layer
/// `rc`; refused (exit 2) when a filesystem cannot be idmapped.
pub fn stage(cfg: &Config, userns: &OwnedFd, rc: Option<&Path>) -> Result<Staged> {
    let map = idrange::recorded(&cfg.name).ok_or(Error::Call {
        op: "read the recorded PRIVATE_USERS range",
        errno: Errno::ENOENT,
    })?;
    let dir = state::dir(&cfg.name).join("idmap");
    make_dir(&dir)?;
    let mut staged = Staged {
        lower: dir.join("lower"),
        upper: PathBuf::new(),
        work: PathBuf::new(),
        rc: None,
        map,
        mounts: Vec::new(),
    };
    let lower = staged.lower.clone();
    clone_onto(cfg, "LOWER", &cfg.lower, &lower, userns, &mut staged)?;
    // Why their common directory: the overlay wants UPPER and WORK on one
    // mount; both are on one filesystem mount (the configuration's check).
    let common = common_dir(&cfg.upper, &cfg.work);
    let rw = dir.join("rw");
    clone_onto(cfg, "UPPER", &common, &rw, userns, &mut staged)?;
    staged.upper = rw.join(relative(&cfg.upper, &common));
    staged.work = rw.join(relative(&cfg.work, &common));
    if let Some(layer) = rc {
        let at = dir.join("rc");
        clone_onto(cfg, "the policy layer", layer, &at, userns, &mut staged)?;
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(&at, flags, Mode::empty()).at("open", &at)?;
        staged.rc = Some((at, fd));
    }
    Ok(staged)
}

/// Checks, before the monitor forks, that every tree the subhost needs
/// idmapped can be (LOWER, the directory of UPPER and WORK, or UPPER
/// alone in Bind mode, and each SHARE), so that a refusal is exit 2;
/// a throwaway user namespace with the range's map serves.
pub fn probe(cfg: &Config, map: IdMap) -> Result<()> {
    let mut trees: Vec<(&str, PathBuf, bool)> = match cfg.mode {
        RootMode::Overlay => vec![
            ("LOWER", cfg.lower.clone(), false),
            ("UPPER", common_dir(&cfg.upper, &cfg.work), false),
        ],
        RootMode::Bind => vec![("UPPER", cfg.upper.clone(), false)],
        RootMode::AsIs => {
            let why = "LIVE used as it is (LIVE, UPPER and LOWER one directory, \
                       with its submounts) is not idmapped: give LIVE a directory \
                       of its own";
            let fault = Fault::NoUserNamespace(why.into());
            return Err(Error::Config(cfg.private_users_fault(fault)));
        }
    };
    for share in cfg.shares.iter().filter(|s| s.host != cfg.lower) {
        // Why: root inside writes there as host root (see idrange::reserve).
        if reachable_by_users(&share.host) {
            let path = share.host.clone();
            let fault = Fault::Reachable {
                what: "SHARE",
                path,
            };
            return Err(Error::Config(cfg.private_users_fault(fault)));
        }
        trees.push(("SHARE", share.host.clone(), true));
    }
    let (ns, _) = crate::kernel::userns::create(map, false)?;
    for (what, tree, recursive) in trees {
        idmapped_clone(&tree, &ns, recursive).map_err(|e| refusal(cfg, what, &tree, e))?;
    }
    Ok(())
}

/// An idmapped clone of `tree` attached on `at` (made if missing).
fn clone_onto(
    cfg: &Config,
    what: &str,
    tree: &Path,
    at: &Path,
    userns: &OwnedFd,
    staged: &mut Staged,
) -> Result<()> {
    let mnt = idmapped_clone(tree, userns, false).map_err(|e| refusal(cfg, what, tree, e))?;
    make_dir(at)?;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let to = nix::fcntl::open(at, flags, Mode::empty()).at("open", at)?;
    attach(&mnt, &to, at)?;
    staged.mounts.push(at.to_path_buf());
    Ok(())
}

/// The exit-2 refusal for a tree that cannot be idmapped, naming it, its
/// filesystem and the kernel's answer.
pub fn refusal(cfg: &Config, what: &str, tree: &Path, errno: Errno) -> Error {
    let fs = fs_name(tree);
    let why = format!(
        "{what} {} ({fs}) cannot be given an idmapped mount: {}; \
         PRIVATE_USERS needs a filesystem with idmapped-mount support \
         (ext4, xfs, btrfs, tmpfs…; not overlay, nfs or fuse)",
        tree.display(),
        errno.desc()
    );
    Error::Config(cfg.private_users_fault(Fault::NoUserNamespace(why)))
}

/// The filesystem type of the mount holding `path`, from its magic.
fn fs_name(path: &Path) -> String {
    use nix::sys::statfs::statfs;
    let Ok(st) = statfs(path) else {
        return "filesystem unknown".into();
    };
    // f_type is i64 with glibc, u64 with musl.
    #[allow(clippy::unnecessary_cast)]
    let magic = st.filesystem_type().0 as u64;
    let name = match magic {
        0xEF53 => "ext4",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlay",
        0x6969 => "nfs",
        0x6573_5546 => "fuse",
        0x0102_1997 => "9p",
        0x4d44 => "vfat",
        _ => return format!("filesystem magic {magic:#x}"),
    };
    name.into()
}

/// The deepest directory holding both `a` and `b` (absolute paths).
fn common_dir(a: &Path, b: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for (x, y) in a.components().zip(b.components()) {
        if x != y {
            break;
        }
        out.push(x);
    }
    if out.as_os_str().is_empty() {
        out.push(Component::RootDir);
    }
    out
}

fn relative<'a>(path: &'a Path, base: &Path) -> &'a Path {
    path.strip_prefix(base).unwrap_or(path)
}

/// A directory of root's (0700) in the run directory.
fn make_dir(dir: &Path) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).at("mkdir", dir),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_directory_of_upper_and_work() {
        let c = |a: &str, b: &str| common_dir(Path::new(a), Path::new(b));
        assert_eq!(c("/opt/x/root", "/opt/x/work"), Path::new("/opt/x"));
        assert_eq!(c("/opt/x/root", "/srv/w"), Path::new("/"));
        assert_eq!(c("/a/b", "/a/b/c"), Path::new("/a/b"));
    }
}
