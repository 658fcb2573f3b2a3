//! One resource's engine thread: owns the [`Replicator`], performs its disk and metadata
//! actions, completes front-end requests and publishes a [`ResourceStatus`].
//!
//! # Local I/O
//! Data I/O goes through io_uring ([`super::local_io`]): the backing device is opened a
//! second time with `O_DIRECT`, the engine submits every disk operation the replicator hands
//! out without waiting for it, and collects completions when the ring's notifier queues
//! [`Cmd::IoReady`] (and after each batch of commands). At most
//! [`super::local_io::URING_QUEUE_DEPTH`] ring operations are in flight; the replicator's own
//! rules keep overlapping operations apart and issue dependent ones only after completions.
//! FUA writes carry `RWF_DSYNC`; flushes are `fdatasync` ring operations. If the ring cannot
//! be set up (no `O_DIRECT` on the file system, no io_uring, `DRBD_UBLK_SYNC_IO` set), or for
//! an operation not aligned to the device's logical block size, the engine falls back to
//! plain `pread`/`pwrite`/`fdatasync` in its own thread, and says so in the log.
//!
//! Metadata writes stay synchronous in the engine thread: first the completed data writes are
//! made durable (preflush, `fdatasync`), then the metadata is written and synced; only then
//! does the replicator see the completion and submit the data writes that depend on it (the
//! activity-log rule: transaction durable before the first write into a cold extent).
//!
//! # Local I/O errors (`on-io-error detach`)
//! A failed local read, write or metadata write marks the disk Failed: from then on no
//! operation reaches the device (they fail at once, so requests complete through the peer if
//! it has the data), new application requests are held, and the engine detaches as soon as
//! the replicator allows it (no request in flight). The disk becomes Diskless; held requests
//! then go on, served by the peer when connected. If the replicator refuses the detach for
//! another reason (a Primary without an UpToDate peer, a resync running) the disk stays Failed
//! (requests fail unless the peer serves them) and the detach is retried on every tick.
//!
//! Commands reach the thread through a bounded channel ([`QUEUE_DEPTH`]).

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::local_io::{Finished, Notifier, UringIo};
use crate::ctl::{exit, CtlError, ResourceStatus, SyncProgress};
use crate::fuse::BlockBackend;
use crate::meta::{MetaDevice, Superblock};
use crate::repl::{
    Action, AttachMeta, ConnState, DiskCompletion, DiskOpKind, DiskState, Done, Handler, IoError,
    MetaWrite, Payload, PeerMsg, ReadReq, Replicator, StateError, Tick, WriteReq,
};

/// Commands queued to the engine thread at most.
pub const QUEUE_DEPTH: usize = 256;
/// Period of the engine's clock tick.
const TICK: Duration = Duration::from_millis(100);
/// How long application requests are held at most while a failed disk waits for the
/// requests in flight to finish before it can be detached.
const HOLD_MAX: Duration = Duration::from_secs(5);
/// How long the engine waits on the ring alone before it sleeps on its queue.
const RING_WAIT: Duration = Duration::from_micros(200);
/// Longest time between two status publications while only I/O is going on.
const PUBLISH_EVERY: Duration = Duration::from_millis(5);

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
    /// Unfreeze I/O frozen by fencing.
    ResumeIo,
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
    /// A request of the queued interface ([`EngineQueue`]): completes on a shared channel
    /// with its tag, so one thread can keep many requests in flight.
    Queued {
        /// Caller's tag.
        tag: u64,
        /// What.
        op: QueuedOp,
        /// Completion channel (room for every request in flight: the engine never waits).
        reply: SyncSender<QueuedDone>,
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
    /// Attach a backing device (after `detach`).
    Attach {
        /// Metadata read from it.
        meta: Box<crate::repl::AttachMeta>,
        /// The opened device.
        disk: Box<AttachedDisk>,
        /// Reply channel.
        reply: SyncSender<Result<Done, CtlError>>,
    },
    /// The `fence-peer` handler exited with this code.
    FenceResult(i32),
    /// Local I/O completions are waiting to be collected (queued by the ring's notifier).
    IoReady,
    /// The connection's send backlog went down to [`SEND_BACKLOG_LIMIT`].
    SendProgress,
    /// Test bench: the engine thread sleeps this long (a peer that stops reading).
    #[doc(hidden)]
    Stall(Duration),
    /// Stop: disconnect, flush, leave the thread.
    Stop,
}

/// Handler scripts of a resource and what they are told (`handlers { }` of the config).
#[derive(Clone, Debug, Default)]
pub struct HandlerEnv {
    /// Commands by handler name (`fence-peer`, `split-brain`, …).
    pub commands: std::collections::BTreeMap<String, String>,
    /// Environment: `DRBD_RESOURCE`, `DRBD_MINOR`, `DRBD_PEER`, … as `(name, value)`.
    pub env: Vec<(String, String)>,
}

/// The configuration name of a handler.
pub fn handler_name(h: Handler) -> &'static str {
    match h {
        Handler::FencePeer => "fence-peer",
        Handler::InitialSplitBrain => "initial-split-brain",
        Handler::SplitBrain => "split-brain",
        Handler::PriLostAfterSb => "pri-lost-after-sb",
        Handler::PriLost => "pri-lost",
        Handler::BeforeResyncTarget => "before-resync-target",
        Handler::AfterResyncTarget => "after-resync-target",
        Handler::OutOfSync => "out-of-sync",
    }
}

enum Pending {
    Write(SyncSender<Result<(), IoError>>),
    Read(SyncSender<Result<Payload, IoError>>),
    Flush(SyncSender<Result<(), IoError>>),
    Queued(u64, SyncSender<QueuedDone>),
}

/// An operation of the queued interface.
#[derive(Debug, Clone)]
pub enum QueuedOp {
    /// Write `data` at `sector`; `fua`: durable on completion (forced unit access).
    Write {
        /// First sector.
        sector: u64,
        /// Data (a multiple of 512 bytes).
        data: Payload,
        /// Force unit access.
        fua: bool,
    },
    /// Read `len` sectors.
    Read {
        /// First sector.
        sector: u64,
        /// Sectors.
        len: u32,
    },
    /// Make every completed write durable.
    Flush,
}

/// Completion of a [`QueuedOp`].
#[derive(Debug, Clone)]
pub struct QueuedDone {
    /// The caller's tag.
    pub tag: u64,
    /// Read data (reads) or `None`; or the error.
    pub result: Result<Option<Payload>, IoError>,
}

/// A backing device's metadata read for `attach`: the activity log folded into the bitmap (a
/// Primary that crashed), then what the replicator needs.
pub struct AttachRead {
    /// Metadata target.
    pub md: MetaDevice,
    /// Superblock.
    pub sb: Superblock,
    /// What the replicator attaches.
    pub meta: AttachMeta,
    /// Usable size in sectors.
    pub size_sectors: u64,
    /// Activity-log slots recorded in the superblock.
    pub al_extents: u32,
    /// The activity log had to be applied.
    pub al_applied: bool,
}

/// Reads the metadata of `backing` (`md_disk` placement) and applies its activity log.
///
/// # Errors
/// [`MetaError`] of reading or applying.
pub fn read_for_attach(
    backing: &std::path::Path,
    md_disk: &crate::meta::MetaDisk,
) -> Result<AttachRead, crate::meta::MetaError> {
    let (md, mut sb) = crate::meta::read_md(backing, md_disk)?;
    let rec = md.apply_al(&mut sb)?;
    let size_sectors = md.layout().usable_sectors;
    let bitmap = md.read_bitmap(size_sectors)?;
    let meta = AttachMeta {
        uuids: sb.uuids,
        flags: sb.flags,
        bitmap,
        hot_extents: rec.as_ref().map(|r| r.extents.clone()).unwrap_or_default(),
        al_next_tr: rec.as_ref().map_or(0, |r| r.next_tr()),
    };
    let al_extents = sb.al.al_extents.max(1);
    Ok(AttachRead { md, sb, meta, size_sectors, al_extents, al_applied: rec.is_some() })
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
    /// The data on io_uring with `O_DIRECT` (`None`: synchronous I/O on `data`).
    pub uring: Option<UringIo>,
}

impl AttachedDisk {
    /// Opens the data file and a second metadata descriptor.
    ///
    /// # Errors
    /// Open failures.
    pub fn open(backing: &std::path::Path, md: MetaDevice, sb: Superblock) -> io::Result<Self> {
        let data = OpenOptions::new().read(true).write(true).open(backing)?;
        let md_file = OpenOptions::new().read(true).write(true).open(md.path())?;
        let uring = if std::env::var_os("DRBD_UBLK_SYNC_IO").is_some() {
            eprintln!("drbd: {}: DRBD_UBLK_SYNC_IO set: synchronous local I/O", backing.display());
            None
        } else {
            match UringIo::open(backing) {
                Ok(u) => Some(u),
                Err(e) => {
                    eprintln!(
                        "drbd: {}: io_uring with O_DIRECT unavailable ({e}): synchronous local \
                         I/O",
                        backing.display()
                    );
                    None
                }
            }
        };
        Ok(AttachedDisk { data, md, md_file, sb, uring })
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
    /// Handler scripts and the engine's own queue for their results.
    handlers: Option<(HandlerEnv, SyncSender<Cmd>)>,
    /// The engine's own queue (for the ring notifier).
    own: Option<SyncSender<Cmd>>,
    /// Wakes the engine on ring completions (started with the first ring).
    notifier: Option<Notifier>,
    /// A local I/O error happened: the disk is Failed and is to be detached.
    failed: bool,
    /// Application requests held while the failed disk is being detached.
    held: VecDeque<Cmd>,
    /// The replicator refused the detach after a failure for another reason than requests
    /// in flight: requests are not held any more.
    detach_refused: bool,
    /// When the disk failed.
    failed_at: Instant,
    /// When the status was last published.
    last_publish: Instant,
    /// Reused list of finished ring operations.
    finished: Vec<Finished>,
    /// Completions waiting for the send backlog (see [`SEND_BACKLOG_LIMIT`]), in order.
    held_done: VecDeque<(u64, Result<Option<Payload>, IoError>)>,
}

/// Where the engine sends peer messages (the connection's send half).
pub trait PeerSink: Send {
    /// Sends one message; an error means the connection is gone.
    fn send(&mut self, msg: &PeerMsg) -> io::Result<()>;
    /// Connection generation.
    fn generation(&self) -> u64;
    /// Bytes handed to the connection and not yet written to its socket.
    fn backlog(&self) -> u64 {
        0
    }
    /// Asks for one [`Cmd::SendProgress`] once the backlog is down to
    /// [`SEND_BACKLOG_LIMIT`].
    fn want_progress(&self) {}
}

/// How many bytes the connection may hold for its sender before completions to the
/// front-end wait: the counterpart of DRBD's socket send buffer. A protocol A write completes
/// once its data is in the send buffer; here the sender's queue plays that part, and this
/// bound keeps a network slower than the disk from letting it grow without limit.
pub const SEND_BACKLOG_LIMIT: u64 = 4 << 20;

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
            handlers: None,
            own: None,
            notifier: None,
            failed: false,
            held: VecDeque::with_capacity(QUEUE_DEPTH),
            detach_refused: false,
            failed_at: now,
            last_publish: now,
            finished: Vec::with_capacity(usize::from(super::local_io::URING_QUEUE_DEPTH) * 2),
            held_done: VecDeque::new(),
        }
    }

    /// Gives the engine its own queue, on which the ring notifier queues [`Cmd::IoReady`].
    /// Without it the engine uses synchronous local I/O. ([`Engine::set_handlers`] sets it
    /// too.)
    pub fn set_own_queue(&mut self, own: SyncSender<Cmd>) {
        self.own = Some(own);
    }

    /// Prepares a newly attached disk: metadata flushes as configured (`md-flushes`); starts
    /// the notifier if needed and registers the disk's ring with it; on failure the disk
    /// falls back to synchronous I/O.
    fn setup_disk(&mut self) {
        let name = self.name();
        let md_flushes = self.repl.config().md_flushes;
        let Some(d) = self.disk.as_mut() else { return };
        d.md.set_no_flush(!md_flushes);
        let Some(u) = d.uring.as_ref() else { return };
        if self.notifier.is_none() {
            let Some(own) = self.own.clone() else {
                eprintln!(
                    "drbd {name}: no engine queue for the io_uring notifier: synchronous local I/O"
                );
                d.uring = None;
                return;
            };
            match Notifier::start(&name, own) {
                Ok(n) => self.notifier = Some(n),
                Err(e) => {
                    eprintln!("drbd {name}: io_uring notifier: {e}: synchronous local I/O");
                    d.uring = None;
                    return;
                }
            }
        }
        let n = self.notifier.as_ref().expect("started above");
        if let Err(e) = u.register(n) {
            eprintln!("drbd {name}: io_uring eventfd: {e}: synchronous local I/O");
            d.uring = None;
        }
    }

    /// Installs the handler scripts; `own` is this engine's queue (for `fence-peer`'s result).
    pub fn set_handlers(&mut self, env: HandlerEnv, own: SyncSender<Cmd>) {
        self.own = Some(own.clone());
        self.handlers = Some((env, own));
    }

    /// Runs handler `h` in its own thread (`sh -c COMMAND`); a missing handler counts as exit
    /// code 0, as drbdadm answers for an undefined one.
    fn call_handler(&mut self, h: Handler) {
        let name = handler_name(h);
        let res = self.name();
        let Some((env, own)) = self.handlers.clone() else {
            eprintln!("drbd {res}: handler {name}: none configured");
            if h == Handler::FencePeer {
                self.repl.fence_peer_result(0);
            }
            return;
        };
        let Some(cmd) = env.commands.get(name).cloned() else {
            if h == Handler::FencePeer {
                self.repl.fence_peer_result(0);
            }
            return;
        };
        eprintln!("drbd {res}: helper command: /bin/sh -c {cmd:?} ({name})");
        let _ = std::thread::Builder::new().name(format!("drbd-{res}-{name}")).spawn(move || {
            let code = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&cmd)
                .envs(env.env.iter().cloned())
                .status()
                .map(|s| s.code().unwrap_or(-1))
                .unwrap_or(-1);
            eprintln!("drbd {res}: helper command: {name} exit code {code}");
            if h == Handler::FencePeer {
                let _ = own.send(Cmd::FenceResult(code));
            }
        });
    }

    /// Installs the hook called with `true` on [`Action::Connect`] and `false` on
    /// [`Action::Disconnect`].
    pub fn set_net_ctl(&mut self, f: Box<dyn FnMut(bool) + Send>) {
        self.net_ctl = Some(f);
    }

    /// Runs until [`Cmd::Stop`] or until every sender is gone.
    pub fn run(mut self, rx: Receiver<Cmd>) {
        self.setup_disk();
        self.publish();
        loop {
            let mut admin = false;
            // With ring operations in flight and nothing queued, wait on the ring itself for
            // a moment (one wake-up from the kernel instead of two through the notifier);
            // commands that come meanwhile wait at most that long.
            let next = if self.ring_busy() {
                match rx.try_recv() {
                    Ok(cmd) => Ok(cmd),
                    Err(TryRecvError::Disconnected) => break,
                    Err(TryRecvError::Empty) => {
                        if self.ring_wait(RING_WAIT) > 0 {
                            Err(RecvTimeoutError::Timeout)
                        } else {
                            rx.recv_timeout(TICK)
                        }
                    }
                }
            } else {
                rx.recv_timeout(TICK)
            };
            match next {
                Ok(Cmd::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(cmd) => {
                    admin |= !Self::is_io(&cmd);
                    self.handle(cmd);
                    // Take what else is queued before acting, bounded by the queue depth.
                    for _ in 0..QUEUE_DEPTH {
                        match rx.try_recv() {
                            Ok(Cmd::Stop) => {
                                self.shutdown();
                                return;
                            }
                            Ok(cmd) => {
                                admin |= !Self::is_io(&cmd);
                                self.handle(cmd);
                            }
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.pump_io();
            if self.last_tick.elapsed() >= TICK / 2 {
                self.last_tick = Instant::now();
                self.repl.tick(Tick(self.start.elapsed().as_millis() as u64));
                admin = true;
            }
            self.drain();
            self.pump_io();
            if !self.held_done.is_empty() {
                self.release_done();
            }
            if self.failed {
                self.detach_failed();
            }
            // Status after every state-changing command and tick; under a stream of I/O at
            // most every few milliseconds (the status is a snapshot, not a log).
            if admin || self.last_publish.elapsed() >= PUBLISH_EVERY {
                self.publish();
            }
        }
        self.shutdown();
    }

    /// Application and completion traffic (which does not by itself change the state).
    fn is_io(cmd: &Cmd) -> bool {
        matches!(
            cmd,
            Cmd::Write { .. }
                | Cmd::Read { .. }
                | Cmd::Flush { .. }
                | Cmd::Queued { .. }
                | Cmd::IoReady
                | Cmd::SendProgress
                | Cmd::Peer { .. }
        )
    }

    /// Hands queued ring operations to the kernel and collects what finished, feeding the
    /// completions to the replicator (which may start more); bounded rounds.
    fn pump_io(&mut self) {
        for _ in 0..QUEUE_DEPTH {
            let Some(u) = self.disk.as_mut().and_then(|d| d.uring.as_mut()) else { return };
            let submitted = u.submit();
            let mut done = std::mem::take(&mut self.finished);
            let seen = u.reap(&mut |f| done.push(f));
            let n = done.len();
            for f in done.drain(..) {
                self.finished_op(f);
            }
            self.finished = done;
            if let Err(e) = submitted {
                eprintln!("drbd {}: io_uring submit: {e}", self.name());
            }
            if n > 0 {
                self.drain();
            }
            if seen == 0 {
                return;
            }
        }
    }

    fn ring_busy(&self) -> bool {
        self.disk.as_ref().and_then(|d| d.uring.as_ref()).is_some_and(|u| u.busy())
    }

    /// Waits up to `t` on the ring and feeds what finished to the replicator; returns how
    /// many ring completions were seen.
    fn ring_wait(&mut self, t: Duration) -> usize {
        let Some(u) = self.disk.as_mut().and_then(|d| d.uring.as_mut()) else { return 0 };
        let mut done = std::mem::take(&mut self.finished);
        let r = u.wait_for(t, &mut |f| done.push(f));
        for f in done.drain(..) {
            self.finished_op(f);
        }
        self.finished = done;
        match r {
            Ok(n) => {
                if n > 0 {
                    self.drain();
                }
                n
            }
            Err(e) => {
                eprintln!("drbd {}: io_uring wait: {e}", self.name());
                0
            }
        }
    }

    /// Waits until no ring operation is in flight, completing each (before the disk goes).
    fn quiesce(&mut self) {
        for _ in 0..1_000_000 {
            self.drain();
            let Some(u) = self.disk.as_mut().and_then(|d| d.uring.as_mut()) else { return };
            if !u.busy() {
                return;
            }
            let mut done = std::mem::take(&mut self.finished);
            if let Err(e) = u.wait(&mut |f| done.push(f)) {
                eprintln!("drbd {}: io_uring wait: {e}", self.name());
                self.finished = done;
                return;
            }
            for f in done.drain(..) {
                self.finished_op(f);
            }
            self.finished = done;
        }
    }

    fn finished_op(&mut self, f: Finished) {
        let result = match f.result {
            Ok(d) => {
                self.counters.dw += kib(f.written);
                if let Some(p) = &d {
                    self.counters.dr += kib(p.len());
                }
                Ok(d)
            }
            Err(errno) => {
                self.local_error(&io::Error::from_raw_os_error(errno));
                Err(IoError::Eio)
            }
        };
        self.repl.on_disk_done(DiskCompletion { id: f.id, result });
    }

    /// A local I/O error: the disk is Failed from now on (see the module documentation).
    fn local_error(&mut self, e: &dyn std::fmt::Display) {
        if !self.failed && self.disk.is_some() {
            eprintln!("drbd {}: local I/O error: {e}; disk Failed, detaching", self.name());
            self.failed = true;
            self.failed_at = Instant::now();
            self.detach_refused = false;
            self.publish();
        } else {
            eprintln!("drbd {}: local I/O error: {e}", self.name());
        }
    }

    /// Detaches a failed disk once the replicator allows it; releases held requests.
    fn detach_failed(&mut self) {
        if self.disk.is_none() {
            self.failed = false;
        } else {
            match self.repl.detach() {
                Ok(()) => {
                    self.drain();
                    self.quiesce();
                    self.disk = None;
                    self.failed = false;
                    eprintln!("drbd {}: disk detached after the I/O error (Diskless)", self.name());
                    self.publish();
                }
                Err(StateError::DeviceInUse) if self.failed_at.elapsed() < HOLD_MAX => return,
                Err(e) => {
                    if !self.detach_refused {
                        eprintln!(
                            "drbd {}: cannot detach the failed disk now ({e}); requests go on \
                             without it",
                            self.name()
                        );
                        self.detach_refused = true;
                    }
                }
            }
        }
        for _ in 0..QUEUE_DEPTH * 4 {
            let Some(cmd) = self.held.pop_front() else { break };
            self.handle_now(cmd);
        }
    }

    fn shutdown(&mut self) {
        if self.repl.conn() != ConnState::StandAlone {
            let _ = self.repl.disconnect();
        }
        self.drain();
        self.link = None;
        self.release_done();
        self.quiesce();
        for cmd in std::mem::take(&mut self.held) {
            self.handle_now(cmd);
        }
        self.drain();
        self.quiesce();
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
                Pending::Queued(tag, r) => {
                    let _ = r.try_send(QueuedDone { tag, result: Err(IoError::Eio) });
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
        let app = matches!(
            cmd,
            Cmd::Write { .. } | Cmd::Read { .. } | Cmd::Flush { .. } | Cmd::Queued { .. }
        );
        // Hold application requests while a failed disk waits to be detached (and keep
        // their order behind those already held).
        if app && ((self.failed && !self.detach_refused) || !self.held.is_empty()) {
            self.held.push_back(cmd);
            return;
        }
        self.handle_now(cmd);
    }

    fn handle_now(&mut self, cmd: Cmd) {
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
            Cmd::Queued { tag: user, op, reply } => {
                let tag = self.tag(Pending::Queued(user, reply));
                match op {
                    QueuedOp::Write { sector, data, fua } => {
                        self.repl.on_write(WriteReq { tag, sector, fua, data })
                    }
                    QueuedOp::Read { sector, len } => {
                        self.repl.on_read(ReadReq { tag, sector, len })
                    }
                    QueuedOp::Flush => self.repl.on_flush(tag),
                }
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
            Cmd::FenceResult(code) => self.repl.fence_peer_result(code),
            Cmd::SendProgress => self.release_done(),
            Cmd::Stall(d) => std::thread::sleep(d),
            Cmd::IoReady => {
                if let Some(n) = &self.notifier {
                    n.rearm();
                }
                self.pump_io();
            }
            Cmd::Attach { meta, disk, reply } => {
                if self.disk.is_some() {
                    let _ = reply.send(Err(CtlError::failed(
                        exit::CONFIG,
                        "(124) Device is attached to a disk (use detach first)",
                    )));
                } else {
                    self.disk = Some(*disk);
                    self.failed = false;
                    self.setup_disk();
                    let r = self
                        .repl
                        .attach(*meta)
                        .map(|_| Done::Now)
                        .map_err(|e| CtlError::failed(exit::CONFIG, e.to_string()));
                    if r.is_err() {
                        self.disk = None;
                    }
                    let _ = reply.send(r);
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
                    self.quiesce();
                    self.disk = None;
                    self.failed = false;
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
            Admin::ResumeIo => {
                self.repl.resume_io();
                Ok(Done::Now)
            }
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
                    if !self.failed {
                        if let Some(u) = self.disk.as_mut().and_then(|d| d.uring.as_mut()) {
                            if u.accepts(&op.kind) {
                                u.start(op.id, op.kind);
                                continue;
                            }
                        }
                    }
                    let result = self.disk_op(&op.kind);
                    self.repl.on_disk_done(DiskCompletion { id: op.id, result });
                }
                Action::WriteMeta { id, write } => {
                    let result = self.meta_write(write).map(|_| None).map_err(|e| {
                        self.local_error(&format_args!("metadata write: {e}"));
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
                Action::CallHandler(h) => self.call_handler(h),
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
        if !self.held_done.is_empty() || self.send_congested() {
            self.held_done.push_back((tag, result));
            self.release_done();
            return;
        }
        self.deliver(tag, result);
    }

    fn send_congested(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.backlog() > SEND_BACKLOG_LIMIT)
    }

    /// Hand held completions to the front-end while the send backlog allows (all of them when
    /// the connection is gone); otherwise ask the sender to say when it does.
    fn release_done(&mut self) {
        while !self.held_done.is_empty() {
            if self.send_congested() {
                if let Some(l) = self.link.as_ref() {
                    l.want_progress();
                }
                // Checked again after asking: the sender may have caught up in between.
                if self.send_congested() {
                    return;
                }
            }
            let (tag, result) = self.held_done.pop_front().expect("non-empty");
            self.deliver(tag, result);
        }
    }

    fn deliver(&mut self, tag: u64, result: Result<Option<Payload>, IoError>) {
        match self.pending.remove(&tag) {
            Some(Pending::Write(r)) | Some(Pending::Flush(r)) => {
                let _ = r.send(result.map(|_| ()));
            }
            Some(Pending::Read(r)) => {
                let _ = r.send(result.and_then(|d| d.ok_or(IoError::Eio)));
            }
            Some(Pending::Queued(tag, r)) => {
                // Never blocks: the queue's owner keeps no more requests in flight than the
                // channel holds.
                let _ = r.try_send(QueuedDone { tag, result });
            }
            None => {}
        }
    }

    /// Synchronous local I/O (fallback path); a failed disk is not touched any more.
    fn disk_op(&mut self, kind: &DiskOpKind) -> Result<Option<Payload>, IoError> {
        if self.failed {
            return Err(IoError::Eio);
        }
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
            self.local_error(&e);
            IoError::Eio
        })
    }

    fn meta_write(&mut self, w: MetaWrite) -> Result<(), String> {
        let md_flushes = self.repl.config().md_flushes;
        let Some(d) = self.disk.as_mut() else { return Err("no disk".into()) };
        if md_flushes {
            d.data.sync_data().map_err(|e| e.to_string())?;
        }
        match w {
            MetaWrite::Superblock(img) => {
                if std::env::var_os("DRBD_UBLK_DEBUG_SB").is_some() {
                    eprintln!("sb write {:016X} {:?}", img.uuids.current, img.flags);
                }
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
                if md_flushes {
                    d.md_file.sync_data().map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        }
    }

    fn publish(&mut self) {
        self.last_publish = Instant::now();
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
        st.disk = if self.failed && self.disk.is_some() { DiskState::Failed } else { snap.disk };
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
        let u = r.uuids();
        st.uuids = [u.current, u.bitmap, u.history[0], u.history[1]];
        st.md_flags = r.md_flags().0;
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

/// The queued interface to the engine: one thread keeps up to `depth` requests in flight and
/// collects their completions, tagged, from one channel (what a queue-based front-end such
/// as ublk needs; [`EngineBackend`] blocks one thread per request).
pub struct EngineQueue {
    tx: SyncSender<Cmd>,
    done_tx: SyncSender<QueuedDone>,
    done_rx: Receiver<QueuedDone>,
    depth: usize,
    in_flight: usize,
    size_bytes: u64,
}

impl EngineQueue {
    /// A queue of at most `depth` requests in flight to the engine behind `tx`.
    pub fn new(tx: SyncSender<Cmd>, size_bytes: u64, depth: usize) -> EngineQueue {
        let depth = depth.max(1);
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(depth);
        EngineQueue { tx, done_tx, done_rx, depth, in_flight: 0, size_bytes }
    }

    /// Size of the device in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Requests submitted and not yet collected.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Submits a request (blocks only while the engine's command queue is full).
    ///
    /// # Errors
    /// `WouldBlock` when `depth` requests are in flight (collect one first), `EINVAL` for a
    /// misaligned write, `EIO` when the engine is gone.
    pub fn submit(&mut self, tag: u64, op: QueuedOp) -> io::Result<()> {
        if self.in_flight >= self.depth {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if let QueuedOp::Write { sector, data, .. } = &op {
            check_aligned(sector * 512, data.len())?;
        }
        let reply = self.done_tx.clone();
        self.tx.send(Cmd::Queued { tag, op, reply }).map_err(|_| gone())?;
        self.in_flight += 1;
        Ok(())
    }

    /// Waits for the next completion; `None` if nothing is in flight.
    ///
    /// # Errors
    /// `EIO` when the engine is gone.
    pub fn wait(&mut self) -> io::Result<Option<QueuedDone>> {
        if self.in_flight == 0 {
            return Ok(None);
        }
        let d = self.done_rx.recv().map_err(|_| gone())?;
        self.in_flight -= 1;
        Ok(Some(d))
    }

    /// The next completion if one is ready (never blocks).
    pub fn try_wait(&mut self) -> Option<QueuedDone> {
        let d = self.done_rx.try_recv().ok()?;
        self.in_flight -= 1;
        Some(d)
    }
}

type Reply<T> = (SyncSender<Result<T, IoError>>, Receiver<Result<T, IoError>>);

thread_local! {
    // One reply channel per front-end worker thread and kind, reused for every request: a
    // worker has at most one request in the engine at a time.
    static DONE: Reply<()> = std::sync::mpsc::sync_channel(1);
    static DATA: Reply<Payload> = std::sync::mpsc::sync_channel(1);
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
        let len = (buf.len() / 512) as u32;
        let data = DATA.with(|(reply, rx)| {
            let reply = reply.clone();
            self.tx.send(Cmd::Read { sector: off / 512, len, reply }).map_err(|_| gone())?;
            rx.recv().map_err(|_| gone())?.map_err(to_io)
        })?;
        if data.len() != buf.len() {
            return Err(gone());
        }
        buf.copy_from_slice(&data);
        Ok(())
    }

    fn write_at(&self, data: &[u8], off: u64) -> io::Result<()> {
        check_aligned(off, data.len())?;
        let data = Payload::from(data);
        DONE.with(|(reply, rx)| {
            let reply = reply.clone();
            self.tx.send(Cmd::Write { sector: off / 512, data, reply }).map_err(|_| gone())?;
            rx.recv().map_err(|_| gone())?.map_err(to_io)
        })
    }

    fn flush(&self) -> io::Result<()> {
        DONE.with(|(reply, rx)| {
            let reply = reply.clone();
            self.tx.send(Cmd::Flush { reply }).map_err(|_| gone())?;
            rx.recv().map_err(|_| gone())?.map_err(to_io)
        })
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
