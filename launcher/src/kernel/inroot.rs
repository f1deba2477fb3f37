//! Safe path handling under LIVE and UPPER (security check 12, the
//! CVE-2021-30465 class): every file the launcher creates, writes or mounts
//! onto inside a subhost tree is reached with openat2(RESOLVE_IN_ROOT), so a
//! symlink planted in UPPER resolves inside the subhost and never out of it.
//! Creation is relative to directory fds (mkdirat, mknodat, symlinkat,
//! openat with O_NOFOLLOW) and mounts target `/proc/self/fd/N` of an O_PATH
//! fd, so no path string is resolved twice.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::{fstat, mkdirat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::error::{At, Error, Result};
use crate::kernel::sys::{openat2, renameat2, IN_ROOT};

/// A subhost tree (LIVE or UPPER) opened as the root for path resolution.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    /// Opens a host directory given by the (trusted) configuration.
    pub fn open(path: &Path) -> Result<Root> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = open(path, flags, Mode::empty()).at("open", path)?;
        Ok(Root {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The host path of `rel` under this root, for messages only.
    pub fn show(&self, rel: &Path) -> PathBuf {
        self.path.join(rel.strip_prefix("/").unwrap_or(rel))
    }

    /// Resolves `rel` inside the root with openat2 (RESOLVE_IN_ROOT).
    pub fn resolve(&self, rel: &Path, flags: OFlag) -> Result<OwnedFd> {
        let c = cpath(rel, &self.path)?;
        openat2(self.fd.as_fd(), &c, flags.bits(), 0, IN_ROOT).at("open", self.show(rel))
    }

    /// An O_PATH fd on `rel` itself (a final symlink is not followed), or
    /// None when it does not exist.
    pub fn lookup(&self, rel: &Path) -> Result<Option<OwnedFd>> {
        match self.resolve(rel, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
            Ok(fd) => Ok(Some(fd)),
            Err(Error::Sys {
                errno: Errno::ENOENT,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates every missing directory of `rel` (mode `mode`) and returns an
    /// O_PATH fd on the last one. Existing symlinks are followed, inside the
    /// root; a dangling one gets its missing target made where it leads,
    /// inside the root too (a symlink `/share -> /nonexistent/dir` planted
    /// in UPPER makes `/nonexistent/dir` in the subhost, never on the host).
    pub fn mkdir_all(&self, rel: &Path, mode: Mode) -> Result<OwnedFd> {
        self.mkdir_links(rel, mode, 0)
    }

    fn mkdir_links(&self, rel: &Path, mode: Mode, links: usize) -> Result<OwnedFd> {
        let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        let mut dir = self.resolve(Path::new("."), dir_flags)?;
        let mut sofar = PathBuf::new();
        for comp in rel.components() {
            let Component::Normal(name) = comp else {
                continue;
            };
            sofar.push(name);
            match mkdirat(&dir, name, mode) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(errno) => {
                    return Err(Error::Sys {
                        op: "mkdir",
                        path: self.show(&sofar),
                        errno,
                    })
                }
            }
            dir = match self.resolve(&sofar, dir_flags) {
                Err(Error::Sys {
                    errno: Errno::ENOENT,
                    ..
                }) if links < MAX_LINKS => {
                    let Some(target) = self.dangling(&dir, name)? else {
                        return self.resolve(&sofar, dir_flags);
                    };
                    self.mkdir_links(&target, mode, links + 1)?;
                    self.resolve(&sofar, dir_flags)?
                }
                other => other?,
            };
        }
        Ok(dir)
    }

    /// Where the symlink `name` in `dir` leads, as a path inside the root;
    /// None when `name` is not a symlink.
    fn dangling(&self, dir: &OwnedFd, name: &std::ffi::OsStr) -> Result<Option<PathBuf>> {
        let shown = self.show(Path::new(name));
        let Ok(target) = nix::fcntl::readlinkat(dir, name) else {
            return Ok(None);
        };
        let target = Path::new(&target);
        if target.is_absolute() {
            return Ok(Some(lexical(Path::new(""), target)));
        }
        // A relative link leads from the directory it lies in, as the
        // kernel sees it: that directory's real place under the root.
        let real = std::fs::read_link(fd_path(dir)).at("readlink", &shown)?;
        let top = std::fs::read_link(fd_path(&self.fd)).at("readlink", &self.path)?;
        let inside = real.strip_prefix(&top).unwrap_or(Path::new(""));
        Ok(Some(lexical(inside, target)))
    }

    /// Creates the regular file `rel` (and its missing parents), opened for
    /// writing. None when something of that name already exists, a dangling
    /// or planted symlink included.
    pub fn create_file(&self, rel: &Path, mode: Mode) -> Result<Option<OwnedFd>> {
        let (parent, name) = split(rel, &self.path)?;
        let dir = self.mkdir_all(parent, Mode::from_bits_truncate(0o755))?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match openat(&dir, name, flags, mode) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::EEXIST) => Ok(None),
            Err(errno) => Err(Error::Sys {
                op: "create",
                path: self.show(rel),
                errno,
            }),
        }
    }

    /// Writes `text` as the new regular file `rel` (missing parents made),
    /// whole or not at all: into a temporary file beside it, renamed into
    /// place only once written and synced (a full UPPER leaves nothing).
    /// False, and nothing written, when something of that name exists.
    pub fn write_new_file(&self, rel: &Path, mode: Mode, text: &[u8]) -> Result<bool> {
        if self.lookup(rel)?.is_some() {
            return Ok(false);
        }
        let (parent, name) = split(rel, &self.path)?;
        let dir = self.mkdir_all(parent, Mode::from_bits_truncate(0o755))?;
        let mut temp = std::ffi::OsString::from(".");
        temp.push(name);
        temp.push(".overlay-boot-new");
        let temp = Path::new(&temp);
        let shown = self.show(&parent.join(temp));
        // A leftover of a launcher killed mid-write; never followed.
        match unlinkat(&dir, temp, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(errno) => return Err(sys("unlink", &shown, errno)),
        }
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&dir, temp, flags, mode).map_err(|e| sys("create", &shown, e))?;
        let mut file = std::fs::File::from(fd);
        let written = file.write_all(text).and_then(|()| file.sync_all());
        let placed = written.at("write", &shown).and_then(|()| {
            match renameat2(&dir, temp, &dir, name, true) {
                Ok(()) => Ok(true),
                Err(Errno::EEXIST) => Ok(false),
                Err(errno) => Err(sys("rename", &self.show(rel), errno)),
            }
        });
        if !matches!(placed, Ok(true)) {
            let _ = unlinkat(&dir, temp, UnlinkatFlags::NoRemoveDir);
        }
        placed
    }

    /// An O_PATH fd to mount onto at `rel`: a directory (created if missing)
    /// or, when `want_dir` is false, a regular file (created empty if
    /// missing). Symlinks on the way, the last one included, are followed
    /// inside the root, as a mount inside the subhost would follow them;
    /// anything but the wanted type at the end (a device, a dangling
    /// symlink) is refused.
    pub fn mount_target(&self, rel: &Path, want_dir: bool) -> Result<OwnedFd> {
        if want_dir {
            return self.mkdir_all(rel, Mode::from_bits_truncate(0o755));
        }
        let mut place = rel.to_path_buf();
        for _ in 0..MAX_LINKS {
            if self
                .create_file(&place, Mode::from_bits_truncate(0o644))?
                .is_some()
            {
                break;
            }
            // Something is there: a dangling symlink gets its target made.
            let (parent, name) = split(&place, &self.path)?;
            let dir = self.resolve(parent, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
            match self.resolve(&place, OFlag::O_PATH) {
                Err(Error::Sys {
                    errno: Errno::ENOENT,
                    ..
                }) => match self.dangling(&dir, name)? {
                    Some(target) => place = target,
                    None => break,
                },
                _ => break,
            }
        }
        let fd = self.resolve(rel, OFlag::O_PATH)?;
        if file_kind(&fd, &self.show(rel))? != SFlag::S_IFREG {
            return Err(Error::Untrusted {
                path: self.show(rel),
                why: "mount target is not a regular file",
            });
        }
        Ok(fd)
    }
}

fn sys(op: &'static str, path: &Path, errno: Errno) -> Error {
    Error::Sys {
        op,
        path: path.into(),
        errno,
    }
}

/// How many symlinks `mkdir_all` follows to make their targets (the
/// kernel's own limit for one path walk).
const MAX_LINKS: usize = 40;

/// `target` taken from directory `from` (both inside a root), with `.`
/// and `..` worked out by name; `..` at the top stays at the top, as with
/// RESOLVE_IN_ROOT.
fn lexical(from: &Path, target: &Path) -> PathBuf {
    let mut out = if target.is_absolute() {
        PathBuf::new()
    } else {
        from.to_path_buf()
    };
    for comp in target.components() {
        match comp {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The type bits of an open file.
pub fn file_kind(fd: &impl AsFd, shown: &Path) -> Result<SFlag> {
    let st = fstat(fd).at("stat", shown)?;
    Ok(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()))
}

/// `/proc/self/fd/N`: a path naming exactly the object behind `fd`, for
/// calls such as mount(2) that take paths.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn cpath(rel: &Path, shown: &Path) -> Result<CString> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    CString::new(rel.as_os_str().as_bytes()).map_err(|_| Error::Sys {
        op: "open",
        path: shown.join(rel),
        errno: Errno::EINVAL,
    })
}

/// Parent and last component of a relative path inside a root.
fn split<'a>(rel: &'a Path, shown: &Path) -> Result<(&'a Path, &'a std::ffi::OsStr)> {
    match (rel.parent(), rel.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(Error::Sys {
            op: "create",
            path: shown.join(rel),
            errno: Errno::EINVAL,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_parent_and_file() {
        let (p, n) = split(Path::new("etc/network/interfaces"), Path::new("/x"))
            .ok()
            .unzip();
        assert_eq!(p, Some(Path::new("etc/network")));
        assert_eq!(n, Some(std::ffi::OsStr::new("interfaces")));
        assert!(split(Path::new("/"), Path::new("/x")).is_err());
    }

    #[test]
    fn link_targets_stay_inside_the_root() {
        let l = |from: &str, t: &str| lexical(Path::new(from), Path::new(t));
        assert_eq!(l("", "/nonexistent/dir"), PathBuf::from("nonexistent/dir"));
        assert_eq!(l("srv/a", "../b/c"), PathBuf::from("srv/b/c"));
        assert_eq!(l("srv", "../../../etc"), PathBuf::from("etc"));
        assert_eq!(l("x", "/../../etc/./y"), PathBuf::from("etc/y"));
        assert_eq!(l("x", "d"), PathBuf::from("x/d"));
    }

    #[test]
    fn show_joins_under_root() {
        let r = Root {
            fd: match open("/", OFlag::O_PATH, Mode::empty()) {
                Ok(fd) => fd,
                Err(e) => panic!("open /: {e}"),
            },
            path: PathBuf::from("/live"),
        };
        assert_eq!(
            r.show(Path::new("/dev/null")),
            PathBuf::from("/live/dev/null")
        );
        assert_eq!(r.show(Path::new("etc")), PathBuf::from("/live/etc"));
    }
}
