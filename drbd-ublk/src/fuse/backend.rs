//! The storage behind a front-end: the [`BlockBackend`] trait and a file-backed implementation.
//!
//! The front-end calls the backend from several FUSE worker threads at once, so every method
//! takes `&self`; an implementation orders what it must itself (the Replicator serialises
//! conflicting writes, [`FileBackend`] relies on the kernel's `pread`/`pwrite` atomicity per
//! call). A method returns only when the operation is complete in the sense the block layer
//! expects: a write when its data is where later reads see it, a flush when every write that
//! completed before it is durable.
//!
//! [`FileBackend`] opens the backing file or block device with `O_DIRECT` where the file
//! system allows it. Direct I/O needs the memory address, the offset and the length aligned to
//! the device's direct-I/O alignment; requests are copied through a per-thread aligned bounce
//! buffer that each worker thread allocates once, on its first request, so the data path does
//! not allocate. Requests whose offset or length are not aligned go through a second,
//! buffered descriptor of the same file (the kernel keeps the page cache coherent with direct
//! I/O on the same inode; `fdatasync` on either descriptor flushes both).

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Largest single transfer the bounce buffers hold; bigger requests are split.
pub const BOUNCE_BYTES: usize = 1 << 20;

/// A linear block store the front-end serves to the kernel.
///
/// Offsets and lengths are in bytes. The front-end only passes ranges inside
/// `0..size_bytes()`. Errors are reported to the kernel as the `io::Error`'s errno (`EIO`
/// when it has none), so return `EROFS` for a refused write, `EIO` for a failed disk and
/// `EOPNOTSUPP` for an operation the store cannot do.
pub trait BlockBackend: Send + Sync {
    /// Size of the volume in bytes (a multiple of 512).
    fn size_bytes(&self) -> u64;
    /// Fills `buf` with the bytes at `off..off + buf.len()`.
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()>;
    /// Writes `data` at `off`; later reads see it once this returns.
    fn write_at(&self, data: &[u8], off: u64) -> io::Result<()>;
    /// Makes every write that completed before this call durable (the block layer's
    /// PREFLUSH; FUA arrives as a write followed by a flush).
    fn flush(&self) -> io::Result<()>;
    /// Discards `off..off + len`. The range must read back as zeroes afterwards: the loop
    /// driver also uses this operation for write-zeroes requests without `REQ_NOUNMAP`.
    fn discard(&self, off: u64, len: u64) -> io::Result<()>;
    /// Writes zeroes over `off..off + len`, keeping the space allocated.
    fn write_zeroes(&self, off: u64, len: u64) -> io::Result<()>;
    /// Whether the store accepts writes at all (a read-only backing file does not).
    fn writable(&self) -> bool;
}

/// How [`FileBackend::open`] opens the backing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileBackendOptions {
    /// Try `O_DIRECT` (falls back to buffered I/O where the file system refuses it).
    pub direct: bool,
    /// Open read-only: writes fail with `EROFS`.
    pub read_only: bool,
}

impl Default for FileBackendOptions {
    fn default() -> Self {
        FileBackendOptions { direct: true, read_only: false }
    }
}

/// A [`BlockBackend`] over a regular file or a block device.
#[derive(Debug)]
pub struct FileBackend {
    path: PathBuf,
    /// Descriptor used for aligned requests (`O_DIRECT` when `direct` is set).
    main: File,
    /// Buffered descriptor for unaligned requests when `main` is direct.
    buffered: Option<File>,
    size_bytes: u64,
    /// Alignment (bytes) of offsets, lengths and memory for direct I/O.
    align: usize,
    is_block_device: bool,
    read_only: bool,
}

thread_local! {
    /// Per-thread aligned bounce buffer, allocated on the thread's first direct request.
    static BOUNCE: RefCell<Option<AlignedBuf>> = const { RefCell::new(None) };
}

/// A heap buffer whose start is aligned to `align` bytes.
pub(crate) struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// Allocates `len` zeroed bytes starting at an `align`-aligned address.
    pub(crate) fn new(len: usize, align: usize) -> AlignedBuf {
        assert!(align.is_power_of_two());
        let storage = vec![0u8; len + align];
        let addr = storage.as_ptr() as usize;
        let start = (align - addr % align) % align;
        AlignedBuf { storage, start, len }
    }

    /// The aligned bytes.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// Runs `f` with this thread's bounce buffer (allocated once per thread).
fn with_bounce<R>(align: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    BOUNCE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let buf = slot.get_or_insert_with(|| AlignedBuf::new(BOUNCE_BYTES, align.max(4096)));
        f(buf.as_mut_slice())
    })
}

impl FileBackend {
    /// Opens `path` (a regular file or a block device) as a backend.
    ///
    /// # Errors
    /// The `open`, `fstat` or size query error of the file.
    pub fn open(path: &Path, opts: FileBackendOptions) -> io::Result<FileBackend> {
        let open = |direct: bool| {
            let mut o = OpenOptions::new();
            o.read(true).write(!opts.read_only);
            if direct {
                o.custom_flags(libc::O_DIRECT);
            }
            o.open(path)
        };
        let (main, direct) = if opts.direct {
            match open(true) {
                Ok(f) => (f, true),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (open(false)?, false),
                Err(e) => return Err(e),
            }
        } else {
            (open(false)?, false)
        };
        let meta = main.metadata()?;
        let is_block_device = meta.file_type().is_block_device();
        let size_bytes = if is_block_device { block_device_size(&main)? } else { meta.len() };
        let align = if direct { dio_alignment(&main, is_block_device) } else { 1 };
        let buffered = if direct { Some(open(false)?) } else { None };
        Ok(FileBackend {
            path: path.to_path_buf(),
            main,
            buffered,
            size_bytes: size_bytes & !511,
            align,
            is_block_device,
            read_only: opts.read_only,
        })
    }

    /// The backing path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the backing path is a block device.
    pub fn is_block_device(&self) -> bool {
        self.is_block_device
    }

    /// Whether aligned requests use `O_DIRECT`.
    pub fn is_direct(&self) -> bool {
        self.buffered.is_some()
    }

    fn aligned(&self, off: u64, len: usize) -> bool {
        let a = self.align as u64;
        off % a == 0 && (len as u64) % a == 0
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::from_raw_os_error(libc::EROFS));
        }
        Ok(())
    }

    fn fallocate(&self, mode: libc::c_int, off: u64, len: u64) -> io::Result<()> {
        let (Ok(off_i), Ok(len_i)) = (i64::try_from(off), i64::try_from(len)) else {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        };
        // SAFETY: fallocate only reads its integer arguments; the descriptor is owned by self
        // and open for the whole call.
        let rc = unsafe { libc::fallocate(self.main.as_raw_fd(), mode, off_i, len_i) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Writes zeroes with plain writes, for stores without a zeroing `fallocate`.
    fn write_zeroes_slow(&self, off: u64, len: u64) -> io::Result<()> {
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(BOUNCE_BYTES as u64) as usize;
            with_bounce(self.align, |b| {
                b[..n].fill(0);
                self.pwrite_direct_or_buffered(&b[..n], off + done)
            })?;
            done += n as u64;
        }
        Ok(())
    }

    fn pwrite_direct_or_buffered(&self, data: &[u8], off: u64) -> io::Result<()> {
        match &self.buffered {
            Some(b) if !self.aligned(off, data.len()) => b.write_all_at(data, off),
            _ => self.main.write_all_at(data, off),
        }
    }
}

impl BlockBackend for FileBackend {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        let Some(buffered) = &self.buffered else {
            return self.main.read_exact_at(buf, off);
        };
        if !self.aligned(off, buf.len()) {
            return buffered.read_exact_at(buf, off);
        }
        if (buf.as_ptr() as usize) % self.align == 0 {
            return self.main.read_exact_at(buf, off);
        }
        let mut done = 0usize;
        while done < buf.len() {
            let n = (buf.len() - done).min(BOUNCE_BYTES);
            with_bounce(self.align, |b| {
                self.main.read_exact_at(&mut b[..n], off + done as u64)?;
                buf[done..done + n].copy_from_slice(&b[..n]);
                Ok::<(), io::Error>(())
            })?;
            done += n;
        }
        Ok(())
    }

    fn write_at(&self, data: &[u8], off: u64) -> io::Result<()> {
        self.check_writable()?;
        let Some(buffered) = &self.buffered else {
            return self.main.write_all_at(data, off);
        };
        if !self.aligned(off, data.len()) {
            return buffered.write_all_at(data, off);
        }
        if (data.as_ptr() as usize) % self.align == 0 {
            return self.main.write_all_at(data, off);
        }
        let mut done = 0usize;
        while done < data.len() {
            let n = (data.len() - done).min(BOUNCE_BYTES);
            with_bounce(self.align, |b| {
                b[..n].copy_from_slice(&data[done..done + n]);
                self.main.write_all_at(&b[..n], off + done as u64)
            })?;
            done += n;
        }
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.main.sync_data()
    }

    fn discard(&self, off: u64, len: u64) -> io::Result<()> {
        self.check_writable()?;
        let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        match self.fallocate(punch, off, len) {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => self.write_zeroes(off, len),
            r => r,
        }
    }

    fn write_zeroes(&self, off: u64, len: u64) -> io::Result<()> {
        self.check_writable()?;
        let mode = libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE;
        match self.fallocate(mode, off, len) {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                self.write_zeroes_slow(off, len)
            }
            r => r,
        }
    }

    fn writable(&self) -> bool {
        !self.read_only
    }
}

/// `BLKGETSIZE64` on an open block device.
fn block_device_size(f: &File) -> io::Result<u64> {
    const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which points at a live local.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKGETSIZE64, &mut size as *mut u64) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size)
}

/// Alignment for direct I/O on `f`: `statx(STATX_DIOALIGN)` where the kernel reports it,
/// else the logical sector size of a block device, else 4096.
fn dio_alignment(f: &File, is_block_device: bool) -> usize {
    // SAFETY: an all-zero statx is a valid value of this plain C struct.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a valid NUL-terminated empty string, AT_EMPTY_PATH makes statx use
    // the descriptor, and stx is a live, writable statx.
    let rc = unsafe {
        libc::statx(
            f.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_DIOALIGN,
            &mut stx,
        )
    };
    if rc == 0 && stx.stx_mask & libc::STATX_DIOALIGN != 0 && stx.stx_dio_offset_align != 0 {
        let a = stx.stx_dio_offset_align.max(stx.stx_dio_mem_align) as usize;
        return a.next_power_of_two().max(512);
    }
    if is_block_device {
        let mut ssz: libc::c_int = 0;
        // SAFETY: BLKSSZGET writes one int through the pointer, which points at a live local.
        let rc = unsafe { libc::ioctl(f.as_raw_fd(), libc::BLKSSZGET, &mut ssz as *mut _) };
        if rc == 0 && ssz > 0 {
            return (ssz as usize).next_power_of_two();
        }
    }
    4096
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_backend_round_trip_unaligned_and_zeroes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img");
        std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
        let b = FileBackend::open(&path, FileBackendOptions::default()).unwrap();
        assert_eq!(b.size_bytes(), 1 << 20);
        // Deliberately misaligned memory: goes through the bounce buffer.
        let mut data = vec![0u8; 8192 + 1];
        for (i, x) in data.iter_mut().enumerate() {
            *x = (i % 251) as u8;
        }
        b.write_at(&data[1..], 4096).unwrap();
        let mut back = vec![0u8; 8192 + 3];
        b.read_at(&mut back[3..], 4096).unwrap();
        assert_eq!(&back[3..], &data[1..]);
        // Unaligned offset: buffered descriptor.
        b.write_at(b"hello", 10).unwrap();
        let mut h = [0u8; 5];
        b.read_at(&mut h, 10).unwrap();
        assert_eq!(&h, b"hello");
        b.write_zeroes(4096, 4096).unwrap();
        b.discard(8192, 4096).unwrap();
        let mut z = vec![1u8; 8192];
        b.read_at(&mut z, 4096).unwrap();
        assert!(z.iter().all(|&x| x == 0));
        b.flush().unwrap();
        let ro =
            FileBackend::open(&path, FileBackendOptions { direct: true, read_only: true }).unwrap();
        assert_eq!(ro.write_at(&[0; 512], 0).unwrap_err().raw_os_error(), Some(libc::EROFS));
        assert!(!ro.writable());
    }
}

/// A snapshot of a front-end's counters (FUSE and ublk alike).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrontendStats {
    /// Read requests served.
    pub reads: u64,
    /// Write requests served.
    pub writes: u64,
    /// Flushes served.
    pub flushes: u64,
    /// Discards.
    pub discards: u64,
    /// Write-zeroes.
    pub write_zeroes: u64,
    /// Bytes returned by reads.
    pub bytes_read: u64,
    /// Bytes taken by writes.
    pub bytes_written: u64,
    /// Requests failed (by the backend or as malformed).
    pub errors: u64,
    /// Writes (and, on FUSE, write-opens) refused because the device is read-only.
    pub refused_read_only: u64,
}

/// The live counters behind [`FrontendStats`], shared by a front-end's threads. All are
/// monotonic.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) reads: std::sync::atomic::AtomicU64,
    pub(crate) writes: std::sync::atomic::AtomicU64,
    pub(crate) flushes: std::sync::atomic::AtomicU64,
    pub(crate) discards: std::sync::atomic::AtomicU64,
    pub(crate) write_zeroes: std::sync::atomic::AtomicU64,
    pub(crate) bytes_read: std::sync::atomic::AtomicU64,
    pub(crate) bytes_written: std::sync::atomic::AtomicU64,
    pub(crate) errors: std::sync::atomic::AtomicU64,
    pub(crate) refused_read_only: std::sync::atomic::AtomicU64,
}

impl Counters {
    /// The counters' values now.
    pub(crate) fn snapshot(&self) -> FrontendStats {
        let g = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        FrontendStats {
            reads: g(&self.reads),
            writes: g(&self.writes),
            flushes: g(&self.flushes),
            discards: g(&self.discards),
            write_zeroes: g(&self.write_zeroes),
            bytes_read: g(&self.bytes_read),
            bytes_written: g(&self.bytes_written),
            errors: g(&self.errors),
            refused_read_only: g(&self.refused_read_only),
        }
    }
}
