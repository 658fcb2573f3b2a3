//! [`Membership`] on a real Corosync 3: CPG for the group and its ordered messages,
//! votequorum for quorum, cmap for node names.
//!
//! Mechanism:
//! * `rust-corosync` invokes plain `fn` callbacks while it holds a library-wide lock. Each
//!   callback here only copies its arguments into a [`Raw`] record and hands it to a bounded
//!   channel found through a routing table keyed by a per-connection context number (CPG:
//!   the handle's context, set with `cpg_context_set`; votequorum: the tracking context).
//!   A full channel blocks the callback, which pushes back on corosync instead of dropping
//!   an ordered message.
//! * One thread per library handle runs `dispatch(One)`, which blocks inside the library
//!   until corosync has something for us. The crate cannot hand out a pollable descriptor
//!   without `unsafe`, so blocking threads are the safe way to wait without spinning.
//! * [`CorosyncMembership::next_event`] turns raw records into [`MembershipEvent`]s: node
//!   names from cmap (`nodelist.node.N.name`, else `ring0_addr`), votes and expected votes
//!   from `votequorum_getinfo`. Quorum events are emitted only when the state changed.
//! * Shutdown wakes both threads with a request whose answer is a callback (leaving the CPG
//!   group delivers our own leave; `trackstart(CURRENT)` delivers the current quorum), waits
//!   for them while draining the channel, then finalizes the handles. A thread that does not
//!   come back in time keeps its handle (leaked, never finalized under it).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rust_corosync::{cmap, cpg, votequorum, CsError, DispatchFlags, TrackFlags};

use super::{
    canonical, Departure, LeaveReason, Member, Membership, MembershipError, MembershipEvent,
    NodeId, QuorumState, MAX_MESSAGE,
};

/// Default capacity of the callback-to-consumer channel, in events.
pub const DEFAULT_QUEUE: usize = 4096;

/// How long `send` retries while corosync applies flow control.
const SEND_TRIES: u32 = 400;
const SEND_BACKOFF: Duration = Duration::from_millis(5);

/// How long shutdown waits for the dispatch threads.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

/// A callback's arguments, copied.
#[derive(Debug)]
enum Raw {
    Confchg {
        members: Vec<(u32, u32)>,
        joined: Vec<(u32, u32)>,
        left: Vec<(u32, u32, LeaveReason)>,
    },
    Deliver {
        from: u32,
        pid: u32,
        data: Vec<u8>,
    },
    Quorum {
        quorate: bool,
    },
    NodeList {
        nodes: Vec<u32>,
    },
    Expected,
    Gone {
        what: &'static str,
        err: CsError,
    },
}

/// Context number -> channel of the connection it belongs to.
static ROUTES: Mutex<BTreeMap<u64, SyncSender<Raw>>> = Mutex::new(BTreeMap::new());
static NEXT_CONTEXT: AtomicU64 = AtomicU64::new(1);
/// Count callbacks per library, so a dispatch that returned without one can be told apart.
static CPG_CALLBACKS: AtomicU64 = AtomicU64::new(0);
static VQ_CALLBACKS: AtomicU64 = AtomicU64::new(0);

fn route(counter: &AtomicU64, context: u64, raw: Raw) {
    counter.fetch_add(1, Ordering::SeqCst);
    // Clone the sender and drop the table lock before a possibly blocking send.
    let tx = ROUTES.lock().ok().and_then(|r| r.get(&context).cloned());
    if let Some(tx) = tx {
        // An error only means the consumer is gone (shutdown): nothing to deliver to.
        let _ = tx.send(raw);
    }
}

fn addrs(list: &[cpg::Address]) -> Vec<(u32, u32)> {
    list.iter().map(|a| (u32::from(a.nodeid), a.pid)).collect()
}

fn on_deliver(
    h: &cpg::Handle,
    _group: String,
    from: rust_corosync::NodeId,
    pid: u32,
    msg: &[u8],
    _len: usize,
) {
    if let Ok(ctx) = cpg::context_get(h) {
        route(&CPG_CALLBACKS, ctx, Raw::Deliver { from: u32::from(from), pid, data: msg.to_vec() });
    }
}

fn on_confchg(
    h: &cpg::Handle,
    _group: &str,
    members: Vec<cpg::Address>,
    left: Vec<cpg::Address>,
    joined: Vec<cpg::Address>,
) {
    if let Ok(ctx) = cpg::context_get(h) {
        let left = left
            .iter()
            .map(|a| {
                let reason = match a.reason {
                    cpg::Reason::Leave => LeaveReason::Left,
                    cpg::Reason::ProcDown => LeaveReason::ProcessDown,
                    cpg::Reason::NodeDown => LeaveReason::NodeDown,
                    _ => LeaveReason::Unknown,
                };
                (u32::from(a.nodeid), a.pid, reason)
            })
            .collect();
        let raw = Raw::Confchg { members: addrs(&members), joined: addrs(&joined), left };
        route(&CPG_CALLBACKS, ctx, raw);
    }
}

fn on_quorum(_h: &votequorum::Handle, ctx: u64, quorate: bool, _nodes: Vec<votequorum::Node>) {
    route(&VQ_CALLBACKS, ctx, Raw::Quorum { quorate });
}

fn on_nodelist(
    _h: &votequorum::Handle,
    ctx: u64,
    _ring: votequorum::RingId,
    nodes: Vec<rust_corosync::NodeId>,
) {
    route(&VQ_CALLBACKS, ctx, Raw::NodeList { nodes: nodes.into_iter().map(u32::from).collect() });
}

fn on_expected(_h: &votequorum::Handle, ctx: u64, _expected: u32) {
    route(&VQ_CALLBACKS, ctx, Raw::Expected);
}

fn cs(op: &'static str) -> impl FnOnce(CsError) -> MembershipError {
    move |source| MembershipError::Corosync { op, source }
}

/// Reads `nodelist.node.N.{nodeid,name,ring0_addr}` from cmap: node id -> name.
fn read_names(h: &cmap::Handle) -> Result<BTreeMap<NodeId, String>, MembershipError> {
    #[derive(Default)]
    struct Entry {
        id: Option<u32>,
        name: Option<String>,
        addr: Option<String>,
    }
    let mut entries: BTreeMap<u32, Entry> = BTreeMap::new();
    let iter = cmap::CmapIterStart::new(h, "nodelist.node.").map_err(cs("cmap_iter_init"))?;
    for item in iter {
        let Some(rest) = item.key_name().strip_prefix("nodelist.node.") else { continue };
        let Some((index, field)) = rest.split_once('.') else { continue };
        let Ok(index) = index.parse::<u32>() else { continue };
        let e = entries.entry(index).or_default();
        match (field, item.data()) {
            ("nodeid", cmap::Data::UInt32(v)) => e.id = Some(*v),
            ("nodeid", cmap::Data::String(s)) => e.id = s.trim().parse().ok(),
            ("name", cmap::Data::String(s)) => e.name = Some(s.clone()),
            ("ring0_addr", cmap::Data::String(s)) => e.addr = Some(s.clone()),
            _ => {}
        }
    }
    Ok(entries
        .into_values()
        .filter_map(|e| {
            let id = e.id?;
            let name = e.name.or(e.addr)?;
            Some((id, name))
        })
        .collect())
}

/// The dispatch loop of one library handle.
fn dispatch_loop(
    what: &'static str,
    counter: &'static AtomicU64,
    ctx: u64,
    stop: Arc<AtomicBool>,
    mut dispatch: impl FnMut() -> Result<(), CsError>,
    mut alive: impl FnMut() -> Result<(), CsError>,
) {
    while !stop.load(Ordering::SeqCst) {
        let before = counter.load(Ordering::SeqCst);
        let res = dispatch();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let res = match res {
            // dispatch(One) came back without calling anybody: the library reports a lost
            // connection this way too. Ask corosync something to find out, without spinning.
            Ok(()) if counter.load(Ordering::SeqCst) == before => {
                std::thread::sleep(Duration::from_millis(20));
                alive()
            }
            other => other,
        };
        match res {
            Ok(()) | Err(CsError::CsErrTryAgain) | Err(CsError::CsErrInterrupt) => {}
            Err(err) => {
                route(counter, ctx, Raw::Gone { what, err });
                return;
            }
        }
    }
}

/// What the local corosync says right now, read without joining any group (so a
/// diagnostic tool never shows up in, or perturbs, the daemon's group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// This node's id.
    pub local: NodeId,
    /// Processes in the CPG group asked about, sorted, with node names.
    pub members: Vec<Member>,
    /// votequorum's state from `votequorum_getinfo` (quorate flag, votes of the nodes it
    /// lists as members, expected votes, quorum, options).
    pub quorum: QuorumState,
}

/// Reads the members of CPG group `group` and the quorum state from the local corosync.
pub fn snapshot(group: &str) -> Result<Snapshot, MembershipError> {
    if group.is_empty() || group.len() > 127 || group.contains('\0') {
        return Err(MembershipError::BadGroupName(group.to_string()));
    }
    let cmap_h = cmap::initialize(cmap::Map::Icmap).map_err(cs("cmap_initialize"))?;
    let names = read_names(&cmap_h)?;
    let model = cpg::ModelData::ModelV1(cpg::Model1Data {
        flags: cpg::Model1Flags::None,
        deliver_fn: None,
        confchg_fn: None,
        totem_confchg_fn: None,
    });
    let cpg_h = cpg::initialize(&model, 0).map_err(cs("cpg_initialize"))?;
    let local = u32::from(cpg::local_get(&cpg_h).map_err(cs("cpg_local_get"))?);
    let iter = cpg::CpgIterStart::new(&cpg_h, group, cpg::CpgIterType::OneGroup)
        .map_err(cs("cpg_iteration_initialize"))?;
    let name = |id: NodeId| names.get(&id).cloned().unwrap_or_else(|| id.to_string());
    let members = canonical(
        iter.into_iter()
            .filter(|i| i.group == group)
            .map(|i| {
                let id = u32::from(i.nodeid);
                Member { node_id: id, name: name(id), pid: i.pid }
            })
            .collect(),
    );
    let vq = votequorum::initialize(&votequorum::Callbacks {
        quorum_notification_fn: None,
        nodelist_notification_fn: None,
        expectedvotes_notification_fn: None,
    })
    .map_err(cs("votequorum_initialize"))?;
    let info = votequorum::get_info(&vq, rust_corosync::NodeId::from(local))
        .map_err(cs("votequorum_getinfo"))?;
    let mut ids: Vec<NodeId> = names.keys().copied().collect();
    if !ids.contains(&local) {
        ids.push(local);
    }
    let mut nodes = Vec::new();
    let mut votes = 0;
    for id in ids {
        if let Ok(i) = votequorum::get_info(&vq, rust_corosync::NodeId::from(id)) {
            if matches!(i.node_state, votequorum::NodeState::Member) {
                nodes.push(id);
                votes += i.node_votes;
            }
        }
    }
    nodes.sort_unstable();
    let flags = info.flags;
    use votequorum::NodeInfoFlags as F;
    let quorum = QuorumState {
        quorate: flags.contains(F::VOTEQUORUM_INFO_QUORATE),
        votes,
        expected: info.node_expected_votes,
        quorum: info.quorum,
        two_node: flags.contains(F::VOTEQUORUM_INFO_TWONODE),
        wait_for_all: flags.contains(F::VOTEQUORUM_INFO_WAIT_FOR_ALL),
        nodes,
    };
    Ok(Snapshot { local, members, quorum })
}

/// A process's membership in one CPG group on the local corosync.
pub struct CorosyncMembership {
    group: String,
    ctx: u64,
    local: NodeId,
    cpg: Option<cpg::Handle>,
    vq: Option<votequorum::Handle>,
    cmap: Option<cmap::Handle>,
    rx: Option<Receiver<Raw>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    names: BTreeMap<NodeId, String>,
    members: Vec<Member>,
    vq_quorate: Option<bool>,
    vq_nodes: Vec<NodeId>,
    quorum: Option<QuorumState>,
    lost: bool,
}

impl std::fmt::Debug for CorosyncMembership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorosyncMembership")
            .field("group", &self.group)
            .field("local", &self.local)
            .field("members", &self.members)
            .field("quorum", &self.quorum)
            .field("connected", &self.rx.is_some())
            .finish()
    }
}

impl CorosyncMembership {
    /// Connects to the local corosync and joins CPG group `group`, with the default queue.
    pub fn connect(group: &str) -> Result<Self, MembershipError> {
        Self::connect_with(group, DEFAULT_QUEUE)
    }

    /// Connects and joins `group`; at most `queue` events wait between corosync and
    /// [`Membership::next_event`] (when full, corosync is made to wait).
    pub fn connect_with(group: &str, queue: usize) -> Result<Self, MembershipError> {
        if group.is_empty() || group.len() > 127 || group.contains('\0') {
            return Err(MembershipError::BadGroupName(group.to_string()));
        }
        let ctx = NEXT_CONTEXT.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = sync_channel(queue.max(1));
        ROUTES.lock().unwrap_or_else(|p| p.into_inner()).insert(ctx, tx);
        match Self::open(group, ctx, rx) {
            Ok(m) => Ok(m),
            Err(e) => {
                ROUTES.lock().unwrap_or_else(|p| p.into_inner()).remove(&ctx);
                Err(e)
            }
        }
    }

    fn open(group: &str, ctx: u64, rx: Receiver<Raw>) -> Result<Self, MembershipError> {
        // Handles are finalized by their Drop if anything below fails.
        let cmap_h = cmap::initialize(cmap::Map::Icmap).map_err(cs("cmap_initialize"))?;
        let names = read_names(&cmap_h)?;
        let model = cpg::ModelData::ModelV1(cpg::Model1Data {
            flags: cpg::Model1Flags::None,
            deliver_fn: Some(on_deliver),
            confchg_fn: Some(on_confchg),
            totem_confchg_fn: None,
        });
        let cpg_h = cpg::initialize(&model, ctx).map_err(cs("cpg_initialize"))?;
        cpg::context_set(&cpg_h, ctx).map_err(cs("cpg_context_set"))?;
        let local = u32::from(cpg::local_get(&cpg_h).map_err(cs("cpg_local_get"))?);
        let vq_h = votequorum::initialize(&votequorum::Callbacks {
            quorum_notification_fn: Some(on_quorum),
            nodelist_notification_fn: Some(on_nodelist),
            expectedvotes_notification_fn: Some(on_expected),
        })
        .map_err(cs("votequorum_initialize"))?;
        // CHANGES also sends the current state right away.
        votequorum::trackstart(&vq_h, ctx, TrackFlags::Changes)
            .map_err(cs("votequorum_trackstart"))?;
        cpg::join(&cpg_h, group).map_err(cs("cpg_join"))?;

        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::with_capacity(2);
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().name(name.to_string()).spawn(f).map_err(|_| {
                MembershipError::Corosync { op: "spawn", source: CsError::CsErrNoResources }
            })
        };
        {
            let (h1, h2, stop) = (cpg_h.clone(), cpg_h.clone(), stop.clone());
            threads.push(spawn(
                "cpg-dispatch",
                Box::new(move || {
                    dispatch_loop(
                        "cpg",
                        &CPG_CALLBACKS,
                        ctx,
                        stop,
                        || cpg::dispatch(&h1, DispatchFlags::One),
                        || cpg::local_get(&h2).map(|_| ()),
                    )
                }),
            )?);
        }
        {
            let (h1, h2, stop) = (vq_h.clone(), vq_h.clone(), stop.clone());
            let local_id = rust_corosync::NodeId::from(local);
            threads.push(spawn(
                "votequorum-dispatch",
                Box::new(move || {
                    dispatch_loop(
                        "votequorum",
                        &VQ_CALLBACKS,
                        ctx,
                        stop,
                        || votequorum::dispatch(&h1, DispatchFlags::One),
                        || votequorum::get_info(&h2, local_id).map(|_| ()),
                    )
                }),
            )?);
        }
        Ok(CorosyncMembership {
            group: group.to_string(),
            ctx,
            local,
            cpg: Some(cpg_h),
            vq: Some(vq_h),
            cmap: Some(cmap_h),
            rx: Some(rx),
            stop,
            threads,
            names,
            members: Vec::new(),
            vq_quorate: None,
            vq_nodes: Vec::new(),
            quorum: None,
            lost: false,
        })
    }

    /// The CPG group name.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The name of node `id` as configured (`nodelist.node.N.name`, else `ring0_addr`), or
    /// its decimal id when corosync.conf does not list it.
    pub fn node_name(&mut self, id: NodeId) -> String {
        if !self.names.contains_key(&id) {
            // A node added at runtime (config reload): read the nodelist again.
            if let Some(Ok(names)) = self.cmap.as_ref().map(read_names) {
                self.names = names;
            }
        }
        self.names.get(&id).cloned().unwrap_or_else(|| id.to_string())
    }

    fn members_of(&mut self, list: &[(u32, u32)]) -> Vec<Member> {
        let v = list
            .iter()
            .map(|&(node_id, pid)| Member { node_id, name: self.node_name(node_id), pid })
            .collect();
        canonical(v)
    }

    fn quorum_state(&self) -> Option<QuorumState> {
        let quorate = self.vq_quorate?;
        let vq = self.vq.as_ref()?;
        let info = votequorum::get_info(vq, rust_corosync::NodeId::from(self.local)).ok()?;
        let votes = self
            .vq_nodes
            .iter()
            .filter_map(|&id| votequorum::get_info(vq, rust_corosync::NodeId::from(id)).ok())
            .map(|i| i.node_votes)
            .sum();
        let flags = info.flags;
        Some(QuorumState {
            quorate,
            votes,
            expected: info.node_expected_votes,
            quorum: info.quorum,
            two_node: flags.contains(votequorum::NodeInfoFlags::VOTEQUORUM_INFO_TWONODE),
            wait_for_all: flags.contains(votequorum::NodeInfoFlags::VOTEQUORUM_INFO_WAIT_FOR_ALL),
            nodes: self.vq_nodes.clone(),
        })
    }

    fn quorum_event(&mut self) -> Option<MembershipEvent> {
        let q = self.quorum_state()?;
        if self.quorum.as_ref() == Some(&q) {
            return None;
        }
        self.quorum = Some(q.clone());
        Some(MembershipEvent::QuorumChanged(q))
    }

    fn translate(&mut self, raw: Raw) -> Option<MembershipEvent> {
        match raw {
            Raw::Confchg { members, joined, left } => {
                let members = self.members_of(&members);
                let joined = self.members_of(&joined);
                let mut left: Vec<Departure> = left
                    .into_iter()
                    .map(|(node_id, pid, reason)| Departure {
                        member: Member { node_id, name: self.node_name(node_id), pid },
                        reason,
                    })
                    .collect();
                left.sort();
                self.members = members.clone();
                Some(MembershipEvent::MembersChanged { members, joined, left })
            }
            Raw::Deliver { from, pid, data } => Some(MembershipEvent::Message { from, pid, data }),
            Raw::Quorum { quorate } => {
                self.vq_quorate = Some(quorate);
                self.quorum_event()
            }
            Raw::NodeList { mut nodes } => {
                nodes.sort_unstable();
                nodes.dedup();
                self.vq_nodes = nodes;
                self.quorum_event()
            }
            Raw::Expected => self.quorum_event(),
            Raw::Gone { what, err } => {
                self.lost = true;
                self.stop.store(true, Ordering::SeqCst);
                Some(MembershipEvent::Disconnected { reason: format!("{what} dispatch: {err}") })
            }
        }
    }

    /// Leaves, stops the threads, finalizes. False if a thread did not stop in time.
    fn close(&mut self) -> bool {
        if self.rx.is_none() {
            return true;
        }
        self.stop.store(true, Ordering::SeqCst);
        // Wake both dispatch threads with requests that produce a callback.
        if let Some(h) = &self.cpg {
            let _ = cpg::leave(h, &self.group);
        }
        if let Some(h) = &self.vq {
            let _ = votequorum::trackstart(h, self.ctx, TrackFlags::Current);
        }
        #[allow(clippy::disallowed_methods)] // real effect implementation: a wall-clock bound
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        loop {
            if let Some(rx) = &self.rx {
                while rx.try_recv().is_ok() {}
            }
            if self.threads.iter().all(|t| t.is_finished()) {
                break;
            }
            #[allow(clippy::disallowed_methods)]
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        ROUTES.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.ctx);
        self.rx = None;
        let all_done = self.threads.iter().all(|t| t.is_finished());
        for t in self.threads.drain(..) {
            if t.is_finished() {
                let _ = t.join();
            }
        }
        if all_done {
            // Dropping the original handles finalizes them.
            self.cpg = None;
            self.vq = None;
        } else {
            // A dispatch thread is still inside the library: never finalize under it.
            std::mem::forget(self.cpg.take());
            std::mem::forget(self.vq.take());
        }
        self.cmap = None;
        all_done
    }
}

impl Membership for CorosyncMembership {
    fn local_node_id(&self) -> NodeId {
        self.local
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), MembershipError> {
        if msg.len() > MAX_MESSAGE {
            return Err(MembershipError::TooLarge { len: msg.len(), max: MAX_MESSAGE });
        }
        if self.lost || self.rx.is_none() {
            return Err(MembershipError::NotConnected);
        }
        let h = self.cpg.as_ref().ok_or(MembershipError::NotConnected)?;
        for _ in 0..SEND_TRIES {
            match cpg::mcast_joined(h, cpg::Guarantee::TypeAgreed, msg) {
                Ok(()) => return Ok(()),
                Err(CsError::CsErrTryAgain) => std::thread::sleep(SEND_BACKOFF),
                Err(source) => {
                    return Err(MembershipError::Corosync { op: "cpg_mcast_joined", source })
                }
            }
        }
        Err(MembershipError::Busy { tries: SEND_TRIES })
    }

    fn next_event(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<MembershipEvent>, MembershipError> {
        if self.lost {
            return Err(MembershipError::NotConnected);
        }
        #[allow(clippy::disallowed_methods)] // real effect implementation: a wall-clock bound
        let deadline = Instant::now() + timeout;
        loop {
            let rx = self.rx.as_ref().ok_or(MembershipError::NotConnected)?;
            #[allow(clippy::disallowed_methods)]
            let left = deadline.saturating_duration_since(Instant::now());
            let raw = if left.is_zero() {
                match rx.try_recv() {
                    Ok(raw) => raw,
                    Err(TryRecvError::Empty) => return Ok(None),
                    Err(TryRecvError::Disconnected) => return Err(MembershipError::NotConnected),
                }
            } else {
                match rx.recv_timeout(left) {
                    Ok(raw) => raw,
                    Err(RecvTimeoutError::Timeout) => return Ok(None),
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(MembershipError::NotConnected)
                    }
                }
            };
            if let Some(ev) = self.translate(raw) {
                return Ok(Some(ev));
            }
        }
    }

    fn members(&self) -> &[Member] {
        &self.members
    }

    fn quorum(&self) -> Option<&QuorumState> {
        self.quorum.as_ref()
    }

    fn shutdown(&mut self) -> Result<(), MembershipError> {
        if self.close() {
            Ok(())
        } else {
            Err(MembershipError::ShutdownIncomplete(SHUTDOWN_WAIT))
        }
    }
}

impl Drop for CorosyncMembership {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The controller moves its membership into its own thread.
    #[test]
    fn corosync_membership_is_send() {
        fn send<T: Send>() {}
        send::<CorosyncMembership>();
    }
}
