//! The device cgroup of `SECURITY=hardened` (issue 10): only the devices
//! of `model::hardened::DEVICES` may be opened or made in the subhost's
//! cgroup. On a hybrid or v1 host the v1 `devices` controller (`a` denied,
//! then each device allowed); on cgroup2 a BPF device program (`devbpf`).
//! A hybrid host gets both: the same list, enforced twice.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};

use crate::error::{At, Error, Result};
use crate::kernel::devbpf;
use crate::model::hardened::DEVICES;
use crate::model::hierarchy::{Ctl, Layout};

/// Restricts subhost `name`'s cgroups (made by `cgroups::create`; `v2` is
/// its cgroup2 directory's fd) before anything runs in them.
pub fn restrict(layout: &Layout, name: &str, v2: Option<&OwnedFd>) -> Result<()> {
    let v1 = layout.v1.iter().find(|h| h.has(Ctl::Devices));
    if let Some(h) = v1 {
        let dir = h.mount.join(name);
        let deny = dir.join("devices.deny");
        fs::write(&deny, "a").at("write", &deny)?;
        let allow = dir.join("devices.allow");
        for d in &DEVICES {
            fs::write(&allow, d.v1_rule()).at("write", &allow)?;
        }
    }
    match (v2, v1) {
        (Some(fd), _) => match devbpf::attach(fd.as_fd(), &DEVICES) {
            Ok(()) => Ok(()),
            // The v1 controller enforces the list already.
            Err((op, errno)) if v1.is_some() => {
                log::warn!("{op}: {}; the v1 devices controller alone", errno.desc());
                Ok(())
            }
            Err((op, errno)) => Err(Error::Call { op, errno }),
        },
        (None, Some(_)) => Ok(()),
        (None, None) => Err(Error::Call {
            op: "SECURITY=hardened: no devices cgroup (v1) and no cgroup2",
            errno: nix::errno::Errno::ENOTSUP,
        }),
    }
}
