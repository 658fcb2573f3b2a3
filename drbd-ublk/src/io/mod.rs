//! Local I/O on the backing device.
//!
//! * [`disk`]: the [`Disk`] effect trait the replication engine submits to, with owned
//!   operations in and completions out; a full queue or an invalid operation hands the
//!   operation back whole ([`Rejected`]).
//! * [`uring`]: the real implementation, one io_uring per disk on a file or block device
//!   opened with `O_DIRECT`, with per-slot aligned buffers allocated once at open.

pub mod disk;
pub mod uring;

pub use disk::{BufId, Disk, DiskCompletion, DiskError, DiskOp, OpKind, RejectReason, Rejected};
pub use uring::{RingWaiter, UringConfig, UringDisk};
