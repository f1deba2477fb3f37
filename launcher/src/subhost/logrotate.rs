//! The previous boot's LOG is kept as LOG.1, so the log of a subhost that
//! crashed survives its next boot. LOG itself has been checked by the
//! caller (a regular file of root's alone); LOG.1 is replaced only when it
//! is one too, and otherwise only made where nothing is: nothing that
//! someone else put there is ever removed or replaced.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::kernel::sys::renameat2;

/// `LOG.1` for LOG `path`.
pub fn previous(path: &Path) -> PathBuf {
    let mut old = path.as_os_str().to_owned();
    old.push(".1");
    PathBuf::from(old)
}

/// Renames LOG to LOG.1; false (after a warning) when LOG.1 is not ours to
/// replace or the rename fails: the caller then truncates LOG.
pub fn keep_previous(path: &Path) -> bool {
    let old = previous(path);
    let noreplace = match std::fs::symlink_metadata(&old) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Ok(m) if m.is_file() && m.uid() == 0 && m.nlink() == 1 => false,
        _ => {
            log::warn!(
                "{}: not a file of root's alone: the previous log is not kept",
                old.display()
            );
            return false;
        }
    };
    // Why renameat2: with RENAME_NOREPLACE a LOG.1 planted meanwhile stays.
    match renameat2(
        nix::fcntl::AT_FDCWD,
        path,
        nix::fcntl::AT_FDCWD,
        &old,
        noreplace,
    ) {
        Ok(()) => true,
        Err(errno) => {
            log::warn!(
                "keep {} as {}: {}",
                path.display(),
                old.display(),
                errno.desc()
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_appends_dot_one() {
        assert_eq!(
            previous(Path::new("/tmp/oly-x.log")),
            Path::new("/tmp/oly-x.log.1")
        );
    }
}
