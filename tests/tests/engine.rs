//! Scenario tests of the replication engine on the scripted pair: each test pins one
//! mechanism (it fails if the mechanism is removed).

use drbd_ublk::repl::*;
use tests::sim::pair::Pair;

const SIZE: u64 = 4 * 8192; // 16 MiB, 4 AL extents

fn cfg(p: Protocol) -> ReplConfig {
    let mut c = ReplConfig::new("alice", "bob", SIZE);
    c.protocol = p;
    c.al_extents = 67;
    c.rate.c_plan_ahead = 0;
    c.rate.resync_rate_kib = 100_000;
    c
}

#[test]
fn protocol_c_completes_only_after_peer_write_ack() {
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.nodes[1].disk_queue.clear();
    p.disks_run = true;
    // Peer does not run its disk: hold bob's disk by not delivering acks.
    p.deliver = false;
    p.write(0, 1, 0, 1, 100);
    for _ in 0..5 {
        p.step();
    }
    assert_eq!(p.done(0, 1), None, "must wait for P_WRITE_ACK");
    p.deliver = true;
    p.settle();
    assert_eq!(p.done(0, 1), Some((true, true)));
    assert!(p.identical());
}

#[test]
fn protocol_a_completes_without_peer() {
    let mut p = Pair::connected_primary(cfg(Protocol::A));
    p.deliver = false;
    p.write(0, 1, 0, 1, 100);
    for _ in 0..5 {
        p.step();
    }
    assert_eq!(p.done(0, 1).map(|d| d.0), Some(true), "protocol A completes after the local write");
}

#[test]
fn protocol_b_completes_on_receive_before_peer_disk() {
    let mut p = Pair::connected_primary(cfg(Protocol::B));
    // Deliver messages but do not run disks on bob: only alice's disk completes.
    p.write(0, 1, 0, 1, 100);
    // Run alice's disk (AL transaction + write) and deliver, but keep bob's disk queue.
    for _ in 0..10 {
        p.pump();
        for _ in 0..p.nodes[0].meta_queue.len() {
            let (id, w) = p.nodes[0].meta_queue.pop_front().unwrap();
            p.nodes[0].disk.write_meta(&w);
            p.nodes[0].rep.on_disk_done(DiskCompletion { id, result: Ok(None) });
        }
        while let Some(op) = p.nodes[0].disk_queue.pop_front() {
            let mut r = tests::sim::prng::Prng::new(1);
            let result = p.nodes[0].disk.execute(&op.kind, &mut r);
            p.nodes[0].rep.on_disk_done(DiskCompletion { id: op.id, result });
        }
        p.pump();
        while let Some(m) = p.wire[0].pop_front() {
            p.nodes[1].rep.on_peer_msg(m);
        }
        p.pump();
        while let Some(m) = p.wire[1].pop_front() {
            p.nodes[0].rep.on_peer_msg(m);
        }
    }
    assert!(!p.nodes[1].disk_queue.is_empty(), "bob has not written yet");
    assert_eq!(p.done(0, 1).map(|d| d.0), Some(true), "completed on P_RECV_ACK");
}

#[test]
fn al_transaction_is_durable_before_first_write_to_cold_extent() {
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.nodes[0].actions.clear();
    p.write(0, 1, 8192 * 2, 1, 7);
    p.settle();
    let a = &p.nodes[0].actions;
    let al = a.iter().position(|x| x == "meta:al").expect("AL transaction written");
    let w = a.iter().position(|x| x == "write:16384").expect("data written");
    assert!(al < w, "AL before data: {a:?}");
    // Second write to the same (hot) extent: no new transaction.
    p.nodes[0].actions.clear();
    p.write(0, 2, 8192 * 2 + 64, 1, 9);
    p.settle();
    assert!(!p.nodes[0].actions.iter().any(|x| x == "meta:al"));
}

#[test]
fn barrier_separates_epochs_and_transfer_log_drains_on_barrier_ack() {
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.write(0, 1, 0, 1, 1);
    p.run_no_tick();
    assert_eq!(p.done(0, 1), Some((true, true)));
    assert_eq!(p.nodes[0].rep.transfer_log_len(), 1, "kept until barrier ack");
    p.sent.clear();
    p.write(0, 2, 64, 1, 2);
    p.run_no_tick();
    assert_eq!(p.sent.first(), Some(&"Barrier"), "new epoch after a completion: {:?}", p.sent);
    assert!(p.sent.contains(&"BarrierAck"));
    assert_eq!(p.nodes[0].rep.transfer_log_len(), 1, "first epoch released");
    p.nodes[0].rep.on_flush(3);
    p.run_no_tick();
    assert_eq!(p.done(0, 3), Some((true, true)), "flush waits for the peer's barrier ack");
    assert_eq!(p.nodes[0].rep.transfer_log_len(), 0);
}

#[test]
fn link_loss_marks_unacked_writes_out_of_sync_and_resync_repairs() {
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.write(0, 1, 0, 2, 10);
    p.run_no_tick();
    assert_eq!(p.done(0, 1), Some((true, true)));
    assert_eq!(p.nodes[0].rep.bitmap().count_out_of_sync(), 0);
    // Write-acked but not barrier-acked: out of sync after the link breaks.
    p.auto_link = false;
    p.break_link(ConnState::NetworkFailure);
    assert_eq!(p.nodes[0].rep.bitmap().count_out_of_sync(), 2);
    // Writes while disconnected are tracked too.
    p.write(0, 2, 8192, 1, 20);
    p.settle();
    assert_eq!(p.nodes[0].rep.bitmap().count_out_of_sync(), 3);
    assert!(p.logged(0, "new current UUID"));
    p.auto_link = true;
    p.settle();
    assert_eq!(p.nodes[0].rep.conn(), ConnState::Connected);
    assert!(p.logged(0, "Began resync as SyncSource"));
    assert!(p.logged(1, "Resync done"));
    assert!(p.identical());
    assert_eq!(p.nodes[0].rep.bitmap().count_out_of_sync(), 0);
    assert_eq!(p.nodes[1].rep.disk(), DiskState::UpToDate);
}

#[test]
fn idle_sender_closes_the_epoch() {
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.write(0, 1, 0, 1, 1);
    p.run_no_tick();
    assert_eq!(p.nodes[0].rep.transfer_log_len(), 1);
    p.settle();
    assert_eq!(p.nodes[0].rep.transfer_log_len(), 0, "barrier sent when idle and acked");
}

#[test]
fn split_brain_is_detected_and_connection_dropped() {
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.nodes[0].rep.disconnect().unwrap();
    p.nodes[1].rep.disconnect().unwrap();
    p.settle();
    p.nodes[1].rep.primary(false).unwrap();
    p.write(0, 1, 0, 1, 1);
    p.write(1, 2, 64, 1, 2);
    p.settle();
    p.nodes[0].rep.connect(false).unwrap();
    p.nodes[1].rep.secondary().unwrap();
    p.nodes[1].rep.connect(false).unwrap();
    p.settle();
    assert!(
        p.logged(0, "Split-Brain detected, dropping connection!")
            || p.logged(1, "Split-Brain detected, dropping connection!")
    );
    assert!(p.nodes.iter().any(|n| n.rep.conn() == ConnState::StandAlone));
    assert!(p.nodes[0].rep.split_brains_detected() + p.nodes[1].rep.split_brains_detected() > 0);
    // Manual recovery: bob discards his data.
    p.nodes[1].rep.connect(true).unwrap();
    p.nodes[0].rep.connect(false).ok();
    p.settle();
    assert_eq!(p.nodes[1].rep.conn(), ConnState::Connected);
    assert!(p.identical(), "victim resynced from survivor");
    assert_eq!(p.nodes[1].disk.sector(64), 0, "bob's split-brain write discarded");
}

#[test]
fn after_sb_0pri_discard_zero_changes_recovers_automatically() {
    let mut c = cfg(Protocol::C);
    c.after_sb_0pri = AfterSb0::DiscardZeroChanges;
    let mut p = Pair::connected_primary(c);
    p.nodes[0].rep.disconnect().unwrap();
    p.nodes[1].rep.disconnect().unwrap();
    p.settle();
    // Both promote (new generations); only alice writes.
    p.nodes[1].rep.primary(false).unwrap();
    p.write(0, 1, 0, 1, 1);
    p.settle();
    p.nodes[0].rep.secondary().unwrap();
    p.nodes[1].rep.secondary().unwrap();
    p.nodes[0].rep.connect(false).unwrap();
    p.nodes[1].rep.connect(false).unwrap();
    p.settle();
    assert!(p.logged(1, "automatically solved. Sync from peer"), "{:?}", p.nodes[1].log);
    assert_eq!(p.nodes[0].rep.conn(), ConnState::Connected);
    assert!(p.identical());
}

#[test]
fn two_primaries_refused_and_promotion_needs_uptodate() {
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    assert_eq!(p.nodes[1].rep.primary(false), Err(StateError::TwoPrimaries));
    p.nodes[0].rep.secondary().unwrap();
    p.settle();
    p.nodes[0].rep.disconnect().unwrap();
    p.settle();
    p.nodes[1].rep.disconnect().ok();
    p.nodes[1].rep.outdate().unwrap();
    assert_eq!(p.nodes[1].rep.primary(false), Err(StateError::NoUpToDateDisk));
    assert_eq!(p.nodes[1].rep.primary(true), Ok(Done::Now));
    assert_eq!(StateError::TwoPrimaries.code(), -1);
}

#[test]
fn forced_primary_on_fresh_metadata_runs_full_sync() {
    let mut p = Pair::new(cfg(Protocol::C));
    p.nodes[0].rep.connect(false).unwrap();
    p.nodes[1].rep.connect(false).unwrap();
    p.settle();
    assert_eq!(p.nodes[0].rep.disk(), DiskState::Inconsistent);
    assert_eq!(p.nodes[0].rep.primary(false), Err(StateError::NoUpToDateDisk));
    p.nodes[0].rep.primary(true).unwrap();
    p.settle();
    assert_eq!(p.nodes[1].rep.disk(), DiskState::UpToDate);
    assert_eq!(p.nodes[0].rep.role(), Role::Primary);
    assert!(p.logged(1, "Began resync as SyncTarget (will sync 16384 KB"));
}

#[test]
fn csums_resync_skips_identical_blocks() {
    let mut c = cfg(Protocol::C);
    c.csums = true;
    let mut p = Pair::connected_primary(c);
    p.nodes[0].rep.disconnect().unwrap();
    p.settle();
    p.nodes[1].rep.disconnect().ok();
    // Invalidate bob: full sync, but all blocks already equal -> only digests travel.
    p.nodes[1].rep.invalidate().unwrap();
    p.sent.clear();
    p.nodes[0].rep.connect(false).unwrap();
    p.nodes[1].rep.connect(false).unwrap();
    p.settle();
    assert!(p.sent.contains(&"CsumRSRequest"));
    assert!(p.sent.contains(&"RSIsInSync"));
    assert!(!p.sent.contains(&"RSDataReply"), "identical blocks are not transferred");
    assert_eq!(p.nodes[1].rep.disk(), DiskState::UpToDate);
}

#[test]
fn online_verify_reports_and_marks_differences() {
    let mut c = cfg(Protocol::C);
    c.verify = true;
    let mut p = Pair::connected_primary(c);
    p.write(0, 1, 800, 1, 5);
    p.settle();
    // Corrupt bob's copy behind the engine's back.
    let mut r = tests::sim::prng::Prng::new(3);
    let bad = tests::sim::disk::payload(8, |_| 999);
    p.nodes[1]
        .disk
        .execute(&DiskOpKind::Write { sector: 800, data: bad, fua: true }, &mut r)
        .unwrap();
    assert_eq!(p.nodes[0].rep.verify(0), Ok(()));
    p.settle();
    assert!(p.logged(0, "Out of sync: start=768, size=256 (sectors)"), "{:?}", p.nodes[0].log);
    assert!(p.logged(0, "Online verify found"));
    assert!(p.nodes[0].rep.bitmap().count_out_of_sync() > 0);
    assert!(p.nodes[1].rep.bitmap().count_out_of_sync() > 0);
    assert_eq!(p.nodes[0].rep.conn(), ConnState::Connected);
    let mut c2 = cfg(Protocol::C);
    c2.verify = false;
    let mut q = Pair::connected_primary(c2);
    assert_eq!(q.nodes[0].rep.verify(0), Err(StateError::NoVerifyAlg));
}

#[test]
fn sync_target_primary_reads_unsynced_blocks_from_peer() {
    let mut c = cfg(Protocol::C);
    c.rate.resync_rate_kib = 1; // crawl
    let mut p = Pair::connected_primary(c);
    p.write(0, 1, 4096, 1, 77);
    p.settle();
    p.nodes[0].rep.secondary().unwrap();
    p.settle();
    p.nodes[1].rep.disconnect().unwrap();
    p.nodes[0].rep.disconnect().unwrap();
    p.settle();
    p.nodes[1].rep.invalidate().unwrap();
    p.nodes[0].rep.connect(false).unwrap();
    p.nodes[1].rep.connect(false).unwrap();
    for _ in 0..20 {
        p.step();
    }
    assert_eq!(p.nodes[1].rep.conn(), ConnState::SyncTarget);
    assert_eq!(p.nodes[1].rep.primary(false), Ok(Done::Pending));
    for _ in 0..10 {
        p.step();
    }
    assert_eq!(p.nodes[1].rep.role(), Role::Primary);
    p.sent.clear();
    p.nodes[1].rep.on_read(ReadReq { tag: 9, sector: 4096 + 8 * 1000, len: 8 });
    p.nodes[1].rep.on_read(ReadReq { tag: 10, sector: 4096, len: 8 });
    for _ in 0..10 {
        p.step();
    }
    assert!(p.sent.contains(&"DataRequest"));
    assert_eq!(p.read_stamp(1, 10), Some(77));
}

#[test]
fn secondary_rejects_writes_and_rr_conflict_disconnects() {
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.write(1, 5, 0, 1, 1);
    assert_eq!(p.done(1, 5), Some((false, false)));
    // rr-conflict: alice (Primary, UpToDate) would have to become SyncTarget.
    p.nodes[0].rep.disconnect().unwrap();
    p.nodes[1].rep.disconnect().unwrap();
    p.settle();
    p.nodes[1].rep.primary(false).unwrap();
    p.write(1, 6, 0, 1, 3);
    p.settle();
    p.nodes[1].rep.secondary().unwrap();
    p.nodes[0].rep.connect(true).unwrap(); // alice discards her data, but is Primary
    p.nodes[1].rep.connect(false).unwrap();
    p.settle();
    assert!(p.logged(0, "I shall become SyncTarget, but I am primary!"), "{:?}", p.nodes[0].log);
}

#[test]
fn fencing_freezes_io_and_outdates_peer_before_promotion() {
    let mut c = cfg(Protocol::C);
    c.fencing = Fencing::ResourceAndStonith;
    let mut p = Pair::connected_primary(c);
    p.auto_link = false;
    p.break_link(ConnState::NetworkFailure);
    assert!(p.logged(0, "handler FencePeer"));
    assert!(p.nodes[0].rep.snapshot().susp_fen, "I/O frozen while fencing");
    p.write(0, 1, 0, 1, 5);
    p.run_no_tick();
    assert_eq!(p.done(0, 1), None, "write held while susp_fen");
    // The handler outdates bob out of band and reports success.
    p.nodes[1].rep.disconnect().ok();
    p.nodes[1].rep.outdate().unwrap();
    p.nodes[0].rep.fence_peer_result(4);
    p.run_no_tick();
    assert_eq!(p.done(0, 1).map(|d| d.0), Some(true));
    assert_eq!(p.nodes[0].rep.peer_disk(), DiskState::Outdated);
    assert_eq!(p.nodes[1].rep.primary(false), Err(StateError::NoUpToDateDisk));
    // A Secondary with fencing must fence before promoting while disconnected.
    let mut c2 = cfg(Protocol::C);
    c2.fencing = Fencing::ResourceOnly;
    let mut q = Pair::connected_primary(c2);
    q.nodes[0].rep.secondary().unwrap();
    q.settle();
    q.auto_link = false;
    q.break_link(ConnState::NetworkFailure);
    assert_eq!(q.nodes[1].rep.primary(false), Ok(Done::Pending));
    q.pump();
    assert!(q.logged(1, "handler FencePeer"));
    q.nodes[1].rep.fence_peer_result(6); // peer is Primary: refuse
    assert_eq!(q.nodes[1].rep.role(), Role::Secondary);
    assert_eq!(q.nodes[1].rep.disk(), DiskState::Outdated);
}

#[test]
fn diskless_primary_works_through_peer_and_reattach_resyncs() {
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.write(0, 1, 0, 1, 5);
    p.settle();
    p.nodes[0].rep.detach().unwrap();
    p.settle();
    assert_eq!(p.nodes[0].rep.disk(), DiskState::Diskless);
    assert_eq!(p.nodes[1].rep.peer_disk(), DiskState::Diskless);
    p.write(0, 2, 64, 1, 50);
    p.nodes[0].rep.on_read(ReadReq { tag: 3, sector: 0, len: 8 });
    p.settle();
    assert_eq!(p.done(0, 2).map(|d| d.0), Some(true), "write served by the peer");
    assert_eq!(p.read_stamp(0, 3), Some(5), "read served by the peer");
    assert_eq!(p.nodes[0].disk.sector(64), 0, "nothing written locally");
    assert!(p.nodes[1].rep.bitmap().count_out_of_sync() > 0, "peer tracks what we miss");
    let meta = p.nodes[0].disk.attach_meta(67);
    p.nodes[0].rep.attach(meta).unwrap();
    p.settle();
    assert_eq!(p.nodes[0].rep.disk(), DiskState::UpToDate);
    assert!(p.identical());
    assert_eq!(p.nodes[0].rep.detach(), Ok(()));
    p.settle();
    p.nodes[0].rep.disconnect().unwrap();
    p.settle();
    let meta = p.nodes[0].disk.attach_meta(67);
    p.nodes[0].rep.attach(meta).unwrap();
    assert_eq!(
        p.nodes[0].rep.disk(),
        DiskState::Inconsistent,
        "a re-attached diskless Primary has stale data"
    );
}

#[test]
fn forced_initial_sync_target_adopts_source_uuids_and_later_resyncs_only_changes() {
    let mut p = Pair::new(cfg(Protocol::C));
    p.nodes[0].rep.connect(false).unwrap();
    p.nodes[1].rep.connect(false).unwrap();
    p.settle();
    p.nodes[0].rep.primary(true).unwrap();
    p.settle();
    assert_eq!(p.nodes[1].rep.disk(), DiskState::UpToDate);
    assert!(p.logged(1, "Began resync as SyncTarget (will sync 16384 KB"));
    let src = p.nodes[0].rep.uuids();
    assert_eq!(
        p.nodes[1].rep.uuids().current & !1,
        src.current & !1,
        "the target takes the source's current UUID at resync end"
    );
    // Bob's daemon restarts: its metadata is read back from its disk.
    p.auto_link = false;
    p.break_link(ConnState::NetworkFailure);
    let mut c = cfg(Protocol::C);
    c.node_name = "bob".into();
    c.peer_name = "alice".into();
    c.uuid_seed = 33;
    let mut bob = Replicator::new(c.clone());
    bob.attach(p.nodes[1].disk.attach_meta(c.al_extents)).unwrap();
    assert_eq!(bob.uuids().current & !1, src.current & !1, "persisted current UUID");
    p.nodes[1].rep = bob;
    p.nodes[1].log.clear();
    // Alice writes three blocks meanwhile.
    p.write(0, 1, 0, 1, 7);
    p.write(0, 2, 8192, 2, 8);
    p.settle();
    assert_eq!(p.nodes[0].rep.bitmap().count_out_of_sync(), 3);
    p.nodes[1].rep.connect(false).unwrap();
    p.auto_link = true;
    p.settle();
    assert!(
        p.logged(1, "Began resync as SyncTarget (will sync 12 KB"),
        "bitmap resync of the changed blocks only: {:?}",
        p.nodes[1].log
    );
    assert_eq!(p.nodes[1].rep.disk(), DiskState::UpToDate);
    assert!(p.identical());
}

#[test]
fn invalidate_refused_without_an_uptodate_peer_changes_nothing() {
    // A Primary that detached writes through its Secondary's disk: that disk then holds the
    // only good copy, and `invalidate` on it must be refused without touching it.
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.nodes[0].rep.detach().unwrap();
    p.settle();
    assert_eq!(p.nodes[1].rep.peer_disk(), DiskState::Diskless);
    p.write(0, 1, 0, 1, 100);
    p.settle();
    assert_eq!(p.done(0, 1), Some((true, true)));
    let oos = p.nodes[1].rep.bitmap().count_out_of_sync();
    assert_eq!(p.nodes[1].rep.invalidate(), Err(StateError::NoUpToDateDisk));
    assert_eq!(p.nodes[1].rep.disk(), DiskState::UpToDate);
    assert_eq!(p.nodes[1].rep.bitmap().count_out_of_sync(), oos);
}

#[test]
fn promotion_next_to_a_diskless_peer_starts_a_new_generation() {
    // Data written while the peer has no disk exists only here: the promotion must start a
    // generation the peer's old data does not have, or a later handshake takes this node for
    // the one that is behind and overwrites those writes without a split brain.
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.nodes[0].rep.secondary().unwrap();
    p.settle();
    p.nodes[1].rep.detach().unwrap();
    p.settle();
    assert_eq!(p.nodes[0].rep.peer_disk(), DiskState::Diskless);
    let before = p.nodes[0].rep.uuids();
    p.nodes[0].rep.primary(false).unwrap();
    p.settle();
    assert_eq!(p.nodes[0].rep.role(), Role::Primary);
    let after = p.nodes[0].rep.uuids();
    assert_ne!(after.current & !1, before.current & !1, "a new current UUID");
    assert_eq!(after.bitmap, before.current & !1, "the shared generation becomes the bitmap UUID");
}

#[test]
fn forced_promotion_starts_exactly_one_generation() {
    // `primary --force` on an unconnected Outdated node: one new current UUID, with the
    // generation it shared with its peer as bitmap UUID (a second one would push that shared
    // generation into history and hide the split brain from the next handshake).
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.nodes[0].rep.secondary().unwrap();
    p.settle();
    p.nodes[1].rep.disconnect().unwrap();
    p.settle();
    p.nodes[1].rep.outdate().unwrap();
    let shared = p.nodes[1].rep.uuids().current & !1;
    assert_eq!(p.nodes[1].rep.disk(), DiskState::Outdated);
    p.nodes[1].rep.primary(true).unwrap();
    p.settle();
    assert_eq!(p.nodes[1].rep.role(), Role::Primary);
    let u = p.nodes[1].rep.uuids();
    assert_ne!(u.current & !1, shared);
    assert_eq!(u.bitmap, shared);
}

/// Run alice's disk and deliver messages both ways, never running bob's data disk.
fn run_without_bobs_disk(p: &mut Pair) {
    for _ in 0..20 {
        p.pump();
        while let Some((id, w)) = p.nodes[0].meta_queue.pop_front() {
            p.nodes[0].disk.write_meta(&w);
            p.nodes[0].rep.on_disk_done(DiskCompletion { id, result: Ok(None) });
        }
        while let Some((id, w)) = p.nodes[1].meta_queue.pop_front() {
            p.nodes[1].disk.write_meta(&w);
            p.nodes[1].rep.on_disk_done(DiskCompletion { id, result: Ok(None) });
        }
        while let Some(op) = p.nodes[0].disk_queue.pop_front() {
            let mut r = tests::sim::prng::Prng::new(1);
            let result = p.nodes[0].disk.execute(&op.kind, &mut r);
            p.nodes[0].rep.on_disk_done(DiskCompletion { id: op.id, result });
        }
        p.pump();
        for from in 0..2 {
            while let Some(m) = p.wire[from].pop_front() {
                p.nodes[1 - from].rep.on_peer_msg(m);
            }
        }
    }
}

/// Two writes in two epochs reach bob while his disk does not complete anything: how many of
/// them bob has submitted, and how many flushes he issued once everything ran.
fn two_epochs(disk_flushes: bool, disk_drain: bool) -> (usize, usize) {
    let mut c = cfg(Protocol::C);
    c.max_epoch_size = 1;
    c.disk_flushes = disk_flushes;
    c.disk_drain = disk_drain;
    let mut p = Pair::connected_primary(c);
    p.nodes[1].actions.clear();
    p.write(0, 1, 0, 1, 100);
    p.write(0, 2, 64, 1, 200);
    run_without_bobs_disk(&mut p);
    let submitted = p.nodes[1].disk_queue.len();
    p.settle();
    assert_eq!(p.done(0, 1), Some((true, true)));
    assert_eq!(p.done(0, 2), Some((true, true)));
    assert!(p.identical());
    let flushes = p.nodes[1].actions.iter().filter(|a| a.as_str() == "flush").count();
    (submitted, flushes)
}

#[test]
fn write_ordering_follows_disk_flushes_and_disk_drain() {
    // flush (default): the second epoch waits for the first one's writes and a flush.
    assert_eq!(two_epochs(true, true), (1, 2));
    // drain: it waits for the writes, no flush.
    assert_eq!(two_epochs(false, true), (1, 0));
    // none: epochs overlap on the receiver; each barrier is acknowledged when its writes are
    // done, in order.
    assert_eq!(two_epochs(false, false), (2, 0));
}

#[test]
fn only_uptodate_data_is_served_to_the_peer() {
    // A Primary whose local read failed asks its peer; a peer that has just become SyncTarget
    // (the Primary may not know yet) must refuse instead of returning stale blocks
    // (seed 100000086610).
    let mut p = Pair::connected_primary(cfg(Protocol::C));
    p.nodes[1].rep.invalidate().unwrap();
    p.pump();
    assert_eq!(p.nodes[1].rep.disk(), DiskState::Inconsistent);
    p.wire[1].clear();
    p.nodes[1].rep.on_peer_msg(PeerMsg::DataRequest { id: 77, sector: 0, len: 8 });
    p.pump();
    assert!(
        p.wire[1].iter().any(|m| matches!(m, PeerMsg::DataReply { id: 77, data: None })),
        "{:?}",
        p.wire[1].iter().map(|m| m.name()).collect::<Vec<_>>()
    );
    assert!(p.nodes[1].disk_queue.iter().all(|op| !matches!(op.kind, DiskOpKind::Read { .. })));
}
