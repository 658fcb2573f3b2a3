//! The transition graph the DC executes.
//!
//! [`Graph::build`] takes the scheduler's actions and edges and adds what the executor needs
//! beyond them: the ordering implied by `rsc_order` constraints (`first`'s action before
//! `then`'s; when symmetrical, `then`'s stop before `first`'s stop), group member order
//! (starts in member order, stops in reverse) and one recurring `monitor` per configured
//! interval after each start. Added edges that would close a cycle are left out, so the graph
//! stays acyclic.
//!
//! Execution: an action is ready when it is waiting, runnable and all its predecessors are
//! done; pseudo actions complete as soon as they are ready. A failed predecessor blocks its
//! successors for good. After [`Graph::abort`] nothing becomes ready any more; the graph is
//! finished once nothing is in flight and nothing is ready.

use std::collections::BTreeMap;

use crate::scheduler::input::{Kind, RscDef, SchedulerInput};
use crate::scheduler::Transition;

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
    /// Interval in ms (recurring monitors).
    pub interval_ms: u64,
    /// Implied action: completes without running anything.
    pub pseudo: bool,
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

fn collect(
    r: &RscDef,
    parents: &mut Vec<String>,
    out: &mut BTreeMap<String, Vec<String>>,
    groups: &mut Vec<Vec<String>>,
    defs: &mut BTreeMap<String, RscDef>,
) {
    if r.kind == Kind::Primitive {
        let mut anc = parents.clone();
        anc.push(r.id.clone());
        out.insert(r.id.clone(), anc);
        defs.insert(r.id.clone(), r.clone());
        return;
    }
    if r.kind == Kind::Group {
        groups.push(r.children.iter().map(|c| c.id.clone()).collect());
    }
    parents.push(r.id.clone());
    for c in &r.children {
        collect(c, parents, out, groups, defs);
    }
    parents.pop();
}

fn reaches(n: usize, edges: &[(usize, usize)], from: usize, to: usize) -> bool {
    let mut seen = vec![false; n];
    let mut stack = vec![from];
    while let Some(x) = stack.pop() {
        if x == to {
            return true;
        }
        if std::mem::replace(&mut seen[x], true) {
            continue;
        }
        stack.extend(edges.iter().filter(|e| e.0 == x).map(|e| e.1));
    }
    false
}

impl Graph {
    /// Builds the executable graph of transition `id` (see the module docs).
    pub fn build(id: u64, input: &SchedulerInput, t: &Transition) -> Graph {
        let mut actions: Vec<GraphAction> = t
            .actions
            .iter()
            .map(|a| GraphAction {
                rsc: a.rsc.clone(),
                task: a.task.clone(),
                node: a.node.clone(),
                interval_ms: 0,
                pseudo: a.pseudo,
                runnable: a.runnable,
                target: None,
                reported: false,
                dispatched_ms: 0,
            })
            .collect();
        let mut edges: Vec<(usize, usize)> = t.edges.clone();
        let mut anc = BTreeMap::new();
        let mut groups = Vec::new();
        let mut defs = BTreeMap::new();
        for r in &input.resources {
            collect(r, &mut Vec::new(), &mut anc, &mut groups, &mut defs);
        }
        let belongs = |a: &GraphAction, id: &str| {
            anc.get(base(&a.rsc)).map(|v: &Vec<String>| v.iter().any(|x| x == id)).unwrap_or(false)
        };
        let mut extra: Vec<(usize, usize)> = Vec::new();
        for o in input.orders.iter().filter(|o| o.mandatory) {
            for (i, a) in actions.iter().enumerate() {
                for (j, b) in actions.iter().enumerate() {
                    if i == j || a.task == "fence" || b.task == "fence" {
                        continue;
                    }
                    if belongs(a, &o.first)
                        && belongs(b, &o.then)
                        && a.task == o.first_action
                        && b.task == o.then_action
                    {
                        extra.push((i, j));
                    }
                    if o.symmetrical
                        && o.first_action == "start"
                        && o.then_action == "start"
                        && a.task == "stop"
                        && b.task == "stop"
                        && belongs(a, &o.then)
                        && belongs(b, &o.first)
                    {
                        extra.push((i, j));
                    }
                }
            }
        }
        for g in &groups {
            for w in g.windows(2) {
                for (i, a) in actions.iter().enumerate() {
                    for (j, b) in actions.iter().enumerate() {
                        if a.task == "start"
                            && b.task == "start"
                            && belongs(a, &w[0])
                            && belongs(b, &w[1])
                        {
                            extra.push((i, j));
                        }
                        if a.task == "stop"
                            && b.task == "stop"
                            && belongs(a, &w[1])
                            && belongs(b, &w[0])
                        {
                            extra.push((i, j));
                        }
                    }
                }
            }
        }
        // Recurring monitors after starts.
        let n0 = actions.len();
        for i in 0..n0 {
            if actions[i].task != "start" || !actions[i].runnable || actions[i].pseudo {
                continue;
            }
            let Some(def) = defs.get(base(&actions[i].rsc)) else { continue };
            for op in &def.ops {
                let role_ok = op
                    .role
                    .map(|r| r.name() == "Started" || r.name() == "Unpromoted")
                    .unwrap_or(true);
                if op.name == "monitor" && op.interval > 0 && !op.disabled && role_ok {
                    actions.push(GraphAction {
                        rsc: actions[i].rsc.clone(),
                        task: "monitor".into(),
                        node: actions[i].node.clone(),
                        interval_ms: op.interval,
                        pseudo: false,
                        runnable: true,
                        target: None,
                        reported: false,
                        dispatched_ms: 0,
                    });
                    edges.push((i, actions.len() - 1));
                }
            }
        }
        let n = actions.len();
        for e in extra {
            if !edges.contains(&e) && !reaches(n, &edges, e.1, e.0) {
                edges.push(e);
            }
        }
        let mut preds = vec![Vec::new(); n];
        for &(a, b) in &edges {
            if a < n && b < n {
                preds[b].push(a);
            }
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
                pseudo: false,
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
