//! End-to-end tests of CABLES, as root, against the real binaries: veth
//! pairs NAMEn / ethN, a MAC, two cables, a bridge shared by two subhosts,
//! a VLAN where the kernel has 8021q, and nothing left after a stop or a
//! boot that fails once the cables exist.
//!
//! Traffic stays on this machine: link-local addresses (169.254.N.0/24, N
//! distinct per test) between the host and namespaces the tests made.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use e2e::subhost::{interfaces, interfaces_of, Subhost};
use e2e::{require_root, unique_name};

/// Runs ip(8) on the host; panics with its stderr when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A /24 of 169.254.0.0/16 of this test alone: `169.254.N.`.
fn subnet() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("169.254.{}.", (std::process::id() * 7 + n) % 250 + 1)
}

/// The host-side file `/sys/class/net/IF/FILE`, trimmed.
fn sysfs(ifname: &str, file: &str) -> String {
    fs::read_to_string(Path::new("/sys/class/net").join(ifname).join(file))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn is_up(ifname: &str) -> bool {
    let flags = sysfs(ifname, "flags");
    u32::from_str_radix(flags.trim_start_matches("0x"), 16).is_ok_and(|f| f & 1 == 1)
}

/// The bridge `ifname` is a port of, if any.
fn master_of(ifname: &str) -> Option<String> {
    let link = fs::read_link(Path::new("/sys/class/net").join(ifname).join("master")).ok()?;
    link.file_name()?.to_str().map(str::to_string)
}

/// A busybox subhost with no services and `CABLES=cables`.
fn subhost(tag: &str, cables: &str) -> Subhost {
    Subhost::busybox(tag)
        .line("START=none")
        .line(&format!("CABLES={cables}"))
}

/// Gives `ifname` inside the address `addr/24` and puts it up, with the
/// subhost's own ip (busybox).
fn address_inside(sh: &Subhost, ifname: &str, addr: &str) {
    sh.sh(&format!(
        "ip addr add {addr}/24 dev {ifname} && ip link set {ifname} up"
    ));
}

/// Pings `addr` from inside the subhost: one packet, 1 s deadline, a few
/// tries (the first may wait for ARP or a port to come up).
fn ping_from(sh: &Subhost, addr: &str) -> bool {
    (0..5).any(|_| sh.go(&["ping", "-c1", "-W1", addr]).ok())
}

/// A bridge made by the test, up; deleted (with its port list) on drop.
struct Bridge {
    name: String,
}

impl Bridge {
    fn new() -> Bridge {
        let name = unique_name("br");
        ip(&["link", "add", &name, "type", "bridge"]);
        let bridge = Bridge { name };
        ip(&["link", "set", &bridge.name, "up"]);
        bridge
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .status();
    }
}

// ------------------------------------------------------------ one cable

#[test]
fn a_cable_is_eth0_inside_and_name0_on_the_host_and_carries_traffic() {
    require_root!();
    let mut sh = subhost("cab", "=");
    sh.boot_ok();
    let host_end = format!("{}0", sh.name);
    assert_eq!(interfaces_of(&sh.name), vec![host_end.clone()]);
    assert!(is_up(&host_end), "{host_end} is not up");
    assert_eq!(master_of(&host_end), None);
    let inside = sh.sh("ls /sys/class/net");
    let mut inside: Vec<&str> = inside.split_whitespace().collect();
    inside.sort();
    assert_eq!(inside, ["eth0", "lo"], "interfaces inside");
    // The built-in PREMOUNT declared it for the subhost's networking.
    let conf = sh.sh("cat /etc/network/interfaces");
    assert!(
        conf.contains("auto eth0\niface eth0 inet manual\n"),
        "/etc/network/interfaces inside:\n{conf}"
    );
    // The subhost's end is the peer of the host end.
    let peer_of_eth0 = sh.sh("cat /sys/class/net/eth0/iflink");
    assert_eq!(peer_of_eth0.trim(), sysfs(&host_end, "ifindex"));

    let net = subnet();
    ip(&["addr", "add", &format!("{net}1/24"), "dev", &host_end]);
    address_inside(&sh, "eth0", &format!("{net}2"));
    assert!(
        ping_from(&sh, &format!("{net}1")),
        "no ping from eth0 ({net}2) to {host_end} ({net}1)"
    );
    sh.stop_ok();
}

#[test]
fn a_mac_is_given_to_the_subhost_end() {
    require_root!();
    let mut sh = subhost("mac", "=02:00:00:00:00:42");
    sh.boot_ok();
    let mac = sh.sh("cat /sys/class/net/eth0/address");
    assert_eq!(mac.trim(), "02:00:00:00:00:42");
    sh.stop_ok();
}

#[test]
fn two_cables_are_eth0_and_eth1() {
    require_root!();
    let mut sh = subhost("two", "= =");
    sh.boot_ok();
    let ends = [format!("{}0", sh.name), format!("{}1", sh.name)];
    let mut on_host = interfaces_of(&sh.name);
    on_host.sort();
    assert_eq!(on_host, ends);
    for (n, end) in ends.iter().enumerate() {
        assert!(is_up(end), "{end} is not up");
        let iflink = sh.sh(&format!("cat /sys/class/net/eth{n}/iflink"));
        assert_eq!(iflink.trim(), sysfs(end, "ifindex"), "eth{n}'s peer");
    }
    let conf = sh.sh("cat /etc/network/interfaces");
    assert!(
        conf.contains("auto eth0\n") && conf.contains("auto eth1\n"),
        "/etc/network/interfaces inside:\n{conf}"
    );
    sh.stop_ok();
}

// --------------------------------------------------------------- bridge

#[test]
fn two_subhosts_on_a_bridge_reach_each_other() {
    require_root!();
    let bridge = Bridge::new();
    let mut a = subhost("bra", &format!("{}=", bridge.name));
    let mut b = subhost("brb", &format!("{}=", bridge.name));
    a.boot_ok();
    b.boot_ok();
    for sh in [&a, &b] {
        let end = format!("{}0", sh.name);
        assert_eq!(master_of(&end).as_deref(), Some(bridge.name.as_str()));
        assert!(is_up(&end), "{end} is not up");
    }
    let net = subnet();
    address_inside(&a, "eth0", &format!("{net}1"));
    address_inside(&b, "eth0", &format!("{net}2"));
    assert!(
        ping_from(&a, &format!("{net}2")),
        "no ping across bridge {} from {} to {}",
        bridge.name,
        a.name,
        b.name
    );
    a.stop_ok();
    b.stop_ok();
    let ports = fs::read_dir(Path::new("/sys/class/net").join(&bridge.name).join("brif"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(ports, 0, "bridge {} still has ports", bridge.name);
}

// ----------------------------------------------------------------- VLAN

#[test]
fn a_vlan_rides_on_the_cable_before_it() {
    require_root!();
    let mut sh = subhost("vln", "= =.5");
    let out = sh.boot();
    if !out.ok() && out.err.contains("not supported by this kernel") {
        // Refused, naming the cable, with nothing left (the veth included).
        assert_eq!(out.code, 1, "{out}");
        assert!(out.err.contains("cable \"=.5\""), "{out}");
        sh.assert_gone();
        e2e::note_skip("cables::vlan: kernel lacks 8021q (VLAN cables refused as they should be)");
        return;
    }
    assert!(out.ok(), "boot failed: {out}\nlog:\n{}", sh.log_text());
    let host_vlan = format!("{}0.5", sh.name);
    assert!(
        interfaces().contains(&host_vlan),
        "no {host_vlan} on the host"
    );
    assert!(is_up(&host_vlan), "{host_vlan} is not up");
    let inside = sh.sh("ls /sys/class/net");
    assert!(inside.contains("eth0.5"), "no eth0.5 inside: {inside}");
    sh.stop_ok();
}

// ------------------------------------------------------- nothing left

#[test]
fn a_boot_failing_after_the_cables_were_made_leaves_nothing() {
    require_root!();
    let mut sh = subhost("hlf", "= =").line("POSTMOUNT=/bin/false");
    let out = sh.boot();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.err.contains("POSTMOUNT"), "{out}");
    assert!(
        sh.log_text().contains("cables ("),
        "the cables were not made before POSTMOUNT:\n{}",
        sh.log_text()
    );
    sh.assert_gone();
}

#[test]
fn a_missing_bridge_fails_the_boot_naming_the_cable_and_leaves_nothing() {
    require_root!();
    let missing = unique_name("nob");
    let mut sh = subhost("nob", &format!("= {missing}="));
    let out = sh.boot();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.err.contains(&format!("cable \"{missing}=\"")), "{out}");
    assert!(out.err.contains(&missing), "{out}");
    sh.assert_gone();
}

#[test]
fn a_name_too_long_for_its_interfaces_is_refused_before_anything_is_made() {
    require_root!();
    let mut sh = subhost("lng", "= =.4095");
    // 10 characters: NAME0.4095 would have 16, past the kernel's 15.
    let name = format!("obt{:07}", std::process::id() % 10_000_000);
    sh.name = name.clone();
    sh.set_conf(&format!(
        "NAME={name}\nBASE=.\nLOWER=lower\nSTART=none\nCABLES== =.4095\n"
    ));
    let out = sh.boot();
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.err.contains(&format!("{name}0.4095")) && out.err.contains("15"),
        "{out}"
    );
    assert!(!Path::new("/run/netns").join(&name).exists());
    assert!(interfaces_of(&name).is_empty());
    sh.assert_gone();
}
