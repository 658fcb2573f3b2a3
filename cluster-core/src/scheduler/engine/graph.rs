//! Ordering of the transition graph.
//!
//! [`complete`] takes the per-primitive actions derived from the placement (start, stop,
//! promote, demote, fencing) and completes them into the graph the controller executes, the
//! way Pacemaker shapes it:
//!
//! * implied role changes: a promoted instance that stops is demoted first, an instance that
//!   starts to be promoted is promoted after its start;
//! * per resource: demote before stop, stop before start, start before promote, demote before
//!   promote; recurring monitors (interval and role from the op definitions) after the start,
//!   promote or demote that leaves the resource in the monitor's role; the cancellation of the
//!   old role's monitor before a promote/demote in place;
//! * groups and clones (and clone instances that are groups) get pseudo actions around their
//!   children: `X_start_0` before every child start, every child start before `X_running_0`,
//!   likewise `stop`/`stopped`, `promote`/`promoted`, `demote`/`demoted`; the containers are
//!   ordered among themselves as primitives are (`stopped` before `start`, ...);
//! * group members start in order and stop in reverse;
//! * clones with `notify=true` get pre/post notification pseudo actions, their confirmations,
//!   and one notify action per instance active before (pre) or after (post) the change; what
//!   is ordered after such a clone's action waits for the confirmed post-notification;
//! * `rsc_order` constraints order the last action of `first` (a container's completion
//!   pseudo action) before the first action of `then`, and symmetrical constraints order the
//!   inverse actions in reverse (`then` stops before `first` stops); between two clones whose
//!   `then` is interleaved, also instance by instance on the same node;
//! * a dependent colocated with a resource's promoted role stops before that resource demotes;
//! * fencing comes before every other action.
//!
//! Invariant: the graph stays acyclic. Every edge is checked before it is added; an edge that
//! would close a cycle (only contradictory constraints can ask for one) is left out. The
//! actions are finally sorted topologically, stable on creation order.

use std::collections::BTreeMap;

use super::{Action, Eng, Kind, Role};

const TASKS: [&str; 4] = ["start", "stop", "promote", "demote"];

fn done(task: &str) -> &'static str {
    match task {
        "start" => "running",
        "stop" => "stopped",
        "promote" => "promoted",
        _ => "demoted",
    }
}

fn inverse(task: &str) -> Option<&'static str> {
    match task {
        "start" => Some("stop"),
        "stop" => Some("start"),
        "promote" => Some("demote"),
        "demote" => Some("promote"),
        _ => None,
    }
}

/// Pairs (earlier, later) of tasks of one resource.
const SELF_ORDER: [(&str, &str); 5] = [
    ("demote", "stop"),
    ("stop", "start"),
    ("start", "promote"),
    ("stop", "promote"),
    ("demote", "promote"),
];

struct G {
    actions: Vec<Action>,
    edges: Vec<(usize, usize)>,
    adj: Vec<Vec<usize>>,
    /// Actions by (resource, task), in creation order.
    by_key: BTreeMap<(String, String), Vec<usize>>,
    /// Visit marks of [`G::reaches`]: an action is seen in the current search when its mark
    /// equals `stamp` (no clearing between searches).
    mark: Vec<u32>,
    stamp: u32,
    stack: Vec<usize>,
}

impl G {
    fn new(actions: Vec<Action>) -> G {
        let n = actions.len();
        let mut g = G {
            actions: Vec::with_capacity(n),
            edges: Vec::new(),
            adj: Vec::with_capacity(n),
            by_key: BTreeMap::new(),
            mark: Vec::with_capacity(n),
            stamp: 0,
            stack: Vec::new(),
        };
        for a in actions {
            g.add(a);
        }
        g
    }

    fn add(&mut self, a: Action) -> usize {
        let i = self.actions.len();
        self.by_key.entry((a.rsc.clone(), a.task.clone())).or_default().push(i);
        self.actions.push(a);
        self.adj.push(Vec::new());
        self.mark.push(0);
        i
    }

    /// Whether `to` can be reached from `from`; visits only what `from` reaches.
    fn reaches(&mut self, from: usize, to: usize) -> bool {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.stamp = 1;
        }
        let stamp = self.stamp;
        self.stack.clear();
        self.stack.push(from);
        while let Some(x) = self.stack.pop() {
            if x == to {
                return true;
            }
            if self.mark[x] == stamp {
                continue;
            }
            self.mark[x] = stamp;
            self.stack.extend(self.adj[x].iter().copied());
        }
        false
    }

    /// Add `a -> b` unless present, a self loop, or closing a cycle.
    fn edge(&mut self, a: usize, b: usize) {
        if a == b || self.adj[a].contains(&b) || self.reaches(b, a) {
            return;
        }
        self.adj[a].push(b);
        self.edges.push((a, b));
    }

    fn edges_all(&mut self, from: &[usize], to: &[usize]) {
        for &a in from {
            for &b in to {
                self.edge(a, b);
            }
        }
    }

    fn of(&self, rsc: &str, task: &str) -> Vec<usize> {
        self.by_key.get(&(rsc.to_string(), task.to_string())).cloned().unwrap_or_default()
    }
}

fn act(rsc: &str, task: &str, node: Option<String>, pseudo: bool, interval: u64) -> Action {
    Action { rsc: rsc.to_string(), task: task.to_string(), node, pseudo, runnable: true, interval }
}

/// Complete the derived actions into the ordered transition graph (see the module docs).
pub(super) fn complete(
    e: &Eng,
    actions: Vec<Action>,
    edges: Vec<(usize, usize)>,
) -> (Vec<Action>, Vec<(usize, usize)>) {
    let mut g = G::new(actions);
    for (a, b) in edges {
        g.edge(a, b);
    }
    let fences: Vec<usize> =
        (0..g.actions.len()).filter(|&i| g.actions[i].task == "fence").collect();
    // entry/exit action sets per (resource, task).
    let mut entry: BTreeMap<(usize, &str), Vec<usize>> = BTreeMap::new();
    let mut exit: BTreeMap<(usize, &str), Vec<usize>> = BTreeMap::new();
    for p in 0..e.rs.len() {
        if e.rs[p].kind != Kind::Primitive {
            continue;
        }
        let r = &e.rs[p];
        // Implied demote before the stop of a promoted instance.
        if r.role == Role::Promoted {
            for s in g.of(&r.id, "stop") {
                let node = g.actions[s].node.clone();
                let has = g.of(&r.id, "demote").iter().any(|&d| g.actions[d].node == node);
                if !has {
                    let pseudo = g.actions[s].pseudo;
                    g.add(act(&r.id, "demote", node, pseudo, 0));
                }
            }
        }
        // Implied promote after the start of an instance to be promoted.
        if r.next_role == Role::Promoted {
            for s in g.of(&r.id, "start") {
                let node = g.actions[s].node.clone();
                if !g.of(&r.id, "promote").iter().any(|&d| g.actions[d].node == node) {
                    g.add(act(&r.id, "promote", node, false, 0));
                }
            }
        }
        for (a, b) in SELF_ORDER {
            let (x, y) = (g.of(&r.id, a), g.of(&r.id, b));
            g.edges_all(&x, &y);
        }
        // Recurring monitors and cancellations.
        let starts = g.of(&r.id, "start");
        let promotes = g.of(&r.id, "promote");
        let demotes = g.of(&r.id, "demote");
        let stops = g.of(&r.id, "stop");
        for op in &r.def.ops {
            if op.name != "monitor" || op.interval == 0 || op.disabled {
                continue;
            }
            let promoted_op = op.role == Some(Role::Promoted);
            let mut after: Vec<usize> = Vec::new();
            if promoted_op {
                after.extend(promotes.iter().copied());
            } else {
                if promotes.is_empty() {
                    after.extend(starts.iter().copied());
                }
                after.extend(
                    demotes.iter().copied().filter(|&d| {
                        !stops.iter().any(|&s| g.actions[s].node == g.actions[d].node)
                    }),
                );
            }
            for a in after {
                if g.actions[a].pseudo {
                    continue;
                }
                let node = g.actions[a].node.clone();
                let m = g.add(act(&r.id, "monitor", node, false, op.interval));
                g.edge(a, m);
            }
            // A resource that stays where it is keeps its recurring monitor: one missing from
            // its history there (its transition was aborted after the start, or a cleanup
            // removed it) is scheduled again, as Pacemaker does.
            if e.is_managed(p) && !r.failed && !r.orphan {
                for &x in &r.running {
                    let node = Some(e.nodes[x].name.clone());
                    let here = |v: &[usize], g: &G| v.iter().any(|&i| g.actions[i].node == node);
                    let moved = here(&stops, &g)
                        || here(&starts, &g)
                        || here(&promotes, &g)
                        || here(&demotes, &g);
                    let usable =
                        e.nodes[x].online && !e.nodes[x].unclean && !e.nodes[x].maintenance;
                    if moved || !usable || promoted_op != (r.role == Role::Promoted) {
                        continue;
                    }
                    let recorded = e.inp.nodes[x]
                        .history
                        .iter()
                        .filter(|h| h.id == r.id || r.hist_name.as_deref() == Some(h.id.as_str()))
                        .any(|h| {
                            h.ops.iter().any(|o| o.task == "monitor" && o.interval == op.interval)
                        });
                    let planned = g.of(&r.id, "monitor").iter().any(|&m| {
                        g.actions[m].node == node && g.actions[m].interval == op.interval
                    });
                    if !recorded && !planned {
                        g.add(act(&r.id, "monitor", node, false, op.interval));
                    }
                }
            }
            // A role change in place cancels the old role's monitor first.
            let in_place = |x: usize, g: &G| {
                !starts.iter().chain(stops.iter()).any(|&s| g.actions[s].node == g.actions[x].node)
            };
            let before: Vec<usize> = if promoted_op {
                demotes.iter().copied().filter(|&d| in_place(d, &g)).collect()
            } else {
                promotes.iter().copied().filter(|&d| in_place(d, &g)).collect()
            };
            for b in before {
                let node = g.actions[b].node.clone();
                let c = g.add(act(&r.id, "cancel", node, false, op.interval));
                g.edge(c, b);
            }
        }
        for t in TASKS {
            let v = g.of(&r.id, t);
            entry.insert((p, t), v.clone());
            exit.insert((p, t), v);
        }
    }
    // Containers, children before parents (children have higher arena indexes).
    for c in (0..e.rs.len()).rev() {
        if e.rs[c].kind == Kind::Primitive {
            continue;
        }
        let kids = e.rs[c].children.clone();
        let id = e.rs[c].id.clone();
        for t in TASKS {
            let any = kids.iter().any(|&k| entry.get(&(k, t)).is_some_and(|v| !v.is_empty()));
            if !any {
                continue;
            }
            let s = g.add(act(&id, t, None, true, 0));
            let d = g.add(act(&id, done(t), None, true, 0));
            g.edge(s, d);
            for &k in &kids {
                let ke = entry.get(&(k, t)).cloned().unwrap_or_default();
                let kx = exit.get(&(k, t)).cloned().unwrap_or_default();
                g.edges_all(&[s], &ke);
                g.edges_all(&kx, &[d]);
            }
            entry.insert((c, t), vec![s]);
            exit.insert((c, t), vec![d]);
        }
        for (a, b) in SELF_ORDER {
            let x = exit.get(&(c, a)).cloned().unwrap_or_default();
            let y = entry.get(&(c, b)).cloned().unwrap_or_default();
            g.edges_all(&x, &y);
        }
        if e.rs[c].kind == Kind::Group {
            for w in kids.windows(2) {
                for (t, fwd) in
                    [("start", true), ("promote", true), ("stop", false), ("demote", false)]
                {
                    let (a, b) = if fwd { (w[0], w[1]) } else { (w[1], w[0]) };
                    let x = exit.get(&(a, t)).cloned().unwrap_or_default();
                    let y = entry.get(&(b, t)).cloned().unwrap_or_default();
                    g.edges_all(&x, &y);
                }
            }
        }
    }
    // Notifications of clones with notify=true.
    for c in 0..e.rs.len() {
        if e.rs[c].kind != Kind::Clone || !e.rs[c].def.meta_bool("notify", false) {
            continue;
        }
        let id = e.rs[c].id.clone();
        let mut prims = Vec::new();
        e.primitives_under(c, &mut prims);
        let mut confirmed_post: BTreeMap<&str, usize> = BTreeMap::new();
        let mut pre_of: BTreeMap<&str, usize> = BTreeMap::new();
        for t in TASKS {
            let (Some(s), Some(d)) = (entry.get(&(c, t)), exit.get(&(c, t))) else {
                continue;
            };
            let (s, d) = (s[0], d[0]);
            let pre = g.add(act(&id, &format!("pre_notify_{t}"), None, true, 0));
            let cpre = g.add(act(&id, &format!("confirmed-pre_notify_{t}"), None, true, 0));
            let post = g.add(act(&id, &format!("post_notify_{}", done(t)), None, true, 0));
            let cpost =
                g.add(act(&id, &format!("confirmed-post_notify_{}", done(t)), None, true, 0));
            g.edge(pre, cpre);
            g.edge(cpre, s);
            g.edge(d, post);
            g.edge(post, cpost);
            g.edge(cpre, post);
            for &p in &prims {
                let r = &e.rs[p];
                if let Some(&node) = r.running.first() {
                    if !e.nodes[node].unclean {
                        let name = Some(e.nodes[node].name.clone());
                        let x = g.add(act(&r.id, &format!("pre_notify_{t}"), name, false, 0));
                        g.edge(pre, x);
                        g.edge(x, cpre);
                    }
                }
                if let (Some(node), None) = (r.assigned, &r.start_blocked) {
                    let name = Some(e.nodes[node].name.clone());
                    let x = g.add(act(&r.id, &format!("post_notify_{t}"), name, false, 0));
                    g.edge(post, x);
                    g.edge(x, cpost);
                }
            }
            confirmed_post.insert(t, cpost);
            // What is ordered after the clone's action waits for the notifications.
            exit.insert((c, t), vec![cpost]);
            pre_of.insert(t, pre);
        }
        for (a, b) in SELF_ORDER {
            if let (Some(&x), Some(&y)) = (confirmed_post.get(a), pre_of.get(b)) {
                g.edge(x, y);
            }
        }
        // Recurring monitors of the instances wait for the notifications.
        for &p in &prims {
            for m in g.of(&e.rs[p].id, "monitor") {
                for &x in confirmed_post.values() {
                    g.edge(x, m);
                }
            }
        }
    }
    // Ordering constraints.
    for o in &e.inp.orders {
        let (Some(f), Some(t)) = (e.constraint_target(&o.first), e.constraint_target(&o.then))
        else {
            continue;
        };
        let fa = o.first_action.as_str();
        let ta = o.then_action.as_str();
        order_pair(e, &mut g, &entry, &exit, (f, fa), (t, ta));
        if o.symmetrical {
            if let (Some(fi), Some(ti)) = (inverse(fa), inverse(ta)) {
                order_pair(e, &mut g, &entry, &exit, (t, ti), (f, fi));
            }
        }
    }
    // A dependent of a promoted role stops before the promoted instance demotes.
    for c in &e.inp.colocations {
        if c.with_role != Some(Role::Promoted) || c.score <= 0 {
            continue;
        }
        let (Some(d), Some(p)) = (e.constraint_target(&c.rsc), e.constraint_target(&c.with)) else {
            continue;
        };
        let x = exit.get(&(d, "stop")).cloned().unwrap_or_default();
        let y = entry.get(&(p, "demote")).cloned().unwrap_or_default();
        g.edges_all(&x, &y);
    }
    // Fencing first.
    let all: Vec<usize> = (0..g.actions.len()).filter(|i| !fences.contains(i)).collect();
    g.edges_all(&fences, &all);
    topo_sort(g)
}

type Sets<'a> = BTreeMap<(usize, &'a str), Vec<usize>>;

/// The node an instance acts on for `task`: where it runs now for stop/demote, where it is
/// assigned for start/promote.
fn instance_node(e: &Eng, i: usize, task: &str) -> Option<usize> {
    let mut prims = Vec::new();
    e.primitives_under(i, &mut prims);
    prims.iter().find_map(|&p| match task {
        "stop" | "demote" => e.rs[p].running.first().copied(),
        _ => e.rs[p].assigned,
    })
}

/// Order `first`'s action before `then`'s: the whole of one before the whole of the other,
/// and also instance by instance on the same node when both are clones and `then` is
/// interleaved.
fn order_pair(
    e: &Eng,
    g: &mut G,
    entry: &Sets,
    exit: &Sets,
    first: (usize, &str),
    then: (usize, &str),
) {
    let (f, fa) = first;
    let (t, ta) = then;
    let clones = e.rs[f].kind == Kind::Clone && e.rs[t].kind == Kind::Clone;
    if clones && e.rs[t].def.meta_bool("interleave", false) {
        for &fi in &e.rs[f].children {
            for &ti in &e.rs[t].children {
                let (Some(a), Some(b)) = (instance_node(e, fi, fa), instance_node(e, ti, ta))
                else {
                    continue;
                };
                if a != b {
                    continue;
                }
                let x = exit.get(&(fi, fa)).cloned().unwrap_or_default();
                let y = entry.get(&(ti, ta)).cloned().unwrap_or_default();
                g.edges_all(&x, &y);
            }
        }
    }
    let x = exit.get(&(f, fa)).cloned().unwrap_or_default();
    let y = entry.get(&(t, ta)).cloned().unwrap_or_default();
    g.edges_all(&x, &y);
}

/// Stable topological order (lowest index first among the ready), edges reindexed.
fn topo_sort(g: G) -> (Vec<Action>, Vec<(usize, usize)>) {
    let n = g.actions.len();
    let mut indeg = vec![0usize; n];
    for &(_, b) in &g.edges {
        indeg[b] += 1;
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(x) = ready.pop_first() {
        order.push(x);
        for &y in &g.adj[x] {
            indeg[y] -= 1;
            if indeg[y] == 0 {
                ready.insert(y);
            }
        }
    }
    let mut pos = vec![0usize; n];
    for (i, &x) in order.iter().enumerate() {
        pos[x] = i;
    }
    let mut actions: Vec<Option<Action>> = g.actions.into_iter().map(Some).collect();
    let sorted = order.iter().map(|&x| actions[x].take().expect("each action once")).collect();
    let mut edges: Vec<(usize, usize)> = g.edges.iter().map(|&(a, b)| (pos[a], pos[b])).collect();
    edges.sort_unstable();
    (sorted, edges)
}
