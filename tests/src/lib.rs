//! The deterministic simulator: whole clusters on a simulated disk, network and clock.
#![forbid(unsafe_code)]
