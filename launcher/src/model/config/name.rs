//! NAME rules: it names the netns, the host-side interfaces, the cgroup and
//! the overlay's mount source. Pure.

use super::error::Fault;
use super::Cable;
use crate::model::names::{name_fault, NameFault, IFNAME_MAX};

/// 1..=12 printable ASCII characters, no blank, no `/`, not `.` or `..`
/// (`names::name_fault`), as a configuration fault.
pub fn check_name(name: &str) -> Result<(), Fault> {
    match name_fault(name) {
        None => Ok(()),
        Some(NameFault::Empty) => Err(Fault::NameEmpty),
        Some(NameFault::BadChar(ch)) => Err(Fault::NameBadChar {
            name: name.into(),
            ch,
        }),
        Some(NameFault::TooLong) => Err(Fault::NameTooLong(name.into())),
        Some(NameFault::Dots) => Err(Fault::NameDots(name.into())),
    }
}

/// The host-side interface names the cables will get: `NAMEN` for a veth
/// cable, `NAMEN.T` for a VLAN on it.
pub fn host_ifnames(name: &str, cables: &[Cable]) -> Vec<String> {
    cables
        .iter()
        .map(|cable| match cable {
            Cable::Veth { index, .. } => format!("{name}{index}"),
            Cable::Vlan { index, tag, .. } => format!("{name}{index}.{tag}"),
        })
        .collect()
}

/// Refuses a NAME whose host interface names would pass the kernel's limit
/// or hold a `:`, before anything is created (the kernel would refuse them
/// half-way).
pub fn check_ifnames(name: &str, cables: &[Cable]) -> Result<(), Fault> {
    if !cables.is_empty() && name.contains(':') {
        return Err(Fault::NameBadChar {
            name: name.into(),
            ch: ':',
        });
    }
    match host_ifnames(name, cables)
        .into_iter()
        .find(|i| i.len() > IFNAME_MAX)
    {
        Some(long) => Err(Fault::InterfaceTooLong(long)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names() {
        for n in ["a", "mta", "web-1.x_y", "abcdefghijkl", "..a", "a:b"] {
            assert!(check_name(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn bad_names() {
        assert!(matches!(check_name(""), Err(Fault::NameEmpty)));
        assert!(matches!(
            check_name("abcdefghijklm"),
            Err(Fault::NameTooLong(_))
        ));
        assert!(matches!(check_name("."), Err(Fault::NameDots(_))));
        assert!(matches!(check_name(".."), Err(Fault::NameDots(_))));
        for (n, c) in [
            ("a b", ' '),
            ("a/b", '/'),
            ("a\tb", '\t'),
            ("caf\u{e9}", '\u{e9}'),
            ("a\u{7f}", '\u{7f}'),
        ] {
            assert!(
                matches!(check_name(n), Err(Fault::NameBadChar { ch, .. }) if ch == c),
                "{n:?}"
            );
        }
    }

    #[test]
    fn the_too_long_message_names_the_limit() {
        let fault = check_name("averyveryverylongname")
            .err()
            .map(|f| f.to_string());
        assert_eq!(
            fault.as_deref(),
            Some("\"averyveryverylongname\" is longer than 12 characters")
        );
    }

    fn veths(n: u32) -> Vec<Cable> {
        (0..n)
            .map(|index| Cable::Veth {
                index,
                bridge: None,
                mac: None,
            })
            .collect()
    }

    #[test]
    fn interface_names_within_the_kernel_limit() {
        assert!(check_ifnames("abcdefghijkl", &veths(10)).is_ok());
        assert!(check_ifnames("abcdefghijkl", &[]).is_ok());
        let vlan = vec![
            veths(1).remove(0),
            Cable::Vlan {
                index: 0,
                tag: 4095,
                bridge: None,
            },
        ];
        assert!(check_ifnames("abcdefghi", &vlan).is_ok());
        assert!(check_ifnames("a:b", &[]).is_ok());
        assert!(matches!(
            check_ifnames("a:b", &veths(1)),
            Err(Fault::NameBadChar { ch: ':', .. })
        ));
    }

    #[test]
    fn interface_names_past_the_kernel_limit() {
        assert!(check_ifnames("abcdefghijkl", &veths(1000)).is_ok());
        let got = check_ifnames("abcdefghijkl", &veths(1001));
        assert!(
            matches!(got, Err(Fault::InterfaceTooLong(ref i)) if i == "abcdefghijkl1000"),
            "{got:?}"
        );
        let vlan = vec![
            veths(1).remove(0),
            Cable::Vlan {
                index: 0,
                tag: 4095,
                bridge: None,
            },
        ];
        let got = check_ifnames("abcdefghij", &vlan);
        assert!(
            matches!(got, Err(Fault::InterfaceTooLong(ref i)) if i == "abcdefghij0.4095"),
            "{got:?}"
        );
    }
}
