//! What the run directory proves is ours (issue 11, item 5). A run
//! directory whose lock nobody holds authorises nothing by its mere
//! existence: the monitor records the identity of each host object as it
//! makes it, in the file `owned`, one line each:
//!
//! - `netns DEV:INO`: the network namespace (its nsfs inode), written from
//!   inside the new namespace before `/run/netns/NAME` is made;
//! - `making PATH`, then `cgroup DEV:INO PATH`: a cgroup directory (its
//!   kernfs inode, the cgroup's id), before and after its mkdir.
//!
//! PID 1 is proven by its pid with its start time (`state`), and only in
//! a run directory that records identities. A reclaim (`teardown`) ends
//! and removes only what matches; anything else there under the NAME
//! exists and is not ours: it is left alone and named.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{At, Result};
use crate::kernel::{cgroups, netns};
use crate::subhost::state;

const FILE: &str = "owned";

/// A device and inode.
type Id = (u64, u64);

fn append(name: &str, line: String) -> Result<()> {
    let p = state::dir(name).join(FILE);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .at("open", &p)?;
    // One write: a line is whole or absent, whenever the monitor dies.
    f.write_all(format!("{line}\n").as_bytes()).at("write", &p)
}

/// Records the network namespace `id` (from inside it) as ours.
pub fn record_netns(name: &str, id: Id) -> Result<()> {
    append(name, format!("netns {}:{}", id.0, id.1))
}

/// Records a cgroup directory: `made` false just before its mkdir, true
/// after (then with its identity).
pub fn record_cgroup(name: &str, dir: &Path, made: bool) -> Result<()> {
    if !made {
        return append(name, format!("making {}", dir.display()));
    }
    let m = fs::symlink_metadata(dir).at("stat", dir)?;
    append(
        name,
        format!("cgroup {}:{} {}", m.dev(), m.ino(), dir.display()),
    )
}

/// Drops the record (a reclaiming boot, once what it proved is gone): the
/// new monitor writes its own.
pub fn forget(name: &str) {
    let _ = fs::remove_file(state::dir(name).join(FILE));
}

/// What the record of a run directory says.
#[derive(Debug, Default, PartialEq, Eq)]
struct Record {
    /// Any identity at all: a record written by this build.
    present: bool,
    netns: Option<Id>,
    cgroups: Vec<(Id, PathBuf)>,
    making: Vec<PathBuf>,
}

fn parse_id(s: &str) -> Option<Id> {
    let (dev, ino) = s.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

fn parse(text: &str) -> Record {
    let mut r = Record::default();
    for line in text.lines() {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "netns" => r.netns = parse_id(rest),
            "making" => r.making.push(PathBuf::from(rest)),
            "cgroup" => {
                let Some((id, path)) = rest.split_once(' ') else {
                    continue;
                };
                if let Some(id) = parse_id(id) {
                    r.cgroups.push((id, PathBuf::from(path)));
                }
            }
            _ => continue,
        }
        r.present = true;
    }
    r
}

fn read(name: &str) -> Record {
    parse(&fs::read_to_string(state::dir(name).join(FILE)).unwrap_or_default())
}

/// Whether the run directory of `name` records identities (written by
/// this build): only such a record proves PID 1 by its pid and start time.
pub fn proves_anything(name: &str) -> bool {
    read(name).present
}

/// The host objects under a NAME, sorted: ours to reclaim, and the others.
#[derive(Debug, Default)]
pub struct Vetted {
    /// `/run/netns/NAME` is ours (or a half-made file of ours).
    pub netns: bool,
    pub v2: Option<PathBuf>,
    pub v1: Vec<PathBuf>,
    /// What exists and is not ours: (what, path).
    pub foreign: Vec<(&'static str, PathBuf)>,
}

/// Sorts what exists under `name` by the run directory's record.
pub fn vet(name: &str) -> Result<Vetted> {
    let rec = read(name);
    let mut v = Vetted::default();
    let ns = netns::path(name);
    if let Ok(meta) = fs::metadata(&ns) {
        if netns_is_ours(&rec, &ns, &meta) {
            v.netns = true;
        } else {
            v.foreign.push(("network namespace", ns));
        }
    }
    let (v2, v1) = cgroups::dirs(name)?;
    if let Some(dir) = v2.filter(|d| d.exists()) {
        match cgroup_is_ours(&rec, &dir) {
            true => v.v2 = Some(dir),
            false => v.foreign.push(("cgroup", dir)),
        }
    }
    for dir in v1.into_iter().filter(|d| d.exists()) {
        match cgroup_is_ours(&rec, &dir) {
            true => v.v1.push(dir),
            false => v.foreign.push(("cgroup", dir)),
        }
    }
    Ok(v)
}

/// The recorded namespace, or the empty mount point a monitor killed
/// between making the file and binding the recorded namespace onto it
/// leaves (a file of /run/netns's own filesystem: no namespace at all).
fn netns_is_ours(rec: &Record, path: &Path, meta: &fs::Metadata) -> bool {
    let Some(id) = rec.netns else {
        return false;
    };
    if (meta.dev(), meta.ino()) == id {
        return true;
    }
    let dir_dev = fs::metadata(netns::NETNS_DIR).map(|m| m.dev()).ok();
    meta.file_type().is_file()
        && meta.len() == 0
        && Some(meta.dev()) == dir_dev
        && !mounted_on(path)
}

/// Whether something is mounted on `path` (per /proc/self/mountinfo).
fn mounted_on(path: &Path) -> bool {
    use crate::model::mountinfo;
    let text = fs::read(mountinfo::MOUNTINFO).unwrap_or_default();
    mountinfo::is_mount_point(&text, path)
}

/// A recorded cgroup (same inode at the same path), or one whose mkdir
/// was recorded as under way and that is empty: what a monitor killed
/// between its mkdir and its record leaves; removing it ends nothing.
fn cgroup_is_ours(rec: &Record, dir: &Path) -> bool {
    let Ok(meta) = fs::symlink_metadata(dir) else {
        return false;
    };
    let id = (meta.dev(), meta.ino());
    if rec.cgroups.iter().any(|(i, p)| *i == id && p == dir) {
        return true;
    }
    rec.making.iter().any(|p| p == dir) && cgroup_empty(dir)
}

/// No process and no child cgroup.
fn cgroup_empty(dir: &Path) -> bool {
    let procs = fs::read_to_string(dir.join("cgroup.procs"));
    let no_procs = procs.is_ok_and(|t| t.trim().is_empty());
    let no_children = fs::read_dir(dir)
        .map(|entries| entries.flatten().all(|e| !e.path().is_dir()))
        .unwrap_or(false);
    no_procs && no_children
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_lists_identities_and_cgroups_under_way() {
        let r = parse("netns 4:4026531840\nmaking /cg/x\ncgroup 30:17 /cg/x\nmaking /cg/y\n");
        assert!(r.present);
        assert_eq!(r.netns, Some((4, 4026531840)));
        assert_eq!(r.cgroups, vec![((30, 17), PathBuf::from("/cg/x"))]);
        assert_eq!(
            r.making,
            vec![PathBuf::from("/cg/x"), PathBuf::from("/cg/y")]
        );
    }

    #[test]
    fn an_old_or_empty_record_proves_nothing() {
        assert_eq!(parse(""), Record::default());
        assert!(!parse("junk\n").present);
        assert!(parse("netns nonsense\n").netns.is_none());
    }
}
