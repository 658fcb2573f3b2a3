//! An in-process [`Membership`] for the deterministic simulator.
//!
//! A [`SimHub`] stands for the corosync of every node at once: which nodes run corosync,
//! how the network is partitioned, which daemon processes are in the group. Every change
//! goes through one reconciliation step that gives each process, in a fixed order, the
//! membership change of its partition and then the quorum verdict of its node, exactly as
//! votequorum computes it (`expected_votes`, `two_node`, `wait_for_all`). Messages are
//! appended to the queues of every member of the sender's partition at once, so there is one
//! total order per partition, the sender included. Nothing waits and nothing is random:
//! `next_event` returns what is queued or `None`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{
    canonical, Departure, LeaveReason, Member, Membership, MembershipError, MembershipEvent,
    NodeId, QuorumState, MAX_MESSAGE,
};

/// The `quorum {}` options the simulated votequorum honours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuorumOptions {
    /// `two_node: 1` (quorum of 1 with exactly two configured nodes; implies wait_for_all).
    pub two_node: bool,
    /// `wait_for_all: 1`.
    pub wait_for_all: bool,
}

/// Upper bound on queued events per process; a process that does not read is a bug in the
/// simulation, reported by a panic rather than by silently dropping ordered events.
pub const SIM_QUEUE_LIMIT: usize = 100_000;

#[derive(Debug)]
struct Proc {
    node: NodeId,
    pid: u32,
    alive: bool,
    /// Why the process is gone, once it is.
    gone: LeaveReason,
    queue: VecDeque<MembershipEvent>,
    view: Vec<Member>,
    quorum: Option<QuorumState>,
}

#[derive(Debug)]
struct Hub {
    names: BTreeMap<NodeId, String>,
    opts: QuorumOptions,
    up: BTreeSet<NodeId>,
    partition: BTreeMap<NodeId, u32>,
    /// wait_for_all satisfied since this node's corosync started.
    wfa_ok: BTreeSet<NodeId>,
    procs: Vec<Proc>,
    next_pid: u32,
}

impl Hub {
    fn part(&self, node: NodeId) -> u32 {
        self.partition.get(&node).copied().unwrap_or(0)
    }

    fn push(p: &mut Proc, ev: MembershipEvent) {
        assert!(
            p.queue.len() < SIM_QUEUE_LIMIT,
            "simulated node {} pid {} stopped reading",
            p.node,
            p.pid
        );
        p.queue.push_back(ev);
    }

    fn member(&self, p: &Proc) -> Member {
        Member { node_id: p.node, name: self.names[&p.node].clone(), pid: p.pid }
    }

    fn quorum_of(&self, node: NodeId) -> QuorumState {
        let part = self.part(node);
        let nodes: Vec<NodeId> =
            self.up.iter().copied().filter(|&n| self.part(n) == part).collect();
        let expected = self.names.len() as u32;
        let votes = nodes.len() as u32;
        let two_node = self.opts.two_node && expected == 2;
        let wait_for_all = self.opts.wait_for_all || two_node;
        let quorum = if two_node { 1 } else { expected / 2 + 1 };
        let quorate = votes >= quorum && (!wait_for_all || self.wfa_ok.contains(&node));
        QuorumState { quorate, votes, expected, quorum, two_node, wait_for_all, nodes }
    }

    /// Brings every live process's view up to date with the topology.
    fn reconcile(&mut self) {
        let all: Vec<NodeId> = self.names.keys().copied().collect();
        for &n in &self.up {
            let part = self.part(n);
            if all.iter().all(|a| self.up.contains(a) && self.part(*a) == part) {
                self.wfa_ok.insert(n);
            }
        }
        let views: Vec<Option<Vec<Member>>> = self
            .procs
            .iter()
            .map(|p| {
                p.alive.then(|| {
                    let part = self.part(p.node);
                    canonical(
                        self.procs
                            .iter()
                            .filter(|q| q.alive && self.part(q.node) == part)
                            .map(|q| self.member(q))
                            .collect(),
                    )
                })
            })
            .collect();
        // A live process missing from a view is on the other side of a partition.
        let reasons: BTreeMap<(NodeId, u32), LeaveReason> = self
            .procs
            .iter()
            .map(|p| ((p.node, p.pid), if p.alive { LeaveReason::NodeDown } else { p.gone }))
            .collect();
        let quorums: Vec<Option<QuorumState>> =
            self.procs.iter().map(|p| p.alive.then(|| self.quorum_of(p.node))).collect();
        for (i, p) in self.procs.iter_mut().enumerate() {
            let (Some(view), Some(q)) = (views[i].clone(), quorums[i].clone()) else { continue };
            if view != p.view {
                let joined = view.iter().filter(|m| !p.view.contains(m)).cloned().collect();
                let left = p
                    .view
                    .iter()
                    .filter(|m| !view.contains(m))
                    .map(|m| Departure { member: m.clone(), reason: reasons[&(m.node_id, m.pid)] })
                    .collect();
                p.view = view.clone();
                Self::push(p, MembershipEvent::MembersChanged { members: view, joined, left });
            }
            if p.quorum.as_ref() != Some(&q) {
                p.quorum = Some(q.clone());
                Self::push(p, MembershipEvent::QuorumChanged(q));
            }
        }
    }

    /// Ends every process on `node` with [`MembershipEvent::Disconnected`].
    fn disconnect(&mut self, node: NodeId) {
        for p in self.procs.iter_mut().filter(|p| p.node == node && p.alive) {
            p.alive = false;
            p.gone = LeaveReason::NodeDown;
            p.queue.push_back(MembershipEvent::Disconnected { reason: "corosync stopped".into() });
        }
    }
}

/// The simulated corosync of a whole cluster. Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct SimHub {
    hub: Arc<Mutex<Hub>>,
}

impl SimHub {
    /// A cluster whose nodelist is `nodes` (id, name), every corosync running, one partition.
    pub fn new(nodes: &[(NodeId, &str)], opts: QuorumOptions) -> SimHub {
        let names: BTreeMap<NodeId, String> =
            nodes.iter().map(|&(id, name)| (id, name.to_string())).collect();
        let up = names.keys().copied().collect();
        let mut hub = Hub {
            names,
            opts,
            up,
            partition: BTreeMap::new(),
            wfa_ok: BTreeSet::new(),
            procs: Vec::new(),
            next_pid: 1000,
        };
        hub.reconcile();
        SimHub { hub: Arc::new(Mutex::new(hub)) }
    }

    fn lock(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a daemon process on `node` and joins it to the group.
    pub fn join(&self, node: NodeId) -> Result<SimMembership, MembershipError> {
        let mut h = self.lock();
        if !h.up.contains(&node) {
            return Err(MembershipError::NotConnected);
        }
        h.next_pid += 1;
        let pid = h.next_pid;
        h.procs.push(Proc {
            node,
            pid,
            alive: true,
            gone: LeaveReason::Unknown,
            queue: VecDeque::new(),
            view: Vec::new(),
            quorum: None,
        });
        let index = h.procs.len() - 1;
        h.reconcile();
        Ok(SimMembership {
            hub: self.clone(),
            index,
            local: node,
            members: Vec::new(),
            quorum: None,
            closed: false,
        })
    }

    /// Stops (or crashes) corosync on `node`: its processes are disconnected, the others see
    /// them leave and votequorum recount.
    pub fn stop_corosync(&self, node: NodeId) {
        let mut h = self.lock();
        h.up.remove(&node);
        h.wfa_ok.remove(&node);
        h.disconnect(node);
        h.reconcile();
    }

    /// Starts corosync on `node` again (its daemon must [`SimHub::join`] anew).
    pub fn start_corosync(&self, node: NodeId) {
        let mut h = self.lock();
        if h.names.contains_key(&node) {
            h.up.insert(node);
            h.reconcile();
        }
    }

    /// Splits the network: each slice is one partition; nodes not listed form one more.
    pub fn partition(&self, groups: &[&[NodeId]]) {
        let mut h = self.lock();
        let rest = groups.len() as u32;
        let all: Vec<NodeId> = h.names.keys().copied().collect();
        h.partition = all.into_iter().map(|n| (n, rest)).collect();
        for (i, g) in groups.iter().enumerate() {
            for &n in g.iter() {
                h.partition.insert(n, i as u32);
            }
        }
        h.reconcile();
    }

    /// Joins all partitions again.
    pub fn heal(&self) {
        let mut h = self.lock();
        h.partition.clear();
        h.reconcile();
    }
}

/// One simulated daemon process in the group.
#[derive(Debug)]
pub struct SimMembership {
    hub: SimHub,
    index: usize,
    local: NodeId,
    members: Vec<Member>,
    quorum: Option<QuorumState>,
    closed: bool,
}

impl SimMembership {
    /// The process dies without leaving the group (the others see [`LeaveReason::ProcessDown`]).
    pub fn crash(&mut self) {
        self.end(LeaveReason::ProcessDown);
    }

    fn end(&mut self, why: LeaveReason) {
        if !self.closed {
            self.closed = true;
            let mut h = self.hub.lock();
            let p = &mut h.procs[self.index];
            if p.alive {
                p.alive = false;
                p.gone = why;
            }
            p.queue.clear();
            h.reconcile();
        }
    }

    /// This process's pid in the simulation.
    pub fn pid(&self) -> u32 {
        self.hub.lock().procs[self.index].pid
    }
}

impl Membership for SimMembership {
    fn local_node_id(&self) -> NodeId {
        self.local
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), MembershipError> {
        if msg.len() > MAX_MESSAGE {
            return Err(MembershipError::TooLarge { len: msg.len(), max: MAX_MESSAGE });
        }
        let mut h = self.hub.lock();
        let me = &h.procs[self.index];
        if self.closed || !me.alive {
            return Err(MembershipError::NotConnected);
        }
        let (from, pid, part) = (me.node, me.pid, h.part(me.node));
        let ev = MembershipEvent::Message { from, pid, data: msg.to_vec() };
        let hub = &mut *h;
        for p in hub.procs.iter_mut() {
            if p.alive && hub.partition.get(&p.node).copied().unwrap_or(0) == part {
                Hub::push(p, ev.clone());
            }
        }
        Ok(())
    }

    fn next_event(
        &mut self,
        _timeout: Duration,
    ) -> Result<Option<MembershipEvent>, MembershipError> {
        let ev = self.hub.lock().procs[self.index].queue.pop_front();
        match &ev {
            Some(MembershipEvent::MembersChanged { members, .. }) => self.members = members.clone(),
            Some(MembershipEvent::QuorumChanged(q)) => self.quorum = Some(q.clone()),
            Some(MembershipEvent::Disconnected { .. }) => self.closed = true,
            _ => {}
        }
        Ok(ev)
    }

    fn members(&self) -> &[Member] {
        &self.members
    }

    fn quorum(&self) -> Option<&QuorumState> {
        self.quorum.as_ref()
    }

    fn shutdown(&mut self) -> Result<(), MembershipError> {
        self.end(LeaveReason::Left);
        Ok(())
    }
}

impl Drop for SimMembership {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
