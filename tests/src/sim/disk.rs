//! Simulated backing device: sector-atomic writes into a volatile cache, flushes, metadata
//! area, crashes that persist an arbitrary subset of unflushed sectors (torn writes), and
//! read-error injection.
//!
//! Data is modelled per 512-byte sector as a 64-bit stamp (the first 8 bytes of the sector;
//! the rest is zero), which keeps large devices cheap while the engine still sees real bytes.

use super::prng::Prng;
use drbd_ublk::meta::activity_log::{recover, AlConfig, AL_BLOCK_SIZE};
use drbd_ublk::meta::bitmap::Bitmap;
use drbd_ublk::meta::generation::{MdFlags, Uuids};
use drbd_ublk::repl::{AttachMeta, DiskOpKind, IoError, MetaWrite, Payload, SuperblockImage};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Build a payload whose sectors carry `stamp`.
pub fn payload(len_sectors: u32, stamps: impl Fn(u32) -> u64) -> Payload {
    // Collected straight into the shared allocation (no second copy), then stamped while
    // this is its only owner.
    let mut p: Payload = std::iter::repeat(0u8).take(len_sectors as usize * 512).collect();
    let v = Arc::get_mut(&mut p).expect("fresh payload has one owner");
    for i in 0..len_sectors {
        let o = i as usize * 512;
        v[o..o + 8].copy_from_slice(&stamps(i).to_le_bytes());
    }
    p
}

/// Stamp of sector `i` of a payload.
pub fn stamp_of(p: &[u8], i: usize) -> u64 {
    let o = i * 512;
    u64::from_le_bytes(p[o..o + 8].try_into().expect("8 bytes"))
}

/// Durable metadata of one node.
#[derive(Clone, Debug, Default)]
pub struct MetaStore {
    /// Superblock, if ever written.
    pub sb: Option<SuperblockImage>,
    /// AL ring blocks.
    pub al: BTreeMap<u32, Vec<u8>>,
    /// Bitmap pages.
    pub bm: BTreeMap<usize, Vec<u8>>,
}

/// Sectors per chunk of the "ever written" index that lets comparisons skip untouched areas.
const CHUNK_SECTORS: u64 = 4096;

/// One simulated disk.
///
/// Sector stamps live in flat arrays: `durable` is the medium, `cache` holds unflushed
/// writes for the sectors listed in `dirty` (flagged in `cached`). A chunk index records
/// which areas were ever written, so comparing two disks skips untouched space.
#[derive(Debug)]
pub struct SimDisk {
    /// Size in sectors.
    pub size_sectors: u64,
    durable: Vec<u64>,
    cache: Vec<u64>,
    cached: Vec<bool>,
    dirty: Vec<u64>,
    touched: Vec<bool>,
    /// Durable metadata.
    pub meta: MetaStore,
    /// Probability that a data read fails with EIO.
    pub read_eio: f64,
    /// Counters.
    pub flushes: u64,
    /// No volatile cache: every write is durable when it completes.
    pub write_through: bool,
}

impl SimDisk {
    /// Fresh disk with `create-md` metadata (JUST_CREATED UUID, empty bitmap).
    pub fn new(size_sectors: u64) -> Self {
        let sb = SuperblockImage {
            uuids: Uuids::just_created(),
            flags: MdFlags::default(),
            size_sectors,
        };
        let n = size_sectors as usize;
        SimDisk {
            size_sectors,
            durable: vec![0; n],
            cache: vec![0; n],
            cached: vec![false; n],
            dirty: Vec::new(),
            touched: vec![false; size_sectors.div_ceil(CHUNK_SECTORS) as usize],
            meta: MetaStore { sb: Some(sb), ..MetaStore::default() },
            read_eio: 0.0,
            flushes: 0,
            write_through: false,
        }
    }

    /// Current content of a sector (what a read returns).
    pub fn sector(&self, s: u64) -> u64 {
        let i = s as usize;
        match self.cached.get(i) {
            Some(true) => self.cache[i],
            Some(false) => self.durable[i],
            None => 0,
        }
    }

    /// Every sector of every chunk ever written (cache or durable); a superset of the
    /// sectors that can hold anything but zero.
    pub fn written_sectors(&self) -> impl Iterator<Item = u64> + '_ {
        let size = self.size_sectors;
        self.touched.iter().enumerate().filter(|(_, &t)| t).flat_map(move |(c, _)| {
            let start = c as u64 * CHUNK_SECTORS;
            start..(start + CHUNK_SECTORS).min(size)
        })
    }

    /// Sectors (ascending) whose current content differs between `self` and `other`.
    pub fn differing_sectors<'a>(&'a self, other: &'a SimDisk) -> impl Iterator<Item = u64> + 'a {
        let size = self.size_sectors.max(other.size_sectors);
        let chunks = size.div_ceil(CHUNK_SECTORS) as usize;
        (0..chunks)
            .filter(move |&c| {
                self.touched.get(c).copied().unwrap_or(false)
                    || other.touched.get(c).copied().unwrap_or(false)
            })
            .flat_map(move |c| {
                let start = c as u64 * CHUNK_SECTORS;
                start..(start + CHUNK_SECTORS).min(size)
            })
            .filter(move |&s| self.sector(s) != other.sector(s))
    }

    fn store(&mut self, s: u64, stamp: u64, fua: bool) {
        let i = s as usize;
        self.touched[(s / CHUNK_SECTORS) as usize] = true;
        if fua {
            // A FUA write reaches the medium; an older unflushed copy is superseded.
            self.cached[i] = false;
            self.durable[i] = stamp;
        } else {
            if !self.cached[i] {
                self.cached[i] = true;
                self.dirty.push(s);
            }
            self.cache[i] = stamp;
        }
    }

    /// Execute a data operation now. Returns the completion result.
    pub fn execute(
        &mut self,
        kind: &DiskOpKind,
        rng: &mut Prng,
    ) -> Result<Option<Payload>, IoError> {
        match kind {
            DiskOpKind::Read { sector, len } => {
                if rng.chance(self.read_eio) {
                    return Err(IoError::Eio);
                }
                let s0 = *sector;
                Ok(Some(payload(*len, |i| self.sector(s0 + u64::from(i)))))
            }
            DiskOpKind::Write { sector, data, fua } => {
                let n = data.len() / 512;
                let durable = *fua || self.write_through;
                for i in 0..n {
                    self.store(sector + i as u64, stamp_of(data, i), durable);
                }
                Ok(None)
            }
            DiskOpKind::Flush => {
                self.flush();
                Ok(None)
            }
        }
    }

    /// The same disk without a volatile cache (or with one).
    pub fn with_write_through(mut self, on: bool) -> Self {
        self.write_through = on;
        self
    }

    /// Make the cache durable.
    pub fn flush(&mut self) {
        self.flushes += 1;
        for s in self.dirty.drain(..) {
            let i = s as usize;
            // A FUA write may have superseded the cached copy since.
            if self.cached[i] {
                self.cached[i] = false;
                self.durable[i] = self.cache[i];
            }
        }
    }

    /// Apply a metadata write (preflush + FUA).
    pub fn write_meta(&mut self, w: &MetaWrite) {
        self.flush();
        match w {
            MetaWrite::Superblock(sb) => self.meta.sb = Some(*sb),
            MetaWrite::ActivityLog { ring_block, block, .. } => {
                self.meta.al.insert(*ring_block, block.clone());
            }
            MetaWrite::BitmapPages(pages) => {
                for (p, data) in pages {
                    self.meta.bm.insert(*p, data.clone());
                }
            }
        }
    }

    /// Power loss: an arbitrary subset of the unflushed sectors reaches the medium.
    pub fn crash(&mut self, rng: &mut Prng) {
        // Draw in ascending sector order, one draw per unflushed sector.
        self.dirty.sort_unstable();
        self.dirty.dedup();
        for s in self.dirty.drain(..) {
            let i = s as usize;
            if self.cached[i] {
                self.cached[i] = false;
                if rng.chance(0.5) {
                    self.durable[i] = self.cache[i];
                }
            }
        }
    }

    /// What `drbdadm attach` reads after a restart: superblock, bitmap, AL recovery.
    pub fn attach_meta(&self, al_extents: u32) -> AttachMeta {
        let sb = self.meta.sb.expect("create-md wrote a superblock");
        let mut bitmap = Bitmap::new(self.size_sectors);
        for (&p, data) in &self.meta.bm {
            if bitmap.decode_page(p, data).is_err() {
                bitmap.set_all();
            }
        }
        let mut cfg = AlConfig::default();
        cfg.al_extents = al_extents.clamp(67, cfg.max_extents());
        let mut area = vec![0u8; cfg.ring_blocks() as usize * AL_BLOCK_SIZE];
        for (&b, data) in &self.meta.al {
            let o = b as usize * AL_BLOCK_SIZE;
            area[o..o + AL_BLOCK_SIZE].copy_from_slice(data);
        }
        let rec = recover(&cfg, &area);
        AttachMeta {
            uuids: sb.uuids,
            flags: sb.flags,
            bitmap,
            hot_extents: rec.extents.clone(),
            al_next_tr: rec.next_tr(),
        }
    }
}
