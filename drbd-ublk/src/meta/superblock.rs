//! The superblock: one 4 KiB block naming the data generation, flags and the metadata layout.
//!
//! # On-disk format (ours, in the spirit of DRBD's v08; all big-endian)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic [`SB_MAGIC`] ("DRBM") |
//! | 4 | 4 | format version ([`SB_VERSION`]) |
//! | 8 | 8 | device size in sectors (DRBD's `la_size_sect`, last agreed size) |
//! | 16 | 4 | flags (`MDF_*`, see [`MdFlags`]) |
//! | 20 | 4 | bytes per bitmap bit (4096) |
//! | 24 | 32 | generation identifiers: current, bitmap, history 1, history 2 |
//! | 56 | 8 | device uuid (random id of this backing device) |
//! | 64 | 8 | metadata size in sectors |
//! | 72 | 8 | AL offset relative to the superblock, sectors (signed) |
//! | 80 | 4 | AL stripes |
//! | 84 | 4 | AL stripe size in 4 KiB blocks |
//! | 88 | 4 | `al-extents` when written (for AL replay) |
//! | 92 | 4 | placement index (−1 internal, −2 flexible external, N indexed) |
//! | 96 | 8 | bitmap offset relative to the superblock, sectors (signed) |
//! | 104 | 8 | bitmap size in bytes |
//! | 112 | 4 | last known peer max bio size |
//! | 116 | 3976 | zero |
//! | 4092 | 4 | crc32c over bytes 0..4092 |
//!
//! A clean shutdown writes the superblock with [`MdFlags::AL_CLEAN`]; while the device is in
//! use the flag is cleared (DRBD 8.4 switches the magic to its "unclean" value instead; a flag
//! does the same job with one magic). Metadata without `AL_CLEAN` must have its AL replayed
//! into the bitmap before use (spec §12 invariant 9).

use super::activity_log::AlConfig;
use super::generation::{MdFlags, Uuids};

/// Superblock magic ("DRBM").
pub const SB_MAGIC: u32 = 0x4452_424d;
/// Format version written by this code.
pub const SB_VERSION: u32 = 1;
/// Superblock size.
pub const SB_SIZE: usize = 4096;
/// Offset of the checksum.
const CRC_OFF: usize = SB_SIZE - 4;

/// Errors decoding a superblock.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SbError {
    /// Wrong buffer size.
    #[error("superblock buffer is {0} bytes, expected 4096")]
    BadLength(usize),
    /// Not our metadata.
    #[error("bad magic {found:#010x} (expected {SB_MAGIC:#010x}): no metadata here")]
    BadMagic {
        /// Magic found.
        found: u32,
    },
    /// Checksum mismatch.
    #[error("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    BadChecksum {
        /// Stored.
        stored: u32,
        /// Computed.
        computed: u32,
    },
    /// Written by a newer (or unknown) format.
    #[error("unsupported metadata version {0} (this build reads version {SB_VERSION})")]
    UnsupportedVersion(u32),
    /// A field holds an impossible value.
    #[error("invalid field {field}: {value}")]
    BadField {
        /// Field name.
        field: &'static str,
        /// Value found.
        value: i64,
    },
}

/// Decoded superblock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// Device size in sectors (last agreed size).
    pub device_size_sectors: u64,
    /// Metadata flags.
    pub flags: MdFlags,
    /// Generation identifiers.
    pub uuids: Uuids,
    /// Random identifier of this backing device.
    pub device_uuid: u64,
    /// Metadata size in sectors.
    pub md_size_sectors: u64,
    /// AL offset relative to the superblock, sectors.
    pub al_offset_sectors: i64,
    /// AL geometry and `al-extents`.
    pub al: AlConfig,
    /// Placement index (−1 internal, −2 flexible external, N indexed).
    pub meta_index: i32,
    /// Bitmap offset relative to the superblock, sectors.
    pub bm_offset_sectors: i64,
    /// Bitmap size in bytes.
    pub bm_size_bytes: u64,
    /// Bytes per bitmap bit (4096).
    pub bytes_per_bit: u32,
    /// Last known peer max bio size.
    pub peer_max_bio_size: u32,
}

fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}
fn u32_at(buf: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(buf[off..off + 4].try_into().expect("4 bytes"))
}
fn u64_at(buf: &[u8], off: usize) -> u64 {
    u64::from_be_bytes(buf[off..off + 8].try_into().expect("8 bytes"))
}

impl Superblock {
    /// Encode into `buf` (4096 bytes) with checksum.
    ///
    /// # Panics
    /// If `buf` is not 4096 bytes.
    pub fn encode(&self, buf: &mut [u8]) {
        assert_eq!(buf.len(), SB_SIZE, "superblock buffer size");
        buf.fill(0);
        put(buf, 0, &SB_MAGIC.to_be_bytes());
        put(buf, 4, &SB_VERSION.to_be_bytes());
        put(buf, 8, &self.device_size_sectors.to_be_bytes());
        put(buf, 16, &self.flags.0.to_be_bytes());
        put(buf, 20, &self.bytes_per_bit.to_be_bytes());
        put(buf, 24, &self.uuids.current.to_be_bytes());
        put(buf, 32, &self.uuids.bitmap.to_be_bytes());
        put(buf, 40, &self.uuids.history[0].to_be_bytes());
        put(buf, 48, &self.uuids.history[1].to_be_bytes());
        put(buf, 56, &self.device_uuid.to_be_bytes());
        put(buf, 64, &self.md_size_sectors.to_be_bytes());
        put(buf, 72, &self.al_offset_sectors.to_be_bytes());
        put(buf, 80, &self.al.stripes.to_be_bytes());
        put(buf, 84, &self.al.stripe_size_4k.to_be_bytes());
        put(buf, 88, &self.al.al_extents.to_be_bytes());
        put(buf, 92, &self.meta_index.to_be_bytes());
        put(buf, 96, &self.bm_offset_sectors.to_be_bytes());
        put(buf, 104, &self.bm_size_bytes.to_be_bytes());
        put(buf, 112, &self.peer_max_bio_size.to_be_bytes());
        let crc = crc32c::crc32c(&buf[..CRC_OFF]);
        put(buf, CRC_OFF, &crc.to_be_bytes());
    }

    /// True if `buf` starts with our magic (whatever the rest holds).
    pub fn has_magic(buf: &[u8]) -> bool {
        buf.len() >= 4 && u32_at(buf, 0) == SB_MAGIC
    }

    /// Decode and verify (magic, checksum, version, field sanity).
    ///
    /// # Errors
    /// See [`SbError`].
    pub fn decode(buf: &[u8]) -> Result<Superblock, SbError> {
        if buf.len() != SB_SIZE {
            return Err(SbError::BadLength(buf.len()));
        }
        let magic = u32_at(buf, 0);
        if magic != SB_MAGIC {
            return Err(SbError::BadMagic { found: magic });
        }
        let stored = u32_at(buf, CRC_OFF);
        let computed = crc32c::crc32c(&buf[..CRC_OFF]);
        if stored != computed {
            return Err(SbError::BadChecksum { stored, computed });
        }
        let version = u32_at(buf, 4);
        if version != SB_VERSION {
            return Err(SbError::UnsupportedVersion(version));
        }
        let sb = Superblock {
            device_size_sectors: u64_at(buf, 8),
            flags: MdFlags(u32_at(buf, 16)),
            bytes_per_bit: u32_at(buf, 20),
            uuids: Uuids {
                current: u64_at(buf, 24),
                bitmap: u64_at(buf, 32),
                history: [u64_at(buf, 40), u64_at(buf, 48)],
            },
            device_uuid: u64_at(buf, 56),
            md_size_sectors: u64_at(buf, 64),
            al_offset_sectors: u64_at(buf, 72) as i64,
            al: AlConfig {
                stripes: u32_at(buf, 80),
                stripe_size_4k: u32_at(buf, 84),
                al_extents: u32_at(buf, 88),
            },
            meta_index: u32_at(buf, 92) as i32,
            bm_offset_sectors: u64_at(buf, 96) as i64,
            bm_size_bytes: u64_at(buf, 104),
            peer_max_bio_size: u32_at(buf, 112),
        };
        if sb.bytes_per_bit != 4096 {
            return Err(SbError::BadField {
                field: "bytes_per_bit",
                value: i64::from(sb.bytes_per_bit),
            });
        }
        if sb.flags.0 & !MdFlags::ALL != 0 {
            return Err(SbError::BadField { field: "flags", value: i64::from(sb.flags.0) });
        }
        if sb.al.validate().is_err() {
            return Err(SbError::BadField {
                field: "al_extents/al_stripes",
                value: i64::from(sb.al.al_extents),
            });
        }
        if sb.meta_index < -2 {
            return Err(SbError::BadField { field: "meta_index", value: i64::from(sb.meta_index) });
        }
        Ok(sb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Superblock {
        Superblock {
            device_size_sectors: 123_456,
            flags: MdFlags(MdFlags::CONSISTENT | MdFlags::AL_CLEAN),
            uuids: Uuids { current: 0x1234_5678_9abc_def1, bitmap: 4, history: [5, 6] },
            device_uuid: 0xfeed_f00d,
            md_size_sectors: 200,
            al_offset_sectors: -64,
            al: AlConfig::default(),
            meta_index: -1,
            bm_offset_sectors: -192,
            bm_size_bytes: 65536,
            bytes_per_bit: 4096,
            peer_max_bio_size: 1 << 20,
        }
    }

    #[test]
    fn roundtrip_and_byte_positions() {
        let mut buf = vec![0u8; SB_SIZE];
        sample().encode(&mut buf);
        assert_eq!(&buf[0..4], b"DRBM");
        assert_eq!(&buf[24..32], &0x1234_5678_9abc_def1u64.to_be_bytes());
        assert_eq!(&buf[72..80], &(-64i64).to_be_bytes());
        assert_eq!(Superblock::decode(&buf), Ok(sample()));
    }

    #[test]
    fn errors() {
        let mut buf = vec![0u8; SB_SIZE];
        sample().encode(&mut buf);
        let mut b = buf.clone();
        b[30] ^= 4;
        assert!(matches!(Superblock::decode(&b), Err(SbError::BadChecksum { .. })));
        assert_eq!(Superblock::decode(&vec![0u8; SB_SIZE]), Err(SbError::BadMagic { found: 0 }));
        let mut b = buf.clone();
        b[4..8].copy_from_slice(&7u32.to_be_bytes());
        let crc = crc32c::crc32c(&b[..CRC_OFF]);
        b[CRC_OFF..].copy_from_slice(&crc.to_be_bytes());
        let e = Superblock::decode(&b).unwrap_err();
        assert_eq!(e, SbError::UnsupportedVersion(7));
        assert!(e.to_string().contains("unsupported metadata version 7"));
        let bad = Superblock { bytes_per_bit: 512, ..sample() };
        bad.encode(&mut b);
        assert!(matches!(
            Superblock::decode(&b),
            Err(SbError::BadField { field: "bytes_per_bit", .. })
        ));
    }
}
