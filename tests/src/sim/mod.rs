//! Simulated effects and the cluster harness.

pub mod cluster;
pub mod disk;
pub mod net;
pub mod pair;
pub mod prng;
