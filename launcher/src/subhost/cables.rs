//! CABLES (compat "Networking: CABLES"), made in-process over rtnetlink once
//! the subhost's netns exists.
//!
//! Cable N is a veth pair: host end `NAMEN`, subhost end `ethN` made straight
//! inside the netns in the same request (with the MAC, if given). `.T` adds
//! VLAN T on the cable before it: `NAMEN.T` on the host, `ethN.T` inside. A
//! host side goes on its bridge when one is named (`IFLA_MASTER`, no
//! bridge-utils), else to `ifup` when the host's ifupdown knows it, else it
//! is just put up. The subhost's sides are the subhost's to configure.
//!
//! Teardown drops the netns, which takes both ends of every veth (and the
//! VLANs on the host ends) in ~2 ms, where deleting each host end costs
//! ~19 ms (bench ANCHORS §2b); it then waits for the host ends to be gone
//! and deletes only those still there at a deadline.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::kernel::netlink::{Netlink, NetlinkError};
use crate::kernel::netns;
use crate::model::config::{Cable, Config};
use crate::subhost::ifupdown::{self, Ifupdown};
use crate::subhost::interrupt::Interrupt;

/// How long teardown waits for the netns's end to take the host ends.
const GONE_WAIT: Duration = Duration::from_secs(3);

/// One cable, its interface names worked out.
#[derive(Debug, PartialEq, Eq)]
pub struct Wire {
    /// The CABLES item, as the user would write it (for messages).
    pub item: String,
    /// The host side: `NAMEN` or `NAMEN.T`.
    pub host: String,
    /// The subhost side: `ethN` or `ethN.T`.
    pub peer: String,
    pub bridge: Option<String>,
    pub kind: Kind,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    Veth {
        mac: Option<[u8; 6]>,
    },
    /// A VLAN on the veth `host_parent` / `peer_parent`.
    Vlan {
        tag: u16,
        host_parent: String,
        peer_parent: String,
    },
}

/// What the cables made on the host, for teardown.
#[derive(Debug, Default)]
pub struct Made {
    /// Host sides, in the order made.
    pub host: Vec<String>,
    /// Host sides that `ifup` brought up (they get `ifdown`).
    pub ifup: Vec<String>,
}

/// The cables of subhost `name`, in CABLES order. Pure.
pub fn plan(name: &str, cables: &[Cable]) -> Vec<Wire> {
    cables
        .iter()
        .map(|cable| match cable {
            Cable::Veth { index, bridge, mac } => Wire {
                item: item(bridge, &mac.map_or(String::new(), |m| show_mac(&m))),
                host: format!("{name}{index}"),
                peer: format!("eth{index}"),
                bridge: bridge.clone(),
                kind: Kind::Veth { mac: *mac },
            },
            Cable::Vlan { index, tag, bridge } => Wire {
                item: item(bridge, &format!(".{tag}")),
                host: format!("{name}{index}.{tag}"),
                peer: format!("eth{index}.{tag}"),
                bridge: bridge.clone(),
                kind: Kind::Vlan {
                    tag: *tag,
                    host_parent: format!("{name}{index}"),
                    peer_parent: format!("eth{index}"),
                },
            },
        })
        .collect()
}

fn item(bridge: &Option<String>, end: &str) -> String {
    format!("{}={end}", bridge.as_deref().unwrap_or(""))
}

fn show_mac(m: &[u8; 6]) -> String {
    let hex: Vec<String> = m.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(":")
}

/// Makes the configured cables; `ns` is the subhost's netns. Everything
/// made is recorded in `made` as soon as it exists, so that a failure
/// half-way leaves teardown knowing what to remove.
pub fn setup(
    cfg: &Config,
    ns: &OwnedFd,
    log: &File,
    made: &mut Made,
    stop: &Interrupt,
) -> Result<()> {
    let wires = plan(&cfg.name, &cfg.cables);
    if wires.is_empty() {
        return Ok(());
    }
    let host = Netlink::open().map_err(|e| cable_error(None, e))?;
    // Opened on the first VLAN: a socket inside the netns, where the
    // subhost's VLAN sides are made on their ethN.
    let mut inside: Option<Netlink> = None;
    // Probed on the first cable without a bridge.
    let mut ifupdown: Option<Ifupdown> = None;
    for wire in &wires {
        stop.check()?;
        make(wire, &host, &mut inside, ns, made)?;
        match &wire.bridge {
            Some(bridge) => {
                let fail = |e| cable_error(Some(&wire.item), e);
                host.set_master(&wire.host, bridge).map_err(fail)?;
                host.set_up(&wire.host).map_err(fail)?;
            }
            None => {
                let ifupdown = ifupdown.get_or_insert_with(Ifupdown::host);
                if ifupdown.configures(&wire.host) && ifupdown.up(&wire.host, log, stop) {
                    made.ifup.push(wire.host.clone());
                } else {
                    host.set_up(&wire.host)
                        .map_err(|e| cable_error(Some(&wire.item), e))?;
                }
            }
        }
        log::info!("cable {}: {} / {}", wire.item, wire.host, wire.peer);
    }
    Ok(())
}

/// Creates the cable's interfaces, host side first, and records it.
fn make(
    wire: &Wire,
    host: &Netlink,
    inside: &mut Option<Netlink>,
    ns: &OwnedFd,
    made: &mut Made,
) -> Result<()> {
    let fail = |e| cable_error(Some(&wire.item), e);
    match &wire.kind {
        Kind::Veth { mac } => {
            // Why: one request makes both ends, the peer already in the
            // netns, so the subhost's end never shows on the host.
            host.create_veth(&wire.host, &wire.peer, ns.as_fd(), *mac)
                .map_err(fail)?;
            made.host.push(wire.host.clone());
        }
        Kind::Vlan {
            tag,
            host_parent,
            peer_parent,
        } => {
            host.create_vlan(&wire.host, host_parent, *tag, None)
                .map_err(fail)?;
            made.host.push(wire.host.clone());
            let sock = match inside.take() {
                Some(sock) => sock,
                None => netns::within(ns, || Netlink::open().map_err(fail))?,
            };
            let peer = sock.create_vlan(&wire.peer, peer_parent, *tag, None);
            *inside = Some(sock);
            peer.map_err(fail)?;
        }
    }
    Ok(())
}

fn cable_error(item: Option<&str>, source: NetlinkError) -> Error {
    Error::Cable {
        item: item.map(str::to_string),
        source,
    }
}

/// Before the netns goes: `ifdown` what `ifup` brought up, newest first.
pub fn deconfigure(made: &Made, log: &File) {
    for ifname in made.ifup.iter().rev() {
        ifupdown::down(ifname, log);
    }
}

/// After the netns file is gone: waits for the kernel to take the host
/// sides with the netns, then deletes any still there (a process outside
/// the subhost holding the netns keeps it alive).
pub fn remove(made: &Made) {
    if made.host.is_empty() {
        return;
    }
    let sock = match Netlink::open() {
        Ok(sock) => sock,
        Err(e) => {
            log::error!("cables: {e}; host sides {:?} may remain", made.host);
            return;
        }
    };
    let present = |ifname: &&String| !matches!(sock.index_of(ifname), Ok(None));
    let deadline = Instant::now() + GONE_WAIT;
    let mut left: Vec<&String> = made.host.iter().collect();
    let t0 = Instant::now();
    loop {
        left.retain(present);
        if left.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if left.is_empty() {
        log::info!("host sides gone ({} µs)", t0.elapsed().as_micros());
    }
    // VLANs first: they go with their veth anyway.
    for ifname in left.iter().rev() {
        log::warn!("{ifname} outlived the netns; deleting it");
        if let Err(e) = sock.delete(ifname) {
            log::error!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wires_are_named_after_the_subhost() {
        let cables = vec![
            Cable::Veth {
                index: 0,
                bridge: Some("br0".into()),
                mac: None,
            },
            Cable::Veth {
                index: 1,
                bridge: None,
                mac: Some([2, 0, 0, 0, 1, 0xab]),
            },
            Cable::Vlan {
                index: 1,
                tag: 20,
                bridge: Some("br1".into()),
            },
        ];
        let wires = plan("mta", &cables);
        assert_eq!(
            wires,
            vec![
                Wire {
                    item: "br0=".into(),
                    host: "mta0".into(),
                    peer: "eth0".into(),
                    bridge: Some("br0".into()),
                    kind: Kind::Veth { mac: None },
                },
                Wire {
                    item: "=02:00:00:00:01:ab".into(),
                    host: "mta1".into(),
                    peer: "eth1".into(),
                    bridge: None,
                    kind: Kind::Veth {
                        mac: Some([2, 0, 0, 0, 1, 0xab])
                    },
                },
                Wire {
                    item: "br1=.20".into(),
                    host: "mta1.20".into(),
                    peer: "eth1.20".into(),
                    bridge: Some("br1".into()),
                    kind: Kind::Vlan {
                        tag: 20,
                        host_parent: "mta1".into(),
                        peer_parent: "eth1".into(),
                    },
                },
            ]
        );
    }

    #[test]
    fn no_cables_no_wires() {
        assert!(plan("mta", &[]).is_empty());
    }

    #[test]
    fn a_cable_error_names_the_item() {
        let e = cable_error(
            Some("=.5"),
            NetlinkError::NoSuchLink {
                op: "create vlan",
                ifname: "mta0.5".into(),
                missing: "mta0".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "cable \"=.5\": create vlan mta0.5: no interface \"mta0\""
        );
    }
}
