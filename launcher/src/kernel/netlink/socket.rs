//! The raw NETLINK_ROUTE socket: send one request, read until its ack.
//! Through libc because the launcher's nix build has no netlink sockets.

use std::cell::Cell;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

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
        let flags = libc::SOCK_RAW | libc::SOCK_CLOEXEC;
        // SAFETY: a plain syscall with constant arguments; the result is checked.
        let raw = unsafe { libc::socket(libc::AF_NETLINK, flags, libc::NETLINK_ROUTE) };
        if raw < 0 {
            return Err(open_error("socket(AF_NETLINK, NETLINK_ROUTE)"));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        bind(&fd)?;
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
        let kernel = kernel_addr();
        let addr = (&kernel as *const libc::sockaddr_nl).cast();
        let addr_len = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        loop {
            // SAFETY: `bytes` and `kernel` outlive the call; lengths match them.
            let sent = unsafe {
                let data = bytes.as_ptr().cast();
                libc::sendto(self.fd.as_raw_fd(), data, bytes.len(), 0, addr, addr_len)
            };
            match sent {
                n if n as usize == bytes.len() => return Ok(()),
                n if n >= 0 => return Err(io::ErrorKind::WriteZero.into()),
                _ => retry_on_eintr(io::Error::last_os_error())?,
            }
        }
    }

    /// One datagram into `buf`; returns its full length (MSG_TRUNC), which
    /// exceeds `buf.len()` when it did not fit.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
            let got = unsafe {
                let data = buf.as_mut_ptr().cast();
                libc::recv(self.fd.as_raw_fd(), data, buf.len(), libc::MSG_TRUNC)
            };
            match usize::try_from(got) {
                Ok(len) => return Ok(len),
                Err(_) => retry_on_eintr(io::Error::last_os_error())?,
            }
        }
    }
}

/// Ok for EINTR (the caller retries), else the error.
fn retry_on_eintr(e: io::Error) -> io::Result<()> {
    match e.kind() {
        io::ErrorKind::Interrupted => Ok(()),
        _ => Err(e),
    }
}

/// The kernel's address: pid 0, no multicast groups.
fn kernel_addr() -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain data; all zero is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr
}

/// Binds with pid 0: the kernel picks a unique port id for us.
fn bind(fd: &OwnedFd) -> Result<()> {
    let addr = kernel_addr();
    let len = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
    // SAFETY: `addr` lives across the call and `len` is its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            len,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(open_error("bind")),
    }
}

fn set_flag(fd: &OwnedFd, opt: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    let len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    let value = (&on as *const libc::c_int).cast();
    // SAFETY: `on` lives across the call and `len` is its size.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), libc::SOL_NETLINK, opt, value, len) };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

fn open_error(step: &'static str) -> NetlinkError {
    NetlinkError::Open {
        step,
        source: io::Error::last_os_error(),
    }
}
