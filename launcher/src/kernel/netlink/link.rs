//! The link operations: one request each, answered by the kernel's ack.

use std::os::fd::{AsRawFd, BorrowedFd};

use super::error::{NetlinkError, Result};
use super::message::*;
use super::socket::Failure;
use super::{check_ifname, Netlink};

impl Netlink {
    /// Creates the veth pair `host` / `peer`, the peer made directly inside
    /// the netns of `peer_netns_fd` (with `peer_mac` if given): one request,
    /// so there is never a moment with both ends on the host.
    pub fn create_veth(
        &self,
        host: &str,
        peer: &str,
        peer_netns_fd: BorrowedFd<'_>,
        peer_mac: Option<[u8; 6]>,
    ) -> Result<()> {
        check_ifname(host)?;
        check_ifname(peer)?;
        let mut req = veth_request(host, peer, fd_u32(peer_netns_fd), peer_mac);
        let what = format!("{host} (peer {peer})");
        self.create("create veth", &what, &mut req)
    }

    /// Creates VLAN `name` with `tag` on `parent` (looked up in this socket's
    /// netns). With `netns_fd` the VLAN is made in that netns instead.
    /// [`NetlinkError::NotSupported`] when the kernel has no 8021q.
    pub fn create_vlan(
        &self,
        name: &str,
        parent: &str,
        tag: u16,
        netns_fd: Option<BorrowedFd<'_>>,
    ) -> Result<()> {
        const OP: &str = "create vlan";
        check_ifname(name)?;
        let parent_index = self.require(OP, name, parent)?;
        let mut req = vlan_request(name, parent_index, tag, netns_fd.map(fd_u32));
        self.create(OP, name, &mut req)
    }

    /// Creates bridge `name` (down, no ports).
    // The launcher has no use for it (yet); its tests do.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn create_bridge(&self, name: &str) -> Result<()> {
        check_ifname(name)?;
        let mut req = create_request(name);
        req.nested(IFLA_LINKINFO, |r| {
            r.attr_str(IFLA_INFO_KIND, "bridge");
        });
        self.create("create bridge", name, &mut req)
    }

    /// Sets link `name` administratively up.
    pub fn set_up(&self, name: &str) -> Result<()> {
        check_ifname(name)?;
        let up = libc::IFF_UP as u32;
        let mut req = set_request(name, up, up);
        self.ack("set up", name, &mut req)
    }

    /// Makes link `name` a port of `bridge`, which must exist.
    pub fn set_master(&self, name: &str, bridge: &str) -> Result<()> {
        const OP: &str = "set master of";
        check_ifname(name)?;
        let bridge_index = self.require(OP, name, bridge)?;
        let mut req = set_request(name, 0, 0);
        req.attr_u32(IFLA_MASTER, bridge_index);
        self.ack(OP, name, &mut req)
    }

    /// Sets the MAC address of link `name`.
    // The launcher has no use for it (yet); its tests do.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn set_mac(&self, name: &str, mac: [u8; 6]) -> Result<()> {
        check_ifname(name)?;
        let mut req = set_request(name, 0, 0);
        req.attr(IFLA_ADDRESS, &mac);
        self.ack("set mac of", name, &mut req)
    }

    /// Deletes link `name`; a link that is already gone is fine. Costly for
    /// a veth (~19 ms): prefer deleting the netns that holds its peer.
    pub fn delete(&self, name: &str) -> Result<()> {
        check_ifname(name)?;
        let mut req = Request::new(RTM_DELLINK, 0, IfInfo::default());
        req.attr_str(IFLA_IFNAME, name);
        match self.ack("delete", name, &mut req) {
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(()),
            other => other,
        }
    }

    /// The index of link `name`, or None when there is no such link.
    pub fn index_of(&self, name: &str) -> Result<Option<u32>> {
        const OP: &str = "look up";
        check_ifname(name)?;
        let mut req = Request::new(RTM_GETLINK, 0, IfInfo::default());
        req.attr_str(IFLA_IFNAME, name);
        let data = match self.call(OP, name, &mut req) {
            Ok(data) => data,
            Err(e) if e.errno() == Some(libc::ENODEV) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The reply is an RTM_NEWLINK: an ifinfomsg whose ifi_index is at 4.
        match data.as_deref().and_then(|d| d.get(4..8)) {
            Some(&[a, b, c, d]) => Ok(Some(u32::from_ne_bytes([a, b, c, d]))),
            _ => Err(malformed(OP, name, "no link in the reply")),
        }
    }

    /// The index of `other`, which request `op` on `name` needs.
    fn require(&self, op: &'static str, name: &str, other: &str) -> Result<u32> {
        self.index_of(other)?
            .ok_or_else(|| NetlinkError::NoSuchLink {
                op,
                ifname: name.into(),
                missing: other.into(),
            })
    }

    /// Like `ack`, but EOPNOTSUPP (no such link type) is NotSupported.
    fn create(&self, op: &'static str, name: &str, req: &mut Request) -> Result<()> {
        match self.ack(op, name, req) {
            Err(NetlinkError::Kernel {
                op,
                ifname,
                errno: libc::EOPNOTSUPP,
                detail,
            }) => Err(NetlinkError::NotSupported {
                op,
                ifname,
                errno: libc::EOPNOTSUPP,
                detail,
            }),
            other => other,
        }
    }

    fn ack(&self, op: &'static str, name: &str, req: &mut Request) -> Result<()> {
        self.call(op, name, req).map(drop)
    }

    /// Sends `req`; the data reply if any, or the kernel's errno as an error.
    fn call(&self, op: &'static str, name: &str, req: &mut Request) -> Result<Option<Vec<u8>>> {
        let ack = self.sock.transact(req).map_err(|failure| match failure {
            Failure::Io(source) => NetlinkError::Transport {
                op,
                ifname: name.into(),
                source,
            },
            Failure::Malformed(why) => malformed(op, name, why),
        })?;
        match ack.errno {
            0 => Ok(ack.data),
            errno => Err(NetlinkError::Kernel {
                op,
                ifname: name.into(),
                errno,
                detail: ack.detail,
            }),
        }
    }
}

/// RTM_NEWLINK that must create `name`, never touch an existing link.
fn create_request(name: &str) -> Request {
    let mut req = Request::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, IfInfo::default());
    req.attr_str(IFLA_IFNAME, name);
    req
}

/// RTM_SETLINK on the existing link `name`, found by name, changing the
/// `change` bits of its flags to those of `flags`.
fn set_request(name: &str, flags: u32, change: u32) -> Request {
    let info = IfInfo {
        index: 0,
        flags,
        change,
    };
    let mut req = Request::new(RTM_SETLINK, 0, info);
    req.attr_str(IFLA_IFNAME, name);
    req
}

/// The veth pair request: `host` here, `peer` (with `mac`) in netns `fd`.
fn veth_request(host: &str, peer: &str, fd: u32, mac: Option<[u8; 6]>) -> Request {
    let mut req = create_request(host);
    req.nested(IFLA_LINKINFO, |r| {
        r.attr_str(IFLA_INFO_KIND, "veth")
            .nested(IFLA_INFO_DATA, |r| {
                r.nested(VETH_INFO_PEER, |r| {
                    r.ifinfo(IfInfo::default())
                        .attr_str(IFLA_IFNAME, peer)
                        .attr_u32(IFLA_NET_NS_FD, fd);
                    if let Some(mac) = mac {
                        r.attr(IFLA_ADDRESS, &mac);
                    }
                });
            });
    });
    req
}

/// The VLAN request: `name` with `tag` on link `parent`, made in netns `fd`
/// if given.
fn vlan_request(name: &str, parent: u32, tag: u16, fd: Option<u32>) -> Request {
    let mut req = create_request(name);
    req.attr_u32(IFLA_LINK, parent);
    if let Some(fd) = fd {
        req.attr_u32(IFLA_NET_NS_FD, fd);
    }
    req.nested(IFLA_LINKINFO, |r| {
        r.attr_str(IFLA_INFO_KIND, "vlan")
            .nested(IFLA_INFO_DATA, |r| {
                r.attr_u16(IFLA_VLAN_ID, tag);
            });
    });
    req
}

/// The kernel takes the netns fd as a u32; a BorrowedFd is never negative.
fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd() as u32
}

fn malformed(op: &'static str, name: &str, why: &'static str) -> NetlinkError {
    NetlinkError::Malformed {
        op,
        ifname: name.into(),
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_endian = "little")]
    fn a_veth_request_encodes_byte_for_byte() {
        #[rustfmt::skip]
        let want: [u8; 116] = [
            // nlmsghdr: len 116, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 9, pid 0
            116, 0, 0, 0,  16, 0,  0x05, 0x06,  9, 0, 0, 0,  0, 0, 0, 0,
            // ifinfomsg: AF_UNSPEC, pad, type 0, index 0, flags 0, change 0
            0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,
            // IFLA_IFNAME "obt0\0": len 9, padded to 12
            9, 0, 3, 0,  b'o', b'b', b't', b'0',  0, 0, 0, 0,
            // IFLA_LINKINFO | NLA_F_NESTED: len 72
            72, 0, 18, 0x80,
            //   IFLA_INFO_KIND "veth\0": len 9, padded to 12
            9, 0, 1, 0,  b'v', b'e', b't', b'h',  0, 0, 0, 0,
            //   IFLA_INFO_DATA | NLA_F_NESTED: len 56
            56, 0, 2, 0x80,
            //     VETH_INFO_PEER | NLA_F_NESTED: len 52
            52, 0, 1, 0x80,
            //       ifinfomsg, all zero
            0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,
            //       IFLA_IFNAME "eth0\0"
            9, 0, 3, 0,  b'e', b't', b'h', b'0',  0, 0, 0, 0,
            //       IFLA_NET_NS_FD 7
            8, 0, 28, 0,  7, 0, 0, 0,
            //       IFLA_ADDRESS 02:00:00:00:00:01: len 10, padded to 12
            10, 0, 1, 0,  2, 0, 0, 0,  0, 1, 0, 0,
        ];
        let mut req = veth_request("obt0", "eth0", 7, Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(req.finish(9), &want[..]);
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn a_vlan_request_encodes_byte_for_byte() {
        #[rustfmt::skip]
        let want: [u8; 76] = [
            // nlmsghdr: len 76, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE, seq 2, pid 0
            76, 0, 0, 0,  16, 0,  0x05, 0x06,  2, 0, 0, 0,  0, 0, 0, 0,
            // ifinfomsg, all zero
            0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 0,
            // IFLA_IFNAME "a.5\0": len 8
            8, 0, 3, 0,  b'a', b'.', b'5', 0,
            // IFLA_LINK 4
            8, 0, 5, 0,  4, 0, 0, 0,
            // IFLA_LINKINFO | NLA_F_NESTED: len 28
            28, 0, 18, 0x80,
            //   IFLA_INFO_KIND "vlan\0": len 9, padded to 12
            9, 0, 1, 0,  b'v', b'l', b'a', b'n',  0, 0, 0, 0,
            //   IFLA_INFO_DATA | NLA_F_NESTED: len 12
            12, 0, 2, 0x80,
            //     IFLA_VLAN_ID 4095: len 6, padded to 8
            6, 0, 1, 0,  0xff, 0x0f, 0, 0,
        ];
        assert_eq!(vlan_request("a.5", 4, 4095, None).finish(2), &want[..]);
    }
}
