//! The deterministic simulator: whole clusters on a simulated disk, network and clock.
//!
//! [`sim::cluster::Sim`] runs two [`drbd_ublk::repl::Replicator`]s on [`sim::disk::SimDisk`]s
//! joined by a [`sim::net::SimNet`], with every random choice drawn from one seeded
//! [`sim::prng::Prng`]. Time is a simulated millisecond counter (the clock is the loop
//! itself). `vopr --seed N` replays a run exactly; `vopr --seeds N [--time-budget SECS]
//! [--from S]` runs many.
//!
//! Safety phase: random writes, flushes, reads, role changes, admin disconnect/connect,
//! invalidate, verify, pause, detach/attach, connection breaks, partitions, crashes with torn
//! unflushed writes, read errors, fence-peer handlers. Liveness phase: faults stop, crashed
//! nodes restart, a healer does what an admin would (manual split-brain recovery with
//! `--discard-my-data`, `create-md` for unrelated data, `primary --force` when nobody is
//! UpToDate), and both nodes must reach Connected UpToDate/UpToDate with identical data.
//! The oracles are listed in [`sim::cluster`].
//!
//! [`sim::pair::Pair`] is a scripted two-node setup for scenario tests.
#![forbid(unsafe_code)]

pub mod sim;
