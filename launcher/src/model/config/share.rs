//! `SHARE=dir` or `SHARE=hostdir:subhostdir`, any number of times. Never a
//! `!command`.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, Fault, Origin};
use super::parse::Var;
use super::paths::{absolute, canonical_existing, subhost_path};
use super::resolve::Resolver;
use super::Share;

/// Splits a SHARE value at its first `:` into the host path as written and
/// the absolute path inside the subhost (`dir` alone: the same path).
pub fn split_share(value: &str) -> Result<(&str, PathBuf), Fault> {
    let (host, subhost) = match value.split_once(':') {
        Some((host, "")) => (host, host),
        Some(pair) => pair,
        None => (value, value),
    };
    if host.is_empty() {
        return Err(Fault::BadShare(value.into()));
    }
    Ok((host, subhost_path(subhost)?))
}

impl Resolver<'_> {
    /// Every SHARE, host side resolved against `base` and required to exist;
    /// a share of LOWER itself is left out, as the original does.
    pub fn shares(&self, base: &Path, lower: &Path) -> Result<Vec<Share>, ConfigError> {
        let mut shares = Vec::new();
        for assignment in &self.set.shares {
            let origin = Origin::Line(assignment.line);
            if assignment.value.is_empty() {
                log::debug!("line {}: empty SHARE ignored", assignment.line);
                continue;
            }
            let share = split_share(&assignment.value).and_then(|(host, subhost)| {
                Ok(Share {
                    host: canonical_existing(&absolute(base, host))?,
                    subhost,
                })
            });
            let share = share.map_err(|fault| self.fail(Var::Share, origin, fault))?;
            self.roots_alone(Var::Share, origin, &share.host)?;
            if share.host == lower {
                log::info!(
                    "line {}: SHARE of LOWER {} left out",
                    assignment.line,
                    lower.display()
                );
                continue;
            }
            shares.push(share);
        }
        Ok(shares)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(value: &str) -> Option<(&str, PathBuf)> {
        split_share(value).ok()
    }

    #[test]
    fn one_dir_is_the_same_path_inside() {
        assert_eq!(split("/srv/data"), Some(("/srv/data", "/srv/data".into())));
        assert_eq!(split("data"), Some(("data", "/data".into())));
    }

    #[test]
    fn host_and_subhost_dirs() {
        assert_eq!(
            split("/srv/data:/data"),
            Some(("/srv/data", "/data".into()))
        );
        assert_eq!(split("data:srv/data"), Some(("data", "/srv/data".into())));
        assert_eq!(split("/a:"), Some(("/a", "/a".into())));
    }

    #[test]
    fn bad_shares() {
        assert!(matches!(split_share(":/data"), Err(Fault::BadShare(_))));
        assert!(matches!(
            split_share("/a:/srv/../etc"),
            Err(Fault::DotDot(_))
        ));
    }
}
