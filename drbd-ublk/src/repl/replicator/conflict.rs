//! Dual-primary write conflicts (`allow-two-primaries`, protocol C).
//!
//! Both nodes may submit application writes; two writes to overlapping sectors that are in
//! flight at the same time on different nodes would otherwise be applied in opposite orders
//! on the two disks. DRBD 8.4 (`handle_write_conflicts`) orders them with the connection's
//! RESOLVE_CONFLICTS bit; this engine follows it:
//!
//! * **Local writes wait for peer writes** (both nodes; 8.4 `complete_conflicting_writes`): an
//!   application write is not started (no local submit, no P_DATA) while a peer write that
//!   overlaps it is received but not yet written and acknowledged here. So any write a node
//!   sends after applying a peer write reaches the peer after that write's P_WRITE_ACK.
//! * **Resolver** (RESOLVE_CONFLICTS set): a P_DATA that overlaps a local write whose P_DATA
//!   went out and whose ack has not arrived yet (the peer applied neither ours nor, knowingly,
//!   its own after ours) is not written. If one such local write covers the whole peer range
//!   the peer write is answered with P_SUPERSEDED: our write, which the peer is sure to apply
//!   after its own, overwrites it on both disks. Otherwise it is answered with P_RETRY_WRITE.
//!   The dropped write still counts in its epoch (the barrier ack's set size).
//! * **Non-resolver**: a P_DATA that overlaps a local write still waiting for the resolver's
//!   verdict (P_DATA sent, no ack of any kind yet) is parked, and every later P_DATA behind
//!   it, until the verdict arrives; then it is written after the local write (local writes to
//!   overlapping ranges are serialised in submission order).
//! * On P_SUPERSEDED the local write's network part completes successfully (it was
//!   overwritten by a write the resolver ordered later). On P_RETRY_WRITE it is postponed and
//!   started again (local write and P_DATA, new epoch) once the conflicting peer writes are
//!   done here, so the resolver receives it after their acks and applies it last.
//!
//! The engine's messages travel in one ordered stream (protocol module); acknowledgements
//! (P_*_ACK, P_SUPERSEDED, P_RETRY_WRITE, P_BARRIER_ACK) are processed even while the receive
//! side is blocked on a barrier or a parked write, as 8.4 handles them on its meta socket:
//! otherwise a parked write and the verdict it waits for could block each other.
//!
//! Result: for every overlapping pair both disks apply the writes in the same order (the
//! resolver's order), and every write acknowledged to an application is on both disks or was
//! overwritten by a write whose completion came later. Without allow-two-primaries none of
//! this is active. With protocol A or B (which 8.4 refuses for two primaries) no conflict is
//! detected.

use super::*;

/// A received peer write (P_DATA); parked while it waits for the verdict on an overlapping
/// local write (non-resolver side).
#[derive(Debug)]
pub(super) struct InWrite {
    pub(super) id: u64,
    pub(super) epoch: u32,
    pub(super) sector: u64,
    pub(super) ack: AckKind,
    pub(super) fua: bool,
    pub(super) data: Payload,
}

fn overlaps(s: u64, e: u64, s2: u64, e2: u64) -> bool {
    s < e2 && s2 < e
}

impl Replicator {
    pub(super) fn dual(&self) -> bool {
        self.cfg.allow_two_primaries
    }

    /// A peer write overlapping `s..e` is received and not yet done (parked, waiting for
    /// the activity log, or on the disk).
    fn peer_write_busy(&self, s: u64, e: u64) -> bool {
        self.peer_write_unsubmitted(s, e)
            || self.ops.values().any(|c| {
                matches!(c, OpCtx::PeerWrite { sector, len, .. }
                    if overlaps(s, e, *sector, *sector + u64::from(*len)))
            })
    }

    /// A received peer write overlapping `s..e` has not been submitted to the disk yet
    /// (parked for a verdict or waiting for the activity log). Once submitted, the disk
    /// submission order (`submit`) keeps later overlapping reads behind it.
    fn peer_write_unsubmitted(&self, s: u64, e: u64) -> bool {
        self.parked.iter().any(|p| overlaps(s, e, p.sector, p.sector + (p.data.len() / 512) as u64))
            || self.peer_al_wait.iter().any(|(_, c, _)| {
                matches!(c, OpCtx::PeerWrite { sector, len, .. }
                    if overlaps(s, e, *sector, *sector + u64::from(*len)))
            })
    }

    /// Read local data for the peer (resync source, verify, remote read). The peer sent the
    /// request after every write it sent before: the read must see those writes, so it
    /// waits while one of them is still parked or waiting for the activity log (8.4 gets the
    /// same order from the resync extent lock). Requests are served in arrival order.
    pub(super) fn serve_read(&mut self, ctx: OpCtx, kind: DiskOpKind) {
        let blocked = !self.serve_wait.is_empty()
            || op_range(&kind).is_some_and(|(s, e)| self.peer_write_unsubmitted(s, e));
        if blocked {
            self.serve_wait.push_back((ctx, kind));
        } else {
            self.submit(ctx, kind);
        }
    }

    /// Submit the waiting peer reads that no unsubmitted peer write blocks any more.
    pub(super) fn kick_serve(&mut self) {
        while let Some((_, kind)) = self.serve_wait.front() {
            if op_range(kind).is_some_and(|(s, e)| self.peer_write_unsubmitted(s, e)) {
                return;
            }
            let (ctx, kind) = self.serve_wait.pop_front().expect("non-empty");
            self.submit(ctx, kind);
        }
    }

    /// Local writes whose P_DATA is out and whose verdict (any ack) has not arrived.
    fn undecided_local(&self, s: u64, e: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.reqs
            .values()
            .filter(move |r| {
                r.kind == ReqKind::Write
                    && r.net == Part::Pending
                    && r.epoch.is_some()
                    && overlaps(s, e, r.sector, r.sector + u64::from(r.len))
            })
            .map(|r| (r.sector, r.sector + u64::from(r.len)))
    }

    /// Called before a local write starts: true if it must wait (it was queued).
    pub(super) fn dual_defer_start(&mut self, id: u64) -> bool {
        if !self.dual() {
            return false;
        }
        let r = &self.reqs[&id];
        let (s, e) = (r.sector, r.sector + u64::from(r.len));
        let queued_before = self.dual_wait.iter().any(|j| {
            self.reqs.get(j).is_some_and(|q| overlaps(s, e, q.sector, q.sector + u64::from(q.len)))
        });
        if queued_before || self.peer_write_busy(s, e) {
            self.dual_wait.push_back(id);
            return true;
        }
        false
    }

    /// Start the waiting local writes (first starts and retries) that no peer write blocks
    /// any more, in order.
    pub(super) fn kick_dual(&mut self) {
        if self.dual_wait.is_empty() || self.write_gate_closed() {
            return;
        }
        let mut i = 0;
        while i < self.dual_wait.len() {
            let id = self.dual_wait[i];
            let Some(r) = self.reqs.get(&id) else {
                self.dual_wait.remove(i);
                continue;
            };
            let (s, e) = (r.sector, r.sector + u64::from(r.len));
            let earlier = self.dual_wait.iter().take(i).any(|j| {
                self.reqs
                    .get(j)
                    .is_some_and(|q| overlaps(s, e, q.sector, q.sector + u64::from(q.len)))
            });
            let own_local_busy = r.postponed && r.local == Part::Pending;
            if earlier || own_local_busy || self.peer_write_busy(s, e) {
                i += 1;
                continue;
            }
            self.dual_wait.remove(i);
            let r = self.reqs.get_mut(&id).expect("request exists");
            if r.postponed {
                r.postponed = false;
                r.local = Part::Idle;
                r.net = Part::Idle;
            }
            self.start_write(id);
        }
    }

    /// Resolver side: decide on a peer write. Returns true if it was dropped (and answered).
    pub(super) fn resolve_peer_write(&mut self, id: u64, sector: u64, len: u32) -> bool {
        let (s, e) = (sector, sector + u64::from(len));
        let mut any = false;
        let mut covered = false;
        for (ls, le) in self.undecided_local(s, e) {
            any = true;
            covered |= ls <= s && e <= le;
        }
        if !any {
            return false;
        }
        self.log(format!(
            "Concurrent writes detected: local and peer write at {sector}+{len}: {}",
            if covered { "superseded" } else { "retry" }
        ));
        self.send(if covered { PeerMsg::Superseded { id } } else { PeerMsg::RetryWrite { id } });
        true
    }

    /// Non-resolver side: must this peer write wait for a verdict?
    pub(super) fn must_park(&self, sector: u64, len: u32) -> bool {
        !self.parked.is_empty()
            || self.undecided_local(sector, sector + u64::from(len)).next().is_some()
    }

    pub(super) fn park(&mut self, w: InWrite) {
        self.parked.push_back(w);
    }

    /// Apply parked peer writes whose verdicts arrived, in order.
    pub(super) fn unpark(&mut self) {
        while let Some(p) = self.parked.front() {
            let len = (p.data.len() / 512) as u32;
            if self.undecided_local(p.sector, p.sector + u64::from(len)).next().is_some() {
                return;
            }
            let p = self.parked.pop_front().expect("non-empty");
            self.apply_peer_write(p);
            self.kick_serve();
        }
    }

    /// The resolver's verdict on one of our writes.
    pub(super) fn verdict(&mut self, id: u64, superseded: bool) {
        let Some(r) = self.reqs.get_mut(&id) else { return };
        if r.net != Part::Pending {
            return;
        }
        if superseded {
            r.net = Part::Done(true);
            r.replicated = true;
            self.maybe_complete(id);
        } else {
            r.postponed = true;
            r.net = Part::Idle;
            self.dual_wait.push_back(id);
        }
        self.unpark();
        self.kick_dual();
    }

    /// Connection gone: parked peer writes are forgotten (the peer marks them out of sync);
    /// postponed writes complete with what they have (their blocks are out of sync).
    pub(super) fn conflicts_clear(&mut self) {
        self.parked.clear();
        self.serve_wait.clear();
        let ids: Vec<u64> = self.dual_wait.iter().copied().collect();
        for id in ids {
            let Some(r) = self.reqs.get_mut(&id) else { continue };
            if r.postponed {
                r.postponed = false;
                r.net = Part::Done(false);
                let (s, l) = (r.sector, r.len);
                self.dual_wait.retain(|&j| j != id);
                self.set_oos(s, l);
                self.maybe_complete(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::generation::Uuids;

    const SIZE: u64 = 8192;

    /// One engine with an in-memory disk holding one stamp byte per sector; metadata writes
    /// complete at once, data operations when the test runs the disk.
    struct Node {
        r: Replicator,
        disk: Vec<u8>,
        queue: VecDeque<DiskOp>,
        out: VecDeque<PeerMsg>,
        done: Vec<(u64, bool, bool)>,
        sent: Vec<&'static str>,
        /// Resync replies sent: (sector, stamp of the first sector).
        replies: Vec<(u64, u8)>,
    }

    impl Node {
        fn new(name: &str, peer: &str) -> Node {
            Node::with(name, peer, Fencing::DontCare, true, 0x1234_5678_0000)
        }

        /// `consistent`: the metadata flags say the data was UpToDate before (attaches as
        /// Consistent unless fencing is dont-care), else the disk attaches Inconsistent.
        fn with(name: &str, peer: &str, fencing: Fencing, consistent: bool, current: u64) -> Node {
            let mut c = ReplConfig::new(name, peer, SIZE);
            c.allow_two_primaries = true;
            c.fencing = fencing;
            let mut flags = MdFlags::default();
            flags.set(MdFlags::CONSISTENT | MdFlags::WAS_UP_TO_DATE, consistent);
            let mut r = Replicator::new(c);
            r.attach(AttachMeta {
                uuids: Uuids { current, bitmap: 0, history: [0, 0] },
                flags,
                bitmap: Bitmap::new(SIZE),
                hot_extents: Vec::new(),
                al_next_tr: 0,
            })
            .expect("attach");
            r.connect(false).expect("connect");
            let mut n = Node {
                r,
                disk: vec![0; SIZE as usize],
                queue: VecDeque::new(),
                out: VecDeque::new(),
                done: Vec::new(),
                sent: Vec::new(),
                replies: Vec::new(),
            };
            n.drain();
            n
        }

        fn drain(&mut self) {
            while let Some(a) = self.r.poll_action() {
                match a {
                    Action::SubmitDisk(op) => self.queue.push_back(op),
                    Action::WriteMeta { id, .. } => {
                        self.r.on_disk_done(DiskCompletion { id, result: Ok(None) })
                    }
                    Action::Send(m) => {
                        if let PeerMsg::RsDataReply { sector, data } = &m {
                            self.replies.push((*sector, data[0]));
                        }
                        self.sent.push(m.name());
                        self.out.push_back(m);
                    }
                    Action::Complete { tag, result, replicated } => {
                        self.done.push((tag, result.is_ok(), replicated))
                    }
                    _ => {}
                }
            }
        }

        fn run_disk(&mut self) {
            while let Some(op) = self.queue.pop_front() {
                if let DiskOpKind::Write { sector, data, .. } = &op.kind {
                    for i in 0..data.len() / 512 {
                        self.disk[*sector as usize + i] = data[i * 512];
                    }
                }
                let result = match op.kind {
                    DiskOpKind::Read { sector, len } => {
                        let range = sector as usize..(sector + u64::from(len)) as usize;
                        let bytes: Vec<u8> =
                            self.disk[range].iter().flat_map(|&b| [b; 512]).collect();
                        Ok(Some(Payload::from(bytes)))
                    }
                    _ => Ok(None),
                };
                self.r.on_disk_done(DiskCompletion { id: op.id, result });
                self.drain();
            }
        }

        fn write(&mut self, tag: u64, sector: u64, sectors: usize, stamp: u8) {
            let data = Payload::from(vec![stamp; sectors * 512]);
            self.r.on_write(WriteReq { tag, sector, fua: false, data });
            self.drain();
        }
    }

    /// Deliver one message from `from` to the other node (its disk does not run).
    fn deliver(n: &mut [Node; 2], from: usize) -> bool {
        let Some(m) = n[from].out.pop_front() else { return false };
        let to = 1 - from;
        n[to].r.on_peer_msg(m);
        n[to].drain();
        true
    }

    fn settle(n: &mut [Node; 2]) {
        for _ in 0..10_000 {
            n[0].run_disk();
            n[1].run_disk();
            if !deliver(n, 0) && !deliver(n, 1) {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// alice holds RESOLVE_CONFLICTS; both Primary, connected, UpToDate.
    fn dual_pair() -> [Node; 2] {
        let mut n = [Node::new("alice", "bob"), Node::new("bob", "alice")];
        n[0].r.on_link_up(true);
        n[1].r.on_link_up(false);
        n[0].drain();
        n[1].drain();
        settle(&mut n);
        for i in 0..2 {
            n[i].r.primary(false).expect("primary");
            n[i].drain();
            settle(&mut n);
        }
        for x in &n {
            assert_eq!(x.r.role(), Role::Primary);
            assert_eq!(x.r.peer_role(), Role::Primary);
            assert_eq!(x.r.disk(), DiskState::UpToDate);
        }
        n
    }

    /// Both issue their write before either sees the other's P_DATA; the resolver's P_DATA
    /// reaches the non-resolver first (the order 8.4's seq numbers also impose).
    fn race(n: &mut [Node; 2]) {
        n[0].run_disk();
        n[1].run_disk();
        assert!(deliver(n, 0), "alice sent her P_DATA");
        settle(n);
    }

    #[test]
    fn resolver_supersedes_a_covered_peer_write() {
        let mut n = dual_pair();
        n[0].write(1, 0, 16, 0xa1); // covers bob's write
        n[1].write(2, 4, 8, 0xb2);
        race(&mut n);
        assert!(n[0].sent.contains(&"Superseded"), "alice: {:?}", n[0].sent);
        assert_eq!(n[0].disk, n[1].disk, "replicas identical");
        assert!(n[0].disk[0..16].iter().all(|&b| b == 0xa1), "the covering write won");
        assert_eq!(n[0].done, vec![(1, true, true)]);
        assert_eq!(n[1].done, vec![(2, true, true)], "superseded counts as replicated");
    }

    #[test]
    fn resolver_asks_for_a_retry_of_a_partly_overlapping_peer_write() {
        let mut n = dual_pair();
        n[0].write(1, 4, 8, 0xa1);
        n[1].write(2, 0, 8, 0xb2);
        race(&mut n);
        assert!(n[0].sent.contains(&"RetryWrite"), "alice: {:?}", n[0].sent);
        assert_eq!(n[1].sent.iter().filter(|&&s| s == "Data").count(), 2, "bob sent it again");
        assert_eq!(n[0].disk, n[1].disk, "replicas identical");
        // The retried write is applied last on both disks.
        assert!(n[0].disk[0..8].iter().all(|&b| b == 0xb2));
        assert!(n[0].disk[8..12].iter().all(|&b| b == 0xa1));
        assert_eq!(n[0].done, vec![(1, true, true)]);
        assert_eq!(n[1].done, vec![(2, true, true)]);
        // Epochs still balance: a flush on each side completes replicated.
        n[0].r.on_flush(3);
        n[1].r.on_flush(4);
        n[0].drain();
        n[1].drain();
        settle(&mut n);
        assert_eq!(n[0].done.last(), Some(&(3, true, true)));
        assert_eq!(n[1].done.last(), Some(&(4, true, true)));
    }

    #[test]
    fn non_resolver_parks_peer_write_until_the_verdict() {
        let mut n = dual_pair();
        n[0].write(1, 0, 8, 0xa1);
        n[1].write(2, 0, 8, 0xb2);
        n[0].run_disk();
        n[1].run_disk();
        assert!(deliver(&mut n, 0));
        // bob's own write has no verdict yet: alice's write must not reach bob's disk.
        assert!(n[1].queue.is_empty(), "parked, not submitted");
        n[1].run_disk();
        assert!(n[1].disk[0..8].iter().all(|&b| b == 0xb2));
        assert!(!n[1].sent.contains(&"WriteAck"));
        settle(&mut n);
        assert_eq!(n[0].disk, n[1].disk);
        assert!(n[1].disk[0..8].iter().all(|&b| b == 0xa1), "equal ranges: superseded");
    }

    #[test]
    fn resync_read_waits_for_a_parked_peer_write() {
        // alice's write reaches bob before her resync request for the same blocks; bob parks
        // the write (his own overlapping write has no verdict yet). The reply must carry
        // alice's write, not what bob's disk held while it was parked.
        let mut n = dual_pair();
        n[1].write(2, 0, 8, 0xb2);
        n[0].write(1, 0, 8, 0xa1);
        n[0].run_disk();
        n[1].run_disk();
        assert!(deliver(&mut n, 0), "alice's P_DATA reaches bob");
        assert!(n[1].queue.is_empty(), "parked");
        n[1].r.on_peer_msg(PeerMsg::RsDataRequest { sector: 0, len: 8 });
        n[1].drain();
        assert!(n[1].queue.is_empty(), "the read waits for the parked write");
        settle(&mut n);
        assert!(n[1].disk[0..8].iter().all(|&b| b == 0xa1));
        assert_eq!(n[1].replies, vec![(0, 0xa1)]);
    }

    #[test]
    fn local_write_waits_for_an_overlapping_peer_write() {
        let mut n = dual_pair();
        n[1].write(1, 0, 8, 0xb1);
        n[1].run_disk();
        assert!(deliver(&mut n, 1), "bob's P_DATA reaches alice");
        // alice's peer write is queued on her disk, not completed: her own overlapping write
        // must not be sent before that write's ack.
        let sent_before = n[0].sent.len();
        n[0].write(2, 4, 8, 0xa2);
        assert_eq!(n[0].sent.len(), sent_before, "alice's write waits");
        settle(&mut n);
        assert_eq!(n[0].disk, n[1].disk);
        assert!(n[0].disk[4..12].iter().all(|&b| b == 0xa2));
        assert!(!n[0].sent.contains(&"Superseded") && !n[0].sent.contains(&"RetryWrite"));
    }

    #[test]
    fn disjoint_writes_do_not_conflict() {
        let mut n = dual_pair();
        n[0].write(1, 0, 8, 0xa1);
        n[1].write(2, 8, 8, 0xb2);
        race(&mut n);
        assert!(!n[0].sent.contains(&"Superseded") && !n[0].sent.contains(&"RetryWrite"));
        assert_eq!(n[0].disk, n[1].disk);
    }

    #[test]
    fn postponed_write_completes_unreplicated_when_the_link_drops() {
        let mut n = dual_pair();
        n[0].write(1, 4, 8, 0xa1);
        n[1].write(2, 0, 8, 0xb2);
        n[0].run_disk();
        n[1].run_disk();
        assert!(deliver(&mut n, 0)); // Data(X) parks on bob
        assert!(deliver(&mut n, 1)); // Data(Y) on alice: retry
        assert!(n[0].sent.contains(&"RetryWrite"));
        while n[0].out.front().is_some_and(|m| !matches!(m, PeerMsg::RetryWrite { .. })) {
            deliver(&mut n, 0);
        }
        assert!(deliver(&mut n, 0)); // RetryWrite on bob
        n[1].r.on_link_down(ConnState::NetworkFailure);
        n[1].drain();
        n[1].run_disk();
        assert!(n[1].done.iter().any(|&(t, ok, repl)| t == 2 && ok && !repl), "{:?}", n[1].done);
        assert!(n[1].r.bitmap().any_out_of_sync(0..8), "the retried range needs a resync");
    }

    /// 8.4 sanitize_state: a Consistent disk that becomes SyncSource is UpToDate (its data is
    /// what both sides will hold). A source left Consistent could be promoted after the link
    /// drops without a new data generation, hiding a later split brain from `uuid_compare`.
    #[test]
    fn consistent_disk_becoming_sync_source_is_up_to_date() {
        let mut n = [
            Node::with("alice", "bob", Fencing::ResourceOnly, true, 0x1234_5678_0000),
            Node::with("bob", "alice", Fencing::ResourceOnly, false, 0x1234_5678_0000),
        ];
        assert_eq!(n[0].r.disk(), DiskState::Consistent, "crashed node with fencing");
        assert_eq!(n[1].r.disk(), DiskState::Inconsistent);
        n[0].r.on_link_up(true);
        n[1].r.on_link_up(false);
        n[0].drain();
        n[1].drain();
        // Handshake only: alice decides to be source "due to disk states".
        for _ in 0..4 {
            deliver(&mut n, 0);
            deliver(&mut n, 1);
        }
        assert!(
            matches!(n[0].r.conn(), ConnState::WFBitMapS | ConnState::SyncSource),
            "{:?}",
            n[0].r.conn()
        );
        assert_eq!(n[0].r.disk(), DiskState::UpToDate, "SyncSource is UpToDate");
        // The link drops mid-resync; promoting alone now is allowed (peer known Inconsistent)
        // and starts a new data generation, as for any UpToDate disk.
        let before = n[0].r.uuids().current;
        n[0].r.on_link_down(ConnState::NetworkFailure);
        n[0].drain();
        n[0].r.disconnect().expect("disconnect");
        n[0].drain();
        assert_eq!(n[0].r.primary(false), Ok(Done::Now));
        n[0].drain();
        assert_eq!(n[0].r.role(), Role::Primary);
        assert_eq!(n[0].r.disk(), DiskState::UpToDate);
        assert_ne!(n[0].r.uuids().current & !1, before & !1, "new current UUID");
    }
}
