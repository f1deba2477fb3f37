//! Paths by rule, once: a path inside the subhost (`subhost_path`) and the
//! mount point overlay-diskfile derives from MNT (`mount_point`). Pure.

use std::path::{Component, Path, PathBuf};

/// A path inside the subhost: made absolute from `/`, `.` parts dropped;
/// None for `..`, which could lead out of LIVE when joined to it (or name
/// something above the subhost's root in a message).
pub fn subhost_path(value: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for part in value.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => return None,
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// The mount point of MNT: its leading directory (the first component, or
/// for an absolute MNT the first directory under `/`). None when MNT has
/// no such component or starts with `..`.
pub fn mount_point(mnt: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in mnt.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::CurDir => {}
            Component::Normal(name) => {
                out.push(name);
                return Some(out);
            }
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subhost_paths() {
        let sp = |s: &str| subhost_path(Path::new(s));
        assert_eq!(sp("srv/./x/"), Some(PathBuf::from("/srv/x")));
        assert_eq!(sp("/srv/x"), Some(PathBuf::from("/srv/x")));
        assert_eq!(sp("/"), Some(PathBuf::from("/")));
        assert_eq!(sp("/a/../b"), None);
        assert_eq!(sp("/srv/../etc"), None);
    }

    #[test]
    fn the_leading_directory_is_the_mount_point() {
        let mp = |s: &str| mount_point(Path::new(s));
        assert_eq!(mp("img/root"), Some(PathBuf::from("img")));
        assert_eq!(mp("img/"), Some(PathBuf::from("img")));
        assert_eq!(mp("img"), Some(PathBuf::from("img")));
        assert_eq!(mp("./mnt/some/path"), Some(PathBuf::from("mnt")));
        assert_eq!(mp("/srv/img/root"), Some(PathBuf::from("/srv")));
        assert_eq!(mp("../img/root"), None);
        assert_eq!(mp("/"), None);
        assert_eq!(mp(""), None);
    }
}
