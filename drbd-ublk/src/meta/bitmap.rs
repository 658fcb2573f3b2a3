//! The quick-sync bitmap: one bit per 4 KiB block of the replicated device, 1 = out of sync.
//!
//! # Mechanism
//!
//! * The bitmap is allocated once for a device size ([`Bitmap::new`]); nothing on its paths
//!   allocates afterwards.
//! * Bit `b` covers sectors `8b .. 8b+8`. Marking a sector range **out of sync rounds outward**
//!   (a partly touched block is out of sync), marking it **in sync rounds inward** (only blocks
//!   the range covers completely become in sync). The last block of a device whose size is not
//!   a multiple of 8 sectors counts as covered when a range reaches the device end.
//! * The number of set bits is kept as a counter, so [`Bitmap::count_out_of_sync`] is O(1).
//! * The bitmap is persisted in 4 KiB pages. Every change marks the page that holds it dirty;
//!   the writer asks for [`Bitmap::dirty_pages`], encodes each with [`Bitmap::encode_page`],
//!   writes it and calls [`Bitmap::clear_dirty`]. Pages an activity-log eviction depends on are
//!   found with [`Bitmap::pages_for_sectors`].
//!
//! DRBD 8.4 vs 9: we follow 8.4 — one peer, so one bitmap (9 interleaves `max_peers` bitmaps
//! word by word) and a fixed 4 KiB per bit (recent 9.x allows larger granularities).
//!
//! # On-disk page (our layout, in DRBD's spirit, big-endian)
//!
//! DRBD stores raw bitmap words without any checksum. We give every page a 16-byte header so a
//! torn or misdirected page write is detected:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `0x4442_4d50` ("DBMP") |
//! | 4 | 4 | page number |
//! | 8 | 4 | crc32c of the whole 4 KiB with this field zero |
//! | 12 | 4 | reserved, 0 |
//! | 16 | 4080 | 510 bitmap words, u64 big-endian, bit `i` of word `w` = block `64w + i` |
//!
//! So one page covers 32 640 blocks (≈127.5 MiB of data) instead of DRBD's 32 768; for large devices the bitmap
//! is ≈0.4 % larger than DRBD's (plus rounding to whole pages). Bits past the device end are always 0; a
//! page that has one set is rejected on decode.

use std::ops::Range;

/// Bytes of one bitmap page on disk.
pub const PAGE_SIZE: usize = 4096;
/// Header bytes at the start of every on-disk page.
pub const PAGE_HEADER: usize = 16;
/// Bitmap words (u64) per on-disk page.
pub const WORDS_PER_PAGE: usize = (PAGE_SIZE - PAGE_HEADER) / 8;
/// Blocks (bits) per on-disk page.
pub const BLOCKS_PER_PAGE: u64 = WORDS_PER_PAGE as u64 * 64;
/// Sectors per bitmap block (4 KiB).
pub const SECTORS_PER_BLOCK: u64 = 8;
/// Magic number of a bitmap page ("DBMP").
pub const PAGE_MAGIC: u32 = 0x4442_4d50;

/// Errors decoding a bitmap page.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BitmapError {
    /// The buffer is not exactly one page.
    #[error("bitmap page {page}: buffer is {len} bytes, expected {PAGE_SIZE}")]
    BadLength {
        /// Page number.
        page: usize,
        /// Buffer length.
        len: usize,
    },
    /// Page number out of range for this bitmap.
    #[error("bitmap page {page} does not exist (bitmap has {pages} pages)")]
    NoSuchPage {
        /// Page number.
        page: usize,
        /// Pages of this bitmap.
        pages: usize,
    },
    /// Magic number wrong (never written, or not a bitmap page).
    #[error("bitmap page {page}: bad magic {found:#010x}")]
    BadMagic {
        /// Page number.
        page: usize,
        /// Magic found.
        found: u32,
    },
    /// Checksum mismatch (torn or corrupted write).
    #[error(
        "bitmap page {page}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    BadChecksum {
        /// Page number.
        page: usize,
        /// Checksum stored in the page.
        stored: u32,
        /// Checksum computed over the page.
        computed: u32,
    },
    /// The page carries another page's number (misdirected write).
    #[error("bitmap page {page}: header says page {found}")]
    WrongPage {
        /// Page number expected.
        page: usize,
        /// Page number found.
        found: u32,
    },
    /// A bit past the end of the device is set.
    #[error("bitmap page {page}: bits set past the end of the device")]
    BitsPastEnd {
        /// Page number.
        page: usize,
    },
    /// Two bitmaps of different sizes were merged.
    #[error("bitmap size mismatch: {ours} blocks here, {theirs} in the other")]
    SizeMismatch {
        /// Blocks of this bitmap.
        ours: u64,
        /// Blocks of the other.
        theirs: u64,
    },
}

/// In-memory bitmap with a set-bit counter and dirty-page tracking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitmap {
    capacity_sectors: u64,
    blocks: u64,
    words: Vec<u64>,
    set: u64,
    dirty: Vec<u64>,
    dirty_count: usize,
}

/// Number of on-disk pages a bitmap for `capacity_sectors` needs.
pub const fn pages_for_capacity(capacity_sectors: u64) -> u64 {
    let blocks = capacity_sectors.div_ceil(SECTORS_PER_BLOCK);
    let pages = blocks.div_ceil(BLOCKS_PER_PAGE);
    if pages == 0 {
        1
    } else {
        pages
    }
}

/// Bytes on disk of a bitmap for `capacity_sectors` (a multiple of 4 KiB, at least one page).
pub const fn bytes_for_capacity(capacity_sectors: u64) -> u64 {
    pages_for_capacity(capacity_sectors) * PAGE_SIZE as u64
}

impl Bitmap {
    /// Bitmap for a device of `capacity_sectors` sectors, all blocks in sync, no page dirty.
    pub fn new(capacity_sectors: u64) -> Self {
        let blocks = capacity_sectors.div_ceil(SECTORS_PER_BLOCK);
        let pages = pages_for_capacity(capacity_sectors) as usize;
        Bitmap {
            capacity_sectors,
            blocks,
            words: vec![0; pages * WORDS_PER_PAGE],
            set: 0,
            dirty: vec![0; pages.div_ceil(64)],
            dirty_count: 0,
        }
    }

    /// Device size this bitmap covers, in sectors.
    pub fn capacity_sectors(&self) -> u64 {
        self.capacity_sectors
    }

    /// Number of 4 KiB blocks (bits) covered.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Number of on-disk pages.
    pub fn pages(&self) -> usize {
        self.words.len() / WORDS_PER_PAGE
    }

    /// All bitmap words (bit `i` of word `w` = block `64w + i`), e.g. for the bitmap exchange.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Number of out-of-sync blocks (O(1)).
    pub fn count_out_of_sync(&self) -> u64 {
        self.set
    }

    /// Out-of-sync data in bytes (blocks × 4 KiB).
    pub fn bytes_out_of_sync(&self) -> u64 {
        self.set * SECTORS_PER_BLOCK * 512
    }

    /// Blocks touched by `sectors`, rounded outward, clamped to the device.
    fn outward(&self, sectors: &Range<u64>) -> Range<u64> {
        if sectors.is_empty() {
            return 0..0;
        }
        let start = (sectors.start / SECTORS_PER_BLOCK).min(self.blocks);
        let end = sectors.end.div_ceil(SECTORS_PER_BLOCK).min(self.blocks);
        start..end.max(start)
    }

    /// Blocks fully covered by `sectors`, rounded inward (the device end counts as covering the
    /// partial last block), clamped to the device.
    fn inward(&self, sectors: &Range<u64>) -> Range<u64> {
        let start = sectors.start.div_ceil(SECTORS_PER_BLOCK).min(self.blocks);
        let end = if sectors.end >= self.capacity_sectors {
            self.blocks
        } else {
            sectors.end / SECTORS_PER_BLOCK
        };
        start..end.max(start)
    }

    /// Mark `sectors` out of sync (partial blocks round outward). Returns the number of blocks
    /// that changed from in sync to out of sync.
    pub fn set_out_of_sync(&mut self, sectors: Range<u64>) -> u64 {
        let blocks = self.outward(&sectors);
        self.set_blocks(blocks, true)
    }

    /// Mark `sectors` in sync (partial blocks round inward). Returns the number of blocks that
    /// changed from out of sync to in sync.
    pub fn set_in_sync(&mut self, sectors: Range<u64>) -> u64 {
        let blocks = self.inward(&sectors);
        self.set_blocks(blocks, false)
    }

    /// Set (`out_of_sync`) or clear a range of blocks; returns how many bits changed.
    pub fn set_blocks(&mut self, blocks: Range<u64>, out_of_sync: bool) -> u64 {
        let end = blocks.end.min(self.blocks);
        let mut b = blocks.start;
        let mut changed = 0u64;
        while b < end {
            let w = (b / 64) as usize;
            let lo = b % 64;
            let hi = (end - w as u64 * 64).min(64);
            let mask = if hi - lo == 64 { u64::MAX } else { ((1u64 << (hi - lo)) - 1) << lo };
            let old = self.words[w];
            let new = if out_of_sync { old | mask } else { old & !mask };
            if new != old {
                changed += u64::from((old ^ new).count_ones());
                self.words[w] = new;
                self.mark_dirty(w / WORDS_PER_PAGE);
            }
            b = (w as u64 + 1) * 64;
        }
        if out_of_sync {
            self.set += changed;
        } else {
            self.set -= changed;
        }
        changed
    }

    /// True if `block` is out of sync (false past the device end).
    pub fn is_out_of_sync(&self, block: u64) -> bool {
        block < self.blocks && self.words[(block / 64) as usize] & (1 << (block % 64)) != 0
    }

    /// True if any block touched by `sectors` is out of sync.
    pub fn any_out_of_sync(&self, sectors: Range<u64>) -> bool {
        let blocks = self.outward(&sectors);
        self.next_out_of_sync(blocks.start).is_some_and(|b| b < blocks.end)
    }

    /// First out-of-sync block at or after `from_block`.
    pub fn next_out_of_sync(&self, from_block: u64) -> Option<u64> {
        self.next_with(from_block, false)
    }

    /// First in-sync block at or after `from_block` (useful to find the end of a run).
    pub fn next_in_sync(&self, from_block: u64) -> Option<u64> {
        self.next_with(from_block, true)
    }

    fn next_with(&self, from_block: u64, invert: bool) -> Option<u64> {
        if from_block >= self.blocks {
            return None;
        }
        let mut w = (from_block / 64) as usize;
        let mut word = if invert { !self.words[w] } else { self.words[w] };
        word &= u64::MAX << (from_block % 64);
        let last = ((self.blocks - 1) / 64) as usize;
        loop {
            if word != 0 {
                let b = w as u64 * 64 + u64::from(word.trailing_zeros());
                return (b < self.blocks).then_some(b);
            }
            w += 1;
            if w > last {
                return None;
            }
            word = if invert { !self.words[w] } else { self.words[w] };
        }
    }

    /// Mark every block out of sync (full sync); every page becomes dirty.
    pub fn set_all(&mut self) {
        self.set_blocks(0..self.blocks, true);
        self.mark_all_dirty();
    }

    /// Mark every block in sync; every page becomes dirty.
    pub fn clear_all(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
        self.set = 0;
        self.mark_all_dirty();
    }

    /// OR a peer's bitmap into this one (same device size required). Returns the number of
    /// blocks that became out of sync here.
    ///
    /// # Errors
    /// [`BitmapError::SizeMismatch`] if the sizes differ; nothing is changed then.
    pub fn merge(&mut self, other: &Bitmap) -> Result<u64, BitmapError> {
        if other.blocks != self.blocks {
            return Err(BitmapError::SizeMismatch { ours: self.blocks, theirs: other.blocks });
        }
        Ok(self.merge_words(0, &other.words))
    }

    /// OR `words` into this bitmap starting at word index `first_word` (a chunk of a peer's
    /// bitmap received over the wire). Words past the end and bits past the device end are
    /// ignored. Returns the number of blocks that became out of sync.
    pub fn merge_words(&mut self, first_word: usize, words: &[u64]) -> u64 {
        let mut changed = 0;
        for (i, &theirs) in words.iter().enumerate() {
            let w = first_word + i;
            if w >= self.words.len() {
                break;
            }
            let valid = self.valid_mask(w);
            let old = self.words[w];
            let new = old | (theirs & valid);
            if new != old {
                changed += u64::from((new ^ old).count_ones());
                self.words[w] = new;
                self.mark_dirty(w / WORDS_PER_PAGE);
            }
        }
        self.set += changed;
        changed
    }

    /// Mask of the bits of word `w` that lie inside the device.
    fn valid_mask(&self, w: usize) -> u64 {
        let first = w as u64 * 64;
        if first + 64 <= self.blocks {
            u64::MAX
        } else if first >= self.blocks {
            0
        } else {
            (1u64 << (self.blocks - first)) - 1
        }
    }

    fn mark_dirty(&mut self, page: usize) {
        let (i, bit) = (page / 64, 1u64 << (page % 64));
        if self.dirty[i] & bit == 0 {
            self.dirty[i] |= bit;
            self.dirty_count += 1;
        }
    }

    /// Mark every page dirty (e.g. before a full write-out).
    pub fn mark_all_dirty(&mut self) {
        for p in 0..self.pages() {
            self.mark_dirty(p);
        }
    }

    /// True if `page` changed since it was last written.
    pub fn is_page_dirty(&self, page: usize) -> bool {
        page < self.pages() && self.dirty[page / 64] & (1 << (page % 64)) != 0
    }

    /// Number of dirty pages.
    pub fn dirty_page_count(&self) -> usize {
        self.dirty_count
    }

    /// Dirty pages in ascending order.
    pub fn dirty_pages(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.pages()).filter(|&p| self.is_page_dirty(p))
    }

    /// Forget that `page` is dirty (after it was written durably).
    pub fn clear_dirty(&mut self, page: usize) {
        if self.is_page_dirty(page) {
            self.dirty[page / 64] &= !(1 << (page % 64));
            self.dirty_count -= 1;
        }
    }

    /// Page holding `block`.
    pub fn page_of_block(block: u64) -> usize {
        (block / BLOCKS_PER_PAGE) as usize
    }

    /// Pages holding the bits of `sectors` (rounded outward). Used to write the pages that
    /// cover an activity-log extent before the extent is evicted.
    pub fn pages_for_sectors(&self, sectors: Range<u64>) -> Range<usize> {
        let blocks = self.outward(&sectors);
        if blocks.is_empty() {
            return 0..0;
        }
        Self::page_of_block(blocks.start)..Self::page_of_block(blocks.end - 1) + 1
    }

    /// Encode `page` into `buf` (exactly [`PAGE_SIZE`] bytes) with header and checksum.
    ///
    /// # Panics
    /// If `page` is out of range or `buf` is not one page (programmer errors).
    pub fn encode_page(&self, page: usize, buf: &mut [u8]) {
        assert!(page < self.pages(), "bitmap page {page} out of range");
        assert_eq!(buf.len(), PAGE_SIZE, "bitmap page buffer size");
        buf[0..4].copy_from_slice(&PAGE_MAGIC.to_be_bytes());
        buf[4..8].copy_from_slice(&(page as u32).to_be_bytes());
        buf[8..16].fill(0);
        let words = &self.words[page * WORDS_PER_PAGE..(page + 1) * WORDS_PER_PAGE];
        for (chunk, w) in buf[PAGE_HEADER..].chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_be_bytes());
        }
        let crc = crc32c::crc32c(buf);
        buf[8..12].copy_from_slice(&crc.to_be_bytes());
    }

    /// Decode `page` from `buf`, replacing the in-memory words of that page (the page is not
    /// marked dirty; the set-bit counter is updated).
    ///
    /// # Errors
    /// Bad length, magic, checksum, page number, or bits past the device end; the bitmap is
    /// unchanged then.
    pub fn decode_page(&mut self, page: usize, buf: &[u8]) -> Result<(), BitmapError> {
        check_page(page, self.pages(), buf)?;
        let base = page * WORDS_PER_PAGE;
        for (i, chunk) in buf[PAGE_HEADER..].chunks_exact(8).enumerate() {
            let w = u64::from_be_bytes(chunk.try_into().expect("8-byte chunk"));
            if w & !self.valid_mask(base + i) != 0 {
                return Err(BitmapError::BitsPastEnd { page });
            }
        }
        for (i, chunk) in buf[PAGE_HEADER..].chunks_exact(8).enumerate() {
            let w = u64::from_be_bytes(chunk.try_into().expect("8-byte chunk"));
            let old = self.words[base + i];
            self.set = self.set - u64::from(old.count_ones()) + u64::from(w.count_ones());
            self.words[base + i] = w;
        }
        Ok(())
    }
}

/// Verify header and checksum of an encoded page.
fn check_page(page: usize, pages: usize, buf: &[u8]) -> Result<(), BitmapError> {
    if buf.len() != PAGE_SIZE {
        return Err(BitmapError::BadLength { page, len: buf.len() });
    }
    if page >= pages {
        return Err(BitmapError::NoSuchPage { page, pages });
    }
    let be32 = |o: usize| u32::from_be_bytes(buf[o..o + 4].try_into().expect("4 bytes"));
    let magic = be32(0);
    if magic != PAGE_MAGIC {
        return Err(BitmapError::BadMagic { page, found: magic });
    }
    let stored = be32(8);
    let computed = crc32c::crc32c_append(crc32c::crc32c(&buf[..8]), &[0u8; 4]);
    let computed = crc32c::crc32c_append(computed, &buf[12..]);
    if stored != computed {
        return Err(BitmapError::BadChecksum { page, stored, computed });
    }
    let found = be32(4);
    if found as usize != page {
        return Err(BitmapError::WrongPage { page, found });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference model: a plain Vec<bool>.
    fn model_count(m: &[bool]) -> u64 {
        m.iter().filter(|&&b| b).count() as u64
    }

    #[test]
    fn rounding_outward_and_inward() {
        let mut bm = Bitmap::new(1000); // 125 blocks
        assert_eq!(bm.blocks(), 125);
        assert_eq!(bm.set_out_of_sync(9..10), 1);
        assert!(bm.is_out_of_sync(1));
        assert_eq!(bm.set_out_of_sync(7..17), 2, "blocks 0 and 2 newly set");
        assert_eq!(bm.count_out_of_sync(), 3);
        assert_eq!(bm.set_in_sync(1..23), 1, "only block 1 is fully covered");
        assert!(bm.is_out_of_sync(0) && !bm.is_out_of_sync(1) && bm.is_out_of_sync(2));
        assert_eq!(bm.set_in_sync(0..24), 2);
        assert_eq!(bm.count_out_of_sync(), 0);
    }

    #[test]
    fn partial_last_block_and_clamping() {
        let mut bm = Bitmap::new(1001); // 126 blocks, the last one holds 1 sector
        assert_eq!(bm.blocks(), 126);
        assert_eq!(bm.set_out_of_sync(1000..1001), 1);
        assert!(bm.is_out_of_sync(125));
        assert_eq!(bm.set_in_sync(1000..1001), 1, "device end covers the partial block");
        assert_eq!(bm.set_out_of_sync(900..5000), 14, "clamped to the device");
        assert!(!bm.is_out_of_sync(126));
    }

    #[test]
    fn next_out_of_sync_and_in_sync() {
        let mut bm = Bitmap::new(8 * 1000);
        assert_eq!(bm.next_out_of_sync(0), None);
        bm.set_blocks(130..135, true);
        bm.set_blocks(999..1000, true);
        assert_eq!(bm.next_out_of_sync(0), Some(130));
        assert_eq!(bm.next_out_of_sync(134), Some(134));
        assert_eq!(bm.next_out_of_sync(135), Some(999));
        assert_eq!(bm.next_out_of_sync(1000), None);
        assert_eq!(bm.next_in_sync(130), Some(135));
        assert_eq!(bm.next_in_sync(999), None);
        assert!(bm.any_out_of_sync(8 * 134..8 * 140));
        assert!(!bm.any_out_of_sync(8 * 135..8 * 999));
    }

    #[test]
    fn counter_matches_model_under_random_ops() {
        let blocks = 70_000u64; // three pages
        let mut bm = Bitmap::new(blocks * 8 - 3);
        let mut model = vec![false; bm.blocks() as usize];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..3000 {
            let start = rnd(blocks * 8);
            let big = rnd(10) == 0;
            let len = rnd(if big { 300_000 } else { 100 });
            let r = start..start + len;
            let set = rnd(2) == 0;
            if set {
                bm.set_out_of_sync(r.clone());
                let blocks = bm.outward(&r);
                for b in blocks {
                    model[b as usize] = true;
                }
            } else {
                bm.set_in_sync(r.clone());
                let blocks = bm.inward(&r);
                for b in blocks {
                    model[b as usize] = false;
                }
            }
            assert_eq!(bm.count_out_of_sync(), model_count(&model));
        }
        for (b, &m) in model.iter().enumerate() {
            assert_eq!(bm.is_out_of_sync(b as u64), m, "block {b}");
        }
        let first = model.iter().position(|&b| b).map(|p| p as u64);
        assert_eq!(bm.next_out_of_sync(0), first);
    }

    #[test]
    fn dirty_pages_and_encode_roundtrip() {
        let mut bm = Bitmap::new(BLOCKS_PER_PAGE * 8 * 3 + 80);
        assert_eq!(bm.pages(), 4);
        assert_eq!(bm.dirty_page_count(), 0);
        bm.set_blocks(BLOCKS_PER_PAGE + 5..BLOCKS_PER_PAGE + 9, true);
        bm.set_blocks(3 * BLOCKS_PER_PAGE + 9..3 * BLOCKS_PER_PAGE + 10, true);
        assert_eq!(bm.dirty_pages().collect::<Vec<_>>(), vec![1, 3]);
        let mut copy = Bitmap::new(bm.capacity_sectors());
        let mut buf = vec![0u8; PAGE_SIZE];
        for p in bm.dirty_pages().collect::<Vec<_>>() {
            bm.encode_page(p, &mut buf);
            copy.decode_page(p, &buf).unwrap();
            bm.clear_dirty(p);
        }
        assert_eq!(bm.dirty_page_count(), 0);
        assert_eq!(copy.words(), bm.words());
        assert_eq!(copy.count_out_of_sync(), 5);
        assert_eq!(copy.dirty_page_count(), 0, "decode does not dirty");
        // Re-setting an already set bit does not dirty the page.
        bm.set_blocks(BLOCKS_PER_PAGE + 5..BLOCKS_PER_PAGE + 6, true);
        assert_eq!(bm.dirty_page_count(), 0);
    }

    #[test]
    fn decode_detects_corruption() {
        let mut bm = Bitmap::new(8 * 100_000);
        bm.set_blocks(10..20, true);
        let mut buf = vec![0u8; PAGE_SIZE];
        bm.encode_page(0, &mut buf);
        let mut other = Bitmap::new(bm.capacity_sectors());
        let mut bad = buf.clone();
        bad[100] ^= 0x10;
        assert!(matches!(
            other.decode_page(0, &bad),
            Err(BitmapError::BadChecksum { page: 0, .. })
        ));
        assert_eq!(other.count_out_of_sync(), 0, "nothing changed");
        assert!(matches!(
            other.decode_page(1, &buf),
            Err(BitmapError::WrongPage { page: 1, found: 0 })
        ));
        let zero = vec![0u8; PAGE_SIZE];
        assert!(matches!(other.decode_page(0, &zero), Err(BitmapError::BadMagic { .. })));
        assert!(matches!(other.decode_page(0, &buf[..100]), Err(BitmapError::BadLength { .. })));
        // A bit past the device end, with a valid checksum, is refused too.
        let small = Bitmap::new(8 * 10);
        let mut tmp = small.clone();
        tmp.words[0] = 1 << 20;
        tmp.encode_page(0, &mut buf);
        let mut s2 = small.clone();
        assert_eq!(s2.decode_page(0, &buf), Err(BitmapError::BitsPastEnd { page: 0 }));
    }

    #[test]
    fn set_all_clear_all_merge() {
        let mut a = Bitmap::new(8 * 1000 + 4);
        a.set_all();
        assert_eq!(a.count_out_of_sync(), 1001);
        assert_eq!(a.next_in_sync(0), None);
        a.clear_all();
        assert_eq!(a.count_out_of_sync(), 0);
        assert_eq!(a.dirty_page_count(), 1);
        let mut b = Bitmap::new(a.capacity_sectors());
        a.set_blocks(5..10, true);
        b.set_blocks(8..20, true);
        assert_eq!(a.merge(&b), Ok(10));
        assert_eq!(a.count_out_of_sync(), 15);
        assert_eq!(a.next_in_sync(5), Some(20));
        let c = Bitmap::new(8 * 999);
        assert!(matches!(a.merge(&c), Err(BitmapError::SizeMismatch { .. })));
        // Wire chunks: bits past the end are ignored.
        let mut d = Bitmap::new(8 * 70);
        assert_eq!(d.merge_words(1, &[u64::MAX, u64::MAX]), 6);
        assert_eq!(d.count_out_of_sync(), 6);
    }

    #[test]
    fn pages_for_sectors_and_sizes() {
        let bm = Bitmap::new(8 * BLOCKS_PER_PAGE * 2);
        assert_eq!(bm.pages_for_sectors(0..8), 0..1);
        let e = 8 * BLOCKS_PER_PAGE - 8192 / 2;
        assert_eq!(bm.pages_for_sectors(e..e + 8192), 0..2, "an extent may straddle pages");
        assert_eq!(bm.pages_for_sectors(5..5), 0..0);
        assert_eq!(bytes_for_capacity(0), 4096);
        // 1 GiB of data: 262 144 blocks → 9 pages (36 KiB).
        assert_eq!(bytes_for_capacity(2 * 1024 * 1024), 9 * 4096);
    }
}
