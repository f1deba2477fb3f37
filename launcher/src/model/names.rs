//! The naming rules, once: a subhost's NAME (it names the netns, the
//! host-side interfaces, the cgroup, the run directory and the overlay's
//! mount source) and an interface name as the kernel accepts it. Pure.

/// The longest NAME (the original's limit).
pub const NAME_MAX: usize = 12;

/// The kernel's limit on an interface name, without the NUL (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// What makes a NAME unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameFault {
    Empty,
    /// Not printable ASCII, a blank or a `/`: the first such character.
    BadChar(char),
    TooLong,
    /// `.` or `..`.
    Dots,
}

/// 1..=12 printable ASCII characters, no blank, no `/`, not `.` or `..`;
/// the first rule broken, if any (checked in that order).
pub fn name_fault(name: &str) -> Option<NameFault> {
    if name.is_empty() {
        return Some(NameFault::Empty);
    }
    if let Some(ch) = name.chars().find(|c| !c.is_ascii_graphic() || *c == '/') {
        return Some(NameFault::BadChar(ch));
    }
    if name.len() > NAME_MAX {
        return Some(NameFault::TooLong);
    }
    if name == "." || name == ".." {
        return Some(NameFault::Dots);
    }
    None
}

/// What makes `name` no valid interface name (the kernel's
/// `dev_valid_name`), if anything: 1..=15 bytes, no `/`, `:`, NUL or
/// blank, not `.`/`..`. Netlink refuses such a name before sending it, and
/// the configuration checks bridge names with it.
pub fn ifname_fault(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > IFNAME_MAX {
        Some("is longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("is . or ..")
    } else if name.contains(['/', ':', '\0']) {
        Some("holds a '/', ':' or NUL")
    } else if name.chars().any(char::is_whitespace) {
        Some("holds a blank")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for n in ["a", "mta", "web-1.x_y", "abcdefghijkl", "..a", "a:b"] {
            assert_eq!(name_fault(n), None, "{n}");
        }
        assert_eq!(name_fault(""), Some(NameFault::Empty));
        assert_eq!(name_fault("abcdefghijklm"), Some(NameFault::TooLong));
        assert_eq!(name_fault(".."), Some(NameFault::Dots));
        assert_eq!(name_fault("caf\u{e9}"), Some(NameFault::BadChar('\u{e9}')));
        // The character is reported before the length.
        assert_eq!(
            name_fault("a very long name"),
            Some(NameFault::BadChar(' '))
        );
    }

    #[test]
    fn interface_names() {
        for n in ["a", "eth0", "mta0.4095", "abcdefghijklmno", "..a", "br-x_y"] {
            assert_eq!(ifname_fault(n), None, "{n}");
        }
        for n in [
            "",
            ".",
            "..",
            "abcdefghijklmnop",
            "a/b",
            "a:b",
            "a\0b",
            "a b",
            "a\tb",
            "\u{a0}",
        ] {
            assert!(ifname_fault(n).is_some(), "{n:?}");
        }
    }
}
