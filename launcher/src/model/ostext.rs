//! An OS error's text, the same whichever C library the launcher is
//! linked with: std's `io::Error` shows the C library's strerror (musl's
//! words differ from glibc's: "Filename too long"), while the launcher's
//! other messages use nix's table (`Errno::desc`, the kernel's errno.h
//! wording). This shows `io::Error`s with that table too.

use std::fmt;
use std::io;

use nix::errno::Errno;

/// Shows an `io::Error` as `TEXT (os error N)`, TEXT from nix's table.
pub struct OsText<'a>(pub &'a io::Error);

impl fmt::Display for OsText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.raw_os_error() {
            Some(code) => write!(f, "{} (os error {code})", Errno::from_raw(code).desc()),
            None => self.0.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_in_nix_s_words() {
        let e = io::Error::from_raw_os_error(libc::ENAMETOOLONG);
        assert_eq!(OsText(&e).to_string(), "File name too long (os error 36)");
        let e = io::Error::from_raw_os_error(libc::ELOOP);
        assert_eq!(
            OsText(&e).to_string(),
            "Too many symbolic links encountered (os error 40)"
        );
        let other = io::Error::other("plain");
        assert_eq!(OsText(&other).to_string(), "plain");
    }
}
