//! One resource's engine: owns the [`Replicator`], performs its disk and metadata actions,
//! completes front-end requests and publishes a [`ResourceStatus`].
//!
//! # Who runs it
//! The engine sits behind a lock ([`EngineRef`]) and is run by whichever thread has work for
//! it, not by a thread of its own: a front-end thread submits its request and carries out
//! what follows (the disk operation goes to the ring, the message to the peer's socket), the
//! connection's reader hands a received message to the replicator itself, and a thread
//! waiting for its request waits on the ring directly ([`crate::io::RingWaiter`]) and reaps
//! the completions when they come. On this path a request crosses no thread hand-off at all
//! (a hand-off, the wake-up of a sleeping thread, costs about as much as a whole 4 KiB write
//! on a virtual machine).
//!
//! Commands are queued on a channel and run in order by the thread holding the lock: a
//! sender queues its command and takes the lock if it is free; if not, the holder runs the
//! command before it lets go (every holder looks at the queue again after unlocking), so no
//! command waits for a thread to wake up and none is lost. A thread that holds the engine
//! and sends to it (a hook calling back) only queues.
//!
//! The engine's own thread keeps the clock ([`Tick`], every 50 ms) and reaps ring
//! completions nobody else waits for (the peer's writes on a Secondary, resync I/O): it waits
//! on the ring while operations are in flight and no front-end thread does, and sleeps
//! otherwise; whoever leaves the ring busy with nobody waiting on it wakes it. A command that
//! completes a request whose thread waits on the ring (a peer's acknowledgement) posts a
//! no-op to the ring to wake it.
//!
//! # Local I/O
//! Data I/O goes through io_uring ([`super::local_io`]): the backing device is opened a
//! second time with `O_DIRECT`, the engine submits every disk operation the replicator hands
//! out without waiting for it, and collects completions whenever a thread holds it. At most
//! [`super::local_io::URING_QUEUE_DEPTH`] ring operations are in flight; the replicator's own
//! rules keep overlapping operations apart and issue dependent ones only after completions.
//! FUA writes carry `RWF_DSYNC`; flushes are `fdatasync` ring operations. If the ring cannot
//! be set up (no `O_DIRECT` on the file system, no io_uring, `DRBD_UBLK_SYNC_IO` set), or for
//! an operation not aligned to the device's logical block size, the engine falls back to
//! plain `pread`/`pwrite`/`fdatasync` in the thread holding it, and says so in the log.
//!
//! Metadata writes stay synchronous, under the engine's lock: first the completed data writes are
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
//! The command channel is bounded ([`QUEUE_DEPTH`]): a connection's reader blocks when it is
//! full, which is the back-pressure towards the peer.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::local_io::{Finished, UringIo};
use crate::ctl::{exit, CtlError, ResourceStatus, SyncProgress};
use crate::fuse::BlockBackend;
use crate::io::RingWaiter;
use crate::meta::{MetaDevice, Superblock};
use crate::repl::{
    Action, AttachMeta, ConnState, DiskCompletion, DiskOpKind, DiskState, Done, Handler, IoError,
    MetaWrite, Payload, PeerMsg, ReadReq, Replicator, StateError, Tick, WriteReq,
};

/// Commands queued to the engine at most (see [`EngineRef`]).
pub const QUEUE_DEPTH: usize = 256;
/// Period of the engine's clock tick.
const TICK: Duration = Duration::from_millis(100);
/// How long application requests are held at most while a failed disk waits for the
/// requests in flight to finish before it can be detached.
const HOLD_MAX: Duration = Duration::from_secs(5);
/// Longest single wait of a front-end thread on the ring before it looks again (bounds the
/// wait on a ring that was replaced by a detach and an attach).
const CALLER_RING_WAIT: Duration = Duration::from_millis(20);
/// Longest time between two status publications while only I/O is going on.
const PUBLISH_EVERY: Duration = Duration::from_millis(5);

/// Administrative operations carried out by the engine.
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

/// A command to the engine.
pub enum Cmd {
    /// Application write.
    Write {
        /// First sector.
        sector: u64,
        /// Data.
        data: Payload,
        /// Reply channel.
        reply: SyncSender<Result<(), IoError>>,
        /// The waiting thread's number ([`owner_id`]).
        owner: u64,
    },
    /// Application read.
    Read {
        /// First sector.
        sector: u64,
        /// Sectors.
        len: u32,
        /// Reply channel.
        reply: SyncSender<Result<Payload, IoError>>,
        /// The waiting thread's number ([`owner_id`]).
        owner: u64,
    },
    /// Application flush.
    Flush {
        /// Reply channel.
        reply: SyncSender<Result<(), IoError>>,
        /// The waiting thread's number ([`owner_id`]).
        owner: u64,
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
        /// The queue's number ([`owner_id`]).
        owner: u64,
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
    /// The connection's send backlog went down to [`SEND_BACKLOG_LIMIT`].
    SendProgress,
    /// Test bench: the engine stops working for this long (a peer that stops reading).
    #[doc(hidden)]
    Stall(Duration),
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
    /// Requests in flight by tag, with their owner's number.
    pending: HashMap<u64, (u64, Pending)>,
    next_tag: u64,
    counters: Counters,
    status: Arc<Mutex<ResourceStatus>>,
    start: Instant,
    last_tick: Instant,
    meter: Option<SyncMeter>,
    link: Option<Box<dyn PeerSink>>,
    /// Called when the engine asks to connect / disconnect.
    net_ctl: Option<Box<dyn FnMut(bool) + Send>>,
    /// Handler scripts.
    handlers: Option<HandlerEnv>,
    /// The lock and queue around this engine (for handler results), once started.
    me: Weak<Shared>,
    /// The command queue (taken by the holder of the lock).
    rx: Option<Receiver<Cmd>>,
    /// The engine's own thread (woken when the ring is left busy with nobody waiting).
    thread: Option<std::thread::Thread>,
    /// The front-end thread waiting on the ring now (its owner number), if one does: at
    /// most one at a time, so that a completion wakes one thread, not all of them.
    ring_leader: Option<u64>,
    /// The engine's own thread waits on the ring now.
    thread_on_ring: bool,
    /// The connection's reader waits on the ring (with its socket) and reaps it when it
    /// wakes: it stands in for the engine's thread while it runs.
    reader_on_ring: bool,
    /// A request of the ring leader completed since it was last woken.
    leader_done: bool,
    /// The state may have changed since the last publication.
    dirty: bool,
    /// This batch submitted application requests: their threads wait for them and drive
    /// the ring, so the engine's thread is not woken for it.
    app_batch: bool,
    /// Shut down: no command runs any more.
    stopped: bool,
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
    /// Writes what [`PeerSink::send`] collected (called when the engine's round of work
    /// ends); an error means the connection is gone.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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
            me: Weak::new(),
            rx: None,
            thread: None,
            ring_leader: None,
            thread_on_ring: false,
            reader_on_ring: false,
            leader_done: false,
            dirty: true,
            app_batch: false,
            stopped: false,
            failed: false,
            held: VecDeque::with_capacity(QUEUE_DEPTH),
            detach_refused: false,
            failed_at: now,
            last_publish: now,
            finished: Vec::with_capacity(usize::from(super::local_io::URING_QUEUE_DEPTH) * 2),
            held_done: VecDeque::new(),
        }
    }

    /// Prepares a newly attached disk: metadata flushes as configured (`md-flushes`).
    fn setup_disk(&mut self) {
        let md_flushes = self.repl.config().md_flushes;
        if let Some(d) = self.disk.as_mut() {
            d.md.set_no_flush(!md_flushes);
        }
    }

    /// Installs the handler scripts.
    pub fn set_handlers(&mut self, env: HandlerEnv) {
        self.handlers = Some(env);
    }

    /// Runs handler `h` in its own thread (`sh -c COMMAND`); a missing handler counts as exit
    /// code 0, as drbdadm answers for an undefined one.
    fn call_handler(&mut self, h: Handler) {
        let name = handler_name(h);
        let res = self.name();
        let own = self.me.upgrade().map(EngineRef);
        let Some(env) = self.handlers.clone() else {
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
            if let (Handler::FencePeer, Some(own)) = (h, own) {
                let _ = own.send(Cmd::FenceResult(code));
            }
        });
    }

    /// Installs the hook called with `true` on [`Action::Connect`] and `false` on
    /// [`Action::Disconnect`].
    pub fn set_net_ctl(&mut self, f: Box<dyn FnMut(bool) + Send>) {
        self.net_ctl = Some(f);
    }

    /// Starts the engine: its thread (named `name`) and the handle through which everything
    /// else reaches it.
    ///
    /// # Errors
    /// Thread creation failure.
    pub fn start(mut self, name: &str) -> io::Result<(EngineRef, std::thread::JoinHandle<()>)> {
        self.setup_disk();
        self.publish();
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_DEPTH);
        self.rx = Some(rx);
        let sh = Arc::new(Shared {
            engine: Mutex::new(self),
            tx,
            queued: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            rounds: Default::default(),
            leading: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&sh);
        let mut e = sh.engine.lock().expect("new lock");
        e.me = weak;
        let run = Arc::clone(&sh);
        let t = std::thread::Builder::new()
            .name(format!("drbd-{name}"))
            .spawn(move || engine_thread(&run))?;
        e.thread = Some(t.thread().clone());
        drop(e);
        Ok((EngineRef(sh), t))
    }

    /// Runs the queued commands (bounded); returns how many.
    fn run_queued(&mut self, sh: &Shared) -> usize {
        let mut n = 0;
        while n < QUEUE_DEPTH * 4 {
            let Some(rx) = self.rx.as_ref() else { break };
            let Ok(cmd) = rx.try_recv() else { break };
            sh.queued.fetch_sub(1, Ordering::SeqCst);
            n += 1;
            self.dirty |= !Self::is_io(&cmd);
            self.handle(cmd);
        }
        n
    }

    /// What follows every batch of work, whoever did it: ring operations submitted and
    /// completions reaped, queued actions performed, held completions released, a failed
    /// disk detached, the status published (after a state change, and at most every few
    /// milliseconds under a stream of I/O: the status is a snapshot, not a log); then the
    /// threads that have to know are woken (see the module documentation).
    fn settle(&mut self) {
        if self.stopped {
            return;
        }
        self.drain();
        // The peer's messages first: they travel while the disk works.
        self.flush_link();
        self.pump_io();
        if !self.held_done.is_empty() {
            self.release_done();
        }
        if self.failed {
            self.detach_failed();
        }
        self.flush_link();
        if self.dirty || self.last_publish.elapsed() >= PUBLISH_EVERY {
            self.dirty = false;
            self.publish();
        }
        if !std::mem::take(&mut self.app_batch) {
            self.wake_if_unwatched();
        }
        if self.leader_done {
            self.leader_done = false;
            // Also on an idle ring: its last completions may have been reaped here.
            if self.ring_leader.is_some() {
                if let Some(u) = self.disk.as_mut().and_then(|d| d.uring.as_mut()) {
                    u.kick();
                }
            }
        }
    }

    /// The front-end thread leading on the ring stops doing so (see [`EngineRef`]).
    fn leave_ring(&mut self, sh: &Shared) {
        self.ring_leader = None;
        sh.leading.store(false, Ordering::SeqCst);
        self.wake_if_unwatched();
    }

    /// Wakes the engine's thread if the ring is busy and nobody waits on it.
    fn wake_if_unwatched(&self) {
        let watched = self.ring_leader.is_some() || self.thread_on_ring || self.reader_on_ring;
        if !watched && self.ring_busy() {
            if let Some(t) = &self.thread {
                t.unpark();
            }
        }
    }

    /// The ring's waiting handle while operations are in flight on it.
    fn busy_ring(&self) -> Option<Arc<RingWaiter>> {
        self.ring().filter(|_| self.ring_busy())
    }

    /// The ring's waiting handle.
    fn ring(&self) -> Option<Arc<RingWaiter>> {
        self.disk.as_ref().and_then(|d| d.uring.as_ref()).map(|u| u.waiter())
    }

    /// Application and completion traffic (which does not by itself change the state).
    fn is_io(cmd: &Cmd) -> bool {
        matches!(
            cmd,
            Cmd::Write { .. }
                | Cmd::Read { .. }
                | Cmd::Flush { .. }
                | Cmd::Queued { .. }
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
        if self.stopped {
            return;
        }
        // Commands still queued are dropped with the queue: their reply channels close.
        self.rx = None;
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
        for (_, (_, p)) in self.pending.drain() {
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
        self.stopped = true;
        if let Some(u) = self.disk.as_mut().and_then(|d| d.uring.as_mut()) {
            u.kick();
        }
        // Release the backing device now, and the hook that holds the connection manager
        // (which holds a handle on this engine).
        self.disk = None;
        self.net_ctl = None;
    }

    fn tag(&mut self, owner: u64, p: Pending) -> u64 {
        let t = self.next_tag;
        self.next_tag += 1;
        self.pending.insert(t, (owner, p));
        t
    }

    fn handle(&mut self, cmd: Cmd) {
        let app = matches!(
            cmd,
            Cmd::Write { .. } | Cmd::Read { .. } | Cmd::Flush { .. } | Cmd::Queued { .. }
        );
        // Hold application requests while a failed disk waits to be detached (and keep
        // their order behind those already held).
        self.app_batch |= app;
        if app && ((self.failed && !self.detach_refused) || !self.held.is_empty()) {
            self.held.push_back(cmd);
            return;
        }
        self.handle_now(cmd);
    }

    fn handle_now(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Write { sector, data, reply, owner } => {
                let tag = self.tag(owner, Pending::Write(reply));
                self.repl.on_write(WriteReq { tag, sector, fua: false, data });
            }
            Cmd::Read { sector, len, reply, owner } => {
                let tag = self.tag(owner, Pending::Read(reply));
                self.repl.on_read(ReadReq { tag, sector, len });
            }
            Cmd::Flush { reply, owner } => {
                let tag = self.tag(owner, Pending::Flush(reply));
                self.repl.on_flush(tag);
            }
            Cmd::Queued { tag: user, op, reply, owner } => {
                let tag = self.tag(owner, Pending::Queued(user, reply));
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
        self.counters.nr += kib(m.block_data_len());
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

    /// Writes what the round sent to the peer (see [`PeerSink::flush`]).
    fn flush_link(&mut self) {
        if let Some(l) = self.link.as_mut() {
            if l.flush().is_err() {
                self.link = None;
                self.repl.on_link_down(ConnState::BrokenPipe);
                self.drain();
            }
        }
    }

    fn name(&self) -> String {
        self.status.lock().map(|s| s.name.clone()).unwrap_or_default()
    }

    fn send(&mut self, msg: PeerMsg) {
        let Some(link) = self.link.as_mut() else { return };
        let out = kib(msg.block_data_len());
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
        let Some((owner, p)) = self.pending.remove(&tag) else { return };
        self.leader_done |= self.ring_leader == Some(owner);
        match p {
            Pending::Write(r) | Pending::Flush(r) => {
                let _ = r.send(result.map(|_| ()));
            }
            Pending::Read(r) => {
                let _ = r.send(result.and_then(|d| d.ok_or(IoError::Eio)));
            }
            Pending::Queued(tag, r) => {
                // Never blocks: the queue's owner keeps no more requests in flight than the
                // channel holds.
                let _ = r.try_send(QueuedDone { tag, result });
            }
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

/// The lock and the command queue around a started engine (see the module documentation).
pub struct Shared {
    engine: Mutex<Engine>,
    tx: SyncSender<Cmd>,
    /// Commands queued (or being queued) and not yet taken by a holder of the lock.
    queued: AtomicUsize,
    /// [`EngineRef::stop`] was called.
    stop: AtomicBool,
    /// Rounds of the engine's own thread so far.
    rounds: AtomicU64,
    /// A front-end thread leads on the ring (mirrors [`Engine`]'s `ring_leader`, read
    /// without the lock by the threads that will not lead).
    leading: AtomicBool,
}

/// The engine is stopped (or a panic left it unusable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// A handle on a started engine, cheap to clone: queues commands (running them at once if
/// the engine is free) and waits for requests, driving the engine meanwhile.
#[derive(Clone)]
pub struct EngineRef(Arc<Shared>);

/// A fresh owner number: each thread or queue waiting for requests has its own.
pub fn owner_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    /// The owner number of this thread's blocking requests.
    static OWNER: u64 = owner_id();
}

impl EngineRef {
    /// The engine, locked; `None` once it is stopped (or poisoned by a panic).
    fn lock(&self) -> Option<MutexGuard<'_, Engine>> {
        let g = self.0.engine.lock().ok()?;
        (!g.stopped).then_some(g)
    }

    /// Queues `cmd` and runs it now if the engine is free; otherwise the thread holding it
    /// runs it before letting go.
    ///
    /// # Errors
    /// [`Gone`] once the engine is stopped.
    pub fn send(&self, cmd: Cmd) -> Result<(), Gone> {
        self.enqueue(cmd)?;
        self.combine();
        Ok(())
    }

    /// Queues `cmd` without running it: it runs with the next command or wait, or on the
    /// engine thread's next round at the latest. A full queue is run first (or, while
    /// another thread runs the engine, waited for: the back-pressure).
    ///
    /// # Errors
    /// [`Gone`] once the engine is stopped.
    pub fn enqueue(&self, cmd: Cmd) -> Result<(), Gone> {
        let sh = &self.0;
        if sh.stop.load(Ordering::SeqCst) {
            return Err(Gone);
        }
        // Counted before it is queued, so that a holder unlocking meanwhile looks again.
        sh.queued.fetch_add(1, Ordering::SeqCst);
        let sent = match sh.tx.try_send(cmd) {
            Ok(()) => Ok(()),
            Err(std::sync::mpsc::TrySendError::Full(cmd)) => {
                self.combine();
                sh.tx.send(cmd).map_err(|_| Gone)
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => Err(Gone),
        };
        if sent.is_err() {
            sh.queued.fetch_sub(1, Ordering::SeqCst);
        }
        sent
    }

    /// Runs queued commands as long as there are some and the lock is free (a thread that
    /// finds it taken leaves the work to the holder, which calls this after unlocking).
    fn combine(&self) {
        let sh = &self.0;
        while sh.queued.load(Ordering::SeqCst) > 0 {
            let Ok(mut g) = sh.engine.try_lock() else { return };
            if g.stopped {
                return;
            }
            let n = g.run_queued(sh);
            g.settle();
            drop(g);
            if n == 0 {
                // Counted but not queued yet: the sender is between the two steps.
                std::thread::yield_now();
            }
        }
    }

    /// Runs `f` on the engine after the queued commands, then what follows every batch.
    fn with<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> Option<R> {
        let r = {
            let mut g = self.lock()?;
            g.run_queued(&self.0);
            let r = f(&mut g);
            g.settle();
            r
        };
        self.combine();
        Some(r)
    }

    /// Waits for the answer on `rx` to a request of `owner`. While the answer is not there
    /// and operations are in flight on the ring, the first such thread (the leader) waits
    /// on the ring itself and reaps what completes (its own completion wakes it: no
    /// hand-off); other threads sleep on their `rx` until whoever completes their request
    /// answers, without touching the engine. `None` if the engine stopped without
    /// answering.
    fn wait_reply<T>(&self, owner: u64, rx: &Receiver<T>) -> Option<T> {
        let sh = &self.0;
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        if sh.leading.load(Ordering::SeqCst) {
            return rx.recv().ok();
        }
        let lead = self.with(|e| {
            let ring = e.busy_ring().filter(|_| e.ring_leader.is_none())?;
            e.ring_leader = Some(owner);
            sh.leading.store(true, Ordering::SeqCst);
            // The reader may still wait on the ring once; then it leaves it to us.
            e.reader_on_ring = false;
            Some(ring)
        });
        let Some(lead) = lead else { return rx.try_recv().ok() };
        let Some(mut ring) = lead else { return rx.recv().ok() };
        loop {
            match rx.try_recv() {
                Ok(v) => {
                    self.leave_ring();
                    return Some(v);
                }
                Err(TryRecvError::Disconnected) => {
                    self.leave_ring();
                    return None;
                }
                Err(TryRecvError::Empty) => {}
            }
            ring.wait(CALLER_RING_WAIT);
            let got;
            let next = {
                let Some(mut e) = self.lock() else { return rx.try_recv().ok() };
                // Not the leader while reaping: completing its own request needs no kick.
                e.ring_leader = None;
                e.run_queued(sh);
                e.settle();
                got = rx.try_recv().ok();
                match e.busy_ring().filter(|_| got.is_none()) {
                    Some(r) => {
                        e.ring_leader = Some(owner);
                        Some(r)
                    }
                    None => {
                        e.leave_ring(sh);
                        None
                    }
                }
            };
            self.combine();
            match next {
                Some(r) => ring = r,
                None => return got.or_else(|| rx.recv().ok()),
            }
        }
    }

    /// The leader stops waiting on the ring.
    fn leave_ring(&self) {
        self.with(|e| e.leave_ring(&self.0));
    }

    /// For the connection's reader about to wait for its socket: the ring to wait on as
    /// well, unless a front-end thread waits on it (the reader then stands in for the
    /// engine's thread until its next call, or until a front-end thread takes the ring).
    pub fn reader_ring(&self) -> Option<Arc<RingWaiter>> {
        self.with(|e| {
            let ring = e.ring().filter(|_| e.ring_leader.is_none());
            e.reader_on_ring = ring.is_some();
            ring
        })
        .flatten()
    }

    /// Reaps the ring and runs what is queued.
    pub fn reap(&self) {
        self.with(|_| ());
    }

    /// The connection's reader ended: it no longer waits on the ring.
    pub fn reader_gone(&self) {
        self.with(|e| e.reader_on_ring = false);
    }

    /// How many rounds the engine's own thread made so far (each wake-up is one).
    pub fn thread_rounds(&self) -> u64 {
        self.0.rounds.load(Ordering::Relaxed)
    }

    /// Installs the engine's connect / disconnect hook ([`Engine::set_net_ctl`]).
    pub fn set_net_ctl(&self, f: Box<dyn FnMut(bool) + Send>) {
        if let Some(mut e) = self.lock() {
            e.set_net_ctl(f);
        }
    }

    /// Stops the engine: its thread disconnects, waits for local I/O and ends; requests
    /// still in flight fail (`EIO`).
    pub fn stop(&self) {
        self.0.stop.store(true, Ordering::SeqCst);
        if let Ok(e) = self.0.engine.lock() {
            if let Some(t) = &e.thread {
                t.unpark();
            }
        }
    }
}

/// The engine's own thread: the clock, and the ring when nobody else waits on it.
fn engine_thread(sh: &Arc<Shared>) {
    let me = EngineRef(Arc::clone(sh));
    let half_tick = TICK / 2;
    loop {
        sh.rounds.fetch_add(1, Ordering::Relaxed);
        let next = {
            let Ok(mut e) = sh.engine.lock() else { return };
            e.thread_on_ring = false;
            if sh.stop.load(Ordering::SeqCst) {
                e.shutdown();
                return;
            }
            e.run_queued(sh);
            if e.last_tick.elapsed() >= half_tick {
                e.last_tick = Instant::now();
                let now = Tick(e.start.elapsed().as_millis() as u64);
                e.repl.tick(now);
                e.dirty = true;
            }
            e.settle();
            let left = half_tick.saturating_sub(e.last_tick.elapsed());
            let ring = e.busy_ring().filter(|_| e.ring_leader.is_none() && !e.reader_on_ring);
            e.thread_on_ring = ring.is_some();
            (ring, left)
        };
        me.combine();
        match next {
            (Some(ring), left) => ring.wait(left),
            (None, left) => std::thread::park_timeout(left),
        }
    }
}

/// The front-end's view of the engine: each call submits a request and waits for its answer
/// ([`EngineRef`] documents how).
pub struct EngineBackend {
    eng: EngineRef,
    size_bytes: u64,
}

impl EngineBackend {
    /// A backend of `size_bytes` over the engine behind `eng`.
    pub fn new(eng: EngineRef, size_bytes: u64) -> EngineBackend {
        EngineBackend { eng, size_bytes }
    }
}

/// The queued interface to the engine: one thread keeps up to `depth` requests in flight and
/// collects their completions, tagged, from one channel (what a queue-based front-end such
/// as ublk needs; [`EngineBackend`] blocks one thread per request). Submitted requests start
/// together when the caller next waits ([`EngineQueue::wait`], [`EngineQueue::try_wait`]):
/// one round of the engine for the batch, one ring submission, one send to the peer.
/// Completions are collected by the waits, which drive the engine; with requests in flight
/// and nobody waiting, the engine's own thread starts and collects them.
pub struct EngineQueue {
    eng: EngineRef,
    done_tx: SyncSender<QueuedDone>,
    done_rx: Receiver<QueuedDone>,
    depth: usize,
    in_flight: usize,
    size_bytes: u64,
    owner: u64,
    /// Requests submitted and not started yet.
    unstarted: usize,
}

impl EngineQueue {
    /// A queue of at most `depth` requests in flight to the engine behind `eng`.
    pub fn new(eng: EngineRef, size_bytes: u64, depth: usize) -> EngineQueue {
        let depth = depth.max(1);
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(depth);
        EngineQueue {
            eng,
            done_tx,
            done_rx,
            depth,
            in_flight: 0,
            size_bytes,
            owner: owner_id(),
            unstarted: 0,
        }
    }

    /// Size of the device in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Requests submitted and not yet collected.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Submits a request; it starts with the next wait (blocks only while the engine's
    /// command queue is full).
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
        self.eng.enqueue(Cmd::Queued { tag, op, reply, owner: self.owner }).map_err(|_| gone())?;
        self.in_flight += 1;
        self.unstarted += 1;
        if !batch_submissions() {
            self.start();
        }
        Ok(())
    }

    /// Starts the submitted requests.
    fn start(&mut self) {
        if self.unstarted > 0 {
            self.unstarted = 0;
            self.eng.combine();
        }
    }

    /// Waits for the next completion; `None` if nothing is in flight.
    ///
    /// # Errors
    /// `EIO` when the engine is gone.
    pub fn wait(&mut self) -> io::Result<Option<QueuedDone>> {
        if self.in_flight == 0 {
            return Ok(None);
        }
        self.start();
        let d = self.eng.wait_reply(self.owner, &self.done_rx).ok_or_else(gone)?;
        self.in_flight -= 1;
        Ok(Some(d))
    }

    /// The next completion if one is ready (never blocks).
    pub fn try_wait(&mut self) -> Option<QueuedDone> {
        self.start();
        let d = match self.done_rx.try_recv() {
            Ok(d) => d,
            Err(_) => {
                // Reap what the ring holds, then look again.
                self.eng.reap();
                self.done_rx.try_recv().ok()?
            }
        };
        self.in_flight -= 1;
        Some(d)
    }
}

/// `DRBD_UBLK_QUEUE_BATCH=0` starts every queued request when it is submitted (for
/// comparisons).
fn batch_submissions() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("DRBD_UBLK_QUEUE_BATCH").map_or(true, |v| v != "0"))
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

impl EngineBackend {
    /// Sends the command `make` builds (with this thread's reply channel from `slot` and its
    /// owner number) and waits for the answer.
    fn call<T>(
        &self,
        slot: &'static std::thread::LocalKey<Reply<T>>,
        make: impl FnOnce(SyncSender<Result<T, IoError>>, u64) -> Cmd,
    ) -> io::Result<T> {
        let owner = OWNER.with(|o| *o);
        slot.with(|(reply, rx)| {
            self.eng.send(make(reply.clone(), owner)).map_err(|_| gone())?;
            self.eng.wait_reply(owner, rx).ok_or_else(gone)?.map_err(to_io)
        })
    }
}

impl BlockBackend for EngineBackend {
    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        check_aligned(off, buf.len())?;
        let len = (buf.len() / 512) as u32;
        let sector = off / 512;
        let data = self.call(&DATA, |reply, owner| Cmd::Read { sector, len, reply, owner })?;
        if data.len() != buf.len() {
            return Err(gone());
        }
        buf.copy_from_slice(&data);
        Ok(())
    }

    fn write_at(&self, data: &[u8], off: u64) -> io::Result<()> {
        check_aligned(off, data.len())?;
        let data = Payload::from(data);
        let sector = off / 512;
        self.call(&DONE, |reply, owner| Cmd::Write { sector, data, reply, owner })
    }

    fn flush(&self) -> io::Result<()> {
        self.call(&DONE, |reply, owner| Cmd::Flush { reply, owner })
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
