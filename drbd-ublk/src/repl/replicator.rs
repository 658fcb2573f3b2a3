//! The per-resource replication state machine.
//!
//! See the module documentation of [`crate::repl`] for the mechanism; this file holds the
//! implementation: the write path (transfer log, epochs, acks), the receive path, the
//! handshake, the resync and verify loops and the admin commands.

use super::action::*;
use super::config::{AfterSb0, AfterSb1, AfterSb2, Fencing, Protocol, ReplConfig, RrConflict};
use super::protocol::{digest, AckKind, Payload, PeerMsg, ReportParams, UuidFlags};
use super::resync::{RateController, STEP_MS};
use super::state::{ConnState, DiskState, Role, StateError};
use crate::meta::activity_log::{ActivityLog, AlBegin, AlConfig};
use crate::meta::bitmap::{Bitmap, SECTORS_PER_BLOCK};
use crate::meta::generation::{uuid_compare, CompareSide, MdFlags, SyncDecision, Uuids};
use std::collections::{BTreeMap, VecDeque};

/// Upper bound of queued actions before the driver must drain them (assertion, not a limit
/// the engine enforces by dropping).
const MAX_ACTIONS: usize = 1 << 20;
/// Bitmap words per P_BITMAP message.
const BITMAP_WORDS_PER_MSG: usize = 512;
/// Largest resync request (sectors): 32 blocks = 128 KiB.
const RS_MAX_SECTORS: u64 = 256;
/// Meta ids live above this bit so they never collide with data operation ids.
const META_ID_BIT: u64 = 1 << 63;

/// Result of an admin command that may need the peer's agreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    /// The change took effect.
    Now,
    /// The change was requested from the peer; a [`Action::StateChanged`] (or a log line on
    /// refusal) follows.
    Pending,
}

/// Metadata read at attach time (after the activity log was recovered by the meta layer).
#[derive(Clone, Debug)]
pub struct AttachMeta {
    /// Generation identifiers.
    pub uuids: Uuids,
    /// Superblock flags.
    pub flags: MdFlags,
    /// Bitmap as read from disk.
    pub bitmap: Bitmap,
    /// Extents that were hot in the on-disk activity log (folded into the bitmap on attach).
    pub hot_extents: Vec<u32>,
    /// Number of the next AL transaction (`AlRecovery::next_tr`).
    pub al_next_tr: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Not started (waiting for the activity log).
    Idle,
    Pending,
    Done(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReqKind {
    Write,
    Flush,
    Read,
}

#[derive(Debug)]
struct Req {
    tag: u64,
    kind: ReqKind,
    sector: u64,
    len: u32,
    fua: bool,
    data: Option<Payload>,
    local: Part,
    net: Part,
    /// Epoch the write was sent in (TL membership).
    epoch: Option<u32>,
    /// For flushes: wait until every epoch up to this one is barrier-acked.
    flush_epoch: Option<u32>,
    completed: bool,
    al_held: bool,
    replicated: bool,
    /// Dual-primary: the resolver answered P_RETRY_WRITE; the write is sent again (and
    /// written locally again) once the conflicting peer writes are done here.
    postponed: bool,
}

#[derive(Clone, Debug)]
enum OpCtx {
    App(u64),
    PeerWrite { id: u64, ack: AckKind, sector: u64, len: u32, gen: u32, al: bool, epoch: u32 },
    EpochFlush { nr: u32, set_size: u32, gen: u32 },
    RsServe { sector: u64, len: u32, csum: Option<u64>, gen: u32 },
    RsWrite { sector: u64, len: u32, gen: u32 },
    CsumRead { sector: u64, len: u32, gen: u32 },
    OvServe { sector: u64, len: u32, gen: u32 },
    OvLocal { sector: u64, len: u32, peer_digest: u64, gen: u32 },
    ReadServe { id: u64, gen: u32 },
    FinishFlush,
    Meta(MetaKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MetaKind {
    Superblock,
    Al(u64),
    Bitmap,
}

#[derive(Debug, Default)]
struct RecvEpoch {
    nr: u32,
    total: u32,
    done: u32,
    barrier: bool,
    flushing: bool,
}

#[derive(Debug)]
struct ResyncRun {
    cursor: u64,
    ctl: RateController,
    in_flight: BTreeMap<u64, (u32, bool)>,
    in_flight_sectors: u64,
    sect_in: u64,
    failed: u64,
    next_step: Tick,
    finishing: bool,
    total: u64,
}

#[derive(Debug)]
struct VerifyRun {
    cursor: u64,
    end: u64,
    in_flight: u32,
    next_step: Tick,
    found: u64,
    ctl: RateController,
}

/// The replication state machine of one resource (one volume, one peer).
#[derive(Debug)]
pub struct Replicator {
    cfg: ReplConfig,
    now: Tick,
    rng: u64,
    role: Role,
    disk: DiskState,
    conn: ConnState,
    peer_role: Role,
    peer_disk: DiskState,
    user_isp: bool,
    peer_isp: bool,
    uuids: Uuids,
    flags: MdFlags,
    bitmap: Bitmap,
    al: ActivityLog,
    actions: VecDeque<Action>,
    last_state: Option<StateSnapshot>,
    // write path
    next_id: u64,
    reqs: BTreeMap<u64, Req>,
    waiting_al: VecDeque<(u64, Option<u64>)>,
    held: VecDeque<u64>,
    epoch: u32,
    epoch_writes: u32,
    need_barrier: bool,
    tl_epochs: BTreeMap<u32, u32>,
    app_sectors_step: u64,
    // local operations
    ops: BTreeMap<u64, OpCtx>,
    writes_in_flight: Vec<(u64, u64, u64)>,
    blocked_writes: VecDeque<(u64, DiskOpKind)>,
    meta_queue: VecDeque<(MetaKind, MetaWrite)>,
    meta_busy: bool,
    sb_generation_pending: u32,
    // receive path
    recv: RecvEpoch,
    recv_queue: VecDeque<PeerMsg>,
    recv_blocked: bool,
    /// Write ordering "none" (`disk-flushes no`, `disk-drain no`): epochs whose barrier came
    /// and whose writes are still on the disk, oldest first; acknowledged in order.
    recv_closed: VecDeque<RecvEpoch>,
    // connection
    resolve_conflicts: bool,
    discard_my_data: bool,
    peer_params: Option<Box<ReportParams>>,
    pending_promote: bool,
    peer_bitmap_done: bool,
    read_waiters: BTreeMap<u64, u64>,
    rs: Option<ResyncRun>,
    ov: Option<VerifyRun>,
    crashed_primary: bool,
    sb_written_uuids: Option<(Uuids, MdFlags)>,
    split_brain_count: u64,
    conn_gen: u32,
    fresh_attach: bool,
    susp_fen: bool,
    fence_pending: bool,
    promote_after_fence: bool,
    /// `primary --force` just started a generation nobody else has: the promotion that
    /// follows must not start another (cleared by any connection state change).
    forced_generation: bool,
    peer_al_wait: VecDeque<(Option<u64>, OpCtx, DiskOpKind)>,
    // dual-primary write conflicts (see `conflict`)
    parked: VecDeque<conflict::InWrite>,
    dual_wait: VecDeque<u64>,
    /// Reads served to the peer (resync, verify, remote reads) waiting behind received peer
    /// writes that are not on their way to the disk yet (see `conflict::serve_read`).
    serve_wait: VecDeque<(OpCtx, DiskOpKind)>,
}

/// Activity log for `al_extents` slots (clamped into the 8.4 limits of the default ring).
pub(crate) fn new_al(al_extents: u32, next_tr: u64) -> ActivityLog {
    let mut cfg = AlConfig::default();
    cfg.al_extents = al_extents.clamp(crate::meta::activity_log::AL_EXTENTS_MIN, cfg.max_extents());
    ActivityLog::new(cfg, next_tr).expect("clamped AL configuration is valid")
}

impl Replicator {
    /// A diskless, StandAlone, Secondary engine.
    pub fn new(cfg: ReplConfig) -> Self {
        let bitmap = Bitmap::new(cfg.size_sectors);
        let al = new_al(cfg.al_extents, 0);
        let rng = cfg.uuid_seed ^ 0x9e37_79b9_7f4a_7c15;
        Replicator {
            cfg,
            now: Tick(0),
            rng,
            role: Role::Secondary,
            disk: DiskState::Diskless,
            conn: ConnState::StandAlone,
            peer_role: Role::Unknown,
            peer_disk: DiskState::DUnknown,
            user_isp: false,
            peer_isp: false,
            uuids: Uuids::default(),
            flags: MdFlags::default(),
            bitmap,
            al,
            actions: VecDeque::new(),
            last_state: None,
            next_id: 1,
            reqs: BTreeMap::new(),
            waiting_al: VecDeque::new(),
            held: VecDeque::new(),
            epoch: 1,
            epoch_writes: 0,
            need_barrier: false,
            tl_epochs: BTreeMap::new(),
            app_sectors_step: 0,
            ops: BTreeMap::new(),
            writes_in_flight: Vec::new(),
            blocked_writes: VecDeque::new(),
            meta_queue: VecDeque::new(),
            meta_busy: false,
            sb_generation_pending: 0,
            recv: RecvEpoch::default(),
            recv_queue: VecDeque::new(),
            recv_blocked: false,
            recv_closed: VecDeque::new(),
            resolve_conflicts: false,
            discard_my_data: false,
            peer_params: None,
            pending_promote: false,
            peer_bitmap_done: false,
            read_waiters: BTreeMap::new(),
            rs: None,
            ov: None,
            crashed_primary: false,
            sb_written_uuids: None,
            split_brain_count: 0,
            conn_gen: 0,
            fresh_attach: false,
            susp_fen: false,
            fence_pending: false,
            promote_after_fence: false,
            forced_generation: false,
            peer_al_wait: VecDeque::new(),
            parked: VecDeque::new(),
            dual_wait: VecDeque::new(),
            serve_wait: VecDeque::new(),
        }
    }

    // ----------------------------------------------------------------------------- queries

    /// Connection state.
    pub fn conn(&self) -> ConnState {
        self.conn
    }
    /// Own role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Peer role as last reported.
    pub fn peer_role(&self) -> Role {
        self.peer_role
    }
    /// Own disk state.
    pub fn disk(&self) -> DiskState {
        self.disk
    }
    /// Peer disk state as last reported.
    pub fn peer_disk(&self) -> DiskState {
        self.peer_disk
    }
    /// Generation identifiers.
    pub fn uuids(&self) -> Uuids {
        self.uuids
    }
    /// Superblock flags.
    pub fn md_flags(&self) -> MdFlags {
        self.flags
    }
    /// The in-memory bitmap.
    pub fn bitmap(&self) -> &Bitmap {
        &self.bitmap
    }
    /// Snapshot of the visible state.
    pub fn snapshot(&self) -> StateSnapshot {
        StateSnapshot {
            conn: self.conn,
            role: self.role,
            peer_role: self.peer_role,
            disk: self.disk,
            peer_disk: self.peer_disk,
            user_isp: self.user_isp,
            peer_isp: self.peer_isp,
            susp_fen: self.susp_fen,
        }
    }
    /// Application requests not completed yet.
    pub fn requests_in_flight(&self) -> usize {
        self.reqs.values().filter(|r| !r.completed).count()
    }
    /// Transfer-log entries (completed or not) not yet released by a barrier ack.
    pub fn transfer_log_len(&self) -> usize {
        self.reqs.len()
    }
    /// Number of split brains detected so far.
    pub fn split_brains_detected(&self) -> u64 {
        self.split_brain_count
    }
    /// Resync progress: `(blocks still out of sync, blocks at start)` while syncing.
    pub fn resync_progress(&self) -> Option<(u64, u64)> {
        self.rs.as_ref().map(|r| (self.bitmap.count_out_of_sync(), r.total))
    }
    /// Configuration.
    pub fn config(&self) -> &ReplConfig {
        &self.cfg
    }

    /// Next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    // ----------------------------------------------------------------------------- helpers

    fn push(&mut self, a: Action) {
        assert!(self.actions.len() < MAX_ACTIONS, "driver does not drain actions");
        self.actions.push_back(a);
    }

    fn log(&mut self, s: String) {
        self.push(Action::Log(s));
    }

    fn send(&mut self, m: PeerMsg) {
        if self.conn >= ConnState::WFReportParams {
            self.push(Action::Send(m));
        }
    }

    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) & !0xf
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn state_changed(&mut self) {
        let s = self.snapshot();
        if self.last_state != Some(s) {
            self.last_state = Some(s);
            self.push(Action::StateChanged(s));
        }
    }

    fn set_conn(&mut self, c: ConnState) {
        if self.conn != c {
            let old = self.conn;
            self.conn = c;
            self.forced_generation = false;
            self.log(format!("conn( {} -> {} )", old, c));
            self.state_changed();
        }
    }

    fn set_disk(&mut self, d: DiskState) {
        if self.disk != d {
            let old = self.disk;
            self.disk = d;
            self.log(format!("disk( {} -> {} )", old, d));
            self.update_flags();
            self.state_changed();
        }
    }

    fn set_peer(&mut self, role: Role, disk: DiskState) {
        if self.peer_role != role || self.peer_disk != disk {
            self.peer_role = role;
            self.peer_disk = disk;
            self.update_flags();
            self.state_changed();
        }
    }

    fn update_flags(&mut self) {
        let f = &mut self.flags;
        f.set(MdFlags::CONSISTENT, self.disk > DiskState::Inconsistent);
        f.set(MdFlags::WAS_UP_TO_DATE, self.disk > DiskState::Outdated);
        f.set(MdFlags::PRIMARY_IND, self.role == Role::Primary);
        f.set(MdFlags::CONNECTED_IND, self.conn > ConnState::WFReportParams);
        f.set(
            MdFlags::PEER_OUT_DATED,
            matches!(self.peer_disk, DiskState::Outdated | DiskState::Inconsistent),
        );
    }

    fn has_disk(&self) -> bool {
        self.disk >= DiskState::Inconsistent && self.disk != DiskState::DUnknown
    }

    fn write_sb(&mut self) {
        if !self.has_disk() && self.disk != DiskState::Attaching {
            return;
        }
        self.update_flags();
        if self.sb_written_uuids == Some((self.uuids, self.flags)) {
            return;
        }
        self.sb_written_uuids = Some((self.uuids, self.flags));
        let img = SuperblockImage {
            uuids: self.uuids,
            flags: self.flags,
            size_sectors: self.cfg.size_sectors,
        };
        self.queue_meta(MetaKind::Superblock, MetaWrite::Superblock(img));
    }

    /// Write the superblock and hold application writes until it is durable (a new data
    /// generation must be on disk before the first write of that generation).
    fn write_sb_gate(&mut self) {
        self.sb_written_uuids = None;
        self.sb_generation_pending += 1;
        self.write_sb();
    }

    fn write_bitmap(&mut self) {
        if !self.has_disk() || self.bitmap.dirty_page_count() == 0 {
            return;
        }
        let pages: Vec<usize> = self.bitmap.dirty_pages().collect();
        let mut out = Vec::with_capacity(pages.len());
        for p in pages {
            let mut buf = vec![0u8; crate::meta::bitmap::PAGE_SIZE];
            self.bitmap.encode_page(p, &mut buf);
            self.bitmap.clear_dirty(p);
            out.push((p, buf));
        }
        self.queue_meta(MetaKind::Bitmap, MetaWrite::BitmapPages(out));
    }

    fn queue_meta(&mut self, kind: MetaKind, w: MetaWrite) {
        self.meta_queue.push_back((kind, w));
        self.kick_meta();
    }

    fn kick_meta(&mut self) {
        if self.meta_busy {
            return;
        }
        if let Some((kind, write)) = self.meta_queue.pop_front() {
            self.meta_busy = true;
            let id = self.id() | META_ID_BIT;
            self.ops.insert(id, OpCtx::Meta(kind));
            self.push(Action::WriteMeta { id, write });
        }
    }

    /// Submit a disk operation. Writes are serialised against overlapping writes in flight,
    /// and reads against overlapping writes in flight (a read must see a write submitted
    /// before it), keeping submission order among the blocked ones.
    fn submit(&mut self, ctx: OpCtx, kind: DiskOpKind) -> u64 {
        let id = self.id();
        self.ops.insert(id, ctx);
        if let Some((s, e)) = op_range(&kind) {
            let conflict = self.writes_in_flight.iter().any(|&(_, s2, e2)| s2 < e && s < e2)
                || self
                    .blocked_writes
                    .iter()
                    .any(|(_, k)| op_range(k).is_some_and(|(s2, e2)| s2 < e && s < e2));
            if conflict {
                self.blocked_writes.push_back((id, kind));
                return id;
            }
            if matches!(kind, DiskOpKind::Write { .. }) {
                self.writes_in_flight.push((id, s, e));
            }
        }
        self.push(Action::SubmitDisk(DiskOp { id, kind }));
        id
    }

    fn write_done(&mut self, id: u64) {
        let Some(pos) = self.writes_in_flight.iter().position(|w| w.0 == id) else {
            return;
        };
        self.writes_in_flight.swap_remove(pos);
        let mut i = 0;
        while i < self.blocked_writes.len() {
            let (s, e) = op_range(&self.blocked_writes[i].1).expect("only ranged ops are blocked");
            let earlier_blocked = self
                .blocked_writes
                .iter()
                .take(i)
                .any(|(_, k2)| op_range(k2).is_some_and(|(s2, e2)| s2 < e && s < e2));
            if !earlier_blocked
                && !self.writes_in_flight.iter().any(|&(_, s2, e2)| s2 < e && s < e2)
            {
                let (bid, kind) = self.blocked_writes.remove(i).expect("index valid");
                if matches!(kind, DiskOpKind::Write { .. }) {
                    self.writes_in_flight.push((bid, s, e));
                }
                self.push(Action::SubmitDisk(DiskOp { id: bid, kind }));
            } else {
                i += 1;
            }
        }
    }

    fn replicating(&self) -> bool {
        self.conn >= ConnState::Connected
            && self.conn != ConnState::Ahead
            && self.peer_disk >= DiskState::Inconsistent
            && self.peer_disk != DiskState::DUnknown
    }

    fn local_ok_for_write(&self) -> bool {
        self.has_disk()
    }

    fn set_oos(&mut self, sector: u64, len: u32) {
        self.bitmap.set_out_of_sync(sector..sector + u64::from(len));
    }
}

/// Sector range of a read or write.
fn op_range(k: &DiskOpKind) -> Option<(u64, u64)> {
    match k {
        DiskOpKind::Write { sector, data, .. } => {
            Some((*sector, *sector + (data.len() / 512) as u64))
        }
        DiskOpKind::Read { sector, len } => Some((*sector, *sector + u64::from(*len))),
        DiskOpKind::Flush => None,
    }
}

mod admin;
mod al_glue;
mod conflict;
mod handshake;
mod io_path;
mod sync;
