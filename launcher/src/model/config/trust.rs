//! Who may have written what the launcher runs as root (security check 25,
//! issue 9 hole 1): the configuration file, the programs of its `!`
//! commands and the PREMOUNT, POSTMOUNT and INIT programs must be root's
//! alone, and none may lie in a running subhost's tree, whose root owns
//! everything it writes there. Otherwise a local user or a subhost's root
//! gets host root.
//!
//! A file is trusted when it is a regular file owned by root (or by the
//! launcher's own effective user, who gains nothing by it) with neither the
//! group nor the other write bit, and when it lies under no UPPER, WORK or
//! LIVE of a running subhost ([`Guarded`]). Every directory above it (symlinks
//! resolved) must be owned the same way and not be group or other
//! writable. The sticky bit excuses that only above the file's own
//! directory: in a sticky directory such as `/tmp` anyone may create the
//! file first, but a root-owned directory inside it cannot be replaced.

use std::fmt;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The group and other write bits.
const GROUP_OTHER_WRITE: u32 = 0o022;
/// The sticky bit.
const STICKY: u32 = 0o1000;

/// Why a file or directory is not trusted.
#[derive(Debug)]
pub enum Reason {
    NotRegular,
    NotDirectory,
    /// Owned by `uid`, neither root nor `euid` (the launcher's user).
    Owner {
        uid: u32,
        euid: u32,
    },
    /// Group or other writable; the permission bits.
    Writable(u32),
    /// It could not be examined.
    Stat(io::Error),
    /// It lies in a running subhost's tree (what that tree is).
    InSubhost(Box<Guarded>),
}

/// A tree of a running subhost (its UPPER, WORK or LIVE, canonical), where
/// the subhost's root writes as root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guarded {
    pub path: PathBuf,
    /// For messages, e.g. `UPPER /opt/a/root of running subhost a`.
    pub what: String,
}

/// Which part of what was checked is at fault.
#[derive(Debug)]
pub enum Part {
    /// The file itself.
    Itself,
    /// The file a symlink leads to.
    Target(PathBuf),
    /// The directory holding the file (or its target).
    Directory(PathBuf),
}

/// A refusal: what is at fault and why.
#[derive(Debug)]
pub struct Distrust {
    pub part: Part,
    pub reason: Reason,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRegular => write!(f, "not a regular file"),
            Self::NotDirectory => write!(f, "not a directory"),
            Self::Owner { uid, euid: 0 } => write!(f, "owned by uid {uid}, not root"),
            Self::Owner { uid, euid } => {
                write!(f, "owned by uid {uid}, neither root nor uid {euid}")
            }
            Self::Writable(mode) => {
                write!(f, "writable by group or others (mode {mode:04o})")
            }
            Self::Stat(source) => write!(f, "cannot be checked: {source}"),
            Self::InSubhost(g) => write!(f, "lies under the {}", g.what),
        }
    }
}

impl fmt::Display for Distrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.part {
            Part::Itself => write!(f, "{}", self.reason),
            Part::Target(p) => write!(f, "target {}: {}", p.display(), self.reason),
            Part::Directory(p) => write!(f, "directory {}: {}", p.display(), self.reason),
        }
    }
}

impl Distrust {
    fn new(part: Part) -> impl FnOnce(Reason) -> Distrust {
        move |reason| Distrust { part, reason }
    }
}

/// The owner must be root or the launcher's own effective user.
fn check_owner(meta: &Metadata) -> Result<(), Reason> {
    let uid = meta.uid();
    let euid = nix::unistd::geteuid().as_raw();
    if uid == 0 || uid == euid {
        Ok(())
    } else {
        Err(Reason::Owner { uid, euid })
    }
}

/// A regular file, trusted owner, no group or other write bit.
fn check_file(meta: &Metadata) -> Result<(), Reason> {
    if !meta.is_file() {
        return Err(Reason::NotRegular);
    }
    check_owner(meta)?;
    let mode = meta.mode() & 0o7777;
    if mode & GROUP_OTHER_WRITE != 0 {
        return Err(Reason::Writable(mode));
    }
    Ok(())
}

/// A directory, trusted owner, no group or other write bit; sticky excuses
/// that only when it is not the file's own directory (`immediate`).
fn check_dir(meta: &Metadata, immediate: bool) -> Result<(), Reason> {
    if !meta.is_dir() {
        return Err(Reason::NotDirectory);
    }
    check_owner(meta)?;
    let mode = meta.mode() & 0o7777;
    let sticky = mode & STICKY != 0 && !immediate;
    if mode & GROUP_OTHER_WRITE != 0 && !sticky {
        return Err(Reason::Writable(mode));
    }
    Ok(())
}

/// The directory holding `path` (`/` for `/` itself).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("/"),
    }
}

/// Checks every directory above `path`, from its own up to `/`, symlinks
/// resolved. Returns the canonical directory holding `path`.
fn check_dirs(path: &Path) -> Result<PathBuf, Distrust> {
    let dir = parent(path);
    let real = fs::canonicalize(dir)
        .map_err(Reason::Stat)
        .map_err(Distrust::new(Part::Directory(dir.into())))?;
    for (i, d) in real.ancestors().enumerate() {
        let checked = fs::metadata(d)
            .map_err(Reason::Stat)
            .and_then(|meta| check_dir(&meta, i == 0));
        checked.map_err(Distrust::new(Part::Directory(d.into())))?;
    }
    Ok(real)
}

/// Refuses `path` (canonical) when it lies in a running subhost's tree.
fn check_guarded(path: &Path, guarded: &[Guarded], part: Part) -> Result<(), Distrust> {
    match guarded.iter().find(|g| path.starts_with(&g.path)) {
        Some(g) => Err(Distrust {
            part,
            reason: Reason::InSubhost(Box::new(g.clone())),
        }),
        None => Ok(()),
    }
}

/// Checks the opened configuration file (by its fd, so what is checked is
/// what is read) and the directories above it; `real` is its canonical path.
pub fn config_file(real: &Path, file: &File, guarded: &[Guarded]) -> Result<(), Distrust> {
    check_guarded(real, guarded, Part::Itself)?;
    let checked = file
        .metadata()
        .map_err(Reason::Stat)
        .and_then(|meta| check_file(&meta));
    checked.map_err(Distrust::new(Part::Itself))?;
    check_dirs(real).map(drop)
}

/// Checks a program found at `found` (absolute, perhaps a symlink): the file
/// it leads to and every directory above it, and where `found` itself lies.
/// Returns the canonical path of the program, which is what must be run.
pub fn program(found: &Path, guarded: &[Guarded]) -> Result<PathBuf, Distrust> {
    let real = fs::canonicalize(found)
        .map_err(Reason::Stat)
        .map_err(Distrust::new(Part::Itself))?;
    let part = || {
        if real == found {
            Part::Itself
        } else {
            Part::Target(real.clone())
        }
    };
    check_guarded(&real, guarded, part())?;
    let checked = fs::metadata(&real)
        .map_err(Reason::Stat)
        .and_then(|meta| check_file(&meta));
    checked.map_err(Distrust::new(part()))?;
    let link_dir = check_dirs(found)?;
    if let Some(name) = found.file_name() {
        check_guarded(&link_dir.join(name), guarded, Part::Itself)?;
    }
    if parent(&real) != link_dir {
        check_dirs(&real)?;
    }
    Ok(real)
}

/// Checks a tree the launcher mounts or binds as root (LOWER, UPPER, WORK,
/// BASE, a SHARE source): `path` (canonical) and every directory above it
/// must be root's and not group or other writable (sticky excuses that
/// above `path` only). Otherwise a user could fill it with what becomes
/// root's inside the subhost, or swap it for a link to a root-only place.
pub fn tree(path: &Path) -> Result<(), Distrust> {
    for (i, d) in path.ancestors().enumerate() {
        let checked = fs::metadata(d).map_err(Reason::Stat).and_then(|meta| {
            check_owner(&meta)?;
            let mode = meta.mode() & 0o7777;
            let sticky = mode & STICKY != 0 && i > 0;
            if mode & GROUP_OTHER_WRITE != 0 && !sticky {
                return Err(Reason::Writable(mode));
            }
            Ok(())
        });
        let part = if i == 0 {
            Part::Itself
        } else {
            Part::Directory(d.into())
        };
        checked.map_err(Distrust::new(part))?;
    }
    Ok(())
}

/// Whether users other than root can reach `path`: every directory from it
/// up to `/` lets them pass (search bit for others, for a group other than
/// root's, or a directory a user owns). A setuid file a subhost's root makes
/// in a reachable UPPER runs as root for them (issue 9, hole 11).
pub fn reachable_by_users(path: &Path) -> bool {
    path.ancestors().all(|d| {
        fs::metadata(d).is_ok_and(|m| {
            let mode = m.mode();
            m.uid() != 0 || mode & 0o001 != 0 || (mode & 0o010 != 0 && m.gid() != 0)
        })
    })
}
