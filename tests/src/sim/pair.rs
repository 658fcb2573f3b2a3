//! A scripted two-node setup for scenario tests: deterministic FIFO delivery, explicit
//! control over the link, disk completions and time, and a record of everything the engines
//! did.

use super::disk::{payload, stamp_of, SimDisk};
use super::prng::Prng;
use drbd_ublk::repl::*;
use std::collections::VecDeque;

/// One node of a [`Pair`].
pub struct PairNode {
    /// The engine.
    pub rep: Replicator,
    /// Its disk.
    pub disk: SimDisk,
    /// Disk operations submitted and not yet completed.
    pub disk_queue: VecDeque<DiskOp>,
    /// Metadata writes submitted and not yet completed.
    pub meta_queue: VecDeque<(u64, MetaWrite)>,
    /// Completed application requests: (tag, ok, replicated, data).
    pub completed: Vec<(u64, bool, bool, Option<Payload>)>,
    /// Log lines.
    pub log: Vec<String>,
    /// Every action kind in order (for ordering assertions).
    pub actions: Vec<String>,
}

/// Two engines joined by a scripted link.
pub struct Pair {
    /// Nodes 0 ("alice") and 1 ("bob").
    pub nodes: [PairNode; 2],
    /// Messages in flight per sender.
    pub wire: [VecDeque<PeerMsg>; 2],
    /// Link state.
    pub link_up: bool,
    /// When false, messages stay on the wire.
    pub deliver: bool,
    /// When false, disk operations stay queued.
    pub disks_run: bool,
    /// Current time (ms).
    pub now: u64,
    rng: Prng,
    /// Messages sent, by name (both directions).
    pub sent: Vec<&'static str>,
    /// When false, a new connection does not form (cable pulled).
    pub auto_link: bool,
}

impl Pair {
    /// Two nodes with fresh metadata and `cfg` (names are set per node), attached and
    /// StandAlone.
    pub fn new(cfg: ReplConfig) -> Self {
        let mk = |name: &str, peer: &str, seed: u64| {
            let mut c = cfg.clone();
            c.node_name = name.into();
            c.peer_name = peer.into();
            c.uuid_seed = seed;
            let disk = SimDisk::new(c.size_sectors);
            let mut rep = Replicator::new(c.clone());
            rep.attach(disk.attach_meta(c.al_extents)).expect("attach");
            PairNode {
                rep,
                disk,
                disk_queue: VecDeque::new(),
                meta_queue: VecDeque::new(),
                completed: Vec::new(),
                log: Vec::new(),
                actions: Vec::new(),
            }
        };
        let mut p = Pair {
            nodes: [mk("alice", "bob", 11), mk("bob", "alice", 22)],
            wire: Default::default(),
            link_up: false,
            deliver: true,
            disks_run: true,
            now: 0,
            rng: Prng::new(5),
            sent: Vec::new(),
            auto_link: true,
        };
        p.pump();
        p
    }

    /// Connected, both UpToDate (initial sync skipped), alice Primary.
    pub fn connected_primary(cfg: ReplConfig) -> Self {
        let mut p = Pair::new(cfg);
        p.nodes[0].rep.connect(false).expect("connect");
        p.nodes[1].rep.connect(false).expect("connect");
        p.settle();
        p.nodes[0].rep.new_current_uuid(true).expect("new-current-uuid");
        p.settle();
        p.nodes[0].rep.primary(false).expect("primary");
        p.settle();
        assert_eq!(p.nodes[0].rep.role(), Role::Primary);
        assert_eq!(p.nodes[1].rep.disk(), DiskState::UpToDate);
        p
    }

    fn handle(&mut self, n: usize, a: Action) {
        let node = &mut self.nodes[n];
        match a {
            Action::SubmitDisk(op) => {
                node.actions.push(format!("disk:{:?}", std::mem::discriminant(&op.kind)));
                node.actions.push(match &op.kind {
                    DiskOpKind::Write { sector, .. } => format!("write:{sector}"),
                    DiskOpKind::Read { sector, .. } => format!("read:{sector}"),
                    DiskOpKind::Flush => "flush".into(),
                });
                node.disk_queue.push_back(op);
            }
            Action::WriteMeta { id, write } => {
                node.actions.push(match &write {
                    MetaWrite::Superblock(_) => "meta:sb".to_string(),
                    MetaWrite::ActivityLog { .. } => "meta:al".to_string(),
                    MetaWrite::BitmapPages(_) => "meta:bm".to_string(),
                });
                node.meta_queue.push_back((id, write));
            }
            Action::Send(m) => {
                node.actions.push(format!("send:{}", m.name()));
                self.sent.push(m.name());
                if self.link_up {
                    self.wire[n].push_back(m);
                }
            }
            Action::Complete { tag, result, replicated } => {
                node.actions.push(format!("complete:{tag}"));
                let ok = result.is_ok();
                node.completed.push((tag, ok, replicated, result.ok().flatten()));
            }
            Action::Connect => {}
            Action::Disconnect => {
                if self.link_up {
                    self.break_link(ConnState::TearDown);
                }
            }
            Action::StateChanged(_) => {}
            Action::Log(l) => node.log.push(l),
            Action::CallHandler(h) => node.log.push(format!("handler {h:?}")),
        }
    }

    /// Hand all pending actions to the simulated effects.
    pub fn pump(&mut self) {
        for n in 0..2 {
            while let Some(a) = self.nodes[n].rep.poll_action() {
                self.handle(n, a);
            }
        }
    }

    /// One round: complete queued disk/meta operations (if running), deliver messages (if
    /// delivering), bring the link up when both wait for it. Returns true if anything happened.
    pub fn step(&mut self) -> bool {
        self.pump();
        let mut busy = false;
        if !self.link_up
            && self.auto_link
            && (0..2).all(|n| self.nodes[n].rep.conn() == ConnState::WFConnection)
        {
            self.link_up = true;
            self.wire = Default::default();
            self.nodes[0].rep.on_link_up(true);
            self.nodes[1].rep.on_link_up(false);
            busy = true;
            self.pump();
        }
        for n in 0..2 {
            if self.disks_run {
                while let Some((id, w)) = self.nodes[n].meta_queue.pop_front() {
                    self.nodes[n].disk.write_meta(&w);
                    self.nodes[n].rep.on_disk_done(DiskCompletion { id, result: Ok(None) });
                    busy = true;
                    self.pump();
                }
                while let Some(op) = self.nodes[n].disk_queue.pop_front() {
                    let result = self.nodes[n].disk.execute(&op.kind, &mut self.rng);
                    self.nodes[n].rep.on_disk_done(DiskCompletion { id: op.id, result });
                    busy = true;
                    self.pump();
                }
            }
        }
        if self.deliver {
            for from in 0..2 {
                while let Some(m) = self.wire[from].pop_front() {
                    self.nodes[1 - from].rep.on_peer_msg(m);
                    busy = true;
                    self.pump();
                }
            }
        }
        busy
    }

    /// Step (advancing time 10 ms per idle round, so resync timers fire) until nothing
    /// happens for a while. Panics after a bound.
    pub fn settle(&mut self) {
        let mut idle = 0;
        for _ in 0..100_000 {
            if self.step() {
                idle = 0;
            } else {
                idle += 1;
                if idle > 30 {
                    return;
                }
                self.now += 10;
                for n in 0..2 {
                    self.nodes[n].rep.tick(Tick(self.now));
                }
            }
        }
        panic!("pair did not settle");
    }

    /// Step until idle without advancing time (no timers fire).
    pub fn run_no_tick(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not go idle");
    }

    /// Break the link (both ends notice).
    pub fn break_link(&mut self, reason: ConnState) {
        self.link_up = false;
        self.wire = Default::default();
        for n in 0..2 {
            self.nodes[n].rep.on_link_down(reason);
        }
        self.pump();
    }

    /// Application write of `blocks` 4 KiB blocks at `sector` on node `n` with stamp `stamp`.
    pub fn write(&mut self, n: usize, tag: u64, sector: u64, blocks: u32, stamp: u64) {
        let data = payload(blocks * 8, |i| stamp + u64::from(i));
        self.nodes[n].rep.on_write(WriteReq { tag, sector, fua: false, data });
        self.pump();
    }

    /// Completion of `tag` on node `n`: (ok, replicated).
    pub fn done(&self, n: usize, tag: u64) -> Option<(bool, bool)> {
        self.nodes[n].completed.iter().find(|c| c.0 == tag).map(|c| (c.1, c.2))
    }

    /// True if the two disks hold the same data.
    pub fn identical(&self) -> bool {
        let (a, b) = (&self.nodes[0].disk, &self.nodes[1].disk);
        a.differing_sectors(b).next().is_none()
    }

    /// True if any log line of node `n` contains `s`.
    pub fn logged(&self, n: usize, s: &str) -> bool {
        self.nodes[n].log.iter().any(|l| l.contains(s))
    }

    /// Stamp of the first sector of a completed read.
    pub fn read_stamp(&self, n: usize, tag: u64) -> Option<u64> {
        self.nodes[n]
            .completed
            .iter()
            .find(|c| c.0 == tag)
            .and_then(|c| c.3.as_ref().map(|d| stamp_of(d, 0)))
    }
}
