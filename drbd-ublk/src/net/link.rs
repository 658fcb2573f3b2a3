//! Connection setup: two TCP sockets per peer and the handshake on the data socket.
//!
//! Pairing (§10.1). Each node listens on its own address and also connects to the peer's.
//! Every new socket starts with `INITIAL_DATA` or `INITIAL_META` carrying a 64-bit nonce
//! drawn afresh for each attempt. A node accepts an incoming data socket when it has no
//! outgoing attempt of its own, or when its own attempt's nonce is smaller; it then answers
//! `INITIAL_ACCEPT` and drops its own attempt. Otherwise it closes the incoming socket, and
//! its peer, applying the same rule to the same two nonces, accepts ours. Crossed connects
//! therefore always end with exactly one data socket; equal nonces make both sides refuse and
//! retry with new ones after `connect-int`. The meta socket is then opened by the same node
//! that opened the data socket and is matched by nonce. The node that accepted the meta socket
//! holds the RESOLVE_CONFLICTS tie-breaker bit.
//!
//! Handshake (§10.2, §10.5) on the data socket, with socket timeouts of 4 × ping-timeout:
//! both sides send `CONNECTION_FEATURES` (protocol range, feature bits, required cram-hmac
//! digest); the agreed protocol is the highest common version and features are ANDed. If
//! authentication is configured, each side sends a random 64-byte challenge and answers the
//! peer's with HMAC(shared-secret, challenge). Any failure is returned as a typed
//! [`NetError`] and logged with the peer's address.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::auth::{self, Auth, Features, HmacAlg, CHALLENGE_LEN, CHALLENGE_MAX};
use super::frame::{
    Command, FrameReader, FrameWriter, Header, StreamError, HEADER_LEN, MAX_PAYLOAD,
};
use super::keepalive::Timers;

/// Lowest protocol version this build speaks.
pub const PROTO_MIN: u32 = 1;
/// Highest protocol version this build speaks.
pub const PROTO_MAX: u32 = 1;
/// Largest payload of a handshake frame.
const HANDSHAKE_MAX_PAYLOAD: u32 = 256;
/// Poll interval of the connect/accept loop.
const POLL: Duration = Duration::from_millis(5);
/// Receive buffer of a frame reader (frames that arrived together are read in one call).
const RX_BUFFER: usize = 128 << 10;

/// Why a connection could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A socket operation failed.
    #[error("{during}: {source}")]
    Io {
        /// Phase.
        during: &'static str,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing a frame failed (bad, oversized or truncated frame, peer closed).
    #[error("{during}: {source}")]
    Stream {
        /// Phase.
        during: &'static str,
        /// The frame or socket error.
        #[source]
        source: StreamError,
    },
    /// The peer sent a different packet than the handshake expects.
    #[error("{during}: expected packet 0x{expected:04x}, received 0x{got:04x}")]
    Unexpected {
        /// Phase.
        during: &'static str,
        /// Expected command.
        expected: u16,
        /// Received command.
        got: u16,
    },
    /// A handshake packet's payload is malformed.
    #[error("{during}: malformed packet: {what}")]
    Malformed {
        /// Phase.
        during: &'static str,
        /// What is wrong.
        what: String,
    },
    /// No common protocol version.
    #[error("incompatible protocol versions: we speak {ours_min}..{ours_max}, peer {theirs_min}..{theirs_max}")]
    VersionMismatch {
        /// Our lowest.
        ours_min: u32,
        /// Our highest.
        ours_max: u32,
        /// Peer's lowest.
        theirs_min: u32,
        /// Peer's highest.
        theirs_max: u32,
    },
    /// Authentication settings differ (one side has none, or the digests differ).
    #[error("authentication mismatch: we use '{ours}', peer uses '{theirs}' (empty = none)")]
    AuthMismatch {
        /// Our digest name, empty for none.
        ours: String,
        /// The peer's digest name, empty for none.
        theirs: String,
    },
    /// The peer's challenge is unacceptable (length, or a replay of ours).
    #[error("bad authentication challenge: {0}")]
    BadChallenge(&'static str),
    /// The peer's response does not prove knowledge of the shared secret.
    #[error("Authentication of peer failed")]
    AuthFailed,
    /// The connection was not established in time.
    #[error("{during}: timed out")]
    TimedOut {
        /// Phase.
        during: &'static str,
    },
}

impl NetError {
    fn stream(during: &'static str) -> impl FnOnce(StreamError) -> NetError {
        move |source| {
            if source.is_timeout() {
                NetError::TimedOut { during }
            } else {
                NetError::Stream { during, source }
            }
        }
    }

    fn io(during: &'static str) -> impl FnOnce(std::io::Error) -> NetError {
        move |source| NetError::Io { during, source }
    }

    /// True for failures caused by configuration (version, authentication settings) that a
    /// retry will not fix.
    pub fn is_config_mismatch(&self) -> bool {
        matches!(self, NetError::VersionMismatch { .. } | NetError::AuthMismatch { .. })
    }
}

/// Settings of one peer connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// The peer's replication address.
    pub peer: SocketAddr,
    /// Lowest protocol version offered.
    pub proto_min: u32,
    /// Highest protocol version offered.
    pub proto_max: u32,
    /// Feature bits offered.
    pub feature_flags: u32,
    /// cram-hmac settings, if authentication is configured.
    pub auth: Option<Auth>,
    /// Timer values.
    pub timers: Timers,
    /// Largest frame payload accepted after the handshake.
    pub max_payload: u32,
}

impl LinkConfig {
    /// Defaults for a connection to `peer`: our full protocol range, no authentication,
    /// DRBD's default timers.
    pub fn new(peer: SocketAddr) -> LinkConfig {
        LinkConfig {
            peer,
            proto_min: PROTO_MIN,
            proto_max: PROTO_MAX,
            feature_flags: 0,
            auth: None,
            timers: Timers::default(),
            max_payload: MAX_PAYLOAD,
        }
    }

    /// Settings for the first peer of a configured resource (address, timers,
    /// cram-hmac-alg/shared-secret). Returns `None` if the resource has no peer or names a
    /// digest this build lacks (the config parser already refuses those).
    pub fn from_resource(r: &crate::config::Resource) -> Option<LinkConfig> {
        let peer = r.peers().next()?;
        let net = &r.options.net;
        let mut c = LinkConfig::new(peer.address.addr);
        c.timers = Timers::from_net(net);
        if let (Some(alg), Some(secret)) = (&net.cram_hmac_alg, &net.shared_secret) {
            c.auth = Some(Auth { alg: HmacAlg::from_name(alg)?, secret: secret.as_bytes().into() });
        }
        Some(c)
    }
}

/// An established, authenticated connection to the peer.
#[derive(Debug)]
pub struct Link {
    /// The data socket (bulk data, requests, handshake, barriers).
    pub data: TcpStream,
    /// The meta socket (acks, pings).
    pub meta: TcpStream,
    /// Agreed protocol version.
    pub proto: u32,
    /// Agreed feature bits.
    pub features: u32,
    /// True on the node that accepted the meta socket (tie-breaker).
    pub resolve_conflicts: bool,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Crossed connection attempts resolved during setup (ours refused or theirs refused
    /// or accepted while ours was pending).
    pub crossed: u32,
}

/// The receiving half of one socket: frames in, through a buffer allocated once.
#[derive(Debug)]
pub struct FrameRx {
    /// The socket (a clone of the link's socket).
    pub stream: TcpStream,
    /// Another clone of it, buffered: one `recv` takes in every frame that has arrived.
    input: std::io::BufReader<TcpStream>,
    reader: FrameReader,
}

impl FrameRx {
    /// Receive one frame (blocking, subject to the socket's read timeout).
    ///
    /// # Errors
    /// [`StreamError`]: closed, invalid/oversized/truncated frame, or socket error.
    pub fn recv(&mut self) -> Result<(Header, &[u8]), StreamError> {
        self.reader.read_frame(&mut self.input)
    }

    /// Whether a whole frame is buffered (the next [`FrameRx::recv`] returns without
    /// waiting; an invalid header counts as whole: the receive reports it).
    pub fn frame_ready(&self) -> bool {
        let b = self.input.buffer();
        if b.len() < HEADER_LEN {
            return false;
        }
        match Header::decode(&b[..HEADER_LEN], self.reader.max_payload()) {
            Ok(h) => b.len() >= HEADER_LEN + h.length as usize,
            Err(_) => true,
        }
    }

    /// Whether bytes that arrived are buffered (the next [`FrameRx::recv`] starts without
    /// reading the socket).
    pub fn buffered(&self) -> bool {
        !self.input.buffer().is_empty()
    }
}

/// The sending half of one socket: frames out, through a buffer allocated once.
#[derive(Debug)]
pub struct FrameTx {
    /// The socket (a clone of the link's socket).
    pub stream: TcpStream,
    writer: FrameWriter,
}

impl FrameTx {
    /// Send one frame (blocking, subject to the socket's write timeout, `timeout`).
    ///
    /// # Errors
    /// [`StreamError`]: payload over the maximum (nothing sent) or socket error.
    pub fn send(&mut self, header: Header, payload: &[u8]) -> Result<(), StreamError> {
        self.writer.write_frame(&mut self.stream, header, payload)
    }
}

/// A link split into independent halves, one thread each.
#[derive(Debug)]
pub struct LinkHalves {
    /// Receives on the data socket.
    pub data_rx: FrameRx,
    /// Sends on the data socket.
    pub data_tx: FrameTx,
    /// Receives on the meta socket.
    pub meta_rx: FrameRx,
    /// Sends on the meta socket.
    pub meta_tx: FrameTx,
}

impl Link {
    /// Split into framed halves with payloads up to `max_payload` bytes.
    ///
    /// # Errors
    /// The OS error duplicating a socket.
    pub fn split(&self, max_payload: u32) -> std::io::Result<LinkHalves> {
        let rx = |s: &TcpStream| -> std::io::Result<FrameRx> {
            Ok(FrameRx {
                stream: s.try_clone()?,
                input: std::io::BufReader::with_capacity(RX_BUFFER, s.try_clone()?),
                reader: FrameReader::new(max_payload),
            })
        };
        let tx = |s: &TcpStream| -> std::io::Result<FrameTx> {
            Ok(FrameTx { stream: s.try_clone()?, writer: FrameWriter::new(max_payload) })
        };
        Ok(LinkHalves {
            data_rx: rx(&self.data)?,
            data_tx: tx(&self.data)?,
            meta_rx: rx(&self.meta)?,
            meta_tx: tx(&self.meta)?,
        })
    }
}

/// Connect to `cfg.peer` while accepting its connections on `listener`, pair the data and
/// meta sockets and run the handshake. Gives up after `give_up_after`.
///
/// # Errors
/// [`NetError`]; the refusal is also logged to stderr with the peer's address.
pub fn establish(
    listener: &TcpListener,
    cfg: &LinkConfig,
    give_up_after: Duration,
) -> Result<Link, NetError> {
    let r = establish_inner(listener, cfg, give_up_after);
    if let Err(e) = &r {
        eprintln!("drbd-ublk: connection with peer {} refused: {e}", cfg.peer);
    }
    r
}

#[allow(clippy::disallowed_methods)] // the real effect implementation reads the clock
fn establish_inner(
    listener: &TcpListener,
    cfg: &LinkConfig,
    give_up_after: Duration,
) -> Result<Link, NetError> {
    let deadline = Instant::now() + give_up_after;
    let (data, meta, resolve_conflicts, crossed) = Pairing::new(listener, cfg, deadline)?.run()?;
    for s in [&data, &meta] {
        s.set_nodelay(true).map_err(NetError::io("setting TCP_NODELAY"))?;
    }
    let (proto, features) = handshake(&data, cfg)?;
    let send_timeout = Some(Duration::from_millis(cfg.timers.timeout_ms.max(1)));
    data.set_read_timeout(None).map_err(NetError::io("socket options"))?;
    data.set_write_timeout(send_timeout).map_err(NetError::io("socket options"))?;
    meta.set_read_timeout(None).map_err(NetError::io("socket options"))?;
    Ok(Link { data, meta, proto, features, resolve_conflicts, peer: cfg.peer, crossed })
}

fn fresh_nonce() -> Result<u64, NetError> {
    let mut b = [0u8; 8];
    auth::random_bytes(&mut b).map_err(NetError::io("reading random bytes"))?;
    Ok(u64::from_be_bytes(b))
}

struct Pairing<'a> {
    listener: &'a TcpListener,
    cfg: &'a LinkConfig,
    deadline: Instant,
    hs_timeout: Duration,
    reader: FrameReader,
    writer: FrameWriter,
    nonce: u64,
    out: Option<TcpStream>,
    next_attempt: Instant,
    crossed: u32,
}

impl<'a> Pairing<'a> {
    #[allow(clippy::disallowed_methods)]
    fn new(
        listener: &'a TcpListener,
        cfg: &'a LinkConfig,
        deadline: Instant,
    ) -> Result<Self, NetError> {
        listener.set_nonblocking(true).map_err(NetError::io("listener"))?;
        Ok(Pairing {
            listener,
            cfg,
            deadline,
            hs_timeout: Duration::from_millis(cfg.timers.handshake_timeout_ms().max(1)),
            reader: FrameReader::new(HANDSHAKE_MAX_PAYLOAD),
            writer: FrameWriter::new(HANDSHAKE_MAX_PAYLOAD),
            nonce: fresh_nonce()?,
            out: None,
            crossed: 0,
            next_attempt: Instant::now(),
        })
    }

    fn prepare(&self, s: &TcpStream) -> Result<(), NetError> {
        s.set_nonblocking(false).map_err(NetError::io("socket options"))?;
        s.set_read_timeout(Some(self.hs_timeout)).map_err(NetError::io("socket options"))?;
        s.set_write_timeout(Some(self.hs_timeout)).map_err(NetError::io("socket options"))
    }

    /// Read the first packet of an accepted socket: (command, nonce).
    fn read_initial(&mut self, s: &mut TcpStream) -> Result<(Command, u64), NetError> {
        const DURING: &str = "reading the initial packet";
        let (h, p) = self.reader.read_frame(s).map_err(NetError::stream(DURING))?;
        if h.command != Command::INITIAL_DATA && h.command != Command::INITIAL_META {
            return Err(NetError::Unexpected {
                during: DURING,
                expected: Command::INITIAL_DATA.0,
                got: h.command.0,
            });
        }
        let nonce: [u8; 8] = p
            .try_into()
            .map_err(|_| NetError::Malformed { during: DURING, what: "nonce".into() })?;
        Ok((h.command, u64::from_be_bytes(nonce)))
    }

    fn send(
        &mut self,
        s: &mut TcpStream,
        c: Command,
        p: &[u8],
        during: &'static str,
    ) -> Result<(), NetError> {
        self.writer.write_frame(s, Header::new(c, 0), p).map_err(NetError::stream(during))
    }

    #[allow(clippy::disallowed_methods)]
    fn run(mut self) -> Result<(TcpStream, TcpStream, bool, u32), NetError> {
        loop {
            if Instant::now() >= self.deadline {
                return Err(NetError::TimedOut { during: "connecting to the peer" });
            }
            if let Some(data) = self.poll_incoming()? {
                let meta = self.accept_meta(data.1)?;
                return Ok((data.0, meta, true, self.crossed));
            }
            if let Some(data) = self.poll_outgoing()? {
                let mut meta = TcpStream::connect_timeout(&self.cfg.peer, self.hs_timeout)
                    .map_err(NetError::io("connecting the meta socket"))?;
                self.prepare(&meta)?;
                let n = self.nonce.to_be_bytes();
                self.send(&mut meta, Command::INITIAL_META, &n, "sending INITIAL_META")?;
                return Ok((data, meta, false, self.crossed));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Accept one pending socket; returns the data socket if we accept the peer's.
    fn poll_incoming(&mut self) -> Result<Option<(TcpStream, u64)>, NetError> {
        let mut s = match self.listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(NetError::Io { during: "accepting", source: e }),
        };
        self.prepare(&s)?;
        let (cmd, theirs) = self.read_initial(&mut s)?;
        if cmd == Command::INITIAL_META {
            return Ok(None); // a stale meta socket of an abandoned attempt
        }
        if self.out.is_some() {
            self.crossed += 1;
        }
        let accept = self.out.is_none() || self.nonce < theirs;
        if !accept {
            return Ok(None); // dropping it tells the peer to accept ours
        }
        self.send(&mut s, Command::INITIAL_ACCEPT, &[], "accepting the data socket")?;
        self.out = None;
        Ok(Some((s, theirs)))
    }

    /// Advance our own data-socket attempt; returns it once the peer accepted it.
    #[allow(clippy::disallowed_methods)]
    fn poll_outgoing(&mut self) -> Result<Option<TcpStream>, NetError> {
        let now = Instant::now();
        let retry = Duration::from_millis(self.cfg.timers.connect_int_ms);
        if self.out.is_none() {
            if now < self.next_attempt {
                return Ok(None);
            }
            let Ok(mut s) = TcpStream::connect_timeout(&self.cfg.peer, self.hs_timeout) else {
                self.next_attempt = now + retry;
                return Ok(None);
            };
            self.prepare(&s)?;
            let n = self.nonce.to_be_bytes();
            if self.send(&mut s, Command::INITIAL_DATA, &n, "sending INITIAL_DATA").is_err() {
                self.next_attempt = now + retry;
                return Ok(None);
            }
            s.set_nonblocking(true).map_err(NetError::io("socket options"))?;
            self.out = Some(s);
        }
        let Some(s) = &self.out else { return Ok(None) };
        let mut hb = [0u8; HEADER_LEN];
        let refused = match s.peek(&mut hb) {
            Ok(n) if n >= HEADER_LEN => false,
            Ok(0) => true,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
            Err(_) => true,
        };
        if refused {
            self.crossed += 1;
            // The peer goes on with its own attempt, which we will accept.
            self.out = None;
            self.nonce = fresh_nonce()?;
            self.next_attempt = now + retry;
            return Ok(None);
        }
        let mut s = self.out.take().unwrap_or_else(|| unreachable!("checked above"));
        self.prepare(&s)?;
        const DURING: &str = "waiting for the peer to accept the data socket";
        let (h, _) = self.reader.read_frame(&mut s).map_err(NetError::stream(DURING))?;
        if h.command != Command::INITIAL_ACCEPT {
            return Err(NetError::Unexpected {
                during: DURING,
                expected: Command::INITIAL_ACCEPT.0,
                got: h.command.0,
            });
        }
        Ok(Some(s))
    }

    /// After accepting the peer's data socket, wait for its meta socket (same nonce).
    #[allow(clippy::disallowed_methods)]
    fn accept_meta(&mut self, nonce: u64) -> Result<TcpStream, NetError> {
        let limit = (Instant::now() + self.hs_timeout).min(self.deadline);
        loop {
            if Instant::now() >= limit {
                return Err(NetError::TimedOut { during: "waiting for the meta socket" });
            }
            match self.listener.accept() {
                Ok((mut s, _)) => {
                    self.prepare(&s)?;
                    let (cmd, theirs) = self.read_initial(&mut s)?;
                    if cmd == Command::INITIAL_META && theirs == nonce {
                        return Ok(s);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
                Err(e) => return Err(NetError::Io { during: "accepting", source: e }),
            }
        }
    }
}

/// Feature negotiation and authentication on the data socket; returns (protocol, features).
fn handshake(data: &TcpStream, cfg: &LinkConfig) -> Result<(u32, u32), NetError> {
    let t = Some(Duration::from_millis(cfg.timers.handshake_timeout_ms().max(1)));
    data.set_read_timeout(t).map_err(NetError::io("socket options"))?;
    data.set_write_timeout(t).map_err(NetError::io("socket options"))?;
    let mut s = data;
    let mut reader = FrameReader::new(HANDSHAKE_MAX_PAYLOAD);
    let mut writer = FrameWriter::new(HANDSHAKE_MAX_PAYLOAD);
    let ours = Features {
        proto_min: cfg.proto_min,
        proto_max: cfg.proto_max,
        flags: cfg.feature_flags,
        auth_alg: cfg.auth.as_ref().map(|a| a.alg.name().to_string()).unwrap_or_default(),
    };
    let mut buf = Vec::with_capacity(64);
    ours.encode(&mut buf);
    const F: &str = "feature negotiation";
    writer
        .write_frame(&mut s, Header::new(Command::CONNECTION_FEATURES, 0), &buf)
        .map_err(NetError::stream(F))?;
    let p = expect(&mut reader, &mut s, Command::CONNECTION_FEATURES, F)?;
    let theirs = Features::decode(p)
        .ok_or_else(|| NetError::Malformed { during: F, what: "features payload".into() })?;
    let proto = ours.proto_max.min(theirs.proto_max);
    if proto < ours.proto_min.max(theirs.proto_min) || theirs.proto_min > theirs.proto_max {
        return Err(NetError::VersionMismatch {
            ours_min: ours.proto_min,
            ours_max: ours.proto_max,
            theirs_min: theirs.proto_min,
            theirs_max: theirs.proto_max,
        });
    }
    if ours.auth_alg != theirs.auth_alg {
        return Err(NetError::AuthMismatch { ours: ours.auth_alg, theirs: theirs.auth_alg });
    }
    if let Some(a) = &cfg.auth {
        authenticate(&mut s, &mut reader, &mut writer, a)?;
    }
    Ok((proto, ours.flags & theirs.flags))
}

fn expect<'r>(
    reader: &'r mut FrameReader,
    s: &mut &TcpStream,
    cmd: Command,
    during: &'static str,
) -> Result<&'r [u8], NetError> {
    let (h, p) = reader.read_frame(s).map_err(NetError::stream(during))?;
    if h.command != cmd {
        return Err(NetError::Unexpected { during, expected: cmd.0, got: h.command.0 });
    }
    Ok(p)
}

fn authenticate(
    s: &mut &TcpStream,
    reader: &mut FrameReader,
    writer: &mut FrameWriter,
    a: &Auth,
) -> Result<(), NetError> {
    const C: &str = "authentication";
    let mut mine = [0u8; CHALLENGE_LEN];
    auth::random_bytes(&mut mine).map_err(NetError::io("reading random bytes"))?;
    writer
        .write_frame(s, Header::new(Command::AUTH_CHALLENGE, 0), &mine)
        .map_err(NetError::stream(C))?;
    let theirs = expect(reader, s, Command::AUTH_CHALLENGE, C)?;
    if theirs.len() < CHALLENGE_LEN || theirs.len() > CHALLENGE_MAX {
        return Err(NetError::BadChallenge("length outside 64..128 bytes"));
    }
    if theirs == mine {
        return Err(NetError::BadChallenge("peer replayed our own challenge"));
    }
    let mut resp = [0u8; 64];
    let n = a.alg.mac(&a.secret, theirs, &mut resp);
    writer
        .write_frame(s, Header::new(Command::AUTH_RESPONSE, 0), &resp[..n])
        .map_err(NetError::stream(C))?;
    let answer = expect(reader, s, Command::AUTH_RESPONSE, C)?;
    if !a.alg.verify(&a.secret, &mine, answer) {
        return Err(NetError::AuthFailed);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
