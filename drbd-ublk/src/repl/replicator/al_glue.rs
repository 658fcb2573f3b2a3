//! Use of [`crate::meta::activity_log::ActivityLog`]: references per request, transactions
//! written after the bitmap pages of the extents they evict.

use super::*;
use crate::meta::activity_log::{extent_sectors, AL_BLOCK_SIZE};

impl Replicator {
    /// Take AL references for request `id`; `None` if the AL refused the range (too large).
    pub(super) fn al_begin(&mut self, id: u64) -> Option<AlBegin> {
        let r = self.reqs.get(&id)?;
        let range = r.sector..r.sector + u64::from(r.len);
        let res = self.al.begin_io(range).ok()?;
        if matches!(res, AlBegin::Go | AlBegin::AfterTransaction { .. }) {
            self.reqs.get_mut(&id).expect("request exists").al_held = true;
        }
        if matches!(res, AlBegin::AfterTransaction { .. }) {
            self.kick_al();
        }
        Some(res)
    }

    /// Drop the AL references of a released request.
    pub(super) fn al_end(&mut self, sector: u64, len: u32) {
        self.al.end_io(sector..sector + u64::from(len));
        if !self.waiting_al.is_empty() {
            self.retry_al_waiters();
        }
    }

    /// Start the next AL transaction if one is staged and none is in flight: first the bitmap
    /// pages of the evicted extents, then the transaction block (meta writes are sequential).
    pub(super) fn kick_al(&mut self) {
        if !self.al.transaction_ready() {
            return;
        }
        let mut block = vec![0u8; AL_BLOCK_SIZE];
        let Some(w) = self.al.start_transaction(&mut block) else { return };
        let mut pages: Vec<usize> = Vec::new();
        for &e in w.evicted() {
            for p in self.bitmap.pages_for_sectors(extent_sectors(e)) {
                if !pages.contains(&p) {
                    pages.push(p);
                }
            }
        }
        if !pages.is_empty() {
            let mut out = Vec::with_capacity(pages.len());
            for p in pages {
                let mut buf = vec![0u8; crate::meta::bitmap::PAGE_SIZE];
                self.bitmap.encode_page(p, &mut buf);
                self.bitmap.clear_dirty(p);
                out.push((p, buf));
            }
            self.queue_meta(MetaKind::Bitmap, MetaWrite::BitmapPages(out));
        }
        let write = MetaWrite::ActivityLog { tr: w.tr, ring_block: w.ring_block, block };
        self.queue_meta(MetaKind::Al(w.tr), write);
    }
}
