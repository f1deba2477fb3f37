//! Status snapshots for the launcher (`--status-fd`), written whole after
//! every change (see subinit(8)); a snapshot equal to the last is not
//! written again.

use std::fs::File;
use std::io::Write as _;

use proto::status::Snapshot;

use crate::logging::SELF;

pub struct StatusPipe {
    fd: File,
    last: String,
}

impl StatusPipe {
    pub fn new(fd: File) -> StatusPipe {
        StatusPipe {
            fd,
            last: String::new(),
        }
    }

    /// Writes `snapshot` if it differs from the last; false when the pipe
    /// is no longer usable (the reader is gone).
    pub fn publish(&mut self, snapshot: &Snapshot) -> bool {
        let text = snapshot.encode();
        if text == self.last {
            return true;
        }
        // One write, so the reader never sees half a snapshot (pipe writes up
        // to PIPE_BUF are atomic; larger ones are still written whole).
        if let Err(err) = self.fd.write_all(text.as_bytes()) {
            log::debug!(target: SELF, "status pipe: {err}; no more status reports");
            return false;
        }
        self.last = text;
        true
    }
}
