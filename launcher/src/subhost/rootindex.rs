//! The index of the running subhosts' trees (UPPER, WORK and LIVE), so
//! that the trust check (`model::config::trust`: no configuration or
//! program from a running subhost's tree) costs a boot the same with one
//! subhost running or a thousand. Without it, every boot listed the run
//! directories and probed and read each one.
//!
//! `/run/overlay-boot/.guarded-roots/KEY/NAME`: an empty file for each
//! tree recorded in NAME's `roots` file, where KEY is a hash of the tree's
//! path (its components, as `Path::starts_with` compares them). The
//! directory's name is longer than a NAME may be, so no subhost's run
//! directory can take it. A path is looked up one prefix at a time (a
//! failed open each); only on a hit are the subhost's lock and `roots`
//! file read, so an entry is trusted only for a subhost that runs and
//! records that very tree: an entry left by a monitor that died refuses
//! nothing, and the next stop or boot under that NAME removes it (the one
//! teardown's last step, `unregister`).

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{At, Result};
use crate::model::config::{Guarded, Trees};
use crate::subhost::lock::{self, Probe};
use crate::subhost::state::{dir, RUN_DIR};

/// The index directory (more than 12 characters: never a NAME).
pub const INDEX: &str = "/run/overlay-boot/.guarded-roots";

/// What each tree in `roots` is, in its order.
const ROLES: [&str; 3] = ["UPPER", "WORK", "LIVE"];

/// How often `register` retries an entry whose KEY directory a teardown
/// removed between its mkdir and its create.
const RETRIES: usize = 8;

/// The trees of running subhosts, looked up in the index.
#[derive(Debug, Clone, Copy, Default)]
pub struct Index;

/// The index as the trust check takes it.
pub fn trees() -> std::sync::Arc<dyn Trees> {
    std::sync::Arc::new(Index)
}

impl Trees for Index {
    /// As the list of all running subhosts' trees would answer: the first
    /// by NAME, then by role, of those that hold `path`.
    fn holding(&self, path: &Path) -> Option<Guarded> {
        let mut best: Option<(String, usize, Guarded)> = None;
        for prefix in prefixes(path) {
            let Ok(entries) = fs::read_dir(Path::new(INDEX).join(key(&prefix))) else {
                continue;
            };
            for name in entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
            {
                if best.as_ref().is_some_and(|(n, _, _)| *n < name) {
                    continue;
                }
                if let Some((role, g)) = recorded_at(&name, &prefix) {
                    let better = best
                        .as_ref()
                        .is_none_or(|(n, r, _)| (&name, role) < (n, *r));
                    if better {
                        best = Some((name, role, g));
                    }
                }
            }
        }
        best.map(|(_, _, g)| g)
    }
}

/// The first of `name`'s recorded trees that is `prefix`, if `name` runs.
fn recorded_at(name: &str, prefix: &Path) -> Option<(usize, Guarded)> {
    if !matches!(lock::peek(name), Ok(Probe::Running)) {
        return None;
    }
    let (role, path) = recorded(name)
        .into_iter()
        .enumerate()
        .find(|(_, p)| normal(p) == prefix)?;
    let what = ROLES[role];
    Some((
        role,
        Guarded {
            what: format!("{what} {} of running subhost {name}", path.display()),
            path,
        },
    ))
}

/// The trees in `name`'s `roots` file (UPPER, WORK, LIVE as written).
fn recorded(name: &str) -> Vec<PathBuf> {
    let Ok(bytes) = fs::read(dir(name).join("roots")) else {
        return Vec::new();
    };
    bytes
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .take(ROLES.len())
        .map(|p| PathBuf::from(OsStr::from_bytes(p)))
        .collect()
}

/// `path` rebuilt from its components: equal for two paths exactly when
/// `Path::starts_with` sees the same components.
fn normal(path: &Path) -> PathBuf {
    path.components().collect()
}

/// Every leading run of `path`'s components, shortest first: the trees
/// that would hold it.
fn prefixes(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut acc = PathBuf::new();
    for c in path.components() {
        acc.push(c);
        out.push(acc.clone());
    }
    out
}

/// KEY: FNV-1a (64 bits) of the normal path's bytes, in hex. Stable from
/// one build to the next, since the index outlives the launcher that wrote it.
fn key(path: &Path) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in normal(path).as_os_str().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Enters `name`'s recorded trees (its `roots` file, just written) in the
/// index. The caller holds `name`'s lock.
pub fn register(name: &str) -> Result<()> {
    lock::mkdir_root_only(Path::new(RUN_DIR))?;
    lock::mkdir_root_only(Path::new(INDEX))?;
    for tree in recorded(name) {
        let keydir = Path::new(INDEX).join(key(&tree));
        let entry = keydir.join(name);
        let mut tries = 0;
        loop {
            lock::mkdir_root_only(&keydir)?;
            match create(&entry) {
                // A teardown removed the emptied KEY directory meanwhile.
                Err(e) if e.kind() == ErrorKind::NotFound && tries < RETRIES => tries += 1,
                done => break done.at("create", &entry)?,
            }
        }
    }
    Ok(())
}

fn create(entry: &Path) -> std::io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(entry)
        .map(drop)
}

/// Removes `name`'s entries (those of the trees its `roots` file records)
/// and the KEY directories left empty. Anything already gone is fine.
pub fn unregister(name: &str) {
    for tree in recorded(name) {
        let keydir = Path::new(INDEX).join(key(&tree));
        match fs::remove_file(keydir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => log::error!("remove {}: {e}", keydir.join(name).display()),
        }
        // Not empty: another subhost records the same tree.
        let _ = fs::remove_dir(&keydir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_the_trees_that_hold_a_path() {
        let got = prefixes(Path::new("/a/b/c"));
        let want: Vec<PathBuf> = ["/", "/a", "/a/b", "/a/b/c"].map(PathBuf::from).into();
        assert_eq!(got, want);
        for p in &got {
            assert!(Path::new("/a/b/c").starts_with(p));
        }
    }

    #[test]
    fn keys_follow_components_not_spelling() {
        assert_eq!(key(Path::new("/a//b/")), key(Path::new("/a/b")));
        assert_eq!(key(Path::new("/a/./b")), key(Path::new("/a/b")));
        assert_ne!(key(Path::new("/a/b")), key(Path::new("/a/bc")));
        assert_ne!(key(Path::new("/a/b")), key(Path::new("/a")));
        assert_eq!(key(Path::new("/a/b")).len(), 16);
    }
}
