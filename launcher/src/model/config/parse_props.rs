//! Property tests of the pure parts of configuration loading (issue 11):
//! the file parser, CABLES, RAM_SIZE and STOP_TIMEOUT, on generated input.

use proptest::prelude::*;

use super::cable::parse_cables;
use super::error::Fault;
use super::parse::{parse, trim_blanks, Flaw, Var, VALUE_MAX};
use super::values::{parse_ram_size, parse_stop_timeout};
use super::{Cable, RamSize};

/// A value as a file may hold it: no newline, no NUL.
fn value() -> impl Strategy<Value = String> {
    "[ \t]{0,2}[!-~é ]{0,40}[ \t\r]{0,2}"
}

fn var() -> impl Strategy<Value = Var> {
    proptest::sample::select(Var::ALL.to_vec())
}

/// A line that is no assignment: a comment, blank, indented, or an
/// unknown variable.
fn noise() -> impl Strategy<Value = String> {
    prop_oneof![
        "#[ -~]{0,30}",
        "[ \t]{0,3}",
        "[ \t]{1,2}[A-Z_]{1,9}=[ -~]{0,10}",
        "X[A-Z_]{0,8}=[ -~]{0,10}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any bytes: a result, never a panic; a refusal names a line that exists.
    #[test]
    fn any_bytes_parse_or_are_refused_with_a_real_line(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        match parse(&bytes) {
            Ok(_) => {}
            Err(e) => {
                let lines = bytes.split(|&b| b == b'\n').count();
                prop_assert!(e.line >= 1 && e.line <= lines);
            }
        }
    }

    /// Assignments among noise: the first of each variable counts, trimmed,
    /// with its line number; every SHARE counts, in order.
    #[test]
    fn first_assignment_wins_and_every_share_counts(
        lines in proptest::collection::vec(
            prop_oneof![
                (var(), value()).prop_map(|(v, x)| (Some(v), format!("{v}={x}"))),
                noise().prop_map(|n| (None, n)),
            ],
            0..30,
        )
    ) {
        let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
        let set = parse(text.join("\n").as_bytes()).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        for var in Var::ALL.into_iter().filter(|v| *v != Var::Share) {
            let first = lines.iter().enumerate().find(|(_, (v, _))| *v == Some(var));
            let want = first.map(|(i, (_, l))| (i + 1, trim_blanks(&l[var.as_str().len() + 1..]).to_string()));
            let got = set.get(var).map(|a| (a.line, a.value.clone()));
            prop_assert_eq!(got, want);
        }
        let shares: Vec<_> = lines.iter().enumerate()
            .filter(|(_, (v, _))| *v == Some(Var::Share))
            .map(|(i, (_, l))| (i + 1, trim_blanks(&l["SHARE=".len()..]).to_string()))
            .collect();
        let got: Vec<_> = set.shares.iter().map(|a| (a.line, a.value.clone())).collect();
        prop_assert_eq!(got, shares);
    }

    /// A NUL byte or an overlong value in a known variable is refused with
    /// its line and variable; in an ignored line it is not.
    #[test]
    fn nul_and_length_are_checked_in_known_values_only(
        before in proptest::collection::vec(noise(), 0..5),
        var in var(),
        head in "[a-z]{0,5}",
        long in any::<bool>(),
    ) {
        let bad = if long { "y".repeat(VALUE_MAX + 1) } else { format!("{head}\0x") };
        let mut text = before.join("\n");
        if !before.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("#{bad}\n{var}={bad}\n"));
        let err = parse(text.as_bytes()).err();
        let flaw = if long { Flaw::TooLong(VALUE_MAX + 1) } else { Flaw::Nul };
        prop_assert_eq!(err.map(|e| (e.line, e.var, e.flaw)), Some((before.len() + 2, var, flaw)));
    }

    /// Valid CABLES, written out, parse back to the same cables.
    #[test]
    fn cables_round_trip(items in proptest::collection::vec(
        (proptest::option::of("[a-z][a-z0-9]{0,6}"),
         prop_oneof![
            Just(None),
            any::<[u8; 6]>().prop_map(|m| Some(Err(m))),
            (1u16..=4095).prop_map(|t| Some(Ok(t))),
         ]),
        0..6,
    )) {
        let mut text = Vec::new();
        let mut want = Vec::new();
        let mut veths = 0u32;
        for (bridge, end) in &items {
            let b = bridge.clone().unwrap_or_default();
            match end {
                Some(Ok(tag)) if veths > 0 => {
                    text.push(format!("{b}=.{tag}"));
                    want.push(Cable::Vlan { index: veths - 1, tag: *tag, bridge: bridge.clone() });
                }
                Some(Ok(_)) => continue,
                Some(Err(m)) => {
                    let mut mac = *m;
                    mac[0] &= 0xfe;
                    mac[5] |= 1;
                    let shown: Vec<_> = mac.iter().map(|b| format!("{b:02x}")).collect();
                    text.push(format!("{b}={}", shown.join(":")));
                    want.push(Cable::Veth { index: veths, bridge: bridge.clone(), mac: Some(mac) });
                    veths += 1;
                }
                None => {
                    text.push(format!("{b}="));
                    want.push(Cable::Veth { index: veths, bridge: bridge.clone(), mac: None });
                    veths += 1;
                }
            }
        }
        let got = parse_cables(&text.join(" ")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got, want);
    }

    /// Any CABLES text: cables or a fault, never a panic.
    #[test]
    fn any_cables_text_is_handled(text in "[ =.:a-f0-9xz/\t]{0,40}") {
        let _ = parse_cables(&text);
    }

    /// RAM_SIZE: bytes up to the host's memory are taken as written, zero
    /// and more are refused, never a panic on any text.
    #[test]
    fn ram_sizes_are_bounded(n in 0u64..=u64::MAX, unit in 0usize..4, memory in 1u64..=(1 << 40)) {
        let suffix = ["", "k", "M", "g"][unit];
        let text = format!("{n}{suffix}");
        let bytes = n.checked_mul(1u64 << (10 * unit as u32));
        match (parse_ram_size(&text, memory), bytes) {
            (Ok(RamSize::Size(s)), Some(b)) => prop_assert!(s == text && b >= 1 && b <= memory),
            (Err(Fault::ZeroRamSize(_)), _) => prop_assert_eq!(n, 0),
            (Err(Fault::HugeRamSize { .. }), b) => prop_assert!(b.is_none_or(|b| b > memory)),
            (other, _) => prop_assert!(false, "{text}: {other:?}"),
        }
    }

    #[test]
    fn any_ram_size_text_is_handled(text in "[0-9kKmMgG%. -]{0,12}") {
        let _ = parse_ram_size(&text, 1 << 30);
    }

    /// STOP_TIMEOUT: exactly the decimal numbers 1 to 3600.
    #[test]
    fn stop_timeouts_are_1_to_3600(text in "[0-9+ -]{0,6}") {
        let want = text.bytes().all(|b| b.is_ascii_digit())
            && text.parse::<u64>().is_ok_and(|s| (1..=3600).contains(&s));
        prop_assert_eq!(parse_stop_timeout(&text).is_ok(), want);
    }
}
