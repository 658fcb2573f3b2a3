//! The peer link: framing, handshake and authentication over TCP.
