//! On-disk metadata: superblock, activity log, bitmap and generation identifiers.
//!
//! | module | what |
//! |---|---|
//! | [`generation`] | generation identifiers (UUIDs), `MDF_*` flags, 8.4 `uuid_compare` |
//! | [`bitmap`] | quick-sync bitmap, 1 bit per 4 KiB, checksummed 4 KiB pages |
//! | [`activity_log`] | AL of 4 MiB extents, 8.4 transaction format, ring recovery |
//! | [`superblock`] | the 4 KiB superblock format |
//! | [`layout`] | internal / external / indexed placement, usable size |
//! | [`device`] | create-md, read-md and metadata I/O on files and block devices |
//!
//! DRBD 8.4 semantics for two nodes are followed throughout; where our format differs (a
//! checksum on every bitmap page, our own superblock layout with an `AL_CLEAN` flag instead of
//! a second magic) the module docs say so. The on-disk formats are not DRBD-binary-compatible:
//! DRBD's tools cannot read them, and ours refuse DRBD's metadata with a clear message.

pub mod activity_log;
pub mod bitmap;
pub mod device;
pub mod generation;
pub mod layout;
pub mod superblock;

pub use activity_log::{ActivityLog, AlBegin, AlConfig, AlRecovery, AlWrite};
pub use bitmap::Bitmap;
pub use device::{create_md, read_md, CreateOptions, MetaDevice, MetaDisk, MetaError};
pub use generation::{uuid_compare, CompareSide, Comparison, MdFlags, SyncDecision, Uuids};
pub use layout::{Layout, Placement};
pub use superblock::Superblock;
