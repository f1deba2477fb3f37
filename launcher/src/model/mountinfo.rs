//! Reading /proc/self/mountinfo (proc(5)), the one parser: each line's
//! device (`MAJ:MIN`, field 3), mount point (field 5, with blanks, newlines
//! and backslashes written as octal escapes `\040`, `\011`, `\012`, `\134`)
//! and filesystem type (after the lone `-`). Pure parsing over the bytes.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// The mount table, as the calling process sees it.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// One line of a mountinfo file.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    /// `MAJ:MIN` of the filesystem's device.
    pub dev: String,
    pub mount_point: PathBuf,
    pub fstype: String,
}

/// The entries of `text`, a mountinfo file; malformed lines are skipped.
pub fn entries(text: &[u8]) -> impl Iterator<Item = Entry> + '_ {
    text.split(|&b| b == b'\n').filter_map(|line| {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let dev = fields.get(2)?;
        let mount_point = fields.get(4)?;
        // Optional fields end with a lone "-"; the type follows it.
        let dash = fields.iter().position(|f| *f == b"-")?;
        let fstype = fields.get(dash + 1)?;
        Some(Entry {
            dev: String::from_utf8_lossy(dev).into_owned(),
            mount_point: unescape(mount_point),
            fstype: String::from_utf8_lossy(fstype).into_owned(),
        })
    })
}

/// The first cgroup2 mount point, if the unified hierarchy is mounted.
pub fn cgroup2_mount(text: &[u8]) -> Option<PathBuf> {
    entries(text)
        .find(|e| e.fstype == "cgroup2")
        .map(|e| e.mount_point)
}

/// Whether `path` (absolute, canonical) is a mount point.
pub fn is_mount_point(text: &[u8], path: &Path) -> bool {
    entries(text).any(|e| e.mount_point == path)
}

/// Undoes the kernel's `\ooo` octal escapes.
pub fn unescape(field: &[u8]) -> PathBuf {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        match octal_escape(&field[i..]) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// The byte of a `\ooo` escape at the start of `s`, if there is one (a
/// byte's value: the first digit is 0..=3).
fn octal_escape(s: &[u8]) -> Option<u8> {
    match s {
        [b'\\', a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] => {
            Some((a - b'0') * 64 + (b - b'0') * 8 + (c - b'0'))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:7 - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /opt/my\\040dir rw - ext4 /dev/vdb rw
";

    const TABLE: &[u8] = b"\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
40 22 0:40 / /srv/mta/live rw,relatime - overlay mta rw,lowerdir=/,upperdir=/srv/mta/root
41 22 8:1 /srv/x /srv/with\\040blank rw shared:1 - ext4 /dev/sda1 rw
42 22 8:1 /srv/y /srv/back\\134slash rw - ext4 /dev/sda1 rw
";

    #[test]
    fn finds_cgroup2() {
        assert_eq!(
            cgroup2_mount(SAMPLE),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(cgroup2_mount(b"1 0 0:1 / / rw - ext4 /dev/vda rw\n"), None);
    }

    #[test]
    fn mount_points_with_escapes() {
        assert!(is_mount_point(SAMPLE, Path::new("/opt/my dir")));
        assert!(is_mount_point(SAMPLE, Path::new("/sys/fs/cgroup/cpu")));
        assert!(!is_mount_point(SAMPLE, Path::new("/opt")));
        assert!(is_mount_point(TABLE, Path::new("/srv/with blank")));
        assert!(is_mount_point(TABLE, Path::new("/srv/back\\slash")));
        assert!(!is_mount_point(TABLE, Path::new("/srv/with\\040blank")));
    }

    #[test]
    fn plain_directories_and_mount_roots_are_not_mount_points() {
        assert!(is_mount_point(TABLE, Path::new("/")));
        assert!(is_mount_point(TABLE, Path::new("/srv/mta/live")));
        assert!(!is_mount_point(TABLE, Path::new("/srv/mta")));
        assert!(!is_mount_point(TABLE, Path::new("/srv/mta/live/x")));
        // The fourth field (root of the mount in its filesystem) is not a mount point.
        assert!(!is_mount_point(TABLE, Path::new("/srv/x")));
        assert!(!is_mount_point(b"", Path::new("/")));
    }

    #[test]
    fn entries_carry_the_device() {
        let e: Vec<Entry> = entries(SAMPLE).collect();
        assert_eq!(e.len(), 4);
        assert_eq!(e[3].dev, "0:40");
        assert_eq!(e[3].fstype, "ext4");
    }

    #[test]
    fn unescape_takes_only_byte_escapes() {
        assert_eq!(unescape(b"a\\b"), PathBuf::from("a\\b"));
        assert_eq!(unescape(b"x\\011y"), PathBuf::from("x\ty"));
        // Not a byte's value: left as written (the two parsers this
        // replaces differed here).
        assert_eq!(unescape(b"x\\400y"), PathBuf::from("x\\400y"));
    }
}
