//! `clusterd`, the per-node cluster daemon: the real-world driver of the sans-IO
//! [`Controller`].
//!
//! One loop, one thread ([`Daemon::run`]), each round:
//! 1. waits up to [`POLL_MS`] for a membership event (CPG configuration change, votequorum
//!    verdict, group message) and feeds it to the controller;
//! 2. accepts local tool connections on the CIB socket ([`proto`]) and answers them;
//! 3. collects finished agent runs from the [`ProcessRunner`] and re-starts due recurring
//!    monitors;
//! 4. ticks the controller with the monotonic clock and performs every action it emits.
//!
//! # Messages on the group
//! CPG delivers every message to every member, the sender included, while the controller
//! expects broadcasts not to come back and point-to-point sends to reach one node. Each frame
//! therefore starts with a 4-byte big-endian destination node id (0 = everyone) followed by
//! [`ControllerMsg::encode`]; a receiver drops its own frames and those addressed to another
//! node. Frames that do not decode are logged and dropped.
//!
//! # Agents
//! `RunAgent` starts the request on the runner; a request with an interval is recurring: the
//! daemon runs it at once, then every interval after the previous run finished, reporting each
//! result under the same key (the controller records only changes). `CancelAgent` drops the
//! table entry and kills a run in flight; cancelled runs are not reported.
//!
//! # Fencing
//! `Fence` runs the first configured `stonith`-class primitive (its instance attributes as
//! fence options) with the node as target; with none configured, fencing fails at once.
//!
//! # Local tools
//! The socket ([`proto`]) is served inside the loop, one request per connection, at most 16
//! new connections per round, each read with a 2 s timeout (a stalled client delays the loop
//! by that much at most). `REPLACE` is answered once the local copy's `epoch` passed the one
//! seen when the request came in (on the DC at once; elsewhere when the DC's broadcast
//! arrives), or with an error after [`REPLACE_TIMEOUT`]; a concurrent change elsewhere can
//! satisfy that condition first, so the answer means "a newer configuration is here", not
//! "exactly mine".
//!
//! # Clean shutdown
//! `SHUTDOWN` asks the controller to let the node leave ([`Controller::request_shutdown`]);
//! once the DC moved the resources away and marked the departure expected, and no agent run
//! is left, the waiting clients get `OK` and [`Daemon::run`] returns; the caller then leaves
//! the group ([`Daemon::shutdown`]).
//!
//! # State
//! The CIB copy is loaded from `$CLUSTERD_STATE_DIR/cib.xml` (default
//! `/var/lib/pacemaker/cib`) at start, and every `WriteCib` replaces it atomically.

// The driver is real: it reads the monotonic clock.
#![allow(clippy::disallowed_methods)]

pub mod proto;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cib::store::{write_atomic, CIB_DIR_DEFAULT};
use crate::cib::xml::Element;
use crate::controller::{
    cib_version, Action, CibChange, Config, Controller, ControllerMsg, Member, NodeId, OpKey,
};
use crate::exec::{
    AgentClass, AgentRequest, AgentRunner, ExecStatus, OpId, OpResult, ProcessRunner,
};
use crate::membership::{Membership, MembershipError, MembershipEvent};

use proto::{read_frame, write_frame, Request};

/// Longest wait for a membership event per loop round (also the tick period), in ms.
pub const POLL_MS: u64 = 50;
/// How long a `REPLACE` waits for the change to come back from the DC.
pub const REPLACE_TIMEOUT: Duration = Duration::from_secs(20);
/// Most tool requests waiting for their change at once.
pub const MAX_WAITING: usize = 64;
/// Most connections accepted per loop round.
const ACCEPT_PER_ROUND: usize = 16;

/// Errors that end the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The membership layer failed or disconnected.
    #[error("membership: {0}")]
    Membership(String),
    /// A directory or the socket could not be set up.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The saved CIB is unreadable.
    #[error("{path}: {msg}")]
    BadCib {
        /// The file.
        path: PathBuf,
        /// The parse error.
        msg: String,
    },
}

impl From<MembershipError> for DaemonError {
    fn from(e: MembershipError) -> Self {
        DaemonError::Membership(e.to_string())
    }
}

/// Where the daemon keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Directory of `cib.xml` (`CLUSTERD_STATE_DIR`, default `/var/lib/pacemaker/cib`).
    pub state_dir: PathBuf,
    /// Directory of `cib.sock` (`CLUSTERD_RUN_DIR`, default `/run/clusterd`).
    pub run_dir: PathBuf,
}

impl Paths {
    /// The paths selected by the environment.
    pub fn from_env() -> Paths {
        let state_dir = std::env::var("CLUSTERD_STATE_DIR")
            .ok()
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(CIB_DIR_DEFAULT));
        Paths { state_dir, run_dir: proto::run_dir() }
    }

    /// The saved CIB.
    pub fn cib_file(&self) -> PathBuf {
        self.state_dir.join("cib.xml")
    }
}

/// Encodes a group frame: destination (0 = all) then the message.
pub fn encode_frame(to: Option<NodeId>, msg: &ControllerMsg) -> Vec<u8> {
    let mut out = to.unwrap_or(0).to_be_bytes().to_vec();
    out.extend_from_slice(&msg.encode());
    out
}

/// What a received group frame means for node `local`.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    /// A message for this node.
    Deliver(ControllerMsg),
    /// Sent by this node, or addressed to another one.
    Ignore,
    /// Malformed.
    Bad(String),
}

/// Decodes a group frame from `from` as seen by node `local`.
pub fn decode_frame(local: NodeId, from: NodeId, data: &[u8]) -> Inbound {
    if from == local {
        return Inbound::Ignore;
    }
    if data.len() < 4 {
        return Inbound::Bad(format!("frame of {} bytes from node {from}", data.len()));
    }
    let to = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    if to != 0 && to != local {
        return Inbound::Ignore;
    }
    match ControllerMsg::decode(&data[4..]) {
        Ok(m) => Inbound::Deliver(m),
        Err(e) => Inbound::Bad(format!("from node {from}: {e}")),
    }
}

/// The fence request for `node` from the first `stonith` primitive of `cib`, if any.
pub fn fence_request(cib: &Element, node: &str, action: &str) -> Option<AgentRequest> {
    let rscs = cib.path(&["configuration", "resources"])?;
    let mut found = None;
    rscs.walk(&mut |e| {
        if found.is_none() && e.name == "primitive" && e.attr("class") == Some("stonith") {
            found = Some(e);
        }
    });
    let p = found?;
    let mut req = AgentRequest::new(p.id()?, AgentClass::Stonith, p.attr("type")?, action);
    for ia in p.children_named("instance_attributes") {
        for nv in ia.children_named("nvpair") {
            if let (Some(n), Some(v)) = (nv.attr("name"), nv.attr("value")) {
                req = req.with_param(n, v);
            }
        }
    }
    req.fence_target = Some(node.to_string());
    Some(req)
}

enum Run {
    Agent(OpKey),
    Fence(String),
}

struct Recurring {
    req: AgentRequest,
    due_ms: u64,
    running: Option<OpId>,
}

struct Waiting {
    stream: UnixStream,
    epoch: u64,
    deadline: Instant,
}

/// The daemon: a controller wired to a membership, a process runner and the CIB socket.
pub struct Daemon<M: Membership> {
    mem: M,
    ctl: Controller,
    runner: ProcessRunner,
    name: String,
    local: NodeId,
    paths: Paths,
    listener: UnixListener,
    runs: BTreeMap<OpId, Run>,
    recurring: BTreeMap<OpKey, Recurring>,
    waiting: Vec<Waiting>,
    names: BTreeMap<NodeId, String>,
    last_dc: Option<NodeId>,
    /// Connections waiting for the clean shutdown to complete.
    leaving: Vec<UnixStream>,
    /// The clean shutdown completed: [`Daemon::run`] returns.
    done: bool,
    t0: Instant,
    /// Wall-clock time at `t0`, in ms since the epoch: the controller's clock is this plus the
    /// monotonic time elapsed since, so history timestamps (`last-rc-change`) are epoch seconds
    /// as Pacemaker writes them while timeouts never see the wall clock jump.
    epoch_at_t0_ms: u64,
}

impl<M: Membership> Daemon<M> {
    /// Sets up the daemon for node `name` on membership `mem`: loads the saved CIB, creates
    /// the state and run directories and binds the socket (replacing a stale one).
    ///
    /// # Errors
    /// Unreadable saved CIB, directories or socket that cannot be created.
    pub fn new(
        mem: M,
        name: &str,
        paths: Paths,
        runner: ProcessRunner,
    ) -> Result<Daemon<M>, DaemonError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DaemonError::Io { path, source }
        };
        std::fs::create_dir_all(&paths.state_dir).map_err(io(&paths.state_dir))?;
        std::fs::create_dir_all(&paths.run_dir).map_err(io(&paths.run_dir))?;
        std::fs::set_permissions(&paths.run_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(&paths.run_dir))?;
        let file = paths.cib_file();
        let cib = match std::fs::read_to_string(&file) {
            Ok(t) => Some(
                Element::parse(&t)
                    .map_err(|e| DaemonError::BadCib { path: file.clone(), msg: e.to_string() })?,
            ),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(DaemonError::Io { path: file, source: e }),
        };
        let sock = paths.run_dir.join("cib.sock");
        let _ = std::fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).map_err(io(&sock))?;
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
            .map_err(io(&sock))?;
        listener.set_nonblocking(true).map_err(io(&sock))?;
        let local = mem.local_node_id();
        // Pacemaker's default dc-deadtime: wait for the other nodes when starting alone.
        let cfg = Config { startup_wait_ms: 20_000, ..Config::new(local, name) };
        let ctl = Controller::new(cfg, cib);
        let mut d = Daemon {
            mem,
            ctl,
            runner,
            name: name.to_string(),
            local,
            paths,
            listener,
            runs: BTreeMap::new(),
            recurring: BTreeMap::new(),
            waiting: Vec::new(),
            names: BTreeMap::new(),
            last_dc: None,
            leaving: Vec::new(),
            done: false,
            t0: Instant::now(),
            epoch_at_t0_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        };
        // The controller's clock starts at the epoch-based time before any membership event
        // (a join started at 0 would time out on the first tick).
        let now = d.now_ms();
        d.ctl.tick(now);
        d.log(&format!("started as node {local}"));
        Ok(d)
    }

    fn log(&self, s: &str) {
        eprintln!("clusterd[{}]: {s}", self.name);
    }

    fn now_ms(&self) -> u64 {
        self.epoch_at_t0_ms + self.t0.elapsed().as_millis() as u64
    }

    /// The controller (for inspection).
    pub fn controller(&self) -> &Controller {
        &self.ctl
    }

    /// Runs until a clean shutdown completed (`SHUTDOWN` on the socket), or the membership
    /// disconnects or fails.
    ///
    /// # Errors
    /// Membership failure (corosync gone); the daemon must exit.
    pub fn run(&mut self) -> Result<(), DaemonError> {
        while !self.done {
            self.round()?;
        }
        Ok(())
    }

    /// True once a requested clean shutdown completed.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// One loop round (see the module docs).
    ///
    /// # Errors
    /// Membership failure.
    pub fn round(&mut self) -> Result<(), DaemonError> {
        if let Some(ev) = self.mem.next_event(Duration::from_millis(POLL_MS))? {
            self.on_event(ev)?;
            // Drain what else is already queued without waiting.
            for _ in 0..256 {
                match self.mem.next_event(Duration::ZERO)? {
                    Some(ev) => self.on_event(ev)?,
                    None => break,
                }
            }
        }
        self.accept();
        self.collect();
        let now = self.now_ms();
        self.ctl.tick(now);
        self.perform()?;
        self.answer_waiting();
        if !self.leaving.is_empty() && self.ctl.shutdown_complete() && self.runs.is_empty() {
            self.log("shutdown complete, leaving the cluster");
            for mut s in self.leaving.drain(..) {
                let _ = write_frame(&mut s, b"OK\n");
            }
            self.done = true;
        }
        if self.ctl.dc() != self.last_dc {
            self.last_dc = self.ctl.dc();
            match self.last_dc {
                Some(id) => {
                    let dc = self.names.get(&id).cloned().unwrap_or_else(|| id.to_string());
                    self.log(&format!("joined, DC is {dc}"));
                }
                None => self.log("no DC"),
            }
        }
        Ok(())
    }

    fn on_event(&mut self, ev: MembershipEvent) -> Result<(), DaemonError> {
        match ev {
            MembershipEvent::MembersChanged { members, .. } => {
                let mut list: Vec<Member> = Vec::new();
                for m in members {
                    self.names.insert(m.node_id, m.name.clone());
                    if !list.iter().any(|x| x.node_id == m.node_id) {
                        list.push(Member { node_id: m.node_id, name: m.name });
                    }
                }
                let names: Vec<&str> = list.iter().map(|m| m.name.as_str()).collect();
                self.log(&format!("members: {}", names.join(" ")));
                self.ctl.on_membership(&list);
            }
            MembershipEvent::QuorumChanged(q) => {
                self.log(&format!("quorate={} votes={}", q.quorate, q.votes));
                self.ctl.on_quorum(q.quorate);
            }
            MembershipEvent::Message { from, data, .. } => {
                match decode_frame(self.local, from, &data) {
                    Inbound::Deliver(m) => self.ctl.on_message(from, m),
                    Inbound::Ignore => {}
                    Inbound::Bad(why) => self.log(&format!("dropping bad message {why}")),
                }
            }
            MembershipEvent::Disconnected { reason } => {
                self.log(&format!("membership lost: {reason}"));
                return Err(DaemonError::Membership(reason));
            }
        }
        self.perform()
    }

    fn perform(&mut self) -> Result<(), DaemonError> {
        while let Some(a) = self.ctl.poll_action() {
            match a {
                Action::Send { to, msg } => {
                    if let Err(e) = self.mem.send(&encode_frame(to, &msg)) {
                        self.log(&format!("send failed: {e}"));
                        if matches!(e, MembershipError::NotConnected) {
                            return Err(e.into());
                        }
                    }
                }
                Action::RunAgent { key, req } => {
                    if req.interval_ms > 0 {
                        let r = Recurring { req: *req, due_ms: 0, running: None };
                        if let Some(old) = self.recurring.insert(key, r) {
                            if let Some(id) = old.running {
                                self.runner.cancel(id);
                                self.runs.remove(&id);
                            }
                        }
                    } else {
                        let id = self.runner.start(*req);
                        self.runs.insert(id, Run::Agent(key));
                    }
                }
                Action::CancelAgent(key) => {
                    if let Some(r) = self.recurring.remove(&key) {
                        if let Some(id) = r.running {
                            self.runs.remove(&id);
                            self.runner.cancel(id);
                        }
                    }
                    let ids: Vec<OpId> = self
                        .runs
                        .iter()
                        .filter(|(_, r)| matches!(r, Run::Agent(k) if *k == key))
                        .map(|(id, _)| *id)
                        .collect();
                    for id in ids {
                        self.runs.remove(&id);
                        self.runner.cancel(id);
                    }
                }
                Action::Fence { node, action } => {
                    match fence_request(self.ctl.cib(), &node, &action) {
                        Some(req) => {
                            self.log(&format!("fencing {node} ({action}) with {}", req.rsc_id));
                            let id = self.runner.start(req);
                            self.runs.insert(id, Run::Fence(node));
                        }
                        None => {
                            self.log(&format!("cannot fence {node}: no stonith device configured"));
                            self.ctl.on_fence_result(&node, false);
                        }
                    }
                }
                Action::WriteCib(cib) => {
                    let file = self.paths.cib_file();
                    if let Err(e) = write_atomic(&file, cib.to_pretty_string().as_bytes()) {
                        self.log(&format!("cannot save the CIB: {e}"));
                    }
                }
                Action::Log(s) => self.log(&s),
            }
        }
        Ok(())
    }

    fn collect(&mut self) {
        let now = self.now_ms();
        for _ in 0..256 {
            let Some((id, res)) = self.runner.poll_result() else { break };
            match self.runs.remove(&id) {
                Some(Run::Agent(key)) => {
                    if let Some(r) = self.recurring.get_mut(&key) {
                        r.running = None;
                        r.due_ms = now + r.req.interval_ms;
                    }
                    if res.status != ExecStatus::Cancelled {
                        self.ctl.on_agent_result(key, &res);
                    }
                }
                Some(Run::Fence(node)) => {
                    let ok = fence_ok(&res);
                    self.log(&format!("fencing {node}: {}", if ok { "done" } else { "failed" }));
                    self.ctl.on_fence_result(&node, ok);
                }
                None => {}
            }
        }
        let due: Vec<OpKey> = self
            .recurring
            .iter()
            .filter(|(_, r)| r.running.is_none() && r.due_ms <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            if let Some(r) = self.recurring.get_mut(&key) {
                let id = self.runner.start(r.req.clone());
                r.running = Some(id);
                self.runs.insert(id, Run::Agent(key));
            }
        }
    }

    fn accept(&mut self) {
        for _ in 0..ACCEPT_PER_ROUND {
            match self.listener.accept() {
                Ok((s, _)) => self.serve(s),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.log(&format!("socket accept: {e}"));
                    return;
                }
            }
        }
    }

    fn serve(&mut self, mut s: UnixStream) {
        let _ = s.set_nonblocking(false);
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
        let text = match read_frame(&mut s) {
            Ok(t) => t,
            Err(e) => {
                self.log(&format!("socket request unreadable: {e}"));
                return;
            }
        };
        let reply = match Request::parse(&text) {
            None => "ERR unknown request (expected QUERY, REPLACE, CLEANUP, ATTR or SHUTDOWN)"
                .to_string(),
            Some(Request::Cleanup { node, rsc }) => {
                match self.ctl.on_cib_request(CibChange::Cleanup { node, rsc }) {
                    Err(e) => format!("ERR {e}"),
                    Ok(()) => "OK\n".to_string(),
                }
            }
            Some(Request::Attr { node, name, value }) => {
                match self.ctl.on_cib_request(CibChange::TransientAttr { node, name, value }) {
                    Err(e) => format!("ERR {e}"),
                    Ok(()) => {
                        let _ = self.perform();
                        "OK\n".to_string()
                    }
                }
            }
            Some(Request::Shutdown) => {
                if self.leaving.len() >= MAX_WAITING {
                    "ERR too many shutdown requests".to_string()
                } else if self.leaving.is_empty() {
                    match self.ctl.request_shutdown() {
                        Err(e) => format!("ERR {e}"),
                        Ok(()) => {
                            self.log("clean shutdown requested");
                            self.leaving.push(s);
                            let _ = self.perform();
                            return;
                        }
                    }
                } else {
                    self.leaving.push(s);
                    return;
                }
            }
            Some(Request::Query) => format!("OK\n{}", self.ctl.cib().to_pretty_string()),
            Some(Request::Replace(xml)) => {
                let same = Element::parse(&xml)
                    .ok()
                    .is_some_and(|e| Some(&e) == self.ctl.cib().child("configuration"));
                if same {
                    "OK\n".to_string()
                } else if self.waiting.len() >= MAX_WAITING {
                    "ERR too many changes in progress".to_string()
                } else {
                    let epoch = cib_version(self.ctl.cib()).1;
                    match self.ctl.on_cib_request(CibChange::ReplaceConfiguration(xml)) {
                        Err(e) => format!("ERR {e}"),
                        Ok(()) => {
                            self.waiting.push(Waiting {
                                stream: s,
                                epoch,
                                deadline: Instant::now() + REPLACE_TIMEOUT,
                            });
                            let _ = self.perform();
                            return;
                        }
                    }
                }
            }
        };
        let _ = write_frame(&mut s, reply.as_bytes());
    }

    fn answer_waiting(&mut self) {
        let epoch = cib_version(self.ctl.cib()).1;
        let now = Instant::now();
        let mut i = 0;
        while i < self.waiting.len() {
            let w = &self.waiting[i];
            let reply = if epoch > w.epoch {
                "OK\n"
            } else if now >= w.deadline {
                "ERR timed out waiting for the DC to apply the change"
            } else {
                i += 1;
                continue;
            };
            let mut w = self.waiting.swap_remove(i);
            let _ = write_frame(&mut w.stream, reply.as_bytes());
        }
    }

    /// Leaves the group.
    pub fn shutdown(&mut self) {
        let _ = self.mem.shutdown();
        let _ = std::fs::remove_file(self.paths.run_dir.join("cib.sock"));
    }
}

fn fence_ok(res: &OpResult) -> bool {
    res.status == ExecStatus::Done && res.rc.code() == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_filtered_by_sender_and_destination() {
        let m = ControllerMsg::JoinOffer { seq: 7 };
        let all = encode_frame(None, &m);
        let to2 = encode_frame(Some(2), &m);
        assert_eq!(decode_frame(2, 1, &all), Inbound::Deliver(m.clone()));
        assert_eq!(decode_frame(2, 1, &to2), Inbound::Deliver(m.clone()));
        assert_eq!(decode_frame(3, 1, &to2), Inbound::Ignore, "addressed to another node");
        assert_eq!(decode_frame(1, 1, &all), Inbound::Ignore, "own broadcast");
        assert!(matches!(decode_frame(2, 1, &[0, 0]), Inbound::Bad(_)));
        assert!(matches!(decode_frame(2, 1, &[0, 0, 0, 0, 99]), Inbound::Bad(_)));
    }

    #[test]
    fn fence_request_uses_first_stonith_primitive() {
        let cib = Element::parse(
            r#"<cib><configuration><resources>
              <primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/>
              <primitive id="f" class="stonith" type="fence_dummy">
                <instance_attributes id="f-ia"><nvpair id="f-ia-m" name="mode" value="pass"/></instance_attributes>
              </primitive></resources></configuration></cib>"#,
        )
        .unwrap();
        let r = fence_request(&cib, "n2", "reboot").unwrap();
        assert_eq!(r.rsc_id, "f");
        assert_eq!(r.agent_type, "fence_dummy");
        assert_eq!(r.fence_target.as_deref(), Some("n2"));
        assert_eq!(r.params.get("mode").map(String::as_str), Some("pass"));
        let none =
            Element::parse("<cib><configuration><resources/></configuration></cib>").unwrap();
        assert!(fence_request(&none, "n2", "off").is_none());
    }
}
