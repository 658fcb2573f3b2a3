//! after-sb-0pri / after-sb-1pri decisions: who becomes the SyncTarget after a split brain.

use drbd_ublk::repl::*;
use tests::sim::pair::Pair;

fn cfg(p0: AfterSb0, p1: AfterSb1) -> ReplConfig {
    let mut c = ReplConfig::new("alice", "bob", 4 * 8192);
    c.al_extents = 67;
    c.rate.c_plan_ahead = 0;
    c.rate.resync_rate_kib = 100_000;
    c.after_sb_0pri = p0;
    c.after_sb_1pri = p1;
    c
}

/// Split while alice is Primary; bob is promoted during the split; alice writes `a` blocks,
/// bob writes `b` blocks; then bob demotes (and alice too unless `alice_stays_primary`) and
/// they reconnect. Returns the pair after settling.
fn split(c: ReplConfig, a: u32, b: u32, alice_stays_primary: bool) -> Pair {
    let mut p = Pair::connected_primary(c);
    p.nodes[0].rep.disconnect().unwrap();
    p.nodes[1].rep.disconnect().unwrap();
    p.settle();
    p.nodes[1].rep.primary(false).unwrap();
    for i in 0..a {
        p.write(0, 100 + u64::from(i), 4096 + 64 * u64::from(i), 1, 1000 + u64::from(i));
    }
    for i in 0..b {
        p.write(1, 200 + u64::from(i), 8192 + 64 * u64::from(i), 1, 2000 + u64::from(i));
    }
    p.settle();
    p.nodes[1].rep.secondary().unwrap();
    if !alice_stays_primary {
        p.nodes[0].rep.secondary().unwrap();
    }
    p.nodes[0].rep.connect(false).unwrap();
    p.nodes[1].rep.connect(false).unwrap();
    p.settle();
    p
}

fn target(p: &Pair) -> Option<usize> {
    (0..2).find(|&n| p.logged(n, "automatically solved. Sync from peer"))
}

#[test]
fn discard_younger_primary_discards_the_node_promoted_during_the_split() {
    let p = split(cfg(AfterSb0::DiscardYoungerPrimary, AfterSb1::Disconnect), 1, 1, false);
    assert_eq!(target(&p), Some(1));
    assert!(p.identical());
}

#[test]
fn discard_older_primary_discards_the_node_that_was_primary_first() {
    let p = split(cfg(AfterSb0::DiscardOlderPrimary, AfterSb1::Disconnect), 1, 1, false);
    assert_eq!(target(&p), Some(0));
    assert!(p.identical());
}

#[test]
fn discard_least_changes_discards_fewer_changes() {
    let p = split(cfg(AfterSb0::DiscardLeastChanges, AfterSb1::Disconnect), 1, 3, false);
    assert_eq!(target(&p), Some(0));
    let p = split(cfg(AfterSb0::DiscardLeastChanges, AfterSb1::Disconnect), 3, 1, false);
    assert_eq!(target(&p), Some(1));
}

#[test]
fn discard_node_names_the_loser() {
    let p = split(cfg(AfterSb0::DiscardNode("alice".into()), AfterSb1::Disconnect), 2, 2, false);
    assert_eq!(target(&p), Some(0));
}

#[test]
fn zero_pri_disconnect_leaves_it_to_the_admin() {
    let p = split(cfg(AfterSb0::Disconnect, AfterSb1::Disconnect), 1, 1, false);
    assert_eq!(target(&p), None);
    assert!(
        p.logged(0, "Split-Brain detected, dropping connection!")
            || p.logged(1, "Split-Brain detected, dropping connection!")
    );
}

#[test]
fn one_pri_discard_secondary_and_consensus() {
    let p = split(cfg(AfterSb0::Disconnect, AfterSb1::DiscardSecondary), 1, 1, true);
    assert_eq!(target(&p), Some(1), "{:?}", p.nodes[1].log);
    assert_eq!(p.nodes[0].rep.role(), Role::Primary);
    // consensus: 0pri says discard bob (fewer changes) = the Secondary -> accepted.
    let p = split(cfg(AfterSb0::DiscardLeastChanges, AfterSb1::Consensus), 3, 1, true);
    assert_eq!(target(&p), Some(1));
    // consensus: 0pri would discard the Primary -> refused.
    let p = split(cfg(AfterSb0::DiscardLeastChanges, AfterSb1::Consensus), 1, 3, true);
    assert_eq!(target(&p), None);
}
