//! The peer connection of one resource: a connector thread that runs
//! [`crate::net::establish`] until a link is up, then per link a reader thread (frames →
//! [`Cmd::Peer`]) and a writer thread (the engine's messages → frames).
//!
//! All messages travel on the link's data socket, so they arrive in the order the engine sent
//! them (the replicator needs connection order). The engine never blocks on the network: its
//! [`PeerSink`] hands messages to the writer thread through a channel; how much is in flight
//! is bounded by the replicator's own flow control (epochs, resync requests against
//! `max-buffers`, the front-end's queue depth). The reader blocks on the engine's bounded
//! queue, which is the back-pressure towards the peer.
//!
//! A connection has a generation number; [`Cmd::LinkUp`] goes through the engine's queue
//! before any of its messages, and messages or [`Cmd::LinkDown`] of an older generation are
//! ignored by the engine.

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::engine::{Cmd, PeerSink};
use super::wire;
use crate::net::{establish, Header, LinkConfig};
use crate::repl::{ConnState, PeerMsg};

/// How long one `establish` attempt runs before the want flag is checked again.
const ATTEMPT: Duration = Duration::from_secs(2);

struct Shared {
    name: String,
    want: AtomicBool,
    running: AtomicBool,
    gen: AtomicU64,
    current: Mutex<Option<(TcpStream, TcpStream)>>,
    listen: SocketAddr,
    cfg: LinkConfig,
    engine: SyncSender<Cmd>,
}

/// Handle used by the engine's connect / disconnect hook.
#[derive(Clone)]
pub struct NetCtl(Arc<Shared>);

impl NetCtl {
    /// A connection manager listening on `listen` and connecting per `cfg`.
    pub fn new(name: &str, listen: SocketAddr, cfg: LinkConfig, engine: SyncSender<Cmd>) -> Self {
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

    /// Stops connecting and drops the current link.
    pub fn disconnect(&self) {
        self.0.want.store(false, Ordering::SeqCst);
        if let Some((d, m)) = self.0.current.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = d.shutdown(Shutdown::Both);
            let _ = m.shutdown(Shutdown::Both);
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
        let (wtx, wrx) = channel::<PeerMsg>();
        let sink = Box::new(Sink { tx: wtx, gen });
        if s.engine.send(Cmd::LinkUp { sink, resolve_conflicts: link.resolve_conflicts }).is_err() {
            break;
        }
        let mut data_tx = halves.data_tx;
        let name = s.name.clone();
        let _ = std::thread::Builder::new().name(format!("drbd-{name}-tx")).spawn(move || {
            let mut buf = Vec::with_capacity(64 << 10);
            while let Ok(msg) = wrx.recv() {
                let c = wire::encode(&msg, &mut buf);
                if let Err(e) = data_tx.send(Header::new(c, buf.len() as u32), &buf) {
                    eprintln!("drbd {name}: send {}: {e}", msg.name());
                    let _ = data_tx.stream.shutdown(Shutdown::Both);
                    break;
                }
            }
        });
        let mut data_rx = halves.data_rx;
        let engine = s.engine.clone();
        let name = s.name.clone();
        let _ = std::thread::Builder::new().name(format!("drbd-{name}-rx")).spawn(move || {
            let reason = loop {
                match data_rx.recv() {
                    Ok((h, payload)) => match wire::decode(h.command, payload) {
                        Ok(msg) => {
                            if engine.send(Cmd::Peer { gen, msg }).is_err() {
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

struct Sink {
    tx: Sender<PeerMsg>,
    gen: u64,
}

impl PeerSink for Sink {
    fn send(&mut self, msg: &PeerMsg) -> std::io::Result<()> {
        self.tx.send(msg.clone()).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
    fn generation(&self) -> u64 {
        self.gen
    }
}
