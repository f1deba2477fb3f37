//! Partition tables of disk images, MBR and GPT, parsed from bytes: where
//! partition N starts and how long it is. Pure; the caller reads the
//! sectors (sector 0 for the MBR, sector 1 and the entry array for a GPT)
//! and passes them in. Sectors are 512 bytes (what image files made with
//! sfdisk, parted or mkimage use). Logical partitions inside an MBR
//! extended partition are not supported.

use std::fmt;

/// Bytes per sector of an image file.
pub const SECTOR: u64 = 512;
/// The most the GPT entry array may take (128 entries of 128 bytes is 16 KiB).
pub const MAX_GPT_ENTRIES_LEN: u64 = 1 << 20;

/// A byte range of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub size: u64,
}

/// Why a partition could not be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Sector 0 has no 0x55AA signature.
    NoTable,
    /// The table has no partition of that number.
    NoSuchPartition(u32),
    /// MBR partitions above 4 are logical ones, not supported.
    Logical(u32),
    /// The GPT header or its entry array is damaged.
    BadGpt(&'static str),
    /// The image ends before the table or the partition does.
    Truncated,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTable => write!(f, "no partition table (no MBR signature)"),
            Self::NoSuchPartition(n) => write!(f, "no partition {n}"),
            Self::Logical(n) => write!(
                f,
                "partition {n} would be a logical one; only MBR partitions 1-4 are supported"
            ),
            Self::BadGpt(why) => write!(f, "damaged GPT: {why}"),
            Self::Truncated => write!(f, "the image ends before its partition table or partition"),
        }
    }
}

/// What sector 0 says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// An MBR with its four primary entries (None: unused).
    Mbr([Option<Extent>; 4]),
    /// A protective MBR (type 0xEE): the real table is a GPT.
    Gpt,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Parses sector 0: the MBR's four primary entries, or a protective MBR.
pub fn parse_mbr(sector0: &[u8]) -> Result<Table, Fault> {
    if sector0.len() < 512 {
        return Err(Fault::Truncated);
    }
    if u16_at(sector0, 510) != Some(0xAA55) {
        return Err(Fault::NoTable);
    }
    let mut parts = [None; 4];
    for (i, part) in parts.iter_mut().enumerate() {
        let e = 446 + 16 * i;
        let kind = sector0[e + 4];
        if kind == 0xEE {
            return Ok(Table::Gpt);
        }
        let start = u32_at(sector0, e + 8).ok_or(Fault::Truncated)?;
        let count = u32_at(sector0, e + 12).ok_or(Fault::Truncated)?;
        if kind != 0 && count != 0 {
            *part = Some(Extent {
                offset: u64::from(start) * SECTOR,
                size: u64::from(count) * SECTOR,
            });
        }
    }
    Ok(Table::Mbr(parts))
}

/// Partition `n` (from 1) of an MBR's primary entries.
pub fn mbr_partition(parts: &[Option<Extent>; 4], n: u32) -> Result<Extent, Fault> {
    if n > 4 {
        return Err(Fault::Logical(n));
    }
    let slot = (n as usize)
        .checked_sub(1)
        .ok_or(Fault::NoSuchPartition(n))?;
    parts
        .get(slot)
        .copied()
        .flatten()
        .ok_or(Fault::NoSuchPartition(n))
}

/// The parts of a GPT header (at LBA 1) that locate the entry array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptHeader {
    pub entries_lba: u64,
    pub count: u32,
    pub entry_size: u32,
    pub entries_crc: u32,
}

impl GptHeader {
    /// Byte offset of the entry array in the image (checked to fit by
    /// `parse_gpt_header`; saturating for a header built otherwise).
    pub fn entries_offset(&self) -> u64 {
        self.entries_lba.saturating_mul(SECTOR)
    }

    /// Length in bytes of the entry array (bounded by the header check).
    pub fn entries_len(&self) -> usize {
        self.count as usize * self.entry_size as usize
    }
}

/// Parses and checks (signature, size, CRC32) the GPT header in sector 1.
pub fn parse_gpt_header(sector1: &[u8]) -> Result<GptHeader, Fault> {
    if sector1.get(0..8) != Some(b"EFI PART".as_slice()) {
        return Err(Fault::BadGpt("no EFI PART signature at LBA 1"));
    }
    let size = u32_at(sector1, 12).ok_or(Fault::Truncated)? as usize;
    if !(92..=sector1.len().min(512)).contains(&size) {
        return Err(Fault::BadGpt("header size"));
    }
    let mut header = sector1[..size].to_vec();
    let crc = u32_at(&header, 16).ok_or(Fault::Truncated)?;
    header[16..20].fill(0);
    if crc32(&header) != crc {
        return Err(Fault::BadGpt("header checksum"));
    }
    let h = GptHeader {
        entries_lba: u64_at(sector1, 72).ok_or(Fault::Truncated)?,
        count: u32_at(sector1, 80).ok_or(Fault::Truncated)?,
        entry_size: u32_at(sector1, 84).ok_or(Fault::Truncated)?,
        entries_crc: u32_at(sector1, 88).ok_or(Fault::Truncated)?,
    };
    if h.entry_size < 128 || h.entry_size & 7 != 0 {
        return Err(Fault::BadGpt("entry size"));
    }
    let len = u64::from(h.count) * u64::from(h.entry_size);
    if len > MAX_GPT_ENTRIES_LEN {
        return Err(Fault::BadGpt("entry array too large"));
    }
    // The header's fields are the image's word: a huge LBA must not wrap.
    h.entries_lba
        .checked_mul(SECTOR)
        .and_then(|offset| offset.checked_add(len))
        .ok_or(Fault::BadGpt("entry array beyond any image"))?;
    Ok(h)
}

/// Partition `n` (from 1) of a GPT, from its checked entry array.
pub fn gpt_partition(h: &GptHeader, entries: &[u8], n: u32) -> Result<Extent, Fault> {
    let all = entries.get(..h.entries_len()).ok_or(Fault::Truncated)?;
    if crc32(all) != h.entries_crc {
        return Err(Fault::BadGpt("entry array checksum"));
    }
    if n == 0 || n > h.count {
        return Err(Fault::NoSuchPartition(n));
    }
    let at = (n as usize - 1) * h.entry_size as usize;
    let entry = &all[at..at + h.entry_size as usize];
    // An all-zero partition type GUID marks an unused entry.
    if entry[..16].iter().all(|&b| b == 0) {
        return Err(Fault::NoSuchPartition(n));
    }
    let first = u64_at(entry, 32).ok_or(Fault::Truncated)?;
    let last = u64_at(entry, 40).ok_or(Fault::Truncated)?;
    let beyond = Fault::BadGpt("partition beyond any image");
    let sectors = last
        .checked_sub(first)
        .ok_or(Fault::BadGpt("partition ends before it starts"))?
        .checked_add(1)
        .ok_or(beyond.clone())?;
    let offset = first.checked_mul(SECTOR).ok_or(beyond.clone())?;
    let size = sectors.checked_mul(SECTOR).ok_or(beyond.clone())?;
    offset.checked_add(size).ok_or(beyond)?;
    Ok(Extent { offset, size })
}

/// CRC-32 (IEEE 802.3, reflected, as the GPT uses), bit by bit: the
/// tables are a few KiB at most.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mbr(entries: &[(u8, u32, u32)]) -> Vec<u8> {
        let mut s = vec![0u8; 512];
        for (i, &(kind, start, count)) in entries.iter().enumerate() {
            let e = 446 + 16 * i;
            s[e + 4] = kind;
            s[e + 8..e + 12].copy_from_slice(&start.to_le_bytes());
            s[e + 12..e + 16].copy_from_slice(&count.to_le_bytes());
        }
        s[510] = 0x55;
        s[511] = 0xAA;
        s
    }

    /// A GPT header (sector 1) and entry array with `parts` as (first, last) LBAs.
    fn gpt(parts: &[(u64, u64)]) -> (Vec<u8>, Vec<u8>) {
        let (count, size) = (128u32, 128u32);
        let mut entries = vec![0u8; (count * size) as usize];
        for (i, &(first, last)) in parts.iter().enumerate() {
            let e = i * size as usize;
            entries[e..e + 16].copy_from_slice(&[0x0F; 16]);
            entries[e + 32..e + 40].copy_from_slice(&first.to_le_bytes());
            entries[e + 40..e + 48].copy_from_slice(&last.to_le_bytes());
        }
        let mut h = vec![0u8; 512];
        h[..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[72..80].copy_from_slice(&2u64.to_le_bytes());
        h[80..84].copy_from_slice(&count.to_le_bytes());
        h[84..88].copy_from_slice(&size.to_le_bytes());
        h[88..92].copy_from_slice(&crc32(&entries).to_le_bytes());
        let crc = crc32(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        (h, entries)
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn mbr_primary_partitions() {
        let s = mbr(&[(0x83, 2048, 4096), (0, 0, 0), (0x0c, 8192, 100)]);
        let Ok(Table::Mbr(parts)) = parse_mbr(&s) else {
            panic!("not an MBR: {:?}", parse_mbr(&s));
        };
        assert_eq!(
            mbr_partition(&parts, 1),
            Ok(Extent {
                offset: 2048 * 512,
                size: 4096 * 512
            })
        );
        assert_eq!(mbr_partition(&parts, 2), Err(Fault::NoSuchPartition(2)));
        assert_eq!(mbr_partition(&parts, 3).map(|e| e.offset), Ok(8192 * 512));
        assert_eq!(mbr_partition(&parts, 4), Err(Fault::NoSuchPartition(4)));
        assert_eq!(mbr_partition(&parts, 0), Err(Fault::NoSuchPartition(0)));
        assert_eq!(mbr_partition(&parts, 5), Err(Fault::Logical(5)));
    }

    #[test]
    fn mbr_without_signature_or_short() {
        let mut s = mbr(&[(0x83, 1, 1)]);
        s[511] = 0;
        assert_eq!(parse_mbr(&s), Err(Fault::NoTable));
        assert_eq!(parse_mbr(&s[..100]), Err(Fault::Truncated));
    }

    #[test]
    fn protective_mbr_means_gpt() {
        let s = mbr(&[(0xEE, 1, 0xFFFF_FFFF)]);
        assert_eq!(parse_mbr(&s), Ok(Table::Gpt));
    }

    #[test]
    fn gpt_partitions() {
        let (h, entries) = gpt(&[(2048, 10239), (10240, 20479)]);
        let hdr = parse_gpt_header(&h).expect("header parses");
        assert_eq!(hdr.entries_offset(), 1024);
        assert_eq!(hdr.entries_len(), 128 * 128);
        assert_eq!(
            gpt_partition(&hdr, &entries, 1),
            Ok(Extent {
                offset: 2048 * 512,
                size: 8192 * 512
            })
        );
        assert_eq!(
            gpt_partition(&hdr, &entries, 2).map(|e| e.offset),
            Ok(10240 * 512)
        );
        assert_eq!(
            gpt_partition(&hdr, &entries, 3),
            Err(Fault::NoSuchPartition(3))
        );
        assert_eq!(
            gpt_partition(&hdr, &entries, 129),
            Err(Fault::NoSuchPartition(129))
        );
        assert_eq!(
            gpt_partition(&hdr, &entries[..100], 1),
            Err(Fault::Truncated)
        );
    }

    /// Sets the header's entry array LBA and fixes the header's CRC.
    fn with_entries_lba(mut h: Vec<u8>, lba: u64) -> Vec<u8> {
        h[72..80].copy_from_slice(&lba.to_le_bytes());
        h[16..20].fill(0);
        let crc = crc32(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    }

    #[test]
    fn gpt_fields_that_would_overflow_are_refused() {
        let beyond = Err(Fault::BadGpt("partition beyond any image"));
        let max_lba = u64::MAX / SECTOR;
        for (first, last) in [
            // The size in sectors does not fit.
            (0, u64::MAX),
            // The size in bytes does not fit.
            (1, u64::MAX),
            // The offset in bytes does not fit.
            (max_lba + 1, max_lba + 1),
            // Offset and size each fit, their sum does not.
            (1, max_lba),
        ] {
            // The builder fixes both CRCs: only the arithmetic may refuse.
            let (h, entries) = gpt(&[(first, last)]);
            let hdr = parse_gpt_header(&h).expect("header parses");
            assert_eq!(
                gpt_partition(&hdr, &entries, 1),
                beyond,
                "first {first}, last {last}"
            );
        }
        // The last partition that fits in u64 bytes is accepted.
        let (h, entries) = gpt(&[(1, max_lba - 1)]);
        let hdr = parse_gpt_header(&h).expect("header parses");
        assert_eq!(
            gpt_partition(&hdr, &entries, 1),
            Ok(Extent {
                offset: SECTOR,
                size: (max_lba - 1) * SECTOR
            })
        );
        let (h, _) = gpt(&[(34, 100)]);
        for lba in [u64::MAX, max_lba + 1, max_lba] {
            assert_eq!(
                parse_gpt_header(&with_entries_lba(h.clone(), lba)),
                Err(Fault::BadGpt("entry array beyond any image")),
                "entries at LBA {lba}"
            );
        }
        assert_eq!(
            parse_gpt_header(&with_entries_lba(h, max_lba - 32)).map(|h| h.entries_offset()),
            Ok((max_lba - 32) * SECTOR)
        );
    }

    #[test]
    fn gpt_checksums_are_checked() {
        let (mut h, mut entries) = gpt(&[(34, 100)]);
        entries[40] ^= 1;
        let hdr = parse_gpt_header(&h).expect("header parses");
        assert_eq!(
            gpt_partition(&hdr, &entries, 1),
            Err(Fault::BadGpt("entry array checksum"))
        );
        h[72] = 3;
        assert_eq!(parse_gpt_header(&h), Err(Fault::BadGpt("header checksum")));
        h[0] = b'X';
        assert!(matches!(parse_gpt_header(&h), Err(Fault::BadGpt(_))));
    }
}
