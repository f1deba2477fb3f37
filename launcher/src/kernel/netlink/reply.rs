//! Reading the kernel's answer to one request: any data message (the link
//! a RTM_GETLINK asked for), then the NLMSG_ERROR that acks it, 0 or a
//! negative errno, perhaps with an extended-ack text. Pure, so unit-tested.

use super::message::{align4, NLMSG_HDRLEN};

const NLMSG_ERROR: u16 = 2;
/// On an NLMSG_ERROR: only the request's header is echoed (NETLINK_CAP_ACK).
const NLM_F_CAPPED: u16 = 0x100;
/// On an NLMSG_ERROR: extended-ack attributes follow the echo.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

/// The kernel's verdict on a request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ack {
    /// 0: done; else the errno it failed with.
    pub errno: i32,
    /// The extended ack's message, if the kernel gave one.
    pub detail: Option<String>,
    /// The payload (after the netlink header) of a data reply, if any.
    pub data: Option<Vec<u8>>,
}

/// Reads one datagram. Messages for other sequence numbers (late answers to
/// an earlier request) are skipped. Returns true once the ack for `seq` came.
pub fn absorb(datagram: &[u8], seq: u32, ack: &mut Ack) -> Result<bool, &'static str> {
    let mut rest = datagram;
    while !rest.is_empty() {
        let header = rest.get(..NLMSG_HDRLEN).ok_or("truncated header")?;
        let len = u32_at(header, 0) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err("bad message length");
        }
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        let flags = u16::from_ne_bytes([header[6], header[7]]);
        let payload = &rest[NLMSG_HDRLEN..len];
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        if u32_at(header, 8) != seq {
            continue;
        }
        if kind != NLMSG_ERROR {
            ack.data = Some(payload.to_vec());
            continue;
        }
        let code = i32::from_ne_bytes(*payload.first_chunk().ok_or("truncated error")?);
        ack.errno = code.checked_neg().ok_or("bad errno")?;
        ack.detail = extack_message(flags, payload);
        return Ok(true);
    }
    Ok(false)
}

/// The NLMSGERR_ATTR_MSG text after the error code and the echoed request.
fn extack_message(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echoed = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        align4(u32_at(payload.get(4..8)?, 0) as usize)
    };
    let mut tlvs = payload.get(4 + echoed..)?;
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]);
        let value = tlvs.get(4..len)?;
        if kind == NLMSGERR_ATTR_MSG {
            let text = value.split(|b| *b == 0).next().unwrap_or(value);
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        tlvs = tlvs.get(align4(len)..)?;
    }
    None
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_ne_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: usize, kind: u16, flags: u16, seq: u32) -> Vec<u8> {
        let mut h = (len as u32).to_ne_bytes().to_vec();
        h.extend_from_slice(&kind.to_ne_bytes());
        h.extend_from_slice(&flags.to_ne_bytes());
        h.extend_from_slice(&seq.to_ne_bytes());
        h.extend_from_slice(&0u32.to_ne_bytes());
        h
    }

    /// An NLMSG_ERROR for `seq`, capped echo, with an optional message.
    fn error(seq: u32, code: i32, msg: Option<&str>) -> Vec<u8> {
        let mut body = code.to_ne_bytes().to_vec();
        body.extend(header(40, 16, 5, seq)); // the echoed request's header
        let mut flags = NLM_F_CAPPED;
        if let Some(msg) = msg {
            flags |= NLM_F_ACK_TLVS;
            body.extend_from_slice(&((4 + msg.len() + 1) as u16).to_ne_bytes());
            body.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
            body.extend_from_slice(msg.as_bytes());
            body.push(0);
            body.resize(align4(body.len()), 0);
        }
        let mut m = header(NLMSG_HDRLEN + body.len(), NLMSG_ERROR, flags, seq);
        m.extend(body);
        m
    }

    #[test]
    fn a_plain_ack() {
        let mut ack = Ack::default();
        assert_eq!(absorb(&error(3, 0, None), 3, &mut ack), Ok(true));
        assert_eq!(ack, Ack::default());
    }

    #[test]
    fn an_error_with_its_extended_message() {
        let mut ack = Ack::default();
        let got = absorb(&error(3, -95, Some("Unknown device type")), 3, &mut ack);
        assert_eq!(got, Ok(true));
        assert_eq!(ack.errno, 95);
        assert_eq!(ack.detail.as_deref(), Some("Unknown device type"));
    }

    #[test]
    fn data_then_ack_and_stale_messages_skipped() {
        let mut datagram = error(2, -17, None); // a late answer to seq 2
        datagram.extend(header(NLMSG_HDRLEN + 4, 16, 0, 3));
        datagram.extend_from_slice(&[1, 2, 3, 4]);
        let mut ack = Ack::default();
        assert_eq!(absorb(&datagram, 3, &mut ack), Ok(false));
        assert_eq!(ack.data.as_deref(), Some(&[1, 2, 3, 4][..]));
        assert_eq!(absorb(&error(3, 0, None), 3, &mut ack), Ok(true));
        assert_eq!(ack.errno, 0);
    }

    #[test]
    fn garbage_is_refused() {
        let mut ack = Ack::default();
        assert!(absorb(&[1, 2, 3], 1, &mut ack).is_err());
        assert!(absorb(&header(200, 2, 0, 1), 1, &mut ack).is_err());
        assert!(absorb(&header(8, 2, 0, 1), 1, &mut ack).is_err());
    }
}
