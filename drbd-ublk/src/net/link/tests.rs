//! Loopback TCP tests of pairing and handshake.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use super::*;
use crate::net::frame::{decode_frame, encode_frame, FrameError, MAX_PAYLOAD};

fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

fn cfg(peer: &TcpListener) -> LinkConfig {
    let mut c = LinkConfig::new(peer.local_addr().unwrap());
    c.timers.ping_timeout_ms = 500;
    c.timers.connect_int_ms = 50;
    c
}

fn auth(alg: HmacAlg, secret: &str) -> Option<Auth> {
    Some(Auth { alg, secret: secret.as_bytes().to_vec() })
}

type Pair = (Result<Link, NetError>, Result<Link, NetError>);

/// Run both sides; `delay_a`/`delay_b` postpone the start of each.
fn run(
    edit: impl Fn(&mut LinkConfig, &mut LinkConfig),
    delay_a: u64,
    delay_b: u64,
    barrier: bool,
) -> Pair {
    let (la, lb) = (listener(), listener());
    let (mut ca, mut cb) = (cfg(&lb), cfg(&la));
    edit(&mut ca, &mut cb);
    let gate = Arc::new(Barrier::new(2));
    let side = |l: TcpListener, c: LinkConfig, delay: u64, g: Arc<Barrier>| {
        thread::spawn(move || {
            if barrier {
                g.wait();
            }
            thread::sleep(Duration::from_millis(delay));
            establish(&l, &c, Duration::from_secs(5))
        })
    };
    let a = side(la, ca, delay_a, gate.clone());
    let b = side(lb, cb, delay_b, gate);
    (a.join().unwrap(), b.join().unwrap())
}

fn check_connected(a: Link, b: Link) {
    assert_ne!(a.resolve_conflicts, b.resolve_conflicts, "exactly one side holds the tie-breaker");
    assert_eq!((a.proto, b.proto), (PROTO_MAX, PROTO_MAX));
    // The data sockets are each other's ends, and so are the meta sockets.
    let mut w = FrameWriter::new(64);
    let mut r = FrameReader::new(64);
    for (mut from, mut to, cmd) in [
        (&a.data, &b.data, Command::DATA),
        (&b.data, &a.data, Command::DATA_REPLY),
        (&a.meta, &b.meta, Command::PING),
        (&b.meta, &a.meta, Command::PING_ACK),
    ] {
        to.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        w.write_frame(&mut from, Header::new(cmd, 0), b"x").unwrap();
        let (h, p) = r.read_frame(&mut to).unwrap();
        assert_eq!((h.command, p), (cmd, &b"x"[..]));
    }
}

#[test]
fn split_halves_carry_max_size_frames() {
    let (a, b) = run(|_, _| {}, 0, 0, false);
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut ha = a.split(MAX_PAYLOAD).unwrap();
    let mut hb = b.split(MAX_PAYLOAD).unwrap();
    let big = vec![0x5a; MAX_PAYLOAD as usize];
    let sender = thread::spawn(move || {
        ha.data_tx.send(Header::new(Command::DATA, 0), &big).unwrap();
        ha.meta_tx.send(Header::new(Command::PING, 0), &[]).unwrap();
        ha
    });
    let (h, p) = hb.data_rx.recv().unwrap();
    assert_eq!((h.command, h.length, p.len()), (Command::DATA, MAX_PAYLOAD, MAX_PAYLOAD as usize));
    assert!(p.iter().all(|x| *x == 0x5a));
    assert_eq!(hb.meta_rx.recv().unwrap().0.command, Command::PING);
    let mut ha = sender.join().unwrap();
    let over = vec![0u8; MAX_PAYLOAD as usize + 1];
    assert!(matches!(
        ha.data_tx.send(Header::new(Command::DATA, 0), &over),
        Err(StreamError::Frame(FrameError::Oversized { .. }))
    ));
    drop(a);
    drop(ha);
    assert!(matches!(hb.data_rx.recv(), Err(StreamError::Closed)));
}

#[test]
fn handshake_succeeds_either_side_first() {
    for (da, db) in [(0, 300), (300, 0), (0, 0)] {
        let (a, b) = run(|_, _| {}, da, db, false);
        check_connected(a.unwrap(), b.unwrap());
    }
}

#[test]
fn simultaneous_connects_pair_up() {
    let mut crossed = 0;
    for _ in 0..8 {
        let (a, b) = run(|_, _| {}, 0, 0, true);
        let (a, b) = (a.unwrap(), b.unwrap());
        crossed += a.crossed + b.crossed;
        check_connected(a, b);
    }
    eprintln!("crossed attempts resolved in 8 runs: {crossed}");
}

/// Drive a real endpoint against a scripted peer so that both connect attempts are in flight
/// at once, with the scripted peer's nonce above or below the endpoint's.
fn crossed_with(peer_wins: bool) -> Link {
    let l = listener();
    let peer_l = listener();
    let c = cfg(&peer_l);
    let addr = l.local_addr().unwrap();
    let t = thread::spawn(move || {
        // The endpoint's data attempt arrives first; keep it pending.
        let (mut theirs, _) = peer_l.accept().unwrap();
        let mut r = FrameReader::new(256);
        let (h, p) = r.read_frame(&mut theirs).unwrap();
        assert_eq!(h.command, Command::INITIAL_DATA);
        let n = u64::from_be_bytes(p.try_into().unwrap());
        // Our own attempt crosses it.
        let mine = if peer_wins { n.saturating_add(1) } else { n.saturating_sub(1) };
        let mut d = TcpStream::connect(addr).unwrap();
        d.write_all(&frame(Command::INITIAL_DATA, &mine.to_be_bytes())).unwrap();
        let mut data = if peer_wins {
            let (h, _) = r.read_frame(&mut d).unwrap();
            assert_eq!(h.command, Command::INITIAL_ACCEPT);
            let mut m = TcpStream::connect(addr).unwrap();
            m.write_all(&frame(Command::INITIAL_META, &mine.to_be_bytes())).unwrap();
            std::mem::forget(m);
            d
        } else {
            // The endpoint refuses ours by closing it; we accept its attempt.
            d.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            assert!(matches!(r.read_frame(&mut d), Err(StreamError::Closed)));
            theirs.write_all(&frame(Command::INITIAL_ACCEPT, &[])).unwrap();
            let (mut m, _) = peer_l.accept().unwrap();
            let (h, p) = r.read_frame(&mut m).unwrap();
            assert_eq!((h.command, p), (Command::INITIAL_META, &n.to_be_bytes()[..]));
            std::mem::forget(m);
            theirs
        };
        let mut f = Vec::new();
        Features { proto_min: 1, proto_max: 1, flags: 0, auth_alg: String::new() }.encode(&mut f);
        data.write_all(&frame(Command::CONNECTION_FEATURES, &f)).unwrap();
        r.read_frame(&mut data).unwrap();
        std::mem::forget(data);
    });
    let link = establish(&l, &c, Duration::from_secs(5)).unwrap();
    t.join().unwrap();
    link
}

#[test]
fn crossed_attempts_resolved_by_nonce() {
    let l = crossed_with(true);
    assert!(l.resolve_conflicts, "the endpoint accepted the meta socket");
    assert_eq!(l.crossed, 1);
    let l = crossed_with(false);
    assert!(!l.resolve_conflicts, "the endpoint opened the meta socket");
    assert_eq!(l.crossed, 1);
}

#[test]
fn authenticated_handshake() {
    for alg in [HmacAlg::Sha1, HmacAlg::Sha256, HmacAlg::Sha512] {
        let (a, b) = run(
            |a, b| {
                a.auth = auth(alg, "s3cr3t");
                b.auth = auth(alg, "s3cr3t");
            },
            0,
            0,
            true,
        );
        check_connected(a.unwrap(), b.unwrap());
    }
}

#[test]
fn wrong_secret_refused() {
    let (a, b) = run(
        |a, b| {
            a.auth = auth(HmacAlg::Sha256, "one");
            b.auth = auth(HmacAlg::Sha256, "two");
        },
        0,
        0,
        false,
    );
    assert!(matches!(a, Err(NetError::AuthFailed)), "{a:?}");
    assert!(matches!(b, Err(NetError::AuthFailed)), "{b:?}");
    assert_eq!(NetError::AuthFailed.to_string(), "Authentication of peer failed");
}

#[test]
fn secret_on_one_side_only_refused() {
    let (a, b) = run(|a, _| a.auth = auth(HmacAlg::Sha1, "s"), 0, 0, false);
    let e = a.unwrap_err();
    assert!(
        matches!(&e, NetError::AuthMismatch { ours, theirs } if ours == "sha1" && theirs.is_empty()),
        "{e}"
    );
    assert!(e.is_config_mismatch());
    assert!(matches!(b, Err(NetError::AuthMismatch { .. })));
    let (a, _) = run(
        |a, b| {
            a.auth = auth(HmacAlg::Sha1, "s");
            b.auth = auth(HmacAlg::Sha256, "s");
        },
        0,
        0,
        false,
    );
    assert!(matches!(a, Err(NetError::AuthMismatch { .. })));
}

#[test]
fn wrong_version_refused() {
    let (a, b) = run(
        |_, b| {
            b.proto_min = PROTO_MAX + 1;
            b.proto_max = PROTO_MAX + 5;
        },
        0,
        0,
        false,
    );
    let e = a.unwrap_err();
    assert!(
        matches!(e, NetError::VersionMismatch { theirs_min, .. } if theirs_min == PROTO_MAX + 1),
        "{e}"
    );
    assert!(matches!(b, Err(NetError::VersionMismatch { .. })));
}

#[test]
fn feature_bits_are_anded_and_highest_common_version_agreed() {
    let (a, b) = run(
        |a, b| {
            a.proto_max = 7;
            a.feature_flags = 0b111;
            b.proto_max = 5;
            b.feature_flags = 0b101;
        },
        0,
        0,
        false,
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.proto, b.proto, a.features, b.features), (5, 5, 0b101, 0b101));
}

/// A victim endpoint whose configured peer address has nothing listening, driven by a
/// hand-written client speaking to its listener.
fn victim(client: impl FnOnce(std::net::SocketAddr) + Send + 'static) -> NetError {
    let l = listener();
    let dead = listener();
    let mut c = cfg(&dead);
    drop(dead);
    c.timers.connect_int_ms = 10_000;
    let addr = l.local_addr().unwrap();
    let t = thread::spawn(move || client(addr));
    let r = establish(&l, &c, Duration::from_secs(5));
    t.join().unwrap();
    r.unwrap_err()
}

fn frame(cmd: Command, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_frame(&mut v, Header::new(cmd, 0), payload, u32::MAX).unwrap();
    v
}

/// Connect data and meta sockets as the winning initiator.
fn initiate(addr: std::net::SocketAddr) -> (TcpStream, TcpStream) {
    let mut d = TcpStream::connect(addr).unwrap();
    d.write_all(&frame(Command::INITIAL_DATA, &u64::MAX.to_be_bytes())).unwrap();
    let mut hb = [0u8; 16];
    d.read_exact(&mut hb).unwrap();
    assert_eq!(decode_frame(&hb, 0).unwrap().0.command, Command::INITIAL_ACCEPT);
    let mut m = TcpStream::connect(addr).unwrap();
    m.write_all(&frame(Command::INITIAL_META, &u64::MAX.to_be_bytes())).unwrap();
    (d, m)
}

#[test]
fn garbage_bytes_refused() {
    let e = victim(|a| {
        let mut s = TcpStream::connect(a).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
        thread::sleep(Duration::from_millis(200));
    });
    assert!(
        matches!(
            e,
            NetError::Stream { source: StreamError::Frame(FrameError::BadMagic { .. }), .. }
        ),
        "{e}"
    );
}

#[test]
fn oversized_frame_refused() {
    let e = victim(|a| {
        let mut s = TcpStream::connect(a).unwrap();
        let h = Header::new(Command::INITIAL_DATA, 1 << 30).encode();
        let _ = s.write_all(&h);
        thread::sleep(Duration::from_millis(200));
    });
    assert!(
        matches!(e, NetError::Stream { source: StreamError::Frame(FrameError::Oversized { length, .. }), .. } if length == 1 << 30),
        "{e}"
    );
}

#[test]
fn truncated_frame_refused() {
    let e = victim(|a| {
        let mut s = TcpStream::connect(a).unwrap();
        let f = frame(Command::INITIAL_DATA, &[1; 8]);
        s.write_all(&f[..10]).unwrap();
    });
    assert!(
        matches!(
            e,
            NetError::Stream {
                source: StreamError::Frame(FrameError::Truncated { needed: 16, have: 10 }),
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn wrong_first_packet_refused() {
    let e = victim(|a| {
        let mut s = TcpStream::connect(a).unwrap();
        s.write_all(&frame(Command::PING, &[])).unwrap();
        thread::sleep(Duration::from_millis(200));
    });
    assert!(matches!(e, NetError::Unexpected { got: 0x13, .. }), "{e}");
}

#[test]
fn peer_closing_mid_handshake_refused() {
    let e = victim(|a| {
        let (mut d, _m) = initiate(a);
        let mut f = Vec::new();
        Features { proto_min: 1, proto_max: 1, flags: 0, auth_alg: String::new() }.encode(&mut f);
        let f = frame(Command::CONNECTION_FEATURES, &f);
        d.write_all(&f[..f.len() - 3]).unwrap();
    });
    assert!(
        matches!(
            e,
            NetError::Stream {
                during: "feature negotiation",
                source: StreamError::Frame(FrameError::Truncated { .. })
            }
        ),
        "{e}"
    );
    let e = victim(|a| {
        let (d, _m) = initiate(a);
        drop(d);
    });
    // A close is seen as end of stream, or as a reset when our own features frame was still
    // unread on the peer's side when it closed (the kernel then answers with RST).
    assert!(
        matches!(&e, NetError::Stream { source: StreamError::Closed, .. })
            || matches!(
                &e,
                NetError::Stream { source: StreamError::Io(io), .. }
                    if io.kind() == std::io::ErrorKind::ConnectionReset
            ),
        "{e}"
    );
}

#[test]
fn short_or_replayed_challenge_refused() {
    for replay in [false, true] {
        let l = listener();
        let dead = listener();
        let mut c = cfg(&dead);
        drop(dead);
        c.auth = auth(HmacAlg::Sha256, "k");
        let addr = l.local_addr().unwrap();
        let t = thread::spawn(move || {
            let (mut d, _m) = initiate(addr);
            let mut f = Vec::new();
            Features { proto_min: 1, proto_max: 1, flags: 0, auth_alg: "sha256".into() }
                .encode(&mut f);
            d.write_all(&frame(Command::CONNECTION_FEATURES, &f)).unwrap();
            let mut r = FrameReader::new(256);
            r.read_frame(&mut d).unwrap();
            let (_, ch) = r.read_frame(&mut d).unwrap();
            let ch = if replay { ch.to_vec() } else { vec![0; 10] };
            d.write_all(&frame(Command::AUTH_CHALLENGE, &ch)).unwrap();
            thread::sleep(Duration::from_millis(200));
        });
        let e = establish(&l, &c, Duration::from_secs(5)).unwrap_err();
        t.join().unwrap();
        assert!(matches!(e, NetError::BadChallenge(_)), "{e}");
    }
}

#[test]
fn gives_up_at_deadline_without_peer() {
    let l = listener();
    let dead = listener();
    let c = cfg(&dead);
    drop(dead);
    let e = establish(&l, &c, Duration::from_millis(150)).unwrap_err();
    assert!(matches!(e, NetError::TimedOut { .. }), "{e}");
}

/// Figures for reports: `cargo test -p drbd-ublk measure_ -- --ignored --nocapture`.
#[test]
#[ignore]
#[allow(clippy::disallowed_methods)]
fn measure_handshake_and_frame_throughput() {
    let start = std::time::Instant::now();
    let n = 20;
    for _ in 0..n {
        let (a, b) = run(
            |a, b| {
                a.auth = auth(HmacAlg::Sha256, "k");
                b.auth = auth(HmacAlg::Sha256, "k");
            },
            0,
            0,
            false,
        );
        a.unwrap();
        b.unwrap();
    }
    eprintln!(
        "authenticated setup: {:.1} ms each",
        start.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    let (a, b) = run(|_, _| {}, 0, 0, false);
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut ha = a.split(MAX_PAYLOAD).unwrap();
    let mut hb = b.split(MAX_PAYLOAD).unwrap();
    let frames = 20_000u64;
    let start = std::time::Instant::now();
    let t = thread::spawn(move || {
        let block = vec![1u8; 4096 + 32];
        for _ in 0..frames {
            ha.data_tx.send(Header::new(Command::DATA, 0), &block).unwrap();
        }
        ha
    });
    for _ in 0..frames {
        hb.data_rx.recv().unwrap();
    }
    t.join().unwrap();
    let secs = start.elapsed().as_secs_f64();
    eprintln!("4 KiB data frames over loopback: {:.0} frames/s", frames as f64 / secs);
}

#[test]
fn link_config_from_resource() {
    let text = "resource r0 {\n net { cram-hmac-alg sha256; shared-secret \"s3cr3t\"; ping-timeout 10; timeout 50; ko-count 3; }\n on a { device minor 1; disk /dev/x; meta-disk internal; address 10.213.9.1:7789; }\n on b { device minor 1; disk /dev/x; meta-disk internal; address 10.213.9.2:7789; }\n}\n";
    let cfg = crate::config::Config::parse_str("/r0.res".as_ref(), text, "a").unwrap();
    let c = LinkConfig::from_resource(&cfg.resources[0]).unwrap();
    assert_eq!(c.peer, "10.213.9.2:7789".parse().unwrap());
    assert_eq!(c.auth, auth(HmacAlg::Sha256, "s3cr3t"));
    assert_eq!((c.timers.ping_timeout_ms, c.timers.timeout_ms, c.timers.ko_count), (1000, 5000, 3));
    assert_eq!(c.timers.handshake_timeout_ms(), 4000);
}
