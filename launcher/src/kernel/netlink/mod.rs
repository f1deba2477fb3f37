//! A small rtnetlink client for the cables: creates veth pairs (the peer
//! straight into the subhost's netns), VLANs and bridges, sets links up,
//! enslaves them, sets MACs and deletes links, over one NETLINK_ROUTE socket.
//!
//! Every request asks for an ack and waits for it, so each call returns only
//! once the kernel has done the work or said why not. The socket acts in the
//! network namespace the caller was in when it called [`Netlink::open`].
//!
//! Teardown note (bench ANCHORS §2b): deleting a veth costs ~19 ms (RCU
//! wait), while deleting the subhost's netns takes the pairs with it in
//! ~2 ms, so stop should drop the netns rather than [`Netlink::delete`] each
//! cable.

mod error;
mod link;
mod message;
mod reply;
mod socket;
#[cfg(test)]
mod tests;

pub use error::{NetlinkError, Result};

use crate::model::names::ifname_fault;

/// One NETLINK_ROUTE socket in the network namespace it was opened in.
pub struct Netlink {
    sock: socket::Socket,
}

impl Netlink {
    /// Opens the socket (close-on-exec) in the caller's current netns.
    pub fn open() -> Result<Netlink> {
        Ok(Netlink {
            sock: socket::Socket::open()?,
        })
    }
}

/// Refuses a name the kernel would refuse (its `dev_valid_name`), before
/// anything is sent: 1..=15 bytes, no `/`, `:`, NUL or blank, not `.`/`..`.
pub fn check_ifname(name: &str) -> Result<()> {
    match ifname_fault(name) {
        Some(why) => Err(NetlinkError::BadName {
            name: name.into(),
            why,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn good_names() {
        for n in ["a", "eth0", "mta0.4095", "abcdefghijklmno", "..a", "br-x_y"] {
            assert!(check_ifname(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn bad_names() {
        let long = "abcdefghijklmnop";
        for n in [
            "", ".", "..", long, "a/b", "a:b", "a\0b", "a b", "a\tb", "\u{a0}",
        ] {
            let got = check_ifname(n);
            assert!(
                matches!(got, Err(NetlinkError::BadName { ref name, .. }) if name == n),
                "{n:?}: {got:?}"
            );
        }
    }

    #[test]
    fn the_bad_name_message_names_the_interface() {
        let got = check_ifname("a b").err().map(|e| e.to_string());
        assert_eq!(
            got.as_deref(),
            Some("bad interface name \"a b\": holds a blank")
        );
    }
}
