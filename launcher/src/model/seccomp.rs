//! The hardened profile's seccomp policy (issue 10, item 1): which system
//! calls a `SECURITY=hardened` subhost may not make, by their numbers in
//! each ABI the x86_64 kernel accepts. Pure data; `kernel::seccomp`
//! compiles it to a classic BPF program and installs it.
//!
//! The policy refuses, with EPERM and never a kill (a service gets an
//! error it can report, as without the capability):
//! - what reaches the kernel's code or the host's files whatever the
//!   capabilities say (KEEP_CAPS cannot bring it back): file handles
//!   (`open_by_handle_at`, the "shocker" escape, and `name_to_handle_at`,
//!   which only feeds it: Docker's default profile refuses both), kexec,
//!   module loading and unloading, and the whole mount API (seccomp cannot
//!   read mount(2)'s fstype string, so no new mount of any kind: proc,
//!   sysfs, cgroup included; nothing inside may mount anyway once
//!   CAP_SYS_ADMIN is gone);
//! - what no capability guards and no ordinary service needs: the kernel
//!   keyrings (not namespaced; `pam_keyinit` is optional in Debian's PAM
//!   stacks), `bpf`, `perf_event_open`, `userfaultfd` (an exploit's race
//!   widener) and `io_uring_setup` (its operations bypass seccomp);
//! - new user namespaces (`unshare`/`clone` with CLONE_NEWUSER): inside
//!   one, root would hold every capability again over new mount, net and
//!   cgroup namespaces. `clone3` passes its flags in memory, which seccomp
//!   cannot read: it gets ENOSYS, so the C library falls back to `clone`,
//!   as under Docker's profile;
//! - `personality` except the plain Linux and 32-bit personas: the others
//!   (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE…) are exploit aids.
//!
//! Left to the dropped capabilities, so that KEEP_CAPS keeps its meaning:
//! setting the clock (CAP_SYS_TIME), `acct`, `swapon`, `reboot` (only
//! ends the subhost in its pid namespace), `syslog`, `ptrace` (strace
//! inside works; joiners are non-dumpable and CAP_SYS_PTRACE is dropped).

/// What the filter does with one system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Always EPERM.
    Refuse,
    /// EPERM when the first argument has any of these bits (the flags of
    /// `unshare` and `clone`, in the low 32 bits in every ABI here).
    RefuseFlags(u32),
    /// EPERM unless the first argument's low 32 bits are one of these.
    AllowOnly(&'static [u32]),
    /// ENOSYS: a call whose flags seccomp cannot read, with a fallback.
    NoSys,
}

/// One system call of the policy and its number in each ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    /// x86_64 (native) number.
    pub x86_64: u32,
    /// i386 (compat, `int 0x80`) number; None where the ABI lacks it.
    pub i386: Option<u32>,
    pub action: Action,
}

/// `linux/audit.h`: the ABIs an x86_64 kernel reports in `seccomp_data`.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// x32 calls come as x86_64 with this bit in the number: all refused
/// (Debian's kernels leave x32 off; nothing inside needs it).
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// CLONE_NEWUSER (linux/sched.h).
const CLONE_NEWUSER: u32 = 0x1000_0000;

/// PER_LINUX, PER_LINUX32, UNAME26 alone and with PER_LINUX32, and the
/// query 0xffffffff: what Docker's profile allows.
pub const PERSONAS: &[u32] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

const fn refuse(name: &'static str, x86_64: u32, i386: Option<u32>) -> Rule {
    Rule {
        name,
        x86_64,
        i386,
        action: Action::Refuse,
    }
}

/// The policy. Numbers: arch/x86/entry/syscalls/syscall_{64,32}.tbl
/// (from 424 on, both tables share them).
pub const RULES: &[Rule] = &[
    refuse("open_by_handle_at", 304, Some(342)),
    refuse("name_to_handle_at", 303, Some(341)),
    refuse("kexec_load", 246, Some(283)),
    refuse("kexec_file_load", 320, None),
    refuse("init_module", 175, Some(128)),
    refuse("finit_module", 313, Some(350)),
    refuse("delete_module", 176, Some(129)),
    refuse("add_key", 248, Some(286)),
    refuse("request_key", 249, Some(287)),
    refuse("keyctl", 250, Some(288)),
    refuse("bpf", 321, Some(357)),
    refuse("perf_event_open", 298, Some(336)),
    refuse("userfaultfd", 323, Some(374)),
    refuse("io_uring_setup", 425, Some(425)),
    refuse("mount", 165, Some(21)),
    // i386's old umount(2); x86_64 has only umount2.
    refuse("umount", 166, Some(22)),
    refuse("umount2", 166, Some(52)),
    refuse("pivot_root", 155, Some(217)),
    refuse("open_tree", 428, Some(428)),
    refuse("move_mount", 429, Some(429)),
    refuse("fsopen", 430, Some(430)),
    refuse("fsconfig", 431, Some(431)),
    refuse("fsmount", 432, Some(432)),
    refuse("fspick", 433, Some(433)),
    refuse("mount_setattr", 442, Some(442)),
    refuse("open_tree_attr", 467, Some(467)),
    Rule {
        name: "unshare",
        x86_64: 272,
        i386: Some(310),
        action: Action::RefuseFlags(CLONE_NEWUSER),
    },
    Rule {
        name: "clone",
        x86_64: 56,
        i386: Some(120),
        action: Action::RefuseFlags(CLONE_NEWUSER),
    },
    Rule {
        name: "clone3",
        x86_64: 435,
        i386: Some(435),
        action: Action::NoSys,
    },
    Rule {
        name: "personality",
        x86_64: 135,
        i386: Some(136),
        action: Action::AllowOnly(PERSONAS),
    },
];

/// The rules for one ABI: (number, action), each number once.
pub fn rules_for(i386: bool) -> Vec<(u32, Action)> {
    let mut out: Vec<(u32, Action)> = Vec::new();
    for rule in RULES {
        let nr = match i386 {
            true => rule.i386,
            false => Some(rule.x86_64),
        };
        if let Some(nr) = nr.filter(|nr| !out.iter().any(|(n, _)| n == nr)) {
            out.push((nr, rule.action));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_numbers_are_libc_s() {
        let libc = [
            ("open_by_handle_at", libc::SYS_open_by_handle_at),
            ("name_to_handle_at", libc::SYS_name_to_handle_at),
            ("kexec_load", libc::SYS_kexec_load),
            ("kexec_file_load", libc::SYS_kexec_file_load),
            ("init_module", libc::SYS_init_module),
            ("finit_module", libc::SYS_finit_module),
            ("delete_module", libc::SYS_delete_module),
            ("add_key", libc::SYS_add_key),
            ("request_key", libc::SYS_request_key),
            ("keyctl", libc::SYS_keyctl),
            ("bpf", libc::SYS_bpf),
            ("perf_event_open", libc::SYS_perf_event_open),
            ("userfaultfd", libc::SYS_userfaultfd),
            ("io_uring_setup", libc::SYS_io_uring_setup),
            ("mount", libc::SYS_mount),
            ("umount2", libc::SYS_umount2),
            ("pivot_root", libc::SYS_pivot_root),
            ("open_tree", libc::SYS_open_tree),
            ("move_mount", libc::SYS_move_mount),
            ("fsopen", libc::SYS_fsopen),
            ("fsconfig", libc::SYS_fsconfig),
            ("fsmount", libc::SYS_fsmount),
            ("fspick", libc::SYS_fspick),
            ("mount_setattr", libc::SYS_mount_setattr),
            ("unshare", libc::SYS_unshare),
            ("clone", libc::SYS_clone),
            ("clone3", libc::SYS_clone3),
            ("personality", libc::SYS_personality),
        ];
        for (name, nr) in libc {
            let rule = RULES.iter().find(|r| r.name == name).expect(name);
            assert_eq!(i64::from(rule.x86_64), nr, "{name}");
        }
    }

    /// The i386 numbers against the kernel headers' table, where the host
    /// has them (linux-libc-dev); open_tree_attr is newer than Debian 12's.
    #[test]
    fn i386_numbers_are_the_headers_s() {
        let Ok(table) = std::fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/unistd_32.h")
        else {
            eprintln!("no asm/unistd_32.h here: the i386 numbers are not cross-checked");
            return;
        };
        for rule in RULES.iter().filter(|r| r.name != "open_tree_attr") {
            let define = format!("#define __NR_{} ", rule.name);
            let found = table
                .lines()
                .find_map(|l| l.strip_prefix(&define))
                .and_then(|n| n.trim().parse::<u32>().ok());
            assert_eq!(found, rule.i386, "{}", rule.name);
        }
    }

    #[test]
    fn each_abi_lists_a_number_once_and_umount2_once_on_x86_64() {
        for i386 in [false, true] {
            let rules = rules_for(i386);
            let mut nrs: Vec<u32> = rules.iter().map(|(n, _)| *n).collect();
            nrs.sort_unstable();
            nrs.dedup();
            assert_eq!(nrs.len(), rules.len());
        }
        assert_eq!(rules_for(false).len(), RULES.len() - 1);
        assert_eq!(rules_for(true).len(), RULES.len() - 1, "no kexec_file_load");
    }
}
