//! Inputs and outputs of the replication engine: requests, disk operations, metadata writes and
//! the actions the engine hands to its driver.

use super::protocol::{Payload, PeerMsg};
use super::state::{ConnState, DiskState, Role};
use crate::meta::generation::{MdFlags, Uuids};

/// Time as the driver sees it, in milliseconds since an arbitrary start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tick(pub u64);

/// An application write.
#[derive(Clone, Debug)]
pub struct WriteReq {
    /// Caller's tag, returned in [`Action::Complete`].
    pub tag: u64,
    /// First sector (512 bytes).
    pub sector: u64,
    /// Force unit access.
    pub fua: bool,
    /// Data; length must be a non-zero multiple of 512.
    pub data: Payload,
}

/// An application read.
#[derive(Clone, Copy, Debug)]
pub struct ReadReq {
    /// Caller's tag.
    pub tag: u64,
    /// First sector.
    pub sector: u64,
    /// Length in sectors.
    pub len: u32,
}

/// I/O failure reported by a disk or returned to the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// Input/output error.
    #[error("I/O error")]
    Eio,
    /// The device is not writable here (Secondary).
    #[error("read-only: device is not Primary")]
    ReadOnly,
    /// The request lies outside the device.
    #[error("request beyond the end of the device")]
    OutOfRange,
}

impl IoError {
    /// errno value for the front-end.
    pub fn errno(self) -> i32 {
        match self {
            IoError::Eio => 5,
            IoError::ReadOnly => 30,
            IoError::OutOfRange => 22,
        }
    }
}

/// Operation on the local backing device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskOpKind {
    /// Read `len` sectors.
    Read {
        /// First sector.
        sector: u64,
        /// Length in sectors.
        len: u32,
    },
    /// Write the data.
    Write {
        /// First sector.
        sector: u64,
        /// Data.
        data: Payload,
        /// Force unit access.
        fua: bool,
    },
    /// Flush the volatile write cache.
    Flush,
}

/// A disk operation with the id its completion must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskOp {
    /// Completion id.
    pub id: u64,
    /// What to do.
    pub kind: DiskOpKind,
}

/// Completion of a [`DiskOp`] or of an [`Action::WriteMeta`].
#[derive(Clone, Debug)]
pub struct DiskCompletion {
    /// Id of the operation.
    pub id: u64,
    /// Data for reads, `None` for writes and flushes; or the error.
    pub result: Result<Option<Payload>, IoError>,
}

/// The superblock fields the engine owns (the layout code adds offsets, magic, checksum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuperblockImage {
    /// Generation identifiers.
    pub uuids: Uuids,
    /// MDF_* flags.
    pub flags: MdFlags,
    /// Last agreed size.
    pub size_sectors: u64,
}

/// A metadata write. The driver must make the data writes that completed before it durable
/// first (preflush) and the metadata itself durable before completing it (FUA), as DRBD does
/// with `md-flushes yes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaWrite {
    /// The superblock.
    Superblock(SuperblockImage),
    /// One activity-log transaction block (encoded by `meta::activity_log`).
    ActivityLog {
        /// Transaction number.
        tr: u64,
        /// Ring block (4 KiB units from the start of the AL area).
        ring_block: u32,
        /// The 4 KiB block.
        block: Vec<u8>,
    },
    /// Dirty bitmap pages: `(page number, encoded 4 KiB page)`.
    BitmapPages(Vec<(usize, Vec<u8>)>),
}

/// Snapshot of the externally visible state (for events2 and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSnapshot {
    /// Connection state.
    pub conn: ConnState,
    /// Own role.
    pub role: Role,
    /// Peer role.
    pub peer_role: Role,
    /// Own disk.
    pub disk: DiskState,
    /// Peer disk.
    pub peer_disk: DiskState,
    /// Resync paused by the user here.
    pub user_isp: bool,
    /// Resync paused by the peer.
    pub peer_isp: bool,
    /// I/O frozen while the fence-peer handler runs (`susp_fen`).
    pub susp_fen: bool,
}

/// Handler scripts DRBD would call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    /// `fence-peer`: the driver runs it and reports the exit code with
    /// `Replicator::fence_peer_result`.
    FencePeer,
    /// `initial-split-brain`.
    InitialSplitBrain,
    /// `split-brain` (unresolved).
    SplitBrain,
    /// `pri-lost-after-sb`.
    PriLostAfterSb,
    /// `pri-lost`.
    PriLost,
    /// `before-resync-target`.
    BeforeResyncTarget,
    /// `after-resync-target`.
    AfterResyncTarget,
    /// `out-of-sync` (verify found differences).
    OutOfSync,
}

/// Something the driver must do.
#[derive(Clone, Debug)]
pub enum Action {
    /// Submit an operation to the local backing device.
    SubmitDisk(DiskOp),
    /// Write metadata durably; complete with [`DiskCompletion`] carrying `id`.
    WriteMeta {
        /// Completion id.
        id: u64,
        /// What to write.
        write: MetaWrite,
    },
    /// Send to the peer over the current connection.
    Send(PeerMsg),
    /// Complete an application request.
    Complete {
        /// Caller's tag.
        tag: u64,
        /// Read data or `None`; or the error.
        result: Result<Option<Payload>, IoError>,
        /// For writes: the peer confirmed the write under the configured protocol (for
        /// protocol C: written on the peer's disk). For flushes: the peer made all earlier
        /// writes stable (barrier acknowledged).
        replicated: bool,
    },
    /// Start connecting (listen / connect until a link is up, then call `on_link_up`).
    Connect,
    /// Drop the current link (and stop connecting if the state is StandAlone).
    Disconnect,
    /// State changed.
    StateChanged(StateSnapshot),
    /// Log line (kernel log of DRBD).
    Log(String),
    /// Run a handler.
    CallHandler(Handler),
}
