//! The peer link: framing, connection setup, version negotiation, authentication and
//! keep-alive timers.
//!
//! * [`frame`]: the fixed-header frame format and its codec (typed errors for bad magic,
//!   unknown version, oversized and truncated frames).
//! * [`link`]: connection setup over TCP with separate data and meta sockets (§10.1), then
//!   the handshake on the data socket: feature/version negotiation and cram-hmac
//!   authentication (§10.2, §10.5). Blocking `std::net`, one thread per connection.
//! * [`auth`]: the negotiation and authentication payloads, HMAC over SHA-1/SHA-2.
//! * [`keepalive`]: ping / ping-timeout / ko-count as a sans-IO state machine (§10.6).
//!
//! The logical messages of the replication protocol (`PeerMsg`) are defined by the
//! replication engine; this module carries them as `(Command, flags, volume, payload)`.

pub mod auth;
pub mod frame;
pub mod keepalive;
pub mod link;

pub use auth::{Auth, Features, HmacAlg};
pub use frame::{Command, FrameError, FrameReader, FrameWriter, Header, StreamError};
pub use keepalive::{DeadReason, Keepalive, KeepaliveAction, Timers};
pub use link::{
    establish, FrameRx, FrameTx, Link, LinkConfig, LinkHalves, NetError, PROTO_MAX, PROTO_MIN,
};
