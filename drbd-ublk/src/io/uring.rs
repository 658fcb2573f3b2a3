//! The io_uring implementation of [`Disk`] on a file or block device opened with `O_DIRECT`.
//!
//! Mechanism: one ring per disk, sized to the queue depth. At open, one aligned allocation
//! holds `queue_depth` buffers of `buf_bytes` each (the pool); an operation names a buffer by
//! [`BufId`]. Each in-flight operation occupies one slot (its index is the SQE's user data);
//! `submit` only queues the SQE, and the queued SQEs go to the kernel in one `io_uring_enter`
//! when completions are polled or [`UringDisk::submit_pending`] is called (batching). FUA
//! writes carry `RWF_DSYNC`; flushes are `fdatasync`.
//!
//! Invariants: in-flight operations ≤ queue depth; a buffer in flight is never handed out
//! to the caller; the pool and the file outlive every operation (drop waits for all in-flight
//! operations before freeing them). No allocation after open.

use std::alloc::Layout;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;

use io_uring::{opcode, types, IoUring};

use super::disk::{BufId, Disk, DiskCompletion, DiskError, DiskOp, OpKind, RejectReason, Rejected};

/// Alignment of pool buffers (covers every logical block size up to 4 KiB).
const BUF_ALIGN: usize = 4096;

/// Settings of a [`UringDisk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UringConfig {
    /// Maximum operations in flight, and number of pool buffers (1..=4096).
    pub queue_depth: u16,
    /// Size of each pool buffer; multiple of 4096, at most 1 MiB.
    pub buf_bytes: u32,
    /// Open the device read-only.
    pub read_only: bool,
}

impl Default for UringConfig {
    fn default() -> Self {
        UringConfig { queue_depth: 32, buf_bytes: 128 * 1024, read_only: false }
    }
}

#[derive(Debug, Clone, Copy)]
struct Inflight {
    tag: u64,
    kind: OpKind,
    buf: Option<BufId>,
    len_bytes: u32,
}

/// The pool: one aligned allocation of `count` buffers.
struct Pool {
    base: NonNull<u8>,
    layout: Layout,
    buf_bytes: usize,
    count: usize,
}

impl Pool {
    fn new(count: usize, buf_bytes: usize) -> std::io::Result<Pool> {
        let layout = Layout::from_size_align(count * buf_bytes, BUF_ALIGN)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: the layout has a non-zero size (count and buf_bytes are checked non-zero by
        // the caller) and a valid power-of-two alignment.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(ptr).ok_or(std::io::ErrorKind::OutOfMemory)?;
        Ok(Pool { base, layout, buf_bytes, count })
    }

    fn ptr(&self, id: BufId) -> *mut u8 {
        assert!((id.0 as usize) < self.count);
        // SAFETY: id < count, so the offset stays inside the allocation.
        unsafe { self.base.as_ptr().add(id.0 as usize * self.buf_bytes) }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if self.layout.size() == 0 {
            return; // the placeholder owns nothing
        }
        // SAFETY: allocated in `Pool::new` with this layout; the owning disk has waited for
        // every in-flight operation before the pool is dropped.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// A backing device driven through io_uring with `O_DIRECT`.
pub struct UringDisk {
    // Field order matters for drop: `Drop for UringDisk` drains the ring first.
    ring: IoUring,
    file: File,
    pool: Pool,
    alignment: u32,
    size_bytes: u64,
    buf_busy: Vec<bool>,
    free_bufs: Vec<u16>,
    slots: Vec<Option<Inflight>>,
    free_slots: Vec<u16>,
    unsubmitted: u32,
    /// A [`UringDisk::kick`] no-op is in the ring.
    kick_pending: bool,
}

/// User data of the no-op posted by [`UringDisk::kick`].
const KICK: u64 = u64::MAX;

/// A second descriptor of a disk's ring: any thread may wait on it for completions while
/// another thread submits and reaps (`io_uring_enter` with no submissions is safe next to
/// them). It keeps the ring's kernel side alive after the disk is dropped; a wait then ends
/// at its timeout.
#[derive(Debug)]
pub struct RingWaiter {
    fd: OwnedFd,
}

/// `IORING_ENTER_GETEVENTS`.
const ENTER_GETEVENTS: u32 = 1;
/// `IORING_ENTER_EXT_ARG`.
const ENTER_EXT_ARG: u32 = 8;

/// `struct io_uring_getevents_arg`.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    pad: u32,
    ts: u64,
}

impl RingWaiter {
    /// The descriptor, for `poll` (readable while completions wait to be reaped).
    pub fn raw_fd(&self) -> std::os::unix::io::RawFd {
        self.fd.as_raw_fd()
    }

    /// Waits until the ring holds at least one completion not yet reaped, or `timeout`
    /// passed, or a signal came; returns at once if one is already there.
    pub fn wait(&self, timeout: std::time::Duration) {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        let arg = GeteventsArg { sigmask: 0, sigmask_sz: 8, pad: 0, ts: &ts as *const _ as u64 };
        // SAFETY: io_uring_enter with nothing to submit only reads `arg` and the timespec it
        // points to, both alive on this stack for the whole call; the descriptor is valid.
        // ETIME (timeout) and EINTR need no handling: the caller reaps either way.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.fd.as_raw_fd(),
                0u32,
                1u32,
                ENTER_GETEVENTS | ENTER_EXT_ARG,
                &arg as *const GeteventsArg,
                std::mem::size_of::<GeteventsArg>(),
            )
        };
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            // A kernel without timed waits (before 5.11): poll the ring instead of spinning.
            let mut fds =
                [libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
            let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd for the whole call.
            unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
        }
    }
}

// SAFETY: the pool pointer is owned exclusively by this value (no aliases are kept outside
// borrows of `self`), so moving the whole disk to another thread is sound.
unsafe impl Send for UringDisk {}

impl std::fmt::Debug for UringDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringDisk")
            .field("fd", &self.file.as_raw_fd())
            .field("alignment", &self.alignment)
            .field("size_bytes", &self.size_bytes)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// Logical block size of the device holding (or being) `meta`, from sysfs; 4096 if unknown.
fn logical_block_size(meta: &std::fs::Metadata) -> u32 {
    let dev = if meta.file_type().is_block_device() { meta.rdev() } else { meta.dev() };
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let sys = format!("/sys/dev/block/{major}:{minor}");
    for p in
        [format!("{sys}/queue/logical_block_size"), format!("{sys}/../queue/logical_block_size")]
    {
        if let Some(v) = std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<u32>().ok())
        {
            if v.is_power_of_two() && (512..=4096).contains(&v) {
                return v;
            }
        }
    }
    4096
}

impl UringDisk {
    /// Open `path` with `O_DIRECT` and allocate the ring and the buffer pool.
    ///
    /// # Errors
    /// Invalid settings (`InvalidInput`), or the OS error opening the device, sizing it or
    /// setting up the ring (e.g. `EINVAL` from a file system without `O_DIRECT`).
    pub fn open(path: &Path, cfg: UringConfig) -> std::io::Result<UringDisk> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_string());
        if cfg.queue_depth == 0 || cfg.queue_depth > 4096 {
            return Err(bad("queue_depth must be 1..=4096"));
        }
        if cfg.buf_bytes == 0 || cfg.buf_bytes % 4096 != 0 || cfg.buf_bytes > 1 << 20 {
            return Err(bad("buf_bytes must be a non-zero multiple of 4096 up to 1 MiB"));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(!cfg.read_only)
            .custom_flags(libc::O_DIRECT | libc::O_CLOEXEC)
            .open(path)?;
        let meta = file.metadata()?;
        let size_bytes = if meta.file_type().is_block_device() {
            file.seek(SeekFrom::End(0))?
        } else {
            meta.len()
        };
        let qd = cfg.queue_depth;
        let ring = IoUring::new(u32::from(qd).next_power_of_two())?;
        let pool = Pool::new(qd as usize, cfg.buf_bytes as usize)?;
        Ok(UringDisk {
            ring,
            file,
            pool,
            alignment: logical_block_size(&meta),
            size_bytes,
            buf_busy: vec![false; qd as usize],
            free_bufs: (0..qd).rev().collect(),
            slots: vec![None; qd as usize],
            free_slots: (0..qd).rev().collect(),
            unsubmitted: 0,
            kick_pending: false,
        })
    }

    /// Size of the device in bytes (at open).
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Maximum operations in flight.
    pub fn queue_depth(&self) -> u16 {
        self.slots.len() as u16
    }

    /// Size of each pool buffer.
    pub fn buf_bytes(&self) -> u32 {
        self.pool.buf_bytes as u32
    }

    /// Operations queued or in the kernel.
    pub fn in_flight(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    /// Take a free buffer from the pool (the caller returns it with [`UringDisk::put_buf`]).
    pub fn take_buf(&mut self) -> Option<BufId> {
        self.free_bufs.pop().map(BufId)
    }

    /// Return a buffer taken with [`UringDisk::take_buf`].
    ///
    /// # Panics
    /// If the buffer is in flight or already free.
    pub fn put_buf(&mut self, id: BufId) {
        assert!(!self.buf_busy[id.0 as usize], "buffer {id:?} returned while in flight");
        debug_assert!(!self.free_bufs.contains(&id.0), "buffer {id:?} returned twice");
        self.free_bufs.push(id.0);
    }

    /// The contents of a buffer.
    ///
    /// # Panics
    /// If the buffer id is outside the pool or the buffer is in flight.
    pub fn buf(&self, id: BufId) -> &[u8] {
        assert!(!self.buf_busy[id.0 as usize], "buffer {id:?} is in flight");
        // SAFETY: the slice lies inside the pool; no operation in flight uses it (asserted),
        // and new operations need `&mut self`, which this shared borrow excludes.
        unsafe { std::slice::from_raw_parts(self.pool.ptr(id), self.pool.buf_bytes) }
    }

    /// The contents of a buffer, writable.
    ///
    /// # Panics
    /// If the buffer id is outside the pool or the buffer is in flight.
    pub fn buf_mut(&mut self, id: BufId) -> &mut [u8] {
        assert!(!self.buf_busy[id.0 as usize], "buffer {id:?} is in flight");
        // SAFETY: as in `buf`; the exclusive borrow of self makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.pool.ptr(id), self.pool.buf_bytes) }
    }

    /// Hand all queued operations to the kernel in one system call; returns how many.
    ///
    /// # Errors
    /// The `io_uring_enter` error (the operations stay queued and are retried).
    pub fn submit_pending(&mut self) -> std::io::Result<usize> {
        if self.unsubmitted == 0 {
            return Ok(0);
        }
        let n = self.ring.submit()?;
        self.unsubmitted = self.unsubmitted.saturating_sub(n as u32);
        Ok(n)
    }

    /// Block until an operation completes; `None` if nothing is in flight.
    ///
    /// # Errors
    /// The `io_uring_enter` error.
    pub fn wait_completion(&mut self) -> std::io::Result<Option<DiskCompletion>> {
        if let Some(c) = self.reap() {
            return Ok(Some(c));
        }
        if self.in_flight() == 0 {
            return Ok(None);
        }
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {
                    self.unsubmitted = 0;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.reap())
    }

    /// A handle on the ring through which other threads wait for its completions without
    /// access to the disk (see [`RingWaiter`]).
    ///
    /// # Errors
    /// The `fcntl(F_DUPFD_CLOEXEC)` error.
    pub fn waiter(&self) -> std::io::Result<RingWaiter> {
        // SAFETY: duplicates a descriptor this value owns; the result is checked before use.
        let fd = unsafe { libc::fcntl(self.ring.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor owned by nothing else.
        Ok(RingWaiter { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Posts a no-op whose completion wakes every thread waiting on the ring through a
    /// [`RingWaiter`] (at most one is outstanding; its completion is consumed silently).
    pub fn kick(&mut self) {
        if self.kick_pending {
            return;
        }
        let sqe = opcode::Nop::new().build().user_data(KICK);
        // SAFETY: a no-op refers to no memory.
        if unsafe { self.ring.submission().push(&sqe) }.is_err() {
            return; // the queue is full: the operations in it complete soon anyway
        }
        self.kick_pending = true;
        self.unsubmitted += 1;
        let _ = self.submit_pending();
    }

    fn reap(&mut self) -> Option<DiskCompletion> {
        let mut cqe = self.ring.completion().next()?;
        if cqe.user_data() == KICK {
            self.kick_pending = false;
            cqe = self.ring.completion().next()?;
        }
        let slot = cqe.user_data() as usize;
        let op =
            self.slots[slot].take().unwrap_or_else(|| unreachable!("completion for idle slot"));
        self.free_slots.push(slot as u16);
        if let Some(b) = op.buf {
            self.buf_busy[b.0 as usize] = false;
        }
        let res = cqe.result();
        let result = if res < 0 {
            Err(DiskError::Os { errno: -res })
        } else if op.kind != OpKind::Flush && (res as u32) < op.len_bytes {
            Err(DiskError::Short { expected_bytes: op.len_bytes, done_bytes: res as u32 })
        } else {
            Ok(res as u32)
        };
        Some(DiskCompletion { tag: op.tag, kind: op.kind, buf: op.buf, result })
    }

    fn check(&self, op: &DiskOp) -> Result<(), RejectReason> {
        if op.kind == OpKind::Flush {
            return Ok(());
        }
        let b = op.buf.ok_or(RejectReason::BadBuffer)?;
        if b.0 as usize >= self.buf_busy.len() {
            return Err(RejectReason::BadBuffer);
        }
        if self.buf_busy[b.0 as usize] {
            return Err(RejectReason::BufferBusy);
        }
        let a = u64::from(self.alignment);
        if op.len_bytes == 0 || op.offset_bytes % a != 0 || u64::from(op.len_bytes) % a != 0 {
            return Err(RejectReason::Unaligned { alignment: self.alignment });
        }
        if op.len_bytes as usize > self.pool.buf_bytes {
            return Err(RejectReason::TooLarge { max_bytes: self.pool.buf_bytes as u32 });
        }
        Ok(())
    }
}

impl Disk for UringDisk {
    fn submit(&mut self, op: DiskOp) -> Result<(), Rejected<DiskOp>> {
        if let Err(reason) = self.check(&op) {
            return Err(Rejected { op, reason });
        }
        let Some(slot) = self.free_slots.pop() else {
            return Err(Rejected { op, reason: RejectReason::QueueFull });
        };
        let fd = types::Fd(self.file.as_raw_fd());
        let ptr = op.buf.map(|b| self.pool.ptr(b)).unwrap_or(std::ptr::null_mut());
        let sqe = match op.kind {
            OpKind::Read => {
                opcode::Read::new(fd, ptr, op.len_bytes).offset(op.offset_bytes).build()
            }
            OpKind::Write => {
                opcode::Write::new(fd, ptr, op.len_bytes).offset(op.offset_bytes).build()
            }
            OpKind::WriteFua => opcode::Write::new(fd, ptr, op.len_bytes)
                .offset(op.offset_bytes)
                .rw_flags(libc::RWF_DSYNC)
                .build(),
            OpKind::Flush => opcode::Fsync::new(fd).flags(types::FsyncFlags::DATASYNC).build(),
        };
        let sqe = sqe.user_data(u64::from(slot));
        // SAFETY: the buffer (checked by `check`: in the pool, not in flight, length within
        // the buffer) stays valid and untouched until this operation's completion is reaped:
        // it is marked busy below, so `buf`/`buf_mut` refuse it, and `Drop` waits for all
        // in-flight operations before the pool and the file are freed. The ring has at least
        // queue_depth entries and in-flight operations never exceed queue_depth (one slot
        // each), so the submission queue cannot be full.
        let pushed = unsafe { self.ring.submission().push(&sqe) };
        assert!(pushed.is_ok(), "submission queue full with a free slot");
        if let Some(b) = op.buf {
            self.buf_busy[b.0 as usize] = true;
        }
        self.slots[slot as usize] =
            Some(Inflight { tag: op.tag, kind: op.kind, buf: op.buf, len_bytes: op.len_bytes });
        self.unsubmitted += 1;
        Ok(())
    }

    fn poll_completion(&mut self) -> Option<DiskCompletion> {
        if let Some(c) = self.reap() {
            return Some(c);
        }
        // A failed enter leaves the operations queued; the next poll retries.
        let _ = self.submit_pending();
        self.reap()
    }

    fn alignment(&self) -> u32 {
        self.alignment
    }
}

impl Drop for UringDisk {
    fn drop(&mut self) {
        // The kernel may still write into pool buffers: wait for every in-flight operation
        // before the pool and the file are released. Bounded by the queue depth.
        let mut budget = self.slots.len() * 4 + 16;
        while self.in_flight() > 0 && budget > 0 {
            budget -= 1;
            if self.reap().is_some() {
                continue;
            }
            if self.ring.submit_and_wait(1).is_ok() {
                self.unsubmitted = 0;
            }
        }
        if self.in_flight() > 0 {
            // Should never happen; leaking is the only sound choice left.
            std::mem::forget(std::mem::replace(&mut self.pool, Pool::leak_placeholder()));
        }
    }
}

impl Pool {
    /// An empty pool that owns nothing (used to leak the real one in `Drop`).
    fn leak_placeholder() -> Pool {
        Pool { base: NonNull::dangling(), layout: Layout::new::<()>(), buf_bytes: 0, count: 0 }
    }
}

#[cfg(test)]
mod tests;
