//! /run/overlay-boot/NAME/status: the newest snapshot the subinit sent on
//! its status pipe, kept by the monitor (written to a temporary file and
//! renamed, so a reader sees a whole snapshot or the one before), read by
//! `--list`. The format is `proto::status`.

use std::fs::File;
use std::io::{Read, Write};

use crate::error::{At, Result};
use crate::kernel::dirfd::Dir;
use crate::subhost::state;
use proto::status::{take_newest, Snapshot};

/// The file under the run directory.
pub const FILE: &str = "status";

/// The monitor's end of the status pipe and what it has read of a
/// snapshot not yet whole.
pub struct StatusPipe {
    name: String,
    pipe: File,
    buf: Vec<u8>,
}

impl StatusPipe {
    pub fn new(name: &str, pipe: File) -> StatusPipe {
        StatusPipe {
            name: name.to_string(),
            pipe,
            buf: Vec::new(),
        }
    }

    /// The pipe, for the monitor's poll.
    pub fn file(&self) -> &File {
        &self.pipe
    }

    /// Reads what the pipe holds (it polled readable) and writes the
    /// newest whole snapshot, if any; false at EOF (PID 1 has gone).
    pub fn read(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.pipe.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return true,
            Err(_) => return false,
        }
        let Some(text) = take_newest(&mut self.buf) else {
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

/// The newest snapshot of a running subhost (its run directory `run`),
/// if the monitor wrote one.
pub fn read(run: &Dir) -> Option<Snapshot> {
    Snapshot::decode(&run.text(FILE)?).ok()
}
