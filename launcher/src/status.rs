//! The subinit's status snapshots (`--status-fd`, docs/subinit-contract.md):
//! the monitor reads them from a pipe and keeps the newest one in
//! /run/overlay-boot/NAME/status (written to a temporary file and renamed,
//! so a reader sees a whole snapshot or the one before); `--list` parses it.
//! The format is `proto::status`.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use crate::error::{At, Result};
use crate::state;

/// The file under the run directory.
pub const FILE: &str = "status";

pub use proto::status::{Service, Snapshot};

/// Keeps the status file of one subhost up to date from the status pipe.
/// The monitor polls [`Writer::fd`] with its other fds and calls
/// [`Writer::readable`]: no thread of its own, which would cost every idle
/// subhost a kernel stack, a thread stack and an allocator arena.
pub struct Writer {
    name: String,
    pipe: File,
    buf: Vec<u8>,
}

impl Writer {
    pub fn new(name: &str, pipe: File) -> Writer {
        Writer {
            name: name.to_string(),
            pipe,
            buf: Vec::new(),
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.pipe.as_fd()
    }

    /// Reads what the pipe has and writes the newest whole snapshot; false
    /// once the subinit closed its end (stop polling then).
    pub fn readable(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.pipe.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return true,
            Err(_) => return false,
        }
        let Some(text) = proto::status::take_newest(&mut self.buf) else {
            return true;
        };
        if let Err(e) = Snapshot::decode(&text) {
            log::warn!("status: malformed snapshot from the subinit ({e}): {text:?}");
        } else if let Err(e) = write_atomically(&self.name, &text) {
            log::warn!("status: {e}");
        }
        true
    }
}

/// Writes `status.tmp`, then renames it over `status`.
fn write_atomically(name: &str, text: &str) -> Result<()> {
    let dir = state::dir(name);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let path = dir.join(FILE);
    let mut f = File::create(&tmp).at("create", &tmp)?;
    f.write_all(text.as_bytes()).at("write", &tmp)?;
    drop(f);
    std::fs::rename(&tmp, &path).at("rename", &path)
}

/// The newest snapshot of a running subhost, if the monitor wrote one.
pub fn read(name: &str) -> Option<Snapshot> {
    let text = std::fs::read_to_string(state::dir(name).join(FILE)).ok()?;
    Snapshot::decode(&text).ok()
}
