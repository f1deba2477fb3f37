//! Drops capabilities from this process: from the bounding, ambient,
//! inheritable, permitted and effective sets (issue 9, item 8). Used for
//! the subhost's PID 1 (and so everything it starts, a session's command
//! included) and overlay-go's command.

use std::path::Path;

use nix::errno::Errno;

use crate::model::caps::{capbnd, Caps};

/// Version 3 of the capget/capset interface (linux/capability.h).
const CAP_V3: u32 = 0x2008_0522;

#[repr(C)]
struct Header {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drops `caps` from this process's bounding, ambient, inheritable,
/// permitted and effective sets. Makes system calls only (no allocation),
/// so a child between fork and exec may call it. A capability the kernel
/// does not know is skipped.
pub fn drop(caps: Caps) -> Result<(), (&'static str, Errno)> {
    for n in 0..64u32 {
        if caps.0 & 1 << n == 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) };
        if r != 0 && Errno::last() != Errno::EINVAL {
            return Err(("prctl(PR_CAPBSET_DROP)", Errno::last()));
        }
        let lower = libc::PR_CAP_AMBIENT_LOWER as libc::c_ulong;
        // SAFETY: as above; EINVAL (no ambient support, unknown cap) is fine.
        unsafe { libc::prctl(libc::PR_CAP_AMBIENT, lower, n as libc::c_ulong, 0, 0) };
    }
    let mut head = Header {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget fills two Data structs for version 3, as given.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut head, data.as_mut_ptr()) };
    if r != 0 {
        return Err(("capget", Errno::last()));
    }
    for (i, d) in data.iter_mut().enumerate() {
        let keep = !((caps.0 >> (32 * i)) as u32);
        d.effective &= keep;
        d.permitted &= keep;
        d.inheritable &= keep;
    }
    // SAFETY: capset reads the header and two Data structs, as given.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut head, data.as_ptr()) };
    if r != 0 {
        return Err(("capset", Errno::last()));
    }
    Ok(())
}

/// The bounding set of process `pid` (`CapBnd` in /proc/PID/status).
pub fn bounding_of(pid: i32) -> Option<Caps> {
    let path = Path::new("/proc").join(pid.to_string()).join("status");
    let text = std::fs::read_to_string(path).ok()?;
    capbnd(&text)
}
