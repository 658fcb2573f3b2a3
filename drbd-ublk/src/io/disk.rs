//! The `Disk` effect trait and its operation types.
//!
//! An operation names a buffer by [`BufId`] (a slot of the pool the implementation allocated
//! at start), never by pointer, so the same engine code runs against the io_uring disk and a
//! simulated one. In-flight operations are bounded by the queue depth; when the queue is full
//! or the operation is invalid, `submit` returns it in [`Rejected`] with the reason, and the
//! caller retries later or fails the request: nothing is dropped.

use std::fmt;

/// Index of a buffer in the disk's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BufId(pub u16);

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Read `len_bytes` at `offset_bytes` into the buffer.
    Read,
    /// Write the buffer's first `len_bytes` at `offset_bytes`.
    Write,
    /// Write that completes only once the data is on stable storage (forced unit access).
    WriteFua,
    /// Make all completed writes stable (fdatasync); offset, length and buffer are unused.
    Flush,
}

/// One operation submitted to a [`Disk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskOp {
    /// Caller's cookie, returned in the completion.
    pub tag: u64,
    /// Operation kind.
    pub kind: OpKind,
    /// Byte offset on the device (multiple of [`Disk::alignment`]).
    pub offset_bytes: u64,
    /// Length in bytes (multiple of [`Disk::alignment`], at most the buffer size).
    pub len_bytes: u32,
    /// The data buffer (`None` for [`OpKind::Flush`]).
    pub buf: Option<BufId>,
}

impl DiskOp {
    /// A read of `len_bytes` at `offset_bytes` into `buf`.
    pub fn read(tag: u64, offset_bytes: u64, len_bytes: u32, buf: BufId) -> DiskOp {
        DiskOp { tag, kind: OpKind::Read, offset_bytes, len_bytes, buf: Some(buf) }
    }

    /// A write of `len_bytes` from `buf` at `offset_bytes`.
    pub fn write(tag: u64, offset_bytes: u64, len_bytes: u32, buf: BufId) -> DiskOp {
        DiskOp { tag, kind: OpKind::Write, offset_bytes, len_bytes, buf: Some(buf) }
    }

    /// A flush.
    pub fn flush(tag: u64) -> DiskOp {
        DiskOp { tag, kind: OpKind::Flush, offset_bytes: 0, len_bytes: 0, buf: None }
    }
}

/// Why `submit` handed an operation back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// All queue slots are in flight; retry after a completion.
    QueueFull,
    /// Offset or length is not a multiple of the alignment, or the length is zero.
    Unaligned {
        /// Required alignment in bytes.
        alignment: u32,
    },
    /// Longer than a pool buffer.
    TooLarge {
        /// The buffer size.
        max_bytes: u32,
    },
    /// A read or write without a buffer, or a buffer id outside the pool.
    BadBuffer,
    /// The buffer is already used by an operation in flight.
    BufferBusy,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::QueueFull => write!(f, "queue full"),
            RejectReason::Unaligned { alignment } => {
                write!(f, "offset and length must be non-zero multiples of {alignment} bytes")
            }
            RejectReason::TooLarge { max_bytes } => write!(f, "longer than {max_bytes} bytes"),
            RejectReason::BadBuffer => write!(f, "missing or unknown buffer"),
            RejectReason::BufferBusy => write!(f, "buffer already in flight"),
        }
    }
}

/// An operation handed back by `submit`, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected<T> {
    /// The operation, unchanged.
    pub op: T,
    /// Why.
    pub reason: RejectReason,
}

impl<T: fmt::Debug> fmt::Display for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operation rejected ({}): {:?}", self.reason, self.op)
    }
}

impl<T: fmt::Debug> std::error::Error for Rejected<T> {}

/// An operation that failed on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiskError {
    /// The kernel returned an error.
    #[error("I/O error: {}", std::io::Error::from_raw_os_error(*errno))]
    Os {
        /// The errno.
        errno: i32,
    },
    /// Fewer bytes were transferred than asked (e.g. a read beyond the end).
    #[error("short transfer: {done_bytes} of {expected_bytes} bytes")]
    Short {
        /// Bytes asked for.
        expected_bytes: u32,
        /// Bytes transferred.
        done_bytes: u32,
    },
}

impl DiskError {
    /// The errno to report upward (`EIO` for short transfers).
    pub fn errno(&self) -> i32 {
        match self {
            DiskError::Os { errno } => *errno,
            DiskError::Short { .. } => libc::EIO,
        }
    }
}

/// A finished operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskCompletion {
    /// The operation's tag.
    pub tag: u64,
    /// Its kind.
    pub kind: OpKind,
    /// Its buffer, now free for the caller again.
    pub buf: Option<BufId>,
    /// Bytes transferred, or the error.
    pub result: Result<u32, DiskError>,
}

/// A block store the engine submits to (real: [`super::UringDisk`]; simulated in tests).
pub trait Disk {
    /// Queue an operation; hands it back if the queue is full or the operation is invalid.
    ///
    /// # Errors
    /// [`Rejected`] carrying the operation and the reason.
    fn submit(&mut self, op: DiskOp) -> Result<(), Rejected<DiskOp>>;

    /// A finished operation, if any (never blocks).
    fn poll_completion(&mut self) -> Option<DiskCompletion>;

    /// Required alignment of offsets, lengths and buffers, in bytes.
    fn alignment(&self) -> u32;
}
