//! The replication state machine (sans-IO): roles, connection and disk states, protocols A/B/C,
//! resync and split-brain handling.
//!
//! # Shape
//!
//! [`Replicator`] is one resource (one volume, one peer). It never performs I/O, reads no clock
//! and draws no randomness: the driver feeds it application requests ([`Replicator::on_write`],
//! [`Replicator::on_read`], [`Replicator::on_flush`]), disk and metadata completions
//! ([`Replicator::on_disk_done`]), link events ([`Replicator::on_link_up`],
//! [`Replicator::on_link_down`]), peer messages ([`Replicator::on_peer_msg`], in connection
//! order) and time ([`Replicator::tick`]); it answers with [`Action`]s taken from
//! [`Replicator::poll_action`]. New generation identifiers come from a generator seeded by the
//! driver ([`ReplConfig::uuid_seed`]).
//!
//! # Which DRBD
//!
//! DRBD 8.4 semantics throughout (two nodes, one peer, 8.4 state names and numbers, 8.4
//! `uuid_compare`, target-driven resync), because that is what `/proc/drbd`, the 8.4 metadata
//! and the walkthrough use. Deliberate differences are listed below.
//!
//! # Write path (spec §1)
//!
//! A write takes activity-log references for its 4 MiB extents first
//! ([`crate::meta::activity_log`]); a cold extent needs an AL transaction that is written
//! (after the bitmap pages of the extents it evicts) before the write is submitted. Then the
//! local write and P_DATA start together. The request completes upward when the local part
//! and the network part are both done (A: queued, B: P_RECV_ACK, C: P_WRITE_ACK) and succeeds
//! if either succeeded. It stays in the transfer log until P_BARRIER_ACK for its epoch; only
//! then are its AL references dropped. A new epoch starts after a write of the current epoch
//! completed, after `max-epoch-size` writes, or on a flush. On connection loss every write
//! without barrier ack is set out of sync. A write done without the peer sets its blocks out of
//! sync. Writes wait while the handshake runs and while a new generation UUID is being
//! written.
//!
//! Receiver: writes of one epoch are submitted as they come; after P_BARRIER nothing more is
//! processed until every write of the epoch completed and a disk flush finished (write-ordering
//! `flush`); then P_BARRIER_ACK carries the epoch's write count. Overlapping local writes (for
//! instance a resync write and an application write) are serialised.
//!
//! Difference: under protocol C an application flush completes only after the peer
//! acknowledged the barrier that closed the epoch (the peer flushed), so a completed flush
//! means "stable on both nodes". 8.4 completes it after the local flush.
//!
//! # Handshake and split brain (spec §2.6, §6)
//!
//! [`PeerMsg::ReportParams`] carries protocol, sizes, UUIDs, change count and state. The side
//! receiving it runs [`crate::meta::generation::uuid_compare`], then 8.4's post-processing:
//! disk states force the direction, `after-sb-*pri` policies for hg = 100,
//! `--discard-my-data`, "Split-Brain detected, dropping connection!" when unresolved,
//! `rr-conflict`. Both sides compute mirrored results; the RESOLVE_CONFLICTS bit given to
//! [`Replicator::on_link_up`] breaks ties. Two Primaries meeting without allow-two-primaries
//! is always reported as split brain.
//!
//! # Resync (spec §4)
//!
//! WFBitMapS sends its bitmap, WFBitMapT merges and answers, the source generates the sync
//! UUID. The target requests blocks every 100 ms step, as many as [`resync::RateController`]
//! allows, and clears bits when its writes complete; with `csums` it sends the digest of its
//! own block first. Replies for a range that an application write touched meanwhile are
//! dropped and re-requested. At the end the target flushes, rotates UUIDs and reports
//! UpToDate; the source rotates its UUIDs when it sees that report. Online verify compares
//! digests and only marks differences.

//! # Two Primaries (spec §5.6)
//!
//! With `allow-two-primaries` (and protocol C) both nodes may write. Overlapping writes in
//! flight on both nodes at once are ordered by the RESOLVE_CONFLICTS bit as in 8.4: the
//! resolver drops a peer write that overlaps one of its own unacknowledged writes and answers
//! P_SUPERSEDED (its write covers the whole range) or P_RETRY_WRITE (the sender writes it
//! again after the resolver's write); the other node holds back a peer write that overlaps
//! one of its own writes until the resolver's verdict on it arrived; and on both nodes a
//! local write waits for overlapping peer writes still being written. Both replicas end with
//! the same data and every acknowledged write is there or overwritten by a write ordered
//! after it. Details in `replicator/conflict.rs`.
//!
//! # Fencing (spec §7)
//!
//! With `fencing resource-only` a Primary that loses a peer not known to be Outdated calls
//! `fence-peer` ([`Handler::FencePeer`]); a disconnected node promoting with a peer of unknown
//! state fences first ([`Done::Pending`]). `resource-and-stonith` also freezes application
//! I/O (`susp_fen`) until [`Replicator::fence_peer_result`] reports the handler's exit code
//! (3/4/5/6/7 as in DRBD) or [`Replicator::resume_io`] is called.
//!
//! # Deliberate differences from 8.4 (each closes a hole the simulator found)
//!
//! * A node writing without its peer always starts a new generation, even when its bitmap
//!   UUID is set (an interrupted resync as source). 8.4 skips that, and if the former target
//!   finished the resync it shares the current UUID: later writes would be invisible to
//!   `uuid_compare` (silent split brain). The old bitmap UUID goes to history.
//! * hg = 0 with bits set in either bitmap ("No resync, but N bits in bitmap!") resyncs those
//!   blocks (from the side that did not restart since it was last connected, flag
//!   [`UuidFlags::fresh_attach`]), instead of leaving them different.
//! * Under protocol C a flush completes after the barrier ack (see above).
//! * A write that did not reach the peer (disconnected, or cleaned from the transfer log) is
//!   acknowledged only after the new generation UUID is durable, so a crash right after the
//!   acknowledgement cannot hide it from split-brain detection.
//! * `detach` marks a consistent disk Outdated first (writes go on without it), and a Primary
//!   re-attaching after running diskless comes back Inconsistent.
//! * The sender closes an epoch when it goes idle (on [`Replicator::tick`]) and on demotion,
//!   as 8.4's sender does when it runs out of work.
//!
//! # Not implemented
//!
//! Ahead/Behind (congestion policy pull-ahead), `on-io-error detach` (admin `detach` and
//! diskless operation through the peer exist, but a failed local write only marks its blocks
//! out of sync; if
//! that node later is resync source the stale block is copied: write errors are therefore not
//! injected by the simulator), resync-after, the 16 MiB resync-extent lock (replaced by dropping resync replies that raced
//! an application write, plus read-after-write ordering of local operations).

pub mod action;
pub mod config;
pub mod protocol;
pub mod replicator;
pub mod resync;
pub mod state;

pub use action::*;
pub use config::*;
pub use protocol::{AckKind, Payload, PeerMsg, ReportParams, UuidFlags};
pub use replicator::{AttachMeta, Done, Replicator};
pub use state::{ConnState, DiskState, Role, StateError};
