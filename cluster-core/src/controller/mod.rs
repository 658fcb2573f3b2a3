//! The controller: a per-node, sans-IO state machine that elects the designated controller
//! (DC), keeps every node's CIB copy in step, runs the scheduler on the DC, dispatches the
//! transition's actions to the nodes and records their results in the CIB status section.
//!
//! Inputs are method calls ([`Controller::on_membership`], [`Controller::on_quorum`],
//! [`Controller::on_message`], [`Controller::on_agent_result`], [`Controller::on_fence_result`],
//! [`Controller::on_cib_request`], [`Controller::tick`]); outputs are drained with
//! [`Controller::poll_action`]. Nothing here reads a clock, a socket or a random source.
//!
//! # DC choice
//! The DC is the member with the **lowest node id** in the current membership. Membership is
//! the controller process group (CPG), which delivers the same member list to every member, so
//! all members compute the same DC without exchanging votes, and a partition's members agree
//! among themselves. A node that has never seen another member waits
//! [`Config::startup_wait_ms`] (`dc-deadtime`) before it becomes DC of a membership of one:
//! a rebooted node's corosync may not have merged with the running cluster yet. Pacemaker's election compares feature set, uptime and name; with one
//! feature set in the cluster, uptime is not known identically everywhere, while the id is.
//!
//! # Join and CIB versions
//! On every membership change the DC starts a join round (`seq`, with the DC's id in the high
//! 32 bits): every member answers with its whole CIB copy and its own resource history
//! (`lrm`). The copy with the highest `(admin_epoch, epoch, num_updates)` wins; the DC then
//! replaces each member's `lrm` with what that member reported (the node is the authority on
//! what runs on it), writes `node_state` for members and non-members, sets `dc-uuid` and
//! `have-quorum`, bumps `num_updates` and broadcasts the result. After the join every CIB
//! change goes through the DC: configuration changes bump `epoch`, status changes bump
//! `num_updates`, and the whole CIB is broadcast ([`ControllerMsg::CibReplace`]). Broadcasts
//! are not delivered back to the sender.
//!
//! # Transitions
//! The DC runs [`crate::scheduler::schedule`] when the join completes, when the configuration
//! changes, after an unexpected result and after fencing. Its graph (actions, recurring
//! monitors, cancels, notifications, pseudo actions and all ordering) is executed as it is
//! (see [`graph`]): an action is dispatched when all its predecessors succeeded, pseudo
//! actions complete as soon as they are ready, a clone instance's notification runs the
//! agent's `notify` with the OCF notification variables ([`ControllerMsg::RunNotify`]), and
//! a cancel stops the matching recurring monitor on its node ([`Action::CancelAgent`]).
//! An unexpected result or a membership change aborts the graph: nothing new is dispatched,
//! and the scheduler runs again once no one-shot operation is in flight on any member.
//!
//! Before scheduling, the DC probes (one-shot `monitor`, expecting 7) every configured
//! primitive a member has no history of, so resources already active somewhere are found.
//! Results are applied to the graph by their transition key
//! (`action:transition:expected_rc:dc_node_id`); a result the running graph does not wait for
//! aborts it too. A dispatched action or fence without an answer after
//! `Config::action_timeout_ms` counts as failed.
//!
//! # Executing on a node
//! Every node (the DC included) runs what it is sent: the agent request is built from its CIB
//! copy (or, for a resource no longer configured, from its own history), a stop first cancels
//! the resource's recurring monitors, and each result is recorded in the node's own `lrm`
//! (`lrm_rsc_op` with `operation_key`, `operation`, `call-id`, `rc-code`, `op-status`,
//! `interval`, `transition-key`, `transition-magic`, `on_node`, `exec-time`, ...: `RSC_last_0`
//! for one-shot ops, `RSC_OP_INTERVAL` for recurring ones, `RSC_last_failure_0` for failures)
//! and sent to the DC with the node's interpretation ([`crate::exec::interpret::classify`]).
//! Recurring results are sent only when rc or status changes. An instance of an anonymous
//! clone (`WebData:1`) is run and recorded under its primitive's id (`WebData`): the
//! scheduler numbers instances afresh in every transition.
//!
//! # Node attributes
//! Transient attributes set by tools and agents ([`CibChange::TransientAttr`]: promotion
//! scores, `crm_attribute -l reboot`) are applied by the DC into the node's
//! `transient_attributes`, bump `num_updates` and trigger a new transition when the value
//! changed. A node that comes back after leaving loses them (lifetime "reboot").
//!
//! # Clean shutdown
//! [`Controller::request_shutdown`] sets the node's transient `shutdown` attribute through the
//! DC; the scheduler moves everything off the node, and when that transition completes the DC
//! sets `expected="down"` so the departure is not treated as a failure
//! ([`Controller::shutdown_complete`] tells the node it may leave).
//!
//! # Failures and fencing
//! A failed result increments `fail-count-RSC#OP_INTERVAL` (INFINITY for a failed start, as
//! `start-failure-is-fatal`) and `last-failure-...` in the node's transient attributes. A
//! member that leaves gets `in_ccm=false` with `expected` unchanged, so with stonith enabled
//! the scheduler sees it unclean and schedules a fence first; the fence action is ordered
//! before everything else, and only a successful [`Controller::on_fence_result`] clears the
//! node's history so that its resources count as stopped.
//!
//! # Bounds
//! The action queue holds at most `Config::queue_cap` entries (further actions are dropped and
//! counted in [`Controller::dropped`]); pending CIB requests while no DC is known are bounded
//! by [`MAX_PENDING_REQUESTS`]; transitions longer than [`MAX_GRAPH_ACTIONS`] are refused.

pub mod graph;
pub mod msg;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::cib::xml::Element;
use crate::exec::interpret::{classify, Outcome};
use crate::exec::types::{AgentClass, AgentRequest, ExecStatus, NotifyVars, OcfExit, OpResult};
use crate::scheduler::{schedule, SchedulerInput};

pub use graph::{Graph, GraphAction, Step};
pub use msg::{CibChange, ControllerMsg, DecodeError};

/// Node id as Corosync numbers nodes.
pub type NodeId = u32;

/// Most CIB requests kept while no DC is known.
pub const MAX_PENDING_REQUESTS: usize = 64;
/// Most actions in one transition.
pub const MAX_GRAPH_ACTIONS: usize = 10_000;

/// One member of the controller process group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Corosync node id.
    pub node_id: NodeId,
    /// Node name (uname).
    pub name: String,
}

/// Identifies one agent run submitted by this controller (it is not the runner's `OpId`: the
/// driver maps between both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpKey(pub u64);

/// An output of the controller.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a message to one node, or with `None` to every other member of the group.
    Send {
        /// Destination node id, `None` for broadcast.
        to: Option<NodeId>,
        /// The message.
        msg: ControllerMsg,
    },
    /// Run an agent locally (a recurring one when `req.interval_ms > 0`: the driver repeats it
    /// and reports every result with the same key).
    RunAgent {
        /// Key to report the result with.
        key: OpKey,
        /// The request (boxed: it is much larger than the other variants).
        req: Box<AgentRequest>,
    },
    /// Cancel a running (recurring) agent.
    CancelAgent(OpKey),
    /// Fence a node; answer with [`Controller::on_fence_result`].
    Fence {
        /// Node name.
        node: String,
        /// `reboot` or `off` (`stonith-action`).
        action: String,
    },
    /// Persist this copy of the CIB locally.
    WriteCib(Element),
    /// A log line.
    Log(String),
}

/// Static configuration of one controller.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's id.
    pub node_id: NodeId,
    /// This node's name.
    pub name: String,
    /// How long the DC waits for join replies before going on without the missing ones.
    pub join_timeout_ms: u64,
    /// Delay before scheduling again after a failed fence.
    pub fence_retry_ms: u64,
    /// Capacity of the action queue.
    pub queue_cap: usize,
    /// How long the DC waits for the result of a dispatched action or fence before counting
    /// it as failed (operation timeout plus `cluster-delay`).
    pub action_timeout_ms: u64,
    /// Pacemaker's `dc-deadtime` at startup: a node that has never seen another member waits
    /// this long (from its first tick) for the others before it takes the DC role alone. A
    /// node whose Corosync has not merged with the running cluster yet would otherwise start
    /// resources that run elsewhere (with DRBD: a split brain). 0 (the default here) disables
    /// the wait; otherwise the CIB's `dc-deadtime` cluster option, when set, replaces it.
    pub startup_wait_ms: u64,
}

impl Config {
    /// Defaults for node `node_id` named `name`.
    pub fn new(node_id: NodeId, name: &str) -> Config {
        Config {
            node_id,
            name: name.to_string(),
            join_timeout_ms: 5_000,
            fence_retry_ms: 1_000,
            queue_cap: 4_096,
            action_timeout_ms: 80_000,
            startup_wait_ms: 0,
        }
    }
}

/// Why a CIB request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The configuration text is not XML or not a `configuration` element.
    #[error("invalid configuration: {0}")]
    BadConfiguration(String),
    /// No such node in the configuration.
    #[error("no node named {0}")]
    NoSuchNode(String),
    /// Too many requests waiting for a DC.
    #[error("too many requests waiting for a DC")]
    Busy,
}

/// `(admin_epoch, epoch, num_updates)` of a CIB.
pub fn cib_version(cib: &Element) -> (u64, u64, u64) {
    let n = |k: &str| cib.attr(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (n("admin_epoch"), n("epoch"), n("num_updates"))
}

fn bump_updates(cib: &mut Element) {
    let (_, _, u) = cib_version(cib);
    cib.set_attr("num_updates", &(u + 1).to_string());
}

struct LocalOp {
    rsc: String,
    task: String,
    interval_ms: u64,
    tkey: String,
    reported: Option<(i32, i32)>,
}

struct JoinRound {
    seq: u64,
    started_ms: u64,
    replies: BTreeMap<NodeId, (Option<Element>, Option<Element>)>,
}

/// One node's controller.
pub struct Controller {
    cfg: Config,
    cib: Element,
    members: Vec<Member>,
    quorate: bool,
    now_ms: u64,
    dc: Option<NodeId>,
    dc_seq: u64,
    join_counter: u64,
    join: Option<JoinRound>,
    joined: bool,
    busy: BTreeMap<NodeId, u32>,
    graph: Option<Graph>,
    transition_id: u64,
    need_schedule: bool,
    retry_at: Option<u64>,
    local_ops: BTreeMap<OpKey, LocalOp>,
    next_key: u64,
    call_id: i64,
    lrm: Element,
    /// First tick's time (the start of the startup wait).
    started_ms: Option<u64>,
    /// Another member was seen at least once (or the startup wait is over).
    peer_seen: bool,
    /// Alone at startup: waiting for the other nodes before taking the DC role.
    holding: bool,
    pending_requests: VecDeque<CibChange>,
    self_inbox: VecDeque<(NodeId, ControllerMsg)>,
    out: VecDeque<Action>,
    dropped: u64,
}

impl Controller {
    /// A controller starting from the node's persisted CIB copy (`None`: an empty CIB).
    pub fn new(cfg: Config, cib: Option<Element>) -> Controller {
        let cib = cib.unwrap_or_else(|| {
            Element::new("cib")
                .with_attr("admin_epoch", "0")
                .with_attr("epoch", "0")
                .with_attr("num_updates", "0")
                .with_child(Element::new("configuration"))
                .with_child(Element::new("status"))
        });
        Controller {
            cfg,
            cib,
            members: Vec::new(),
            quorate: false,
            now_ms: 0,
            dc: None,
            dc_seq: 0,
            join_counter: 0,
            join: None,
            joined: false,
            busy: BTreeMap::new(),
            graph: None,
            transition_id: 0,
            need_schedule: false,
            retry_at: None,
            local_ops: BTreeMap::new(),
            next_key: 1,
            call_id: 0,
            lrm: Element::new("lrm").with_attr("id", "").with_child(Element::new("lrm_resources")),
            started_ms: None,
            peer_seen: false,
            holding: false,
            pending_requests: VecDeque::new(),
            self_inbox: VecDeque::new(),
            out: VecDeque::new(),
            dropped: 0,
        }
    }

    /// Next output, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// This node's CIB copy.
    pub fn cib(&self) -> &Element {
        &self.cib
    }

    /// The DC this node follows, if known.
    pub fn dc(&self) -> Option<NodeId> {
        self.dc
    }

    /// True when this node is the DC and has completed a join.
    pub fn is_dc(&self) -> bool {
        self.dc == Some(self.cfg.node_id) && self.joined
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.cfg.node_id
    }

    /// The transition being executed (DC only).
    pub fn graph(&self) -> Option<&Graph> {
        self.graph.as_ref()
    }

    /// Actions dropped because the output queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// True when the DC has nothing to do: joined, no transition running, nothing to schedule.
    pub fn is_idle(&self) -> bool {
        self.is_dc()
            && self.join.is_none()
            && !self.need_schedule
            && self.graph.as_ref().map(|g| g.finished()).unwrap_or(true)
    }

    fn emit(&mut self, a: Action) {
        if self.out.len() >= self.cfg.queue_cap {
            self.dropped += 1;
            return;
        }
        self.out.push_back(a);
    }

    fn log(&mut self, s: String) {
        self.emit(Action::Log(format!("{}: {s}", self.cfg.name)));
    }

    fn send(&mut self, to: Option<NodeId>, msg: ControllerMsg) {
        if to == Some(self.cfg.node_id) {
            self.self_inbox.push_back((self.cfg.node_id, msg));
        } else {
            self.emit(Action::Send { to, msg });
        }
    }

    fn member_name(&self, id: NodeId) -> Option<&str> {
        self.members.iter().find(|m| m.node_id == id).map(|m| m.name.as_str())
    }

    fn member_id(&self, name: &str) -> Option<NodeId> {
        self.members.iter().find(|m| m.name == name).map(|m| m.node_id)
    }

    // ---------------------------------------------------------------- inputs

    /// The controller group's membership changed (`members` includes this node when it is in
    /// the group).
    pub fn on_membership(&mut self, members: &[Member]) {
        let mut m = members.to_vec();
        m.sort_by_key(|x| x.node_id);
        m.dedup_by_key(|x| x.node_id);
        if m == self.members && (self.dc.is_some() || m.is_empty()) {
            return;
        }
        let departed: Vec<NodeId> = self
            .members
            .iter()
            .filter(|o| !m.iter().any(|n| n.node_id == o.node_id))
            .map(|o| o.node_id)
            .collect();
        self.members = m;
        let me = self.cfg.node_id;
        if self.members.iter().any(|x| x.node_id != me) {
            self.peer_seen = true;
        }
        let wait = self.startup_wait_ms();
        let since = self.started_ms.unwrap_or(self.now_ms);
        if !self.peer_seen && wait > 0 && self.now_ms < since.saturating_add(wait) {
            if !self.holding {
                self.log(format!(
                    "alone at startup: waiting up to {} s for the other nodes before taking \
                     the DC role",
                    wait / 1000
                ));
            }
            self.holding = true;
            self.dc = None;
            self.drain();
            return;
        }
        self.holding = false;
        let new_dc = if self.members.iter().any(|x| x.node_id == me) {
            self.members.first().map(|x| x.node_id)
        } else {
            None
        };
        if new_dc != self.dc {
            self.log(format!("DC is now {new_dc:?}"));
        }
        self.dc = new_dc;
        if new_dc == Some(me) {
            for d in departed {
                self.busy.remove(&d);
                if let Some(g) = self.graph.as_mut() {
                    g.node_lost_by_id(d);
                }
            }
            if let Some(g) = self.graph.as_mut() {
                g.abort();
            }
            self.start_join();
        } else {
            self.joined = false;
            self.join = None;
            self.graph = None;
            self.need_schedule = false;
            self.busy.clear();
        }
        self.drain();
    }

    /// Quorum as votequorum reports it.
    pub fn on_quorum(&mut self, quorate: bool) {
        if quorate == self.quorate {
            return;
        }
        self.quorate = quorate;
        if self.is_dc() {
            self.cib.set_attr("have-quorum", if quorate { "1" } else { "0" });
            self.publish();
            self.abort("quorum changed");
        }
        self.drain();
    }

    /// A message from node `from`.
    pub fn on_message(&mut self, from: NodeId, msg: ControllerMsg) {
        self.handle(from, msg);
        self.drain();
    }

    /// The result of an agent run started with [`Action::RunAgent`].
    pub fn on_agent_result(&mut self, key: OpKey, res: &OpResult) {
        self.local_result(key, res);
        self.drain();
    }

    /// The result of an [`Action::Fence`].
    pub fn on_fence_result(&mut self, node: &str, ok: bool) {
        if self.is_dc() {
            self.fence_done(node, ok);
        }
        self.drain();
    }

    /// A local tool's change, applied cluster-wide through the DC.
    pub fn on_cib_request(&mut self, change: CibChange) -> Result<(), RequestError> {
        if let CibChange::ReplaceConfiguration(x) = &change {
            let e = Element::parse(x).map_err(|e| RequestError::BadConfiguration(e.to_string()))?;
            if e.name != "configuration" {
                return Err(RequestError::BadConfiguration(format!("root is <{}>", e.name)));
            }
        }
        match self.dc {
            Some(dc) if dc == self.cfg.node_id && self.joined => {
                self.apply_change(change)?;
            }
            Some(dc) if self.join.is_none() => {
                self.send(Some(dc), ControllerMsg::Change(change));
            }
            _ => {
                if self.pending_requests.len() >= MAX_PENDING_REQUESTS {
                    return Err(RequestError::Busy);
                }
                self.pending_requests.push_back(change);
            }
        }
        self.drain();
        Ok(())
    }

    /// Time passes (`now_ms` is monotonic milliseconds).
    pub fn tick(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        if self.started_ms.is_none() {
            self.started_ms = Some(now_ms);
        }
        if self.holding {
            let since = self.started_ms.unwrap_or(now_ms);
            if now_ms >= since.saturating_add(self.startup_wait_ms()) {
                self.log("nobody else showed up: going on alone".into());
                self.peer_seen = true;
                let m = std::mem::take(&mut self.members);
                self.on_membership(&m);
            }
        }
        if let Some(j) = &self.join {
            if now_ms.saturating_sub(j.started_ms) >= self.cfg.join_timeout_ms {
                self.log("join timeout: going on with the replies received".into());
                self.finish_join();
            }
        }
        if self.is_dc() {
            let deadline = now_ms.saturating_sub(self.cfg.action_timeout_ms);
            let expired = self.graph.as_mut().map(|g| g.expire(deadline)).unwrap_or(0);
            if expired > 0 {
                self.log(format!("{expired} action(s) timed out"));
                self.abort("action timeout");
            }
        }
        if let Some(t) = self.retry_at {
            if now_ms >= t {
                self.retry_at = None;
                self.need_schedule = true;
            }
        }
        self.drain();
    }

    // ---------------------------------------------------------------- internals

    fn drain(&mut self) {
        for _ in 0..1_000 {
            if let Some((from, m)) = self.self_inbox.pop_front() {
                self.handle(from, m);
                continue;
            }
            if self.maybe_schedule() {
                continue;
            }
            break;
        }
        if self.dc.is_some() && self.join.is_none() && !self.pending_requests.is_empty() {
            let dc = self.dc.unwrap_or(0);
            if dc != self.cfg.node_id || self.joined {
                while let Some(c) = self.pending_requests.pop_front() {
                    if dc == self.cfg.node_id {
                        let _ = self.apply_change(c);
                    } else {
                        self.send(Some(dc), ControllerMsg::Change(c));
                    }
                }
            }
        }
    }

    fn handle(&mut self, from: NodeId, msg: ControllerMsg) {
        let me = self.cfg.node_id;
        match msg {
            ControllerMsg::JoinOffer { seq } => {
                if Some(from) != self.dc {
                    return;
                }
                self.dc_seq = seq;
                let busy = self.local_busy();
                let reply = ControllerMsg::JoinReply {
                    seq,
                    cib: self.cib.to_compact_string(),
                    lrm: self.lrm.to_compact_string(),
                    busy,
                };
                self.send(Some(from), reply);
            }
            ControllerMsg::JoinReply { seq, cib, lrm, busy } => {
                let Some(j) = self.join.as_mut() else { return };
                if j.seq != seq || self.dc != Some(me) {
                    return;
                }
                let cib = Element::parse(&cib).ok().filter(|e| e.name == "cib");
                let lrm = Element::parse(&lrm).ok().filter(|e| e.name == "lrm");
                j.replies.insert(from, (cib, lrm));
                self.busy.insert(from, busy);
                let all = self.members.iter().all(|m| j.replies.contains_key(&m.node_id));
                if all {
                    self.finish_join();
                }
            }
            ControllerMsg::CibReplace { seq, cib } => {
                if Some(from) != self.dc || from == me {
                    return;
                }
                match Element::parse(&cib) {
                    Ok(e) if e.name == "cib" => {
                        self.dc_seq = seq;
                        self.cib = e;
                        self.emit(Action::WriteCib(self.cib.clone()));
                    }
                    _ => self.log(format!("ignoring malformed CIB from node {from}")),
                }
            }
            ControllerMsg::Change(c) => {
                if self.is_dc() {
                    if let Err(e) = self.apply_change(c) {
                        self.log(format!("change from node {from} refused: {e}"));
                    }
                } else if self.dc == Some(me) && self.pending_requests.len() < MAX_PENDING_REQUESTS
                {
                    self.pending_requests.push_back(c);
                }
            }
            ControllerMsg::RunOp { tkey, rsc, task, interval_ms } => {
                if Some(from) != self.dc {
                    return;
                }
                let rsc = self.history_id(&rsc);
                self.run_local(tkey, rsc, task, interval_ms, None);
            }
            ControllerMsg::RunNotify { tkey, rsc, vars } => {
                if Some(from) != self.dc {
                    return;
                }
                let rsc = self.history_id(&rsc);
                self.run_local(tkey, rsc, "notify".into(), 0, Some(*vars));
            }
            ControllerMsg::OpDone {
                tkey,
                rsc,
                task,
                interval_ms,
                rc,
                op_status,
                ok,
                lrm_rsc,
                busy,
            } => {
                if self.dc != Some(me) {
                    return;
                }
                self.busy.insert(from, busy);
                if let Some(j) = self.join.as_mut() {
                    // Mid-join: fold the result into the history the node reported.
                    if let (Some((_, Some(l))), Ok(lr)) =
                        (j.replies.get_mut(&from), Element::parse(&lrm_rsc))
                    {
                        let lrs = l.child_or_insert("lrm_resources");
                        lrs.children.retain(|x| x.attr("id") != Some(&rsc));
                        lrs.children.push(lr);
                    }
                    self.graph_result(&tkey, ok);
                    return;
                }
                if !self.joined {
                    return;
                }
                self.op_done(from, &tkey, &rsc, &task, interval_ms, rc, op_status, ok, &lrm_rsc);
            }
        }
    }

    // ---- join

    fn start_join(&mut self) {
        self.join_counter += 1;
        let seq = (u64::from(self.cfg.node_id) << 32) | (self.join_counter & 0xffff_ffff);
        self.dc_seq = seq;
        self.joined = false;
        self.join = Some(JoinRound { seq, started_ms: self.now_ms, replies: BTreeMap::new() });
        self.log(format!("starting join round {seq:#x}"));
        self.send(None, ControllerMsg::JoinOffer { seq });
        // The DC answers its own offer.
        let own = ControllerMsg::JoinReply {
            seq,
            cib: self.cib.to_compact_string(),
            lrm: self.lrm.to_compact_string(),
            busy: self.local_busy(),
        };
        self.self_inbox.push_back((self.cfg.node_id, own));
    }

    fn finish_join(&mut self) {
        let Some(j) = self.join.take() else { return };
        // The highest version wins; ties keep the DC's own copy (it is inserted first).
        let mut best = self.cib.clone();
        for (cib, _) in j.replies.values() {
            if let Some(c) = cib {
                if cib_version(c) > cib_version(&best) {
                    best = c.clone();
                }
            }
        }
        self.cib = best;
        if self.cib.child("configuration").is_none() {
            self.cib.children.insert(0, Element::new("configuration"));
        }
        self.cib.child_or_insert("status");
        self.ensure_nodes();
        let members = self.members.clone();
        for m in &members {
            let lrm = j.replies.get(&m.node_id).and_then(|r| r.1.clone());
            let ns = self.node_state_mut(m.node_id, &m.name);
            if ns.attr("join") != Some("member") {
                // Back from a (clean or fenced) departure: its transient attributes (lifetime
                // "reboot": a finished shutdown, promotion scores of data that may have aged
                // meanwhile, fail counts) went with it, as Pacemaker's attribute manager
                // forgets a node that leaves. Its agents set them again.
                ns.children.retain(|c| c.name != "transient_attributes");
            }
            ns.set_attr("in_ccm", "true");
            ns.set_attr("crmd", "online");
            ns.set_attr("join", "member");
            ns.set_attr("expected", "member");
            if let Some(mut l) = lrm {
                l.set_attr("id", &m.node_id.to_string());
                ns.children.retain(|c| c.name != "lrm");
                ns.children.push(l);
            }
        }
        self.mark_non_members();
        self.cib.set_attr("dc-uuid", &self.cfg.node_id.to_string());
        self.cib.set_attr("have-quorum", if self.quorate { "1" } else { "0" });
        bump_updates(&mut self.cib);
        self.joined = true;
        self.log(format!("join round {:#x} complete, CIB {:?}", j.seq, cib_version(&self.cib)));
        self.publish();
        self.need_schedule = true;
    }

    fn ensure_nodes(&mut self) {
        let members = self.members.clone();
        let conf = self.cib.child_or_insert("configuration");
        let nodes = conf.child_or_insert("nodes");
        let mut added = false;
        for m in &members {
            let id = m.node_id.to_string();
            if !nodes.children.iter().any(|n| n.name == "node" && n.attr("id") == Some(&id)) {
                nodes
                    .children
                    .push(Element::new("node").with_attr("id", &id).with_attr("uname", &m.name));
                added = true;
            }
        }
        if added {
            crate::cib::store::bump_epoch(&mut self.cib);
        }
    }

    fn mark_non_members(&mut self) {
        let ids: BTreeSet<String> = self.members.iter().map(|m| m.node_id.to_string()).collect();
        if let Some(st) = self.cib.child_mut("status") {
            for ns in st.children.iter_mut().filter(|c| c.name == "node_state") {
                if ns.attr("id").map(|i| !ids.contains(i)).unwrap_or(false) {
                    ns.set_attr("in_ccm", "false");
                    ns.set_attr("crmd", "offline");
                    ns.set_attr("join", "down");
                }
            }
        }
    }

    fn node_state_mut(&mut self, id: NodeId, name: &str) -> &mut Element {
        let sid = id.to_string();
        let st = self.cib.child_or_insert("status");
        let pos =
            st.children.iter().position(|c| c.name == "node_state" && c.attr("id") == Some(&sid));
        let pos = match pos {
            Some(p) => p,
            None => {
                st.children.push(
                    Element::new("node_state")
                        .with_attr("id", &sid)
                        .with_attr("uname", name)
                        .with_attr("in_ccm", "false")
                        .with_attr("crmd", "offline")
                        .with_attr("join", "down")
                        .with_attr("expected", "down"),
                );
                st.children.len() - 1
            }
        };
        &mut st.children[pos]
    }

    fn node_state(&self, id: NodeId) -> Option<&Element> {
        let sid = id.to_string();
        self.cib.child("status")?.children_named("node_state").find(|n| n.attr("id") == Some(&sid))
    }

    fn node_id_by_name(&self, name: &str) -> Option<NodeId> {
        if let Some(id) = self.member_id(name) {
            return Some(id);
        }
        let nodes = self.cib.path(&["configuration", "nodes"])?;
        nodes
            .children_named("node")
            .find(|n| n.attr("uname") == Some(name))
            .and_then(|n| n.attr("id"))
            .and_then(|s| s.parse().ok())
    }

    /// Broadcast the DC's copy and persist it.
    fn publish(&mut self) {
        let cib = self.cib.to_compact_string();
        self.emit(Action::WriteCib(self.cib.clone()));
        self.send(None, ControllerMsg::CibReplace { seq: self.dc_seq, cib });
    }

    // ---- CIB changes

    fn apply_change(&mut self, c: CibChange) -> Result<(), RequestError> {
        match c {
            CibChange::ReplaceConfiguration(x) => {
                let e = Element::parse(&x)
                    .map_err(|e| RequestError::BadConfiguration(e.to_string()))?;
                if e.name != "configuration" {
                    return Err(RequestError::BadConfiguration(format!("root is <{}>", e.name)));
                }
                let pos = self.cib.children.iter().position(|c| c.name == "configuration");
                match pos {
                    Some(p) => self.cib.children[p] = e,
                    None => self.cib.children.insert(0, e),
                }
                self.ensure_nodes();
            }
            CibChange::NodeAttr { node, name, value } => {
                let nodes = self
                    .cib
                    .path_mut(&["configuration", "nodes"])
                    .ok_or_else(|| RequestError::NoSuchNode(node.clone()))?;
                let n = nodes
                    .children
                    .iter_mut()
                    .find(|n| n.name == "node" && n.attr("uname") == Some(&node))
                    .ok_or_else(|| RequestError::NoSuchNode(node.clone()))?;
                let nid = n.attr("id").unwrap_or("").to_string();
                set_nvpair(n, &format!("nodes-{nid}"), &name, value.as_deref());
            }
            CibChange::Shutdown { node } => {
                let id = self
                    .node_id_by_name(&node)
                    .ok_or_else(|| RequestError::NoSuchNode(node.clone()))?;
                let now = (self.now_ms / 1000).max(1).to_string();
                self.set_transient(id, &node, "shutdown", Some(&now));
                bump_updates(&mut self.cib);
                self.log(format!("{node} asks to shut down"));
                self.publish();
                self.abort("shutdown request");
                return Ok(());
            }
            CibChange::TransientAttr { node, name, value } => {
                let id = self
                    .node_id_by_name(&node)
                    .ok_or_else(|| RequestError::NoSuchNode(node.clone()))?;
                let same = self
                    .node_state(id)
                    .map(|ns| transient_of(ns, &name) == value.as_deref())
                    .unwrap_or(value.is_none());
                if same {
                    // Unchanged: no new CIB version and no new transition (agents may set the
                    // same score on every monitor).
                    return Ok(());
                }
                self.set_transient(id, &node, &name, value.as_deref());
                bump_updates(&mut self.cib);
                self.log(format!("attribute {name} of {node} set to {value:?}"));
                self.publish();
                self.abort("transient attribute changed");
                return Ok(());
            }
            CibChange::Cleanup { node, rsc } => {
                let id = self
                    .node_id_by_name(&node)
                    .ok_or_else(|| RequestError::NoSuchNode(node.clone()))?;
                let ns = self.node_state_mut(id, &node);
                if let Some(ta) = ns.child_mut("transient_attributes") {
                    for set in ta.children.iter_mut() {
                        set.children.retain(|nv| {
                            let n = nv.attr("name").unwrap_or("");
                            !(n == format!("fail-count-{rsc}")
                                || n.starts_with(&format!("fail-count-{rsc}#"))
                                || n == format!("last-failure-{rsc}")
                                || n.starts_with(&format!("last-failure-{rsc}#")))
                        });
                    }
                }
                if let Some(lrs) = ns.path_mut(&["lrm", "lrm_resources"]) {
                    for lr in lrs.children.iter_mut().filter(|l| l.attr("id") == Some(&rsc)) {
                        lr.children
                            .retain(|op| !op.attr("id").unwrap_or("").ends_with("_last_failure_0"));
                    }
                }
                bump_updates(&mut self.cib);
                self.publish();
                self.abort("cleanup");
                return Ok(());
            }
        }
        crate::cib::store::bump_epoch(&mut self.cib);
        self.log(format!("configuration changed, CIB {:?}", cib_version(&self.cib)));
        self.publish();
        self.abort("configuration changed");
        Ok(())
    }

    fn abort(&mut self, why: &str) {
        if !self.is_dc() {
            return;
        }
        if let Some(g) = self.graph.as_mut() {
            if !g.finished() {
                g.abort();
                self.out_log_abort(why);
            }
        }
        self.need_schedule = true;
    }

    fn out_log_abort(&mut self, why: &str) {
        self.log(format!("transition {} aborted: {why}", self.transition_id));
    }

    // ---- scheduling and dispatch

    fn maybe_schedule(&mut self) -> bool {
        if !self.is_dc() || self.join.is_some() {
            return false;
        }
        let mut progressed = false;
        if let Some(g) = self.graph.as_mut() {
            if g.finished() && !g.followed {
                g.followed = true;
                if g.is_aborted() || g.probes_only {
                    self.need_schedule = true;
                } else if !self.need_schedule {
                    self.transition_complete();
                }
            }
        }
        if let Some(g) = self.graph.as_ref() {
            if !g.finished() {
                return self.dispatch();
            }
        }
        if self.need_schedule && self.retry_at.is_none() {
            let any_busy =
                self.members.iter().any(|m| self.busy.get(&m.node_id).copied().unwrap_or(0) > 0);
            if self.graph.as_ref().map(|g| g.in_flight() > 0).unwrap_or(false) || any_busy {
                return false;
            }
            self.need_schedule = false;
            if !self.start_probes() {
                self.run_scheduler();
            }
            self.dispatch();
            progressed = true;
        }
        progressed
    }

    /// Probes (one-shot monitors expecting "not running") for every configured primitive a
    /// member has no history of, so that the scheduler knows what already runs where. Returns
    /// false when there is nothing to probe.
    fn start_probes(&mut self) -> bool {
        let mut prims = Vec::new();
        if let Some(res) = self.cib.path(&["configuration", "resources"]) {
            res.walk(&mut |e| {
                if e.name == "primitive" {
                    if let Some(id) = e.attr("id") {
                        prims.push(id.to_string());
                    }
                }
            });
        }
        let mut probes = Vec::new();
        for m in &self.members {
            let sid = m.node_id.to_string();
            let known: BTreeSet<String> = self
                .cib
                .child("status")
                .and_then(|st| st.children_named("node_state").find(|n| n.attr("id") == Some(&sid)))
                .and_then(|ns| ns.path(&["lrm", "lrm_resources"]))
                .map(|l| {
                    l.children_named("lrm_resource")
                        .filter_map(|r| r.attr("id"))
                        .map(|s| s.split(':').next().unwrap_or(s).to_string())
                        .collect()
                })
                .unwrap_or_default();
            for p in prims.iter().filter(|p| !known.contains(*p)) {
                probes.push((p.clone(), m.name.clone()));
            }
        }
        if probes.is_empty() {
            return false;
        }
        self.transition_id += 1;
        self.log(format!("transition {}: {} probes", self.transition_id, probes.len()));
        self.graph = Some(Graph::probes(self.transition_id, &probes));
        true
    }

    /// A transition ran to completion: nodes waiting to shut down have nothing left, so their
    /// departure is expected.
    fn transition_complete(&mut self) {
        let mut changed = Vec::new();
        if let Some(st) = self.cib.child_mut("status") {
            for ns in st.children.iter_mut().filter(|c| c.name == "node_state") {
                let wants = transient_of(ns, "shutdown").map(|v| v != "0").unwrap_or(false);
                if wants && ns.attr("expected") != Some("down") {
                    ns.set_attr("expected", "down");
                    changed.push(ns.attr("uname").unwrap_or("").to_string());
                }
            }
        }
        if !changed.is_empty() {
            self.log(format!("shutdown of {changed:?} may proceed"));
            bump_updates(&mut self.cib);
            self.publish();
        }
    }

    fn set_transient(&mut self, id: NodeId, name: &str, key: &str, value: Option<&str>) {
        let set_id = format!("status-{id}");
        let ns = self.node_state_mut(id, name);
        let ta = ns.child_or_insert("transient_attributes");
        ta.set_attr("id", &id.to_string());
        let set = match ta.children.iter().position(|s| s.name == "instance_attributes") {
            Some(p) => &mut ta.children[p],
            None => {
                ta.children.push(Element::new("instance_attributes").with_attr("id", &set_id));
                let l = ta.children.len() - 1;
                &mut ta.children[l]
            }
        };
        set_pair_in_set(set, &set_id, key, value);
    }

    /// Asks the cluster to let this node leave cleanly (see [`CibChange::Shutdown`]); poll
    /// [`Controller::shutdown_complete`] before leaving the group.
    pub fn request_shutdown(&mut self) -> Result<(), RequestError> {
        let node = self.cfg.name.clone();
        self.on_cib_request(CibChange::Shutdown { node })
    }

    /// True when the DC marked this node's departure as expected (after a shutdown request,
    /// once its resources were moved away).
    pub fn shutdown_complete(&self) -> bool {
        let sid = self.cfg.node_id.to_string();
        self.cib
            .child("status")
            .and_then(|st| st.children_named("node_state").find(|n| n.attr("id") == Some(&sid)))
            .map(|ns| {
                ns.attr("expected") == Some("down")
                    && transient_of(ns, "shutdown").map(|v| v != "0").unwrap_or(false)
            })
            .unwrap_or(false)
    }

    fn run_scheduler(&mut self) {
        let input = match SchedulerInput::from_cib(&self.cib, Some((self.now_ms / 1000) as i64)) {
            Ok(i) => i,
            Err(e) => {
                self.log(format!("scheduler input refused: {e}"));
                self.graph = None;
                return;
            }
        };
        let t = schedule(&input);
        self.transition_id += 1;
        let g = Graph::build(self.transition_id, &input, &t);
        if g.actions.len() > MAX_GRAPH_ACTIONS {
            self.log(format!(
                "transition {} too large ({} actions)",
                self.transition_id,
                g.actions.len()
            ));
            self.graph = None;
            return;
        }
        for l in &t.summary {
            self.log(format!("transition {}: {l}", self.transition_id));
        }
        self.graph = Some(g);
    }

    /// Dispatches every ready action; returns true when something changed.
    fn dispatch(&mut self) -> bool {
        let Some(mut g) = self.graph.take() else { return false };
        let mut changed = false;
        let ready = g.ready();
        for i in ready {
            let a = g.actions[i].clone();
            changed = true;
            if a.pseudo || (a.task.contains("_notify_") && a.notify.is_none()) {
                // Pseudo actions complete once their inputs are done (so does a notification
                // outside any clone, which has nobody to notify).
                g.set(i, Step::Done);
                continue;
            }
            if a.task == "fence" {
                let node = a.node.clone().unwrap_or_else(|| a.rsc.clone());
                let action =
                    self.cluster_option("stonith-action").unwrap_or_else(|| "reboot".to_string());
                g.set(i, Step::InFlight);
                g.actions[i].dispatched_ms = self.now_ms;
                self.log(format!("fencing {node} ({action})"));
                self.emit(Action::Fence { node, action });
                continue;
            }
            let target = a.node.as_deref().and_then(|n| self.member_id(n));
            let Some(target) = target else {
                // Not reachable from this partition (e.g. a stop on a lost, unfenced node):
                // blocked, and so is everything after it; no retry until something changes.
                self.log(format!(
                    "{}_{} on {:?} blocked: node not a member",
                    a.rsc, a.task, a.node
                ));
                g.set(i, Step::Failed);
                continue;
            };
            let expected = a.expected_rc;
            let tkey = format!("{i}:{}:{expected}:{}", g.id, self.cfg.node_id);
            g.set(i, Step::InFlight);
            g.actions[i].target = Some(target);
            g.actions[i].dispatched_ms = self.now_ms;
            let msg = match a.notify {
                Some(vars) => {
                    ControllerMsg::RunNotify { tkey, rsc: a.rsc.clone(), vars: Box::new(vars) }
                }
                None => ControllerMsg::RunOp {
                    tkey,
                    rsc: a.rsc.clone(),
                    task: a.task.clone(),
                    interval_ms: a.interval_ms,
                },
            };
            self.send(Some(target), msg);
        }
        self.graph = Some(g);
        changed
    }

    /// The startup wait: the CIB's `dc-deadtime`, else [`Config::startup_wait_ms`] (0 when
    /// the configuration does not wait at all).
    fn startup_wait_ms(&self) -> u64 {
        if self.cfg.startup_wait_ms == 0 {
            return 0;
        }
        self.cluster_option("dc-deadtime")
            .map(|v| crate::scheduler::input::parse_interval(&v, false))
            .unwrap_or(self.cfg.startup_wait_ms)
    }

    fn cluster_option(&self, name: &str) -> Option<String> {
        let cc = self.cib.path(&["configuration", "crm_config"])?;
        for set in cc.children_named("cluster_property_set") {
            for nv in set.children_named("nvpair") {
                if nv.attr("name") == Some(name) {
                    return nv.attr("value").map(|s| s.to_string());
                }
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn op_done(
        &mut self,
        from: NodeId,
        tkey: &str,
        rsc: &str,
        task: &str,
        interval_ms: u64,
        rc: i32,
        op_status: i32,
        ok: bool,
        lrm_rsc: &str,
    ) {
        let name = self.member_name(from).unwrap_or("").to_string();
        // Record the node's history of the resource.
        if let Ok(lr) = Element::parse(lrm_rsc) {
            if lr.name == "lrm_resource" {
                let ns = self.node_state_mut(from, &name);
                let lrm = ns.child_or_insert("lrm");
                lrm.set_attr("id", &from.to_string());
                let lrs = lrm.child_or_insert("lrm_resources");
                match lrs.children.iter().position(|l| l.attr("id") == Some(rsc)) {
                    Some(p) => lrs.children[p] = lr,
                    None => lrs.children.push(lr),
                }
            }
        }
        if !ok && task != "notify" {
            self.add_fail_count(from, &name, rsc, task, interval_ms);
        }
        bump_updates(&mut self.cib);
        self.publish();
        let matched = self.graph_result(tkey, ok);
        self.log(format!(
            "{rsc}_{task}_{interval_ms} on {name}: rc={rc} status={op_status}{}",
            if ok { "" } else { " (failed)" }
        ));
        if !ok {
            self.abort(&format!("{rsc}_{task}_{interval_ms} failed on {name}"));
        } else if !matched {
            // Not a result the running graph waits for (an older transition's, or a recurring
            // monitor's change): the state it was computed from changed.
            self.abort(&format!("unsolicited result {rsc}_{task}_{interval_ms} on {name}"));
        }
    }

    /// Applies a result to the graph action its transition key names; true when it matched
    /// an action waiting for its first result.
    fn graph_result(&mut self, tkey: &str, ok: bool) -> bool {
        let mut parts = tkey.split(':');
        let idx = parts.next().and_then(|s| s.parse::<usize>().ok());
        let gid = parts.next().and_then(|s| s.parse::<u64>().ok());
        if let (Some(idx), Some(gid), Some(g)) = (idx, gid, self.graph.as_mut()) {
            if g.id == gid
                && idx < g.actions.len()
                && g.state[idx] == Step::InFlight
                && !g.actions[idx].reported
            {
                g.actions[idx].reported = true;
                g.set(idx, if ok { Step::Done } else { Step::Failed });
                return true;
            }
        }
        false
    }

    fn add_fail_count(
        &mut self,
        node: NodeId,
        name: &str,
        rsc: &str,
        task: &str,
        interval_ms: u64,
    ) {
        let key = format!("fail-count-{rsc}#{task}_{interval_ms}");
        let last = format!("last-failure-{rsc}#{task}_{interval_ms}");
        let fatal_start = task == "start"
            && self
                .cluster_option("start-failure-is-fatal")
                .map(|v| crate::scheduler::input::is_true(&v))
                .unwrap_or(true);
        let now = (self.now_ms / 1000).to_string();
        let ns = self.node_state_mut(node, name);
        let ta = ns.child_or_insert("transient_attributes");
        ta.set_attr("id", &node.to_string());
        let set_id = format!("status-{node}");
        let cur = ta
            .children
            .iter()
            .flat_map(|s| s.children.iter())
            .find(|nv| nv.attr("name") == Some(&key))
            .and_then(|nv| nv.attr("value"))
            .map(crate::scheduler::score::parse)
            .unwrap_or(0);
        let new = if fatal_start {
            crate::scheduler::score::INFINITY
        } else {
            crate::scheduler::score::add(cur, 1)
        };
        let value = crate::scheduler::score::fmt(new);
        let set = match ta.children.iter().position(|s| s.name == "instance_attributes") {
            Some(p) => &mut ta.children[p],
            None => {
                ta.children.push(Element::new("instance_attributes").with_attr("id", &set_id));
                let l = ta.children.len() - 1;
                &mut ta.children[l]
            }
        };
        set_pair_in_set(set, &set_id, &key, Some(&value));
        set_pair_in_set(set, &set_id, &last, Some(&now));
    }

    fn fence_done(&mut self, node: &str, ok: bool) {
        let mut idx = None;
        if let Some(g) = self.graph.as_ref() {
            idx = g.actions.iter().enumerate().position(|(i, a)| {
                a.task == "fence"
                    && a.node.as_deref().unwrap_or(&a.rsc) == node
                    && g.state[i] == Step::InFlight
            });
        }
        if ok {
            self.log(format!("{node} fenced"));
            if let Some(id) = self.node_id_by_name(node) {
                let ns = self.node_state_mut(id, node);
                ns.set_attr("in_ccm", "false");
                ns.set_attr("crmd", "offline");
                ns.set_attr("join", "down");
                ns.set_attr("expected", "down");
                ns.children.retain(|c| c.name != "lrm" && c.name != "transient_attributes");
            }
            bump_updates(&mut self.cib);
            self.publish();
            if let (Some(i), Some(g)) = (idx, self.graph.as_mut()) {
                g.set(i, Step::Done);
            }
        } else {
            self.log(format!("fencing {node} failed; will retry"));
            if let (Some(i), Some(g)) = (idx, self.graph.as_mut()) {
                g.set(i, Step::Failed);
                g.abort();
            }
            self.need_schedule = true;
            self.retry_at = Some(self.now_ms + self.cfg.fence_retry_ms);
        }
    }

    // ---- local execution

    fn local_busy(&self) -> u32 {
        self.local_ops.values().filter(|o| o.interval_ms == 0 && o.reported.is_none()).count()
            as u32
    }

    /// The id under which a node keeps the history of `rsc`: an instance of an anonymous clone
    /// (`WebData:1`, not `globally-unique`) is recorded under its primitive's id (`WebData`),
    /// as Pacemaker does: instance numbers are the scheduler's, assigned afresh in every
    /// transition, so the same instance may be called `:0` in one and `:1` in the next. With
    /// the number in the history, one node would collect several "instances" of one anonymous
    /// clone and the scheduler would stop the extra ones. Anything else is returned as is.
    fn history_id(&self, rsc: &str) -> String {
        let Some((base, _)) = rsc.split_once(':') else { return rsc.to_string() };
        let Some(res) = self.cib.path(&["configuration", "resources"]) else {
            return rsc.to_string();
        };
        fn find<'a>(
            e: &'a Element,
            id: &str,
            clone: Option<&'a Element>,
        ) -> Option<Option<&'a Element>> {
            for c in &e.children {
                let clone = if c.name == "clone" || c.name == "master" { Some(c) } else { clone };
                if c.name == "primitive" && c.attr("id") == Some(id) {
                    return Some(clone);
                }
                if let Some(found) = find(c, id, clone) {
                    return Some(found);
                }
            }
            None
        }
        let unique = |c: &Element| {
            c.children_named("meta_attributes").any(|m| {
                m.children_named("nvpair").any(|nv| {
                    nv.attr("name") == Some("globally-unique")
                        && matches!(
                            nv.attr("value").map(str::to_ascii_lowercase).as_deref(),
                            Some("true" | "yes" | "1" | "on" | "y")
                        )
                })
            })
        };
        match find(res, base, None) {
            Some(Some(clone)) if !unique(clone) => base.to_string(),
            _ => rsc.to_string(),
        }
    }

    fn build_request(&self, rsc: &str, task: &str, interval_ms: u64) -> Option<AgentRequest> {
        let base = rsc.split(':').next().unwrap_or(rsc);
        let res = self.cib.path(&["configuration", "resources"])?;
        let mut prim = None;
        res.walk(&mut |e| {
            if prim.is_none() && e.name == "primitive" && e.attr("id") == Some(base) {
                prim = Some(e);
            }
        });
        let Some(p) = prim else {
            // An orphan (no longer configured): its agent is known from the local history.
            let lr = self
                .lrm
                .path(&["lrm_resources"])?
                .children_named("lrm_resource")
                .find(|l| l.attr("id") == Some(rsc))?;
            let class = AgentClass::parse(lr.attr("class")?, lr.attr("provider"))?;
            return Some(
                AgentRequest::new(base, class, lr.attr("type")?, task)
                    .with_interval_ms(interval_ms),
            );
        };
        let class = AgentClass::parse(p.attr("class")?, p.attr("provider"))?;
        let mut req =
            AgentRequest::new(base, class, p.attr("type")?, task).with_interval_ms(interval_ms);
        for set in p.children_named("instance_attributes") {
            for nv in set.children_named("nvpair") {
                if let (Some(n), Some(v)) = (nv.attr("name"), nv.attr("value")) {
                    req = req.with_param(n, v);
                }
            }
        }
        if let Some(ops) = p.child("operations") {
            for op in ops.children_named("op") {
                let iv = crate::scheduler::input::parse_interval(
                    op.attr("interval").unwrap_or("0"),
                    false,
                );
                if op.attr("name") == Some(task) && iv == interval_ms {
                    if let Some(t) = op.attr("timeout") {
                        req =
                            req.with_timeout_ms(crate::scheduler::input::parse_interval(t, false));
                    }
                }
            }
        }
        Some(req)
    }

    fn run_local(
        &mut self,
        tkey: String,
        rsc: String,
        task: String,
        interval_ms: u64,
        notify: Option<NotifyVars>,
    ) {
        if task == "cancel" {
            self.cancel_local(tkey, rsc, interval_ms);
            return;
        }
        // A stop (or a new recurring op of the same interval) replaces recurring ops.
        let cancel: Vec<OpKey> = self
            .local_ops
            .iter()
            .filter(|(_, o)| {
                o.rsc == rsc
                    && o.interval_ms > 0
                    && (task == "stop" || (o.task == task && o.interval_ms == interval_ms))
            })
            .map(|(k, _)| *k)
            .collect();
        for k in cancel {
            if let Some(o) = self.local_ops.remove(&k) {
                self.emit(Action::CancelAgent(k));
                let id = format!("{}_{}_{}", o.rsc, o.task, o.interval_ms);
                if let Some(lr) = self.lrm_resource_mut(&o.rsc, None) {
                    lr.children.retain(|c| c.attr("id") != Some(&id));
                }
            }
        }
        let key = OpKey(self.next_key);
        self.next_key += 1;
        let Some(req) = self.build_request(&rsc, &task, interval_ms) else {
            self.local_ops.insert(
                key,
                LocalOp { rsc: rsc.clone(), task: task.clone(), interval_ms, tkey, reported: None },
            );
            let res = OpResult::synthetic(
                OcfExit::NotConfigured,
                ExecStatus::Error,
                "resource not in the local CIB",
            );
            self.local_result(key, &res);
            return;
        };
        let mut req = req;
        req.notify = notify;
        self.local_ops.insert(key, LocalOp { rsc, task, interval_ms, tkey, reported: None });
        self.emit(Action::RunAgent { key, req: Box::new(req) });
    }

    /// A scheduled cancellation: stops the recurring monitor `rsc_monitor_INTERVAL` (if it
    /// runs here), forgets its history entry and reports success to the DC.
    fn cancel_local(&mut self, tkey: String, rsc: String, interval_ms: u64) {
        let keys: Vec<OpKey> = self
            .local_ops
            .iter()
            .filter(|(_, o)| o.rsc == rsc && o.task == "monitor" && o.interval_ms == interval_ms)
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.local_ops.remove(&k);
            self.emit(Action::CancelAgent(k));
        }
        let id = format!("{rsc}_monitor_{interval_ms}");
        let lrm_rsc = match self.lrm_resource_mut(&rsc, None) {
            Some(lr) => {
                lr.children.retain(|c| c.attr("id") != Some(&id));
                lr.to_compact_string()
            }
            None => String::new(),
        };
        let msg = ControllerMsg::OpDone {
            tkey,
            rsc,
            task: "cancel".into(),
            interval_ms,
            rc: 0,
            op_status: 0,
            ok: true,
            lrm_rsc,
            busy: self.local_busy(),
        };
        match self.dc {
            Some(dc) => self.send(Some(dc), msg),
            None => self.log("result kept until a DC is known".into()),
        }
    }

    fn lrm_resource_mut(
        &mut self,
        rsc: &str,
        class: Option<(&str, Option<&str>, &str)>,
    ) -> Option<&mut Element> {
        let lrs = self.lrm.child_or_insert("lrm_resources");
        let pos = match lrs.children.iter().position(|l| l.attr("id") == Some(rsc)) {
            Some(p) => p,
            None => {
                let (c, p, t) = class?;
                let mut e = Element::new("lrm_resource")
                    .with_attr("id", rsc)
                    .with_attr("type", t)
                    .with_attr("class", c);
                if let Some(p) = p {
                    e.set_attr("provider", p);
                }
                lrs.children.push(e);
                lrs.children.len() - 1
            }
        };
        Some(&mut lrs.children[pos])
    }

    fn local_result(&mut self, key: OpKey, res: &OpResult) {
        let Some(op) = self.local_ops.get_mut(&key) else { return };
        let rc = res.rc.code();
        let status = res.status.code();
        if op.interval_ms > 0 && op.reported == Some((rc, status)) {
            return;
        }
        if res.status == ExecStatus::Cancelled {
            return;
        }
        op.reported = Some((rc, status));
        let (rsc, task, interval_ms, tkey) =
            (op.rsc.clone(), op.task.clone(), op.interval_ms, op.tkey.clone());
        if interval_ms == 0 {
            self.local_ops.remove(&key);
        }
        let expected = tkey.split(':').nth(2).and_then(|s| s.parse::<i32>().ok()).unwrap_or(0);
        let outcome = classify(&task, interval_ms, OcfExit::from_code(expected), res);
        let ok = !matches!(outcome, Outcome::Failed(_));
        if !ok {
            // The agent's own words, on the node that ran it (the DC only sees rc/status).
            let tail: Vec<&str> = res.stderr.lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            self.log(format!(
                "{rsc}_{task}_{interval_ms} failed here: rc={rc} status={status} reason={:?}; \
                 stderr: {}",
                res.exit_reason.as_deref().unwrap_or(""),
                tail.join(" | ")
            ));
        }
        self.call_id += 1;
        let call_id = self.call_id;
        let base = rsc.split(':').next().unwrap_or(&rsc).to_string();
        let req = self.build_request(&rsc, &task, interval_ms);
        let class = req.as_ref().map(|r| {
            let prov = match &r.class {
                AgentClass::Ocf { provider } => Some(provider.clone()),
                _ => None,
            };
            (r.class.name().to_string(), prov, r.agent_type.clone())
        });
        let node = self.cfg.name.clone();
        let now = (self.now_ms / 1000).to_string();
        let cls =
            class.clone().unwrap_or_else(|| ("ocf".into(), Some("heartbeat".into()), base.clone()));
        let lr = self
            .lrm_resource_mut(&rsc, Some((&cls.0, cls.1.as_deref(), &cls.2)))
            .expect("created when missing");
        let op_key = format!("{rsc}_{task}_{interval_ms}");
        let mk = |id: &str| {
            Element::new("lrm_rsc_op")
                .with_attr("id", id)
                .with_attr("operation_key", &op_key)
                .with_attr("operation", &task)
                .with_attr("transition-key", &tkey)
                .with_attr("transition-magic", &format!("{status}:{rc};{tkey}"))
                .with_attr("call-id", &call_id.to_string())
                .with_attr("rc-code", &rc.to_string())
                .with_attr("op-status", &status.to_string())
                .with_attr("interval", &interval_ms.to_string())
                .with_attr("last-rc-change", &now)
                .with_attr("exec-time", &res.duration_ms.to_string())
                .with_attr("queue-time", "0")
                .with_attr("on_node", &node)
        };
        // Notifications leave no history (the resource's state is what its other ops say).
        let recorded = task != "notify";
        let id = if interval_ms > 0 { op_key.clone() } else { format!("{rsc}_last_0") };
        let entry = mk(&id);
        match lr.children.iter().position(|c| c.attr("id") == Some(&id)) {
            Some(p) if recorded => lr.children[p] = entry,
            None if recorded => lr.children.push(entry),
            _ => {}
        }
        if !ok && recorded {
            let fid = format!("{rsc}_last_failure_0");
            let entry = mk(&fid);
            match lr.children.iter().position(|c| c.attr("id") == Some(&fid)) {
                Some(p) => lr.children[p] = entry,
                None => lr.children.push(entry),
            }
        }
        let lrm_rsc = lr.to_compact_string();
        let busy = self.local_busy();
        let msg = ControllerMsg::OpDone {
            tkey,
            rsc,
            task,
            interval_ms,
            rc,
            op_status: status,
            ok,
            lrm_rsc,
            busy,
        };
        match self.dc {
            Some(dc) => self.send(Some(dc), msg),
            None => self.log("result kept until a DC is known".into()),
        }
    }
}

fn transient_of<'a>(ns: &'a Element, key: &str) -> Option<&'a str> {
    let ta = ns.child("transient_attributes")?;
    ta.children
        .iter()
        .flat_map(|s| s.children.iter())
        .find(|nv| nv.attr("name") == Some(key))
        .and_then(|nv| nv.attr("value"))
}

fn set_pair_in_set(set: &mut Element, set_id: &str, name: &str, value: Option<&str>) {
    let pos =
        set.children.iter().position(|nv| nv.name == "nvpair" && nv.attr("name") == Some(name));
    match (pos, value) {
        (Some(p), Some(v)) => set.children[p].set_attr("value", v),
        (Some(p), None) => {
            set.children.remove(p);
        }
        (None, Some(v)) => set.children.push(
            Element::new("nvpair")
                .with_attr("id", &format!("{set_id}-{name}"))
                .with_attr("name", name)
                .with_attr("value", v),
        ),
        (None, None) => {}
    }
}

fn set_nvpair(node: &mut Element, set_id: &str, name: &str, value: Option<&str>) {
    let pos = node.children.iter().position(|c| c.name == "instance_attributes");
    let p = match pos {
        Some(p) => p,
        None => {
            node.children.push(Element::new("instance_attributes").with_attr("id", set_id));
            node.children.len() - 1
        }
    };
    set_pair_in_set(&mut node.children[p], set_id, name, value);
}
