//! Faults outside the link's failure model (TCP never duplicates or reorders within a
//! connection): the engine must notice the inconsistency, drop the connection and repair the
//! replicas by resync instead of silently diverging.

use drbd_ublk::repl::*;
use tests::sim::pair::Pair;

fn cfg() -> ReplConfig {
    let mut c = ReplConfig::new("alice", "bob", 4 * 8192);
    c.al_extents = 67;
    c.rate.c_plan_ahead = 0;
    c.rate.resync_rate_kib = 100_000;
    c
}

#[test]
fn duplicated_data_packet_is_a_protocol_error_and_resync_repairs() {
    let mut p = Pair::connected_primary(cfg());
    p.deliver = false;
    p.write(0, 1, 0, 1, 10);
    for _ in 0..3 {
        p.step();
    }
    let data = p.wire[0]
        .iter()
        .find(|m| matches!(m, PeerMsg::Data { .. }))
        .cloned()
        .expect("data on the wire");
    p.wire[0].push_back(data);
    p.deliver = true;
    p.write(0, 2, 64, 1, 20);
    p.settle();
    assert!(p.logged(0, "protocol error") || p.logged(1, "protocol error"), "{:?}", p.nodes[0].log);
    assert_eq!(p.nodes[0].rep.conn(), ConnState::Connected);
    assert!(p.identical());
}

#[test]
fn reordered_barrier_is_a_protocol_error() {
    let mut p = Pair::connected_primary(cfg());
    p.deliver = false;
    p.write(0, 1, 0, 1, 10);
    for _ in 0..3 {
        p.step();
    }
    p.deliver = true;
    p.run_no_tick();
    p.deliver = false;
    p.write(0, 2, 64, 1, 20); // Barrier(1) + Data(epoch 2)
    for _ in 0..3 {
        p.step();
    }
    assert!(p.wire[0].len() >= 2);
    let first = p.wire[0].pop_front().unwrap();
    p.wire[0].insert(1, first); // Data before its preceding Barrier
    p.deliver = true;
    p.settle();
    assert!(p.logged(1, "protocol error"), "{:?}", p.nodes[1].log);
    assert_eq!(p.nodes[1].rep.conn(), ConnState::Connected);
    assert!(p.identical());
}
