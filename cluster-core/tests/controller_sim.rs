//! Controllers of 2–3 nodes wired by an in-memory bus (messages go through the byte
//! encoding), with in-process agents whose results the tests choose. Everything is
//! deterministic and single-threaded; time advances only when nothing else is pending.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cluster_core::cib::xml::Element;
use cluster_core::controller::{
    cib_version, Action, CibChange, Config, Controller, ControllerMsg, Member, NodeId, OpKey, Step,
};
use cluster_core::exec::sim::done;
use cluster_core::exec::types::{AgentRequest, OcfExit};

const WALKTHROUGH: &str = r#"<cib admin_epoch="0" epoch="5" num_updates="0" validate-with="pacemaker-3.9" crm_feature_set="3.16.1">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="opt-stonith" name="stonith-enabled" value="STONITH"/>
        <nvpair id="opt-quorum" name="no-quorum-policy" value="ignore"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources>
      FENCE
      <primitive id="ClusterIP" class="ocf" provider="heartbeat" type="IPaddr2">
        <instance_attributes id="ClusterIP-ia">
          <nvpair id="ClusterIP-ip" name="ip" value="10.213.7.50"/>
          <nvpair id="ClusterIP-mask" name="cidr_netmask" value="24"/>
        </instance_attributes>
        <operations>
          <op id="ClusterIP-monitor-30s" name="monitor" interval="30s"/>
        </operations>
      </primitive>
      <primitive id="WebSite" class="ocf" provider="heartbeat" type="apache">
        <instance_attributes id="WebSite-ia">
          <nvpair id="WebSite-conf" name="configfile" value="/etc/apache2/apache2.conf"/>
        </instance_attributes>
        <operations>
          <op id="WebSite-monitor-1min" name="monitor" interval="1min"/>
        </operations>
      </primitive>
    </resources>
    <constraints>
      <rsc_colocation id="website-with-ip" rsc="WebSite" with-rsc="ClusterIP" score="INFINITY"/>
      <rsc_order id="apache-after-ip" first="ClusterIP" then="WebSite" kind="Mandatory"/>
    </constraints>
  </configuration>
  <status/>
</cib>"#;

const FENCE_RSC: &str = r#"<primitive id="fence-all" class="stonith" type="fence_dummy">
        <operations><op id="fence-all-monitor" name="monitor" interval="60s"/></operations>
      </primitive>"#;

fn walkthrough(stonith: bool) -> Element {
    let x = WALKTHROUGH
        .replace("STONITH", if stonith { "true" } else { "false" })
        .replace("FENCE", if stonith { FENCE_RSC } else { "" });
    Element::parse(&x).unwrap()
}

/// Tiny xorshift PRNG for the randomized test.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct SimNode {
    id: NodeId,
    name: String,
    ctl: Controller,
    /// In the group and running.
    up: bool,
    /// Network partition label: only nodes with the same label see each other.
    part: u32,
    /// Resources physically active on the machine (survives isolation, not fencing).
    running: BTreeSet<String>,
    /// Recurring ops the driver keeps repeating.
    recurring: BTreeMap<OpKey, AgentRequest>,
    written: Option<Element>,
}

#[derive(Default)]
struct Trace {
    /// (node, rsc, action, interval) of every agent run, in order.
    runs: Vec<(String, String, String, u64)>,
    fences: Vec<String>,
    /// Every notify run.
    notifies: Vec<NotifyRun>,
}

/// (node, notify type, operation, instances started with their nodes).
type NotifyRun = (String, String, String, Vec<(String, String)>);

struct Sim {
    nodes: Vec<SimNode>,
    bus: VecDeque<(NodeId, NodeId, Vec<u8>)>,
    results: VecDeque<(usize, OpKey, OcfExit)>,
    fences: VecDeque<String>,
    hold_fences: bool,
    held: Vec<String>,
    /// (node name, rsc, action) → rc to return instead of the natural one, once.
    inject: Vec<(String, String, String, OcfExit)>,
    now: u64,
    trace: Trace,
    /// Checked after every step.
    check_physical: bool,
    /// The next RunOp of (rsc, task) is lost on the wire.
    lose_runop: Option<(String, String)>,
}

fn member_list(nodes: &[SimNode], ids: &[NodeId]) -> Vec<Member> {
    nodes
        .iter()
        .filter(|n| ids.contains(&n.id))
        .map(|n| Member { node_id: n.id, name: n.name.clone() })
        .collect()
}

impl Sim {
    fn new(n: usize, cib_on: &[(usize, Element)]) -> Sim {
        let mut nodes = Vec::new();
        for i in 0..n {
            let id = i as NodeId + 1;
            let name = format!("node{id}");
            let cib = cib_on.iter().find(|(j, _)| *j == i).map(|(_, c)| c.clone());
            nodes.push(SimNode {
                id,
                name: name.clone(),
                ctl: Controller::new(Config::new(id, &name), cib),
                up: true,
                part: 0,
                running: BTreeSet::new(),
                recurring: BTreeMap::new(),
                written: None,
            });
        }
        let mut s = Sim {
            nodes,
            bus: VecDeque::new(),
            results: VecDeque::new(),
            fences: VecDeque::new(),
            hold_fences: false,
            held: Vec::new(),
            inject: Vec::new(),
            now: 0,
            trace: Trace::default(),
            check_physical: true,
            lose_runop: None,
        };
        s.membership();
        s
    }

    fn part_ids(&self, part: u32) -> Vec<NodeId> {
        self.nodes.iter().filter(|n| n.up && n.part == part).map(|n| n.id).collect()
    }

    fn sees(&self, a: NodeId, b: NodeId) -> bool {
        let (x, y) = (&self.nodes[self.idx(a)], &self.nodes[self.idx(b)]);
        x.up && y.up && x.part == y.part
    }

    /// Delivers the current membership of every partition (the up nodes with one label).
    fn membership(&mut self) {
        self.collect();
        let parts: BTreeSet<u32> = self.nodes.iter().filter(|n| n.up).map(|n| n.part).collect();
        for p in parts {
            let ids = self.part_ids(p);
            let members = member_list(&self.nodes, &ids);
            let q = ids.len() * 2 > self.nodes.len();
            for i in 0..self.nodes.len() {
                if self.nodes[i].up && self.nodes[i].part == p {
                    self.nodes[i].ctl.on_membership(&members);
                    self.collect();
                    self.nodes[i].ctl.on_quorum(q);
                    self.collect();
                }
            }
        }
        let bus = std::mem::take(&mut self.bus);
        self.bus = bus.into_iter().filter(|(f, t, _)| self.sees(*f, *t)).collect();
    }

    fn idx(&self, id: NodeId) -> usize {
        self.nodes.iter().position(|n| n.id == id).unwrap()
    }

    fn by_name(&self, name: &str) -> usize {
        self.nodes.iter().position(|n| n.name == name).unwrap()
    }

    /// Moves every node's outputs to the bus / agents / fencer.
    fn collect(&mut self) {
        for i in 0..self.nodes.len() {
            if !self.nodes[i].up {
                continue;
            }
            while let Some(a) = self.nodes[i].ctl.poll_action() {
                self.output(i, a);
            }
        }
    }

    fn output(&mut self, i: usize, a: Action) {
        let from = self.nodes[i].id;
        match a {
            Action::Send { to, msg } => {
                if let ControllerMsg::RunOp { tkey, rsc, task, .. } = &msg {
                    check_graph_order(&self.nodes[i].ctl, tkey);
                    if self.lose_runop.as_ref() == Some(&(rsc.clone(), task.clone())) {
                        self.lose_runop = None;
                        return;
                    }
                }
                let bytes = msg.encode();
                match to {
                    Some(t) => self.bus.push_back((from, t, bytes)),
                    None => {
                        let part = self.nodes[i].part;
                        for n in
                            self.nodes.iter().filter(|n| n.up && n.id != from && n.part == part)
                        {
                            self.bus.push_back((from, n.id, bytes.clone()));
                        }
                    }
                }
            }
            Action::RunAgent { key, req } => {
                let node = &mut self.nodes[i];
                assert!(node.up, "agent run on a node out of the group");
                if req.action == "start" {
                    // The DC counted this node as a joined member (never unclean).
                    let sid = node.id.to_string();
                    let cib = node.ctl.cib();
                    let ns = cib
                        .child("status")
                        .and_then(|st| {
                            st.children_named("node_state").find(|n| n.attr("id") == Some(&sid))
                        })
                        .expect("node_state of a node starting something");
                    assert_eq!(ns.attr("in_ccm"), Some("true"), "start on {}", node.name);
                    assert_eq!(ns.attr("join"), Some("member"), "start on {}", node.name);
                }
                if let Some(v) = &req.notify {
                    self.trace.notifies.push((
                        node.name.clone(),
                        v.notify_type.clone(),
                        v.operation.clone(),
                        v.start.clone(),
                    ));
                }
                self.trace.runs.push((
                    node.name.clone(),
                    req.rsc_id.clone(),
                    req.action.clone(),
                    req.interval_ms,
                ));
                let inj = self.inject.iter().position(|(n, r, a, _)| {
                    *n == node.name && *r == req.rsc_id && *a == req.action
                });
                let rc = if let Some(p) = inj {
                    self.inject.remove(p).3
                } else {
                    match req.action.as_str() {
                        "start" => OcfExit::Ok,
                        "stop" => OcfExit::Ok,
                        "monitor" if node.running.contains(&req.rsc_id) => OcfExit::Ok,
                        "monitor" => OcfExit::NotRunning,
                        _ => OcfExit::Ok,
                    }
                };
                match (req.action.as_str(), rc) {
                    ("start", OcfExit::Ok) => {
                        node.running.insert(req.rsc_id.clone());
                    }
                    ("stop", OcfExit::Ok) => {
                        node.running.remove(&req.rsc_id);
                    }
                    _ => {}
                }
                if req.interval_ms > 0 {
                    node.recurring.insert(key, *req);
                }
                self.results.push_back((i, key, rc));
            }
            Action::CancelAgent(k) => {
                self.nodes[i].recurring.remove(&k);
            }
            Action::Fence { node, .. } => {
                self.trace.fences.push(node.clone());
                self.fences.push_back(node);
            }
            Action::WriteCib(c) => self.nodes[i].written = Some(c),
            Action::Log(l) => {
                if std::env::var("SIMLOG").is_ok() {
                    eprintln!("{l}")
                }
            }
        }
    }

    fn fence_now(&mut self, target: &str) {
        let t = self.by_name(target);
        self.nodes[t].running.clear();
        self.nodes[t].recurring.clear();
        if self.nodes[t].up {
            self.nodes[t].up = false;
            self.membership();
        }
        // The node reboots with its controller's memory gone.
        let (id, name) = (self.nodes[t].id, self.nodes[t].name.clone());
        let cib = self.nodes[t].written.clone();
        self.nodes[t].ctl = Controller::new(Config::new(id, &name), cib);
        for n in self.nodes.iter_mut().filter(|n| n.up) {
            if n.ctl.is_dc() {
                n.ctl.on_fence_result(target, true);
            }
        }
    }

    /// One delivery; false when nothing was pending.
    fn step(&mut self) -> bool {
        self.collect();
        if let Some((from, to, bytes)) = self.bus.pop_front() {
            let t = self.idx(to);
            if self.sees(from, to) {
                let msg = ControllerMsg::decode(&bytes).expect("decodes");
                self.nodes[t].ctl.on_message(from, msg);
            }
            return true;
        }
        if let Some((i, key, rc)) = self.results.pop_front() {
            if self.nodes[i].up {
                self.nodes[i].ctl.on_agent_result(key, &done(rc));
            }
            return true;
        }
        if !self.hold_fences {
            if let Some(f) = self.fences.pop_front() {
                self.fence_now(&f);
                return true;
            }
        } else if let Some(f) = self.fences.pop_front() {
            self.held.push(f);
            return true;
        }
        false
    }

    fn check(&self) {
        if !self.check_physical {
            return;
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for n in &self.nodes {
            for r in &n.running {
                if let Some(other) = seen.insert(r, &n.name) {
                    panic!("{r} active on {other} and {}", n.name);
                }
            }
        }
    }

    /// Runs until nothing is pending and the DC is idle, advancing time when stuck.
    fn settle(&mut self) {
        for _ in 0..200 {
            let mut steps = 0;
            while self.step() {
                self.check();
                steps += 1;
                assert!(steps < 100_000, "no convergence");
            }
            let idle = self.nodes.iter().filter(|n| n.up).any(|n| n.ctl.is_idle());
            if idle {
                return;
            }
            self.now += 1_000;
            for n in self.nodes.iter_mut().filter(|n| n.up) {
                n.ctl.tick(self.now);
            }
        }
        panic!("cluster did not settle");
    }

    /// The recurring monitor of `rsc` on `node` reports `rc`.
    fn monitor_reports(&mut self, node: &str, rsc: &str, rc: OcfExit) {
        let i = self.by_name(node);
        if rc != OcfExit::Ok {
            self.nodes[i].running.remove(rsc);
        }
        let key = *self.nodes[i]
            .recurring
            .iter()
            .find(|(_, r)| r.rsc_id == rsc)
            .map(|(k, _)| k)
            .expect("a recurring monitor runs");
        self.results.push_back((i, key, rc));
    }

    fn dc_ids(&self) -> BTreeSet<Option<NodeId>> {
        self.nodes.iter().filter(|n| n.up).map(|n| n.ctl.dc()).collect()
    }

    fn dc_ids_in(&self, part: u32) -> BTreeSet<Option<NodeId>> {
        self.nodes.iter().filter(|n| n.up && n.part == part).map(|n| n.ctl.dc()).collect()
    }

    fn where_running(&self, rsc: &str) -> Vec<String> {
        self.nodes.iter().filter(|n| n.running.contains(rsc)).map(|n| n.name.clone()).collect()
    }

    fn run_index(&self, node: &str, rsc: &str, action: &str) -> Option<usize> {
        self.trace
            .runs
            .iter()
            .position(|(n, r, a, i)| n == node && r == rsc && a == action && *i == 0)
    }
}

/// When the DC dispatches action `i` of its graph, every predecessor is done.
fn check_graph_order(dc: &Controller, tkey: &str) {
    let mut p = tkey.split(':');
    let i: usize = p.next().unwrap().parse().unwrap();
    let gid: u64 = p.next().unwrap().parse().unwrap();
    let g = dc.graph().expect("a graph while dispatching");
    assert_eq!(g.id, gid, "tkey {tkey} node {}", dc.node_id());
    for &(a, b) in &g.edges {
        if b == i {
            assert_eq!(g.state[a], Step::Done, "action {i} dispatched before {a}");
        }
    }
}

/// lrm_rsc_op entries of `rsc` on node id `nid` in `cib`.
fn ops_of(cib: &Element, nid: NodeId, rsc: &str) -> Vec<Element> {
    let Some(st) = cib.child("status") else { return Vec::new() };
    let Some(ns) = st.children_named("node_state").find(|n| n.attr("id") == Some(&nid.to_string()))
    else {
        return Vec::new();
    };
    let Some(lrs) = ns.path(&["lrm", "lrm_resources"]) else { return Vec::new() };
    lrs.children_named("lrm_resource")
        .filter(|l| l.attr("id") == Some(rsc))
        .flat_map(|l| l.children.clone())
        .collect()
}

fn transient(cib: &Element, nid: NodeId, name: &str) -> Option<String> {
    let ns = cib
        .child("status")?
        .children_named("node_state")
        .find(|n| n.attr("id") == Some(&nid.to_string()))?;
    let ta = ns.child("transient_attributes")?;
    for set in &ta.children {
        for nv in &set.children {
            if nv.attr("name") == Some(name) {
                return nv.attr("value").map(|s| s.to_string());
            }
        }
    }
    None
}

fn same_cib_everywhere(s: &Sim) {
    let up: Vec<&SimNode> = s.nodes.iter().filter(|n| n.up).collect();
    let v0 = cib_version(up[0].ctl.cib());
    for n in &up {
        assert_eq!(cib_version(n.ctl.cib()), v0, "{} has another CIB version", n.name);
        assert_eq!(n.ctl.cib(), up[0].ctl.cib(), "{} has another CIB", n.name);
    }
}

#[test]
fn walkthrough_starts_in_order_and_status_reaches_every_node() {
    // The configured CIB is only on node3 (not the DC): its version wins at join.
    let mut s = Sim::new(3, &[(2, walkthrough(false))]);
    s.settle();
    assert_eq!(s.dc_ids(), BTreeSet::from([Some(1)]));
    let ip = s.where_running("ClusterIP");
    let web = s.where_running("WebSite");
    assert_eq!(ip.len(), 1);
    assert_eq!(ip, web, "colocated");
    let node = ip[0].clone();
    let a = s.run_index(&node, "ClusterIP", "start").unwrap();
    let b = s.run_index(&node, "WebSite", "start").unwrap();
    assert!(a < b, "ClusterIP starts before WebSite");
    // Not by chance: the graph orders them, so WebSite's start waits for ClusterIP's result.
    let g = s.nodes[0].ctl.graph().expect("the DC keeps its last graph");
    let find = |r: &str, t: &str| g.actions.iter().position(|x| x.rsc == r && x.task == t).unwrap();
    assert!(g.edges.contains(&(find("ClusterIP", "start"), find("WebSite", "start"))));
    assert!(g.state.iter().all(|st| *st == Step::Done));
    // Recurring monitors were started with the configured intervals.
    assert!(s.trace.runs.iter().any(|r| r.1 == "ClusterIP" && r.2 == "monitor" && r.3 == 30_000));
    assert!(s.trace.runs.iter().any(|r| r.1 == "WebSite" && r.2 == "monitor" && r.3 == 60_000));
    same_cib_everywhere(&s);
    let nid = s.nodes[s.by_name(&node)].id;
    for n in &s.nodes {
        let cib = n.ctl.cib();
        assert!(cib_version(cib) > (0, 5, 0));
        assert!(cib.find_id("ClusterIP").is_some(), "{} has the configuration", n.name);
        let ops = ops_of(cib, nid, "WebSite");
        let last = ops.iter().find(|o| o.attr("id") == Some("WebSite_last_0")).expect("recorded");
        assert_eq!(last.attr("operation"), Some("start"));
        assert_eq!(last.attr("operation_key"), Some("WebSite_start_0"));
        assert_eq!(last.attr("rc-code"), Some("0"));
        assert_eq!(last.attr("op-status"), Some("0"));
        assert_eq!(last.attr("interval"), Some("0"));
        assert_eq!(last.attr("on_node"), Some(node.as_str()));
        assert!(last.attr("call-id").is_some() && last.attr("exec-time").is_some());
        assert!(last.attr("transition-key").unwrap().ends_with(":0:1"));
        assert!(ops.iter().any(|o| o.attr("id") == Some("WebSite_monitor_60000")));
        // Persisted copies match.
        assert_eq!(n.written.as_ref(), Some(cib));
    }
}

#[test]
fn monitor_failure_counts_and_recovers() {
    let mut s = Sim::new(2, &[(0, walkthrough(false))]);
    s.settle();
    let node = s.where_running("ClusterIP")[0].clone();
    let nid = s.nodes[s.by_name(&node)].id;
    let before = s.trace.runs.len();
    s.monitor_reports(&node, "ClusterIP", OcfExit::NotRunning);
    s.settle();
    let cib = s.nodes[0].ctl.cib().clone();
    assert_eq!(transient(&cib, nid, "fail-count-ClusterIP#monitor_30000").as_deref(), Some("1"));
    assert!(transient(&cib, nid, "last-failure-ClusterIP#monitor_30000").is_some());
    let after: Vec<_> = s.trace.runs[before..]
        .iter()
        .filter(|r| r.3 == 0)
        .map(|r| (r.1.as_str(), r.2.as_str()))
        .collect();
    // Recovery: ClusterIP restarted; WebSite (ordered after it) stopped first and started after.
    let pos = |r: &str, a: &str| {
        after.iter().position(|x| *x == (r, a)).unwrap_or_else(|| panic!("{r} {a} in {after:?}"))
    };
    assert!(pos("WebSite", "stop") < pos("ClusterIP", "stop"));
    assert!(pos("ClusterIP", "stop") < pos("ClusterIP", "start"));
    assert!(pos("ClusterIP", "start") < pos("WebSite", "start"));
    assert_eq!(s.where_running("ClusterIP").len(), 1);
    assert_eq!(s.where_running("WebSite"), s.where_running("ClusterIP"));
    let ops = ops_of(&cib, nid, "ClusterIP");
    assert!(ops.iter().any(
        |o| o.attr("id") == Some("ClusterIP_last_failure_0") && o.attr("rc-code") == Some("7")
    ));
    same_cib_everywhere(&s);
}

#[test]
fn failed_start_is_fatal_on_that_node_and_moves() {
    let mut s = Sim::new(2, &[(0, walkthrough(false))]);
    // Whatever node gets ClusterIP first fails to start it.
    s.inject.push(("node1".into(), "ClusterIP".into(), "start".into(), OcfExit::ErrGeneric));
    s.inject.push(("node2".into(), "ClusterIP".into(), "start".into(), OcfExit::ErrGeneric));
    s.settle();
    // One of both injections is consumed by the first attempt; the retry goes to the other node
    // and fails too, or succeeds there when the first node's injection remained unused.
    let failed: Vec<_> = s
        .nodes
        .iter()
        .filter(|n| transient(n.ctl.cib(), n.id, "fail-count-ClusterIP#start_0").is_some())
        .map(|n| n.name.clone())
        .collect();
    let cib = s.nodes[0].ctl.cib();
    let fc: Vec<_> = s
        .nodes
        .iter()
        .filter_map(|n| transient(cib, n.id, "fail-count-ClusterIP#start_0"))
        .collect();
    assert!(!fc.is_empty());
    assert!(fc.iter().all(|v| v == "INFINITY"), "{fc:?}");
    let _ = failed;
    assert!(s.where_running("WebSite").len() <= 1);
}

#[test]
fn standby_moves_resources() {
    let mut s = Sim::new(2, &[(0, walkthrough(false))]);
    s.settle();
    let node = s.where_running("ClusterIP")[0].clone();
    let other = if node == "node1" { "node2" } else { "node1" };
    // The request is made on the non-DC node: it goes through the DC.
    let v0 = cib_version(s.nodes[0].ctl.cib());
    s.nodes[1]
        .ctl
        .on_cib_request(CibChange::NodeAttr {
            node: node.clone(),
            name: "standby".into(),
            value: Some("on".into()),
        })
        .unwrap();
    s.settle();
    assert_eq!(s.where_running("ClusterIP"), vec![other.to_string()]);
    assert_eq!(s.where_running("WebSite"), vec![other.to_string()]);
    let v1 = cib_version(s.nodes[0].ctl.cib());
    assert_eq!(v1.1, v0.1 + 1, "epoch bumped once");
    same_cib_everywhere(&s);
}

#[test]
fn cib_change_from_any_node_reaches_all_with_epoch_bumped() {
    let mut s = Sim::new(3, &[(0, walkthrough(false))]);
    s.settle();
    let v0 = cib_version(s.nodes[0].ctl.cib());
    let mut conf = s.nodes[2].ctl.cib().child("configuration").unwrap().clone();
    // Stop WebSite through its target-role (the scheduler does not stop orphans yet).
    let web = conf.find_id_mut("WebSite").unwrap();
    web.children.push(
        Element::new("meta_attributes").with_attr("id", "WebSite-meta").with_child(
            Element::new("nvpair")
                .with_attr("id", "WebSite-meta-target-role")
                .with_attr("name", "target-role")
                .with_attr("value", "Stopped"),
        ),
    );
    s.nodes[2]
        .ctl
        .on_cib_request(CibChange::ReplaceConfiguration(conf.to_compact_string()))
        .unwrap();
    s.settle();
    for n in &s.nodes {
        let v = cib_version(n.ctl.cib());
        assert_eq!(v.1, v0.1 + 1);
        assert!(n.ctl.cib().find_id("WebSite-meta-target-role").is_some());
    }
    assert!(s.where_running("WebSite").is_empty(), "WebSite stopped");
    assert_eq!(s.where_running("ClusterIP").len(), 1);
    // Removing a running resource from the configuration stops it (orphan).
    let mut conf = s.nodes[1].ctl.cib().child("configuration").unwrap().clone();
    conf.child_mut("resources").unwrap().children.retain(|r| r.id() != Some("ClusterIP"));
    conf.child_mut("constraints").unwrap().children.clear();
    s.nodes[1]
        .ctl
        .on_cib_request(CibChange::ReplaceConfiguration(conf.to_compact_string()))
        .unwrap();
    s.settle();
    assert!(s.where_running("ClusterIP").is_empty(), "orphan stopped");
    let v0 = (v0.0, v0.1 + 1, v0.2);
    // Bad input changes nothing.
    assert!(s.nodes[1]
        .ctl
        .on_cib_request(CibChange::ReplaceConfiguration("<oops".into()))
        .is_err());
    assert!(s.nodes[1]
        .ctl
        .on_cib_request(CibChange::ReplaceConfiguration("<status/>".into()))
        .is_err());
    s.settle();
    assert_eq!(cib_version(s.nodes[1].ctl.cib()).1, v0.1 + 1);
    same_cib_everywhere(&s);
}

#[test]
fn dc_leaves_new_dc_recovers_on_survivor_without_stonith() {
    let mut s = Sim::new(2, &[(0, walkthrough(false))]);
    s.settle();
    // Put the resources on the DC (node1) first.
    if s.where_running("ClusterIP") != vec!["node1".to_string()] {
        s.nodes[0]
            .ctl
            .on_cib_request(CibChange::NodeAttr {
                node: "node2".into(),
                name: "standby".into(),
                value: Some("on".into()),
            })
            .unwrap();
        s.settle();
        s.nodes[0]
            .ctl
            .on_cib_request(CibChange::NodeAttr {
                node: "node2".into(),
                name: "standby".into(),
                value: None,
            })
            .unwrap();
        s.settle();
    }
    assert_eq!(s.where_running("ClusterIP"), vec!["node1".to_string()]);
    // node1 crashes: the machine and what ran on it are gone.
    s.nodes[0].up = false;
    s.nodes[0].running.clear();
    s.membership();
    s.settle();
    assert_eq!(s.nodes[1].ctl.dc(), Some(2));
    assert!(s.nodes[1].ctl.is_dc());
    assert_eq!(s.where_running("ClusterIP"), vec!["node2".to_string()]);
    assert_eq!(s.where_running("WebSite"), vec!["node2".to_string()]);
    assert!(s.trace.fences.is_empty());
}

#[test]
fn stonith_fences_lost_node_before_recovery() {
    let mut s = Sim::new(3, &[(0, walkthrough(true))]);
    s.settle();
    let node = s.where_running("ClusterIP")[0].clone();
    let i = s.by_name(&node);
    // The node is cut off: it still runs its resources, but nobody can see it.
    s.hold_fences = true;
    s.nodes[i].up = false;
    s.membership();
    s.settle_until_fence();
    assert_eq!(s.held, vec![node.clone()], "the lost node is fenced");
    // Nothing recovered before the fence result.
    assert_eq!(s.where_running("ClusterIP"), vec![node.clone()]);
    let recovered_early = s
        .trace
        .runs
        .iter()
        .any(|r| r.0 != node && (r.1 == "ClusterIP" || r.1 == "WebSite") && r.2 == "start");
    assert!(!recovered_early);
    // Time passes; still nothing without confirmation.
    for _ in 0..5 {
        s.now += 1_000;
        for n in s.nodes.iter_mut().filter(|n| n.up) {
            n.ctl.tick(s.now);
        }
        while s.step() {
            s.check();
        }
    }
    assert_eq!(s.where_running("ClusterIP"), vec![node.clone()]);
    // Fence confirmed.
    s.hold_fences = false;
    let f = s.held.pop().unwrap();
    s.fence_now(&f);
    s.settle();
    let now_on = s.where_running("ClusterIP");
    assert_eq!(now_on.len(), 1);
    assert_ne!(now_on[0], node);
    assert_eq!(s.where_running("WebSite"), now_on);
}

#[test]
fn failed_fence_is_retried_and_blocks_recovery() {
    let mut s = Sim::new(3, &[(0, walkthrough(true))]);
    s.settle();
    let node = s.where_running("ClusterIP")[0].clone();
    let i = s.by_name(&node);
    s.hold_fences = true;
    s.nodes[i].up = false;
    s.membership();
    s.settle_until_fence();
    let dc = s.nodes.iter().position(|n| n.up && n.ctl.is_dc()).unwrap();
    s.held.clear();
    s.nodes[dc].ctl.on_fence_result(&node, false);
    s.settle_until_fence();
    assert_eq!(s.held, vec![node.clone()], "fencing retried");
    assert_eq!(s.where_running("ClusterIP"), vec![node.clone()]);
    s.hold_fences = false;
    let f = s.held.pop().unwrap();
    s.fence_now(&f);
    s.settle();
    assert_eq!(s.where_running("ClusterIP").len(), 1);
    assert_ne!(s.where_running("ClusterIP")[0], node);
}

impl Sim {
    /// Runs (with time passing) until a fence request is held.
    fn settle_until_fence(&mut self) {
        for _ in 0..50 {
            while self.step() {
                self.check();
            }
            if !self.held.is_empty() {
                return;
            }
            self.now += 1_000;
            for n in self.nodes.iter_mut().filter(|n| n.up) {
                n.ctl.tick(self.now);
            }
        }
        panic!("no fence requested");
    }
}

#[test]
fn no_quorum_policy_stop_stops_everything() {
    let mut cib = walkthrough(false);
    cib.find_id_mut("opt-quorum").unwrap().set_attr("value", "stop");
    let mut s = Sim::new(3, &[(0, cib)]);
    s.settle();
    assert_eq!(s.where_running("ClusterIP").len(), 1);
    // Two of three crash: the survivor has no quorum and stops everything.
    let keep = s.by_name(&s.where_running("ClusterIP")[0]);
    for j in 0..3 {
        if j != keep {
            s.nodes[j].up = false;
            s.nodes[j].running.clear();
        }
    }
    s.membership();
    s.settle();
    assert!(s.where_running("ClusterIP").is_empty());
    assert!(s.where_running("WebSite").is_empty());
}

#[test]
fn no_quorum_policy_freeze_keeps_running() {
    let mut cib = walkthrough(false);
    cib.find_id_mut("opt-quorum").unwrap().set_attr("value", "freeze");
    let mut s = Sim::new(3, &[(0, cib)]);
    s.settle();
    let keep = s.by_name(&s.where_running("ClusterIP")[0]);
    for j in 0..3 {
        if j != keep {
            s.nodes[j].up = false;
        }
    }
    s.membership();
    s.settle();
    assert_eq!(s.where_running("ClusterIP"), vec![s.nodes[keep].name.clone()]);
}

#[test]
fn random_membership_and_failures_keep_invariants() {
    let mut fences = 0;
    for seed in 1..=40u64 {
        fences += random_run(seed).0;
    }
    assert!(fences > 0, "the random runs exercise fencing");
}

fn random_run(seed: u64) -> (usize, usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut s = Sim::new(3, &[(0, walkthrough(true))]);
    s.settle();
    for _round in 0..12 {
        match rng.below(4) {
            0 => {
                // A node is cut off (resources keep running there until fenced), or comes back.
                let i = rng.below(3) as usize;
                if s.nodes[i].up && s.nodes.iter().filter(|n| n.up).count() > 1 {
                    s.nodes[i].up = false;
                } else if !s.nodes[i].up && s.nodes[i].running.is_empty() {
                    s.nodes[i].up = true;
                }
                s.membership();
            }
            1 => {
                // A monitor failure where something runs.
                let cands: Vec<(String, String)> = s
                    .nodes
                    .iter()
                    .filter(|n| n.up)
                    .flat_map(|n| {
                        n.recurring.values().map(move |r| (n.name.clone(), r.rsc_id.clone()))
                    })
                    .filter(|(n, r)| s.nodes[s.by_name(n)].running.contains(r))
                    .collect();
                if !cands.is_empty() {
                    let (n, r) = cands[rng.below(cands.len() as u64) as usize].clone();
                    s.monitor_reports(&n, &r, OcfExit::NotRunning);
                }
            }
            2 => {
                // The next start of something somewhere fails.
                let n = format!("node{}", rng.below(3) + 1);
                let r = ["ClusterIP", "WebSite"][rng.below(2) as usize];
                s.inject.push((n, r.to_string(), "start".into(), OcfExit::ErrGeneric));
            }
            _ => {
                // Cleanup of fail counts, through a random node.
                let up: Vec<usize> = (0..3).filter(|&j| s.nodes[j].up).collect();
                let via = up[rng.below(up.len() as u64) as usize];
                for name in ["node1", "node2", "node3"] {
                    for r in ["ClusterIP", "WebSite"] {
                        let _ = s.nodes[via].ctl.on_cib_request(CibChange::Cleanup {
                            node: name.into(),
                            rsc: r.into(),
                        });
                    }
                }
            }
        }
        s.settle();
        // Invariants once settled.
        assert_eq!(s.dc_ids().len(), 1, "seed {seed}: one DC in the partition");
        let dc = s.dc_ids().into_iter().next().unwrap();
        let low = s.nodes.iter().filter(|n| n.up).map(|n| n.id).min();
        assert_eq!(dc, low, "seed {seed}");
        same_cib_everywhere(&s);
        // Agents only ever ran on group members (asserted in `Sim::output`), fenced nodes
        // lost everything, and no primitive is active twice (checked after every step).
        s.check();
    }
    eprintln!("seed {seed}: {} agent runs, {} fences", s.trace.runs.len(), s.trace.fences.len());
    (s.trace.fences.len(), s.trace.runs.len())
}

#[test]
fn probes_find_a_resource_already_active() {
    let mut s = Sim::new(3, &[(0, walkthrough(false))]);
    // ClusterIP was left running on node3 before the cluster started.
    s.nodes[2].running.insert("ClusterIP".into());
    s.settle();
    assert_eq!(s.where_running("ClusterIP"), vec!["node3".to_string()]);
    assert_eq!(s.where_running("WebSite"), vec!["node3".to_string()]);
    assert!(s.run_index("node3", "ClusterIP", "start").is_none(), "not started again");
    // Every node probed every primitive once.
    for n in ["node1", "node2", "node3"] {
        for r in ["ClusterIP", "WebSite"] {
            let probes = s
                .trace
                .runs
                .iter()
                .filter(|x| x.0 == n && x.1 == r && x.2 == "monitor" && x.3 == 0)
                .count();
            assert_eq!(probes, 1, "{r} probed on {n}");
        }
    }
    let cib = s.nodes[1].ctl.cib();
    let probe = ops_of(cib, 3, "ClusterIP");
    assert!(probe.iter().any(|o| o.attr("operation_key") == Some("ClusterIP_monitor_0")
        && o.attr("rc-code") == Some("0")));
}

#[test]
fn restarted_node_is_probed_again() {
    let mut s = Sim::new(2, &[(0, walkthrough(false))]);
    s.settle();
    let before =
        s.trace.runs.iter().filter(|x| x.0 == "node2" && x.3 == 0 && x.2 == "monitor").count();
    // node2 crashes and comes back with an empty history.
    s.nodes[1].up = false;
    s.nodes[1].running.clear();
    s.membership();
    s.settle();
    let cib = s.nodes[1].written.clone();
    s.nodes[1].ctl = Controller::new(Config::new(2, "node2"), cib);
    s.nodes[1].up = true;
    s.membership();
    s.settle();
    let after =
        s.trace.runs.iter().filter(|x| x.0 == "node2" && x.3 == 0 && x.2 == "monitor").count();
    assert_eq!(after, before + 2);
    same_cib_everywhere(&s);
    assert_eq!(s.where_running("ClusterIP").len(), 1);
}

#[test]
fn random_partitions_keep_invariants() {
    let mut fences = 0;
    for seed in 1..=30u64 {
        fences += random_partition_run(seed);
    }
    assert!(fences > 0, "the partitions lead to fencing");
}

fn random_partition_run(seed: u64) -> usize {
    let mut rng = Rng(seed.wrapping_mul(0xd134_2543_de82_ef95) | 1);
    let mut cib = walkthrough(true);
    cib.find_id_mut("opt-quorum").unwrap().set_attr("value", "stop");
    let mut s = Sim::new(3, &[(0, cib)]);
    s.settle();
    for _round in 0..10 {
        match rng.below(3) {
            0 => {
                // One node ends up alone in its own partition (it keeps running).
                let i = rng.below(3) as usize;
                if s.nodes.iter().all(|n| n.up && n.part == 0) {
                    s.nodes[i].part = 1;
                    s.membership();
                }
            }
            1 => {
                // The network heals; powered-off (fenced) nodes boot and join.
                for n in s.nodes.iter_mut() {
                    n.part = 0;
                    n.up = true;
                }
                s.membership();
            }
            _ => {
                let cands: Vec<(String, String)> = s
                    .nodes
                    .iter()
                    .filter(|n| n.up)
                    .flat_map(|n| {
                        n.recurring.values().map(move |r| (n.name.clone(), r.rsc_id.clone()))
                    })
                    .filter(|(n, r)| s.nodes[s.by_name(n)].running.contains(r))
                    .collect();
                if !cands.is_empty() {
                    let (n, r) = cands[rng.below(cands.len() as u64) as usize].clone();
                    s.monitor_reports(&n, &r, OcfExit::NotRunning);
                }
            }
        }
        s.settle_all();
        for part in [0, 1] {
            let dcs = s.dc_ids_in(part);
            assert!(dcs.len() <= 1, "seed {seed}: DCs {dcs:?} in partition {part}");
        }
        s.check();
    }
    s.trace.fences.len()
}

impl Sim {
    /// Like `settle`, but waits for the DC of every partition.
    fn settle_all(&mut self) {
        for _ in 0..200 {
            while self.step() {
                self.check();
            }
            let parts: BTreeSet<u32> = self.nodes.iter().filter(|n| n.up).map(|n| n.part).collect();
            let idle = parts
                .iter()
                .all(|p| self.nodes.iter().any(|n| n.up && n.part == *p && n.ctl.is_idle()));
            if idle {
                return;
            }
            self.now += 1_000;
            for n in self.nodes.iter_mut().filter(|n| n.up) {
                n.ctl.tick(self.now);
            }
        }
        panic!("partitions did not settle");
    }
}

#[test]
fn migration_threshold_moves_after_failure() {
    let mut cib = walkthrough(false);
    cib.find_id_mut("ClusterIP").unwrap().children.push(
        Element::new("meta_attributes").with_attr("id", "ClusterIP-meta").with_child(
            Element::new("nvpair")
                .with_attr("id", "ClusterIP-meta-mt")
                .with_attr("name", "migration-threshold")
                .with_attr("value", "1"),
        ),
    );
    let mut s = Sim::new(2, &[(0, cib)]);
    s.settle();
    let node = s.where_running("ClusterIP")[0].clone();
    let other = if node == "node1" { "node2" } else { "node1" };
    s.monitor_reports(&node, "ClusterIP", OcfExit::NotRunning);
    s.settle();
    assert_eq!(s.where_running("ClusterIP"), vec![other.to_string()]);
    assert_eq!(s.where_running("WebSite"), vec![other.to_string()]);
    // Cleanup clears the fail count everywhere.
    let nid = s.nodes[s.by_name(&node)].id;
    s.nodes[1]
        .ctl
        .on_cib_request(CibChange::Cleanup { node: node.clone(), rsc: "ClusterIP".into() })
        .unwrap();
    s.settle();
    for n in &s.nodes {
        assert_eq!(transient(n.ctl.cib(), nid, "fail-count-ClusterIP#monitor_30000"), None);
    }
    same_cib_everywhere(&s);
}

#[test]
fn join_keeps_highest_admin_epoch_epoch_num_updates() {
    let a = walkthrough(false); // (0, 5, 0) on the DC
    let mut b = walkthrough(false);
    b.set_attr("epoch", "9");
    b.find_id_mut("WebSite-conf").unwrap().set_attr("value", "/from/node2");
    let mut c = walkthrough(false);
    c.set_attr("admin_epoch", "1");
    c.set_attr("epoch", "2");
    c.find_id_mut("WebSite-conf").unwrap().set_attr("value", "/from/node3");
    let mut s = Sim::new(3, &[(0, a), (1, b), (2, c)]);
    s.settle();
    for n in &s.nodes {
        let v = cib_version(n.ctl.cib());
        // Adding the members to `nodes` bumped the winner's epoch once.
        assert_eq!((v.0, v.1), (1, 3), "admin_epoch wins over epoch");
        assert_eq!(n.ctl.cib().find_id("WebSite-conf").unwrap().attr("value"), Some("/from/node3"));
    }
    same_cib_everywhere(&s);
}

#[test]
fn lost_dispatch_times_out_and_is_rescheduled() {
    let mut cib = walkthrough(false);
    // On node2, so that dispatches cross the wire.
    cib.path_mut(&["configuration", "constraints"]).unwrap().children.push(
        Element::new("rsc_location")
            .with_attr("id", "ip-on-node2")
            .with_attr("rsc", "ClusterIP")
            .with_attr("node", "node2")
            .with_attr("score", "INFINITY"),
    );
    let mut s = Sim::new(2, &[(0, cib)]);
    s.lose_runop = Some(("WebSite".into(), "start".into()));
    s.settle();
    assert!(s.lose_runop.is_none(), "a dispatch was lost");
    assert!(s.now >= 80_000, "waited for the action timeout");
    assert_eq!(s.where_running("WebSite"), s.where_running("ClusterIP"));
    assert_eq!(s.where_running("WebSite"), vec!["node2".to_string()]);
    assert_eq!(s.trace.runs.iter().filter(|r| r.1 == "WebSite" && r.2 == "start").count(), 1);
}

#[test]
fn clean_shutdown_moves_resources_and_is_not_fenced() {
    let mut s = Sim::new(3, &[(0, walkthrough(true))]);
    s.settle();
    let node = s.where_running("ClusterIP")[0].clone();
    let i = s.by_name(&node);
    assert!(!s.nodes[i].ctl.shutdown_complete());
    s.nodes[i].ctl.request_shutdown().unwrap();
    s.settle();
    assert!(s.nodes[i].ctl.shutdown_complete());
    assert!(s.nodes[i].running.is_empty(), "everything moved off {node}: {:?}", s.nodes[i].running);
    let now_on = s.where_running("ClusterIP");
    assert_eq!(now_on.len(), 1);
    assert_eq!(s.where_running("WebSite"), now_on);
    // It leaves: an expected departure, no fencing, nothing moves.
    let before = s.trace.runs.len();
    s.nodes[i].up = false;
    s.membership();
    s.settle();
    assert!(s.trace.fences.is_empty(), "fenced: {:?}", s.trace.fences);
    assert_eq!(s.where_running("ClusterIP"), now_on);
    assert!(s.trace.runs[before..].iter().all(|r| r.2 != "start" && r.2 != "stop"));
    // It comes back: the finished shutdown no longer applies.
    let (id, name) = (s.nodes[i].id, s.nodes[i].name.clone());
    let cib = s.nodes[i].written.clone();
    s.nodes[i].ctl = Controller::new(Config::new(id, &name), cib);
    s.nodes[i].up = true;
    s.membership();
    s.settle();
    assert!(!s.nodes[i].ctl.shutdown_complete());
    same_cib_everywhere(&s);
}

#[test]
fn output_queue_is_bounded() {
    let mut cfg = Config::new(1, "node1");
    cfg.queue_cap = 3;
    let mut c = Controller::new(cfg, Some(walkthrough(false)));
    let members: Vec<Member> =
        (1..=3).map(|id| Member { node_id: id, name: format!("node{id}") }).collect();
    c.on_membership(&members);
    c.on_quorum(true);
    for _ in 0..5 {
        c.on_membership(&members[..1]);
        c.on_membership(&members);
    }
    let mut n = 0;
    while c.poll_action().is_some() {
        n += 1;
    }
    assert_eq!(n, 3);
    assert!(c.dropped() > 0);
    // Requests waiting for a DC are bounded too.
    let mut lone = Controller::new(Config::new(2, "node2"), None);
    let mut refused = 0;
    for _ in 0..100 {
        let change = CibChange::Cleanup { node: "node1".into(), rsc: "x".into() };
        if lone.on_cib_request(change).is_err() {
            refused += 1;
        }
    }
    assert_eq!(refused, 100 - cluster_core::controller::MAX_PENDING_REQUESTS);
}

#[test]
fn clone_notifications_run_the_agents_notify() {
    let x = WALKTHROUGH.replace("STONITH", "false").replace("FENCE", "");
    let start = x.find("<primitive id=\"ClusterIP\"").unwrap();
    let end = x.find("</resources>").unwrap();
    let x = format!(
        "{}{}{}",
        &x[..start],
        r#"<clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="notify" value="true"/></meta_attributes>
        <primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/></clone>"#,
        &x[end..]
    );
    let x = x.replace(
        &x[x.find("<constraints>").unwrap()..x.find("</constraints>").unwrap()],
        "<constraints>",
    );
    let mut s = Sim::new(2, &[(0, Element::parse(&x).unwrap())]);
    // A clone is meant to be active on several nodes.
    s.check_physical = false;
    s.settle();
    let starts = s.trace.runs.iter().filter(|r| r.1 == "d" && r.2 == "start").count();
    assert_eq!(starts, 2, "{:?}", s.trace.runs);
    // Both instances are told after the start, with both starts in the variables.
    let post: Vec<_> =
        s.trace.notifies.iter().filter(|n| n.1 == "post" && n.2 == "start").collect();
    assert_eq!(post.len(), 2, "{:?}", s.trace.notifies);
    let mut nodes: Vec<&str> = post.iter().map(|n| n.0.as_str()).collect();
    nodes.sort();
    assert_eq!(nodes, vec!["node1", "node2"]);
    assert!(post.iter().all(|n| n.3.len() == 2));
    // Notifications leave no history: the last op of each instance is its start.
    let g = s.nodes[0].ctl.graph().expect("the DC keeps its last graph");
    assert!(g.state.iter().all(|st| *st == Step::Done));
    for n in &s.nodes {
        let ops = ops_of(n.ctl.cib(), n.id, "d:0")
            .into_iter()
            .chain(ops_of(n.ctl.cib(), n.id, "d:1"))
            .chain(ops_of(n.ctl.cib(), n.id, "d"));
        assert!(ops.into_iter().all(|o| o.attr("operation") != Some("notify")));
    }
}

/// A promotable clone without promotion scores stays unpromoted; a transient attribute set
/// through a non-DC node (`crm_attribute -p` run by an agent) reaches every CIB copy and
/// promotes the instance there; setting the same value again changes nothing. Every node
/// keeps the history of its anonymous instance under the primitive's id (instance numbers are
/// the scheduler's and change between transitions).
#[test]
fn promotion_score_through_any_node_promotes_and_history_uses_the_primitive_id() {
    let x = WALKTHROUGH.replace("STONITH", "false").replace("FENCE", "");
    let start = x.find("<primitive id=\"ClusterIP\"").unwrap();
    let end = x.find("</resources>").unwrap();
    let x = format!(
        "{}{}{}",
        &x[..start],
        r#"<clone id="ms"><meta_attributes id="ms-m">
        <nvpair id="ms-m1" name="promotable" value="true"/>
        <nvpair id="ms-m2" name="promoted-max" value="1"/>
        <nvpair id="ms-m3" name="notify" value="true"/></meta_attributes>
        <primitive id="d" class="ocf" provider="pacemaker" type="Stateful"/></clone>"#,
        &x[end..]
    );
    let x = x.replace(
        &x[x.find("<constraints>").unwrap()..x.find("</constraints>").unwrap()],
        "<constraints>",
    );
    let mut s = Sim::new(2, &[(0, Element::parse(&x).unwrap())]);
    s.check_physical = false;
    s.settle();
    assert!(s.trace.runs.iter().all(|r| r.2 != "promote"), "no score, no promotion");
    let n2 = s.by_name("node2");
    let v0 = cib_version(s.nodes[0].ctl.cib());
    s.nodes[n2]
        .ctl
        .on_cib_request(CibChange::TransientAttr {
            node: "node2".into(),
            name: "master-d".into(),
            value: Some("10".into()),
        })
        .unwrap();
    s.settle();
    same_cib_everywhere(&s);
    assert!(cib_version(s.nodes[0].ctl.cib()) > v0);
    for n in &s.nodes {
        assert_eq!(transient(n.ctl.cib(), 2, "master-d").as_deref(), Some("10"), "{}", n.name);
    }
    let promotes: Vec<_> = s.trace.runs.iter().filter(|r| r.2 == "promote").collect();
    assert_eq!(promotes.len(), 1, "{:?}", s.trace.runs);
    assert_eq!(promotes[0].0, "node2");
    // History: one lrm_resource "d" per node, none with an instance number.
    for n in &s.nodes {
        let ns = n.ctl.cib().child("status").unwrap();
        let mut ids = Vec::new();
        for st in ns.children_named("node_state") {
            if let Some(lrs) = st.path(&["lrm", "lrm_resources"]) {
                ids.extend(lrs.children_named("lrm_resource").filter_map(|l| l.attr("id")));
            }
        }
        assert!(ids.iter().all(|i| *i == "d"), "{ids:?}");
    }
    assert!(ops_of(s.nodes[0].ctl.cib(), 2, "d")
        .iter()
        .any(|o| o.attr("operation") == Some("promote") && o.attr("rc-code") == Some("0")));
    // The same value again: no new version, nothing run.
    let (v1, runs) = (cib_version(s.nodes[0].ctl.cib()), s.trace.runs.len());
    s.nodes[n2]
        .ctl
        .on_cib_request(CibChange::TransientAttr {
            node: "node2".into(),
            name: "master-d".into(),
            value: Some("10".into()),
        })
        .unwrap();
    s.settle();
    assert_eq!(cib_version(s.nodes[0].ctl.cib()), v1);
    assert_eq!(s.trace.runs.len(), runs);
    // Deleting it is carried too.
    s.nodes[n2]
        .ctl
        .on_cib_request(CibChange::TransientAttr {
            node: "node2".into(),
            name: "master-d".into(),
            value: None,
        })
        .unwrap();
    s.settle();
    for n in &s.nodes {
        assert_eq!(transient(n.ctl.cib(), 2, "master-d"), None, "{}", n.name);
    }
}

/// A node that starts alone waits (`dc-deadtime`) for the others before it becomes DC; when a
/// peer shows up it joins at once; when nobody does it goes on alone after the wait. A node
/// that has seen its peer and then loses it takes over without waiting.
#[test]
fn a_node_starting_alone_waits_for_the_others_before_taking_the_dc_role() {
    let me = Member { node_id: 1, name: "node1".into() };
    let peer = Member { node_id: 2, name: "node2".into() };
    let cfg = Config { startup_wait_ms: 20_000, ..Config::new(1, "node1") };
    let mut c = Controller::new(cfg.clone(), Some(walkthrough(false)));
    c.tick(1_000);
    c.on_membership(std::slice::from_ref(&me));
    assert_eq!(c.dc(), None, "alone at startup: no DC yet");
    c.tick(15_000);
    assert_eq!(c.dc(), None);
    c.on_membership(&[me.clone(), peer.clone()]);
    assert_eq!(c.dc(), Some(1), "the peer showed up: DC at once");
    // The peer leaves later: no new wait.
    c.on_membership(std::slice::from_ref(&me));
    assert_eq!(c.dc(), Some(1));

    let mut c = Controller::new(cfg.clone(), Some(walkthrough(false)));
    c.tick(1_000);
    c.on_membership(std::slice::from_ref(&me));
    c.tick(20_999);
    assert_eq!(c.dc(), None);
    c.tick(21_000);
    assert_eq!(c.dc(), Some(1), "nobody came: alone after the wait");

    // The CIB's dc-deadtime replaces the configured wait.
    let mut cib = walkthrough(false);
    let set = cib.path_mut(&["configuration", "crm_config"]).unwrap().children[0].clone();
    let mut set = set;
    set.children.push(
        Element::new("nvpair")
            .with_attr("id", "opt-dcdt")
            .with_attr("name", "dc-deadtime")
            .with_attr("value", "5s"),
    );
    cib.path_mut(&["configuration", "crm_config"]).unwrap().children[0] = set;
    let mut c = Controller::new(cfg, Some(cib));
    c.tick(0);
    c.on_membership(std::slice::from_ref(&me));
    c.tick(4_000);
    assert_eq!(c.dc(), None);
    c.tick(5_000);
    assert_eq!(c.dc(), Some(1));
}
