//! Simulated effects and the cluster harness.

pub mod cluster;
pub mod disk;
pub mod net;
pub mod prng;
