//! The session's `/usr/sbin/policy-rc.d` in UPPER (exit 101: invoke-rc.d's
//! "action forbidden"), so that package installs during an
//! `overlay-boot --session` start no daemons. Installed by the session,
//! noted in the run directory, and removed by the session, by the
//! monitor's teardown or by the reclaim of a dead launcher's state, and
//! by the next boot when a crash lost the note. Only with no overlay
//! (bind and as-is modes, UPPER is the root): over an overlay the
//! launcher's layer gives the session's policy-rc.d (see rclayer) and
//! nothing is written.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::error::{At, Result};
use crate::kernel::inroot::Root;
use crate::model::config::{Config, RootMode};
use crate::subhost::state;

/// What keeps daemons from starting during the session (invoke-rc.d's
/// policy interface: 101 is "action forbidden").
pub const POLICY_RC_D: &str = "usr/sbin/policy-rc.d";
const POLICY_TEXT: &str = "#!/bin/sh\n\
    # Written by overlay-boot --session for the session only: no daemons\n\
    # are started by package installs while it runs.\n\
    exit 101\n";

/// The directories of POLICY_RC_D, deepest first: those missing in UPPER
/// are made for it, and removed with it.
const MADE_DIRS: [&str; 2] = ["usr/sbin", "usr"];

/// The session's `/usr/sbin/policy-rc.d` in UPPER, when we made one, and
/// the directories made for it.
pub struct Policy {
    upper: Option<(Root, (u64, u64))>,
    made: Vec<&'static str>,
}

impl Policy {
    /// Creates it in UPPER unless UPPER or LOWER already has one (theirs is
    /// left alone), through the symlink-safe helpers. Over an overlay the
    /// launcher's layer gives it instead (rclayer): nothing is written.
    pub fn install(cfg: &Config) -> Result<Policy> {
        let rel = Path::new(POLICY_RC_D);
        let upper = Root::open(&cfg.upper)?;
        let lower = Root::open(&cfg.lower)?;
        let none = Policy {
            upper: None,
            made: Vec::new(),
        };
        remove_leftover(&upper);
        if cfg.mode == RootMode::Overlay {
            return Ok(none);
        }
        if upper.lookup(rel)?.is_some() || lower.lookup(rel)?.is_some() {
            log::info!("{POLICY_RC_D} exists; left as it is");
            return Ok(none);
        }
        let mut made = Vec::new();
        for dir in MADE_DIRS {
            if upper.lookup(Path::new(dir))?.is_none() {
                made.push(dir);
            }
        }
        let Some(fd) = upper.create_file(rel, Mode::from_bits_truncate(0o755))? else {
            return Ok(none);
        };
        let shown = upper.show(rel);
        let mut file = File::from(fd);
        let st = match fstat(file.as_fd()).at("stat", &shown) {
            Ok(st) => st,
            Err(e) => {
                unlink(&upper, POLICY_RC_D, UnlinkatFlags::NoRemoveDir);
                for dir in &made {
                    unlink(&upper, dir, UnlinkatFlags::RemoveDir);
                }
                return Err(e);
            }
        };
        // From here on an error drops `policy`, which removes the file.
        let policy = Policy {
            upper: Some((upper, (st.st_dev, st.st_ino))),
            made,
        };
        // Noted in the run directory first, so that a launcher killed
        // during the session leaves it to the monitor's teardown or to the
        // stale-state cleanup (release_recorded) to remove.
        policy.record(&cfg.name, &cfg.upper)?;
        std::io::Write::write_all(&mut file, POLICY_TEXT.as_bytes()).at("write", &shown)?;
        // The umask may have cut the mode.
        nix::sys::stat::fchmod(&file, Mode::from_bits_truncate(0o755)).at("chmod", &shown)?;
        Ok(policy)
    }

    /// Writes `/run/overlay-boot/NAME/policy`: `DEV:INO` of our file, the
    /// directories made for it (blank-separated), then UPPER's path.
    fn record(&self, name: &str, upper: &Path) -> Result<()> {
        let Some((_, (dev, ino))) = &self.upper else {
            return Ok(());
        };
        let mut text = format!("{dev}:{ino}\n{}\n", self.made.join(" ")).into_bytes();
        text.extend_from_slice(upper.as_os_str().as_bytes());
        text.push(b'\n');
        let path = state::dir(name).join(RECORD);
        std::fs::write(&path, text).at("write", &path)
    }
}

/// Removes a policy-rc.d of ours left in UPPER by a session whose record
/// was lost (a host crash takes /run with it): a regular file holding
/// exactly our text. Left there, it would keep every later boot's package
/// upgrades from restarting daemons. Run by every boot and session.
pub fn remove_leftover(upper: &Root) {
    let rel = Path::new(POLICY_RC_D);
    let ours = upper
        .resolve(rel, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK)
        .ok()
        .filter(|fd| fstat(fd.as_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG))
        .and_then(|fd| {
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut std::io::Read::take(File::from(fd), 4096),
                &mut text,
            )
            .ok()?;
            Some(text == POLICY_TEXT)
        })
        .unwrap_or(false);
    if ours {
        log::warn!(
            "{}: left by an interrupted session: removed",
            upper.show(rel).display()
        );
        unlink(upper, POLICY_RC_D, UnlinkatFlags::NoRemoveDir);
    }
}

/// The run directory's note of the session's policy-rc.d.
const RECORD: &str = "policy";

/// Removes the policy-rc.d a session noted in the run directory of `name`
/// (if it is still the file made then) and the directories made for it,
/// then the note: for the monitor's teardown, and for the cleanup of a
/// dead launcher's state, so that a killed session caller leaves nothing
/// in UPPER. Must run in the host's mount namespace.
pub fn release_recorded(name: &str) {
    let path = state::dir(name).join(RECORD);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            log::warn!("read {}: {e}", path.display());
            return;
        }
    };
    match parse_record(&text) {
        Some((id, made, upper)) => match Root::open(&upper) {
            Ok(root) => drop(Policy {
                upper: Some((root, id)),
                made,
            }),
            Err(e) => log::warn!("{POLICY_RC_D}: {e}"),
        },
        None => log::warn!("{}: not understood; ignored", path.display()),
    }
    if let Err(e) = std::fs::remove_file(&path) {
        log::warn!("remove {}: {e}", path.display());
    }
}

/// (dev, ino), the directories made (only those `install` makes) and
/// UPPER, from a note written by `Policy::record`.
fn parse_record(text: &[u8]) -> Option<((u64, u64), Vec<&'static str>, PathBuf)> {
    let mut parts = text.splitn(3, |&b| b == b'\n');
    let id = std::str::from_utf8(parts.next()?).ok()?;
    let (dev, ino) = id.split_once(':')?;
    let id = (dev.parse().ok()?, ino.parse().ok()?);
    let made = std::str::from_utf8(parts.next()?).ok()?;
    let mut dirs = Vec::new();
    for d in made.split(' ').filter(|d| !d.is_empty()) {
        dirs.push(MADE_DIRS.iter().copied().find(|m| *m == d)?);
    }
    let upper = parts.next()?;
    let upper = upper.strip_suffix(b"\n").unwrap_or(upper);
    if upper.first() != Some(&b'/') {
        return None;
    }
    Some((id, dirs, PathBuf::from(OsStr::from_bytes(upper))))
}

impl Drop for Policy {
    /// Removes ours from UPPER, if it is still the file we made, and the
    /// directories made for it if they are empty. An upper-only file
    /// leaves no whiteout. (The forked monitor leaves by process::exit,
    /// which runs no destructor.)
    fn drop(&mut self) {
        let Some((upper, id)) = &self.upper else {
            return;
        };
        let rel = Path::new(POLICY_RC_D);
        let shown = upper.show(rel);
        if let Ok(Some(fd)) = upper.lookup(rel) {
            let same = fstat(fd.as_fd())
                .map(|st| (st.st_dev, st.st_ino) == *id)
                .unwrap_or(false);
            if same {
                unlink(upper, POLICY_RC_D, UnlinkatFlags::NoRemoveDir);
            } else {
                log::info!("{} was replaced in the session; kept", shown.display());
            }
        }
        for dir in &self.made {
            unlink(upper, dir, UnlinkatFlags::RemoveDir);
        }
    }
}

/// unlinkat of `rel` in its parent, resolved inside `root`; ENOTEMPTY and
/// ENOENT are quietly accepted.
fn unlink(root: &Root, rel: &str, how: UnlinkatFlags) {
    let rel = Path::new(rel);
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return;
    };
    let dir = match root.resolve(parent, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Ok(d) => d,
        Err(e) => {
            log::warn!("{e}");
            return;
        }
    };
    match unlinkat(&dir, name, how) {
        Ok(()) | Err(Errno::ENOTEMPTY | Errno::ENOENT | Errno::EEXIST) => {}
        Err(e) => log::warn!("remove {}: {}", root.show(rel).display(), e.desc()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_note_is_read_back() {
        assert_eq!(
            parse_record(b"2049:1234\nusr/sbin usr\n/opt/x/root\n"),
            Some((
                (2049, 1234),
                vec!["usr/sbin", "usr"],
                PathBuf::from("/opt/x/root")
            ))
        );
        // No directories made; an UPPER with a newline in its name.
        assert_eq!(
            parse_record(b"1:2\n\n/opt/a\nb\n"),
            Some(((1, 2), vec![], PathBuf::from("/opt/a\nb")))
        );
        // Only the directories install makes; an absolute UPPER; numbers.
        assert_eq!(parse_record(b"1:2\netc\n/opt/x\n"), None);
        assert_eq!(parse_record(b"1:2\n\nopt/x\n"), None);
        assert_eq!(parse_record(b"1-2\n\n/opt/x\n"), None);
        assert_eq!(parse_record(b""), None);
    }
}
