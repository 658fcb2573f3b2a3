//! Two controllers driving Debian's real `ocf:heartbeat:Dummy` agent through `ProcessRunner`,
//! each node with its own resource state directory (its own "machine"). Messages still travel
//! through an in-memory bus in their byte encoding; time is the real clock.

// The driver is real: it reads the wall clock.
#![allow(clippy::disallowed_methods)]

mod exec_common;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

use cluster_core::cib::xml::Element;
use cluster_core::controller::{Action, Config, Controller, ControllerMsg, Member, NodeId, OpKey};
use cluster_core::exec::{AgentRequest, AgentRunner, OpId, ProcessRunner};

const CIB: &str = r#"<cib admin_epoch="0" epoch="1" num_updates="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="opts">
        <nvpair id="opts-stonith" name="stonith-enabled" value="false"/>
        <nvpair id="opts-quorum" name="no-quorum-policy" value="ignore"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources>
      <primitive id="rctl-d1" class="ocf" provider="heartbeat" type="Dummy">
        <operations><op id="rctl-d1-mon" name="monitor" interval="10s"/></operations>
      </primitive>
      <primitive id="rctl-d2" class="ocf" provider="heartbeat" type="Dummy">
        <operations><op id="rctl-d2-mon" name="monitor" interval="10s"/></operations>
      </primitive>
    </resources>
    <constraints>
      <rsc_colocation id="d2-with-d1" rsc="rctl-d2" with-rsc="rctl-d1" score="INFINITY"/>
      <rsc_order id="d1-then-d2" first="rctl-d1" then="rctl-d2" kind="Mandatory"/>
    </constraints>
  </configuration>
  <status/>
</cib>"#;

struct Node {
    id: NodeId,
    ctl: Controller,
    runner: ProcessRunner,
    keys: BTreeMap<OpId, OpKey>,
    /// Recurring requests, re-run on demand by the test.
    recurring: BTreeMap<OpKey, AgentRequest>,
    dir: tempfile::TempDir,
}

struct Cluster {
    nodes: Vec<Node>,
    bus: VecDeque<(NodeId, NodeId, Vec<u8>)>,
    t0: Instant,
}

impl Cluster {
    fn now(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    fn pump(&mut self) -> bool {
        let mut busy = false;
        for i in 0..self.nodes.len() {
            while let Some(a) = self.nodes[i].ctl.poll_action() {
                busy = true;
                let from = self.nodes[i].id;
                match a {
                    Action::Send { to, msg } => {
                        let b = msg.encode();
                        for n in &self.nodes {
                            if n.id != from && to.map(|t| t == n.id).unwrap_or(true) {
                                self.bus.push_back((from, n.id, b.clone()));
                            }
                        }
                    }
                    Action::RunAgent { key, req } => {
                        let n = &mut self.nodes[i];
                        if req.interval_ms > 0 {
                            n.recurring.insert(key, (*req).clone());
                        }
                        let id = n.runner.start(*req);
                        n.keys.insert(id, key);
                    }
                    Action::CancelAgent(k) => {
                        self.nodes[i].recurring.remove(&k);
                    }
                    Action::Fence { .. } => panic!("no fencing in this cluster"),
                    Action::WriteCib(_) | Action::Log(_) => {}
                }
            }
        }
        while let Some((from, to, b)) = self.bus.pop_front() {
            busy = true;
            let n = self.nodes.iter_mut().find(|n| n.id == to).unwrap();
            n.ctl.on_message(from, ControllerMsg::decode(&b).unwrap());
        }
        for n in &mut self.nodes {
            while let Some((id, res)) = n.runner.poll_result() {
                busy = true;
                if let Some(k) = n.keys.remove(&id) {
                    n.ctl.on_agent_result(k, &res);
                }
            }
        }
        let now = self.now();
        for n in &mut self.nodes {
            n.ctl.tick(now);
        }
        busy
    }

    fn settle(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let busy = self.pump();
            let running = self.nodes.iter().any(|n| !n.keys.is_empty());
            if !busy && !running && self.nodes.iter().any(|n| n.ctl.is_idle()) {
                return;
            }
            assert!(Instant::now() < deadline, "cluster did not settle");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn holders(&self, rsc: &str) -> Vec<NodeId> {
        self.nodes.iter().filter(|n| state_file(n.dir.path(), rsc).exists()).map(|n| n.id).collect()
    }
}

fn state_file(dir: &Path, rsc: &str) -> std::path::PathBuf {
    dir.join(format!("Dummy-{rsc}.state"))
}

#[test]
fn controllers_run_real_dummy_agents() {
    if !Path::new("/usr/lib/ocf/resource.d/heartbeat/Dummy").exists() {
        eprintln!("resource-agents not installed; skipping");
        return;
    }
    let cib = Element::parse(CIB).unwrap();
    let mut nodes = Vec::new();
    for id in 1..=2u32 {
        let dir = tempfile::Builder::new().prefix("rctl-node").tempdir().unwrap();
        let name = format!("rctl{id}");
        nodes.push(Node {
            id,
            ctl: Controller::new(
                Config::new(id, &name),
                if id == 1 { Some(cib.clone()) } else { None },
            ),
            runner: exec_common::runner(dir.path()),
            keys: BTreeMap::new(),
            recurring: BTreeMap::new(),
            dir,
        });
    }
    let mut c = Cluster { nodes, bus: VecDeque::new(), t0: Instant::now() };
    let members: Vec<Member> =
        (1..=2u32).map(|id| Member { node_id: id, name: format!("rctl{id}") }).collect();
    for n in &mut c.nodes {
        n.ctl.on_membership(&members);
        n.ctl.on_quorum(true);
    }
    c.settle();
    let h1 = c.holders("rctl-d1");
    assert_eq!(h1.len(), 1, "d1 runs on one node");
    assert_eq!(c.holders("rctl-d2"), h1, "d2 colocated with d1");

    // d1 dies behind the cluster's back; its next monitor run notices.
    let holder = h1[0];
    let hi = c.nodes.iter().position(|n| n.id == holder).unwrap();
    std::fs::remove_file(state_file(c.nodes[hi].dir.path(), "rctl-d1")).unwrap();
    let (key, req) = c.nodes[hi]
        .recurring
        .iter()
        .find(|(_, r)| r.rsc_id == "rctl-d1")
        .map(|(k, r)| (*k, r.clone()))
        .expect("d1's monitor was started");
    let id = c.nodes[hi].runner.start(req);
    c.nodes[hi].keys.insert(id, key);
    c.settle();
    let h1 = c.holders("rctl-d1");
    assert_eq!(h1.len(), 1, "d1 recovered");
    assert_eq!(c.holders("rctl-d2"), h1);
    let cib = c.nodes[0].ctl.cib().to_compact_string();
    assert!(cib.contains("fail-count-rctl-d1#monitor_10000"), "fail count recorded");
    assert_eq!(c.nodes[0].ctl.cib(), c.nodes[1].ctl.cib());

    // Stop everything through the configuration: no state file remains.
    let mut conf = c.nodes[1].ctl.cib().child("configuration").unwrap().clone();
    for r in ["rctl-d1", "rctl-d2"] {
        conf.find_id_mut(r).unwrap().children.push(
            Element::new("meta_attributes").with_attr("id", &format!("{r}-meta")).with_child(
                Element::new("nvpair")
                    .with_attr("id", &format!("{r}-meta-tr"))
                    .with_attr("name", "target-role")
                    .with_attr("value", "Stopped"),
            ),
        );
    }
    c.nodes[1]
        .ctl
        .on_cib_request(cluster_core::controller::CibChange::ReplaceConfiguration(
            conf.to_compact_string(),
        ))
        .unwrap();
    c.settle();
    assert!(c.holders("rctl-d1").is_empty() && c.holders("rctl-d2").is_empty());
}
