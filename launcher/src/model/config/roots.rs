//! LIVE, UPPER, WORK and LOWER: evaluated in that order, checked, and the
//! root mode chosen from their canonical paths.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Fault};
use super::parse::Var;
use super::paths::{absolute, canonical_dir, same_mount, select_mode};
use super::resolve::{Resolver, Value};
use super::RootMode;
use crate::model::mountinfo::is_mount_point;

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
