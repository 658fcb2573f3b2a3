//! Frame format of the peer link and its codec.
//!
//! Every frame is a fixed 16-byte big-endian header followed by `length` payload bytes:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic [`MAGIC`] |
//! | 4 | 2 | frame format version ([`FRAME_VERSION`]) |
//! | 6 | 2 | command (DRBD packet numbers, [`Command`]) |
//! | 8 | 2 | flags (command specific) |
//! | 10 | 2 | volume number |
//! | 12 | 4 | payload length |
//!
//! The decoder refuses a wrong magic, an unknown format version and a payload longer than the
//! configured maximum before reading any payload, so a hostile peer cannot make us allocate or
//! wait for more than one maximum-size frame. Readers and writers use one buffer allocated at
//! construction: no allocation per frame.

use std::io::{ErrorKind, Read, Write};

/// Magic number at the start of every frame ("DUB1").
pub const MAGIC: u32 = 0x4455_4231;
/// The frame format version this code speaks.
pub const FRAME_VERSION: u16 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 16;
/// Largest data payload of one request (DRBD_MAX_BIO_SIZE, 1 MiB).
pub const MAX_DATA_BYTES: u32 = 1 << 20;
/// Default maximum payload: one maximal data block plus room for its request header.
pub const MAX_PAYLOAD: u32 = MAX_DATA_BYTES + 4096;

/// A packet command (DRBD's numbering, §10.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Command(pub u16);

#[allow(missing_docs)]
impl Command {
    pub const DATA: Command = Command(0x00);
    pub const DATA_REPLY: Command = Command(0x01);
    pub const RS_DATA_REPLY: Command = Command(0x02);
    pub const BARRIER: Command = Command(0x03);
    pub const BITMAP: Command = Command(0x04);
    pub const DATA_REQUEST: Command = Command(0x08);
    pub const RS_DATA_REQUEST: Command = Command(0x09);
    pub const PROTOCOL: Command = Command(0x0b);
    pub const UUIDS: Command = Command(0x0c);
    pub const SIZES: Command = Command(0x0d);
    pub const STATE: Command = Command(0x0e);
    pub const SYNC_UUID: Command = Command(0x0f);
    pub const AUTH_CHALLENGE: Command = Command(0x10);
    pub const AUTH_RESPONSE: Command = Command(0x11);
    pub const STATE_CHG_REQ: Command = Command(0x12);
    pub const PING: Command = Command(0x13);
    pub const PING_ACK: Command = Command(0x14);
    pub const RECV_ACK: Command = Command(0x15);
    pub const WRITE_ACK: Command = Command(0x16);
    pub const RS_WRITE_ACK: Command = Command(0x17);
    pub const NEG_ACK: Command = Command(0x19);
    pub const BARRIER_ACK: Command = Command(0x1c);
    pub const STATE_CHG_REPLY: Command = Command(0x1d);
    pub const SYNC_PARAM89: Command = Command(0x23);
    pub const COMPRESSED_BITMAP: Command = Command(0x24);
    pub const OUT_OF_SYNC: Command = Command(0x28);
    /// First packet on a new meta socket.
    pub const INITIAL_META: Command = Command(0xfff1);
    /// First packet on a new data socket.
    pub const INITIAL_DATA: Command = Command(0xfff2);
    /// The acceptor's "this data socket is the one" answer to INITIAL_DATA.
    pub const INITIAL_ACCEPT: Command = Command(0xfff3);
    /// Version and feature negotiation.
    pub const CONNECTION_FEATURES: Command = Command(0xfffe);
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The first four bytes are not [`MAGIC`].
    #[error("bad frame magic 0x{found:08x}")]
    BadMagic {
        /// What was found.
        found: u32,
    },
    /// The header's format version is not one we speak.
    #[error("unknown frame format version {found} (we speak {FRAME_VERSION})")]
    UnknownVersion {
        /// What was found.
        found: u16,
    },
    /// The announced payload exceeds the maximum.
    #[error("frame payload of {length} bytes exceeds the maximum of {max}")]
    Oversized {
        /// Announced length.
        length: u32,
        /// The limit.
        max: u32,
    },
    /// The buffer (or stream) ended inside a frame.
    #[error("truncated frame: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Command.
    pub command: Command,
    /// Flags.
    pub flags: u16,
    /// Volume number.
    pub volume: u16,
    /// Payload length in bytes.
    pub length: u32,
}

impl Header {
    /// Header for `command` with `length` payload bytes, flags and volume 0.
    pub fn new(command: Command, length: u32) -> Header {
        Header { command, flags: 0, volume: 0, length }
    }

    /// The 16 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        b[4..6].copy_from_slice(&FRAME_VERSION.to_be_bytes());
        b[6..8].copy_from_slice(&self.command.0.to_be_bytes());
        b[8..10].copy_from_slice(&self.flags.to_be_bytes());
        b[10..12].copy_from_slice(&self.volume.to_be_bytes());
        b[12..16].copy_from_slice(&self.length.to_be_bytes());
        b
    }

    /// Decode and check a header against `max_payload`.
    ///
    /// # Errors
    /// [`FrameError`] for bad magic, unknown version, oversized length or too few bytes.
    pub fn decode(buf: &[u8], max_payload: u32) -> Result<Header, FrameError> {
        if buf.len() < HEADER_LEN {
            return Err(FrameError::Truncated { needed: HEADER_LEN, have: buf.len() });
        }
        let be16 = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
        let magic = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if magic != MAGIC {
            return Err(FrameError::BadMagic { found: magic });
        }
        let version = be16(4);
        if version != FRAME_VERSION {
            return Err(FrameError::UnknownVersion { found: version });
        }
        let length = u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]);
        if length > max_payload {
            return Err(FrameError::Oversized { length, max: max_payload });
        }
        Ok(Header { command: Command(be16(6)), flags: be16(8), volume: be16(10), length })
    }
}

/// Decode one whole frame from the start of `buf`: the header, the payload slice and the
/// number of bytes consumed.
///
/// ```
/// use drbd_ublk::net::frame::{decode_frame, encode_frame, Command, FrameError, Header};
/// let mut buf = Vec::new();
/// encode_frame(&mut buf, Header::new(Command::PING, 0), b"", 1024).unwrap();
/// let (h, payload, used) = decode_frame(&buf, 1024).unwrap();
/// assert_eq!((h.command, payload.len(), used), (Command::PING, 0, 16));
/// assert!(matches!(decode_frame(&buf[..10], 1024), Err(FrameError::Truncated { .. })));
/// ```
///
/// # Errors
/// As [`Header::decode`]; [`FrameError::Truncated`] if the payload is incomplete.
pub fn decode_frame(buf: &[u8], max_payload: u32) -> Result<(Header, &[u8], usize), FrameError> {
    let h = Header::decode(buf, max_payload)?;
    let total = HEADER_LEN + h.length as usize;
    if buf.len() < total {
        return Err(FrameError::Truncated { needed: total, have: buf.len() });
    }
    Ok((h, &buf[HEADER_LEN..total], total))
}

/// Append one frame to `out`.
///
/// # Errors
/// [`FrameError::Oversized`] if `payload` is longer than `max_payload`.
pub fn encode_frame(
    out: &mut Vec<u8>,
    header: Header,
    payload: &[u8],
    max_payload: u32,
) -> Result<(), FrameError> {
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    if length > max_payload {
        return Err(FrameError::Oversized { length, max: max_payload });
    }
    out.extend_from_slice(&Header { length, ..header }.encode());
    out.extend_from_slice(payload);
    Ok(())
}

/// Error of a stream read or write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The bytes were not a valid frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer closed the connection at a frame boundary.
    #[error("connection closed by peer")]
    Closed,
    /// The socket failed (including read/write timeouts).
    #[error("socket error: {0}")]
    Io(#[source] std::io::Error),
}

impl StreamError {
    /// True if the error is a socket timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, StreamError::Io(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
    }
}

/// Reads frames from a byte stream into one buffer allocated at construction.
#[derive(Debug)]
pub struct FrameReader {
    buf: Box<[u8]>,
    max_payload: u32,
}

impl FrameReader {
    /// A reader accepting payloads up to `max_payload` bytes.
    pub fn new(max_payload: u32) -> FrameReader {
        FrameReader { buf: vec![0u8; max_payload as usize].into_boxed_slice(), max_payload }
    }

    /// The payload limit.
    pub fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// Read one frame. The payload slice is valid until the next call.
    ///
    /// # Errors
    /// [`StreamError::Closed`] on EOF before a header, [`FrameError::Truncated`] on EOF inside
    /// a frame, other [`FrameError`]s for invalid headers, [`StreamError::Io`] otherwise.
    pub fn read_frame(&mut self, r: &mut impl Read) -> Result<(Header, &[u8]), StreamError> {
        let mut hb = [0u8; HEADER_LEN];
        let got = read_full(r, &mut hb)?;
        if got == 0 {
            return Err(StreamError::Closed);
        }
        if got < HEADER_LEN {
            return Err(FrameError::Truncated { needed: HEADER_LEN, have: got }.into());
        }
        let h = Header::decode(&hb, self.max_payload)?;
        let len = h.length as usize;
        let got = read_full(r, &mut self.buf[..len])?;
        if got < len {
            return Err(
                FrameError::Truncated { needed: HEADER_LEN + len, have: HEADER_LEN + got }.into()
            );
        }
        Ok((h, &self.buf[..len]))
    }
}

/// Read until `buf` is full or EOF; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, StreamError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(StreamError::Io(e)),
        }
    }
    Ok(n)
}

/// Writes frames through one buffer allocated at construction (one `write_all` per frame).
#[derive(Debug)]
pub struct FrameWriter {
    buf: Vec<u8>,
    max_payload: u32,
}

impl FrameWriter {
    /// A writer for payloads up to `max_payload` bytes.
    pub fn new(max_payload: u32) -> FrameWriter {
        FrameWriter { buf: Vec::with_capacity(HEADER_LEN + max_payload as usize), max_payload }
    }

    /// Write one frame.
    ///
    /// # Errors
    /// [`FrameError::Oversized`] (nothing written) or the socket error.
    pub fn write_frame(
        &mut self,
        w: &mut impl Write,
        header: Header,
        payload: &[u8],
    ) -> Result<(), StreamError> {
        self.buf.clear();
        encode_frame(&mut self.buf, header, payload, self.max_payload)?;
        w.write_all(&self.buf).map_err(StreamError::Io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: a tiny seeded generator for the randomised decoder test.
    struct Prng(u64);
    impl Prng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn roundtrip() {
        let mut out = Vec::new();
        let h = Header { command: Command::DATA, flags: 7, volume: 3, length: 0 };
        encode_frame(&mut out, h, b"hello", MAX_PAYLOAD).unwrap();
        assert_eq!(out.len(), HEADER_LEN + 5);
        let (d, p, n) = decode_frame(&out, MAX_PAYLOAD).unwrap();
        assert_eq!(d, Header { length: 5, ..h });
        assert_eq!((p, n), (&b"hello"[..], out.len()));
    }

    #[test]
    fn refuses_bad_frames() {
        let mut good = Vec::new();
        encode_frame(&mut good, Header::new(Command::PING, 0), b"abcd", 100).unwrap();
        let mut b = good.clone();
        b[0] = 0;
        assert_eq!(decode_frame(&b, 100).unwrap_err(), FrameError::BadMagic { found: 0x0055_4231 });
        let mut b = good.clone();
        b[5] = 9;
        assert_eq!(decode_frame(&b, 100).unwrap_err(), FrameError::UnknownVersion { found: 9 });
        assert_eq!(
            decode_frame(&good, 3).unwrap_err(),
            FrameError::Oversized { length: 4, max: 3 }
        );
        assert_eq!(
            decode_frame(&good[..18], 100).unwrap_err(),
            FrameError::Truncated { needed: 20, have: 18 }
        );
        assert_eq!(
            decode_frame(&good[..5], 100).unwrap_err(),
            FrameError::Truncated { needed: 16, have: 5 }
        );
        let mut out = Vec::new();
        assert!(encode_frame(&mut out, Header::new(Command::DATA, 0), &[0; 101], 100).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn reader_on_streams() {
        let mut w = FrameWriter::new(64);
        let mut bytes = Vec::new();
        w.write_frame(&mut bytes, Header::new(Command::PING, 0), b"").unwrap();
        w.write_frame(&mut bytes, Header::new(Command::DATA, 0), &[1, 2, 3]).unwrap();
        let mut r = FrameReader::new(64);
        let mut s = &bytes[..];
        assert_eq!(r.read_frame(&mut s).unwrap().0.command, Command::PING);
        assert_eq!(r.read_frame(&mut s).unwrap().1, &[1, 2, 3]);
        assert!(matches!(r.read_frame(&mut s), Err(StreamError::Closed)));
        let mut s = &bytes[..HEADER_LEN + HEADER_LEN + 1];
        r.read_frame(&mut s).unwrap();
        assert!(matches!(
            r.read_frame(&mut s),
            Err(StreamError::Frame(FrameError::Truncated { needed: 19, have: 17 }))
        ));
    }

    #[test]
    fn randomised_decoder_never_panics() {
        let mut rng = Prng(0x5eed_d8bd_0001);
        let mut valid = 0;
        for i in 0..20_000 {
            let len = (rng.next() % 64) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Half the cases start from a valid header so deeper paths are reached.
            if i % 2 == 0 && len >= HEADER_LEN {
                let h = Header::new(Command(rng.next() as u16), (rng.next() % 80) as u32);
                buf[..HEADER_LEN].copy_from_slice(&h.encode());
                if rng.next() % 4 == 0 {
                    let pos = (rng.next() as usize) % HEADER_LEN;
                    buf[pos] ^= 1 << (rng.next() % 8);
                }
            }
            match decode_frame(&buf, 48) {
                Ok((h, p, n)) => {
                    valid += 1;
                    assert!(n <= buf.len() && p.len() == h.length as usize && h.length <= 48);
                }
                Err(FrameError::Truncated { needed, have }) => assert!(needed > have),
                Err(_) => {}
            }
            let mut r = FrameReader::new(48);
            let mut s = &buf[..];
            let _ = r.read_frame(&mut s);
        }
        assert!(valid > 100, "only {valid} valid frames generated");
    }
}
