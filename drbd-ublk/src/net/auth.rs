//! Feature negotiation and cram-hmac authentication payloads (§10.2, §10.5).

use hmac::{Hmac, Mac};

/// Challenge length we send (DRBD: 64 random bytes).
pub const CHALLENGE_LEN: usize = 64;
/// Largest challenge accepted from a peer.
pub const CHALLENGE_MAX: usize = 128;
/// Largest shared secret (bytes).
pub const SECRET_MAX: usize = 64;

/// The HMAC digest named by `cram-hmac-alg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacAlg {
    /// HMAC-SHA-1.
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl HmacAlg {
    /// Parse a `cram-hmac-alg` value (`sha1`, `sha256`, `sha512`, optionally `hmac(...)`).
    pub fn from_name(name: &str) -> Option<HmacAlg> {
        let n = name.strip_prefix("hmac(").and_then(|n| n.strip_suffix(')')).unwrap_or(name);
        match n {
            "sha1" => Some(HmacAlg::Sha1),
            "sha256" => Some(HmacAlg::Sha256),
            "sha512" => Some(HmacAlg::Sha512),
            _ => None,
        }
    }

    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            HmacAlg::Sha1 => "sha1",
            HmacAlg::Sha256 => "sha256",
            HmacAlg::Sha512 => "sha512",
        }
    }

    /// HMAC of `msg` under `key` into `out`; returns the digest length.
    pub fn mac(self, key: &[u8], msg: &[u8], out: &mut [u8; 64]) -> usize {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8], out: &mut [u8]) -> usize {
            // HMAC accepts keys of any length.
            let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
            m.update(msg);
            let tag = m.finalize().into_bytes();
            out[..tag.len()].copy_from_slice(&tag);
            tag.len()
        }
        match self {
            HmacAlg::Sha1 => run::<Hmac<sha1::Sha1>>(key, msg, out),
            HmacAlg::Sha256 => run::<Hmac<sha2::Sha256>>(key, msg, out),
            HmacAlg::Sha512 => run::<Hmac<sha2::Sha512>>(key, msg, out),
        }
    }

    /// Constant-time check that `tag` is the HMAC of `msg` under `key`.
    pub fn verify(self, key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
        let mut expect = [0u8; 64];
        let n = self.mac(key, msg, &mut expect);
        if tag.len() != n {
            return false;
        }
        expect[..n].iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Authentication settings of one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Digest.
    pub alg: HmacAlg,
    /// The shared secret (at most [`SECRET_MAX`] bytes).
    pub secret: Vec<u8>,
}

/// The P_CONNECTION_FEATURES payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    /// Lowest protocol version spoken.
    pub proto_min: u32,
    /// Highest protocol version spoken.
    pub proto_max: u32,
    /// Feature bits offered.
    pub flags: u32,
    /// Name of the cram-hmac digest required, empty for none.
    pub auth_alg: String,
}

impl Features {
    /// Encode: `proto_min u32, proto_max u32, flags u32, alg_len u8, alg bytes`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.proto_min.to_be_bytes());
        out.extend_from_slice(&self.proto_max.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        let alg = &self.auth_alg.as_bytes()[..self.auth_alg.len().min(32)];
        out.push(alg.len() as u8);
        out.extend_from_slice(alg);
    }

    /// Decode; `None` if malformed.
    pub fn decode(p: &[u8]) -> Option<Features> {
        if p.len() < 13 {
            return None;
        }
        let be = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        let alen = p[12] as usize;
        if p.len() != 13 + alen || alen > 32 {
            return None;
        }
        let auth_alg = std::str::from_utf8(&p[13..]).ok()?.to_string();
        Some(Features { proto_min: be(0), proto_max: be(4), flags: be(8), auth_alg })
    }
}

/// Fill `buf` from the kernel's random source.
///
/// # Errors
/// The I/O error reading `/dev/urandom`.
pub fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_known_answers() {
        // RFC 2202 / RFC 4231 test case 2.
        let mut out = [0u8; 64];
        let n = HmacAlg::Sha1.mac(b"Jefe", b"what do ya want for nothing?", &mut out);
        let hex: String = out[..n].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        let n = HmacAlg::Sha256.mac(b"Jefe", b"what do ya want for nothing?", &mut out);
        let hex: String = out[..n].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(HmacAlg::Sha256.verify(b"Jefe", b"what do ya want for nothing?", &out[..n]));
        assert!(!HmacAlg::Sha256.verify(b"jefe", b"what do ya want for nothing?", &out[..n]));
        assert!(!HmacAlg::Sha256.verify(b"Jefe", b"x", &out[..n - 1]));
        assert_eq!(HmacAlg::from_name("hmac(sha1)"), Some(HmacAlg::Sha1));
        assert_eq!(HmacAlg::from_name("md5"), None);
    }

    #[test]
    fn features_roundtrip_and_malformed() {
        let f = Features { proto_min: 1, proto_max: 3, flags: 5, auth_alg: "sha256".into() };
        let mut b = Vec::new();
        f.encode(&mut b);
        assert_eq!(Features::decode(&b), Some(f));
        assert_eq!(Features::decode(&b[..12]), None);
        assert_eq!(Features::decode(&b[..b.len() - 1]), None);
    }
}
