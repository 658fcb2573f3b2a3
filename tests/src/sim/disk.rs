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
    let mut v = vec![0u8; len_sectors as usize * 512];
    for i in 0..len_sectors {
        let o = i as usize * 512;
        v[o..o + 8].copy_from_slice(&stamps(i).to_le_bytes());
    }
    Arc::from(v)
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

/// One simulated disk.
#[derive(Debug)]
pub struct SimDisk {
    /// Size in sectors.
    pub size_sectors: u64,
    durable: BTreeMap<u64, u64>,
    cache: BTreeMap<u64, u64>,
    /// Durable metadata.
    pub meta: MetaStore,
    /// Probability that a data read fails with EIO.
    pub read_eio: f64,
    /// Counters.
    pub flushes: u64,
}

impl SimDisk {
    /// Fresh disk with `create-md` metadata (JUST_CREATED UUID, empty bitmap).
    pub fn new(size_sectors: u64) -> Self {
        let sb = SuperblockImage {
            uuids: Uuids::just_created(),
            flags: MdFlags::default(),
            size_sectors,
        };
        SimDisk {
            size_sectors,
            durable: BTreeMap::new(),
            cache: BTreeMap::new(),
            meta: MetaStore { sb: Some(sb), ..MetaStore::default() },
            read_eio: 0.0,
            flushes: 0,
        }
    }

    /// Current content of a sector (what a read returns).
    pub fn sector(&self, s: u64) -> u64 {
        self.cache.get(&s).or_else(|| self.durable.get(&s)).copied().unwrap_or(0)
    }

    /// Every sector ever written (cache or durable).
    pub fn written_sectors(&self) -> impl Iterator<Item = u64> + '_ {
        self.durable.keys().chain(self.cache.keys()).copied()
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
                for i in 0..n {
                    let st = stamp_of(data, i);
                    let s = sector + i as u64;
                    if *fua {
                        self.cache.remove(&s);
                        self.durable.insert(s, st);
                    } else {
                        self.cache.insert(s, st);
                    }
                }
                Ok(None)
            }
            DiskOpKind::Flush => {
                self.flush();
                Ok(None)
            }
        }
    }

    /// Make the cache durable.
    pub fn flush(&mut self) {
        self.flushes += 1;
        let cache = std::mem::take(&mut self.cache);
        self.durable.extend(cache);
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
        let cache = std::mem::take(&mut self.cache);
        for (s, v) in cache {
            if rng.chance(0.5) {
                self.durable.insert(s, v);
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
