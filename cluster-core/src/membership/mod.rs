//! Cluster membership, ordered messaging and quorum, as Corosync 3 reports them.
//!
//! Every node runs one daemon process that joins one CPG (closed process group) named for the
//! daemon (e.g. `clusterd`). Corosync then gives each member, in the same order on every node:
//! configuration changes (who is in the group, who joined, who left) and the messages sent to
//! the group (virtual synchrony: a message is delivered to all members of the configuration it
//! was sent in, in one total order, itself included). Quorum comes from votequorum, which
//! applies `expected_votes`, `two_node` and `wait_for_all` itself; this layer reports its
//! verdict and never second-guesses it.
//!
//! * [`Membership`]: the trait the controller talks to. One event stream
//!   ([`MembershipEvent`]) and one ordered `send`.
//! * [`corosync::CorosyncMembership`]: the real thing, on libcpg, libvotequorum and libcmap
//!   through the `rust-corosync` crate. The libraries call plain functions under a global
//!   lock; those only copy the event into a bounded channel, and everything else (name
//!   lookups, vote counting) happens in [`Membership::next_event`], outside the callbacks.
//! * [`sim::SimHub`] / [`sim::SimMembership`]: an in-process, deterministic implementation
//!   for the simulator (partitions, crashes, clean leaves, votequorum's arithmetic).
//! * [`corosync::snapshot`]: members of a group and quorum, read without joining.
//! * [`choose_dc`]: the deterministic designated-controller rule (see its docs for why).
//!
//! Invariants every implementation keeps:
//! * A node sees its own membership change (containing itself) before any message.
//! * Messages from one configuration are delivered in the same order on every member, and a
//!   node's own messages come back to it in that order too.
//! * [`Membership::members`] is the membership of the last [`MembershipEvent::MembersChanged`]
//!   handed out, so the caller's view and the event stream never disagree.

pub mod corosync;
pub mod sim;

use std::time::Duration;

/// A corosync node id (`nodelist.node.N.nodeid`).
pub type NodeId = u32;

/// The largest message [`Membership::send`] accepts (CPG fragments larger messages itself, but
/// the controller has no business sending more than this at once).
pub const MAX_MESSAGE: usize = 1 << 20;

/// One daemon process in the group: the node it runs on and its process id there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    /// Corosync node id.
    pub node_id: NodeId,
    /// Node name: `nodelist.node.N.name`, else `ring0_addr`, else the decimal node id.
    pub name: String,
    /// Process id of the group member on its node.
    pub pid: u32,
}

/// Why a member left the group, as CPG reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeaveReason {
    /// The process left the group itself (orderly daemon shutdown).
    Left,
    /// The process went away without leaving (crashed or killed); its node is still in the
    /// cluster.
    ProcessDown,
    /// The node left the corosync membership (crash, corosync stopped, network cut): what
    /// Pacemaker treats as a lost node, unclean unless it shut down cleanly.
    NodeDown,
    /// Corosync gave no or an unknown reason.
    Unknown,
}

/// A member that left, with the reason.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Departure {
    /// Who left.
    pub member: Member,
    /// Why.
    pub reason: LeaveReason,
}

/// The quorum verdict of votequorum as seen from the local node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumState {
    /// Whether this partition has quorum (votequorum's own verdict).
    pub quorate: bool,
    /// Votes of the nodes currently in this partition (a quorum device's votes not included).
    pub votes: u32,
    /// Expected votes in force.
    pub expected: u32,
    /// Votes needed for quorum (1 with `two_node`).
    pub quorum: u32,
    /// `two_node` is active.
    pub two_node: bool,
    /// `wait_for_all` is active (implied by `two_node`).
    pub wait_for_all: bool,
    /// Node ids corosync currently lists as members (all nodes, whether or not they run the
    /// daemon), sorted.
    pub nodes: Vec<NodeId>,
}

/// What a [`Membership`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MembershipEvent {
    /// The group's membership changed. `members` is the whole new list, sorted by node id
    /// then pid; `joined` and `left` the differences corosync reported.
    MembersChanged {
        /// Everyone in the group now (the local process included).
        members: Vec<Member>,
        /// Who joined with this change.
        joined: Vec<Member>,
        /// Who left, and why (a clean leave, a process gone, a node gone).
        left: Vec<Departure>,
    },
    /// votequorum's view changed (quorate flag, votes, expected votes or node list).
    QuorumChanged(QuorumState),
    /// A message sent to the group, in the group's total order.
    Message {
        /// Sender node id.
        from: NodeId,
        /// Sender process id.
        pid: u32,
        /// The bytes as sent.
        data: Vec<u8>,
    },
    /// The connection to the membership service is gone (corosync stopped or crashed). No
    /// further events follow; the daemon must treat itself as out of the cluster.
    Disconnected {
        /// What failed, e.g. `cpg dispatch: ErrLibrary`.
        reason: String,
    },
}

/// Errors of the membership layer.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// A corosync library call failed.
    #[error("corosync {op} failed: {source}")]
    Corosync {
        /// The library call, e.g. `cpg_join`.
        op: &'static str,
        /// Corosync's error code.
        #[source]
        source: rust_corosync::CsError,
    },
    /// The group name is empty, too long (CPG allows 127 bytes) or contains a NUL byte.
    #[error("invalid CPG group name {0:?}: 1..=127 bytes without NUL")]
    BadGroupName(String),
    /// A message is larger than [`MAX_MESSAGE`].
    #[error("message of {len} bytes is larger than the {max} byte limit")]
    TooLarge {
        /// Size of the rejected message.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Corosync kept refusing the message (flow control) for longer than the retry budget.
    #[error("corosync flow control: message not accepted after {tries} tries")]
    Busy {
        /// How many times sending was tried.
        tries: u32,
    },
    /// Shutdown left the group but a dispatch thread did not come back from the corosync
    /// library in time; its handle was left open rather than finalized under it.
    #[error("corosync dispatch thread did not stop within {0:?}; handle left open")]
    ShutdownIncomplete(Duration),
    /// The membership has been shut down or lost its connection; nothing more can be sent.
    #[error("not connected to the membership service")]
    NotConnected,
}

/// The membership service the controller runs on.
pub trait Membership {
    /// This node's id.
    fn local_node_id(&self) -> NodeId;

    /// Sends `msg` to every member of the group (this process included), totally ordered
    /// with all other messages and membership changes of the group.
    fn send(&mut self, msg: &[u8]) -> Result<(), MembershipError>;

    /// The next event, waiting at most `timeout` for one. `Ok(None)` means nothing happened
    /// in time. A simulated implementation never waits.
    fn next_event(&mut self, timeout: Duration)
        -> Result<Option<MembershipEvent>, MembershipError>;

    /// The group membership as of the last [`MembershipEvent::MembersChanged`] handed out.
    fn members(&self) -> &[Member];

    /// The quorum state as of the last [`MembershipEvent::QuorumChanged`] handed out.
    fn quorum(&self) -> Option<&QuorumState>;

    /// Leaves the group and releases the connection. Idempotent.
    fn shutdown(&mut self) -> Result<(), MembershipError>;
}

/// The designated controller for a group membership: the **lowest node id** among the
/// members of the daemon's CPG group (several processes on one node count once).
///
/// Why this rule: CPG delivers the same sequence of membership changes to every member, so
/// a pure function of the membership gives every node the same answer with no extra
/// messages, no timers and no election rounds; node ids are unique and fixed in
/// corosync.conf, whereas names may be renamed. Only nodes in the group are candidates, so a
/// node that runs corosync but not the daemon is never chosen.
///
/// What it does not do (Pacemaker's election in §4.15 does): prefer the node whose daemon has
/// run longest, so a lower-id node that rejoins takes the DC role back; and prefer the lower
/// feature set during rolling upgrades. Both need state carried in messages; a controller
/// that wants them can run an election on top and use this as the tie-breaker. Quorum plays
/// no part: like Pacemaker, every partition has a DC and `no-quorum-policy` decides what it
/// may do.
pub fn choose_dc(members: &[Member]) -> Option<NodeId> {
    members.iter().map(|m| m.node_id).min()
}

/// Sorts a member list into the canonical order (node id, then pid, then name) and drops
/// exact duplicates.
pub(crate) fn canonical(mut members: Vec<Member>) -> Vec<Member> {
    members.sort();
    members.dedup();
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: NodeId, pid: u32) -> Member {
        Member { node_id: id, name: format!("n{id}"), pid }
    }

    #[test]
    fn dc_is_lowest_node_id_whatever_the_order() {
        assert_eq!(choose_dc(&[]), None);
        assert_eq!(choose_dc(&[m(3, 10), m(2, 11), m(7, 1)]), Some(2));
        assert_eq!(choose_dc(&[m(7, 1), m(3, 10), m(2, 11)]), Some(2));
        assert_eq!(choose_dc(&[m(5, 1), m(5, 2)]), Some(5));
    }

    #[test]
    fn canonical_sorts_and_dedups() {
        let v = canonical(vec![m(2, 1), m(1, 9), m(2, 1), m(1, 3)]);
        assert_eq!(v, vec![m(1, 3), m(1, 9), m(2, 1)]);
    }
}
