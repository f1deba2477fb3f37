//! Building rtnetlink link requests: a netlink header, an `ifinfomsg`, then
//! attributes (length, type, payload, padded to 4 bytes), some nested.
//! Numbers from linux/netlink.h, rtnetlink.h, if_link.h and veth.h; they are
//! kernel ABI, so they are spelt out here rather than borrowed from libc.

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_SETLINK: u16 = 19;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

pub const NLMSG_HDRLEN: usize = 16;
const NLA_HDRLEN: usize = 4;
const NLA_F_NESTED: u16 = 0x8000;

pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_LINK: u16 = 5;
pub const IFLA_MASTER: u16 = 10;
pub const IFLA_LINKINFO: u16 = 18;
pub const IFLA_NET_NS_FD: u16 = 28;
pub const IFLA_INFO_KIND: u16 = 1;
pub const IFLA_INFO_DATA: u16 = 2;
pub const VETH_INFO_PEER: u16 = 1;
pub const IFLA_VLAN_ID: u16 = 1;

pub const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// The `ifinfomsg` that follows the netlink header: which link (0: by
/// IFLA_IFNAME) and which of its flags to change.
#[derive(Debug, Default, Clone, Copy)]
pub struct IfInfo {
    pub index: i32,
    pub flags: u32,
    pub change: u32,
}

impl IfInfo {
    fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(libc::AF_UNSPEC as u8); // ifi_family
        buf.push(0); // padding
        buf.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
        buf.extend_from_slice(&self.index.to_ne_bytes());
        buf.extend_from_slice(&self.flags.to_ne_bytes());
        buf.extend_from_slice(&self.change.to_ne_bytes());
    }
}

/// One request under construction. Always NLM_F_REQUEST | NLM_F_ACK: every
/// call waits for the kernel's verdict.
#[derive(Debug)]
pub struct Request {
    buf: Vec<u8>,
}

impl Request {
    pub fn new(kind: u16, flags: u16, info: IfInfo) -> Request {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set by finish
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq, set by finish
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: 0, the kernel fills it
        info.encode(&mut buf);
        Request { buf }
    }

    /// Appends attribute `kind` with `payload`, padded to 4 bytes.
    pub fn attr(&mut self, kind: u16, payload: &[u8]) -> &mut Request {
        // Payloads here are names, MACs and integers: far below 64 KiB.
        let len = (NLA_HDRLEN + payload.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    /// A string attribute, NUL-terminated as the kernel expects.
    pub fn attr_str(&mut self, kind: u16, value: &str) -> &mut Request {
        let mut payload = Vec::with_capacity(value.len() + 1);
        payload.extend_from_slice(value.as_bytes());
        payload.push(0);
        self.attr(kind, &payload)
    }

    pub fn attr_u32(&mut self, kind: u16, value: u32) -> &mut Request {
        self.attr(kind, &value.to_ne_bytes())
    }

    pub fn attr_u16(&mut self, kind: u16, value: u16) -> &mut Request {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// A nested attribute whose contents `fill` appends; its length covers
    /// them, padding included (as iproute2's `addattr_nest_end`).
    pub fn nested(&mut self, kind: u16, fill: impl FnOnce(&mut Request)) -> &mut Request {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; NLA_HDRLEN]);
        fill(self);
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        let kind = kind | NLA_F_NESTED;
        self.buf[start + 2..start + 4].copy_from_slice(&kind.to_ne_bytes());
        self
    }

    /// A bare `ifinfomsg` inside a nest: VETH_INFO_PEER starts with one.
    pub fn ifinfo(&mut self, info: IfInfo) -> &mut Request {
        info.encode(&mut self.buf);
        self
    }

    /// Sets the length and sequence number; the bytes to send.
    pub fn finish(&mut self, seq: u32) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }

    fn pad(&mut self) {
        self.buf.resize(align4(self.buf.len()), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_of_a_set_request() {
        let info = IfInfo {
            index: 0,
            flags: 1,
            change: 1,
        };
        let mut req = Request::new(RTM_SETLINK, 0, info);
        let bytes = req.attr_str(IFLA_IFNAME, "abc").finish(1).to_vec();
        assert_eq!(bytes.len(), 16 + 16 + 8);
        let flags = u16::from_ne_bytes([bytes[6], bytes[7]]);
        assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(
            u32::from_ne_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
            1
        );
    }
}
