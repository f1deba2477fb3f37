//! The subinit's status snapshots (`--status-fd`, docs/subinit-contract.md):
//! the monitor reads them from a pipe and keeps the newest one in
//! /run/overlay-boot/NAME/status (written to a temporary file and renamed,
//! so a reader sees a whole snapshot or the one before); `--list` parses it.
//! The format is `proto::status`.

use std::fs::File;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use crate::error::{At, Result};
use crate::state;

/// The file under the run directory.
pub const FILE: &str = "status";

pub use proto::status::{Service, Snapshot};

/// Keeps the status file of one subhost up to date from the status pipe,
/// in a thread of the monitor.
pub struct Writer {
    done: Arc<Mutex<bool>>,
}

impl Writer {
    pub fn start(name: &str, pipe: File) -> Result<Writer> {
        let done = Arc::new(Mutex::new(false));
        let flag = Arc::clone(&done);
        let name = name.to_string();
        std::thread::Builder::new()
            .name("status".into())
            .spawn(move || read_loop(&name, pipe, &flag))
            .at("spawn thread", "status")?;
        Ok(Writer { done })
    }

    /// From now on nothing is written (the monitor is about to remove the
    /// run directory; a late write must not recreate anything in it).
    pub fn finish(self) {
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
    }
}

fn read_loop(name: &str, mut pipe: File, done: &Mutex<bool>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        let Some(text) = proto::status::take_newest(&mut buf) else {
            continue;
        };
        if let Err(e) = Snapshot::decode(&text) {
            log::warn!("status: malformed snapshot from the subinit ({e}): {text:?}");
            continue;
        }
        let guard = done.lock().unwrap_or_else(|p| p.into_inner());
        if *guard {
            return;
        }
        if let Err(e) = write_atomically(name, &text) {
            log::warn!("status: {e}");
        }
        drop(guard);
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
