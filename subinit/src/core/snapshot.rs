//! The status snapshot (`proto::status`) of the boot and the services.

use proto::status::{Kind, Service as Shown, Snapshot, SubhostState};

use super::boot::Boot;
use super::service::Service;

pub fn snapshot(boot: &Boot, services: &[Service], stopping: bool) -> Snapshot {
    let state = match (stopping, boot.done()) {
        (true, _) => SubhostState::Stopping,
        (false, false) => SubhostState::Booting,
        (false, true) => SubhostState::Ready,
    };
    let scripts = boot.scripts().iter().map(|(name, state)| Shown {
        name: name.clone(),
        kind: Kind::Script,
        state: *state,
        restarts: 0,
        pid: None,
    });
    let supervised = services.iter().map(|service| Shown {
        name: service.name.clone(),
        kind: Kind::Supervised,
        state: service.state(stopping),
        restarts: u64::from(service.restarts()),
        pid: service.pid().map(|p| p.as_raw() as u32),
    });
    Snapshot {
        state,
        services: scripts.chain(supervised).collect(),
    }
}
