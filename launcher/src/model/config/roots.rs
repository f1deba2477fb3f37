//! LIVE, UPPER, WORK and LOWER: evaluated in that order, checked, and the
//! root mode chosen from their canonical paths.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Fault};
use super::parse::Var;
use super::paths::{absolute, canonical_dir, same_mount, select_mode};
use super::resolve::{Resolver, Value};
use super::RootMode;
use crate::model::mountinfo::{is_mount_point, MOUNTINFO};

/// The checked root filesystem paths, canonical where they must exist.
#[derive(Debug)]
pub struct Roots {
    pub live: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub lower: PathBuf,
    pub mode: RootMode,
}

impl Resolver<'_> {
    /// Evaluates and checks LIVE, UPPER, WORK and LOWER (relative to `base`).
    pub fn roots(&self, base: &Path) -> Result<Roots, ConfigError> {
        let (live_value, live) = self.dir(Var::Live, base, "live")?;
        let (upper_value, upper) = self.dir(Var::Upper, base, "root")?;
        self.roots_alone(Var::Upper, upper_value.origin, &upper)?;
        let work = self.or_default(Var::Work, base, "work")?;
        let (lower_value, lower) = self.dir(Var::Lower, base, "/")?;
        self.roots_alone(Var::Lower, lower_value.origin, &lower)?;
        let mode = select_mode(&live, &upper, &lower);
        let work_value = work.clone();
        let work = self.work(&work, base, mode, &upper)?;
        if mode == RootMode::Overlay {
            self.roots_alone(Var::Work, work_value.origin, &work)?;
        }
        if mode != RootMode::AsIs {
            // Mounting on a LIVE that is already mounted would stack a second
            // root on a running (or stale) subhost.
            self.check_not_mounted(&live_value, &live)?;
        }
        Ok(Roots {
            live,
            upper,
            work,
            lower,
            mode,
        })
    }

    /// A variable naming a directory that must exist; its canonical path.
    fn dir(&self, var: Var, base: &Path, default: &str) -> Result<(Value, PathBuf), ConfigError> {
        let value = self.or_default(var, base, default)?;
        let path = self.check(var, &value, |text| canonical_dir(&absolute(base, text)))?;
        Ok((value, path))
    }

    /// WORK must be a directory on UPPER's mount in overlay mode; elsewhere it is unused and
    /// only made absolute (canonical when it exists).
    fn work(
        &self,
        value: &Value,
        base: &Path,
        mode: RootMode,
        upper: &Path,
    ) -> Result<PathBuf, ConfigError> {
        let path = absolute(base, &value.text);
        if mode == RootMode::Overlay {
            self.check(Var::Work, value, |_| {
                let work = canonical_dir(&path)?;
                same_mount(&work, upper)?;
                Ok(work)
            })
        } else {
            Ok(fs::canonicalize(&path).unwrap_or(path))
        }
    }

    fn check_not_mounted(&self, value: &Value, live: &Path) -> Result<(), ConfigError> {
        let table = &self.env.mountinfo;
        self.check(Var::Live, value, |_| {
            // Why statx first: the host's mount table grows by a line with
            // every running subhost (its /run/netns file); reading it costs
            // ~3.5 ms at a thousand, statx the same at any count (issue 14).
            if table == Path::new(MOUNTINFO) {
                match mount_root(live) {
                    Some(true) => return Err(Fault::AlreadyMounted(live.into())),
                    Some(false) => return Ok(()),
                    None => {}
                }
            }
            let text = fs::read(table).map_err(|source| Fault::Io {
                path: table.clone(),
                source,
            })?;
            if is_mount_point(&text, live) {
                Err(Fault::AlreadyMounted(live.into()))
            } else {
                Ok(())
            }
        })
    }
}

/// Whether `path` is the root of a mount, as statx(2) says
/// (STATX_ATTR_MOUNT_ROOT, Linux 5.8); None where it cannot tell.
fn mount_root(path: &Path) -> Option<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statx is a valid value of the plain C struct.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a writable statx the
    // call fills; neither outlives this function.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_NO_AUTOMOUNT,
            libc::STATX_BASIC_STATS,
            &mut st,
        )
    };
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    (rc == 0 && st.stx_attributes_mask & bit != 0).then_some(st.stx_attributes & bit != 0)
}
