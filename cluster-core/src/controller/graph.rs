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
//! Probes are not part of the scheduler's transition: [`Graph::probes`] builds a graph of
//! independent one-shot monitors for the primitives a member has no history of.
//!
//! Execution: an action is ready when it is waiting, runnable and all its predecessors are
//! done; pseudo actions complete as soon as they are ready. A failed predecessor blocks its
//! successors for good. After [`Graph::abort`] nothing becomes ready any more; the graph is
//! finished once nothing is in flight and nothing is ready.

use std::collections::BTreeMap;

use crate::scheduler::input::{Kind, Role, RscDef, SchedulerInput};
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
    /// Interval in ms (recurring monitors and their cancellation).
    pub interval_ms: u64,
    /// The rc the DC expects (7 for a probe, 8 for a promoted-role monitor, else 0).
    pub expected_rc: i32,
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

fn collect<'a>(r: &'a RscDef, defs: &mut BTreeMap<&'a str, &'a RscDef>) {
    if r.kind == Kind::Primitive {
        defs.insert(r.id.as_str(), r);
    }
    for c in &r.children {
        collect(c, defs);
    }
}

impl Graph {
    /// Builds the executable graph of transition `id` from the scheduler's actions and edges
    /// (see the module docs).
    pub fn build(id: u64, input: &SchedulerInput, t: &Transition) -> Graph {
        let mut defs = BTreeMap::new();
        for r in &input.resources {
            collect(r, &mut defs);
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
