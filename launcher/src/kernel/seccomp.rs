//! The hardened profile's seccomp filter: `model::seccomp`'s policy
//! compiled to a classic BPF program, and installed in the calling
//! process (the subhost's PID 1, overlay-go's entering child).
//!
//! Why hand-built BPF and not a crate: the filter is a deny-list of about
//! thirty calls in two ABIs plus the x32 range. Firecracker's
//! `seccompiler` builds a filter for one ABI and kills on any other, so
//! int 0x80 would need a second, hand-built filter anyway, and its
//! deny-list would let the x32 numbers through; libseccomp handles both
//! but needs a C library and its headers at build time. The program here
//! is a straight line of compares (about 150 instructions), built once
//! before the fork and checked by unit tests that run it.
//!
//! Shape: load `arch`; x86_64 goes to its block, i386 to its own, any
//! other ABI gets EPERM. In the x86_64 block, nr -1 (a tracer skipping a
//! call) passes and the x32 range gets EPERM. Each rule is `jeq nr` then
//! its verdict; a block ends in ALLOW.

use nix::errno::Errno;

use crate::model::seccomp::{
    rules_for, Action, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT,
};

/// `struct seccomp_data` offsets: nr, arch, the first argument's low word
/// (little-endian).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

pub const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
pub const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
pub const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

/// A compiled filter, ready to install without allocating.
pub struct Filter {
    prog: Vec<libc::sock_filter>,
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// `jeq nr` over a verdict of `body.len()` instructions, which it skips
/// when the number differs (the body never falls through).
fn rule(nr: u32, body: Vec<libc::sock_filter>) -> Vec<libc::sock_filter> {
    let skip = u8::try_from(body.len()).unwrap_or(u8::MAX);
    let mut out = vec![jump(JEQ, nr, 0, skip)];
    out.extend(body);
    out
}

/// The verdict of one rule, with the call's number matched.
fn verdict(action: Action) -> Vec<libc::sock_filter> {
    match action {
        Action::Refuse => vec![stmt(RET, EPERM)],
        Action::NoSys => vec![stmt(RET, ENOSYS)],
        Action::RefuseFlags(bits) => vec![
            stmt(LD_W_ABS, ARG0_LOW),
            jump(JSET, bits, 0, 1),
            stmt(RET, EPERM),
            stmt(RET, ALLOW),
        ],
        Action::AllowOnly(values) => {
            let n = values.len();
            let mut out = vec![stmt(LD_W_ABS, ARG0_LOW)];
            for (i, v) in values.iter().enumerate() {
                // Past the remaining compares and the EPERM, onto ALLOW.
                let to_allow = u8::try_from(n - i).unwrap_or(u8::MAX);
                out.push(jump(JEQ, *v, to_allow, 0));
            }
            out.extend([stmt(RET, EPERM), stmt(RET, ALLOW)]);
            out
        }
    }
}

/// One ABI's block: load nr, the rules, ALLOW. `native` adds the x86_64
/// prologue (nr -1 passes, x32 refused).
fn block(i386: bool) -> Vec<libc::sock_filter> {
    let mut out = vec![stmt(LD_W_ABS, NR)];
    if !i386 {
        out.extend(rule(u32::MAX, vec![stmt(RET, ALLOW)]));
        out.extend([jump(JGE, X32_SYSCALL_BIT, 0, 1), stmt(RET, EPERM)]);
    }
    for (nr, action) in rules_for(i386) {
        out.extend(rule(nr, verdict(action)));
    }
    out.push(stmt(RET, ALLOW));
    out
}

impl Filter {
    /// The hardened profile's filter. ENOSYS on an architecture whose
    /// numbers the policy does not have (only x86_64 is written).
    pub fn hardened() -> Result<Filter, Errno> {
        if !cfg!(target_arch = "x86_64") {
            return Err(Errno::ENOSYS);
        }
        let mut prog = vec![stmt(LD_W_ABS, ARCH)];
        for (arch, i386) in [(AUDIT_ARCH_X86_64, false), (AUDIT_ARCH_I386, true)] {
            let body = block(i386);
            let skip = u8::try_from(body.len()).map_err(|_| Errno::E2BIG)?;
            prog.push(jump(JEQ, arch, 0, skip));
            prog.extend(body);
        }
        prog.push(stmt(RET, EPERM));
        Ok(Filter { prog })
    }

    /// The program's instructions.
    #[cfg(test)]
    pub fn program(&self) -> &[libc::sock_filter] {
        &self.prog
    }

    /// Installs the filter in this process (inherited by every child and
    /// kept across exec). Without PR_SET_NO_NEW_PRIVS, so setuid programs
    /// (su, sudo) still work inside: the kernel then asks for
    /// CAP_SYS_ADMIN in the current user namespace, so call it before the
    /// capabilities are dropped. Makes one system call, no allocation.
    pub fn install(&self) -> Result<(), Errno> {
        let prog = libc::sock_fprog {
            len: u16::try_from(self.prog.len()).map_err(|_| Errno::E2BIG)?,
            filter: self.prog.as_ptr().cast_mut(),
        };
        // SAFETY: seccomp(2) reads `prog` and the instructions it points
        // to, both alive for the call; the kernel copies the program.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0u32,
                &prog as *const libc::sock_fprog,
            )
        };
        Errno::result(r).map(drop)
    }
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
