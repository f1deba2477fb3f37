//! Pseudo-terminals for sessions (`overlay-boot --session`, `overlay-go`
//! on a terminal): a new pty from the subhost's own devpts instance, its
//! slave set up like the caller's terminal, and the master handed over a
//! unix socket to the process that relays it. The caller's own terminal is
//! never given to anything inside the subhost (security check 11: no
//! TIOCSTI into the host).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::pty::Winsize;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::stat::{fstat, major, minor, SFlag};
use nix::sys::statfs::{fstatfs, DEVPTS_SUPER_MAGIC};
use nix::sys::termios::{
    tcgetattr, tcsetattr, ControlFlags, InputFlags, LocalFlags, OutputFlags, SetArg,
    SpecialCharacterIndices, Termios,
};

use crate::error::{At, Error, Op, Result};
use crate::kernel::inroot::Root;

/// The ptmx of a devpts mounted with `newinstance` on `/dev/pts`.
const PTMX: &str = "dev/pts/ptmx";

/// A new pseudo-terminal: we keep the master, the subhost gets the slave.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// How the slave starts out, decided on the caller's side before boot.
#[derive(Clone)]
pub struct SlaveSetup {
    /// The caller's terminal modes (stdin is a terminal), copied so that
    /// erase, interrupt and friends are the keys the caller is used to; None
    /// when stdin is not a terminal: see [`pipe_modes`].
    pub termios: Option<Termios>,
    pub winsize: Option<Winsize>,
}

/// Opens a new pty in the devpts at `dev/pts` under `root` (LIVE on the
/// host, or `/` from inside the subhost's mount namespace). The path is
/// resolved inside `root` and the result must really be a devpts ptmx, so
/// a subhost cannot point the launcher at another terminal.
pub fn open(root: &Root, setup: &SlaveSetup) -> Result<Pty> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY;
    let master = root.resolve(Path::new(PTMX), flags)?;
    let shown = root.show(Path::new(PTMX));
    let fs = fstatfs(&master).at("statfs", &shown)?;
    let st = fstat(&master).at("stat", &shown)?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    if fs.filesystem_type() != DEVPTS_SUPER_MAGIC
        || kind != SFlag::S_IFCHR
        || major(st.st_rdev) != 5
        || minor(st.st_rdev) != 2
    {
        return Err(Error::Untrusted {
            path: shown,
            why: "not the ptmx of a devpts instance",
        });
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one c_int through the pointer, which is valid
    // for the duration of the call; `master` is an open ptmx.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    Errno::result(r).at("unlockpt", &shown)?;
    let peer_flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // Why TIOCGPTPEER: the slave is opened from the master itself, not by a
    // /dev/pts/N path a subhost could have replaced.
    // SAFETY: TIOCGPTPEER takes its flags by value and returns a new fd.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, peer_flags) };
    let fd = Errno::result(fd).at("open the pty slave of", &shown)?;
    // SAFETY: the kernel just returned this fd; nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(fd) };
    prepare_slave(&slave, setup)?;
    Ok(Pty { master, slave })
}

/// Gives the slave its modes and window size before anything reads it.
fn prepare_slave(slave: &OwnedFd, setup: &SlaveSetup) -> Result<()> {
    let modes = match &setup.termios {
        Some(t) => t.clone(),
        None => {
            let mut t = tcgetattr(slave).op("tcgetattr pty")?;
            pipe_modes(&mut t);
            t
        }
    };
    tcsetattr(slave, SetArg::TCSANOW, &modes).op("tcsetattr pty")?;
    if let Some(ws) = &setup.winsize {
        set_winsize(slave.as_fd(), ws).op("TIOCSWINSZ")?;
    }
    Ok(())
}

/// Modes for a session without a terminal (input from a pipe or file):
/// lines still go in whole (ICANON, so the relay can end the input with
/// VEOF), but nothing is echoed, no byte raises a signal or edits the line,
/// and output is passed on unchanged (no `\r` added).
pub fn pipe_modes(t: &mut Termios) {
    t.local_flags.remove(
        LocalFlags::ECHO
            | LocalFlags::ECHOE
            | LocalFlags::ECHOK
            | LocalFlags::ECHONL
            | LocalFlags::ECHOCTL
            | LocalFlags::ECHOKE
            | LocalFlags::ISIG
            | LocalFlags::IEXTEN,
    );
    t.local_flags.insert(LocalFlags::ICANON);
    t.input_flags.remove(
        InputFlags::ICRNL
            | InputFlags::INLCR
            | InputFlags::IGNCR
            | InputFlags::IXON
            | InputFlags::IXOFF
            | InputFlags::ISTRIP,
    );
    t.output_flags.remove(OutputFlags::OPOST);
    t.control_flags.insert(ControlFlags::CS8);
    for c in [
        SpecialCharacterIndices::VERASE,
        SpecialCharacterIndices::VKILL,
        SpecialCharacterIndices::VWERASE,
        SpecialCharacterIndices::VREPRINT,
        SpecialCharacterIndices::VLNEXT,
        SpecialCharacterIndices::VEOL,
        SpecialCharacterIndices::VEOL2,
    ] {
        // 0 is _POSIX_VDISABLE on Linux: the character does nothing.
        t.control_chars[c as usize] = 0;
    }
    t.control_chars[SpecialCharacterIndices::VEOF as usize] = EOF_CHAR;
}

/// VEOF as [`pipe_modes`] sets it (^D).
pub const EOF_CHAR: u8 = 4;

/// TIOCGWINSZ; None when `fd` is not a terminal.
pub fn winsize(fd: BorrowedFd<'_>) -> Option<Winsize> {
    let mut ws = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one struct winsize through the pointer,
    // which points at a live, writable one.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (r == 0).then_some(ws)
}

/// TIOCSWINSZ (on a master, it also sends SIGWINCH to the slave's
/// foreground process group).
pub fn set_winsize(fd: BorrowedFd<'_>, ws: &Winsize) -> nix::Result<()> {
    // SAFETY: TIOCSWINSZ reads one struct winsize through the pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws) };
    Errno::result(r).map(drop)
}

/// Sends `fd` over `sock` (SCM_RIGHTS).
pub fn send_fd(sock: &UnixStream, fd: BorrowedFd<'_>) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(b"m")];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .op("send the pty master")
        .map(drop)
}

/// Receives an fd sent with [`send_fd`]; None when the other side closed
/// the socket without sending one (its boot or entry failed).
pub fn recv_fd(sock: &UnixStream) -> Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(Errno::EINTR) => continue,
            other => break other.op("receive the pty master")?,
        }
    };
    let mut got = None;
    for c in msg.cmsgs().op("receive the pty master")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: SCM_RIGHTS installed this fd in our table; we own it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                got.get_or_insert(owned);
            }
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_passes_over_a_socket_pair() {
        let (a, b) = match UnixStream::pair() {
            Ok(p) => p,
            Err(e) => panic!("socketpair: {e}"),
        };
        let file = match std::fs::File::open("/proc/self/stat") {
            Ok(f) => f,
            Err(e) => panic!("open: {e}"),
        };
        assert!(send_fd(&a, file.as_fd()).is_ok());
        let got = recv_fd(&b).ok().flatten();
        assert!(got.is_some());
        drop(a);
        assert!(matches!(recv_fd(&b), Ok(None)));
    }
}
