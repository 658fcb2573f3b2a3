//! One resource's engine thread: owns the [`Replicator`], performs its disk and metadata
//! actions, completes front-end requests and publishes a [`ResourceStatus`].
//!
//! Local I/O is plain `pread`/`pwrite` on the backing file, done synchronously in the engine
//! thread (one request at a time on the backing device); flushes and FUA are `fdatasync`.
//! Metadata writes first make completed data writes durable (preflush), then write and sync
//! the metadata. Commands reach the thread through a bounded channel ([`QUEUE_DEPTH`]).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ctl::{exit, CtlError, ResourceStatus, SyncProgress};
use crate::fuse::BlockBackend;
use crate::meta::{MetaDevice, Superblock};
use crate::repl::{
    Action, ConnState, DiskCompletion, DiskOpKind, Done, IoError, MetaWrite, Payload, PeerMsg,
    ReadReq, Replicator, Tick, WriteReq,
};

/// Commands queued to the engine thread at most.
pub const QUEUE_DEPTH: usize = 256;
/// Period of the engine's clock tick.
const TICK: Duration = Duration::from_millis(100);

/// Administrative operations carried out inside the engine thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    /// Drop the backing device.
    Detach,
    /// Start connecting.
    Connect {
        /// Split-brain victim.
        discard_my_data: bool,
    },
    /// Drop the connection.
    Disconnect,
    /// Promote.
    Primary {
        /// `--force`.
        force: bool,
    },
    /// Demote.
    Secondary,
    /// Full sync as target.
    Invalidate,
    /// Full sync as source.
    InvalidateRemote,
    /// Online verify from a sector.
    Verify(u64),
    /// Pause (`true`) or resume resync.
    PauseSync(bool),
    /// Mark the local data Outdated.
    Outdate,
    /// New data generation.
    NewCurrentUuid {
        /// Skip the initial sync.
        clear_bitmap: bool,
    },
}

/// A message to the engine thread.
pub enum Cmd {
    /// Application write.
    Write {
        /// First sector.
        sector: u64,
        /// Data.
        data: Payload,
        /// Reply channel.
        reply: SyncSender<Result<(), IoError>>,
    },
    /// Application read.
    Read {
        /// First sector.
        sector: u64,
        /// Sectors.
        len: u32,
        /// Reply channel.
        reply: SyncSender<Result<Payload, IoError>>,
    },
    /// Application flush.
    Flush {
        /// Reply channel.
        reply: SyncSender<Result<(), IoError>>,
    },
    /// Administrative operation.
    Admin {
        /// What.
        op: Admin,
        /// Reply channel.
        reply: SyncSender<Result<Done, CtlError>>,
    },
    /// A message from the peer of connection generation `gen`.
    Peer {
        /// Connection generation.
        gen: u64,
        /// Message.
        msg: PeerMsg,
    },
    /// A new connection is up (sent before any of its messages).
    LinkUp {
        /// Send half.
        sink: Box<dyn PeerSink>,
        /// Tie-breaker bit from the link setup.
        resolve_conflicts: bool,
    },
    /// The connection of generation `gen` ended.
    LinkDown {
        /// Connection generation.
        gen: u64,
        /// Why.
        reason: ConnState,
    },
    /// Stop: disconnect, flush, leave the thread.
    Stop,
}

enum Pending {
    Write(SyncSender<Result<(), IoError>>),
    Read(SyncSender<Result<Payload, IoError>>),
    Flush(SyncSender<Result<(), IoError>>),
}

/// The backing device and its metadata.
pub struct AttachedDisk {
    /// Data (sector 0 of the volume at offset 0).
    pub data: File,
    /// Metadata target.
    pub md: MetaDevice,
    /// Second descriptor of the metadata target for bitmap page writes.
    pub md_file: File,
    /// Superblock as last written.
    pub sb: Superblock,
}

impl AttachedDisk {
    /// Opens the data file and a second metadata descriptor.
    ///
    /// # Errors
    /// Open failures.
    pub fn open(backing: &std::path::Path, md: MetaDevice, sb: Superblock) -> io::Result<Self> {
        let data = OpenOptions::new().read(true).write(true).open(backing)?;
        let md_file = OpenOptions::new().read(true).write(true).open(md.path())?;
        Ok(AttachedDisk { data, md, md_file, sb })
    }
}

#[derive(Default)]
struct Counters {
    ns: u64,
    nr: u64,
    dw: u64,
    dr: u64,
    al: u64,
    bm: u64,
}

/// Speed samples of a running resync: `(time, blocks left)`.
struct SyncMeter {
    started: Instant,
    total: u64,
    marks: std::collections::VecDeque<(Instant, u64)>,
}

/// The engine of one resource.
pub struct Engine {
    repl: Replicator,
    disk: Option<AttachedDisk>,
    pending: HashMap<u64, Pending>,
    next_tag: u64,
    counters: Counters,
    status: Arc<Mutex<ResourceStatus>>,
    start: Instant,
    last_tick: Instant,
    meter: Option<SyncMeter>,
    link: Option<Box<dyn PeerSink>>,
    /// Called when the engine asks to connect / disconnect.
    net_ctl: Option<Box<dyn FnMut(bool) + Send>>,
}

/// Where the engine sends peer messages (the connection's send half).
pub trait PeerSink: Send {
    /// Sends one message; an error means the connection is gone.
    fn send(&mut self, msg: &PeerMsg) -> io::Result<()>;
    /// Connection generation.
    fn generation(&self) -> u64;
}

fn kib(bytes: usize) -> u64 {
    bytes as u64
}

impl Engine {
    /// An engine over an attached replicator.
    pub fn new(
        repl: Replicator,
        disk: Option<AttachedDisk>,
        status: Arc<Mutex<ResourceStatus>>,
    ) -> Engine {
        let now = Instant::now();
        Engine {
            repl,
            disk,
            pending: HashMap::new(),
            next_tag: 1,
            counters: Counters::default(),
            status,
            start: now,
            last_tick: now,
            meter: None,
            link: None,
            net_ctl: None,
        }
    }

    /// Installs the hook called with `true` on [`Action::Connect`] and `false` on
    /// [`Action::Disconnect`].
    pub fn set_net_ctl(&mut self, f: Box<dyn FnMut(bool) + Send>) {
        self.net_ctl = Some(f);
    }

    /// Runs until [`Cmd::Stop`] or until every sender is gone.
    pub fn run(mut self, rx: Receiver<Cmd>) {
        self.publish();
        loop {
            match rx.recv_timeout(TICK) {
                Ok(Cmd::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(cmd) => {
                    self.handle(cmd);
                    // Take what else is queued before acting, bounded by the queue depth.
                    for _ in 0..QUEUE_DEPTH {
                        match rx.try_recv() {
                            Ok(Cmd::Stop) => {
                                self.shutdown();
                                return;
                            }
                            Ok(cmd) => self.handle(cmd),
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.last_tick.elapsed() >= TICK / 2 {
                self.last_tick = Instant::now();
                self.repl.tick(Tick(self.start.elapsed().as_millis() as u64));
            }
            self.drain();
            self.publish();
        }
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.repl.conn() != ConnState::StandAlone {
            let _ = self.repl.disconnect();
        }
        self.drain();
        if let Some(d) = &self.disk {
            let _ = d.data.sync_data();
        }
        for (_, p) in self.pending.drain() {
            match p {
                Pending::Write(r) | Pending::Flush(r) => {
                    let _ = r.send(Err(IoError::Eio));
                }
                Pending::Read(r) => {
                    let _ = r.send(Err(IoError::Eio));
                }
            }
        }
        self.publish();
    }

    fn tag(&mut self, p: Pending) -> u64 {
        let t = self.next_tag;
        self.next_tag += 1;
        self.pending.insert(t, p);
        t
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Write { sector, data, reply } => {
                let tag = self.tag(Pending::Write(reply));
                self.repl.on_write(WriteReq { tag, sector, fua: false, data });
            }
            Cmd::Read { sector, len, reply } => {
                let tag = self.tag(Pending::Read(reply));
                self.repl.on_read(ReadReq { tag, sector, len });
            }
            Cmd::Flush { reply } => {
                let tag = self.tag(Pending::Flush(reply));
                self.repl.on_flush(tag);
            }
            Cmd::Admin { op, reply } => {
                let r = self.admin(op);
                let _ = reply.send(r);
            }
            Cmd::Peer { gen, msg } => {
                if self.link.as_ref().is_some_and(|l| l.generation() == gen) {
                    self.count_in(&msg);
                    self.repl.on_peer_msg(msg);
                }
            }
            Cmd::LinkUp { sink, resolve_conflicts } => {
                if self.repl.conn() == ConnState::WFConnection {
                    self.link = Some(sink);
                    self.repl.on_link_up(resolve_conflicts);
                }
            }
            Cmd::LinkDown { gen, reason } => {
                if self.link.as_ref().is_some_and(|l| l.generation() == gen) {
                    self.link = None;
                    self.repl.on_link_down(reason);
                }
            }
            Cmd::Stop => {}
        }
        self.drain();
    }

    fn admin(&mut self, op: Admin) -> Result<Done, CtlError> {
        let st = |e: crate::repl::StateError| {
            let code = if e.code() < 0 { exit::STATE } else { exit::CONFIG };
            CtlError::failed(code, e.to_string())
        };
        let now = |r: Result<(), crate::repl::StateError>| r.map(|_| Done::Now).map_err(st);
        match op {
            Admin::Detach => {
                let r = now(self.repl.detach());
                self.drain();
                if r.is_ok() {
                    self.disk = None;
                }
                r
            }
            Admin::Connect { discard_my_data } => now(self.repl.connect(discard_my_data)),
            Admin::Disconnect => now(self.repl.disconnect()),
            Admin::Primary { force } => self.repl.primary(force).map_err(st),
            Admin::Secondary => now(self.repl.secondary()),
            Admin::Invalidate => now(self.repl.invalidate()),
            Admin::InvalidateRemote => now(self.repl.invalidate_remote()),
            Admin::Verify(s) => now(self.repl.verify(s)),
            Admin::PauseSync(p) => {
                self.repl.pause_sync(p);
                Ok(Done::Now)
            }
            Admin::Outdate => now(self.repl.outdate()),
            Admin::NewCurrentUuid { clear_bitmap } => now(self.repl.new_current_uuid(clear_bitmap)),
        }
    }

    fn count_in(&mut self, m: &PeerMsg) {
        match m {
            PeerMsg::Data { data, .. } | PeerMsg::RsDataReply { data, .. } => {
                self.counters.nr += kib(data.len())
            }
            PeerMsg::DataReply { data: Some(d), .. } => self.counters.nr += kib(d.len()),
            _ => {}
        }
    }

    /// Performs every queued action (disk I/O completes synchronously and may queue more).
    fn drain(&mut self) {
        while let Some(a) = self.repl.poll_action() {
            match a {
                Action::SubmitDisk(op) => {
                    let result = self.disk_op(&op.kind);
                    self.repl.on_disk_done(DiskCompletion { id: op.id, result });
                }
                Action::WriteMeta { id, write } => {
                    let result = self.meta_write(write).map(|_| None).map_err(|e| {
                        eprintln!("{}: metadata write failed: {e}", self.name());
                        IoError::Eio
                    });
                    self.repl.on_disk_done(DiskCompletion { id, result });
                }
                Action::Send(msg) => self.send(msg),
                Action::Complete { tag, result, .. } => self.complete(tag, result),
                Action::Connect => {
                    if let Some(f) = self.net_ctl.as_mut() {
                        f(true);
                    }
                }
                Action::Disconnect => {
                    self.link = None;
                    if let Some(f) = self.net_ctl.as_mut() {
                        f(false);
                    }
                }
                Action::StateChanged(_) => {}
                Action::Log(line) => eprintln!("drbd {}: {line}", self.name()),
                Action::CallHandler(h) => {
                    eprintln!("drbd {}: handler {h:?} (no handler scripts run)", self.name())
                }
            }
        }
    }

    fn name(&self) -> String {
        self.status.lock().map(|s| s.name.clone()).unwrap_or_default()
    }

    fn send(&mut self, msg: PeerMsg) {
        let Some(link) = self.link.as_mut() else { return };
        let out = match &msg {
            PeerMsg::Data { data, .. } | PeerMsg::RsDataReply { data, .. } => kib(data.len()),
            PeerMsg::DataReply { data: Some(d), .. } => kib(d.len()),
            _ => 0,
        };
        if link.send(&msg).is_err() {
            self.link = None;
            self.repl.on_link_down(ConnState::BrokenPipe);
        } else {
            self.counters.ns += out;
        }
    }

    fn complete(&mut self, tag: u64, result: Result<Option<Payload>, IoError>) {
        match self.pending.remove(&tag) {
            Some(Pending::Write(r)) | Some(Pending::Flush(r)) => {
                let _ = r.send(result.map(|_| ()));
            }
            Some(Pending::Read(r)) => {
                let _ = r.send(result.and_then(|d| d.ok_or(IoError::Eio)));
            }
            None => {}
        }
    }

    fn disk_op(&mut self, kind: &DiskOpKind) -> Result<Option<Payload>, IoError> {
        let Some(d) = self.disk.as_ref() else { return Err(IoError::Eio) };
        let r = match kind {
            DiskOpKind::Read { sector, len } => {
                let mut buf = vec![0u8; *len as usize * 512];
                d.data.read_exact_at(&mut buf, sector * 512).map(|_| {
                    self.counters.dr += kib(buf.len());
                    Some(Payload::from(buf))
                })
            }
            DiskOpKind::Write { sector, data, fua } => {
                let r = d.data.write_all_at(data, sector * 512);
                let r = if *fua { r.and_then(|_| d.data.sync_data()) } else { r };
                r.map(|_| {
                    self.counters.dw += kib(data.len());
                    None
                })
            }
            DiskOpKind::Flush => d.data.sync_data().map(|_| None),
        };
        r.map_err(|e| {
            eprintln!("{}: local I/O error: {e}", self.name());
            IoError::Eio
        })
    }

    fn meta_write(&mut self, w: MetaWrite) -> Result<(), String> {
        let Some(d) = self.disk.as_mut() else { return Err("no disk".into()) };
        d.data.sync_data().map_err(|e| e.to_string())?;
        match w {
            MetaWrite::Superblock(img) => {
                d.sb.uuids = img.uuids;
                d.sb.flags = img.flags;
                d.sb.device_size_sectors = img.size_sectors;
                d.md.write_superblock(&d.sb).map_err(|e| e.to_string())
            }
            MetaWrite::ActivityLog { ring_block, block, .. } => {
                self.counters.al += 1;
                d.md.write_al_slot(ring_block, &block).map_err(|e| e.to_string())
            }
            MetaWrite::BitmapPages(pages) => {
                for (n, page) in &pages {
                    let off = d.md.layout().bm_page_offset(*n);
                    d.md_file.write_all_at(page, off).map_err(|e| e.to_string())?;
                    self.counters.bm += 1;
                }
                d.md_file.sync_data().map_err(|e| e.to_string())
            }
        }
    }

    fn publish(&mut self) {
        let r = &self.repl;
        let conn = r.conn();
        // The target knows the resync's total; the source counts its own bitmap from the
        // start of the resync.
        let oos = r.bitmap().count_out_of_sync();
        let progress = r.resync_progress().or_else(|| {
            conn.is_sync().then(|| (oos, self.meter.as_ref().map_or(oos, |m| m.total)))
        });
        let sync = match progress {
            Some((left, total)) if conn.is_sync() => {
                let now = Instant::now();
                let m = self.meter.get_or_insert_with(|| SyncMeter {
                    started: now,
                    total,
                    marks: Default::default(),
                });
                if m.marks
                    .back()
                    .map_or(true, |(t, _)| now.duration_since(*t) >= Duration::from_secs(1))
                {
                    m.marks.push_back((now, left));
                    if m.marks.len() > 18 {
                        m.marks.pop_front();
                    }
                }
                let rate = |t0: Instant, l0: u64| {
                    let secs = now.duration_since(t0).as_secs_f64();
                    if secs < 0.001 {
                        0
                    } else {
                        (l0.saturating_sub(left) as f64 * 4.0 / secs) as u64
                    }
                };
                let (t0, l0) = *m.marks.front().unwrap_or(&(now, left));
                let speed = rate(t0, l0);
                let avg = rate(m.started, m.total);
                let eta = (left * 4).checked_div(speed).unwrap_or(0);
                Some(SyncProgress {
                    total_kib: total * 4,
                    left_kib: left * 4,
                    speed_kib_s: speed,
                    avg_kib_s: avg,
                    eta_s: eta,
                    verify: matches!(conn, ConnState::VerifyS | ConnState::VerifyT),
                })
            }
            _ => {
                self.meter = None;
                None
            }
        };
        let snap = r.snapshot();
        let Ok(mut st) = self.status.lock() else { return };
        st.role = snap.role;
        st.peer_role = snap.peer_role;
        st.cstate = snap.conn;
        st.disk = snap.disk;
        st.peer_disk = snap.peer_disk;
        st.user_isp = snap.user_isp;
        st.peer_isp = snap.peer_isp;
        st.protocol = char::from(r.config().protocol.letter());
        st.ns = self.counters.ns >> 10;
        st.nr = self.counters.nr >> 10;
        st.dw = self.counters.dw >> 10;
        st.dr = self.counters.dr >> 10;
        st.al = self.counters.al;
        st.bm = self.counters.bm;
        st.ap = r.requests_in_flight() as u64;
        st.ep = 0;
        st.oos = r.bitmap().count_out_of_sync() * 4;
        st.size_kib = r.config().size_sectors / 2;
        st.sync = sync;
    }
}

/// The front-end's view of the engine: each call queues a command and waits for its answer.
pub struct EngineBackend {
    tx: SyncSender<Cmd>,
    size_bytes: u64,
}

impl EngineBackend {
    /// A backend of `size_bytes` over the engine behind `tx`.
    pub fn new(tx: SyncSender<Cmd>, size_bytes: u64) -> EngineBackend {
        EngineBackend { tx, size_bytes }
    }
}

fn to_io(e: IoError) -> io::Error {
    io::Error::from_raw_os_error(e.errno())
}

fn gone() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

fn check_aligned(off: u64, len: usize) -> io::Result<()> {
    if off % 512 != 0 || len % 512 != 0 || len == 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(())
}

impl BlockBackend for EngineBackend {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        check_aligned(off, buf.len())?;
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        let len = (buf.len() / 512) as u32;
        self.tx.send(Cmd::Read { sector: off / 512, len, reply }).map_err(|_| gone())?;
        let data = rx.recv().map_err(|_| gone())?.map_err(to_io)?;
        if data.len() != buf.len() {
            return Err(gone());
        }
        buf.copy_from_slice(&data);
        Ok(())
    }

    fn write_at(&self, data: &[u8], off: u64) -> io::Result<()> {
        check_aligned(off, data.len())?;
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        let data = Payload::from(data);
        self.tx.send(Cmd::Write { sector: off / 512, data, reply }).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?.map_err(to_io)
    }

    fn flush(&self) -> io::Result<()> {
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        self.tx.send(Cmd::Flush { reply }).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?.map_err(to_io)
    }

    fn discard(&self, off: u64, len: u64) -> io::Result<()> {
        self.write_zeroes(off, len)
    }

    fn write_zeroes(&self, off: u64, len: u64) -> io::Result<()> {
        const CHUNK: u64 = 1 << 20;
        let zeroes = vec![0u8; CHUNK.min(len) as usize];
        let mut done = 0;
        while done < len {
            let n = CHUNK.min(len - done) as usize;
            self.write_at(&zeroes[..n], off + done)?;
            done += n as u64;
        }
        Ok(())
    }

    fn writable(&self) -> bool {
        true
    }
}
