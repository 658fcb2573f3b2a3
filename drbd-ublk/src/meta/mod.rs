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
//!
//! # The write path in short
//!
//! ```
//! use drbd_ublk::meta::{activity_log, ActivityLog, AlBegin, AlConfig, Bitmap};
//!
//! let mut al = ActivityLog::new(AlConfig::default(), 0).unwrap();
//! let mut bm = Bitmap::new(1 << 21); // 1 GiB
//! let mut block = vec![0u8; activity_log::AL_BLOCK_SIZE];
//!
//! // A write of 8 sectors at sector 4096: its extent is cold, so a transaction is needed.
//! let write = 4096..4104;
//! let AlBegin::AfterTransaction { tr } = al.begin_io(write.clone()).unwrap() else { panic!() };
//! let t = al.start_transaction(&mut block).expect("changes staged");
//! for &e in t.evicted() {
//!     // Bitmap pages covering evicted extents go to disk before the AL block.
//!     let _pages = bm.pages_for_sectors(activity_log::extent_sectors(e));
//! }
//! // ... write `block` to AL ring block `t.ring_block` (MetaDevice::write_al_slot) ...
//! al.transaction_durable(t.tr);
//! assert!(al.is_durable(tr));
//! // ... submit the write; if the peer did not get it, mark it out of sync ...
//! bm.set_out_of_sync(write.clone());
//! // ... when the write is on both nodes (barrier ack) or in the bitmap:
//! al.end_io(write);
//! assert_eq!(al.begin_io(4096..4104), Ok(AlBegin::Go)); // now hot: no metadata I/O
//! ```

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
