//! SECURITY and PRIVATE_USERS: how far root inside the subhost is kept from
//! the host. The syntax is checked here; whether a PRIVATE_USERS range is
//! free on this host is checked when the boot reserves it.

use std::path::Path;

use super::error::{ConfigError, Fault, Origin};
use super::parse::Var;
use super::resolve::Resolver;
use crate::model::caps::Caps;

/// `SECURITY`: which profile confines the subhost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Security {
    /// Root inside is host root, less the machine-wide capabilities.
    #[default]
    Admin,
    /// A Docker-like bounding set, read-only kernel tunables, masked
    /// kernel files, a /dev allow-list and a seccomp filter.
    Hardened,
}

impl Security {
    /// The capabilities the profile drops before KEEP_CAPS (model::caps).
    pub fn drops(self) -> Caps {
        match self {
            Security::Admin => Caps::machine(),
            Security::Hardened => Caps::hardened(),
        }
    }

    /// What KEEP_CAPS may name: MACHINE in `admin`; in `hardened`
    /// whatever it drops but the pinned four.
    pub fn keepable(self) -> Caps {
        Caps(self.drops().0 & !Caps::pinned().0)
    }

    /// What the profile drops when `keep` is kept.
    pub fn dropped_keeping(self, keep: Caps) -> Caps {
        Caps(self.drops().0 & !keep.0)
    }
}

/// `PRIVATE_USERS`: whether the subhost runs in a user namespace of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrivateUsers {
    #[default]
    No,
    /// A free range of 65,536 host ids, chosen at boot and recorded.
    Pick,
    /// Inside ids 0..count are host ids first..first+count.
    Range { first: u32, count: u32 },
}

/// SECURITY: `admin` or `hardened`.
pub fn parse_security(value: &str) -> Result<Security, Fault> {
    match value {
        "admin" => Ok(Security::Admin),
        "hardened" => Ok(Security::Hardened),
        _ => Err(Fault::BadSecurity(value.into())),
    }
}

/// PRIVATE_USERS: `no`, `yes`, or `FIRST:COUNT` with a COUNT of at least 1,
/// a FIRST other than 0 (host root), and the range within 32-bit ids
/// (the last, 2^32-1, is the kernel's invalid id).
pub fn parse_private_users(value: &str) -> Result<PrivateUsers, Fault> {
    match value {
        "no" => return Ok(PrivateUsers::No),
        "yes" => return Ok(PrivateUsers::Pick),
        _ => {}
    }
    let bad = || Fault::BadPrivateUsers(value.into());
    let (first, count) = value.split_once(':').ok_or_else(bad)?;
    let number = |text: &str| -> Result<u32, Fault> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        text.parse().map_err(|_| bad())
    };
    let (first, count) = (number(first)?, number(count)?);
    let end = u64::from(first) + u64::from(count);
    if first == 0 || count == 0 || end > u64::from(u32::MAX) {
        return Err(Fault::PrivateUsersRange(value.into()));
    }
    Ok(PrivateUsers::Range { first, count })
}

impl Resolver<'_> {
    pub fn security(&self, base: &Path) -> Result<Security, ConfigError> {
        let value = self.or_default(Var::Security, base, "admin")?;
        self.check(Var::Security, &value, parse_security)
    }

    /// The value and where it was set (for the boot's range checks).
    pub fn private_users(&self, base: &Path) -> Result<(PrivateUsers, Origin), ConfigError> {
        let value = self.or_default(Var::PrivateUsers, base, "no")?;
        let parsed = self.check(Var::PrivateUsers, &value, parse_private_users)?;
        Ok((parsed, value.origin))
    }
}

impl super::Config {
    /// A refusal of PRIVATE_USERS at boot (exit 2, `file:line: PRIVATE_USERS: …`).
    pub fn private_users_fault(&self, fault: Fault) -> ConfigError {
        ConfigError::Value {
            file: self.path.clone(),
            var: Var::PrivateUsers,
            origin: self.private_users_origin,
            fault,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_profiles() {
        assert_eq!(parse_security("admin").ok(), Some(Security::Admin));
        assert_eq!(parse_security("hardened").ok(), Some(Security::Hardened));
        for bad in ["", "Hardened", "hard", "admin hardened", "none"] {
            assert!(
                matches!(parse_security(bad), Err(Fault::BadSecurity(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn what_each_profile_drops_and_lets_keep() {
        let keep = Caps(1 << 25);
        let admin = Security::Admin.dropped_keeping(keep);
        assert_eq!(admin.0, Caps::machine().0 & !(1 << 25));
        let hard = Security::Hardened.dropped_keeping(keep);
        assert_eq!(hard.0, Caps::hardened().0 & !(1 << 25));
        assert_eq!(Security::Admin.keepable(), Caps::machine());
        assert_eq!(Security::Hardened.keepable().0 & Caps::pinned().0, 0);
        assert_eq!(
            Security::Hardened.keepable().0 & Caps::machine().0,
            Caps::machine().0
        );
    }

    #[test]
    fn private_users_values() {
        assert_eq!(parse_private_users("no").ok(), Some(PrivateUsers::No));
        assert_eq!(parse_private_users("yes").ok(), Some(PrivateUsers::Pick));
        assert_eq!(
            parse_private_users("100000:65536").ok(),
            Some(PrivateUsers::Range {
                first: 100_000,
                count: 65_536
            })
        );
        for bad in [
            "",
            "Yes",
            "1",
            ":5",
            "5:",
            "-1:5",
            "1:+5",
            "a:b",
            "1:2:3",
            "99999999999:1",
        ] {
            assert!(
                matches!(parse_private_users(bad), Err(Fault::BadPrivateUsers(_))),
                "{bad}"
            );
        }
        for out in ["0:65536", "100000:0", "4294967295:1", "4294901760:65536"] {
            assert!(
                matches!(parse_private_users(out), Err(Fault::PrivateUsersRange(_))),
                "{out}"
            );
        }
        assert!(parse_private_users("4294901759:65535").is_ok());
    }
}
