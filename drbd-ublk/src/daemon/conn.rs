//! The peer connection of one resource: a connector thread that runs
//! [`crate::net::establish`] until a link is up, then per link a reader thread (frames →
//! [`Cmd::Peer`], which the reader usually runs in the engine itself, see
//! [`EngineRef::send`]) and a writer thread (the engine's messages → frames).
//!
//! All messages travel on the link's data socket, so they arrive in the order the engine sent
//! them (the replicator needs connection order). The engine never blocks on the network:
//! while the writer thread has nothing queued,
//! its [`PeerSink`] collects the frames of up to 64 KiB that one round of the engine sends
//! and writes them to the socket itself, in one non-blocking `send`, when the round ends
//! ([`PeerSink::flush`]: no thread hand-off, one system call for the acknowledgements of
//! all the writes one ring reap completed); otherwise, or for larger messages, it hands the
//! message to the writer thread through a channel (with the unsent rest of a partly written
//! batch). How much is queued is bounded by the engine (completions wait
//! above [`SEND_BACKLOG_LIMIT`]) and the replicator's own flow control (epochs, resync requests
//! against `max-buffers`). The reader blocks on the engine's bounded queue when the engine
//! is busy, which is the back-pressure towards the peer.
//!
//! The meta socket carries only the keep-alive (P_PING / P_PING_ACK), see
//! `start_keepalive`.
//!
//! A connection has a generation number; [`Cmd::LinkUp`] goes through the engine's queue
//! before any of its messages, and messages or [`Cmd::LinkDown`] of an older generation are
//! ignored by the engine.

use std::io::{IoSlice, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::engine::{Cmd, EngineRef, PeerSink, SEND_BACKLOG_LIMIT};
use super::wire;
use crate::net::{establish, Command, FrameTx, Header, Keepalive, KeepaliveAction, LinkConfig};
use crate::repl::{ConnState, PeerMsg};

/// How long one `establish` attempt runs before the want flag is checked again.
const ATTEMPT: Duration = Duration::from_secs(2);
/// Received block data kept for reuse per link at most.
const RX_POOL_BYTES: usize = 16 << 20;
/// Period of the keep-alive ticker.
const KEEPALIVE_TICK: Duration = Duration::from_millis(100);

struct Shared {
    name: String,
    want: AtomicBool,
    running: AtomicBool,
    gen: AtomicU64,
    current: Mutex<Option<(TcpStream, TcpStream)>>,
    listen: SocketAddr,
    cfg: LinkConfig,
    engine: EngineRef,
}

/// Handle used by the engine's connect / disconnect hook.
#[derive(Clone)]
pub struct NetCtl(Arc<Shared>);

impl NetCtl {
    /// A connection manager listening on `listen` and connecting per `cfg`.
    pub fn new(name: &str, listen: SocketAddr, cfg: LinkConfig, engine: EngineRef) -> Self {
        NetCtl(Arc::new(Shared {
            name: name.to_string(),
            want: AtomicBool::new(false),
            running: AtomicBool::new(false),
            gen: AtomicU64::new(0),
            current: Mutex::new(None),
            listen,
            cfg,
            engine,
        }))
    }

    /// Starts connecting (idempotent).
    pub fn connect(&self) {
        self.0.want.store(true, Ordering::SeqCst);
        if !self.0.running.swap(true, Ordering::SeqCst) {
            let s = Arc::clone(&self.0);
            let _ = std::thread::Builder::new()
                .name(format!("drbd-{}-conn", s.name))
                .spawn(move || connector(s));
        }
    }

    /// Stops connecting and drops the current link. Only the sending direction is shut
    /// (FIN after what was queued): closing with unread input would make the kernel send a
    /// reset, and the peer would lose our last messages (for instance the handshake that lets
    /// it detect the split brain too). The peer then closes its side, which ends our reader;
    /// a peer that does not is caught by the keep-alive.
    pub fn disconnect(&self) {
        self.0.want.store(false, Ordering::SeqCst);
        if let Some((d, m)) = self.0.current.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = d.shutdown(Shutdown::Write);
            let _ = m.shutdown(Shutdown::Write);
        }
    }
}

fn connector(s: Arc<Shared>) {
    let mut listener: Option<TcpListener> = None;
    while s.want.load(Ordering::SeqCst) {
        if listener.is_none() {
            match TcpListener::bind(s.listen) {
                Ok(l) => listener = Some(l),
                Err(e) => {
                    eprintln!("drbd {}: cannot listen on {}: {e}", s.name, s.listen);
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            }
        }
        let Some(l) = listener.as_ref() else { continue };
        let link = match establish(l, &s.cfg, ATTEMPT) {
            Ok(link) => link,
            Err(e) => {
                if e.is_config_mismatch() {
                    std::thread::sleep(Duration::from_secs(1));
                }
                continue;
            }
        };
        if !s.want.load(Ordering::SeqCst) {
            break;
        }
        let halves = match link.split(s.cfg.max_payload) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("drbd {}: link split failed: {e}", s.name);
                continue;
            }
        };
        let gen = s.gen.fetch_add(1, Ordering::SeqCst) + 1;
        let (Ok(d), Ok(m)) = (link.data.try_clone(), link.meta.try_clone()) else { continue };
        *s.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((d, m));
        let (wtx, wrx) = channel::<Out>();
        let queue = Arc::new(SendQueue::default());
        let max_payload = s.cfg.max_payload;
        let data_tx = Arc::new(Mutex::new(halves.data_tx));
        let sink = Box::new(Sink {
            tx: wtx,
            gen,
            queue: Arc::clone(&queue),
            data_tx: Arc::clone(&data_tx),
            max_payload,
            head: Vec::with_capacity(256),
            frame: Vec::with_capacity(DIRECT_MAX + 64),
        });
        let engine = s.engine.clone();
        if s.engine.send(Cmd::LinkUp { sink, resolve_conflicts: link.resolve_conflicts }).is_err() {
            break;
        }
        let name = s.name.clone();
        let _ = std::thread::Builder::new().name(format!("drbd-{name}-tx")).spawn(move || {
            let mut head = Vec::with_capacity(256);
            let mut batch = Vec::with_capacity(WRITER_BATCH + DIRECT_MAX + 64);
            let mut outs = Vec::new();
            while let Ok(first) = wrx.recv() {
                // Everything queued meanwhile goes out together (up to a batch): one write for
                // many small frames; large block data is written from the message, uncopied.
                let mut bytes = first.queued_bytes();
                outs.push(first);
                while bytes < WRITER_BATCH as u64 {
                    let Ok(o) = wrx.try_recv() else { break };
                    bytes += o.queued_bytes();
                    outs.push(o);
                }
                let mut tx = data_tx.lock().unwrap_or_else(|e| e.into_inner());
                let sent = write_batch(&mut tx.stream, &outs, &mut head, &mut batch, max_payload);
                outs.clear();
                if let Err(e) = sent {
                    eprintln!("drbd {name}: send: {e}");
                    let _ = tx.stream.shutdown(Shutdown::Both);
                    break;
                }
                drop(tx);
                let left = queue.bytes.fetch_sub(bytes, Ordering::SeqCst) - bytes;
                if left <= SEND_BACKLOG_LIMIT && queue.wake.swap(false, Ordering::SeqCst) {
                    let _ = engine.send(Cmd::SendProgress);
                }
            }
        });
        let alive = Arc::new(AtomicBool::new(true));
        let dead = Arc::new(AtomicBool::new(false));
        let ka = KeepaliveLink { alive: Arc::clone(&alive), dead: Arc::clone(&dead) };
        start_keepalive(&s, &link, halves.meta_rx, halves.meta_tx, ka);
        let mut data_rx = halves.data_rx;
        let engine = s.engine.clone();
        let name = s.name.clone();
        let _ = std::thread::Builder::new().name(format!("drbd-{name}-rx")).spawn(move || {
            let mut pool = wire::PayloadPool::new(RX_POOL_BYTES);
            let reason = loop {
                if !data_rx.buffered() {
                    // About to wait for the socket: wait for the engine's ring too when nobody
                    // else does, and reap it (one thread wakes for both).
                    if let Some(ring) = engine.reader_ring() {
                        let readable = wait_either(&data_rx.stream, &ring);
                        engine.reap();
                        if !readable {
                            continue;
                        }
                    }
                }
                match data_rx.recv() {
                    Ok((h, payload)) => match wire::decode_pooled(h.command, payload, &mut pool) {
                        Ok(msg) => {
                            // With the next frame already here, queue this one: the engine
                            // runs the batch in one round (one ring submission, one send).
                            let cmd = Cmd::Peer { gen, msg };
                            let r = if data_rx.frame_ready() {
                                engine.enqueue(cmd)
                            } else {
                                engine.send(cmd)
                            };
                            if r.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            eprintln!("drbd {name}: protocol error from peer: {e}");
                            break ConnState::ProtocolError;
                        }
                    },
                    Err(e) if e.is_timeout() => continue,
                    Err(e) => {
                        eprintln!("drbd {name}: connection lost: {e}");
                        break ConnState::NetworkFailure;
                    }
                }
            };
            let _ = data_rx.stream.shutdown(Shutdown::Both);
            engine.reader_gone();
            alive.store(false, Ordering::SeqCst);
            let reason = if dead.load(Ordering::SeqCst) { ConnState::Timeout } else { reason };
            let _ = engine.send(Cmd::LinkDown { gen, reason });
        });
        break;
    }
    s.running.store(false, Ordering::SeqCst);
    // A connect() that raced with our exit finds running=false and starts a new connector;
    // one that came just before it is honoured here.
    if s.want.load(Ordering::SeqCst)
        && s.current.lock().map(|c| c.is_none()).unwrap_or(false)
        && !s.running.swap(true, Ordering::SeqCst)
    {
        connector(s);
    }
}

/// Waits until `sock` is readable (true) or the ring has completions or a short time passed
/// (false).
fn wait_either(sock: &TcpStream, ring: &crate::io::RingWaiter) -> bool {
    let mut fds = [
        libc::pollfd { fd: sock.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: ring.raw_fd(), events: libc::POLLIN, revents: 0 },
    ];
    // SAFETY: `fds` is a valid array of two pollfd entries for the whole call; both
    // descriptors stay open (owned by `sock` and `ring`, borrowed for the call).
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, READER_RING_WAIT_MS) };
    // Errors and hang-ups count as readable: the read that follows reports them.
    n > 0 && fds[0].revents != 0
}

/// Longest wait of a reader on its socket and the ring before it looks at the ring again.
const READER_RING_WAIT_MS: i32 = 20;

/// Flags shared by a link's threads.
struct KeepaliveLink {
    /// Cleared by the data reader when the link ended.
    alive: Arc<AtomicBool>,
    /// Set by the keep-alive when it declared the peer dead.
    dead: Arc<AtomicBool>,
}

/// Keep-alive on the meta socket (§10.6): a reader answers P_PING with P_PING_ACK and notes
/// every frame; a ticker sends P_PING after `ping-int` of silence and declares the peer dead
/// after `ping-timeout` without an answer, shutting both sockets so the data reader reports
/// the loss (as `Timeout`).
fn start_keepalive(
    s: &Shared,
    link: &crate::net::Link,
    mut meta_rx: crate::net::FrameRx,
    meta_tx: crate::net::FrameTx,
    flags: KeepaliveLink,
) {
    let t0 = Instant::now();
    let ms = move || t0.elapsed().as_millis() as u64;
    let ka = Arc::new(Mutex::new(Keepalive::new(s.cfg.timers, 0)));
    let tx = Arc::new(Mutex::new(meta_tx));
    let (Ok(d), Ok(m)) = (link.data.try_clone(), link.meta.try_clone()) else { return };
    {
        let ka = Arc::clone(&ka);
        let tx = Arc::clone(&tx);
        let _ = std::thread::Builder::new().name(format!("drbd-{}-mrx", s.name)).spawn(move || {
            while let Ok((h, _)) = meta_rx.recv() {
                let mut k = ka.lock().unwrap_or_else(|e| e.into_inner());
                if h.command == Command::PING {
                    k.on_receive(ms());
                    drop(k);
                    let mut t = tx.lock().unwrap_or_else(|e| e.into_inner());
                    if t.send(Header::new(Command::PING_ACK, 0), &[]).is_err() {
                        break;
                    }
                } else if h.command == Command::PING_ACK {
                    k.on_ping_ack(ms());
                } else {
                    k.on_receive(ms());
                }
            }
        });
    }
    let name = s.name.clone();
    let _ = std::thread::Builder::new().name(format!("drbd-{name}-ka")).spawn(move || {
        while flags.alive.load(Ordering::SeqCst) {
            std::thread::sleep(KEEPALIVE_TICK);
            let a = ka.lock().unwrap_or_else(|e| e.into_inner()).poll(ms(), None);
            match a {
                Some(KeepaliveAction::SendPing) => {
                    let mut t = tx.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = t.send(Header::new(Command::PING, 0), &[]);
                }
                Some(KeepaliveAction::PeerDead(why)) => {
                    eprintln!("drbd {name}: peer dead ({why:?})");
                    flags.dead.store(true, Ordering::SeqCst);
                    let _ = d.shutdown(Shutdown::Both);
                    let _ = m.shutdown(Shutdown::Both);
                    break;
                }
                None => {}
            }
        }
        let _ = m.shutdown(Shutdown::Both);
    });
}

/// Bytes of small frames the writer thread gathers for one write at most.
const WRITER_BATCH: usize = 256 << 10;

/// Writes `outs` in order: small frames and raw rests gathered in `batch` and written
/// together, frames with more than [`DIRECT_MAX`] bytes of payload written from the message
/// with vectored writes.
fn write_batch(
    stream: &mut TcpStream,
    outs: &[Out],
    head: &mut Vec<u8>,
    batch: &mut Vec<u8>,
    max: u32,
) -> Result<(), String> {
    batch.clear();
    for out in outs {
        match out {
            Out::Raw(r) => batch.extend_from_slice(r),
            Out::Msg(msg) => {
                let (c, bulk) = wire::encode_split(msg, head);
                let data = bulk.unwrap_or(&[]);
                let len = head.len() + data.len();
                if len > max as usize {
                    return Err(format!(
                        "{}: frame payload of {len} bytes over the limit of {max}",
                        msg.name()
                    ));
                }
                if len > DIRECT_MAX {
                    stream.write_all(batch).map_err(|e| e.to_string())?;
                    batch.clear();
                    send_bulk(stream, c, head, data, max)?;
                    continue;
                }
                push_frame(batch, c, head, data);
            }
        }
        if batch.len() >= WRITER_BATCH {
            stream.write_all(batch).map_err(|e| e.to_string())?;
            batch.clear();
        }
    }
    stream.write_all(batch).map_err(|e| e.to_string())
}

/// Writes one frame whose payload is `head` followed by `data` with vectored writes (no
/// copy of the block data); refuses payloads over `max`, as the frame writer does.
fn send_bulk(
    stream: &mut TcpStream,
    c: Command,
    head: &[u8],
    data: &[u8],
    max: u32,
) -> Result<(), String> {
    let len = head.len() + data.len();
    if len > max as usize {
        return Err(format!("frame payload of {len} bytes over the limit of {max}"));
    }
    let hdr = Header::new(c, len as u32).encode();
    let parts: [&[u8]; 3] = [&hdr, head, data];
    // Bytes already written of the whole frame.
    let total = hdr.len() + len;
    let mut done = 0;
    while done < total {
        // The unwritten rest of each part.
        let mut skip = done;
        let mut bufs = [IoSlice::new(&[]); 3];
        let mut k = 0;
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
                continue;
            }
            bufs[k] = IoSlice::new(&p[skip..]);
            skip = 0;
            k += 1;
        }
        match stream.write_vectored(&bufs[..k]) {
            Ok(0) => return Err("connection closed".into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

struct Sink {
    tx: Sender<Out>,
    gen: u64,
    queue: Arc<SendQueue>,
    /// The data socket's send half, shared with the writer thread.
    data_tx: Arc<Mutex<FrameTx>>,
    max_payload: u32,
    head: Vec<u8>,
    /// Frames written by the engine itself and not sent yet (see [`PeerSink::flush`]).
    frame: Vec<u8>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        // What the engine sent before it dropped the link still goes out.
        let _ = self.flush_frames();
    }
}

/// What the writer thread sends: a message, or the unsent rest of a frame the engine
/// started to write itself.
enum Out {
    Msg(PeerMsg),
    Raw(Vec<u8>),
}

impl Out {
    fn queued_bytes(&self) -> u64 {
        match self {
            Out::Msg(m) => queued_bytes(m),
            Out::Raw(r) => r.len() as u64,
        }
    }
}

/// Frames up to this size are written by the engine itself when nothing is queued for
/// the writer (one thread hand-off less per message); larger ones go to the writer.
const DIRECT_MAX: usize = 64 << 10;

/// What the engine has handed to the writer thread and the writer has not written yet.
#[derive(Default)]
struct SendQueue {
    bytes: AtomicU64,
    /// The engine waits for the backlog to drop to [`SEND_BACKLOG_LIMIT`].
    wake: AtomicBool,
}

/// Bytes a message occupies in the send queue (payload and a frame's worth of header).
fn queued_bytes(msg: &PeerMsg) -> u64 {
    msg.block_data_len() as u64 + 64
}

/// Appends the frame of an encoded message (`head`, then the block data) to `buf`.
fn push_frame(buf: &mut Vec<u8>, c: Command, head: &[u8], data: &[u8]) {
    buf.extend_from_slice(&Header::new(c, (head.len() + data.len()) as u32).encode());
    buf.extend_from_slice(head);
    buf.extend_from_slice(data);
}

impl Sink {
    /// Adds `msg` to the frames the engine writes itself, when the writer has nothing queued.
    /// `Ok(false)`: not taken (too large, or the writer has work), queue it after
    /// [`Sink::flush_frames`].
    fn try_direct(&mut self, msg: &PeerMsg) -> std::io::Result<bool> {
        if !direct_send() || self.queue.bytes.load(Ordering::SeqCst) != 0 {
            return Ok(false);
        }
        let (c, bulk) = wire::encode_split(msg, &mut self.head);
        let bulk = bulk.unwrap_or(&[]);
        let len = self.head.len() + bulk.len();
        if len > DIRECT_MAX || len > self.max_payload as usize {
            return Ok(false);
        }
        if self.frame.len() + len > DIRECT_MAX {
            self.flush_frames()?;
        }
        push_frame(&mut self.frame, c, &self.head, bulk);
        Ok(true)
    }

    /// Writes the collected frames to the socket in one non-blocking `send` if the writer
    /// thread is idle; what does not fit, or everything if the writer is busy, goes to the
    /// writer (after what it has, which keeps the order: frames are only collected while its
    /// queue is empty).
    fn flush_frames(&mut self) -> std::io::Result<()> {
        if self.frame.is_empty() {
            return Ok(());
        }
        let mut sent = 0;
        if let Ok(tx) = self.data_tx.try_lock() {
            let fd = tx.stream.as_raw_fd();
            // SAFETY: `fd` is the open socket owned by `tx`, which the guard keeps alive; the
            // pointer and length describe `self.frame`, which is not touched during the call.
            let n = unsafe {
                libc::send(
                    fd,
                    self.frame.as_ptr().cast(),
                    self.frame.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) {
                    self.frame.clear();
                    return Err(e);
                }
            } else {
                sent = n as usize;
            }
        }
        let rest = (sent < self.frame.len()).then(|| self.frame[sent..].to_vec());
        self.frame.clear();
        if let Some(rest) = rest {
            self.queue.bytes.fetch_add(rest.len() as u64, Ordering::SeqCst);
            self.tx.send(Out::Raw(rest)).map_err(|_| broken())?;
        }
        Ok(())
    }
}

/// `DRBD_UBLK_DIRECT_SEND=0` leaves every write to the writer thread (for comparisons).
fn direct_send() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("DRBD_UBLK_DIRECT_SEND").map_or(true, |v| v != "0"))
}

fn broken() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::BrokenPipe)
}

impl PeerSink for Sink {
    fn send(&mut self, msg: &PeerMsg) -> std::io::Result<()> {
        if self.try_direct(msg)? {
            return Ok(());
        }
        self.flush_frames()?;
        self.queue.bytes.fetch_add(queued_bytes(msg), Ordering::SeqCst);
        self.tx.send(Out::Msg(msg.clone())).map_err(|_| broken())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_frames()
    }
    fn generation(&self) -> u64 {
        self.gen
    }
    fn backlog(&self) -> u64 {
        self.queue.bytes.load(Ordering::SeqCst)
    }
    fn want_progress(&self) {
        self.queue.wake.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::FrameReader;
    use crate::repl::{AckKind, Payload};

    fn data(id: u64, len: usize) -> PeerMsg {
        PeerMsg::Data {
            id,
            sector: id * 8,
            epoch: 1,
            ack: AckKind::Write,
            fua: false,
            may_set_in_sync: false,
            data: Payload::from(vec![id as u8; len]),
        }
    }

    /// The writer's batch: small frames gathered, the rest of a frame written by the engine
    /// and a frame with a large payload, all arrive whole and in order.
    #[test]
    fn writer_batch_keeps_frames_whole_and_in_order() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut tx = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (mut rx, _) = l.accept().expect("accept");
        let max = 1 << 21;
        let mut raw = Vec::new();
        let mut head = Vec::new();
        let raw_msg = PeerMsg::Barrier { nr: 9 };
        let (c, bulk) = wire::encode_split(&raw_msg, &mut head);
        assert!(bulk.is_none());
        push_frame(&mut raw, c, &head, &[]);
        let outs = vec![
            Out::Msg(data(1, 4096)),
            Out::Raw(raw),
            Out::Msg(data(2, 1 << 20)),
            Out::Msg(PeerMsg::Barrier { nr: 10 }),
            Out::Msg(data(3, 512)),
        ];
        let expect = [data(1, 4096), raw_msg, data(2, 1 << 20), PeerMsg::Barrier { nr: 10 }];
        let reader = std::thread::spawn(move || {
            let mut r = FrameReader::new(max);
            let mut got = Vec::new();
            for _ in 0..5 {
                let (h, p) = r.read_frame(&mut rx).expect("frame");
                got.push(wire::decode(h.command, p).expect("decode"));
            }
            got
        });
        let mut batch = Vec::new();
        write_batch(&mut tx, &outs, &mut head, &mut batch, max).expect("write");
        let got = reader.join().expect("reader");
        assert_eq!(&got[..4], &expect[..]);
        assert_eq!(got[4], data(3, 512));
        let too_big = [Out::Msg(data(4, 1 << 20))];
        let e = write_batch(&mut tx, &too_big, &mut head, &mut batch, 4096).expect_err("refused");
        assert!(e.contains("over the limit"), "{e}");
    }
}
