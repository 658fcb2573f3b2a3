//! OCF resource agents shipped with the stack.
#![forbid(unsafe_code)]
pub mod drbd_fence;
pub mod drbd_ublk;
pub mod fence_netns;
