//! Where the metadata lives and how much data space remains (spec §2.1–2.2).
//!
//! Three placements, as DRBD's `meta-disk`:
//!
//! * **internal** (`meta-disk internal;`, index −1): at the end of the backing device.
//!   ```text
//!   [ data (usable) ........ ][ bitmap ][ AL ring ][ superblock 4 KiB ][ 0-7 sectors pad ]
//!                            ^bm_offset ^al_offset ^superblock = (size_sectors & !7) - 8
//!   ```
//!   The bitmap is sized from the *whole* backing device (it slightly over-covers the data, as
//!   DRBD does), so the size computation is not circular.
//! * **flexible external** (`meta-disk /dev/X;`, index −2): the whole device X holds
//!   `[ superblock ][ AL ring ][ bitmap ]` from offset 0; the bitmap covers the whole backing
//!   device, which is all data.
//! * **indexed external** (`meta-disk /dev/X [N];`): the same inside a fixed 128 MiB slot at
//!   N × 128 MiB of X; the data size is limited to what the slot's bitmap can cover (≈4 TiB).
//!
//! Offsets are kept the DRBD way in the superblock: AL and bitmap positions in sectors relative
//! to the superblock (negative = before it). [`Layout`] also gives absolute byte offsets on the
//! metadata target for the I/O code.
//!
//! Invariants: every area starts on a 4 KiB boundary; the data area ends where the bitmap
//! starts (internal); the bitmap has room for [`crate::meta::bitmap::pages_for_capacity`] of
//! the usable size.

use super::activity_log::AlConfig;
use super::bitmap::{self, BLOCKS_PER_PAGE, PAGE_SIZE, SECTORS_PER_BLOCK};

/// Size of one indexed metadata slot.
pub const INDEXED_SLOT_BYTES: u64 = 128 << 20;
/// Smallest usable data area we accept (1 MiB).
pub const MIN_DATA_BYTES: u64 = 1 << 20;
/// Superblock size.
pub const SUPERBLOCK_BYTES: u64 = 4096;

/// `meta-disk` placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// At the end of the backing device (index −1).
    Internal,
    /// A whole separate device (index −2).
    FlexibleExternal,
    /// Slot N of 128 MiB on a separate device.
    Indexed(u32),
}

impl Placement {
    /// DRBD's `meta_dev_idx` value: −1 internal, −2 flexible external, N indexed.
    pub fn index(self) -> i32 {
        match self {
            Placement::Internal => -1,
            Placement::FlexibleExternal => -2,
            Placement::Indexed(n) => n as i32,
        }
    }

    /// Inverse of [`Placement::index`].
    pub fn from_index(index: i32) -> Option<Placement> {
        match index {
            -1 => Some(Placement::Internal),
            -2 => Some(Placement::FlexibleExternal),
            n if n >= 0 => Some(Placement::Indexed(n as u32)),
            _ => None,
        }
    }
}

/// Why a layout cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// The device is too small for metadata plus [`MIN_DATA_BYTES`] of data.
    #[error("{what} is {have} bytes, needs at least {need} bytes")]
    TooSmall {
        /// Which device ("backing device", "meta device").
        what: &'static str,
        /// Its size.
        have: u64,
        /// Bytes needed.
        need: u64,
    },
}

/// Computed placement of superblock, AL and bitmap, and the usable data size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Placement variant.
    pub placement: Placement,
    /// AL geometry.
    pub al: AlConfig,
    /// Byte offset of the superblock on the metadata target.
    pub superblock_offset: u64,
    /// Byte offset of the AL ring on the metadata target.
    pub al_offset: u64,
    /// Byte offset of the bitmap on the metadata target.
    pub bm_offset: u64,
    /// Bytes reserved for the bitmap (multiple of 4 KiB).
    pub bm_bytes: u64,
    /// Total metadata size in sectors (superblock + AL + bitmap).
    pub md_size_sectors: u64,
    /// Usable data size in sectors (what the replicated device exposes).
    pub usable_sectors: u64,
}

impl Layout {
    /// Layout for `placement`, a backing (data) device of `backing_bytes` and, for external
    /// placements, a metadata device of `meta_bytes` (ignored for internal).
    ///
    /// # Errors
    /// [`LayoutError::TooSmall`] naming the device and the bytes it needs.
    pub fn compute(
        placement: Placement,
        al: AlConfig,
        backing_bytes: u64,
        meta_bytes: u64,
    ) -> Result<Layout, LayoutError> {
        let backing_sectors = backing_bytes / 512;
        let al_bytes = al.size_sectors() * 512;
        match placement {
            Placement::Internal => {
                let bm_bytes = bitmap::bytes_for_capacity(backing_sectors);
                let md_bytes = SUPERBLOCK_BYTES + al_bytes + bm_bytes;
                let sb = ((backing_sectors & !7) * 512).checked_sub(SUPERBLOCK_BYTES);
                let usable = sb.and_then(|sb| sb.checked_sub(al_bytes + bm_bytes));
                match (sb, usable) {
                    (Some(sb), Some(usable)) if usable >= MIN_DATA_BYTES => Ok(Layout {
                        placement,
                        al,
                        superblock_offset: sb,
                        al_offset: sb - al_bytes,
                        bm_offset: usable,
                        bm_bytes,
                        md_size_sectors: md_bytes / 512,
                        usable_sectors: usable / 512,
                    }),
                    _ => Err(LayoutError::TooSmall {
                        what: "backing device",
                        have: backing_bytes,
                        need: MIN_DATA_BYTES + md_bytes,
                    }),
                }
            }
            Placement::FlexibleExternal => {
                if backing_bytes < MIN_DATA_BYTES {
                    return Err(LayoutError::TooSmall {
                        what: "backing device",
                        have: backing_bytes,
                        need: MIN_DATA_BYTES,
                    });
                }
                let bm_bytes = bitmap::bytes_for_capacity(backing_sectors);
                let md_bytes = SUPERBLOCK_BYTES + al_bytes + bm_bytes;
                if meta_bytes < md_bytes {
                    return Err(LayoutError::TooSmall {
                        what: "meta device",
                        have: meta_bytes,
                        need: md_bytes,
                    });
                }
                Ok(Layout::external(placement, al, 0, bm_bytes, backing_sectors))
            }
            Placement::Indexed(n) => {
                let base = u64::from(n) * INDEXED_SLOT_BYTES;
                let need = base + INDEXED_SLOT_BYTES;
                if meta_bytes < need {
                    return Err(LayoutError::TooSmall {
                        what: "meta device",
                        have: meta_bytes,
                        need,
                    });
                }
                if backing_bytes < MIN_DATA_BYTES {
                    return Err(LayoutError::TooSmall {
                        what: "backing device",
                        have: backing_bytes,
                        need: MIN_DATA_BYTES,
                    });
                }
                let max_pages =
                    (INDEXED_SLOT_BYTES - SUPERBLOCK_BYTES - al_bytes) / PAGE_SIZE as u64;
                let max_sectors = max_pages * BLOCKS_PER_PAGE * SECTORS_PER_BLOCK;
                let usable = backing_sectors.min(max_sectors);
                let bm_bytes = bitmap::bytes_for_capacity(usable);
                Ok(Layout::external(placement, al, base, bm_bytes, usable))
            }
        }
    }

    fn external(
        placement: Placement,
        al: AlConfig,
        base: u64,
        bm_bytes: u64,
        usable: u64,
    ) -> Layout {
        let al_bytes = al.size_sectors() * 512;
        Layout {
            placement,
            al,
            superblock_offset: base,
            al_offset: base + SUPERBLOCK_BYTES,
            bm_offset: base + SUPERBLOCK_BYTES + al_bytes,
            bm_bytes,
            md_size_sectors: (SUPERBLOCK_BYTES + al_bytes + bm_bytes) / 512,
            usable_sectors: usable,
        }
    }

    /// AL offset relative to the superblock, in sectors (DRBD's `al_offset`).
    pub fn al_offset_rel_sectors(&self) -> i64 {
        (self.al_offset as i64 - self.superblock_offset as i64) / 512
    }

    /// Bitmap offset relative to the superblock, in sectors (DRBD's `bm_offset`).
    pub fn bm_offset_rel_sectors(&self) -> i64 {
        (self.bm_offset as i64 - self.superblock_offset as i64) / 512
    }

    /// Byte offset on the metadata target of AL ring block `ring_block`.
    pub fn al_block_offset(&self, ring_block: u32) -> u64 {
        self.al_offset + u64::from(ring_block) * 4096
    }

    /// Byte offset on the metadata target of bitmap page `page`.
    pub fn bm_page_offset(&self, page: usize) -> u64 {
        self.bm_offset + page as u64 * PAGE_SIZE as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn internal_one_gib() {
        let l = Layout::compute(Placement::Internal, AlConfig::default(), GIB, 0).unwrap();
        assert_eq!(l.superblock_offset, GIB - 4096);
        assert_eq!(l.al_offset, GIB - 4096 - 32768);
        assert_eq!(l.al_offset_rel_sectors(), -64);
        assert_eq!(l.bm_bytes, 9 * 4096);
        assert_eq!(l.bm_offset, l.al_offset - l.bm_bytes);
        assert_eq!(l.usable_sectors * 512, l.bm_offset);
        assert_eq!(l.md_size_sectors, (4096 + 32768 + 9 * 4096) / 512);
        assert_eq!(l.bm_offset_rel_sectors(), -(l.md_size_sectors as i64) + 8);
        // The bitmap covers the usable area.
        assert!(bitmap::bytes_for_capacity(l.usable_sectors) <= l.bm_bytes);
    }

    #[test]
    fn internal_unaligned_size_pads() {
        let l =
            Layout::compute(Placement::Internal, AlConfig::default(), GIB + 3 * 512, 0).unwrap();
        assert_eq!(l.superblock_offset, GIB - 4096, "last 4 KiB-aligned block");
    }

    #[test]
    fn internal_too_small_says_how_much() {
        let e =
            Layout::compute(Placement::Internal, AlConfig::default(), 512 * 1024, 0).unwrap_err();
        assert_eq!(
            e,
            LayoutError::TooSmall {
                what: "backing device",
                have: 512 * 1024,
                need: (1 << 20) + 4096 + 32768 + 4096
            }
        );
        assert!(e.to_string().contains("needs at least 1089536 bytes"), "{e}");
    }

    #[test]
    fn external_layouts() {
        let l = Layout::compute(Placement::FlexibleExternal, AlConfig::default(), 4 * GIB, 1 << 20)
            .unwrap();
        assert_eq!((l.superblock_offset, l.al_offset, l.bm_offset), (0, 4096, 4096 + 32768));
        assert_eq!(l.usable_sectors, 8 * 1024 * 1024);
        assert_eq!(l.bm_offset_rel_sectors(), 72);
        let e =
            Layout::compute(Placement::FlexibleExternal, AlConfig::default(), 4 * GIB, 64 << 10)
                .unwrap_err();
        assert!(matches!(e, LayoutError::TooSmall { what: "meta device", .. }));
        let l = Layout::compute(
            Placement::Indexed(2),
            AlConfig::default(),
            8 << 40,
            3 * INDEXED_SLOT_BYTES,
        )
        .unwrap();
        assert_eq!(l.superblock_offset, 2 * INDEXED_SLOT_BYTES);
        assert!(l.usable_sectors < (8u64 << 40) / 512, "indexed limits the data size");
        assert!(l.usable_sectors * 512 > 3 << 40, "≈4 TiB");
        assert!(l.bm_offset + l.bm_bytes <= 3 * INDEXED_SLOT_BYTES);
        let e = Layout::compute(
            Placement::Indexed(3),
            AlConfig::default(),
            GIB,
            3 * INDEXED_SLOT_BYTES,
        )
        .unwrap_err();
        assert_eq!(
            e,
            LayoutError::TooSmall {
                what: "meta device",
                have: 3 * INDEXED_SLOT_BYTES,
                need: 4 * INDEXED_SLOT_BYTES
            }
        );
        assert_eq!(
            Placement::from_index(Placement::Indexed(5).index()),
            Some(Placement::Indexed(5))
        );
        assert_eq!(Placement::from_index(-3), None);
    }
}
