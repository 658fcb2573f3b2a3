//! The transition graph the DC executes.
//!
//! [`Graph::build`] takes the scheduler's transition as it is: its actions (start, stop,
//! promote, demote, recurring monitors with their role, cancellations of recurring monitors,
//! fencing, notifications and the pseudo actions around groups, clones and notifications) and
//! its ordering edges. The scheduler already orders `rsc_order` constraints, group members,
//! monitors after the action that leaves the resource in the monitor's role, and fencing
//! first, so nothing is added here. What the graph adds per action is the result the DC
//! expects: 7 (not running) for a probe, 8 (running promoted) for a recurring monitor whose op
//! definition has `role=Promoted`, 0 otherwise.
//!
//! A clone instance's notification (`pre_notify_start`, `post_notify_stop`, ... on a node)
//! carries its notification variables: the instances this transition starts, stops,
//! promotes and demotes, the instances active before it (those given a pre-notification),
//! the others as inactive, all nodes and the online ones. The promoted / unpromoted lists
//! are left empty: the transition does not say which instances are promoted now.
//!
//! Probes are not part of the scheduler's transition: [`Graph::probes`] builds a graph of
//! independent one-shot monitors for the primitives a member has no history of.
//!
//! Execution: an action is ready when it is waiting, runnable and all its predecessors are
//! done; pseudo actions complete as soon as they are ready. A failed predecessor blocks its
//! successors for good. After [`Graph::abort`] nothing becomes ready any more; the graph is
//! finished once nothing is in flight and nothing is ready.

use std::collections::BTreeMap;

use crate::exec::types::NotifyVars;
use crate::scheduler::input::{Kind, Role, RscDef, SchedulerInput};
use crate::scheduler::Transition;
use crate::status::RscView;

use super::NodeId;

/// The state of one graph action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Not started.
    Waiting,
    /// Dispatched, waiting for the result.
    InFlight,
    /// Completed as expected.
    Done,
    /// Failed or lost.
    Failed,
}

/// One action of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphAction {
    /// Resource (instance) id, or node name for fencing.
    pub rsc: String,
    /// Task (`start`, `stop`, `monitor`, `fence`, ...).
    pub task: String,
    /// Node name the action runs on.
    pub node: Option<String>,
    /// Interval in ms (recurring monitors and their cancellation).
    pub interval_ms: u64,
    /// The rc the DC expects (7 for a probe, 8 for a promoted-role monitor, else 0).
    pub expected_rc: i32,
    /// Implied action: completes without running anything.
    pub pseudo: bool,
    /// For a clone instance's notification: the variables its agent's `notify` gets.
    pub notify: Option<NotifyVars>,
    /// False when the scheduler marked it unrunnable.
    pub runnable: bool,
    /// Node id it was dispatched to.
    pub target: Option<NodeId>,
    /// The first result was received.
    pub reported: bool,
    /// When it was dispatched (ms).
    pub dispatched_ms: u64,
}

/// An executable transition.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Transition id.
    pub id: u64,
    /// Actions.
    pub actions: Vec<GraphAction>,
    /// Ordering edges `(before, after)`.
    pub edges: Vec<(usize, usize)>,
    /// State per action.
    pub state: Vec<Step>,
    /// A probe round: when it finishes, the scheduler runs.
    pub probes_only: bool,
    /// The follow-up scheduler run of a finished aborted / probe graph was requested.
    pub(crate) followed: bool,
    preds: Vec<Vec<usize>>,
    aborted: bool,
}

fn base(id: &str) -> &str {
    id.split(':').next().unwrap_or(id)
}

/// Records every primitive's definition and the clone it belongs to (if any).
fn collect<'a>(
    r: &'a RscDef,
    clone: Option<&'a str>,
    defs: &mut BTreeMap<&'a str, &'a RscDef>,
    clone_of: &mut BTreeMap<&'a str, &'a str>,
) {
    if r.kind == Kind::Primitive {
        defs.insert(r.id.as_str(), r);
        if let Some(c) = clone {
            clone_of.insert(r.id.as_str(), c);
        }
    }
    let clone = if r.kind == Kind::Clone { Some(r.id.as_str()) } else { clone };
    for c in &r.children {
        collect(c, clone, defs, clone_of);
    }
}

/// Splits a notification task (`pre_notify_start`, `post_notify_stop`, ...) into its type
/// and operation.
fn notify_task(task: &str) -> Option<(&str, &str)> {
    let (typ, op) = task.split_once("_notify_")?;
    matches!(typ, "pre" | "post").then_some((typ, op))
}

/// The notification variables of clone `clone` for a `typ` notification of `op`: instances
/// changing in this transition, instances active before it (those that get a
/// pre-notification), promoted and unpromoted instances before it, the cluster's nodes and
/// those online.
fn notify_vars(
    input: &SchedulerInput,
    t: &Transition,
    clone_of: &BTreeMap<&str, &str>,
    clone: &str,
    typ: &str,
    op: &str,
) -> NotifyVars {
    let mine = |rsc: &str| clone_of.get(base(rsc)).copied() == Some(clone);
    let mut v = NotifyVars {
        notify_type: typ.to_string(),
        operation: op.to_string(),
        ..NotifyVars::default()
    };
    let mut active = std::collections::BTreeSet::new();
    for a in t.actions.iter().filter(|a| !a.pseudo && mine(&a.rsc)) {
        let Some(node) = a.node.clone() else { continue };
        let pair = (a.rsc.clone(), node);
        match a.task.as_str() {
            "start" if a.runnable => v.start.push(pair),
            "stop" if a.runnable => v.stop.push(pair),
            "promote" if a.runnable => v.promote.push(pair),
            "demote" if a.runnable => v.demote.push(pair),
            x if x.starts_with("pre_notify_") => {
                active.insert(pair);
            }
            _ => {}
        }
    }
    v.active = active.into_iter().collect();
    // The instances' roles before the transition (`promoted` / `unpromoted`, the legacy
    // `master` / `slave` lists): what a promotable agent reads to know where its peer is
    // Primary.
    for r in &t.before.resources {
        let RscView::Clone { id, instances, .. } = r else { continue };
        if id != clone {
            continue;
        }
        for inst in instances {
            let RscView::Primitive(p) = inst else { continue };
            let list = match p.role.as_str() {
                "Promoted" => &mut v.promoted,
                "Unpromoted" => &mut v.unpromoted,
                _ => continue,
            };
            for n in &p.nodes {
                list.push((p.id.clone(), n.clone()));
            }
        }
    }
    for a in t.actions.iter().filter(|a| !a.pseudo && mine(&a.rsc)) {
        if !v.active.iter().any(|p| p.0 == a.rsc) && !v.inactive.contains(&a.rsc) {
            v.inactive.push(a.rsc.clone());
        }
    }
    for n in &input.nodes {
        v.all_uname.push(n.uname.clone());
        if n.state.get("in_ccm").map(|s| s == "true").unwrap_or(false) {
            v.available_uname.push(n.uname.clone());
        }
    }
    v
}

impl Graph {
    /// Builds the executable graph of transition `id` from the scheduler's actions and edges
    /// (see the module docs).
    pub fn build(id: u64, input: &SchedulerInput, t: &Transition) -> Graph {
        let mut defs = BTreeMap::new();
        let mut clone_of = BTreeMap::new();
        for r in &input.resources {
            collect(r, None, &mut defs, &mut clone_of);
        }
        let promoted_monitor = |rsc: &str, interval: u64| {
            defs.get(base(rsc))
                .map(|d| {
                    d.ops.iter().any(|o| {
                        o.name == "monitor"
                            && o.interval == interval
                            && o.role.map(|r| r == Role::Promoted).unwrap_or(false)
                    })
                })
                .unwrap_or(false)
        };
        let actions: Vec<GraphAction> = t
            .actions
            .iter()
            .map(|a| {
                let expected_rc = if a.task == "monitor" && a.interval == 0 {
                    7
                } else if a.task == "monitor" && promoted_monitor(&a.rsc, a.interval) {
                    8
                } else {
                    0
                };
                GraphAction {
                    rsc: a.rsc.clone(),
                    task: a.task.clone(),
                    node: a.node.clone(),
                    interval_ms: a.interval,
                    expected_rc,
                    pseudo: a.pseudo,
                    notify: notify_task(&a.task).filter(|_| !a.pseudo).and_then(|(typ, op)| {
                        let clone = clone_of.get(base(&a.rsc))?;
                        Some(notify_vars(input, t, &clone_of, clone, typ, op))
                    }),
                    runnable: a.runnable,
                    target: None,
                    reported: false,
                    dispatched_ms: 0,
                }
            })
            .collect();
        let n = actions.len();
        let edges: Vec<(usize, usize)> =
            t.edges.iter().copied().filter(|&(a, b)| a < n && b < n && a != b).collect();
        let mut preds = vec![Vec::new(); n];
        for &(a, b) in &edges {
            preds[b].push(a);
        }
        Graph {
            id,
            actions,
            edges,
            state: vec![Step::Waiting; n],
            probes_only: false,
            followed: false,
            preds,
            aborted: false,
        }
    }

    /// A graph of independent probes, one per `(resource, node name)`.
    pub fn probes(id: u64, probes: &[(String, String)]) -> Graph {
        let actions: Vec<GraphAction> = probes
            .iter()
            .map(|(rsc, node)| GraphAction {
                rsc: rsc.clone(),
                task: "monitor".into(),
                node: Some(node.clone()),
                interval_ms: 0,
                expected_rc: 7,
                pseudo: false,
                notify: None,
                runnable: true,
                target: None,
                reported: false,
                dispatched_ms: 0,
            })
            .collect();
        let n = actions.len();
        Graph {
            id,
            actions,
            edges: Vec::new(),
            state: vec![Step::Waiting; n],
            probes_only: true,
            followed: false,
            preds: vec![Vec::new(); n],
            aborted: false,
        }
    }

    /// Indexes of actions that may be dispatched now.
    pub fn ready(&self) -> Vec<usize> {
        if self.aborted {
            return Vec::new();
        }
        (0..self.actions.len())
            .filter(|&i| {
                self.state[i] == Step::Waiting
                    && self.actions[i].runnable
                    && self.preds[i].iter().all(|&p| self.state[p] == Step::Done)
            })
            .collect()
    }

    /// Sets the state of action `i`.
    pub fn set(&mut self, i: usize, s: Step) {
        if i < self.state.len() {
            self.state[i] = s;
        }
    }

    /// Stops dispatching anything new.
    pub fn abort(&mut self) {
        self.aborted = true;
    }

    /// True after [`Graph::abort`].
    pub fn is_aborted(&self) -> bool {
        self.aborted
    }

    /// Actions dispatched and not answered.
    pub fn in_flight(&self) -> usize {
        self.state.iter().filter(|s| **s == Step::InFlight).count()
    }

    /// Nothing in flight and nothing ready.
    pub fn finished(&self) -> bool {
        self.in_flight() == 0 && self.ready().is_empty()
    }

    /// In-flight actions dispatched before `deadline_ms` become failed; returns how many.
    pub fn expire(&mut self, deadline_ms: u64) -> usize {
        let mut n = 0;
        for i in 0..self.actions.len() {
            if self.state[i] == Step::InFlight && self.actions[i].dispatched_ms < deadline_ms {
                self.state[i] = Step::Failed;
                n += 1;
            }
        }
        n
    }

    /// The node left: its in-flight actions are lost.
    pub fn node_lost_by_id(&mut self, id: NodeId) {
        for i in 0..self.actions.len() {
            if self.state[i] == Step::InFlight && self.actions[i].target == Some(id) {
                self.state[i] = Step::Failed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cib::xml::Element;
    use crate::scheduler::schedule;

    fn cib(resources: &str, n1_history: &str) -> String {
        format!(
            r#"<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes>
<resources>{resources}</resources><constraints/></configuration>
<status><node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"><lrm><lrm_resources>{n1_history}</lrm_resources></lrm></node_state>
<node_state id="2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/></status></cib>"#
        )
    }

    fn graph_of(xml: &str) -> Graph {
        let inp = SchedulerInput::from_cib(&Element::parse(xml).unwrap(), Some(0)).unwrap();
        Graph::build(1, &inp, &schedule(&inp))
    }

    #[test]
    fn monitors_and_edges_come_from_the_scheduler_once() {
        let g = graph_of(&cib(
            r#"<group id="g"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"><operations><op id="a-m" name="monitor" interval="10s"/></operations></primitive><primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></group>"#,
            "",
        ));
        let monitors: Vec<&GraphAction> =
            g.actions.iter().filter(|a| a.rsc == "a" && a.task == "monitor").collect();
        assert_eq!(monitors.len(), 1, "{:?}", g.actions);
        assert_eq!(monitors[0].interval_ms, 10_000);
        assert_eq!(monitors[0].expected_rc, 0);
        let mut e = g.edges.clone();
        e.sort();
        e.dedup();
        assert_eq!(e.len(), g.edges.len(), "no duplicated edges");
        let find = |r: &str, t: &str| {
            g.actions.iter().position(|x| x.rsc == r && x.task == t && !x.pseudo).unwrap()
        };
        let (sa, sb) = (find("a", "start"), find("b", "start"));
        assert!(g.preds[sb].contains(&sa) || g.edges.iter().any(|&(x, y)| x == sa && y == sb));
    }

    #[test]
    fn clone_notifications_carry_their_variables() {
        let g = graph_of(&cib(
            r#"<clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="notify" value="true"/></meta_attributes><primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/></clone>"#,
            r#"<lrm_resource id="d" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="d_last_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="2" transition-key="1:1:0:x"/></lrm_resource>"#,
        ));
        let pre: Vec<&GraphAction> =
            g.actions.iter().filter(|a| a.task == "pre_notify_start" && !a.pseudo).collect();
        assert_eq!(pre.len(), 1, "{:?}", g.actions);
        let v = pre[0].notify.as_ref().expect("notify variables");
        assert_eq!((v.notify_type.as_str(), v.operation.as_str()), ("pre", "start"));
        assert_eq!(v.start.len(), 1);
        assert_eq!(v.start[0].1, "n2");
        assert_eq!(v.active.len(), 1);
        assert_eq!(v.active[0].1, "n1");
        assert_eq!(v.all_uname, vec!["n1".to_string(), "n2".to_string()]);
        assert_eq!(v.available_uname, v.all_uname);
        let post: Vec<&GraphAction> =
            g.actions.iter().filter(|a| a.task == "post_notify_start" && !a.pseudo).collect();
        assert_eq!(post.len(), 2);
        assert!(post.iter().all(|a| a.notify.as_ref().unwrap().notify_type == "post"));
        // Pseudo actions carry no variables.
        assert!(g.actions.iter().filter(|a| a.pseudo).all(|a| a.notify.is_none()));
    }

    #[test]
    fn promotable_notifications_list_the_promoted_instances() {
        let g = graph_of(&cib(
            r#"<clone id="c"><meta_attributes id="cm"><nvpair id="cm1" name="notify" value="true"/><nvpair id="cm2" name="promotable" value="true"/><nvpair id="cm3" name="promoted-max" value="1"/></meta_attributes><primitive id="d" class="ocf" provider="pacemaker" type="Stateful"/></clone>"#,
            r#"<lrm_resource id="d" class="ocf" provider="pacemaker" type="Stateful"><lrm_rsc_op id="d_last_0" operation="promote" interval="0" rc-code="0" op-status="0" call-id="3" transition-key="1:1:0:x"/></lrm_resource>"#,
        ));
        let pre: Vec<&GraphAction> =
            g.actions.iter().filter(|a| a.task.starts_with("pre_notify_") && !a.pseudo).collect();
        assert!(!pre.is_empty(), "{:?}", g.actions);
        for a in pre {
            let v = a.notify.as_ref().unwrap();
            assert_eq!(v.promoted.iter().map(|p| p.1.as_str()).collect::<Vec<_>>(), vec!["n1"]);
            assert!(v.unpromoted.is_empty(), "{:?}", v.unpromoted);
        }
    }
}
