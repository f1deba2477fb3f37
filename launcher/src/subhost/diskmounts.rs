//! The disk-image mounts a boot made through overlay-diskfile, so that the
//! subhost's end releases them. overlay-diskfile runs as a `!` command while
//! the configuration loads, on the host, before the subhost has a run
//! directory; so the loader gives it a registry (a memfd of the booting
//! process, named by the OVERLAY_BOOT_DISKFILE_REGISTRY variable) where it
//! appends `MAJ:MIN MOUNTPOINT` for each mount it makes (the mount point
//! escaped as in mountinfo). Once the run directory is locked the records
//! go into its `diskfile` file; teardown (the monitor's, or a stop after
//! the monitor died) unmounts each mount point that still holds that
//! device, and the loop device under it detaches itself (autoclear). A
//! refused boot releases its records at once.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use nix::mount::{umount2, MntFlags};
use nix::sys::memfd::{memfd_create, MFdFlags};

use crate::error::{At, Error, Op, Result};
use crate::model::config::Config;
use crate::model::mountinfo;
use crate::subhost::state;

/// The variable naming the registry for overlay-diskfile.
pub const ENV: &str = "OVERLAY_BOOT_DISKFILE_REGISTRY";
/// The records' file in the run directory.
const FILE: &str = "diskfile";

/// One mount made by overlay-diskfile, as mountinfo shows it: the
/// filesystem's device and the escaped mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub dev: String,
    pub point: String,
}

/// Loads the configuration (running its `!` commands) with a registry in
/// place, and returns the mounts overlay-diskfile made meanwhile. A refused
/// configuration releases them before the error is returned.
pub fn load_config(conf: &Path) -> Result<(Config, Vec<Record>)> {
    let memfd = File::from(memfd_create("diskfile", MFdFlags::MFD_CLOEXEC).op("memfd_create")?);
    let path = format!("/proc/{}/fd/{}", std::process::id(), memfd.as_raw_fd());
    // Why the process environment: the `!` commands inherit it, and it is
    // removed again before anything else (hooks, PID 1) is started.
    std::env::set_var(ENV, &path);
    let runner = std::sync::Arc::new(crate::kernel::bang::ContainedRunner);
    let loaded = Config::load(conf, crate::subhost::rootindex::trees(), runner);
    std::env::remove_var(ENV);
    let mut text = Vec::new();
    let len = memfd.metadata().at("stat", &path)?.len();
    text.resize(len as usize, 0);
    memfd.read_exact_at(&mut text, 0).at("read", &path)?;
    let records = parse(&String::from_utf8_lossy(&text));
    match loaded {
        Ok(cfg) => Ok((cfg, records)),
        Err(e) => {
            release(&records);
            Err(Error::Config(e))
        }
    }
}

/// Called by overlay-diskfile after its mount: appends the record to the
/// registry, when a boot gave one.
pub fn note(dev: &str, point: &Path) -> Result<()> {
    let Some(registry) = std::env::var_os(ENV) else {
        return Ok(());
    };
    let mut f = OpenOptions::new()
        .append(true)
        .open(&registry)
        .at("open registry", &registry)?;
    f.write_all(line(dev, point).as_bytes())
        .at("write registry", &registry)
}

/// Adds `records` to the run directory of `name` (whose lock the caller
/// holds), after those a dead launcher may have left there.
pub fn record(name: &str, records: &[Record]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let p = state::dir(name).join(FILE);
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&p)
        .at("open", &p)?;
    let text: String = records
        .iter()
        .map(|r| format!("{} {}\n", r.dev, r.point))
        .collect();
    f.write_all(text.as_bytes()).at("write", &p)
}

/// Releases the mounts listed in the run directory of `name`. Must run in
/// the host's mount namespace. Best effort: failures are logged.
pub fn release_recorded(name: &str) {
    let p = state::dir(name).join(FILE);
    match fs::read_to_string(&p) {
        Ok(text) => release(&parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log::error!("read {}: {e}", p.display()),
    }
}

/// Unmounts (lazily) each record's mount point that still holds its device.
pub fn release(records: &[Record]) {
    if records.is_empty() {
        return;
    }
    let table = match fs::read(mountinfo::MOUNTINFO) {
        Ok(t) => t,
        Err(e) => {
            log::error!("read {}: {e}", mountinfo::MOUNTINFO);
            return;
        }
    };
    for point in to_unmount(&table, records) {
        match umount2(&point, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
            Ok(()) => log::info!("diskfile: unmounted {}", point.display()),
            Err(errno) => log::error!("diskfile: umount {}: {}", point.display(), errno.desc()),
        }
    }
}

/// The records' mount points at which mountinfo `table` still shows their
/// device; one that is gone, or holds something else now, is left alone.
pub fn to_unmount(table: &[u8], records: &[Record]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for r in records {
        let p = mountinfo::unescape(r.point.as_bytes());
        let mounted = mountinfo::entries(table).any(|e| e.dev == r.dev && e.mount_point == p);
        if !mounted {
            log::info!("diskfile: {} no longer mounted", p.display());
        } else if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// A registry line: `MAJ:MIN POINT\n`, POINT escaped as mountinfo does
/// (blank, tab, newline and backslash as octal); other bytes as they are.
pub fn line(dev: &str, point: &Path) -> String {
    let mut v = Vec::from(dev.as_bytes());
    v.push(b' ');
    for &b in point.as_os_str().as_bytes() {
        match b {
            b' ' | b'\t' | b'\n' | b'\\' => v.extend_from_slice(format!("\\{b:03o}").as_bytes()),
            _ => v.push(b),
        }
    }
    v.push(b'\n');
    String::from_utf8_lossy(&v).into_owned()
}

/// The records in registry or run-directory text; malformed lines skipped.
pub fn parse(text: &str) -> Vec<Record> {
    text.lines()
        .filter_map(|l| {
            let (dev, point) = l.split_once(' ')?;
            (!dev.is_empty() && point.starts_with('/')).then(|| Record {
                dev: dev.into(),
                point: point.into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_with_escapes() {
        let l = line("7:3", Path::new("/srv/my dir/img"));
        assert_eq!(l, "7:3 /srv/my\\040dir/img\n");
        let r = parse(&l);
        assert_eq!(
            r,
            vec![Record {
                dev: "7:3".into(),
                point: "/srv/my\\040dir/img".into()
            }]
        );
        assert_eq!(
            mountinfo::unescape(r[0].point.as_bytes()),
            PathBuf::from("/srv/my dir/img")
        );
        assert!(parse("junk\n7:1 relative\n\n").is_empty());
    }

    #[test]
    fn only_mounts_still_holding_their_device_are_released() {
        let table = b"\
27 1 254:0 / / rw - ext4 /dev/vda rw
90 27 7:3 / /srv/my\\040dir/img rw - ext4 /dev/loop3 rw
91 27 7:4 / /srv/b rw - ext4 /dev/loop4 rw
";
        let recs =
            parse("7:3 /srv/my\\040dir/img\n7:5 /srv/b\n7:6 /srv/gone\n7:3 /srv/my\\040dir/img\n");
        assert_eq!(
            to_unmount(table, &recs),
            vec![PathBuf::from("/srv/my dir/img")]
        );
    }
}
