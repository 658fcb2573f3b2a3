//! The deterministic simulator: whole clusters on a simulated disk, network and clock.
//!
//! [`sim::cluster::Sim`] runs two [`drbd_ublk::repl::Replicator`]s on [`sim::disk::SimDisk`]s
//! joined by a [`sim::net::SimNet`], with every random choice drawn from one seeded
//! [`sim::prng::Prng`]. Time is a simulated millisecond counter (the clock is the loop
//! itself). `vopr --seed N` replays a run exactly.
#![forbid(unsafe_code)]

pub mod sim;
