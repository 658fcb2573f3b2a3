//! Detection of a stuck backend: per-worker start times of the request in progress, and a
//! thread that aborts the FUSE connection when one is older than the configured timeout.
//!
//! A daemon that stops answering leaves every writer of the block device in D state forever
//! and blocks anything that touches the FUSE mount. Aborting the connection (what
//! `umount -f` does on a FUSE mount) fails the pending and all later requests with `EIO`, so
//! a file system on the device sees I/O errors and goes read-only instead of hanging:
//! DRBD's `on-no-data-accessible io-error` rather than `suspend-io`.
//!
//! Each worker thread owns one slot (taken on its first request); a slot holds the start time
//! of the request in progress in milliseconds since the tracker was created, plus one, or 0
//! when idle. Recording costs one clock read and two relaxed stores per request.

use std::cell::Cell;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most worker threads a tracker keeps apart; more share slots (less precise, still safe:
/// a shared slot can only hide a stuck request until the next request on it starts).
pub(crate) const SLOTS_MAX: usize = 64;

/// Start times of the requests in progress, one slot per worker thread.
pub(crate) struct InFlight {
    slots: [AtomicU64; SLOTS_MAX],
    next_slot: AtomicUsize,
    epoch: Instant,
}

thread_local! {
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Marks the calling worker idle again when dropped.
pub(crate) struct Guard<'a> {
    slot: &'a AtomicU64,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.slot.store(0, Ordering::Relaxed);
    }
}

impl InFlight {
    #[allow(clippy::disallowed_methods)] // the real front-end measures wall time
    pub(crate) fn new() -> InFlight {
        InFlight {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            next_slot: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    #[allow(clippy::disallowed_methods)] // the real front-end measures wall time
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Records that the calling worker starts a request.
    pub(crate) fn begin(&self) -> Guard<'_> {
        let mut idx = SLOT.get();
        if idx == usize::MAX {
            idx = self.next_slot.fetch_add(1, Ordering::Relaxed) % SLOTS_MAX;
            SLOT.set(idx);
        }
        let slot = &self.slots[idx % SLOTS_MAX];
        slot.store(self.now_ms(), Ordering::Relaxed);
        Guard { slot }
    }

    /// Age of the oldest request in progress.
    pub(crate) fn oldest(&self) -> Option<Duration> {
        let now = self.now_ms();
        self.slots
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|&t| t != 0)
            .min()
            .map(|t| Duration::from_millis(now.saturating_sub(t)))
    }
}

/// Aborts the FUSE connection of `mount_point` (`umount2(MNT_FORCE)`); the unmount itself
/// may fail while the loop device still holds the file, the abort happens regardless.
pub(crate) fn abort_connection(mount_point: &std::path::Path) {
    let Ok(c) = CString::new(mount_point.as_os_str().as_encoded_bytes()) else { return };
    // SAFETY: c is a valid NUL-terminated path for the duration of the call.
    let _ = unsafe { libc::umount2(c.as_ptr(), libc::MNT_FORCE) };
}

/// Body of the watchdog thread: checks every `timeout / 4` until `stop` disconnects.
pub(crate) fn run(
    in_flight: Arc<super::fs::Shared>,
    mount_point: PathBuf,
    timeout: Duration,
    aborted: Arc<AtomicBool>,
    stop: Receiver<()>,
) {
    let period = (timeout / 4).max(Duration::from_millis(10));
    loop {
        match stop.recv_timeout(period) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if in_flight.in_flight.oldest().is_some_and(|age| age >= timeout) {
            aborted.store(true, Ordering::Release);
            abort_connection(&mount_point);
            return;
        }
    }
}
