//! drbd-ublk: a replicated block device served from user space.
//!
//! The crate holds the replication engine ([`repl::Replicator`], a state machine that does no
//! I/O of its own), the on-disk metadata ([`meta`]), DRBD's configuration syntax ([`config`]),
//! the peer link ([`net`]), local I/O ([`io`]) and the front-ends that make the replicated
//! volume a kernel block device.

pub mod config;
pub mod ctl;
pub mod daemon;
pub mod fuse;
pub mod io;
pub mod meta;
pub mod net;
pub mod repl;
pub mod ublk;
