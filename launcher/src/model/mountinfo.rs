//! Reading /proc/self/mountinfo (proc(5)): where cgroup2 is mounted, and
//! whether a path is a mount point. Pure parsing over the file's text.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line's mount point and filesystem type.
struct Entry {
    mount_point: PathBuf,
    fstype: String,
}

fn entries(text: &str) -> impl Iterator<Item = Entry> + '_ {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let mount_point = fields.get(4)?;
        // Optional fields end with a lone "-"; the type follows it.
        let dash = fields.iter().position(|f| *f == "-")?;
        let fstype = fields.get(dash + 1)?;
        Some(Entry {
            mount_point: unescape(mount_point),
            fstype: (*fstype).to_string(),
        })
    })
}

/// The first cgroup2 mount point, if the unified hierarchy is mounted.
pub fn cgroup2_mount(text: &str) -> Option<PathBuf> {
    entries(text)
        .find(|e| e.fstype == "cgroup2")
        .map(|e| e.mount_point)
}

/// Whether `path` (absolute, canonical) is a mount point.
pub fn is_mount_point(text: &str, path: &Path) -> bool {
    entries(text).any(|e| e.mount_point == path)
}

/// Undoes the kernel's octal escapes (`\040` for a blank, and so on).
pub fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:7 - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /opt/my\\040dir rw - ext4 /dev/vdb rw
";

    #[test]
    fn finds_cgroup2() {
        assert_eq!(
            cgroup2_mount(SAMPLE),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(cgroup2_mount("1 0 0:1 / / rw - ext4 /dev/vda rw\n"), None);
    }

    #[test]
    fn mount_points_with_escapes() {
        assert!(is_mount_point(SAMPLE, Path::new("/opt/my dir")));
        assert!(is_mount_point(SAMPLE, Path::new("/sys/fs/cgroup/cpu")));
        assert!(!is_mount_point(SAMPLE, Path::new("/opt")));
    }

    #[test]
    fn unescape_keeps_plain_backslashes() {
        assert_eq!(unescape("a\\b"), PathBuf::from("a\\b"));
        assert_eq!(unescape("x\\011y"), PathBuf::from("x\ty"));
    }
}
