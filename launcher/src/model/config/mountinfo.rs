//! Is a path a mount point? Read from `/proc/self/mountinfo` (proc(5)): the
//! fifth field of each line is the mount point, with blanks, newlines and
//! backslashes written as octal escapes (`\040`, `\011`, `\012`, `\134`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The host's mount table, as the launcher sees it.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Whether `path` (absolute, canonical) is a mount point in `mountinfo`, the
/// text of a mountinfo file.
pub fn is_mount_point(mountinfo: &[u8], path: &Path) -> bool {
    mountinfo
        .split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b' ').nth(4))
        .any(|field| Path::new(OsStr::from_bytes(&unescape(field))) == path)
}

/// Undoes the kernel's `\ooo` octal escapes.
fn unescape(field: &[u8]) -> Vec<u8> {
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
    out
}

/// The byte of a `\ooo` escape at the start of `s`, if there is one.
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

    const TABLE: &[u8] = b"\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid shared:12 - proc proc rw
40 22 0:40 / /srv/mta/live rw,relatime - overlay mta rw,lowerdir=/,upperdir=/srv/mta/root
41 22 8:1 /srv/x /srv/with\\040blank rw shared:1 - ext4 /dev/sda1 rw
42 22 8:1 /srv/y /srv/back\\134slash rw - ext4 /dev/sda1 rw
";

    #[test]
    fn finds_mount_points() {
        assert!(is_mount_point(TABLE, Path::new("/")));
        assert!(is_mount_point(TABLE, Path::new("/srv/mta/live")));
    }

    #[test]
    fn plain_directories_and_mount_roots_are_not_mount_points() {
        assert!(!is_mount_point(TABLE, Path::new("/srv/mta")));
        assert!(!is_mount_point(TABLE, Path::new("/srv/mta/live/x")));
        // The fourth field (root of the mount in its filesystem) is not a mount point.
        assert!(!is_mount_point(TABLE, Path::new("/srv/x")));
        assert!(!is_mount_point(b"", Path::new("/")));
    }

    #[test]
    fn escapes_are_decoded() {
        assert!(is_mount_point(TABLE, Path::new("/srv/with blank")));
        assert!(is_mount_point(TABLE, Path::new("/srv/back\\slash")));
        assert!(!is_mount_point(TABLE, Path::new("/srv/with\\040blank")));
    }
}
