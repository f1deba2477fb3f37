//! Signals are owned here: all but the fault signals are blocked first thing
//! and read from a signalfd, so nothing is handled asynchronously and no
//! signal is lost between fork and exec (children get an empty mask back,
//! see `spawn.rs`).

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Signals a process cannot usefully block: a fault must kill, not queue.
const FAULTS: [Signal; 7] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

/// The set blocked in PID 1 and read from its signalfd.
fn blocked_set() -> SigSet {
    let mut set = SigSet::all();
    for sig in FAULTS {
        set.remove(sig);
    }
    set
}

/// Resets every disposition to the default (a parent may have left SIGINT
/// and SIGQUIT ignored, as shells do for background jobs, and ignored
/// dispositions survive exec into the services), blocks the signals and opens
/// the signalfd (blocking: the loop reads it only when it is readable or
/// when it has nothing else to wait for; close-on-exec).
pub fn take_over() -> Result<SignalFd, Errno> {
    for signo in 1..=libc::SIGRTMAX() {
        if signo != libc::SIGKILL && signo != libc::SIGSTOP {
            set_default_disposition(signo)?;
        }
    }
    let set = blocked_set();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&set), None)?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC)
}

/// Through the raw syscall: glibc refuses to touch the real-time signals it
/// reserves for itself (32 and 33), which a parent may still have left ignored.
fn set_default_disposition(signo: i32) -> Result<(), Errno> {
    // SAFETY: a zeroed kernel sigaction is SIG_DFL with no flags and an empty
    // mask; installing SIG_DFL runs no code of ours in signal context.
    let rc = unsafe {
        let action: libc::sigaction = std::mem::zeroed();
        libc::syscall(
            libc::SYS_rt_sigaction,
            signo,
            &action as *const libc::sigaction,
            std::ptr::null::<libc::sigaction>(),
            8usize,
        )
    };
    Errno::result(rc).map(drop)
}

/// systemd's SIGRTMIN+3 (systemd-nspawn's and `machinectl poweroff`'s stop
/// request): 37 as glibc counts (its SIGRTMIN is 34), whatever the C
/// library we are built with says (musl's SIGRTMIN is 35, which would make
/// it 38).
pub const SIGRTMIN_PLUS_3: i32 = 37;
/// The kernel's first real-time signal, for naming them as systemd does.
const KERNEL_SIGRTMIN: i32 = 34;

/// Who sent a signal, from its `signalfd_siginfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    /// `ssi_pid`: the sender's pid in PID 1's namespace, 0 when it is
    /// outside (the host) or when a process inside forged it.
    pub pid: u32,
    /// `ssi_code`: `SI_USER` for kill(2) and pidfd_send_signal(2);
    /// `SI_QUEUE` and others for rt_sigqueueinfo(2), whose caller chooses
    /// `si_pid` (design.md trap 5).
    pub code: i32,
}

impl Sender {
    /// A kill(2) from outside the pid namespace: pid 0 that nobody forged.
    pub fn is_host(self) -> bool {
        self.pid == 0 && self.code == libc::SI_USER
    }
}

/// The signal number and its sender from one `signalfd_siginfo` read as
/// bytes (`ssi_signo` at 0, `ssi_code` at 8, `ssi_pid` at 12).
pub fn decode(info: &[u8]) -> (i32, Sender) {
    let field = |offset: usize| {
        let mut bytes = [0u8; 4];
        if let Some(b) = info.get(offset..offset + 4) {
            bytes.copy_from_slice(b);
        }
        u32::from_ne_bytes(bytes)
    };
    let sender = Sender {
        pid: field(12),
        code: field(8) as i32,
    };
    (field(0) as i32, sender)
}

/// What a signal means to the subinit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// A child changed state: drain `waitpid`.
    Child,
    /// Stop the subhost gracefully (or, the second time, at once).
    Stop,
    /// A stop signal from a process inside the subhost: policy says ignore.
    StopFromInside,
    /// SIGHUP: logged, nothing to re-read.
    Hangup,
    /// Anything else: ignored.
    Ignore,
}

/// A stop signal counts when it comes from the host (see `Sender`). When the
/// subinit is not PID 1 (tests, nesting) there is no inside to protect, and
/// every sender counts.
pub fn meaning(signo: i32, sender: Sender, is_pid1: bool) -> Meaning {
    let stop = signo == SIGRTMIN_PLUS_3
        || matches!(
            Signal::try_from(signo),
            Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGPWR)
        );
    match Signal::try_from(signo) {
        Ok(Signal::SIGCHLD) => Meaning::Child,
        Ok(Signal::SIGHUP) => Meaning::Hangup,
        _ if stop && is_pid1 && !sender.is_host() => Meaning::StopFromInside,
        _ if stop => Meaning::Stop,
        _ => Meaning::Ignore,
    }
}

pub fn name(signo: i32) -> String {
    match Signal::try_from(signo) {
        Ok(sig) => sig.as_str().to_owned(),
        Err(_) if signo >= KERNEL_SIGRTMIN => format!("SIGRTMIN+{}", signo - KERNEL_SIGRTMIN),
        Err(_) => format!("signal {signo}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: Sender = Sender {
        pid: 0,
        code: libc::SI_USER,
    };

    #[test]
    fn stop_signals_from_host_and_inside() {
        let inside = Sender {
            pid: 42,
            code: libc::SI_USER,
        };
        // rt_sigqueueinfo(1, SIGTERM, {si_code=SI_QUEUE, si_pid=0}) from inside.
        let forged = Sender {
            pid: 0,
            code: libc::SI_QUEUE,
        };
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGPWR, 37] {
            assert_eq!(meaning(sig, HOST, true), Meaning::Stop);
            assert_eq!(meaning(sig, inside, true), Meaning::StopFromInside);
            assert_eq!(meaning(sig, forged, true), Meaning::StopFromInside);
            assert_eq!(meaning(sig, inside, false), Meaning::Stop);
            assert_eq!(meaning(sig, forged, false), Meaning::Stop);
        }
        // SIGRTMIN+2 and +4 (38 is musl's SIGRTMIN+3) are not stop requests.
        for sig in [36, 38] {
            assert_eq!(meaning(sig, HOST, true), Meaning::Ignore);
        }
    }

    #[test]
    fn other_signals() {
        let child = Sender {
            pid: 7,
            code: libc::CLD_EXITED,
        };
        assert_eq!(meaning(libc::SIGCHLD, child, true), Meaning::Child);
        assert_eq!(meaning(libc::SIGHUP, HOST, true), Meaning::Hangup);
        for sig in [
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGWINCH,
            libc::SIGTSTP,
            libc::SIGPIPE,
        ] {
            assert_eq!(meaning(sig, HOST, true), Meaning::Ignore);
        }
        assert_eq!(name(37), "SIGRTMIN+3");
    }

    fn siginfo(pid: u32, code: i32) -> (i32, Sender) {
        // SAFETY: signalfd_siginfo is plain integers; all-zero is valid.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        info.ssi_signo = 15;
        info.ssi_code = code;
        info.ssi_pid = pid;
        // SAFETY: the struct's own bytes, within its size, while it lives.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&info as *const libc::signalfd_siginfo).cast::<u8>(),
                std::mem::size_of::<libc::signalfd_siginfo>(),
            )
        };
        decode(bytes)
    }

    #[test]
    fn siginfo_fields_from_the_kernel_layout() {
        let forged = Sender {
            pid: 0,
            code: libc::SI_QUEUE,
        };
        assert_eq!(siginfo(0, libc::SI_QUEUE), (15, forged));
        let inside = Sender {
            pid: 42,
            code: libc::SI_USER,
        };
        assert_eq!(siginfo(42, libc::SI_USER), (15, inside));
    }

    #[test]
    fn fault_signals_stay_unblocked() {
        let set = blocked_set();
        assert!(FAULTS.iter().all(|s| !set.contains(*s)));
        assert!(set.contains(Signal::SIGTERM) && set.contains(Signal::SIGPIPE));
    }
}
