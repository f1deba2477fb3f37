//! `ob-syscall-probe CALL…`: makes each named system call, each in a child
//! process of its own (an `unshare` must not change the next call), and
//! prints one line per call: `CALL=ok`, `CALL=ERRNO` (EPERM, EINVAL…) or
//! `CALL=signal N`. The arguments are chosen so that, without a seccomp
//! filter, the kernel answers something other than EPERM wherever it can
//! (a bad fd, a missing path, bad flags), so EPERM shows the filter.
//! `i386-*` calls go through `int 0x80` (the compat ABI), `x32-getpid`
//! through the x32 numbers. `shocker HANDLE MOUNT` opens a file handle
//! (`TYPE:HEX`, made on the host) from MOUNT, the classic escape, and
//! prints what it read. A test helper for tests/tests/seccomp.rs.

use std::ffi::CString;
use std::io::Write;

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};

/// A raw system call's result: the return value or -errno.
fn raw(nr: i64, a: [u64; 5]) -> i64 {
    // SAFETY: a raw system call; every pointer passed is valid or null.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4]) };
    if r < 0 {
        -i64::from(nix::errno::Errno::last_raw())
    } else {
        r
    }
}

/// An i386 system call through `int 0x80`, with three integer arguments
/// (no pointers: the compat ABI takes 32-bit addresses). rbx is LLVM's,
/// so the first argument goes through a swap.
#[cfg(target_arch = "x86_64")]
fn int80(nr: u32, a: u32, b: u32, c: u32) -> i64 {
    let ret: i32;
    // SAFETY: a system call through the compat gate with integer
    // arguments; rbx is restored; r8-r11 are declared clobbered.
    unsafe {
        std::arch::asm!(
            "xchg {a}, rbx",
            "int 0x80",
            "xchg {a}, rbx",
            a = inout(reg) u64::from(a) => _,
            inlateout("eax") nr as i32 => ret,
            in("ecx") b,
            in("edx") c,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    i64::from(ret)
}

const CLONE_NEWUSER: u64 = 0x1000_0000;
const BOGUS_FLAGS: u64 = 0xdead_0000;

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// The call named `name`: its result, or None for an unknown name.
fn call(name: &str) -> Option<i64> {
    let nowhere = cstr("/nonexistent/obt-seccomp");
    let empty = cstr("");
    let p = |c: &CString| c.as_ptr() as u64;
    let mut buf = [0u8; 136];
    buf[0] = 8; // file_handle.handle_bytes
    let mut mnt_id: i32 = 0;
    let neg1 = u64::MAX; // -1 as a file descriptor
    let mount = |fs: &str| {
        let fs = cstr(fs);
        raw(libc::SYS_mount, [p(&fs), p(&nowhere), p(&fs), 0, 0])
    };
    Some(match name {
        "open_by_handle_at" => raw(
            libc::SYS_open_by_handle_at,
            [neg1, buf.as_ptr() as u64, 0, 0, 0],
        ),
        "name_to_handle_at" => {
            let x = cstr("x");
            let args = [
                neg1,
                p(&x),
                buf.as_mut_ptr() as u64,
                &mut mnt_id as *mut i32 as u64,
                0,
            ];
            raw(libc::SYS_name_to_handle_at, args)
        }
        "kexec_load" => raw(libc::SYS_kexec_load, [0, 0, 0, BOGUS_FLAGS, 0]),
        "kexec_file_load" => raw(libc::SYS_kexec_file_load, [neg1, neg1, 0, 0, BOGUS_FLAGS]),
        "init_module" => raw(libc::SYS_init_module, [0, 0, 0, 0, 0]),
        "finit_module" => raw(libc::SYS_finit_module, [neg1, 0, 0, 0, 0]),
        "delete_module" => raw(libc::SYS_delete_module, [0, 0, 0, 0, 0]),
        "add_key" => raw(libc::SYS_add_key, [0, 0, 0, 0, 0]),
        "request_key" => raw(libc::SYS_request_key, [0, 0, 0, 0, 0]),
        // KEYCTL_GET_KEYRING_ID of KEY_SPEC_SESSION_KEYRING (-3).
        "keyctl" => raw(libc::SYS_keyctl, [0, (-3i64) as u64, 0, 0, 0]),
        "bpf" => raw(libc::SYS_bpf, [9999, 0, 0, 0, 0]),
        "perf_event_open" => raw(libc::SYS_perf_event_open, [0, 0, neg1, neg1, 0]),
        // UFFD_USER_MODE_ONLY: allowed to any user where the kernel has it.
        "userfaultfd" => raw(libc::SYS_userfaultfd, [1, 0, 0, 0, 0]),
        "io_uring_setup" => raw(libc::SYS_io_uring_setup, [0, 0, 0, 0, 0]),
        "mount-proc" => mount("proc"),
        "mount-sysfs" => mount("sysfs"),
        "mount-cgroup" => mount("cgroup"),
        "mount-cgroup2" => mount("cgroup2"),
        "umount2" => raw(libc::SYS_umount2, [p(&nowhere), BOGUS_FLAGS, 0, 0, 0]),
        "pivot_root" => raw(libc::SYS_pivot_root, [p(&nowhere), p(&nowhere), 0, 0, 0]),
        "open_tree" => raw(libc::SYS_open_tree, [neg1, p(&empty), BOGUS_FLAGS, 0, 0]),
        "move_mount" => raw(
            libc::SYS_move_mount,
            [neg1, p(&empty), neg1, p(&empty), BOGUS_FLAGS],
        ),
        "fsopen" => raw(libc::SYS_fsopen, [p(&empty), BOGUS_FLAGS, 0, 0, 0]),
        "fsmount" => raw(libc::SYS_fsmount, [neg1, BOGUS_FLAGS, 0, 0, 0]),
        "fspick" => raw(libc::SYS_fspick, [neg1, p(&empty), BOGUS_FLAGS, 0, 0]),
        "mount_setattr" => raw(
            libc::SYS_mount_setattr,
            [neg1, p(&empty), BOGUS_FLAGS, 0, 0],
        ),
        "unshare-userns" => raw(libc::SYS_unshare, [CLONE_NEWUSER, 0, 0, 0, 0]),
        "clone-userns" => clone_userns(),
        "clone3" => raw(libc::SYS_clone3, [0, 0, 0, 0, 0]),
        // ADDR_NO_RANDOMIZE; then the query, allowed.
        "personality" => raw(libc::SYS_personality, [0x0040000, 0, 0, 0, 0]),
        "personality-query" => raw(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0]),
        "x32-getpid" => raw(0x4000_0000 | libc::SYS_getpid, [0; 5]),
        "i386-getpid" => int80(20, 0, 0, 0),
        "i386-keyctl" => int80(288, 0, -3i32 as u32, 0),
        "i386-bpf" => int80(357, 9999, 0, 0),
        "i386-unshare-userns" => int80(310, CLONE_NEWUSER as u32, 0, 0),
        "i386-personality" => int80(136, 0x0040000, 0, 0),
        "i386-mount" => int80(21, 0, 0, 0),
        "i386-clone3" => int80(435, 0, 0, 0),
        _ => return None,
    })
}

/// clone(CLONE_NEWUSER | SIGCHLD) as fork: the child leaves at once.
fn clone_userns() -> i64 {
    let r = raw(
        libc::SYS_clone,
        [CLONE_NEWUSER | libc::SIGCHLD as u64, 0, 0, 0, 0],
    );
    if r == 0 {
        // SAFETY: the new child leaves without running anything.
        unsafe { libc::_exit(0) }
    }
    if r > 0 {
        let _ = waitpid(nix::unistd::Pid::from_raw(r as i32), None);
    }
    r
}

/// The shocker escape: open_by_handle_at(MOUNT, HANDLE) and read.
fn shocker(handle: &str, mount: &str) -> i64 {
    let Some((kind, hex)) = handle.split_once(':') else {
        return -i64::from(libc::EINVAL);
    };
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let mut fh = Vec::new();
    fh.extend_from_slice(&(bytes.len() as u32).to_ne_bytes());
    fh.extend_from_slice(&kind.parse::<i32>().unwrap_or(0).to_ne_bytes());
    fh.extend_from_slice(&bytes);
    let Ok(dir) = std::fs::File::open(mount) else {
        return -i64::from(libc::ENOENT);
    };
    use std::os::fd::AsRawFd;
    let fd = raw(
        libc::SYS_open_by_handle_at,
        [dir.as_raw_fd() as u64, fh.as_ptr() as u64, 0, 0, 0],
    );
    if fd >= 0 {
        use std::os::fd::FromRawFd;
        // SAFETY: the fd was just returned to us by the kernel.
        let file = unsafe { std::fs::File::from_raw_fd(fd as i32) };
        let text = std::io::read_to_string(file).unwrap_or_default();
        println!("shocker-read={}", text.trim());
    }
    fd
}

/// Runs `f` in a child process; its exit code carries the errno.
fn in_child(f: impl FnOnce() -> Option<i64>) -> String {
    // SAFETY: single-threaded; the child only makes the call and exits.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = match f() {
                None => 255,
                Some(r) if r < 0 => (-r).min(254) as i32,
                Some(_) => 0,
            };
            let _ = std::io::stdout().flush();
            // SAFETY: leave the child without the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => "ok".into(),
            Ok(WaitStatus::Exited(_, 255)) => "unknown call".into(),
            Ok(WaitStatus::Exited(_, e)) => format!("{:?}", nix::errno::Errno::from_raw(e)),
            Ok(WaitStatus::Signaled(_, sig, _)) => format!("signal {}", sig as i32),
            other => format!("{other:?}"),
        },
        Err(e) => format!("fork: {e}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [first, handle, mount] = args.as_slice() {
        if first == "shocker" {
            let r = in_child(|| Some(shocker(handle, mount)));
            println!("shocker={r}");
            return;
        }
    }
    for name in &args {
        let r = in_child(|| call(name));
        println!("{name}={r}");
    }
}
