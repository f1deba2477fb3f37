//! Loop devices (loop(4)): an image file, or a byte range of it, attached
//! to a free loop device that the kernel detaches by itself once its last
//! user has gone (LO_FLAGS_AUTOCLEAR): the fd we hold until the mount is
//! made, then the mount. nix has no loop ioctls; the numbers and
//! structures below are the kernel's (include/uapi/linux/loop.h).

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::{fstat, major, minor, Mode};

use crate::error::{At, Error, Result};
use crate::model::parttable::Extent;

const LOOP_CONTROL: &str = "/dev/loop-control";
const LOOP_CTL_GET_FREE: libc::Ioctl = 0x4C82;
const LOOP_SET_FD: libc::Ioctl = 0x4C00;
const LOOP_CLR_FD: libc::Ioctl = 0x4C01;
const LOOP_SET_STATUS64: libc::Ioctl = 0x4C04;
const LOOP_CONFIGURE: libc::Ioctl = 0x4C0A;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;
const LO_NAME_SIZE: usize = 64;
/// How often a free device is asked for when others take it first.
const TRIES: usize = 16;

/// `struct loop_info64`.
#[repr(C)]
#[derive(Clone, Copy)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    sizelimit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; LO_NAME_SIZE],
    crypt_name: [u8; LO_NAME_SIZE],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

/// `struct loop_config` of LOOP_CONFIGURE (Linux 5.8).
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// An attached loop device, open. Dropping it closes the fd: with nothing
/// else using the device, the kernel detaches it (autoclear).
pub struct Loop {
    pub fd: OwnedFd,
    pub path: PathBuf,
    /// `major:minor`, as /proc/self/mountinfo shows a filesystem on it.
    pub dev: String,
}

/// Attaches `extent` of `image` (`shown`, its path, names it for losetup)
/// to a free loop device, read-only when `read_only`.
pub fn attach(image: &File, shown: &Path, extent: Extent, read_only: bool) -> Result<Loop> {
    let ctl = open(
        LOOP_CONTROL,
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .at("open", LOOP_CONTROL)?;
    let info = info(shown, extent, read_only);
    for _ in 0..TRIES {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a number.
        let n = Errno::result(unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE) })
            .at("get a free loop device from", LOOP_CONTROL)?;
        let path = PathBuf::from(format!("/dev/loop{n}"));
        let mode = if read_only {
            OFlag::O_RDONLY
        } else {
            OFlag::O_RDWR
        };
        let fd = open(&path, mode | OFlag::O_CLOEXEC, Mode::empty()).at("open", &path)?;
        match configure(&fd, image, &info) {
            // Another process took this device between the two calls.
            Err(Errno::EBUSY) => continue,
            Err(errno) => {
                return Err(Error::Sys {
                    op: "attach image to",
                    path,
                    errno,
                })
            }
            Ok(()) => {
                let st = fstat(&fd).at("stat", &path)?;
                let dev = format!("{}:{}", major(st.st_rdev), minor(st.st_rdev));
                log::debug!("{} on {} ({dev})", shown.display(), path.display());
                return Ok(Loop { fd, path, dev });
            }
        }
    }
    Err(Error::Sys {
        op: "find a free loop device through",
        path: PathBuf::from(LOOP_CONTROL),
        errno: Errno::EBUSY,
    })
}

fn info(shown: &Path, extent: Extent, read_only: bool) -> LoopInfo64 {
    let mut file_name = [0u8; LO_NAME_SIZE];
    let bytes = shown.as_os_str().as_bytes();
    let n = bytes.len().min(LO_NAME_SIZE - 1);
    file_name[..n].copy_from_slice(&bytes[..n]);
    let mut flags = LO_FLAGS_AUTOCLEAR;
    if read_only {
        flags |= LO_FLAGS_READ_ONLY;
    }
    LoopInfo64 {
        device: 0,
        inode: 0,
        rdevice: 0,
        offset: extent.offset,
        sizelimit: extent.size,
        number: 0,
        encrypt_type: 0,
        encrypt_key_size: 0,
        flags,
        file_name,
        crypt_name: [0; LO_NAME_SIZE],
        encrypt_key: [0; 32],
        init: [0; 2],
    }
}

/// LOOP_CONFIGURE, or on kernels before 5.8 LOOP_SET_FD then
/// LOOP_SET_STATUS64 (undone when the second fails).
fn configure(dev: &OwnedFd, image: &File, info: &LoopInfo64) -> std::result::Result<(), Errno> {
    let config = LoopConfig {
        fd: image.as_raw_fd() as u32,
        block_size: 0,
        info: *info,
        reserved: [0; 8],
    };
    // SAFETY: `config` is a valid loop_config that outlives the call; the
    // kernel only reads it.
    let ret = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_CONFIGURE,
            &config as *const LoopConfig,
        )
    };
    match Errno::result(ret) {
        Err(Errno::EINVAL | Errno::ENOTTY) => {}
        other => return other.map(drop),
    }
    // SAFETY: LOOP_SET_FD takes the backing file's fd as its argument.
    Errno::result(unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_SET_FD, image.as_raw_fd()) })?;
    // SAFETY: `info` is a valid loop_info64 that outlives the call.
    let ret = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_SET_STATUS64,
            info as *const LoopInfo64,
        )
    };
    Errno::result(ret).map(drop).inspect_err(|_| {
        // SAFETY: LOOP_CLR_FD takes no argument.
        let _ = unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_CLR_FD, 0) };
    })
}

/// The filesystem type in the first 64 KiB + 4 KiB of a partition, by its
/// superblock magic: ext2/3/4 (mounted as ext4, whose driver serves all
/// three), xfs, btrfs, vfat. None: unknown, try them all.
pub fn fstype(head: &[u8]) -> Option<&'static str> {
    let at = |o: usize, magic: &[u8]| head.get(o..o + magic.len()) == Some(magic);
    if at(1024 + 56, &[0x53, 0xEF]) {
        Some("ext4")
    } else if at(0, b"XFSB") {
        Some("xfs")
    } else if at(65536 + 64, b"_BHRfS_M") {
        Some("btrfs")
    } else if at(510, &[0x55, 0xAA]) && (at(54, b"FAT") || at(82, b"FAT32")) {
        Some("vfat")
    } else {
        None
    }
}

/// Filesystem types tried, in order, when the magic is not recognised.
pub const FSTYPES: [&str; 4] = ["ext4", "xfs", "btrfs", "vfat"];

/// How many bytes [`fstype`] wants to see.
pub const PROBE_LEN: usize = 65536 + 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_have_the_kernel_sizes() {
        assert_eq!(std::mem::size_of::<LoopInfo64>(), 232);
        assert_eq!(std::mem::size_of::<LoopConfig>(), 304);
    }

    #[test]
    fn magic_numbers() {
        let mut b = vec![0u8; PROBE_LEN];
        assert_eq!(fstype(&b), None);
        b[1080] = 0x53;
        b[1081] = 0xEF;
        assert_eq!(fstype(&b), Some("ext4"));
        let mut b = vec![0u8; PROBE_LEN];
        b[..4].copy_from_slice(b"XFSB");
        assert_eq!(fstype(&b), Some("xfs"));
        let mut b = vec![0u8; PROBE_LEN];
        b[65600..65608].copy_from_slice(b"_BHRfS_M");
        assert_eq!(fstype(&b), Some("btrfs"));
        let mut b = vec![0u8; 512];
        b[82..87].copy_from_slice(b"FAT32");
        b[510] = 0x55;
        b[511] = 0xAA;
        assert_eq!(fstype(&b), Some("vfat"));
        assert_eq!(fstype(&b[..100]), None);
    }

    #[test]
    fn info_names_the_file_and_asks_for_autoclear() {
        let e = Extent {
            offset: 1 << 20,
            size: 4 << 20,
        };
        let i = info(Path::new("/srv/disk.img"), e, true);
        assert_eq!(&i.file_name[..13], b"/srv/disk.img");
        assert_eq!(i.file_name[13], 0);
        assert_eq!(i.flags, LO_FLAGS_AUTOCLEAR | LO_FLAGS_READ_ONLY);
        assert_eq!((i.offset, i.sizelimit), (1 << 20, 4 << 20));
        let long = "/x".repeat(100);
        let i = info(Path::new(&long), e, false);
        assert_eq!(i.file_name[LO_NAME_SIZE - 1], 0);
        assert_eq!(i.flags, LO_FLAGS_AUTOCLEAR);
    }
}
