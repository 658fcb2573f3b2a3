//! The loop-over-FUSE front-end: the replicated volume as a file in a FUSE mount, attached to a loop device.
