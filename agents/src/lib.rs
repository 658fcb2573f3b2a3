//! OCF resource agents shipped with the stack.
#![forbid(unsafe_code)]
pub mod fence_netns;
