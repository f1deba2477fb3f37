//! Who may have written what the launcher runs as root (security check 25):
//! the configuration file, the programs of its `!` commands and the
//! PREMOUNT, POSTMOUNT and INIT programs, and the directories holding them,
//! must be root's alone. Otherwise any local user who can write one of them
//! gets root.
//!
//! A file is trusted when it is a regular file owned by root (or by the
//! launcher's own effective user, who gains nothing by it) with neither the
//! group nor the other write bit. Its immediate directory must be owned the
//! same way and not be group or other writable, unless it has the sticky bit
//! (like `/tmp`, where nobody else may replace a root-owned file).

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

/// A directory, trusted owner, no group or other write bit unless sticky.
fn check_dir(meta: &Metadata) -> Result<(), Reason> {
    if !meta.is_dir() {
        return Err(Reason::NotDirectory);
    }
    check_owner(meta)?;
    let mode = meta.mode() & 0o7777;
    if mode & GROUP_OTHER_WRITE != 0 && mode & STICKY == 0 {
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

/// Checks the directory holding `path` (symlinks followed).
fn check_parent(path: &Path) -> Result<(), Distrust> {
    let dir = parent(path);
    let checked = fs::metadata(dir)
        .map_err(Reason::Stat)
        .and_then(|meta| check_dir(&meta));
    checked.map_err(Distrust::new(Part::Directory(dir.into())))
}

/// Checks the opened configuration file (by its fd, so what is checked is
/// what is read) and the directory it lies in; `real` is its canonical path.
pub fn config_file(real: &Path, file: &File) -> Result<(), Distrust> {
    let checked = file
        .metadata()
        .map_err(Reason::Stat)
        .and_then(|meta| check_file(&meta));
    checked.map_err(Distrust::new(Part::Itself))?;
    check_parent(real)
}

/// Checks a program found at `found` (absolute, perhaps a symlink): the file
/// it leads to, that file's directory and the directory `found` lies in.
/// Returns the canonical path of the program, which is what must be run.
pub fn program(found: &Path) -> Result<PathBuf, Distrust> {
    let real = fs::canonicalize(found)
        .map_err(Reason::Stat)
        .map_err(Distrust::new(Part::Itself))?;
    let part = if real == found {
        Part::Itself
    } else {
        Part::Target(real.clone())
    };
    let checked = fs::metadata(&real)
        .map_err(Reason::Stat)
        .and_then(|meta| check_file(&meta));
    checked.map_err(Distrust::new(part))?;
    check_parent(found)?;
    if parent(&real) != parent(found) {
        check_parent(&real)?;
    }
    Ok(real)
}
