//! On-disk metadata: superblock, activity log, bitmap and generation identifiers.

pub mod activity_log;
pub mod bitmap;
pub mod generation;
