//! The capabilities that act on the whole machine rather than on the
//! subhost (issue 9, item 8): what systemd-nspawn and Docker drop from
//! theirs, as data; KEEP_CAPS names those a subhost keeps
//! (overlay-boot.conf(5)). capset drops them from processes.

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

/// A set of capabilities, bit N for capability N.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps(pub u64);

impl Caps {
    /// All of MACHINE.
    pub fn machine() -> Caps {
        Caps(MACHINE.iter().fold(0, |m, &(_, n)| m | 1 << n))
    }

    /// What is dropped when `self` is kept.
    pub fn dropped_keeping(self) -> Caps {
        Caps(Caps::machine().0 & !self.0)
    }

    /// The names of the capabilities in the set, blank-separated.
    pub fn names(self) -> String {
        let mut v: Vec<&str> = MACHINE
            .iter()
            .filter(|(_, n)| self.0 & 1 << n != 0)
            .map(|&(name, _)| name)
            .collect();
        if v.is_empty() {
            v.push("none");
        }
        v.join(" ")
    }
}

/// KEEP_CAPS: blank-separated names out of MACHINE (`CAP_` optional, any
/// case), `all` for all of them, `none` or nothing for none. The error is
/// the first name that is not one of them.
pub fn parse_keep(value: &str) -> Result<Caps, String> {
    let mut keep = 0u64;
    for word in value.split_ascii_whitespace() {
        let upper = word.to_ascii_uppercase();
        match upper.as_str() {
            "NONE" => continue,
            "ALL" => keep |= Caps::machine().0,
            _ => {
                let full = if upper.starts_with("CAP_") {
                    upper.clone()
                } else {
                    format!("CAP_{upper}")
                };
                let found = MACHINE.iter().find(|(name, _)| *name == full);
                let Some(&(_, n)) = found else {
                    return Err(word.to_string());
                };
                keep |= 1 << n;
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

    #[test]
    fn keep_names_parse() {
        assert_eq!(parse_keep(""), Ok(Caps(0)));
        assert_eq!(parse_keep("none"), Ok(Caps(0)));
        assert_eq!(parse_keep("CAP_SYS_TIME"), Ok(Caps(1 << 25)));
        assert_eq!(
            parse_keep("sys_time  cap_syslog"),
            Ok(Caps(1 << 25 | 1 << 34))
        );
        assert_eq!(parse_keep("all"), Ok(Caps::machine()));
        assert_eq!(parse_keep("CAP_SYS_TIME CAP_NOPE"), Err("CAP_NOPE".into()));
        // A real capability that is not dropped is not a thing to keep.
        assert_eq!(parse_keep("CAP_NET_ADMIN"), Err("CAP_NET_ADMIN".into()));
    }

    #[test]
    fn dropped_and_names() {
        assert_eq!(Caps::machine().0.count_ones(), 9);
        let kept = Caps(1 << 25);
        assert_eq!(kept.dropped_keeping().0, Caps::machine().0 & !(1 << 25));
        assert_eq!(kept.names(), "CAP_SYS_TIME");
        assert_eq!(Caps(0).names(), "none");
    }

    #[test]
    fn capbnd_is_read() {
        let status = "Name:\tx\nCapBnd:\t000001ffffffffff\nCapAmb:\t0\n";
        assert_eq!(capbnd(status), Some(Caps(0x1ff_ffff_ffff)));
        assert_eq!(capbnd("Name:\tx\n"), None);
    }
}
