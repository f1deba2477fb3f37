//! A START entry's LSB header (`### BEGIN INIT INFO` ... `### END INIT
//! INFO`, as insserv(8) reads it): does its `Provides:` line name a member
//! of `$network`? Read once at start-up, for the stop's sweep.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::core::plan::NETWORK_ENTRIES;

/// How much of a script is read for its header.
const HEAD: u64 = 16 * 1024;

/// True when the script of START entry `entry` (`/path`, or
/// `/etc/init.d/NAME`) has an LSB header whose `Provides:` names
/// `$network`, `networking` or `ifupdown`. Anything unreadable: false.
pub fn provides_network(entry: &OsStr) -> bool {
    let path = if entry.as_bytes().starts_with(b"/") {
        PathBuf::from(entry)
    } else {
        Path::new("/etc/init.d").join(entry)
    };
    head(&path).is_some_and(|text| header_provides_network(&text))
}

/// The first `HEAD` bytes of a regular file. Opened without blocking, so a
/// FIFO in its place cannot hang PID 1.
fn head(path: &Path) -> Option<String> {
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(HEAD).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn header_provides_network(text: &str) -> bool {
    let mut lines = text.lines().map(str::trim);
    if !lines.any(|l| l == "### BEGIN INIT INFO") {
        return false;
    }
    lines
        .take_while(|l| *l != "### END INIT INFO")
        .filter_map(|l| l.strip_prefix('#')?.trim().strip_prefix("Provides:"))
        .flat_map(str::split_whitespace)
        .any(|word| word == "$network" || NETWORK_ENTRIES.contains(&word))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "#!/bin/sh
### BEGIN INIT INFO
# Provides:          PROVIDES
# Required-Start:    $local_fs
### END INIT INFO
# Provides: networking (outside the header)
";

    #[test]
    fn provides_line_of_the_header() {
        let with = |p: &str| header_provides_network(&HEADER.replace("PROVIDES", p));
        assert!(with("networking ifupdown"));
        assert!(with("mynet $network"));
        assert!(with("ifupdown"));
        assert!(!with("ssh"));
        assert!(!with("networking-extra"));
        assert!(!header_provides_network(
            "#!/bin/sh\n# Provides: networking\n"
        ));
    }

    #[test]
    fn a_fifo_is_not_read() {
        let dir = std::env::temp_dir().join(format!("subinit-lsb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        assert!(!provides_network(fifo.as_os_str()));
        let script = dir.join("net");
        std::fs::write(&script, HEADER.replace("PROVIDES", "networking")).expect("write");
        assert!(provides_network(script.as_os_str()));
        std::fs::remove_dir_all(&dir).expect("rm");
    }
}
