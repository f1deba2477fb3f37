//! A tiny root filesystem for subhost tests: Debian's statically linked
//! busybox (package busybox-static) with every applet linked by
//! `busybox --install -s`, the usual top-level directories, and an
//! `/etc/passwd` and `/etc/group` holding root. No `/etc/hostname`, no
//! `service` command, so a subhost on it shows the launcher's own defaults.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's busybox-static puts the binary (also `/usr/bin/busybox`).
pub const BUSYBOX: &str = "/bin/busybox";

/// Top-level directories of the fixture (beyond bin, sbin, usr/bin, usr/sbin).
pub const DIRS: &[&str] = &[
    "etc", "proc", "sys", "dev", "run", "tmp", "root", "var", "mnt", "home",
];

/// True when `bytes` is an ELF file without a program interpreter (static).
fn is_static_elf(bytes: &[u8]) -> bool {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().expect("8 bytes")) as usize;
    let (entsize, count) = (u16_at(54), u16_at(56));
    (0..count).all(|i| {
        let at = phoff + i * entsize;
        bytes
            .get(at..at + 4)
            .is_some_and(|k| u32::from_le_bytes(k.try_into().expect("4 bytes")) != 3)
    })
}

/// Builds the busybox root at `root` (created if needed) and returns it.
/// Needs root (the applet links are made by busybox itself, chrooted into
/// the new tree, so that they point at `/bin/busybox` inside it).
pub fn busybox(root: &Path) -> PathBuf {
    let bytes = fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!("{BUSYBOX}: {e}: install Debian's busybox-static for the subhost tests")
    });
    assert!(
        is_static_elf(&bytes),
        "{BUSYBOX} is not statically linked: install busybox-static, not busybox"
    );
    for dir in ["bin", "sbin", "usr/bin", "usr/sbin"].iter().chain(DIRS) {
        fs::create_dir_all(root.join(dir)).expect("create rootfs directory");
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod tmp");
    fs::set_permissions(root.join("root"), fs::Permissions::from_mode(0o700)).expect("chmod root");
    let bb = root.join("bin/busybox");
    fs::write(&bb, &bytes).expect("copy busybox");
    fs::set_permissions(&bb, fs::Permissions::from_mode(0o755)).expect("chmod busybox");
    // Another test thread may fork while our write fd on busybox is still
    // open, and its child holds a copy until it execs: ETXTBSY for a moment.
    let mut out = None;
    crate::wait_for(std::time::Duration::from_secs(10), || {
        let o = Command::new("chroot")
            .arg(root)
            .args(["/bin/busybox", "--install", "-s"])
            .output()
            .expect("run chroot busybox --install -s");
        let busy = String::from_utf8_lossy(&o.stderr).contains("Text file busy");
        out = Some(o);
        !busy
    });
    let out = out.expect("chroot ran");
    assert!(
        out.status.success(),
        "busybox --install -s in {}: {}",
        root.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        root.join("bin/sh").symlink_metadata().is_ok(),
        "busybox --install made no /bin/sh"
    );
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("write passwd");
    fs::write(root.join("etc/group"), "root:x:0:\n").expect("write group");
    root.to_path_buf()
}

/// The names in the fixture's top directory, sorted: what `ls /` shows inside.
pub fn top_level(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root)
        .expect("read rootfs")
        .map(|e| {
            e.expect("rootfs entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}
