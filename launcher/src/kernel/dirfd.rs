//! Small files read relative to a directory opened once: what `--list`
//! reads of each of a thousand subhosts (issue 14). A path relative to a
//! directory's fd skips the walk of the directories above it (under
//! /sys/fs/cgroup every component is revalidated: a third of an open's
//! cost), and a read into a buffer skips the statx that
//! `fs::read_to_string` makes for its size hint and the read of 0 bytes
//! at the end (see `Dir::read`): an open, a read, a close.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

/// A directory, open for lookups under it.
pub struct Dir(OwnedFd);

impl Dir {
    /// Opens directory `path` (O_PATH: for lookups only).
    pub fn open(path: &Path) -> Option<Dir> {
        Self::at(nix::fcntl::AT_FDCWD, path)
    }

    /// Opens directory `name` under this one.
    pub fn sub(&self, name: &str) -> Option<Dir> {
        Self::at(self.0.as_fd(), name)
    }

    fn at<P: ?Sized + nix::NixPath>(dir: impl AsFd, path: &P) -> Option<Dir> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        openat(dir, path, flags, Mode::empty()).ok().map(Dir)
    }

    /// The directory's fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// The bytes of the file at `path` under the directory; None when it
    /// cannot be opened or read. For a regular file or a kernel file of one
    /// record (a cgroup value), not a /proc file of many: a read that
    /// returns less than asked ends it. The kernel returns such a file's
    /// bytes whole up to the buffer's size, so the read of 0 bytes that
    /// would confirm the end is spared (a thousand subhosts, nine files).
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        let fd = openat(self.0.as_fd(), path, flags, Mode::empty()).ok()?;
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match nix::unistd::read(&fd, &mut chunk) {
                Ok(n) if n < chunk.len() => {
                    out.extend_from_slice(&chunk[..n]);
                    return Some(out);
                }
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(Errno::EINTR) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The text of the file at `path` (UTF-8) under the directory.
    pub fn text(&self, path: &str) -> Option<String> {
        String::from_utf8(self.read(path)?).ok()
    }

    /// A one-value file under the directory, without its newline (as
    /// `state::field` reads it).
    pub fn field(&self, path: &str) -> Option<String> {
        let mut text = self.text(path)?;
        let len = text.trim_end_matches('\n').len();
        text.truncate(len);
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A scratch directory, removed at the end (on a failure too).
    struct Tmp(PathBuf);

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reads_relative_files_whole() {
        let tmp = Tmp(std::env::temp_dir().join(format!("dirfd-{}", std::process::id())));
        std::fs::create_dir_all(tmp.0.join("sub")).expect("mkdir");
        let big = "x".repeat(3 * 4096) + "\n";
        std::fs::write(tmp.0.join("sub/big"), &big).expect("write big");
        std::fs::write(tmp.0.join("sub/one"), "42\n\n").expect("write one");
        let dir = Dir::open(&tmp.0).expect("open the directory");
        assert_eq!(dir.text("sub/big").as_deref(), Some(big.as_str()));
        std::fs::write(tmp.0.join("sub/page"), [b'y'; 4096]).expect("write page");
        assert_eq!(dir.read("sub/page"), Some(vec![b'y'; 4096]));
        let sub = dir.sub("sub").expect("open sub");
        assert_eq!(sub.field("one").as_deref(), Some("42"));
        assert_eq!(sub.read("missing"), None);
        assert!(dir.sub("sub/one").is_none());
    }
}
