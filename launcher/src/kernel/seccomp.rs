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
mod tests {
    // The filter's decisions, by running the compiled program on
    // `seccomp_data` the way the kernel does (the instructions it uses only).
    use super::*;
    use crate::model::seccomp::{PERSONAS, RULES};

    /// One call as the kernel shows it to the filter.
    struct Call {
        arch: u32,
        nr: u32,
        arg0: u64,
    }

    fn x86_64(nr: u32, arg0: u64) -> Call {
        Call {
            arch: AUDIT_ARCH_X86_64,
            nr,
            arg0,
        }
    }

    fn i386(nr: u32, arg0: u64) -> Call {
        Call {
            arch: AUDIT_ARCH_I386,
            nr,
            arg0,
        }
    }

    /// Runs `prog` on `call`: a classic BPF interpreter for LD W ABS, JEQ,
    /// JGE, JSET and RET K, checking that every jump stays in the program
    /// and that the program never runs off its end.
    fn run(prog: &[libc::sock_filter], call: &Call) -> u32 {
        let word = |off: u32| -> u32 {
            match off {
                NR => call.nr,
                ARCH => call.arch,
                ARG0_LOW => call.arg0 as u32,
                20 => (call.arg0 >> 32) as u32,
                other => panic!("load of an unexpected offset {other}"),
            }
        };
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let insn = prog.get(pc).expect("the program ran off its end");
            let k = insn.k;
            let taken = match insn.code {
                LD_W_ABS => {
                    a = word(k);
                    pc += 1;
                    continue;
                }
                RET => return k,
                JEQ => a == k,
                JGE => a >= k,
                JSET => a & k != 0,
                other => panic!("unexpected instruction {other:#x}"),
            };
            pc += 1 + usize::from(if taken { insn.jt } else { insn.jf });
            assert!(pc < prog.len(), "a jump leaves the program");
        }
    }

    fn verdict(call: Call) -> u32 {
        let filter = Filter::hardened().expect("x86_64");
        run(filter.program(), &call)
    }

    fn nr_of(name: &str, abi_i386: bool) -> u32 {
        let rule = RULES.iter().find(|r| r.name == name).expect(name);
        match abi_i386 {
            true => rule.i386.expect("an i386 number"),
            false => rule.x86_64,
        }
    }

    #[test]
    fn every_refused_call_gets_eperm_in_both_abis() {
        for rule in RULES.iter().filter(|r| r.action == Action::Refuse) {
            assert_eq!(verdict(x86_64(rule.x86_64, 0)), EPERM, "{}", rule.name);
            if let Some(nr) = rule.i386 {
                assert_eq!(verdict(i386(nr, 0)), EPERM, "{} (i386)", rule.name);
            }
        }
    }

    #[test]
    fn ordinary_calls_pass_in_both_abis() {
        let native = [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_chroot,
            libc::SYS_setns,
            libc::SYS_seccomp,
            libc::SYS_prctl,
            libc::SYS_capset,
            libc::SYS_settimeofday,
            libc::SYS_reboot,
            libc::SYS_ptrace,
            libc::SYS_fork,
        ];
        for nr in native {
            assert_eq!(verdict(x86_64(nr as u32, 0)), ALLOW, "x86_64 {nr}");
        }
        // i386: read, write, open, execve, chroot, socketcall, setns, fork.
        for nr in [3, 4, 5, 11, 61, 102, 346, 2] {
            assert_eq!(verdict(i386(nr, 0)), ALLOW, "i386 {nr}");
        }
        // An x86_64 number is not refused by its meaning on i386 and back:
        // 165 (mount on x86_64) is getresuid on i386; 21 (mount on i386) is
        // access on x86_64.
        assert_eq!(verdict(i386(165, 0)), ALLOW);
        assert_eq!(verdict(x86_64(21, 0)), ALLOW);
    }

    #[test]
    fn new_user_namespaces_are_refused_other_clones_pass() {
        const NEWUSER: u64 = 0x1000_0000;
        let fork_like = libc::SIGCHLD as u64;
        let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
        let newns = libc::CLONE_NEWNS as u64;
        for abi in [false, true] {
            for name in ["clone", "unshare"] {
                let nr = nr_of(name, abi);
                let call = |arg0| match abi {
                    true => i386(nr, arg0),
                    false => x86_64(nr, arg0),
                };
                assert_eq!(verdict(call(NEWUSER | fork_like)), EPERM, "{name}");
                assert_eq!(verdict(call(NEWUSER | newns)), EPERM, "{name}");
                for ok in [fork_like, thread, newns, 0] {
                    assert_eq!(verdict(call(ok)), ALLOW, "{name} {ok:#x}");
                }
            }
            assert_eq!(verdict(x86_64(nr_of("clone3", abi), 0)), ENOSYS);
        }
    }

    #[test]
    fn personality_allows_only_the_plain_personas() {
        for abi in [false, true] {
            let nr = nr_of("personality", abi);
            let call = |arg0| match abi {
                true => i386(nr, arg0),
                false => x86_64(nr, arg0),
            };
            for &p in PERSONAS {
                assert_eq!(verdict(call(u64::from(p))), ALLOW, "{p:#x}");
            }
            // The kernel reads an unsigned int: high bits do not matter.
            assert_eq!(verdict(call(0xffff_ffff_0000_0008)), ALLOW);
            // READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO, PER_BSD.
            for bad in [0x040_0000, 0x004_0000, 0x010_0000, 0x6] {
                assert_eq!(verdict(call(bad)), EPERM, "{bad:#x}");
            }
        }
    }

    #[test]
    fn x32_calls_and_unknown_abis_are_refused_nr_minus_one_passes() {
        for nr in [
            libc::SYS_getpid as u32,
            libc::SYS_keyctl as u32,
            0,
            0x3fff_ffff,
        ] {
            let x32 = nr | X32_SYSCALL_BIT;
            assert_eq!(verdict(x86_64(x32, 0)), EPERM, "x32 {nr:#x}");
        }
        assert_eq!(verdict(x86_64(0xbfff_ffff, 0)), EPERM);
        assert_eq!(verdict(x86_64(u32::MAX, 0)), ALLOW, "nr -1");
        // AUDIT_ARCH_AARCH64, _ARM, _X86_64 without its 64-bit flag.
        for arch in [0xc000_00b7, 0x4000_0028, 0x3e] {
            let call = Call {
                arch,
                nr: 0,
                arg0: 0,
            };
            assert_eq!(verdict(call), EPERM, "arch {arch:#x}");
        }
    }

    #[test]
    fn the_program_is_small_and_every_path_returns() {
        let filter = Filter::hardened().expect("x86_64");
        let prog = filter.program();
        assert!(prog.len() < 200, "{} instructions", prog.len());
        // Every number in both ABIs, with a few first arguments, ends in a RET
        // with an action the policy uses (run() panics on a fall-off).
        for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386] {
            for nr in 0..600 {
                for arg0 in [0, 0x1000_0000, 0x8, 0xffff_ffff] {
                    let v = run(prog, &Call { arch, nr, arg0 });
                    assert!([ALLOW, EPERM, ENOSYS].contains(&v), "{v:#x}");
                }
            }
        }
    }
}
