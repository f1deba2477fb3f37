//! `CABLES`: a blank-separated list of `[bridge]=[mac|.vlan]`. Pure.

use super::error::Fault;
use super::Cable;

/// Parses the CABLES value. Veth cables are numbered from 0, VLAN cables
/// not counted; a `.T` rides on the veth cable before it.
pub fn parse_cables(value: &str) -> Result<Vec<Cable>, Fault> {
    let mut cables = Vec::new();
    let mut veths: u32 = 0;
    for word in value.split([' ', '\t']).filter(|w| !w.is_empty()) {
        let (bridge, end) = word
            .split_once('=')
            .ok_or_else(|| Fault::BadCable(word.into()))?;
        let bridge = parse_bridge(bridge)?;
        if let Some(tag) = end.strip_prefix('.') {
            let index = veths
                .checked_sub(1)
                .ok_or_else(|| Fault::VlanWithoutCable(word.into()))?;
            let tag = parse_vlan_tag(tag)?;
            cables.push(Cable::Vlan { index, tag, bridge });
        } else {
            let mac = if end.is_empty() {
                None
            } else {
                Some(parse_mac(end)?)
            };
            cables.push(Cable::Veth {
                index: veths,
                bridge,
                mac,
            });
            veths += 1;
        }
    }
    Ok(cables)
}

/// Whether the kernel accepts `name` as an interface name (dev_valid_name).
pub fn valid_ifname(name: &str) -> bool {
    crate::model::names::ifname_fault(name).is_none()
}

fn parse_bridge(bridge: &str) -> Result<Option<String>, Fault> {
    match bridge {
        "" => Ok(None),
        b if valid_ifname(b) => Ok(Some(b.to_string())),
        b => Err(Fault::BadBridge(b.to_string())),
    }
}

/// `.T` with T in 1..=4095 (decimal digits only).
fn parse_vlan_tag(tag: &str) -> Result<u16, Fault> {
    let bad = || Fault::BadVlanTag(format!(".{tag}"));
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match tag.parse::<u16>() {
        Ok(t) if (1..=4095).contains(&t) => Ok(t),
        _ => Err(bad()),
    }
}

/// `xx:xx:xx:xx:xx:xx`, two hex digits each; a multicast or all-zero
/// address is refused here because the kernel would refuse it at boot.
fn parse_mac(text: &str) -> Result<[u8; 6], Fault> {
    let bad = || Fault::BadMac(text.to_string());
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in mac.iter_mut() {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if mac[0] & 1 == 1 {
        return Err(Fault::MulticastMac(text.to_string()));
    }
    if mac == [0; 6] {
        return Err(Fault::ZeroMac(text.to_string()));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn veth(index: u32, bridge: Option<&str>, mac: Option<[u8; 6]>) -> Cable {
        Cable::Veth {
            index,
            bridge: bridge.map(String::from),
            mac,
        }
    }

    fn cables(value: &str) -> Vec<Cable> {
        parse_cables(value).expect("valid CABLES")
    }

    #[test]
    fn empty_list() {
        assert_eq!(cables(""), vec![]);
        assert_eq!(cables("  \t "), vec![]);
    }

    #[test]
    fn bare_cables_are_numbered() {
        assert_eq!(
            cables("= ="),
            vec![veth(0, None, None), veth(1, None, None)]
        );
    }

    #[test]
    fn bridge_only() {
        assert_eq!(cables("br0="), vec![veth(0, Some("br0"), None)]);
    }

    #[test]
    fn mac_only() {
        assert_eq!(
            cables("=02:00:00:00:00:01"),
            vec![veth(0, None, Some([2, 0, 0, 0, 0, 1]))]
        );
        assert_eq!(
            cables("=0a:Bc:dE:F0:12:34"),
            vec![veth(0, None, Some([10, 0xbc, 0xde, 0xf0, 0x12, 0x34]))]
        );
    }

    #[test]
    fn vlan_rides_on_previous_veth_and_is_not_counted() {
        let got = cables("br0= br1=.5 =.7 br2=");
        let want = vec![
            veth(0, Some("br0"), None),
            Cable::Vlan {
                index: 0,
                tag: 5,
                bridge: Some("br1".into()),
            },
            Cable::Vlan {
                index: 0,
                tag: 7,
                bridge: None,
            },
            veth(1, Some("br2"), None),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn vlan_without_previous_cable_is_refused() {
        assert!(matches!(parse_cables("br0=.5"), Err(Fault::VlanWithoutCable(w)) if w == "br0=.5"));
    }

    #[test]
    fn bad_macs_are_refused() {
        for mac in [
            "zz:00:00:00:00:01",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "2:0:0:0:0:1",
            "02-00-00-00-00-01",
        ] {
            let got = parse_cables(&format!("={mac}"));
            assert!(
                matches!(got, Err(Fault::BadMac(ref m)) if m == mac),
                "{mac}: {got:?}"
            );
        }
        assert!(matches!(
            parse_cables("=01:00:5e:00:00:01"),
            Err(Fault::MulticastMac(_))
        ));
        assert!(matches!(
            parse_cables("=ff:ff:ff:ff:ff:ff"),
            Err(Fault::MulticastMac(_))
        ));
        assert!(matches!(
            parse_cables("=00:00:00:00:00:00"),
            Err(Fault::ZeroMac(_))
        ));
    }

    #[test]
    fn vlan_tags_out_of_range_are_refused() {
        for tag in [".0", ".4096", ".", ".x", ".+5", ".65536"] {
            let got = parse_cables(&format!("= br0={tag}"));
            assert!(
                matches!(got, Err(Fault::BadVlanTag(ref t)) if t == tag),
                "{tag}: {got:?}"
            );
        }
        assert!(parse_cables("= =.1 =.4095").is_ok());
    }

    #[test]
    fn cable_without_equals_is_refused() {
        assert!(matches!(parse_cables("br0"), Err(Fault::BadCable(_))));
    }

    #[test]
    fn bad_bridge_names_are_refused() {
        for b in ["a/b", "sixteen_chars_xx", "..", "br:0"] {
            assert!(
                matches!(parse_cables(&format!("{b}=")), Err(Fault::BadBridge(_))),
                "{b}"
            );
        }
    }
}
