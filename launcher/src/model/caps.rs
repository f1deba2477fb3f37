//! Capabilities as data. The ones that act on the whole machine rather
//! than on the subhost (issue 9, item 8): what systemd-nspawn and Docker
//! drop from theirs, dropped in every profile; and the bounding set of
//! `SECURITY=hardened` (issue 10): Docker's default set less CAP_MKNOD,
//! plus what ordinary sysv services need. KEEP_CAPS names those a subhost
//! keeps (overlay-boot.conf(5)). capset drops them from processes.

/// Name and number (linux/capability.h) of each capability dropped by default.
pub const MACHINE: [(&str, u32); 9] = [
    ("CAP_DAC_READ_SEARCH", 2),
    ("CAP_SYS_MODULE", 16),
    ("CAP_SYS_RAWIO", 17),
    ("CAP_SYS_TIME", 25),
    ("CAP_MAC_OVERRIDE", 32),
    ("CAP_MAC_ADMIN", 33),
    ("CAP_SYSLOG", 34),
    ("CAP_WAKE_ALARM", 35),
    ("CAP_BLOCK_SUSPEND", 36),
];

/// The bounding set of `SECURITY=hardened`: everything else is dropped.
/// Docker's default 14 less CAP_MKNOD (no device node may be made; the
/// subhost's /dev is made by the launcher), plus CAP_NET_ADMIN (ifupdown,
/// dhclient and iptables configure the subhost's own network namespace;
/// nothing of the host's network is reachable from it) and
/// CAP_SYS_RESOURCE (daemons raise their open-file and other limits past
/// the hard limit; the cgroup limits still bound them).
pub const HARDENED_KEEP: [(&str, u32); 15] = [
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_ADMIN", 12),
    ("CAP_NET_RAW", 13),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_SYS_RESOURCE", 24),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_SETFCAP", 31),
];

/// Dropped by `SECURITY=hardened` and never kept, whatever KEEP_CAPS says:
/// each one alone undoes the profile (mounts, device nodes, ptrace of
/// entering processes, reboot of the host's kernel).
pub const PINNED: [(&str, u32); 4] = [
    ("CAP_SYS_ADMIN", 21),
    ("CAP_MKNOD", 27),
    ("CAP_SYS_PTRACE", 19),
    ("CAP_SYS_BOOT", 22),
];

/// Every capability of linux/capability.h, by number.
pub const ALL: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A set of capabilities, bit N for capability N.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps(pub u64);

fn set_of(table: &[(&str, u32)]) -> Caps {
    Caps(table.iter().fold(0, |m, &(_, n)| m | 1 << n))
}

impl Caps {
    /// All of MACHINE.
    pub fn machine() -> Caps {
        set_of(&MACHINE)
    }

    /// Every capability this build knows (0 to CAP_CHECKPOINT_RESTORE);
    /// those the running kernel lacks are skipped when dropping.
    pub fn every() -> Caps {
        Caps((1u64 << ALL.len()) - 1)
    }

    /// What `SECURITY=hardened` drops before KEEP_CAPS.
    pub fn hardened() -> Caps {
        Caps(Caps::every().0 & !set_of(&HARDENED_KEEP).0)
    }

    /// All of PINNED.
    pub fn pinned() -> Caps {
        set_of(&PINNED)
    }

    /// The names of the capabilities in the set, blank-separated.
    pub fn names(self) -> String {
        let mut v: Vec<&str> = ALL
            .iter()
            .enumerate()
            .filter(|&(n, _)| self.0 & 1 << n != 0)
            .map(|(_, &name)| name)
            .collect();
        if v.is_empty() {
            v.push("none");
        }
        v.join(" ")
    }
}

/// KEEP_CAPS: blank-separated names out of `keepable` (`CAP_` optional,
/// any case), `all` for all of them, `none` or nothing for none. The error
/// is the first name that is not one of them.
pub fn parse_keep(value: &str, keepable: Caps) -> Result<Caps, String> {
    let mut keep = 0u64;
    for word in value.split_ascii_whitespace() {
        let upper = word.to_ascii_uppercase();
        match upper.as_str() {
            "NONE" => continue,
            "ALL" => keep |= keepable.0,
            _ => {
                let full = if upper.starts_with("CAP_") {
                    upper.clone()
                } else {
                    format!("CAP_{upper}")
                };
                match ALL.iter().position(|name| *name == full) {
                    Some(n) if keepable.0 & 1 << n != 0 => keep |= 1 << n,
                    _ => return Err(word.to_string()),
                }
            }
        }
    }
    Ok(Caps(keep))
}

/// The set in a /proc/PID/status text's `CapBnd` line.
pub fn capbnd(status: &str) -> Option<Caps> {
    let line = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    u64::from_str_radix(line.trim(), 16).ok().map(Caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: Caps = Caps(0x1f_0203_0004);

    #[test]
    fn keep_names_parse() {
        let m = Caps::machine();
        assert_eq!(m, ADMIN);
        assert_eq!(parse_keep("", m), Ok(Caps(0)));
        assert_eq!(parse_keep("none", m), Ok(Caps(0)));
        assert_eq!(parse_keep("CAP_SYS_TIME", m), Ok(Caps(1 << 25)));
        assert_eq!(
            parse_keep("sys_time  cap_syslog", m),
            Ok(Caps(1 << 25 | 1 << 34))
        );
        assert_eq!(parse_keep("all", m), Ok(Caps::machine()));
        assert_eq!(
            parse_keep("CAP_SYS_TIME CAP_NOPE", m),
            Err("CAP_NOPE".into())
        );
        // A real capability that is not dropped is not a thing to keep.
        assert_eq!(parse_keep("CAP_NET_ADMIN", m), Err("CAP_NET_ADMIN".into()));
    }

    #[test]
    fn hardened_keeps_only_its_list_and_pins_four() {
        let h = Caps::hardened();
        for (name, n) in HARDENED_KEEP {
            assert_eq!(ALL[n as usize], name);
            assert_eq!(h.0 & 1 << n, 0, "{name}");
        }
        for (name, n) in MACHINE.iter().chain(&PINNED) {
            assert_eq!(ALL[*n as usize], *name);
            assert_ne!(h.0 & 1 << n, 0, "{name}");
        }
        assert_eq!(h.0.count_ones(), 41 - 15);
        let k = Caps(h.0 & !Caps::pinned().0);
        assert_eq!(
            parse_keep("sys_nice ipc_lock", k),
            Ok(Caps(1 << 23 | 1 << 14))
        );
        for pinned in ["CAP_SYS_ADMIN", "mknod", "SYS_PTRACE", "sys_boot"] {
            assert_eq!(parse_keep(pinned, k), Err(pinned.into()));
        }
        assert_eq!(parse_keep("CAP_CHOWN", k), Err("CAP_CHOWN".into()));
        assert_eq!(parse_keep("all", k).map(|c| c.0 & Caps::pinned().0), Ok(0));
    }

    #[test]
    fn names() {
        assert_eq!(Caps::machine().0.count_ones(), 9);
        assert_eq!(Caps(1 << 25).names(), "CAP_SYS_TIME");
        assert_eq!(Caps(0).names(), "none");
        assert!(Caps::hardened()
            .names()
            .contains("CAP_SYS_ADMIN CAP_SYS_BOOT"));
    }

    #[test]
    fn capbnd_is_read() {
        let status = "Name:\tx\nCapBnd:\t000001ffffffffff\nCapAmb:\t0\n";
        assert_eq!(capbnd(status), Some(Caps(0x1ff_ffff_ffff)));
        assert_eq!(capbnd("Name:\tx\n"), None);
    }
}
