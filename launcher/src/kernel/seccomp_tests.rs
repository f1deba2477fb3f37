//! The filter's decisions, by running the compiled program on
//! `seccomp_data` the way the kernel does (the instructions it uses only).

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
