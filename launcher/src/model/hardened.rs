//! What `SECURITY=hardened` makes read-only, masks and lets open, as data
//! (issue 10; security.md 4.2: Docker's `oci/defaults.go` ReadonlyPaths,
//! MaskedPaths and default device rules). The capabilities are in `caps`.

/// Bound over themselves and made read-only in PID 1's new /proc and the
/// subhost's /sys. A path the kernel does not have is skipped.
/// `/proc/sys/net` (per network namespace) stays writable.
pub const READ_ONLY: [&str; 6] = [
    "/proc/sys",
    "/proc/sysrq-trigger",
    "/proc/irq",
    "/proc/bus",
    "/proc/fs",
    "/sys",
];

/// Kept writable inside a read-only one of READ_ONLY.
pub const WRITABLE: [&str; 1] = ["/proc/sys/net"];

/// Files hidden under an empty read-only file of the launcher's.
pub const MASKED_FILES: [&str; 5] = [
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/kmsg",
    "/proc/sched_debug",
];

/// Directories hidden under an empty read-only directory of the launcher's.
pub const MASKED_DIRS: [&str; 3] = ["/proc/acpi", "/proc/scsi", "/sys/firmware"];

/// A character device the subhost may open (read, write, mknod): its
/// major, and its minor or `None` for every minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dev {
    pub major: u32,
    pub minor: Option<u32>,
    pub what: &'static str,
}

const fn dev(major: u32, minor: u32, what: &'static str) -> Dev {
    Dev {
        major,
        minor: Some(minor),
        what,
    }
}

/// The device allow-list: every other device, block devices all, is
/// refused by the device cgroup (v1 `devices`, or a cgroup BPF program).
/// Not 5:1, the host's console: the subhost's /dev/console is 1:3.
pub const DEVICES: [Dev; 8] = [
    dev(1, 3, "null (and the subhost's console)"),
    dev(1, 5, "zero"),
    dev(1, 7, "full"),
    dev(1, 8, "random"),
    dev(1, 9, "urandom"),
    dev(5, 0, "tty"),
    dev(5, 2, "ptmx"),
    Dev {
        major: 136,
        minor: None,
        what: "the subhost's own devpts ptys",
    },
];

impl Dev {
    /// The v1 `devices.allow` rule: `c MAJOR:MINOR rwm`.
    pub fn v1_rule(&self) -> String {
        match self.minor {
            Some(minor) => format!("c {}:{minor} rwm", self.major),
            None => format!("c {}:* rwm", self.major),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_lists() {
        assert_eq!(DEVICES[0].v1_rule(), "c 1:3 rwm");
        assert_eq!(DEVICES[7].v1_rule(), "c 136:* rwm");
        assert!(!DEVICES.iter().any(|d| d.major == 5 && d.minor == Some(1)));
        for w in WRITABLE {
            assert!(READ_ONLY.iter().any(|r| w.starts_with(r)));
        }
    }
}
