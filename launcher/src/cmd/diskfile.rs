//! `overlay-diskfile MNT [IMAGE [PART]]`, the helper for `!` values: mounts
//! IMAGE (or its partition PART, located through the partition table) on
//! MNT's leading directory unless something is mounted there already, and
//! prints MNT. The image goes through a loop device that detaches itself
//! when the mount goes (autoclear). When a boot runs it (the configuration
//! loader sets the registry variable, see diskmounts), the mount is noted,
//! and the subhost's teardown releases it.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;

use crate::error::{At, Error, Result};
use crate::kernel::inroot::fd_path;
use crate::kernel::loopdev::{self, Loop};
use crate::kernel::privilege::require_root;
use crate::model::mountinfo;
use crate::model::parttable::{self, Extent, Fault, Table, SECTOR};
use crate::subhost::diskmounts;

pub fn diskfile(mnt: &Path, image: Option<&Path>, part: Option<u32>) -> Result<i32> {
    require_root()?;
    let point = crate::model::paths::mount_point(mnt).ok_or_else(|| Error::Sys {
        op: "find the mount point in",
        path: mnt.into(),
        errno: Errno::EINVAL,
    })?;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let dir = open(&point, flags, Mode::empty()).at("open mount point", &point)?;
    // The directory as the kernel names it: what mountinfo shows, and what
    // teardown unmounts.
    let real = fs::read_link(fd_path(&dir)).at("resolve", &point)?;
    let table = fs::read(mountinfo::MOUNTINFO).at("read", mountinfo::MOUNTINFO)?;
    if mountinfo::is_mount_point(&table, &real) {
        log::debug!("{} is mounted already", real.display());
    } else {
        let image = image.ok_or_else(|| Error::NotMounted { path: real.clone() })?;
        mount_image(image, part, &dir, &real)?;
    }
    let mut out = std::io::stdout();
    writeln!(out, "{}", mnt.display()).at("write", "standard output")?;
    Ok(0)
}

/// Attaches the image (or partition) to a loop device and mounts it on
/// `dir`; notes the mount for the boot that runs this, if any.
fn mount_image(image: &Path, part: Option<u32>, dir: &OwnedFd, real: &Path) -> Result<()> {
    let shown = std::path::absolute(image).at("resolve", image)?;
    let (file, read_only) = open_image(&shown)?;
    let len = file.metadata().at("stat", &shown)?.len();
    let extent = match part {
        None => Extent { offset: 0, size: 0 },
        Some(n) => locate(&file, &shown, n)?,
    };
    if extent.offset.saturating_add(extent.size) > len {
        return Err(image_fault(&shown, Fault::Truncated));
    }
    let mut head = vec![0u8; loopdev::PROBE_LEN];
    let got = file.read_at(&mut head, extent.offset).at("read", &shown)?;
    head.truncate(got);
    let lp = loopdev::attach(&file, &shown, extent, read_only)?;
    drop(file);
    mount_fs(&lp, dir, real, loopdev::fstype(&head), read_only)?;
    // From here the mount holds the loop device; closing ours lets
    // autoclear detach it when the mount goes.
    drop(lp.fd);
    if let Err(e) = diskmounts::note(&lp.dev, real) {
        // Untracked, it would outlive the subhost: undo it.
        let _ = umount2(real, MntFlags::MNT_DETACH);
        return Err(e);
    }
    log::debug!("{} mounted on {}", shown.display(), real.display());
    Ok(())
}

/// Opens the image read-write, or read-only when that is all it allows.
fn open_image(path: &Path) -> Result<(File, bool)> {
    let rw = OpenOptions::new().read(true).write(true).open(path);
    match rw {
        Ok(f) => Ok((f, false)),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EROFS | libc::EACCES | libc::EPERM)
            ) =>
        {
            Ok((File::open(path).at("open image", path)?, true))
        }
        Err(e) => Err(Error::Io {
            op: "open image",
            path: path.into(),
            source: e,
        }),
    }
}

fn image_fault(path: &Path, fault: Fault) -> Error {
    Error::Image {
        path: path.into(),
        fault,
    }
}

/// Partition `n` of the image's MBR or GPT.
fn locate(file: &File, shown: &Path, n: u32) -> Result<Extent> {
    let read = |offset: u64, len: usize| -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        match file.read_exact_at(&mut buf, offset) {
            Ok(()) => Ok(buf),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                Err(image_fault(shown, Fault::Truncated))
            }
            Err(e) => Err(Error::Io {
                op: "read",
                path: shown.into(),
                source: e,
            }),
        }
    };
    let fault = |f| image_fault(shown, f);
    match parttable::parse_mbr(&read(0, SECTOR as usize)?).map_err(fault)? {
        Table::Mbr(parts) => parttable::mbr_partition(&parts, n).map_err(fault),
        Table::Gpt => {
            let h = parttable::parse_gpt_header(&read(SECTOR, SECTOR as usize)?).map_err(fault)?;
            let entries = read(h.entries_offset(), h.entries_len())?;
            parttable::gpt_partition(&h, &entries, n).map_err(fault)
        }
    }
}

/// Mounts the loop device on `dir`: as the type its superblock names, or,
/// when none is recognised, as the first of the usual types that takes it.
fn mount_fs(lp: &Loop, dir: &OwnedFd, shown: &Path, probed: Option<&str>, ro: bool) -> Result<()> {
    let flags = if ro {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    let target = fd_path(dir);
    let try_type = |t: &str| mount(Some(&lp.path), &target, Some(t), flags, None::<&str>);
    if let Some(t) = probed {
        return try_type(t).at("mount image on", shown);
    }
    for t in loopdev::FSTYPES {
        match try_type(t) {
            Ok(()) => return Ok(()),
            // Not this type (EINVAL: no such superblock; ENODEV: no such
            // driver in this kernel): try the next.
            Err(Errno::EINVAL | Errno::ENODEV) => {}
            Err(errno) => {
                return Err(Error::Sys {
                    op: "mount image on",
                    path: shown.into(),
                    errno,
                })
            }
        }
    }
    Err(Error::NoFilesystem {
        path: lp.path.clone(),
    })
}
