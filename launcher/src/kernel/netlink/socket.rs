//! The raw NETLINK_ROUTE socket: send one request, read until its ack.
//! Through nix's socket API; unsafe only for the two netlink socket
//! options nix does not name.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};

use super::error::{NetlinkError, Result};
use super::message::Request;
use super::reply::{absorb, Ack};

/// Large enough for any RTM_NEWLINK reply about one link.
const RECV_BUF: usize = 32 * 1024;

/// Why a request got no verdict.
#[derive(Debug)]
pub enum Failure {
    Io(io::Error),
    Malformed(&'static str),
}

pub struct Socket {
    fd: OwnedFd,
    seq: Cell<u32>,
}

impl Socket {
    pub fn open() -> Result<Socket> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| open_error("socket(AF_NETLINK, NETLINK_ROUTE)", e))?;
        // pid 0: the kernel picks a unique port id for us.
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| open_error("bind", e))?;
        // Why: the kernel then says *why* it refused ("Unknown device type")
        // and echoes only our header in acks. Best effort: old kernels lack it.
        for opt in [libc::NETLINK_EXT_ACK, libc::NETLINK_CAP_ACK] {
            if let Err(e) = set_flag(&fd, opt) {
                log::debug!("netlink socket option {opt}: {e}");
            }
        }
        Ok(Socket {
            fd,
            seq: Cell::new(0),
        })
    }

    /// Sends `req` and waits for the kernel's ack, keeping any data reply.
    pub fn transact(&self, req: &mut Request) -> std::result::Result<Ack, Failure> {
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        self.send(req.finish(seq)).map_err(Failure::Io)?;
        let mut buf = vec![0u8; RECV_BUF];
        let mut ack = Ack::default();
        loop {
            let len = self.recv(&mut buf).map_err(Failure::Io)?;
            if len > buf.len() {
                return Err(Failure::Malformed("reply larger than the buffer"));
            }
            if absorb(&buf[..len], seq, &mut ack).map_err(Failure::Malformed)? {
                return Ok(ack);
            }
        }
    }

    fn send(&self, bytes: &[u8]) -> io::Result<()> {
        let kernel = NetlinkAddr::new(0, 0);
        loop {
            match sendto(self.fd.as_raw_fd(), bytes, &kernel, MsgFlags::empty()) {
                Ok(n) if n == bytes.len() => return Ok(()),
                Ok(_) => return Err(io::ErrorKind::WriteZero.into()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One datagram into `buf`; returns its full length (MSG_TRUNC), which
    /// exceeds `buf.len()` when it did not fit.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match recv(self.fd.as_raw_fd(), buf, MsgFlags::MSG_TRUNC) {
                Ok(len) => return Ok(len),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Turns on the boolean SOL_NETLINK option `opt`.
fn set_flag(fd: &OwnedFd, opt: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let value = (&on as *const libc::c_int).cast();
    // SAFETY: `on` lives across the call and `len` is its size; nix has no
    // NETLINK_EXT_ACK or NETLINK_CAP_ACK option.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), libc::SOL_NETLINK, opt, value, len) };
    Errno::result(rc).map(drop).map_err(io::Error::from)
}

fn open_error(step: &'static str, e: Errno) -> NetlinkError {
    NetlinkError::Open {
        step,
        source: e.into(),
    }
}
