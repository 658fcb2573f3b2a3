//! On-disk metadata: superblock, activity log, bitmap and generation identifiers.
