//! Privileged tests against the real kernel: veth pairs into a throwaway
//! netns, a bridge, a VLAN where the kernel has 8021q, and the cost of it
//! all side by side with ip(8). Every name starts with `obt`; every object has a Drop
//! guard. Not root: each test prints SKIP and returns (under CI it fails).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Netlink, NetlinkError};

macro_rules! require_root {
    () => {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(!ci, "this test needs root, and CI must run it as root");
            eprintln!("SKIP: needs root");
            return;
        }
    };
}

/// `obt<tag><pid>`: distinct per test and per concurrent test run.
fn uniq(tag: &str) -> String {
    format!("obt{tag}{}", std::process::id() % 100_000)
}

/// Runs ip(8); its stdout, or a panic with its stderr.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ip {args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip -j link show` of `name` in `netns` (None: here), or None if absent.
fn show(netns: Option<&str>, name: &str) -> Option<String> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    let out = cmd
        .args(["-j", "link", "show", "dev", name])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A named netns made by `ip netns add`, deleted (with every link in it,
/// and so the host ends of its veths) on drop.
struct Netns {
    name: String,
    file: File,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = uniq(tag);
        ip(&["netns", "add", &name]);
        match File::open(Path::new("/run/netns").join(&name)) {
            Ok(file) => Netns { name, file },
            Err(e) => {
                let _ = Command::new("ip").args(["netns", "del", &name]).status();
                panic!("open /run/netns/{name}: {e}");
            }
        }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A host-side link deleted on drop if still there.
struct Link(String);

impl Drop for Link {
    fn drop(&mut self) {
        if show(None, &self.0).is_some() {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
}

/// Waits until `name` has left this netns (netns teardown is asynchronous).
fn gone_soon(name: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Path::new("/sys/class/net").join(name).exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

#[test]
fn veth_with_mac_up_bridge_and_delete() {
    require_root!();
    let nl = Netlink::open().expect("open");
    let ns = Netns::new("nla");
    let (host, bridge) = (uniq("va"), uniq("bra"));
    let _guards = (Link(host.clone()), Link(bridge.clone()));
    let mac = [0x02, 0x0b, 0x7e, 0x00, 0x00, 0x01];

    nl.create_veth(&host, "eth0", ns.fd(), Some(mac))
        .expect("veth");
    let here = show(None, &host).expect("host end exists");
    assert!(here.contains(&format!("\"ifname\":\"{host}\"")), "{here}");
    let peer = show(Some(&ns.name), "eth0").expect("peer in the netns");
    assert!(peer.contains("\"address\":\"02:0b:7e:00:00:01\""), "{peer}");
    let index = nl.index_of(&host).expect("index").expect("present");
    assert!(here.contains(&format!("\"ifindex\":{index},")), "{here}");
    assert_eq!(nl.index_of("obtnothere").expect("lookup"), None);

    nl.set_up(&host).expect("up");
    assert!(show(None, &host).expect("host").contains("\"UP\""));
    nl.set_mac(&host, [0x02, 0x0b, 0x7e, 0, 0, 2]).expect("mac");
    assert!(show(None, &host)
        .expect("host")
        .contains("02:0b:7e:00:00:02"));

    nl.create_bridge(&bridge).expect("bridge");
    nl.set_master(&host, &bridge).expect("master");
    let enslaved = show(None, &host).expect("host");
    assert!(
        enslaved.contains(&format!("\"master\":\"{bridge}\"")),
        "{enslaved}"
    );
    let missing = nl.set_master(&host, "obtnobridge");
    assert!(
        matches!(missing, Err(NetlinkError::NoSuchLink { .. })),
        "{missing:?}"
    );

    nl.delete(&host).expect("delete veth");
    assert!(show(None, &host).is_none());
    assert!(show(Some(&ns.name), "eth0").is_none(), "peer went with it");
    nl.delete(&host).expect("deleting a missing link is fine");
    nl.delete(&bridge).expect("delete bridge");
    assert!(show(None, &bridge).is_none());
}

#[test]
fn errors_name_the_operation_and_the_interface() {
    require_root!();
    let nl = Netlink::open().expect("open");
    let ns = Netns::new("nlb");
    let host = uniq("vb");
    nl.create_veth(&host, "eth0", ns.fd(), None).expect("veth");

    let again = nl.create_veth(&host, "eth1", ns.fd(), None);
    let err = again.expect_err("a second veth of that name");
    assert_eq!(err.errno(), Some(libc::EEXIST));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("create veth {host} (peer eth1): ")),
        "{text}"
    );

    let err = nl.set_up("obtnothere").expect_err("no such link");
    assert_eq!(err.errno(), Some(libc::ENODEV));
    assert!(err.to_string().starts_with("set up obtnothere: "), "{err}");

    let bad = nl.create_bridge("obt has blank");
    assert!(matches!(bad, Err(NetlinkError::BadName { .. })), "{bad:?}");
    drop(ns);
    assert!(gone_soon(&host), "the netns took the host end with it");
}

#[test]
fn vlan_on_a_veth_or_skip() {
    require_root!();
    let nl = Netlink::open().expect("open");
    let ns = Netns::new("nlc");
    let host = uniq("vc");
    let vlan = format!("{host}.5");
    let _guard = Link(vlan.clone());
    nl.create_veth(&host, "eth0", ns.fd(), None).expect("veth");
    match nl.create_vlan(&vlan, &host, 5, None) {
        Err(NetlinkError::NotSupported { errno, detail, .. }) => {
            let why = std::io::Error::from_raw_os_error(errno);
            let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
            note_skip(&format!(
                "netlink vlan test: kernel lacks 8021q (vlan): {why}{detail}"
            ));
            return;
        }
        made => made.expect("vlan"),
    }
    let shown = show(None, &vlan).expect("vlan exists");
    assert!(
        shown.contains("\"id\":5") || shown.contains(&host),
        "{shown}"
    );
    let missing = nl.create_vlan(&format!("{host}.6"), "obtnothere", 6, None);
    assert!(
        matches!(missing, Err(NetlinkError::NoSuchLink { .. })),
        "{missing:?}"
    );
    nl.delete(&vlan).expect("delete vlan");
}

/// Twenty veths made in process and twenty through ip(8) into two netns:
/// every host end exists and is up, every peer is in its netns, and
/// deleting the netns takes all of them away.
#[test]
fn twenty_veths_in_process_match_ip_and_go_with_their_netns() {
    require_root!();
    const N: usize = 20;
    let nl = Netlink::open().expect("open");
    let (ours, theirs) = (Netns::new("nld"), Netns::new("nle"));
    let name = |kind: &str, i: usize| format!("obt{kind}{i:02}{}", std::process::id() % 100_000);

    for i in 0..N {
        let (host, peer) = (name("t", i), format!("eth{i}"));
        nl.create_veth(&host, &peer, ours.fd(), None).expect("veth");
        nl.set_up(&host).expect("up");
    }
    for i in 0..N {
        let (host, peer) = (name("i", i), format!("eth{i}"));
        let add = ["link", "add", &host, "type", "veth", "peer", "name", &peer];
        ip(&[&add[..], &["netns", &theirs.name]].concat());
        ip(&["link", "set", &host, "up"]);
    }
    for i in 0..N {
        for (kind, ns) in [("t", &ours.name), ("i", &theirs.name)] {
            let host = show(None, &name(kind, i)).expect("host end exists");
            assert!(host.contains("\"UP\""), "{host}");
            assert!(
                show(Some(ns), &format!("eth{i}")).is_some(),
                "eth{i} in {ns}"
            );
        }
    }
    drop((ours, theirs));
    for i in 0..N {
        assert!(gone_soon(&name("t", i)) && gone_soon(&name("i", i)));
    }
}

/// As e2e::note_skip: stderr, and the file named by OB_SKIP_LOG.
fn note_skip(reason: &str) {
    eprintln!("SKIP: {reason}");
    if let Some(path) = std::env::var_os("OB_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "SKIP: {reason}");
        }
    }
}
