//! Where the subinit binary is, in the order documented in FILES of
//! overlay-boot(8):
//! 1. `OVERLAY_BOOT_SUBINIT`, when set (then nothing else is tried);
//! 2. `../lib/overlay-boot/subinit` from the directory of the launcher's
//!    real path (a relocated or DESTDIR-staged install finds its own);
//! 3. `subinit` beside the launcher's real path (the build tree);
//! 4. `LIBDIR/overlay-boot/subinit`, LIBDIR baked in at build time from
//!    the environment variable `OVERLAY_BOOT_LIBDIR` (`make` passes
//!    `$(LIBDIR)`, default `/usr/lib`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// LIBDIR as the build was configured (`make LIBDIR=...` or PREFIX).
pub const LIBDIR: &str = match option_env!("OVERLAY_BOOT_LIBDIR") {
    Some(dir) => dir,
    None => "/usr/lib",
};

/// The candidates, first match wins: `env` is OVERLAY_BOOT_SUBINIT, `exe`
/// the launcher's real path (symlinks resolved).
pub fn candidates(env: Option<OsString>, exe: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut out = Vec::new();
    if let Some(dir) = exe.and_then(Path::parent) {
        if let Some(prefix) = dir.parent() {
            out.push(prefix.join("lib/overlay-boot/subinit"));
        }
        out.push(dir.join("subinit"));
    }
    let baked = Path::new(LIBDIR).join("overlay-boot/subinit");
    if !out.contains(&baked) {
        out.push(baked);
    }
    out
}

/// The candidates for this process.
pub fn search_list() -> Vec<PathBuf> {
    let exe = std::fs::canonicalize("/proc/self/exe").ok();
    candidates(std::env::var_os("OVERLAY_BOOT_SUBINIT"), exe.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_alone_when_set() {
        let got = candidates(Some("/x/subinit".into()), Some(Path::new("/usr/sbin/ob")));
        assert_eq!(got, vec![PathBuf::from("/x/subinit")]);
    }

    #[test]
    fn relative_first_then_beside_then_baked() {
        let got = candidates(None, Some(Path::new("/opt/ob/sbin/overlay-boot")));
        assert_eq!(got[0], PathBuf::from("/opt/ob/lib/overlay-boot/subinit"));
        assert_eq!(got[1], PathBuf::from("/opt/ob/sbin/subinit"));
        assert_eq!(got[2], Path::new(LIBDIR).join("overlay-boot/subinit"));
    }

    #[test]
    fn empty_env_is_unset() {
        let got = candidates(Some("".into()), None);
        assert_eq!(got, vec![Path::new(LIBDIR).join("overlay-boot/subinit")]);
    }
}
