//! drbdadm: administers drbd-ublk resources.
#![forbid(unsafe_code)]
fn main() {}
