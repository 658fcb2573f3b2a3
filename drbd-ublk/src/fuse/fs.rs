//! The FUSE file system: a root directory holding one regular file, the volume.
//!
//! Every request on the volume file goes straight to the [`BlockBackend`]: `READ` and `WRITE`
//! to `read_at`/`write_at`, `FSYNC` to `flush` (the only barrier the loop driver sends: FUA
//! arrives as `WRITE` then `FSYNC`, and `FSYNC` always comes with `datasync = false`),
//! `FALLOCATE` with `PUNCH_HOLE` to `discard` and with `ZERO_RANGE` to `write_zeroes`.
//! `FLUSH` (sent on `close`) is not a barrier and is answered at once. The reply is sent only
//! when the backend call has returned, so a block write completes when the backend has it.
//!
//! Reads land in a per-thread aligned buffer that each worker allocates once and are answered
//! from it; the kernel's write payload is handed to the backend as the slice in fuser's
//! per-thread request buffer. Neither path allocates.
//!
//! The file is opened with `FOPEN_DIRECT_IO` (no FUSE page cache, so no second cached copy
//! of the volume that could go stale) and, when configured, `FOPEN_PARALLEL_DIRECT_WRITES`;
//! `FUSE_ASYNC_DIO` is requested at `INIT` so the loop driver's direct I/O reaches several
//! worker threads at once. The writeback cache is never requested.

use std::cell::{Cell, RefCell};
use std::ffi::OsStr;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, WriteFlags,
};

use super::backend::{AlignedBuf, BlockBackend, Counters, BOUNCE_BYTES};
use super::watchdog::InFlight;

const ROOT_INO: u64 = 1;
const VOLUME_INO: u64 = 2;
const ATTR_TTL: Duration = Duration::from_secs(1);
/// `PR_SET_IO_FLUSHER` from `<linux/prctl.h>` (Linux 5.6).
const PR_SET_IO_FLUSHER: libc::c_int = 57;

/// State shared between the file system (worker threads) and the device handle.
pub(crate) struct Shared {
    pub(crate) counters: Counters,
    pub(crate) read_only: AtomicBool,
    pub(crate) in_flight: InFlight,
    /// Thread id of the daemon thread opening the file for the loop device (0: none). That
    /// open is read-write even on a Secondary; FUSE reports the opener's thread id.
    pub(crate) loop_opener_tid: AtomicU32,
}

/// How the file system is served.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FsParams {
    pub(crate) async_dio: bool,
    pub(crate) parallel_direct_writes: bool,
    pub(crate) max_request_bytes: u32,
    pub(crate) io_flusher: bool,
    pub(crate) max_background: u16,
}

/// The file system fuser runs.
pub(crate) struct VolumeFs {
    backend: Arc<dyn BlockBackend>,
    shared: Arc<Shared>,
    file_name: String,
    params: FsParams,
    created: SystemTime,
}

thread_local! {
    /// Per-worker read buffer, allocated on the worker's first read.
    static READ_BUF: RefCell<Option<AlignedBuf>> = const { RefCell::new(None) };
    /// Whether this worker thread has been set up (see [`VolumeFs::enter`]).
    static WORKER_READY: Cell<bool> = const { Cell::new(false) };
}

fn errno_of(e: &io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

impl VolumeFs {
    pub(crate) fn new(
        backend: Arc<dyn BlockBackend>,
        shared: Arc<Shared>,
        file_name: String,
        params: FsParams,
    ) -> VolumeFs {
        #[allow(clippy::disallowed_methods)] // file times only, not used for decisions
        let created = SystemTime::now();
        VolumeFs { backend, shared, file_name, params, created }
    }

    fn attr(&self, ino: u64) -> FileAttr {
        let (kind, perm, size, nlink) = if ino == ROOT_INO {
            (FileType::Directory, 0o755, 0, 2)
        } else {
            let writable =
                self.backend.writable() && !self.shared.read_only.load(Ordering::Relaxed);
            (FileType::RegularFile, if writable { 0o600 } else { 0o400 }, self.size(), 1)
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size / 512,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            crtime: self.created,
            kind,
            perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    fn size(&self) -> u64 {
        self.backend.size_bytes()
    }

    /// Checks a request range against the volume size.
    fn in_range(&self, off: u64, len: u64) -> bool {
        off.checked_add(len).is_some_and(|end| end <= self.size())
    }

    /// `Err(EROFS)` while writes are refused (Secondary or read-only backend).
    fn check_writable(&self) -> Result<(), Errno> {
        if self.shared.read_only.load(Ordering::Acquire) || !self.backend.writable() {
            self.shared.counters.refused_read_only.fetch_add(1, Ordering::Relaxed);
            return Err(Errno::EROFS);
        }
        Ok(())
    }

    /// Called before each backend request: on a worker's first request marks the thread an
    /// I/O flusher (`PR_SET_IO_FLUSHER`: its allocations do not recurse into reclaim that could
    /// wait on writeback to this very device), then records the request for the watchdog.
    fn enter(&self) -> super::watchdog::Guard<'_> {
        if !WORKER_READY.get() {
            WORKER_READY.set(true);
            if self.params.io_flusher {
                // SAFETY: PR_SET_IO_FLUSHER takes integer arguments only and affects the
                // calling thread. Failure (no CAP_SYS_RESOURCE) only loses the protection.
                let _ = unsafe { libc::prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) };
            }
        }
        self.shared.in_flight.begin()
    }

    fn fail(&self, e: &io::Error) -> Errno {
        self.shared.counters.errors.fetch_add(1, Ordering::Relaxed);
        errno_of(e)
    }
}

impl Filesystem for VolumeFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        let _ = config.set_max_write(self.params.max_request_bytes);
        let _ = config.set_max_readahead(self.params.max_request_bytes);
        // Asynchronous direct I/O travels as background requests: this bounds how many the
        // kernel keeps in flight towards the workers.
        let _ = config.set_max_background(self.params.max_background);
        let _ = config.set_congestion_threshold(self.params.max_background / 4 * 3);
        if self.params.async_dio {
            // Older kernels without async direct I/O simply serve requests one at a time.
            let _ = config.add_capabilities(InitFlags::FUSE_ASYNC_DIO);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent.0 == ROOT_INO && name == OsStr::new(&self.file_name) {
            reply.entry(&ATTR_TTL, &self.attr(VOLUME_INO), Generation(0));
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match ino.0 {
            ROOT_INO | VOLUME_INO => reply.attr(&ATTR_TTL, &self.attr(ino.0)),
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if ino.0 != VOLUME_INO {
            return reply.error(Errno::EISDIR);
        }
        // The daemon's own open (the descriptor handed to the loop driver) is always read-write
        // when the backend is; everyone else's write-open follows the role, as DRBD refuses
        // a write-open of a Secondary with EROFS.
        let wants_write = flags.acc_mode() != OpenAccMode::O_RDONLY;
        let own = self.shared.loop_opener_tid.load(Ordering::Acquire);
        if wants_write && (own == 0 || req.pid() != own || !self.backend.writable()) {
            if let Err(e) = self.check_writable() {
                return reply.error(e);
            }
        }
        // NOFLUSH: a close never waits for the daemon. Without it a dying daemon that still
        // had the file open would, while exiting, wait for its own (dead) workers to answer
        // the FLUSH of that close, and hang with its /dev/fuse descriptors still open.
        let mut fopen = FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_NOFLUSH;
        if self.params.parallel_direct_writes {
            fopen |= FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES;
        }
        reply.opened(FileHandle(0), fopen);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if ino.0 != VOLUME_INO {
            return reply.error(Errno::EISDIR);
        }
        // Reads at or past the end are short, as for any file.
        let end = offset.saturating_add(u64::from(size)).min(self.size());
        let len = end.saturating_sub(offset) as usize;
        if len == 0 {
            return reply.data(&[]);
        }
        if len > BOUNCE_BYTES {
            return reply.error(Errno::EINVAL);
        }
        let _guard = self.enter();
        READ_BUF.with(|cell| {
            let mut slot = cell.borrow_mut();
            let buf = slot.get_or_insert_with(|| AlignedBuf::new(BOUNCE_BYTES, 4096));
            let buf = &mut buf.as_mut_slice()[..len];
            match self.backend.read_at(buf, offset) {
                Ok(()) => {
                    let c = &self.shared.counters;
                    c.reads.fetch_add(1, Ordering::Relaxed);
                    c.bytes_read.fetch_add(len as u64, Ordering::Relaxed);
                    reply.data(buf);
                }
                Err(e) => reply.error(self.fail(&e)),
            }
        });
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if ino.0 != VOLUME_INO {
            return reply.error(Errno::EISDIR);
        }
        if let Err(e) = self.check_writable() {
            return reply.error(e);
        }
        if !self.in_range(offset, data.len() as u64) {
            // A block device has a fixed size: writes past the end are ENOSPC.
            return reply.error(Errno::ENOSPC);
        }
        let _guard = self.enter();
        match self.backend.write_at(data, offset) {
            Ok(()) => {
                let c = &self.shared.counters;
                c.writes.fetch_add(1, Ordering::Relaxed);
                c.bytes_written.fetch_add(data.len() as u64, Ordering::Relaxed);
                reply.written(data.len() as u32);
            }
            Err(e) => reply.error(self.fail(&e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        if ino.0 != VOLUME_INO {
            return reply.ok();
        }
        // Never ENOSYS: the kernel would stop sending FSYNC for good.
        let _guard = self.enter();
        match self.backend.flush() {
            Ok(()) => {
                self.shared.counters.flushes.fetch_add(1, Ordering::Relaxed);
                reply.ok();
            }
            Err(e) => reply.error(self.fail(&e)),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if ino.0 != VOLUME_INO {
            return reply.error(Errno::EISDIR);
        }
        if !self.in_range(offset, length) {
            return reply.error(Errno::EINVAL);
        }
        let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        let zero = libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE;
        let c = &self.shared.counters;
        let result = if mode == 0 || mode == libc::FALLOC_FL_KEEP_SIZE {
            // Preallocation: a block device is fully allocated already.
            Ok(())
        } else if mode == punch || mode == zero || mode == libc::FALLOC_FL_ZERO_RANGE {
            if let Err(e) = self.check_writable() {
                return reply.error(e);
            }
            let _guard = self.enter();
            if mode == punch {
                c.discards.fetch_add(1, Ordering::Relaxed);
                self.backend.discard(offset, length)
            } else {
                c.write_zeroes.fetch_add(1, Ordering::Relaxed);
                self.backend.write_zeroes(offset, length)
            }
        } else {
            return reply.error(Errno::EOPNOTSUPP);
        };
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(self.fail(&e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if ino.0 != ROOT_INO {
            return reply.error(Errno::ENOTDIR);
        }
        let entries = [
            (ROOT_INO, FileType::Directory, "."),
            (ROOT_INO, FileType::Directory, ".."),
            (VOLUME_INO, FileType::RegularFile, self.file_name.as_str()),
        ];
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }
}
