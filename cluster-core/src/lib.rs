//! cluster-core: a Pacemaker-compatible cluster manager library.
//!
//! The cluster information base ([`cib`]) in Pacemaker's XML, the policy engine
//! ([`scheduler`]), the OCF executor ([`exec`]) and the crm shell language ([`crmsh`]).
#![forbid(unsafe_code)]

pub mod cib;
pub mod controller;
pub mod crmsh;
pub mod daemon;
pub mod exec;
pub mod membership;
pub mod monitor;
pub mod scheduler;
pub mod status;
