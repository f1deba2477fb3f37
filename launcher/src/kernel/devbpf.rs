//! A BPF_PROG_TYPE_CGROUP_DEVICE program that allows the devices of
//! `model::hardened::DEVICES` and refuses every other (block devices all),
//! attached to a cgroup2 directory: the device cgroup of a pure cgroup v2
//! host. It needs no controller in cgroup.subtree_control, so it also
//! works on a hybrid host's cgroup2 (its `unified` hierarchy). nix has no
//! bpf(2): raw syscalls. The program is built here from the list, ten
//! lines of BPF assembly, rather than compiled by a BPF toolchain.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::model::hardened::Dev;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// `bpf_cgroup_dev_ctx.access_type & 0xffff` for a character device.
const BPF_DEVCG_DEV_CHAR: i32 = 2;

/// One `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | src << 4,
        off,
        imm,
    }
}

const LDX_W: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const AND64_K: u8 = 0x57;
const JNE_K: u8 = 0x55;
const EXIT: u8 = 0x95;

/// The program: r3 = type, r4 = major, r5 = minor; each allowed device
/// returns 1 on a match; the end returns 0.
fn program(devices: &[Dev]) -> Vec<Insn> {
    let mut body = Vec::new();
    for d in devices {
        let major = d.major as i32;
        match d.minor {
            Some(minor) => body.extend([
                insn(JNE_K, 4, 0, 3, major),
                insn(JNE_K, 5, 0, 2, minor as i32),
                insn(MOV64_K, 0, 0, 0, 1),
                insn(EXIT, 0, 0, 0, 0),
            ]),
            None => body.extend([
                insn(JNE_K, 4, 0, 2, major),
                insn(MOV64_K, 0, 0, 0, 1),
                insn(EXIT, 0, 0, 0, 0),
            ]),
        }
    }
    let mut prog = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV64_X, 3, 2, 0, 0),
        insn(AND64_K, 3, 0, 0, 0xffff),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
        insn(JNE_K, 3, 0, body.len() as i16, BPF_DEVCG_DEV_CHAR),
    ];
    prog.extend(body);
    prog.extend([insn(MOV64_K, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]);
    prog
}

/// `union bpf_attr` for BPF_PROG_LOAD, up to expected_attach_type.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for BPF_PROG_ATTACH.
#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// Loads the program for `devices` and attaches it to the cgroup2
/// directory `cgroup`. The attachment lives as long as the cgroup.
pub fn attach(cgroup: BorrowedFd, devices: &[Dev]) -> Result<(), (&'static str, Errno)> {
    let prog = program(devices);
    let license = c"GPL";
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"ob_devices\0");
    let load = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
    };
    // SAFETY: bpf(2) reads `load` (size given) and the instructions and
    // license it points to, all alive for the call; it returns a new fd.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &load as *const ProgLoad,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if fd < 0 {
        return Err(("bpf(BPF_PROG_LOAD) of the device program", Errno::last()));
    }
    // SAFETY: fd is a new descriptor the kernel just returned to us.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attach = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
    };
    // SAFETY: bpf(2) reads `attach` (size given); both fds are open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attach as *const ProgAttach,
            std::mem::size_of::<ProgAttach>(),
        )
    };
    if r != 0 {
        return Err(("bpf(BPF_PROG_ATTACH) of the device program", Errno::last()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hardened::DEVICES;

    #[test]
    fn every_jump_lands_inside() {
        let prog = program(&DEVICES);
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        for (i, x) in prog.iter().enumerate() {
            if x.code == JNE_K {
                let to = i as i64 + 1 + i64::from(x.off);
                assert!(to < prog.len() as i64, "insn {i} jumps to {to}");
            }
        }
        // The type check skips to the final `return 0`.
        let to = 5 + 1 + prog[5].off as usize;
        assert_eq!(prog[to].code, MOV64_K);
        assert_eq!(prog[to].imm, 0);
        assert_eq!(prog.last().map(|x| x.code), Some(EXIT));
    }
}
