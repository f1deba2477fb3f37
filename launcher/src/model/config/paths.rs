//! Path checks on the host: directories, executables, the root mode.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::error::Fault;
use super::RootMode;

/// `value` as a path: absolute as is, relative to `dir` otherwise; `.`
/// parts dropped.
pub fn absolute(dir: &Path, value: &str) -> PathBuf {
    dir.join(value).components().collect()
}

/// The canonical form of an existing path; a missing one is `missing(path)`.
fn canonical(path: &Path, missing: fn(PathBuf) -> Fault) -> Result<PathBuf, Fault> {
    fs::canonicalize(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => missing(path.into()),
        _ => Fault::Io {
            path: path.into(),
            source,
        },
    })
}

/// The canonical form of `path`, which must be an existing directory.
pub fn canonical_dir(path: &Path) -> Result<PathBuf, Fault> {
    let real = canonical(path, Fault::NoSuchDirectory)?;
    if real.is_dir() {
        Ok(real)
    } else {
        Err(Fault::NotADirectory(path.into()))
    }
}

/// The canonical form of `path`, which must exist (file or directory).
pub fn canonical_existing(path: &Path) -> Result<PathBuf, Fault> {
    canonical(path, Fault::NoSuchPath)
}

/// Whether `path` is a regular file (after symlinks) with an execute bit.
fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds the program of a command: a word with a `/` is relative to `base`,
/// a bare name is looked up in `search_path` (absolute entries only).
pub fn find_executable(word: &str, base: &Path, search_path: &OsStr) -> Result<PathBuf, Fault> {
    if word.contains('/') {
        let path = absolute(base, word);
        return if is_executable_file(&path) {
            Ok(path)
        } else {
            Err(Fault::NotExecutable(path))
        };
    }
    std::env::split_paths(search_path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(word))
        .find(|path| is_executable_file(path))
        .ok_or_else(|| Fault::NotInPath(word.into()))
}

/// The mount of an existing path: its filesystem and, where the kernel
/// says (statx STATX_MNT_ID, Linux 5.8), its mount id.
fn mount_of(path: &Path) -> Result<(u64, Option<u64>), Fault> {
    use std::os::unix::fs::MetadataExt;
    let io = |source| Fault::Io {
        path: path.into(),
        source,
    };
    let dev = fs::metadata(path).map_err(io)?.dev();
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Fault::Nul)?;
    let mut stx = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: statx writes at most one `struct statx` into `stx`, a valid
    // buffer of that type; `c` is a NUL-terminated path alive for the call.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            0,
            libc::STATX_MNT_ID,
            stx.as_mut_ptr(),
        )
    };
    // SAFETY: zero-initialised, and filled by statx when rc == 0.
    let stx = unsafe { stx.assume_init() };
    let mnt = (rc == 0 && stx.stx_mask & libc::STATX_MNT_ID != 0).then_some(stx.stx_mnt_id);
    Ok((dev, mnt))
}

/// WORK must be on UPPER's mount, as overlayfs requires ("workdir and
/// upperdir must reside under the same mount").
pub fn same_mount(work: &Path, upper: &Path) -> Result<(), Fault> {
    let (wdev, wmnt) = mount_of(work)?;
    let (udev, umnt) = mount_of(upper)?;
    let mnt_differs = matches!((wmnt, umnt), (Some(w), Some(u)) if w != u);
    if wdev != udev || mnt_differs {
        return Err(Fault::WorkNotWithUpper {
            work: work.into(),
            upper: upper.into(),
        });
    }
    Ok(())
}

/// The root mode from the canonical LIVE, UPPER and LOWER
/// (compat "Root filesystem modes").
pub fn select_mode(live: &Path, upper: &Path, lower: &Path) -> RootMode {
    if upper != lower {
        RootMode::Overlay
    } else if live != upper {
        RootMode::Bind
    } else {
        RootMode::AsIs
    }
}

/// A path inside the subhost (`paths::subhost_path`), `..` refused as a
/// configuration fault.
pub fn subhost_path(value: &str) -> Result<PathBuf, Fault> {
    crate::model::paths::subhost_path(Path::new(value)).ok_or_else(|| Fault::DotDot(value.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_selection() {
        let (a, b, c) = (Path::new("/a"), Path::new("/b"), Path::new("/c"));
        assert_eq!(select_mode(a, b, c), RootMode::Overlay);
        assert_eq!(select_mode(a, a, c), RootMode::Overlay);
        assert_eq!(select_mode(a, b, b), RootMode::Bind);
        assert_eq!(select_mode(a, a, a), RootMode::AsIs);
    }

    #[test]
    fn subhost_paths() {
        assert_eq!(subhost_path("/srv/x").ok(), Some(PathBuf::from("/srv/x")));
        assert_eq!(subhost_path("srv/./x/").ok(), Some(PathBuf::from("/srv/x")));
        assert!(matches!(subhost_path("/srv/../etc"), Err(Fault::DotDot(_))));
    }

    #[test]
    fn executables_are_found_in_path_or_relative_to_base() {
        let path = OsStr::new("relative:/nonexistent:/bin:/usr/bin");
        assert!(find_executable("sh", Path::new("/"), path).is_ok_and(|p| p.is_absolute()));
        assert!(matches!(
            find_executable("no-such-cmd-x", Path::new("/"), path),
            Err(Fault::NotInPath(_))
        ));
        assert_eq!(
            find_executable("bin/sh", Path::new("/usr"), path).ok(),
            Some(PathBuf::from("/usr/bin/sh"))
        );
        assert!(matches!(
            find_executable("./passwd", Path::new("/etc"), path),
            Err(Fault::NotExecutable(_))
        ));
        assert!(matches!(
            find_executable("/etc", Path::new("/"), path),
            Err(Fault::NotExecutable(_))
        ));
    }
}
