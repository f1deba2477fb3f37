//! Keeping PID 1 small while it idles. Start-up touches much of the binary
//! (and the kernel's fault-around maps neighbouring pages with it), but the
//! idle loop needs a few pages. Once the boot is done, PID 1 drops from its
//! page tables every mapping of its own file that was never written (code
//! and read-only data, no copy-on-write page in it): the pages stay in the
//! page cache and come back on the next touch, at the cost of a minor fault.

use std::ffi::c_void;
use std::fs;
use std::ptr::NonNull;

use nix::sys::mman::{madvise, MmapAdvise};

use crate::logging::SELF;

/// A mapping of the executable that holds no private (written) page.
#[derive(Debug, PartialEq, Eq)]
struct CleanMapping {
    start: usize,
    end: usize,
}

pub fn release_clean_text() {
    let (Ok(smaps), Ok(exe)) = (
        fs::read_to_string("/proc/self/smaps"),
        fs::read_link("/proc/self/exe"),
    ) else {
        return;
    };
    let exe = exe.to_string_lossy();
    let mut released = 0;
    for m in clean_mappings(&smaps, &exe) {
        let Some(addr) = NonNull::new(m.start as *mut c_void) else {
            continue;
        };
        // SAFETY: the range is a read-only file mapping of our own binary
        // with no anonymous (written) page, so MADV_DONTNEED only unmaps
        // page-cache pages that fault back in unchanged.
        match unsafe { madvise(addr, m.end - m.start, MmapAdvise::MADV_DONTNEED) } {
            Ok(()) => released += m.end - m.start,
            Err(err) => log::debug!(target: SELF, "madvise {:#x}: {err}", m.start),
        }
    }
    log::debug!(target: SELF, "released {} kB of mapped code", released / 1024);
}

/// Mappings of `exe` that are not writable and have `Anonymous: 0 kB`.
fn clean_mappings(smaps: &str, exe: &str) -> Vec<CleanMapping> {
    let mut found = Vec::new();
    let mut current: Option<CleanMapping> = None;
    for line in smaps.lines() {
        if let Some(rest) = line.strip_prefix("Anonymous:") {
            let dirty = rest.trim().trim_end_matches("kB").trim() != "0";
            if let Some(m) = current.take().filter(|_| !dirty) {
                found.push(m);
            }
        } else if let Some(m) = header(line, exe) {
            current = Some(m);
        }
    }
    found
}

/// `start-end perms offset dev inode path` for a read-only mapping of `exe`.
/// The path may hold blanks: run from a memfd, it reads
/// `/memfd:subinit (deleted)`, as /proc/self/exe does.
fn header(line: &str, exe: &str) -> Option<CleanMapping> {
    let mut fields = line.split_whitespace();
    let (range, perms) = (fields.next()?, fields.next()?);
    let path: Vec<&str> = fields.skip(3).collect();
    if path.join(" ") != exe || perms.as_bytes().get(1) != Some(&b'-') {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    Some(CleanMapping {
        start: usize::from_str_radix(start, 16).ok()?,
        end: usize::from_str_radix(end, 16).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unwritten_read_only_mappings_of_the_binary() {
        let smaps = "\
00400000-00500000 r-xp 00000000 fe:01 42 /sbin/subinit
Size: 1024 kB
Anonymous: 0 kB
00500000-00510000 r--p 00100000 fe:01 42 /sbin/subinit
Anonymous: 8 kB
00510000-00520000 rw-p 00110000 fe:01 42 /sbin/subinit
Anonymous: 0 kB
7f000000-7f001000 r-xp 00000000 fe:01 43 /lib/other
Anonymous: 0 kB
";
        assert_eq!(
            clean_mappings(smaps, "/sbin/subinit"),
            [CleanMapping {
                start: 0x400000,
                end: 0x500000
            }]
        );
    }
}
