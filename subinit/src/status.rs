//! Status snapshots for the launcher (`--status-fd`): the subhost's state and
//! each service's, written whole after every change (see subinit(8)).

use std::fs::File;
use std::io::Write as _;

use proto::status::{Kind, Service, Snapshot, SubhostState};

use crate::init::Init;
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
}

impl Init {
    /// Writes a snapshot if anything changed since the last one.
    pub fn publish_status(&mut self) {
        // Most wake-ups (a reaped orphan) change nothing shown here.
        if self.status.is_none() || !std::mem::take(&mut self.status_changed) {
            return;
        }
        let snapshot = self.snapshot().encode();
        let Some(pipe) = self.status.as_mut().filter(|p| p.last != snapshot) else {
            return;
        };
        // One write, so the reader never sees half a snapshot (pipe writes up
        // to PIPE_BUF are atomic; larger ones are still written whole).
        if let Err(err) = pipe.fd.write_all(snapshot.as_bytes()) {
            log::debug!(target: SELF, "status pipe: {err}; no more status reports");
            self.status = None;
            return;
        }
        pipe.last = snapshot;
    }

    fn snapshot(&self) -> Snapshot {
        let state = match (&self.stop, self.boot.done) {
            (Some(_), _) => SubhostState::Stopping,
            (None, false) => SubhostState::Booting,
            (None, true) => SubhostState::Ready,
        };
        let scripts = self.boot.scripts.iter().map(|(name, state)| Service {
            name: name.clone(),
            kind: Kind::Script,
            state: *state,
            restarts: 0,
        });
        let supervised = self.services.iter().map(|service| Service {
            name: service.name.clone(),
            kind: Kind::Supervised,
            state: service.state(self.stop.is_some()),
            restarts: u64::from(service.starts.saturating_sub(1)),
        });
        Snapshot {
            state,
            services: scripts.chain(supervised).collect(),
        }
    }
}
