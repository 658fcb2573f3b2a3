//! The simulated membership: same trait, votequorum's arithmetic, one total order per
//! partition, and the lowest-id DC rule on top.

use std::time::Duration;

use cluster_core::membership::sim::{QuorumOptions, SimHub, SimMembership};
use cluster_core::membership::{
    choose_dc, LeaveReason, Membership, MembershipError, MembershipEvent, NodeId, QuorumState,
    MAX_MESSAGE,
};

fn drain(m: &mut SimMembership) -> Vec<MembershipEvent> {
    let mut v = Vec::new();
    while let Some(ev) = m.next_event(Duration::ZERO).unwrap() {
        v.push(ev);
    }
    v
}

fn ids(m: &SimMembership) -> Vec<NodeId> {
    m.members().iter().map(|x| x.node_id).collect()
}

fn messages(evs: &[MembershipEvent]) -> Vec<(NodeId, Vec<u8>)> {
    evs.iter()
        .filter_map(|e| match e {
            MembershipEvent::Message { from, data, .. } => Some((*from, data.clone())),
            _ => None,
        })
        .collect()
}

fn three() -> (SimHub, Vec<SimMembership>) {
    let hub = SimHub::new(&[(1, "alpha"), (2, "beta"), (3, "gamma")], QuorumOptions::default());
    let mut ms: Vec<SimMembership> = (1..=3).map(|n| hub.join(n).unwrap()).collect();
    for m in &mut ms {
        drain(m);
    }
    (hub, ms)
}

#[test]
fn three_nodes_see_each_other_with_names_quorum_and_one_dc() {
    let (_hub, ms) = three();
    for m in &ms {
        assert_eq!(ids(m), [1, 2, 3]);
        let names: Vec<&str> = m.members().iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["alpha", "beta", "gamma"]);
        let q = m.quorum().unwrap();
        assert_eq!(
            q,
            &QuorumState {
                quorate: true,
                votes: 3,
                expected: 3,
                quorum: 2,
                two_node: false,
                wait_for_all: false,
                nodes: vec![1, 2, 3],
            }
        );
        assert_eq!(choose_dc(m.members()), Some(1));
    }
}

#[test]
fn own_membership_comes_before_any_message() {
    let hub = SimHub::new(&[(1, "a"), (2, "b")], QuorumOptions::default());
    let mut m1 = hub.join(1).unwrap();
    m1.send(b"early").unwrap();
    let evs = drain(&mut m1);
    assert!(matches!(evs[0], MembershipEvent::MembersChanged { .. }), "{evs:?}");
    assert_eq!(messages(&evs), [(1, b"early".to_vec())]);
}

#[test]
fn messages_are_totally_ordered_and_come_back_to_the_sender() {
    let (_hub, mut ms) = three();
    for k in 0..20u8 {
        let sender = (k as usize * 7) % 3;
        ms[sender].send(&[k]).unwrap();
    }
    let seqs: Vec<Vec<(NodeId, Vec<u8>)>> = ms.iter_mut().map(|m| messages(&drain(m))).collect();
    assert_eq!(seqs[0].len(), 20);
    assert_eq!(seqs[0], seqs[1]);
    assert_eq!(seqs[1], seqs[2]);
    let payloads: Vec<u8> = seqs[0].iter().map(|(_, d)| d[0]).collect();
    assert_eq!(payloads, (0..20).collect::<Vec<u8>>());
}

#[test]
fn partition_splits_quorum_and_dc_then_heals() {
    let (hub, mut ms) = three();
    hub.partition(&[&[1], &[2, 3]]);
    for m in &mut ms {
        drain(m);
    }
    assert_eq!(ids(&ms[0]), [1]);
    assert!(!ms[0].quorum().unwrap().quorate, "a lone node of three has no quorum");
    assert_eq!(ms[0].quorum().unwrap().votes, 1);
    for m in &ms[1..] {
        assert_eq!(ids(m), [2, 3]);
        assert!(m.quorum().unwrap().quorate);
        assert_eq!(choose_dc(m.members()), Some(2));
    }
    // Messages stay inside their partition.
    ms[1].send(b"majority").unwrap();
    assert!(messages(&drain(&mut ms[0])).is_empty());
    assert_eq!(messages(&drain(&mut ms[2])), [(2, b"majority".to_vec())]);

    hub.heal();
    for m in &mut ms {
        let evs = drain(m);
        assert!(evs.iter().any(|e| matches!(e, MembershipEvent::MembersChanged { .. })));
        assert_eq!(ids(m), [1, 2, 3]);
        assert!(m.quorum().unwrap().quorate);
        assert_eq!(choose_dc(m.members()), Some(1));
    }
}

#[test]
fn two_node_keeps_quorum_alone_but_waits_for_all_after_a_restart() {
    let hub =
        SimHub::new(&[(1, "a"), (2, "b")], QuorumOptions { two_node: true, wait_for_all: false });
    let mut m1 = hub.join(1).unwrap();
    let mut m2 = hub.join(2).unwrap();
    drain(&mut m1);
    drain(&mut m2);
    let q = m1.quorum().unwrap().clone();
    assert!(q.quorate && q.two_node && q.wait_for_all, "{q:?}");
    assert_eq!((q.votes, q.expected, q.quorum), (2, 2, 1));

    // Node 1's corosync stops: node 2 stays quorate alone.
    hub.stop_corosync(1);
    let evs = drain(&mut m1);
    assert!(matches!(evs.last(), Some(MembershipEvent::Disconnected { .. })), "{evs:?}");
    assert!(matches!(m1.send(b"x"), Err(MembershipError::NotConnected)));
    let evs = drain(&mut m2);
    let left: Vec<NodeId> = evs
        .iter()
        .find_map(|e| match e {
            MembershipEvent::MembersChanged { left, .. } => {
                assert!(left.iter().all(|d| d.reason == LeaveReason::NodeDown), "{left:?}");
                Some(left.iter().map(|d| d.member.node_id).collect())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(left, [1]);
    assert_eq!(ids(&m2), [2]);
    assert!(m2.quorum().unwrap().quorate);
    assert_eq!(m2.quorum().unwrap().votes, 1);

    // Node 1 comes back but cannot reach node 2: wait_for_all keeps it inquorate.
    hub.partition(&[&[1], &[2]]);
    hub.start_corosync(1);
    let mut m1 = hub.join(1).unwrap();
    drain(&mut m1);
    assert!(!m1.quorum().unwrap().quorate, "{:?}", m1.quorum());
    assert_eq!(ids(&m1), [1]);
    hub.heal();
    drain(&mut m1);
    drain(&mut m2);
    assert!(m1.quorum().unwrap().quorate);
    assert_eq!(ids(&m1), [1, 2]);
    assert_eq!(ids(&m2), [1, 2]);
}

#[test]
fn clean_leave_is_seen_by_the_others_and_ends_the_leaver() {
    let (_hub, mut ms) = three();
    let leaver_pid = ms[0].pid();
    ms[0].shutdown().unwrap();
    ms[0].shutdown().unwrap(); // idempotent
    assert!(matches!(ms[0].send(b"x"), Err(MembershipError::NotConnected)));
    for m in &mut ms[1..] {
        let evs = drain(m);
        let left = evs.iter().find_map(|e| match e {
            MembershipEvent::MembersChanged { left, .. } => Some(left.clone()),
            _ => None,
        });
        let left = left.expect("a membership change");
        assert_eq!(left.len(), 1);
        assert_eq!((left[0].member.node_id, left[0].member.pid), (1, leaver_pid));
        assert_eq!(left[0].reason, LeaveReason::Left);
        assert_eq!(ids(m), [2, 3]);
        // The daemon left but corosync still runs there: votes are unchanged.
        assert_eq!(m.quorum().unwrap().votes, 3);
        assert_eq!(choose_dc(m.members()), Some(2));
    }
}

#[test]
fn crashed_process_and_partitioned_node_have_their_reasons() {
    let (hub, mut ms) = three();
    ms[2].crash();
    let reasons = |evs: &[MembershipEvent]| -> Vec<(NodeId, LeaveReason)> {
        evs.iter()
            .flat_map(|e| match e {
                MembershipEvent::MembersChanged { left, .. } => {
                    left.iter().map(|d| (d.member.node_id, d.reason)).collect()
                }
                _ => Vec::new(),
            })
            .collect()
    };
    assert_eq!(reasons(&drain(&mut ms[0])), [(3, LeaveReason::ProcessDown)]);
    drain(&mut ms[1]);
    // Node 3's corosync still runs: votes stay 3.
    assert_eq!(ms[0].quorum().unwrap().votes, 3);
    hub.partition(&[&[1], &[2, 3]]);
    assert_eq!(reasons(&drain(&mut ms[0])), [(2, LeaveReason::NodeDown)]);
    assert_eq!(reasons(&drain(&mut ms[1])), [(1, LeaveReason::NodeDown)]);
}

#[test]
fn oversized_message_is_refused() {
    let (_hub, mut ms) = three();
    let big = vec![0u8; MAX_MESSAGE + 1];
    assert!(matches!(ms[0].send(&big), Err(MembershipError::TooLarge { .. })));
    assert!(messages(&drain(&mut ms[1])).is_empty());
}
