//! Asynchronous local I/O of an engine: the replicator's disk operations on io_uring.
//!
//! # Mechanism
//! [`UringIo`] wraps a [`UringDisk`] (the backing device opened with `O_DIRECT`, a pool of
//! aligned buffers allocated once, at most `queue_depth` operations in flight). A replicator
//! operation ([`DiskOpKind`]) becomes one or more ring operations ("parts") of at most one
//! pool buffer each: a write copies its payload part into the buffer; a read copies the
//! buffer into the payload it allocated when it started (a read result must be a fresh
//! `Payload`). A FUA write is a write with `RWF_DSYNC` (every part); a flush is an
//! `fdatasync` ring operation, which covers the writes completed before it, as a block-layer
//! preflush does. Operations whose parts do not all fit wait in a FIFO and go out as
//! buffers come back, in order.
//!
//! Operations in flight are independent: the replicator never has two overlapping
//! operations in flight when one of them is a write (it serialises them itself), and it only
//! issues a dependent operation (a data write after an activity-log transaction, the barrier
//! ack after an epoch's flush) after the completion it depends on was handed back. That is
//! why submitting everything at once keeps its ordering rules.
//!
//! Threads that do not hold the engine wait for completions through a [`RingWaiter`] (a second
//! descriptor of the ring); whoever then holds the engine reaps them.
//!
//! # Invariants
//! * No allocation per operation once the operation table and the FIFO reached their
//!   high-water mark, except the payload a read must return.
//! * A slot of the operation table is free exactly when none of its parts is queued or in
//!   flight.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::io::{Disk, DiskOp, OpKind, RingWaiter, UringConfig, UringDisk};
use crate::repl::{DiskOpKind, Payload};

/// Ring operations in flight at most per backing device.
pub const URING_QUEUE_DEPTH: u16 = 64;
/// Size of one pool buffer (larger operations are split).
pub const URING_BUF_BYTES: u32 = 128 * 1024;

/// Bits of a ring tag that carry the part number (the rest is the operation slot).
const PART_BITS: u32 = 24;

struct Slot {
    id: u64,
    kind: DiskOpKind,
    parts: u32,
    next: u32,
    left: u32,
    errno: Option<i32>,
    read: Option<Payload>,
}

/// A finished replicator operation.
#[derive(Debug)]
pub struct Finished {
    /// The replicator's operation id.
    pub id: u64,
    /// Read data (`Some` for reads), or the errno of the first failed part.
    pub result: Result<Option<Payload>, i32>,
    /// Bytes the operation wrote (0 for reads and flushes).
    pub written: usize,
}

/// The replicator's disk operations on io_uring (see the module documentation).
pub struct UringIo {
    disk: UringDisk,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    fifo: VecDeque<u32>,
    buf_bytes: u32,
    align: u32,
    waiter: Arc<RingWaiter>,
}

impl UringIo {
    /// Opens `path` with `O_DIRECT` and sets up the ring and its buffers.
    ///
    /// # Errors
    /// What [`UringDisk::open`] returns (no `O_DIRECT`, no io_uring, …).
    pub fn open(path: &Path) -> io::Result<UringIo> {
        let cfg = UringConfig {
            queue_depth: URING_QUEUE_DEPTH,
            buf_bytes: URING_BUF_BYTES,
            read_only: false,
        };
        let disk = UringDisk::open(path, cfg)?;
        let align = disk.alignment();
        let waiter = Arc::new(disk.waiter()?);
        let n = usize::from(URING_QUEUE_DEPTH) * 2;
        Ok(UringIo {
            disk,
            slots: (0..n).map(|_| None).collect(),
            free: (0..n as u32).rev().collect(),
            fifo: VecDeque::with_capacity(n),
            buf_bytes: URING_BUF_BYTES,
            align,
            waiter,
        })
    }

    /// Whether the ring can carry `kind` (offset and length aligned to the device's logical
    /// block size); otherwise the caller does it synchronously.
    pub fn accepts(&self, kind: &DiskOpKind) -> bool {
        let a = u64::from(self.align);
        match kind {
            DiskOpKind::Flush => true,
            DiskOpKind::Read { sector, len } => {
                (sector * 512) % a == 0 && (u64::from(*len) * 512) % a == 0 && *len > 0
            }
            DiskOpKind::Write { sector, data, .. } => {
                (sector * 512) % a == 0 && data.len() as u64 % a == 0 && !data.is_empty()
            }
        }
    }

    /// Replicator operations started and not yet finished.
    pub fn busy(&self) -> bool {
        self.free.len() != self.slots.len()
    }

    fn bytes(kind: &DiskOpKind) -> usize {
        match kind {
            DiskOpKind::Read { len, .. } => *len as usize * 512,
            DiskOpKind::Write { data, .. } => data.len(),
            DiskOpKind::Flush => 0,
        }
    }

    /// Starts a replicator operation (queues its parts; [`UringIo::submit`] hands them to
    /// the kernel).
    pub fn start(&mut self, id: u64, kind: DiskOpKind) {
        let bytes = Self::bytes(&kind);
        let parts = if bytes == 0 { 1 } else { bytes.div_ceil(self.buf_bytes as usize) as u32 };
        let read = match &kind {
            DiskOpKind::Read { .. } => Some(std::iter::repeat(0u8).take(bytes).collect()),
            _ => None,
        };
        let slot = Slot { id, kind, parts, next: 0, left: parts, errno: None, read };
        let n = match self.free.pop() {
            Some(n) => {
                self.slots[n as usize] = Some(slot);
                n
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        self.fifo.push_back(n);
        self.pump();
    }

    /// Queues parts from the FIFO while the ring has room.
    fn pump(&mut self) {
        while let Some(&n) = self.fifo.front() {
            let slot = self.slots[n as usize].as_mut().expect("queued slot is in use");
            while slot.next < slot.parts {
                let part = slot.next;
                let tag = (u64::from(n) << PART_BITS) | u64::from(part);
                let op = match &slot.kind {
                    DiskOpKind::Flush => DiskOp::flush(tag),
                    DiskOpKind::Read { sector, len } => {
                        let Some(buf) = self.disk.take_buf() else { return };
                        let total = *len as usize * 512;
                        let off = part as usize * self.buf_bytes as usize;
                        let n = (total - off).min(self.buf_bytes as usize);
                        DiskOp::read(tag, sector * 512 + off as u64, n as u32, buf)
                    }
                    DiskOpKind::Write { sector, data, fua } => {
                        let Some(buf) = self.disk.take_buf() else { return };
                        let off = part as usize * self.buf_bytes as usize;
                        let n = (data.len() - off).min(self.buf_bytes as usize);
                        self.disk.buf_mut(buf)[..n].copy_from_slice(&data[off..off + n]);
                        let mut op = DiskOp::write(tag, sector * 512 + off as u64, n as u32, buf);
                        if *fua {
                            op.kind = OpKind::WriteFua;
                        }
                        op
                    }
                };
                match self.disk.submit(op) {
                    Ok(()) => slot.next += 1,
                    Err(rej) => {
                        // Queue full (a flush holds a slot without a buffer): retry later.
                        if let Some(b) = rej.op.buf {
                            self.disk.put_buf(b);
                        }
                        return;
                    }
                }
            }
            self.fifo.pop_front();
        }
    }

    /// Hands the queued ring operations to the kernel (one system call).
    ///
    /// # Errors
    /// The `io_uring_enter` error; the operations stay queued.
    pub fn submit(&mut self) -> io::Result<()> {
        self.disk.submit_pending().map(|_| ())
    }

    /// Collects finished ring operations without waiting and calls `done` for every
    /// replicator operation that finished; returns how many ring completions were seen.
    pub fn reap(&mut self, done: &mut impl FnMut(Finished)) -> usize {
        let mut seen = 0;
        while let Some(c) = self.disk.poll_completion() {
            seen += 1;
            self.complete(c, done);
        }
        if seen > 0 {
            self.pump();
        }
        seen
    }

    /// Waits for at least one ring completion (if anything is in flight) and handles it
    /// like [`UringIo::reap`].
    ///
    /// # Errors
    /// The `io_uring_enter` error.
    pub fn wait(&mut self, done: &mut impl FnMut(Finished)) -> io::Result<usize> {
        self.pump();
        match self.disk.wait_completion()? {
            Some(c) => {
                self.complete(c, done);
                Ok(1 + self.reap(done))
            }
            None => Ok(self.reap(done)),
        }
    }

    fn complete(&mut self, c: crate::io::DiskCompletion, done: &mut impl FnMut(Finished)) {
        let n = (c.tag >> PART_BITS) as usize;
        let part = (c.tag & ((1 << PART_BITS) - 1)) as usize;
        let buf_bytes = self.buf_bytes as usize;
        let slot = self.slots[n].as_mut().expect("completion for a free slot");
        match c.result {
            Ok(bytes) => {
                if let (Some(p), Some(b)) = (slot.read.as_mut(), c.buf) {
                    let off = part * buf_bytes;
                    let dst = Arc::get_mut(p).expect("read payload is not shared yet");
                    dst[off..off + bytes as usize]
                        .copy_from_slice(&self.disk.buf(b)[..bytes as usize]);
                }
            }
            Err(e) => {
                slot.errno.get_or_insert(e.errno());
            }
        }
        if let Some(b) = c.buf {
            self.disk.put_buf(b);
        }
        slot.left -= 1;
        if slot.left == 0 && slot.next == slot.parts {
            let s = self.slots[n].take().expect("slot in use");
            self.free.push(n as u32);
            let written = match &s.kind {
                DiskOpKind::Write { data, .. } => data.len(),
                _ => 0,
            };
            let result = match s.errno {
                Some(e) => Err(e),
                None => Ok(s.read),
            };
            done(Finished { id: s.id, result, written });
        }
    }

    /// The handle through which threads without the engine wait for this ring's completions.
    pub fn waiter(&self) -> Arc<RingWaiter> {
        Arc::clone(&self.waiter)
    }

    /// Wakes every thread waiting on the ring (see [`UringDisk::kick`]).
    pub fn kick(&mut self) {
        self.disk.kick();
    }
}
