//! Two replicators on simulated disks and a simulated link, driven by one seed: a random
//! workload with faults (safety phase), then healing (liveness phase), with the oracles of
//! STYLE.md checked along the way.
//!
//! Oracles:
//! * durability: every write acknowledged as replicated under protocol C and covered by a
//!   completed (replicated) flush is present on any node that is Primary with UpToDate data
//!   (unless a forced promotion discarded it);
//! * bitmap coverage: when a connection forms and the generation identifiers call for a
//!   bitmap-based resync (or none), every sector where the replicas differ is out of sync in
//!   one of the two bitmaps (with crashed nodes' activity logs folded in);
//! * split brain: if both nodes wrote without the other since they were last in sync, the
//!   handshake must detect a split brain before anything is synced;
//! * never two connected Primaries without allow-two-primaries;
//! * liveness: after healing, both nodes reach Connected, UpToDate/UpToDate within a bound,
//!   and the replicas are byte-identical.
//!
//! Dual-primary mode (about one seed in five, [`SimConfig::dual`]): allow-two-primaries,
//! protocol C, both nodes Primary from the start (a Secondary with UpToDate data promotes
//! again soon) and writing to one shared window of 24 blocks so that writes from the two nodes
//! overlap while in flight; faults as usual, or ten times rarer in half of these seeds. The
//! order of writes is then not the order of their stamps, so the durability oracle uses real
//! time: issue and completion of every application write (on either node) are numbered from
//! one counter. Let W be the write issued last among the acknowledged ones covering sector s,
//! and C the write whose stamp the disk holds at s. It is a violation if C completed before W
//! was issued (C precedes W in real time, so W must win), or if s was never written. W itself
//! or any write concurrent with W or later is fine: two writes in flight at the same time may
//! be ordered either way, as long as both replicas agree (the identical-replicas oracle). A C
//! that never completed (lost with a crash) counts as concurrent. This is checked for
//! flush-committed writes (acknowledged replicated, then a replicated flush on the same node)
//! on every UpToDate Primary during the run, and for every write acknowledged as replicated
//! (since the last crash) plus the committed ones on the replicas after convergence. A forced
//! promotion or `create-md` (data given up by the admin) resets the dual-primary oracle.

use super::disk::{payload, stamp_of, SimDisk};
use super::net::SimNet;
use super::prng::Prng;
use drbd_ublk::meta::generation::{uuid_compare, CompareSide, SyncDecision};
use drbd_ublk::repl::*;
use std::collections::{BTreeMap, VecDeque};

/// Parameters of one simulation run (derived from the seed: "swarm" testing).
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed.
    pub seed: u64,
    /// Simulated milliseconds of the safety phase.
    pub safety_ms: u64,
    /// Bound of the liveness phase (simulated ms).
    pub liveness_ms: u64,
    /// Replication protocol.
    pub protocol: Protocol,
    /// Device size in sectors.
    pub size_sectors: u64,
    /// Extents the workload writes to.
    pub hot_extents: Vec<u32>,
    /// Engine configuration template.
    pub repl: ReplConfig,
    /// Per-millisecond probabilities.
    pub p_write: f64,
    /// Flush probability.
    pub p_flush: f64,
    /// Read probability.
    pub p_read: f64,
    /// Role change probability.
    pub p_role: f64,
    /// Admin disconnect/connect probability.
    pub p_admin_net: f64,
    /// Connection break probability.
    pub p_break: f64,
    /// Partition toggle probability.
    pub p_partition: f64,
    /// Node crash probability.
    pub p_crash: f64,
    /// invalidate / verify / pause probability.
    pub p_admin_sync: f64,
    /// Read error probability of the disks during the safety phase.
    pub read_eio: f64,
    /// Keep the whole trace (not only the tail).
    pub full_trace: bool,
    /// Dual-primary mode: allow-two-primaries, protocol C, both nodes Primary and writing
    /// overlapping ranges.
    pub dual: bool,
    /// Disks without a volatile write cache (every write is durable when it completes); the
    /// engines run with `disk-flushes no` and `md-flushes no`, and `disk-drain` per seed
    /// (write ordering "drain" or "none").
    pub write_through: bool,
}

impl SimConfig {
    /// Derive a configuration from `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut r = Prng::new(seed ^ 0xc0f1_9000);
        let large = r.chance(0.25);
        let size_sectors = if large { 75 * 8192 } else { 4 * 8192 };
        let n_ext = if large { 75 } else { 4 };
        let hot_extents: Vec<u32> = if large {
            (0..n_ext).collect()
        } else {
            (0..r.range(1, n_ext as u64) as u32).map(|_| r.below(n_ext as u64) as u32).collect()
        };
        let protocol = match r.below(5) {
            0 => Protocol::A,
            1 => Protocol::B,
            _ => Protocol::C,
        };
        let mut repl = ReplConfig::new("alice", "bob", size_sectors);
        repl.protocol = protocol;
        repl.al_extents = 67;
        repl.max_epoch_size = r.range(1, 64) as u32;
        repl.csums = !large && r.chance(0.3);
        repl.verify = !large;
        repl.rate = ResyncRate {
            resync_rate_kib: 40_000,
            c_plan_ahead: if r.chance(0.5) { 0 } else { 20 },
            c_fill_target: if r.chance(0.5) { 2000 } else { 0 },
            c_delay_target: 10,
            c_max_rate_kib: 200_000,
            c_min_rate_kib: if r.chance(0.3) { 0 } else { 2000 },
            max_buffers: 2048,
        };
        repl.after_sb_0pri = match r.below(6) {
            0 => AfterSb0::Disconnect,
            1 => AfterSb0::DiscardYoungerPrimary,
            2 => AfterSb0::DiscardOlderPrimary,
            3 => AfterSb0::DiscardZeroChanges,
            4 => AfterSb0::DiscardLeastChanges,
            _ => AfterSb0::DiscardNode("bob".into()),
        };
        repl.after_sb_1pri = match r.below(5) {
            0 => AfterSb1::Disconnect,
            1 => AfterSb1::Consensus,
            2 => AfterSb1::DiscardSecondary,
            3 => AfterSb1::ViolentlyAs0p,
            _ => AfterSb1::CallPriLostAfterSb,
        };
        repl.after_sb_2pri = match r.below(3) {
            0 => AfterSb2::Disconnect,
            1 => AfterSb2::ViolentlyAs0p,
            _ => AfterSb2::CallPriLostAfterSb,
        };
        repl.rr_conflict =
            if r.chance(0.7) { RrConflict::Disconnect } else { RrConflict::Violently };
        repl.fencing = match r.below(5) {
            0 => Fencing::ResourceOnly,
            1 => Fencing::ResourceAndStonith,
            _ => Fencing::DontCare,
        };
        let f = |r: &mut Prng| r.below(200) as f64 / 100.0;
        // Drawn from its own generator so that the other parameters of a seed stay as they were
        // (the salt keeps the older regression seeds single-primary).
        let mut dr = Prng::new(seed ^ 0xd0a1_0f7e_5ef8);
        let dual = dr.chance(DUAL_FRACTION);
        // Half of the dual-primary seeds have rare faults: long stretches with both Primaries
        // connected and writing, so many overlapping writes meet.
        let calm = dual && dr.chance(0.5);
        let fault_scale = if calm { 0.1 } else { 1.0 };
        let protocol = if dual { Protocol::C } else { protocol };
        if dual {
            repl.protocol = Protocol::C;
            repl.allow_two_primaries = true;
        }
        // Its own generator too; the salt keeps the regression seeds on flushed disks.
        let mut wr = Prng::new(seed ^ WRITE_THROUGH_SALT);
        let write_through = wr.chance(WRITE_THROUGH_FRACTION);
        if write_through {
            repl.disk_flushes = false;
            repl.md_flushes = false;
            repl.disk_drain = wr.chance(0.5);
        }
        // Fewer demotions with two Primaries, so that both write at the same time longer.
        let role_scale = if dual { 0.3 } else { 1.0 };
        SimConfig {
            seed,
            safety_ms: 4_000 + r.below(6_000),
            liveness_ms: 120_000,
            protocol,
            size_sectors,
            hot_extents,
            repl,
            p_write: 0.15 * f(&mut r),
            p_flush: 0.02 * f(&mut r),
            p_read: 0.02 * f(&mut r),
            p_role: 0.001 * f(&mut r) * role_scale * fault_scale,
            p_admin_net: 0.0003 * f(&mut r) * fault_scale,
            p_break: 0.0008 * f(&mut r) * fault_scale,
            p_partition: 0.0003 * f(&mut r) * fault_scale,
            p_crash: 0.0003 * f(&mut r) * fault_scale,
            p_admin_sync: 0.0002 * f(&mut r) * fault_scale,
            read_eio: if r.chance(0.2) { 0.01 } else { 0.0 },
            full_trace: false,
            dual,
            write_through,
        }
    }
}

/// Share of seeds run in dual-primary mode.
pub const DUAL_FRACTION: f64 = 0.2;

/// Share of seeds with write-through disks (`disk-flushes no`).
pub const WRITE_THROUGH_FRACTION: f64 = 0.15;
const WRITE_THROUGH_SALT: u64 = 0xe53e_b6ea_1057_d3ba;
/// Dual-primary mode writes into the first this many 4 KiB blocks of the first hot extent.
const DUAL_WINDOW_BLOCKS: u64 = 24;

#[derive(Debug)]
enum Pending {
    Data(u64, DiskOpKind),
    Meta(u64, MetaWrite),
}

#[derive(Debug)]
struct Node {
    rep: Option<Replicator>,
    disk: SimDisk,
    pending: Vec<(u64, Pending)>,
    incarnation: u64,
    down_until: u64,
    writes: BTreeMap<u64, (u64, u32, u64, u64)>,
    sync_epoch: u64,
    flushes: BTreeMap<u64, BTreeMap<u64, u64>>,
    reads: BTreeMap<u64, (u64, u32, bool)>,
    wrote_alone: bool,
}

/// A failed run.
#[derive(Debug)]
pub struct Failure {
    /// Seed.
    pub seed: u64,
    /// What went wrong.
    pub what: String,
    /// Last trace lines.
    pub trace_tail: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "seed={} FAILED: {}", self.seed, self.what)?;
        writeln!(f, "--- trace tail ---")?;
        for l in &self.trace_tail {
            writeln!(f, "{l}")?;
        }
        write!(f, "seed={} (replay: vopr --seed {})", self.seed, self.seed)
    }
}

/// Result of a successful run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Hash over the whole trace (determinism check).
    pub trace_hash: u64,
    /// Simulated ms until convergence in the liveness phase.
    pub converge_ms: u64,
    /// Application writes completed.
    pub writes: u64,
    /// Split brains detected.
    pub split_brains: u64,
    /// Node crashes injected.
    pub crashes: u64,
    /// Dual-primary write conflicts the engines resolved (their "Concurrent writes" logs).
    pub conflicts: u64,
}

/// The simulation.
pub struct Sim {
    /// Configuration.
    pub cfg: SimConfig,
    rng: Prng,
    rng_disk: Prng,
    rng_net: Prng,
    now: u64,
    nodes: Vec<Node>,
    net: SimNet,
    link_at: Option<u64>,
    trace: VecDeque<String>,
    hash: u64,
    next_stamp: u64,
    next_tag: u64,
    acked_repl: [BTreeMap<u64, u64>; 2],
    committed: BTreeMap<u64, u64>,
    expect_sb: Option<u64>,
    failure: Option<String>,
    liveness: bool,
    writes_done: u64,
    crashes: u64,
    heal_attempts: u64,
    fence_queue: Vec<(u64, usize)>,
    /// Dual-primary mode: every write's first stamp -> (length, issue event number,
    /// completion event number or `u64::MAX`), numbered from one counter.
    wtimes: BTreeMap<u64, (u32, u64, u64)>,
    event_seq: u64,
    conflicts: u64,
}

const TRACE_TAIL: usize = 400;

impl Sim {
    /// New cluster: two nodes with fresh metadata, connected, initial sync skipped by
    /// `new-current-uuid --clear-bitmap` (or a full sync by `primary --force`).
    pub fn new(cfg: SimConfig) -> Self {
        let mut root = Prng::new(cfg.seed);
        let rng = root.fork(1);
        let rng_disk = root.fork(2);
        let rng_net = root.fork(3);
        let nodes = (0..2)
            .map(|_| Node {
                rep: None,
                disk: SimDisk::new(cfg.size_sectors).with_write_through(cfg.write_through),
                pending: Vec::new(),
                incarnation: 0,
                down_until: 0,
                writes: BTreeMap::new(),
                flushes: BTreeMap::new(),
                reads: BTreeMap::new(),
                wrote_alone: false,
                sync_epoch: 0,
            })
            .collect();
        let mut sim = Sim {
            net: SimNet::new((0, 3)),
            cfg,
            rng,
            rng_disk,
            rng_net,
            now: 0,
            nodes,
            link_at: None,
            trace: VecDeque::new(),
            hash: 0xcbf2_9ce4_8422_2325,
            next_stamp: 1,
            next_tag: 1,
            acked_repl: Default::default(),
            committed: BTreeMap::new(),
            expect_sb: None,
            failure: None,
            liveness: false,
            writes_done: 0,
            crashes: 0,
            heal_attempts: 0,
            fence_queue: Vec::new(),
            wtimes: BTreeMap::new(),
            event_seq: 0,
            conflicts: 0,
        };
        for n in 0..2 {
            sim.start_node(n);
        }
        sim
    }

    fn log(&mut self, line: String) {
        for b in line.bytes() {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.hash ^= 0xff;
        let line = format!("[{:>7}] {line}", self.now);
        if self.trace.len() >= TRACE_TAIL && !self.cfg.full_trace {
            self.trace.pop_front();
        }
        self.trace.push_back(line);
    }

    fn fail(&mut self, what: String) {
        if self.failure.is_none() {
            self.log(format!("INVARIANT VIOLATED: {what}"));
            self.failure = Some(what);
        }
    }

    fn start_node(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        node.incarnation += 1;
        let mut rc = self.cfg.repl.clone();
        if n == 1 {
            rc.node_name = "bob".into();
            rc.peer_name = "alice".into();
        }
        rc.uuid_seed = self.cfg.seed ^ ((n as u64) << 56) ^ (node.incarnation << 40);
        let mut rep = Replicator::new(rc);
        let meta = node.disk.attach_meta(self.cfg.repl.al_extents);
        rep.attach(meta).expect("attach of simulated metadata");
        rep.connect(false).expect("connect from StandAlone");
        node.rep = Some(rep);
        self.log(format!("n{n} start (incarnation {})", self.nodes[n].incarnation));
        self.drain(n);
    }

    fn rep(&mut self, n: usize) -> Option<&mut Replicator> {
        self.nodes[n].rep.as_mut()
    }

    // ------------------------------------------------------------------ action handling

    fn drain(&mut self, n: usize) {
        let mut budget = 1_000_000u32;
        while let Some(a) = self.nodes[n].rep.as_mut().and_then(|r| r.poll_action()) {
            budget -= 1;
            assert!(budget > 0, "action storm");
            self.handle(n, a);
        }
    }

    fn handle(&mut self, n: usize, a: Action) {
        match a {
            Action::SubmitDisk(op) => {
                let t = self.now + self.rng_disk.range(0, 3);
                self.nodes[n].pending.push((t, Pending::Data(op.id, op.kind)));
            }
            Action::WriteMeta { id, write } => {
                let t = self.now + self.rng_disk.range(0, 3);
                self.nodes[n].pending.push((t, Pending::Meta(id, write)));
            }
            Action::Send(m) => {
                let now = self.now;
                self.net.send(n, now, m, &mut self.rng_net);
            }
            Action::Complete { tag, result, replicated } => {
                self.completed(n, tag, result, replicated)
            }
            Action::Connect => {}
            Action::Disconnect => {
                if self.net.up {
                    self.break_link(ConnState::TearDown);
                }
            }
            Action::StateChanged(s) => self.state_changed(n, s),
            Action::Log(l) => {
                if l.starts_with("Concurrent writes") {
                    self.conflicts += 1;
                }
                self.log(format!("n{n} {l}"))
            }
            Action::CallHandler(h) => {
                self.log(format!("n{n} handler {h:?}"));
                if h == Handler::FencePeer {
                    let t = self.now + self.rng.range(1, 50);
                    self.fence_queue.push((t, n));
                }
            }
        }
    }

    fn state_changed(&mut self, n: usize, s: StateSnapshot) {
        self.log(format!(
            "n{n} state cs:{} ro:{}/{} ds:{}/{}",
            s.conn, s.role, s.peer_role, s.disk, s.peer_disk
        ));
        if matches!(s.conn, ConnState::WFBitMapS | ConnState::WFBitMapT | ConnState::Connected) {
            if let Some(before) = self.expect_sb {
                if self.split_brains() == before {
                    self.fail(format!("n{n}: both nodes diverged but no split brain was detected"));
                }
                self.expect_sb = None;
            }
        }
        if matches!(s.conn, ConnState::WFBitMapS | ConnState::WFBitMapT)
            || s.disk == DiskState::Inconsistent
        {
            self.nodes[n].wrote_alone = false;
            self.nodes[n].sync_epoch += 1;
        }
    }

    fn split_brains(&self) -> u64 {
        self.nodes.iter().filter_map(|x| x.rep.as_ref()).map(|r| r.split_brains_detected()).sum()
    }

    fn completed(
        &mut self,
        n: usize,
        tag: u64,
        result: Result<Option<Payload>, IoError>,
        replicated: bool,
    ) {
        if let Some((sector, len, base, epoch)) = self.nodes[n].writes.remove(&tag) {
            self.writes_done += 1;
            if self.cfg.dual {
                self.event_seq += 1;
                if let Some(w) = self.wtimes.get_mut(&base) {
                    w.2 = self.event_seq;
                }
            }
            if self.cfg.full_trace {
                self.log(format!("n{n} write done tag={tag} sector={sector}+{len} stamp={base} ok={} repl={replicated}", result.is_ok()));
            }
            if result.is_ok() {
                // A write issued before a resync started is carried by that resync.
                if !replicated && epoch == self.nodes[n].sync_epoch {
                    self.nodes[n].wrote_alone = true;
                }
                if replicated && self.cfg.protocol == Protocol::C {
                    for i in 0..u64::from(len) {
                        self.acked_repl[n].insert(sector + i, base + i);
                    }
                }
            }
        } else if let Some(snap) = self.nodes[n].flushes.remove(&tag) {
            if self.cfg.full_trace {
                self.log(format!(
                    "n{n} flush done tag={tag} ok={} repl={replicated}",
                    result.is_ok()
                ));
            }
            if result.is_ok() && replicated && self.cfg.protocol == Protocol::C {
                for (s, v) in snap {
                    let old = self.committed.get(&s).copied().unwrap_or(0);
                    if self.issued(v) > self.issued(old) {
                        self.committed.insert(s, v);
                    }
                }
            }
        } else if let Some((sector, len, raced)) = self.nodes[n].reads.remove(&tag) {
            if self.cfg.full_trace {
                self.log(format!("n{n} read done tag={tag} sector={sector} ok={}", result.is_ok()));
            }
            // A successful read on an UpToDate Primary returns what its disk holds now,
            // unless a write to the range is in flight (the workload avoids that).
            if let (Ok(Some(data)), false) = (result, raced) {
                let st = &self.nodes[n];
                let up = st.rep.as_ref().is_some_and(|r| r.disk() == DiskState::UpToDate);
                let writers = if self.cfg.dual { 0..2 } else { n..n + 1 };
                let raced = writers.into_iter().any(|m| {
                    self.nodes[m].writes.values().any(|&(s, l, _, _)| {
                        s < sector + u64::from(len) && sector < s + u64::from(l)
                    })
                });
                if up && !raced {
                    for i in 0..len as usize {
                        let want = st.disk.sector(sector + i as u64);
                        if stamp_of(&data, i) != want {
                            let got = stamp_of(&data, i);
                            self.fail(format!(
                                "n{n} read of sector {} returned {got}, disk has {want}",
                                sector + i as u64
                            ));
                            break;
                        }
                    }
                }
            }
        }
    }

    fn break_link(&mut self, reason: ConnState) {
        if !self.net.up {
            return;
        }
        self.net.break_link();
        self.log(format!("net: connection broken ({reason})"));
        let first = self.rng.below(2) as usize;
        for k in 0..2 {
            let n = (first + k) % 2;
            if let Some(r) = self.rep(n) {
                r.on_link_down(reason);
                self.drain(n);
            }
        }
    }

    // ---------------------------------------------------------------------- the loop

    fn step_io(&mut self) {
        // Disk completions due now, in random order per node.
        for n in 0..2 {
            loop {
                let due: Vec<usize> = (0..self.nodes[n].pending.len())
                    .filter(|&i| self.nodes[n].pending[i].0 <= self.now)
                    .collect();
                if due.is_empty() || self.nodes[n].rep.is_none() {
                    break;
                }
                let pick = due[self.rng_disk.below(due.len() as u64) as usize];
                let (_, p) = self.nodes[n].pending.swap_remove(pick);
                let c = match p {
                    Pending::Data(id, kind) => {
                        let result = self.nodes[n].disk.execute(&kind, &mut self.rng_disk);
                        DiskCompletion { id, result }
                    }
                    Pending::Meta(id, w) => {
                        self.nodes[n].disk.write_meta(&w);
                        DiskCompletion { id, result: Ok(None) }
                    }
                };
                if let Some(r) = self.rep(n) {
                    r.on_disk_done(c);
                }
                self.drain(n);
            }
        }
        // Network deliveries.
        let mut guard = 0;
        while let Some((to, m)) = self.net.poll(self.now, &mut self.rng_net) {
            guard += 1;
            assert!(guard < 1_000_000, "message storm");
            if let Some(r) = self.rep(to) {
                r.on_peer_msg(m);
                self.drain(to);
            }
        }
        self.run_fence_handlers();
        for n in 0..2 {
            let now = Tick(self.now);
            if let Some(r) = self.rep(n) {
                r.tick(now);
                self.drain(n);
            }
        }
        self.link_logic();
    }

    /// The fence-peer handler reaches the peer out of band (crm-fence-peer / drbdadm outdate):
    /// 4 if it could outdate it, 6 if the peer is Primary, 7 if the peer is down (STONITH).
    fn run_fence_handlers(&mut self) {
        let now = self.now;
        let due: Vec<(u64, usize)> =
            self.fence_queue.iter().copied().filter(|e| e.0 <= now).collect();
        self.fence_queue.retain(|e| e.0 > now);
        for (_, n) in due {
            let p = 1 - n;
            let code = match self.nodes[p].rep.as_mut() {
                None => 7,
                Some(r) if r.role() == Role::Primary => 6,
                Some(r) => match r.outdate() {
                    Ok(()) => 4,
                    Err(StateError::ConnectedOutdates) => 5,
                    Err(_) => 3,
                },
            };
            self.drain(p);
            self.log(format!("n{n} fence-peer exit {code}"));
            if let Some(r) = self.rep(n) {
                r.fence_peer_result(code);
                self.drain(n);
            }
        }
    }

    fn link_logic(&mut self) {
        let ready = !self.net.up
            && !self.net.partitioned
            && self
                .nodes
                .iter()
                .all(|x| x.rep.as_ref().is_some_and(|r| r.conn() == ConnState::WFConnection));
        if !ready {
            self.link_at = None;
            return;
        }
        match self.link_at {
            None => self.link_at = Some(self.now + self.rng_net.range(5, 50)),
            Some(t) if t <= self.now => {
                self.link_at = None;
                self.check_bitmap_coverage();
                let before = self.split_brains();
                let disks = self.both(|r| r.disk() >= DiskState::Inconsistent);
                self.expect_sb = (disks && self.nodes[0].wrote_alone && self.nodes[1].wrote_alone)
                    .then_some(before);
                self.net.connect();
                self.log(format!("net: connection {} up", self.net.generation));
                for n in 0..2 {
                    let rc = n == 0;
                    if let Some(r) = self.rep(n) {
                        r.on_link_up(rc);
                    }
                    self.drain(n);
                }
            }
            _ => {}
        }
    }

    /// Oracle: at connect time, differences are covered by the bitmaps unless a full sync is
    /// due anyway.
    fn check_bitmap_coverage(&mut self) {
        let (a, b) =
            (self.nodes[0].rep.as_ref().expect("up"), self.nodes[1].rep.as_ref().expect("up"));
        if a.disk() < DiskState::Inconsistent || b.disk() < DiskState::Inconsistent {
            return;
        }
        let side = |r: &Replicator| CompareSide {
            uuids: r.uuids(),
            crashed_primary: r
                .md_flags()
                .contains(drbd_ublk::meta::generation::MdFlags::CRASHED_PRIMARY),
            is_primary: r.role() == Role::Primary,
        };
        let d = uuid_compare(&side(a), &side(b), true).decision;
        let bitmap_based = matches!(
            d,
            SyncDecision::NoSync
                | SyncDecision::Source { full: false }
                | SyncDecision::Target { full: false }
                | SyncDecision::SplitBrainAutoRecoverable
        );
        if !bitmap_based {
            return;
        }
        let (d0, d1) = (&self.nodes[0].disk, &self.nodes[1].disk);
        let uncovered = d0.differing_sectors(d1).find(|&s| {
            let blk = s / 8;
            !a.bitmap().is_out_of_sync(blk) && !b.bitmap().is_out_of_sync(blk)
        });
        if let Some(s) = uncovered {
            let msg = format!(
                "replicas differ at sector {s} ({} vs {}) but neither bitmap has block {} (decision {:?})",
                d0.sector(s),
                d1.sector(s),
                s / 8,
                d
            );
            self.fail(msg);
        }
    }

    /// Oracle: committed writes are on every UpToDate Primary; no two connected Primaries.
    fn check_invariants(&mut self) {
        let both_pri_connected = self.nodes.iter().all(|x| {
            x.rep
                .as_ref()
                .is_some_and(|r| r.role() == Role::Primary && r.conn() >= ConnState::Connected)
        });
        if both_pri_connected && !self.cfg.repl.allow_two_primaries {
            self.fail("two connected Primaries without allow-two-primaries".into());
        }
        for n in 0..2 {
            let Some(r) = self.nodes[n].rep.as_ref() else { continue };
            if r.role() != Role::Primary || r.disk() != DiskState::UpToDate {
                continue;
            }
            let disk = &self.nodes[n].disk;
            let bad = self
                .committed
                .iter()
                .find(|&(&s, &v)| self.lost(disk.sector(s), v))
                .map(|(&s, &v)| (s, v));
            if let Some((s, v)) = bad {
                let have = disk.sector(s);
                self.fail(format!(
                    "n{n} is Primary/UpToDate but lost committed write: sector {s} has {have}, committed {v}"
                ));
            }
        }
    }

    /// Issue position of the write carrying `stamp`: single-primary, the stamp itself (stamps
    /// grow with issue order); dual-primary, its issue event number (0 for "never written").
    fn issued(&self, stamp: u64) -> u64 {
        if !self.cfg.dual || stamp == 0 {
            return stamp;
        }
        self.wtimes.range(..=stamp).next_back().map_or(0, |(_, w)| w.1)
    }

    /// Whether a disk holding `have` lost the acknowledged write `want`. Single-primary:
    /// `have` is older (smaller stamp). Dual-primary: the write of `have` completed before the
    /// write of `want` was issued (or the sector was never written); a write still in flight
    /// or never completed counts as completing later.
    fn lost(&self, have: u64, want: u64) -> bool {
        if !self.cfg.dual {
            return have < want;
        }
        let done = if have == 0 {
            0
        } else {
            self.wtimes.range(..=have).next_back().map_or(0, |(_, w)| w.2)
        };
        done < self.issued(want)
    }

    /// Dual-primary oracle after convergence: every write acknowledged as replicated since
    /// the last crash is on the replicas or overwritten by a write not completed before it.
    fn check_acked_dual(&mut self) {
        if !self.cfg.dual {
            return;
        }
        let mut last: BTreeMap<u64, u64> = BTreeMap::new();
        for n in 0..2 {
            for (&s, &v) in &self.acked_repl[n] {
                let old = last.get(&s).copied().unwrap_or(0);
                if self.issued(v) > self.issued(old) {
                    last.insert(s, v);
                }
            }
        }
        for (&s, &v) in &self.committed {
            let old = last.get(&s).copied().unwrap_or(0);
            if self.issued(v) > self.issued(old) {
                last.insert(s, v);
            }
        }
        let disk = &self.nodes[0].disk;
        let bad = last
            .iter()
            .find(|&(&s, &v)| self.lost(disk.sector(s), v))
            .map(|(&s, &v)| (s, v, disk.sector(s)));
        if let Some((s, v, have)) = bad {
            self.fail(format!(
                "dual-primary: acknowledged write lost at sector {s}: disk has stamp {have}, \
                 acknowledged stamp {v} was issued after that write completed"
            ));
        }
    }

    // ------------------------------------------------------------------- workload/faults

    fn workload(&mut self) {
        for n in 0..2 {
            let Some(r) = self.nodes[n].rep.as_ref() else { continue };
            if r.role() != Role::Primary {
                // Dual-primary mode: a Secondary with good data soon becomes Primary again.
                if self.cfg.dual && r.disk() == DiskState::UpToDate && self.rng.chance(0.005) {
                    let res = self.rep(n).expect("up").primary(false);
                    self.log(format!("n{n} admin primary (dual) {res:?}"));
                    self.drain(n);
                }
                continue;
            }
            if self.rng.chance(self.cfg.p_write) {
                self.do_write(n);
            }
            if self.rng.chance(self.cfg.p_flush) {
                let tag = self.next_tag;
                self.next_tag += 1;
                let snap = self.acked_repl[n].clone();
                self.nodes[n].flushes.insert(tag, snap);
                self.rep(n).expect("up").on_flush(tag);
                self.drain(n);
            }
            if self.rng.chance(self.cfg.p_read) {
                self.do_read(n);
            }
        }
    }

    fn do_write(&mut self, n: usize) {
        let ext = self.cfg.hot_extents[self.rng.below(self.cfg.hot_extents.len() as u64) as usize];
        // Dual-primary: one shared window at the start of the first hot extent.
        let ext = if self.cfg.dual { self.cfg.hot_extents[0] } else { ext };
        let blocks = self.rng.range(1, 4);
        let first = if self.cfg.dual {
            self.rng.below(DUAL_WINDOW_BLOCKS - blocks)
        } else {
            self.rng.below(1024 - blocks)
        };
        let sector = u64::from(ext) * 8192 + first * 8;
        let len = (blocks * 8) as u32;
        if self.nodes[n]
            .writes
            .values()
            .any(|&(s, l, _, _)| s < sector + u64::from(len) && sector < s + u64::from(l))
        {
            return;
        }
        let base = self.next_stamp;
        self.next_stamp += u64::from(len);
        let tag = self.next_tag;
        self.next_tag += 1;
        let epoch = self.nodes[n].sync_epoch;
        self.nodes[n].writes.insert(tag, (sector, len, base, epoch));
        if self.cfg.dual {
            self.event_seq += 1;
            self.wtimes.insert(base, (len, self.event_seq, u64::MAX));
        }
        // With two Primaries a read also races the other node's writes (it may be served by
        // the peer after a local read error).
        let racing = if self.cfg.dual { 0..2 } else { n..n + 1 };
        for m in racing {
            for r in self.nodes[m].reads.values_mut() {
                if r.0 < sector + u64::from(len) && sector < r.0 + u64::from(r.1) {
                    r.2 = true;
                }
            }
        }
        let data = payload(len, |i| base + u64::from(i));
        let fua = self.rng.chance(0.05);
        self.rep(n).expect("up").on_write(WriteReq { tag, sector, fua, data });
        self.drain(n);
    }

    fn do_read(&mut self, n: usize) {
        let ext = self.cfg.hot_extents[self.rng.below(self.cfg.hot_extents.len() as u64) as usize];
        let sector = u64::from(ext) * 8192 + self.rng.below(1020) * 8;
        let len = 16;
        let tag = self.next_tag;
        self.next_tag += 1;
        self.nodes[n].reads.insert(tag, (sector, len, false));
        if self.cfg.full_trace {
            self.log(format!("n{n} read issue tag={tag} sector={sector}"));
        }
        self.rep(n).expect("up").on_read(ReadReq { tag, sector, len });
        self.drain(n);
    }

    fn faults(&mut self) {
        if self.net.up && self.rng.chance(self.cfg.p_break) {
            let reason = [ConnState::NetworkFailure, ConnState::Timeout, ConnState::BrokenPipe]
                [self.rng.below(3) as usize];
            self.break_link(reason);
        }
        if self.rng.chance(self.cfg.p_partition) {
            self.net.partitioned = !self.net.partitioned;
            self.log(format!("net: partitioned={}", self.net.partitioned));
            if self.net.partitioned {
                self.break_link(ConnState::Timeout);
            }
        }
        for n in 0..2 {
            if self.nodes[n].rep.is_none() {
                if self.now >= self.nodes[n].down_until {
                    self.start_node(n);
                }
                continue;
            }
            if self.rng.chance(self.cfg.p_crash) {
                self.crash(n);
                continue;
            }
            if self.rng.chance(self.cfg.p_role) {
                self.role_change(n);
            }
            if self.nodes[n].rep.as_ref().is_some_and(|r| r.disk() == DiskState::Diskless)
                && self.rng.chance(0.002)
            {
                self.reattach(n);
            }
            if self.rng.chance(self.cfg.p_admin_net) {
                let r = self.rep(n).expect("up");
                let res = if r.conn() == ConnState::StandAlone {
                    let dmd = false;
                    r.connect(dmd).map(|_| "connect")
                } else {
                    r.disconnect().map(|_| "disconnect")
                };
                self.log(format!("n{n} admin {res:?}"));
                self.drain(n);
            }
            if self.rng.chance(self.cfg.p_admin_sync) {
                let which = self.rng.below(5);
                let r = self.rep(n).expect("up");
                // Invalidating without an UpToDate peer to sync from throws the local data away
                // (DRBD allows it; the next resync comes from whatever the peer has).
                let discards =
                    r.conn() < ConnState::Connected || r.peer_disk() != DiskState::UpToDate;
                let res = match which {
                    0 => {
                        let res = r.invalidate().map(|_| "invalidate");
                        if res.is_ok() && discards {
                            self.committed.clear();
                            self.acked_repl = Default::default();
                        }
                        res
                    }
                    1 => r.invalidate_remote().map(|_| "invalidate-remote"),
                    2 => r.verify(0).map(|_| "verify"),
                    3 => r.detach().map(|_| "detach"),
                    _ => {
                        let p = !r.snapshot().user_isp;
                        r.pause_sync(p);
                        Ok(if p { "pause-sync" } else { "resume-sync" })
                    }
                };
                self.log(format!("n{n} admin {res:?}"));
                self.drain(n);
            }
        }
    }

    fn reattach(&mut self, n: usize) {
        let meta = self.nodes[n].disk.attach_meta(self.cfg.repl.al_extents);
        let res = self.rep(n).expect("up").attach(meta);
        self.log(format!("n{n} admin attach {res:?}"));
        self.drain(n);
    }

    fn role_change(&mut self, n: usize) {
        let force = self.rng.chance(0.05);
        let r = self.rep(n).expect("up");
        let res = if r.role() == Role::Primary {
            r.secondary().map(|_| "secondary".to_string())
        } else {
            let was_up = r.disk() == DiskState::UpToDate;
            let res = r.primary(force).map(|d| format!("primary force={force} {d:?}"));
            if res.is_ok() && force && !was_up {
                // Forced promotion of non-UpToDate data: committed data may be discarded.
                self.committed.clear();
                self.acked_repl = Default::default();
            }
            res
        };
        self.log(format!("n{n} admin {res:?}"));
        self.drain(n);
    }

    fn crash(&mut self, n: usize) {
        self.crashes += 1;
        self.log(format!("n{n} CRASH"));
        // Acked but unflushed writes are at risk on the crashed node.
        self.acked_repl = Default::default();
        let node = &mut self.nodes[n];
        node.rep = None;
        // Writes in flight may land torn.
        let pending = std::mem::take(&mut node.pending);
        for (_, p) in pending {
            if let Pending::Data(_, DiskOpKind::Write { sector, data, .. }) = p {
                for i in 0..data.len() / 512 {
                    if self.rng_disk.chance(0.5) {
                        let single = payload(1, |_| stamp_of(&data, i));
                        let kind = DiskOpKind::Write {
                            sector: sector + i as u64,
                            data: single,
                            fua: false,
                        };
                        let _ = node.disk.execute(&kind, &mut self.rng_disk);
                    }
                }
            }
        }
        node.disk.crash(&mut self.rng_disk);
        node.writes.clear();
        node.flushes.clear();
        node.reads.clear();
        node.down_until = self.now + self.rng.range(10, 2000);
        // The peer notices the broken connection.
        if self.net.up {
            self.net.break_link();
            let p = 1 - n;
            if let Some(r) = self.rep(p) {
                r.on_link_down(ConnState::NetworkFailure);
                self.drain(p);
            }
        }
    }

    // ------------------------------------------------------------------------ phases

    fn setup(&mut self) {
        // Wait for the first connection.
        self.run_until(2_000, |s| s.both(|r| r.conn() == ConnState::Connected));
        if self.rng.chance(0.3)
            && !self.cfg.hot_extents.is_empty()
            && self.cfg.size_sectors <= 4 * 8192
        {
            // Initial full sync by forced promotion.
            let r = self.rep(0).expect("up");
            let _ = r.primary(true);
            self.drain(0);
        } else {
            let _ = self.rep(0).expect("up").new_current_uuid(true);
            self.drain(0);
            self.run_until(1_000, |s| s.both(|r| r.disk() == DiskState::UpToDate));
            let _ = self.rep(0).expect("up").primary(false);
            self.drain(0);
        }
        self.run_until(60_000, |s| {
            s.both(|r| r.disk() == DiskState::UpToDate && r.conn() == ConnState::Connected)
                && s.nodes[0].rep.as_ref().is_some_and(|r| r.role() == Role::Primary)
        });
        if self.cfg.dual {
            let res = self.rep(1).expect("up").primary(false);
            self.log(format!("n1 admin primary (dual) {res:?}"));
            self.drain(1);
            self.run_until(1_000, |s| s.both(|r| r.role() == Role::Primary));
        }
    }

    fn both(&self, f: impl Fn(&Replicator) -> bool) -> bool {
        self.nodes.iter().all(|x| x.rep.as_ref().is_some_and(&f))
    }

    fn run_until(&mut self, max_ms: u64, done: impl Fn(&Sim) -> bool) -> bool {
        let end = self.now + max_ms;
        while self.now < end && self.failure.is_none() {
            if done(self) {
                return true;
            }
            self.now += 1;
            self.step_io();
        }
        done(self)
    }

    fn safety_phase(&mut self) {
        for n in 0..2 {
            self.nodes[n].disk.read_eio = self.cfg.read_eio;
        }
        let end = self.now + self.cfg.safety_ms;
        while self.now < end && self.failure.is_none() {
            self.now += 1;
            self.step_io();
            self.workload();
            self.faults();
            if self.now % 128 == 0 {
                self.check_invariants();
            }
        }
    }

    fn converged(&self) -> bool {
        self.both(|r| {
            r.conn() == ConnState::Connected
                && r.disk() == DiskState::UpToDate
                && r.peer_disk() == DiskState::UpToDate
                && r.requests_in_flight() == 0
                && r.bitmap().count_out_of_sync() == 0
        }) && self.nodes.iter().all(|x| x.pending.is_empty())
            && self.net.in_flight() == 0
    }

    fn heal(&mut self) {
        for n in 0..2 {
            if self.nodes[n].rep.is_none() {
                self.start_node(n);
            }
        }
        for n in 0..2 {
            if self.nodes[n].rep.as_ref().is_some_and(|r| r.disk() == DiskState::Diskless) {
                self.reattach(n);
            }
        }
        let snaps: Vec<StateSnapshot> =
            self.nodes.iter().map(|x| x.rep.as_ref().expect("up").snapshot()).collect();
        let standalone: Vec<bool> = snaps.iter().map(|s| s.conn == ConnState::StandAlone).collect();
        if standalone.iter().any(|&s| s) {
            // Manual split-brain recovery: the Secondary (or bob) discards its data.
            let mut victim = if snaps[0].role == Role::Primary && snaps[1].role != Role::Primary {
                1
            } else if snaps[1].role == Role::Primary && snaps[0].role != Role::Primary {
                0
            } else {
                1
            };
            self.heal_attempts += 1;
            if (self.heal_attempts / 4) % 2 == 1 {
                victim = 1 - victim;
            }
            if self.heal_attempts % 16 == 15 {
                // Unrelated data (history exhausted): `drbdadm create-md` on the victim.
                self.log(format!("heal: n{victim} create-md"));
                if self.cfg.dual {
                    // The admin gives up the victim's data: the dual oracle starts over.
                    self.committed.clear();
                    self.acked_repl = Default::default();
                }
                self.nodes[victim].rep = None;
                self.nodes[victim].pending.clear();
                self.nodes[victim].writes.clear();
                self.nodes[victim].flushes.clear();
                self.nodes[victim].reads.clear();
                self.nodes[victim].wrote_alone = false;
                let size = self.cfg.size_sectors;
                self.nodes[victim].disk.meta = SimDisk::new(size).meta;
                if self.net.up {
                    self.break_link(ConnState::NetworkFailure);
                }
                self.start_node(victim);
                return;
            }
            for n in 0..2 {
                let r = self.rep(n).expect("up");
                if r.conn() != ConnState::StandAlone {
                    let _ = r.disconnect();
                }
                if n == victim {
                    let _ = r.secondary();
                }
                let res = r.connect(n == victim);
                self.log(format!("heal: n{n} connect discard_my_data={} {res:?}", n == victim));
                self.drain(n);
            }
            return;
        }
        for n in 0..2 {
            let r = self.rep(n).expect("up");
            if r.snapshot().user_isp {
                r.pause_sync(false);
                self.drain(n);
            }
        }
        let connected = self.both(|r| r.conn() == ConnState::Connected);
        if connected {
            let up: Vec<bool> = snaps.iter().map(|s| s.disk == DiskState::UpToDate).collect();
            if !up[0] && !up[1] {
                let n = if snaps[1].role == Role::Primary { 1 } else { 0 };
                let r = self.rep(n).expect("up");
                let res = r.primary(true);
                self.log(format!("heal: n{n} primary --force {res:?}"));
                self.committed.clear();
                if self.cfg.dual {
                    self.acked_repl = Default::default();
                }
                self.drain(n);
            } else if up[0] != up[1] {
                let bad = if up[0] { 1 } else { 0 };
                let r = self.rep(bad).expect("up");
                let _ = r.secondary();
                let res = r.invalidate();
                self.log(format!("heal: n{bad} invalidate {res:?}"));
                self.drain(bad);
            } else if let Some(n) = (0..2).find(|&n| {
                self.nodes[n].rep.as_ref().is_some_and(|r| r.bitmap().count_out_of_sync() > 0)
            }) {
                // Blocks marked after a read error: an admin reconnect resyncs them.
                let r = self.rep(n).expect("up");
                let _ = r.disconnect();
                let res = r.connect(false);
                self.log(format!("heal: n{n} reconnect for leftover bits {res:?}"));
                self.drain(n);
            } else {
                // Close the last epoch so transfer logs drain.
                for n in 0..2 {
                    if self.nodes[n].rep.as_ref().is_some_and(|r| r.role() == Role::Primary) {
                        let tag = self.next_tag;
                        self.next_tag += 1;
                        self.rep(n).expect("up").on_flush(tag);
                        self.drain(n);
                    }
                }
            }
        }
    }

    fn liveness_phase(&mut self) -> u64 {
        self.liveness = true;
        self.net.partitioned = false;
        for n in 0..2 {
            self.nodes[n].disk.read_eio = 0.0;
        }
        let start = self.now;
        let end = self.now + self.cfg.liveness_ms;
        let mut next_heal = self.now;
        while self.now < end && self.failure.is_none() {
            if self.now >= next_heal {
                self.heal();
                next_heal = self.now + 500;
            }
            self.now += 1;
            self.step_io();
            if self.now % 256 == 0 {
                self.check_invariants();
            }
            if self.converged() {
                break;
            }
        }
        if self.failure.is_none() && !self.converged() {
            let s: Vec<String> = self
                .nodes
                .iter()
                .map(|x| {
                    let r = x.rep.as_ref().expect("up");
                    let s = r.snapshot();
                    format!(
                        "{}/{}/{}/{} oos={} reqs={}",
                        s.conn,
                        s.role,
                        s.disk,
                        s.peer_disk,
                        r.bitmap().count_out_of_sync(),
                        r.requests_in_flight()
                    )
                })
                .collect();
            self.fail(format!("no convergence within {} ms: {s:?}", self.cfg.liveness_ms));
        }
        if self.failure.is_none() {
            self.check_identical();
        }
        self.now - start
    }

    fn check_identical(&mut self) {
        let (d0, d1) = (&self.nodes[0].disk, &self.nodes[1].disk);
        let first = d0.differing_sectors(d1).next();
        if let Some(s) = first {
            let msg = format!(
                "replicas differ after convergence at sector {s}: {} vs {} (oos {} / {})",
                d0.sector(s),
                d1.sector(s),
                self.nodes[0].rep.as_ref().map_or(0, |r| r.bitmap().count_out_of_sync()),
                self.nodes[1].rep.as_ref().map_or(0, |r| r.bitmap().count_out_of_sync())
            );
            self.fail(msg);
        }
        self.check_acked_dual();
        self.check_invariants();
    }

    /// Run both phases.
    ///
    /// # Errors
    /// The first violated invariant, with the trace tail.
    pub fn run(mut self) -> Result<Outcome, Failure> {
        self.log(format!("seed={} config={:?}", self.cfg.seed, self.cfg.repl.protocol));
        self.setup();
        if self.failure.is_none() && !self.converged_setup() {
            self.fail("initial setup did not reach Connected UpToDate/UpToDate".into());
        }
        self.safety_phase();
        let converge_ms = if self.failure.is_none() { self.liveness_phase() } else { 0 };
        match self.failure.take() {
            Some(what) => Err(Failure {
                seed: self.cfg.seed,
                what,
                trace_tail: self.trace.into_iter().collect(),
            }),
            None => Ok(Outcome {
                trace_hash: self.hash,
                converge_ms,
                writes: self.writes_done,
                split_brains: self.split_brains(),
                crashes: self.crashes,
                conflicts: self.conflicts,
            }),
        }
    }

    fn converged_setup(&self) -> bool {
        self.both(|r| r.disk() == DiskState::UpToDate && r.conn() == ConnState::Connected)
    }

    /// The trace so far.
    pub fn trace(&self) -> impl Iterator<Item = &String> {
        self.trace.iter()
    }
}

/// Run one seed.
///
/// # Errors
/// See [`Sim::run`].
pub fn run_seed(seed: u64) -> Result<Outcome, Failure> {
    Sim::new(SimConfig::from_seed(seed)).run()
}
