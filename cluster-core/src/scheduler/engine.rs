//! Unpacking, assignment and action derivation.
//!
//! Resources are expanded into an arena: groups hold members, clones hold `clone-max`
//! instances (`child:N`, a cloned group gives `group:N` with `member:N`). Status history is
//! mapped onto primitives (anonymous clones take the first free instance number), then the
//! top-level resources are assigned in priority order; a resource first assigns the primaries
//! it is colocated with, then the resources colocated with it pull it towards their preferred
//! nodes (recursively, each level scaled by its own constraint's score), as Pacemaker 2.1.5
//! does. Colocations are resolved once into per-resource lists in Pacemaker's order, so
//! assignment costs grow with a resource's own constraints, not with all of them. Actions are
//! derived per primitive from (current node, role) to (assigned node, next role) and ordered;
//! the order graph is checked for cycles. Score lines (`crm_simulate -s`) are only made when
//! asked for.

#![allow(clippy::needless_range_loop)]

use std::collections::BTreeMap;

mod graph;

use super::input::{is_true, Kind, LrmOp, Role, RscDef, SchedulerInput};
use super::score::{self, add, INFINITY};
use crate::cib::xml::Element;
use crate::status::{ClusterView, NodeStatus, NodeView, PrimitiveView, RscView};

/// One scheduled action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Resource (instance) id, or node name for fencing.
    pub rsc: String,
    /// Task: start, stop, promote, demote, monitor, fence, ...
    pub task: String,
    /// Node the action runs on.
    pub node: Option<String>,
    /// Pseudo action (implied, nothing executes).
    pub pseudo: bool,
    /// Runnable.
    pub runnable: bool,
    /// Interval in ms (recurring monitors and their cancellation; 0 otherwise).
    pub interval: u64,
}

impl Action {
    /// A runnable, non-recurring action of `rsc` on `node`.
    pub fn on(rsc: impl Into<String>, task: &str, node: String) -> Action {
        Action {
            rsc: rsc.into(),
            task: task.to_string(),
            node: Some(node),
            pseudo: false,
            runnable: true,
            interval: 0,
        }
    }

    /// Pacemaker's operation key: `RSC_TASK_INTERVAL` (a cancel names the op it cancels).
    pub fn key(&self) -> String {
        if self.task == "fence" {
            return format!("stonith-{}-reboot", self.node.as_deref().unwrap_or(&self.rsc));
        }
        let task = if self.task == "cancel" { "monitor" } else { self.task.as_str() };
        format!("{}_{}_{}", self.rsc, task, self.interval)
    }
}

/// The scheduler's decision.
#[derive(Debug, Clone, Default)]
pub struct Transition {
    /// "Transition Summary" lines, without the leading `  * `.
    pub summary: Vec<String>,
    /// Actions in a valid execution order.
    pub actions: Vec<Action>,
    /// Ordering edges `(before, after)` as indexes into `actions`.
    pub edges: Vec<(usize, usize)>,
    /// Allocation and promotion score lines, as `crm_simulate -s` shows them (sorted); only
    /// filled by [`schedule_with_scores`].
    pub scores: Vec<String>,
    /// Status before the transition.
    pub before: ClusterView,
    /// Status after every action succeeded.
    pub after: ClusterView,
}

#[derive(Debug, Clone, Default)]
struct Node {
    name: String,
    online: bool,
    unclean: bool,
    unclean_reason: String,
    standby: bool,
    maintenance: bool,
    shutdown: bool,
    pending: bool,
    attrs: BTreeMap<String, String>,
    id: String,
    assigned_count: usize,
}

impl Node {
    fn can_run(&self) -> bool {
        self.online
            && !self.unclean
            && !self.standby
            && !self.maintenance
            && !self.shutdown
            && !self.pending
    }
}

#[derive(Debug, Clone)]
struct R {
    id: String,
    base: String,
    kind: Kind,
    parent: Option<usize>,
    children: Vec<usize>,
    def: RscDef,
    // clone options
    promotable: bool,
    unique: bool,
    clone_max: usize,
    clone_node_max: usize,
    promoted_max: usize,
    promoted_node_max: usize,
    // status
    running: Vec<usize>,
    role: Role,
    failed: bool,
    on_fail_block: bool,
    on_fail_stop: bool,
    failure_ignored: bool,
    stop_failed_nodes: Vec<usize>,
    /// Nodes where a stop failed: banned there (Pacemaker's `__stop_fail__` location).
    stop_fail_ban: Vec<usize>,
    hist_name: Option<String>,
    banned: Vec<usize>,
    banned_everywhere: bool,
    orphan: bool,
    stop_stuck: bool,
    not_installed: bool,
    pending_start: bool,
    // location weights (None = not allowed in an asymmetric cluster)
    loc: Vec<Option<i64>>,
    promo_loc: Vec<i64>,
    // assignment
    assigned: Option<usize>,
    next_role: Role,
    done: bool,
    busy: bool,
    start_blocked: Option<String>,
    restart_reason: Option<String>,
    /// Node scores as last seen during assignment (Pacemaker's `allowed_nodes` once the
    /// resource's colocations were applied); `None` until the resource is assigned.
    allowed: Option<Vec<Option<i64>>>,
}

struct Eng<'a> {
    inp: &'a SchedulerInput,
    nodes: Vec<Node>,
    rs: Vec<R>,
    tops: Vec<usize>,
    symmetric: bool,
    stonith: bool,
    quorum_policy: String,
    have_quorum: bool,
    fences: Vec<(usize, String)>,
    /// Score lines are only made when asked for (`crm_simulate -s`): at thousands of
    /// resources they are most of the scheduler's memory.
    want_scores: bool,
    scores: Vec<String>,
    /// A group instance whose members' score lines are due once it is placed.
    member_scores_due: Option<(usize, Vec<Option<i64>>)>,
    /// Id lookup for constraints, extended as `rs` grows (entries of `rs` are only ever
    /// appended and their ids never change), so a constraint's target is found in O(log n)
    /// instead of a scan of every resource.
    index: std::cell::RefCell<RscIndex>,
    /// Colocations resolved to resource indexes, built once after unpacking.
    coloc: ColocIndex,
    /// Primitives by the id of the container they declare (`container` meta attribute).
    contained: BTreeMap<String, Vec<usize>>,
}

/// Colocation constraints resolved once: each constraint's dependent and primary, and per
/// resource the constraints it is the dependent of ("this with", ordered by primary) and the
/// primary of ("with this", ordered by dependent), in Pacemaker's list order. Lookups during
/// assignment are then proportional to the resource's own constraints, not to all of them.
#[derive(Default)]
struct ColocIndex {
    dep: Vec<Option<usize>>,
    pri: Vec<Option<usize>>,
    this_with: Vec<Vec<usize>>,
    with_this: Vec<Vec<usize>>,
}

/// First index of each resource id, and of each clone by its child template's id.
#[derive(Default)]
struct RscIndex {
    seen: usize,
    by_id: BTreeMap<String, usize>,
    by_clone_child: BTreeMap<String, usize>,
}

fn role_of_monitor_rc(rc: i32) -> Option<Role> {
    match rc {
        0 => Some(Role::Started),
        8 => Some(Role::Promoted),
        7 => Some(Role::Stopped),
        _ => None,
    }
}

impl<'a> Eng<'a> {
    fn new(inp: &'a SchedulerInput) -> Self {
        let opt = |k: &str| inp.option(k);
        let stonith = opt("stonith-enabled").map(is_true).unwrap_or(true);
        let symmetric = opt("symmetric-cluster").map(is_true).unwrap_or(true);
        let maint_mode = opt("maintenance-mode").map(is_true).unwrap_or(false);
        let mut nodes = Vec::new();
        for n in &inp.nodes {
            let st = |k: &str| n.state.get(k).map(|s| s.as_str());
            let in_ccm = st("in_ccm")
                .map(|v| is_true(v) || v.parse::<i64>().map(|x| x > 0).unwrap_or(false))
                .unwrap_or(false);
            let crmd = st("crmd")
                .map(|v| v == "online" || v.parse::<i64>().map(|x| x > 0).unwrap_or(false))
                .unwrap_or(false);
            let join = st("join").unwrap_or("down");
            let expected = st("expected").unwrap_or("down");
            let mut node = Node {
                name: n.uname.clone(),
                id: n.id.clone(),
                attrs: n.attrs.clone(),
                ..Default::default()
            };
            if !n.has_state {
                if stonith && opt("startup-fencing").map(is_true).unwrap_or(true) {
                    node.unclean = true;
                    node.unclean_reason = "node is unclean".into();
                }
            } else if stonith {
                if in_ccm && crmd && join == "member" {
                    node.online = true;
                } else if in_ccm && crmd && join == "pending" {
                    node.pending = true;
                } else if !in_ccm && expected == "member" {
                    node.unclean = true;
                    node.unclean_reason = "peer is no longer part of the cluster".into();
                } else if in_ccm && !crmd && expected == "member" {
                    node.unclean = true;
                    node.unclean_reason = "peer process is no longer available".into();
                }
            } else if in_ccm && crmd && join == "member" {
                node.online = true;
            } else if in_ccm && !crmd && expected == "member" {
                // Without fencing this is only reported, never acted upon.
                node.unclean = true;
                node.unclean_reason = "peer process is no longer available".into();
            }
            let attr_true = |k: &str| n.attrs.get(k).map(|v| is_true(v)).unwrap_or(false);
            node.standby = attr_true("standby");
            node.maintenance = attr_true("maintenance") || maint_mode;
            if let Some(s) = st("shutdown") {
                if s != "0" && !s.is_empty() && node.online {
                    node.shutdown = true;
                }
            }
            if n.attrs.get("shutdown").map(|s| s != "0").unwrap_or(false) && node.online {
                node.shutdown = true;
            }
            nodes.push(node);
        }
        let qp = opt("no-quorum-policy").unwrap_or("stop").to_ascii_lowercase();
        Eng {
            inp,
            nodes,
            rs: Vec::new(),
            tops: Vec::new(),
            symmetric,
            stonith,
            quorum_policy: qp,
            have_quorum: inp.have_quorum,
            fences: Vec::new(),
            want_scores: false,
            scores: Vec::new(),
            member_scores_due: None,
            index: Default::default(),
            coloc: ColocIndex::default(),
            contained: BTreeMap::new(),
        }
    }

    /// Sort key of the other resource in a colocation list (see [`Eng::build_indexes`]).
    fn coloc_rank(&self, x: usize) -> (i64, u8, u8, &[u8]) {
        let r = &self.rs[x];
        let prio = r.def.meta("priority").map(score::parse).unwrap_or(0);
        let variant = match r.kind {
            Kind::Clone => 0,
            Kind::Group => 1,
            Kind::Primitive => 2,
        };
        let promo = if r.kind == Kind::Clone && r.promotable { 0 } else { 1 };
        (-prio, variant, promo, r.id.as_bytes())
    }

    /// Resolve every colocation once and build the per-resource lists (see [`ColocIndex`]).
    ///
    /// Pacemaker keeps a resource's colocations sorted by the other resource: higher
    /// `priority` first, then clones before groups before primitives, promotable clones
    /// first, then by id (byte order); among equal keys the constraint defined later comes
    /// first (each new one is inserted before its equals).
    fn build_indexes(&mut self) {
        let cols = &self.inp.colocations;
        let n = self.rs.len();
        let mut ix = ColocIndex {
            dep: Vec::with_capacity(cols.len()),
            pri: Vec::with_capacity(cols.len()),
            this_with: vec![Vec::new(); n],
            with_this: vec![Vec::new(); n],
        };
        for (k, c) in cols.iter().enumerate() {
            let d = self.constraint_target(&c.rsc);
            let p = self.constraint_target(&c.with);
            ix.dep.push(d);
            ix.pri.push(p);
            if let (Some(d), Some(p)) = (d, p) {
                ix.this_with[d].push(k);
                ix.with_this[p].push(k);
            }
        }
        for l in ix.this_with.iter_mut() {
            l.sort_by(|&a, &b| {
                let (pa, pb) = (ix.pri[a].unwrap_or(0), ix.pri[b].unwrap_or(0));
                self.coloc_rank(pa).cmp(&self.coloc_rank(pb)).then(b.cmp(&a))
            });
        }
        for l in ix.with_this.iter_mut() {
            l.sort_by(|&a, &b| {
                let (da, db) = (ix.dep[a].unwrap_or(0), ix.dep[b].unwrap_or(0));
                self.coloc_rank(da).cmp(&self.coloc_rank(db)).then(b.cmp(&a))
            });
        }
        self.coloc = ix;
        let mut contained: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (q, r) in self.rs.iter().enumerate() {
            if r.kind == Kind::Primitive {
                if let Some(c) = r.def.meta("container") {
                    contained.entry(c.to_string()).or_default().push(q);
                }
            }
        }
        self.contained = contained;
    }

    fn add_rsc(&mut self, def: &RscDef, parent: Option<usize>, suffix: &str) -> usize {
        let nn = self.nodes.len();
        let num =
            |k: &str, d: usize| def.meta(k).and_then(|v| v.parse::<usize>().ok()).unwrap_or(d);
        let promotable = def.kind == Kind::Clone && def.meta_bool("promotable", false);
        let r = R {
            id: format!("{}{}", def.id, suffix),
            base: def.id.clone(),
            kind: def.kind,
            parent,
            children: Vec::new(),
            def: def.clone(),
            promotable,
            unique: def.meta_bool("globally-unique", false)
                && !def.children.first().map(has_lsb).unwrap_or(false),
            clone_max: num("clone-max", nn),
            clone_node_max: num("clone-node-max", 1),
            promoted_max: num("promoted-max", 1),
            promoted_node_max: num("promoted-node-max", 1),
            running: Vec::new(),
            role: Role::Stopped,
            failed: false,
            on_fail_block: false,
            on_fail_stop: false,
            failure_ignored: false,
            stop_failed_nodes: Vec::new(),
            stop_fail_ban: Vec::new(),
            hist_name: None,
            banned: Vec::new(),
            banned_everywhere: false,
            orphan: false,
            stop_stuck: false,
            not_installed: false,
            pending_start: false,
            loc: (0..nn)
                .map(|n| if self.symmetric { Some(self.inp.nodes[n].weight) } else { None })
                .collect(),
            promo_loc: vec![0; nn],
            assigned: None,
            next_role: Role::Stopped,
            done: false,
            busy: false,
            start_blocked: None,
            restart_reason: None,
            allowed: None,
        };
        let idx = self.rs.len();
        self.rs.push(r);
        let kids: Vec<usize> = match def.kind {
            Kind::Primitive => Vec::new(),
            Kind::Group => {
                def.children.iter().map(|c| self.add_rsc(c, Some(idx), suffix)).collect()
            }
            Kind::Clone => {
                let max = self.rs[idx].clone_max;
                let mut v = Vec::new();
                if let Some(c) = def.children.first() {
                    for i in 0..max {
                        v.push(self.add_rsc(c, Some(idx), &format!(":{i}")));
                    }
                }
                v
            }
        };
        self.rs[idx].children = kids;
        idx
    }

    fn clone_of(&self, i: usize) -> Option<usize> {
        let mut p = self.rs[i].parent;
        while let Some(x) = p {
            if self.rs[x].kind == Kind::Clone {
                return Some(x);
            }
            p = self.rs[x].parent;
        }
        None
    }

    fn primitives_under(&self, i: usize, out: &mut Vec<usize>) {
        if self.rs[i].kind == Kind::Primitive {
            out.push(i);
        }
        for &c in &self.rs[i].children {
            self.primitives_under(c, out);
        }
    }

    /// Constraint target: a clone's child template id resolves to the clone.
    fn constraint_target(&self, id: &str) -> Option<usize> {
        let mut ix = self.index.borrow_mut();
        for i in ix.seen..self.rs.len() {
            let r = &self.rs[i];
            ix.by_id.entry(r.id.clone()).or_insert(i);
            // A clone child template: rs ids carry ":N"; the clone whose child base matches.
            if r.kind == Kind::Clone {
                if let Some(c) = r.def.children.first() {
                    ix.by_clone_child.entry(c.id.clone()).or_insert(i);
                }
            }
        }
        ix.seen = self.rs.len();
        ix.by_id.get(id).or_else(|| ix.by_clone_child.get(id)).copied()
    }

    fn unpack_status(&mut self) {
        // History in node_state order; with fencing enabled, offline nodes come last.
        let mut by_state: Vec<usize> =
            (0..self.nodes.len()).filter(|&n| self.inp.nodes[n].has_state).collect();
        by_state.sort_by_key(|&n| self.inp.nodes[n].state_order);
        let live = |e: &Self, n: usize| e.nodes[n].online || e.nodes[n].pending;
        let mut order: Vec<usize> = by_state.iter().copied().filter(|&n| live(self, n)).collect();
        if self.stonith {
            order.extend(by_state.iter().copied().filter(|&n| !live(self, n)));
        }
        for n in order {
            let hist = self.inp.nodes[n].history.clone();
            for h in &hist {
                let Some(mut p) = self
                    .map_history(&h.id, n)
                    .or_else(|| self.empty_clone_orphan(&h.id))
                    .or_else(|| self.orphan_primitive(h))
                else {
                    continue;
                };
                if p > self.rs.len() {
                    let active = h.ops.iter().any(|o| o.task == "start" || o.rc == 0 || o.rc == 8);
                    if !active {
                        continue;
                    }
                    p = self.make_orphan(usize::MAX - p);
                    if self.rs[p].kind != Kind::Primitive {
                        // An orphan cloned-group instance: the member this history belongs to.
                        let base = h.id.split(':').next().unwrap_or(&h.id).to_string();
                        let mut prims = Vec::new();
                        self.primitives_under(p, &mut prims);
                        let Some(&m) = prims.iter().find(|&&q| self.rs[q].base == base) else {
                            continue;
                        };
                        p = m;
                    }
                }
                if h.id != self.rs[p].id && self.rs[p].hist_name.as_deref() != Some(h.id.as_str()) {
                    self.rs[p].hist_name = Some(h.id.clone());
                }
                self.apply_ops(p, n, &h.ops);
            }
        }
    }

    fn map_history(&self, id: &str, node: usize) -> Option<usize> {
        if let Some(i) = self.rs.iter().position(|r| r.id == id && r.kind == Kind::Primitive) {
            if self.clone_of(i).is_none() || self.rs[self.clone_of(i).unwrap()].unique {
                return Some(i);
            }
        }
        let base = id.split(':').next().unwrap_or(id);
        let cands: Vec<usize> = (0..self.rs.len())
            .filter(|&i| {
                self.rs[i].kind == Kind::Primitive
                    && self.rs[i].base == base
                    && self.clone_of(i).is_some()
            })
            .collect();
        if cands.is_empty() {
            return None;
        }
        let clone = self.clone_of(cands[0]).unwrap();
        if self.rs[clone].unique {
            return cands.into_iter().find(|&i| self.rs[i].id == id);
        }
        // Anonymous: an instance already active on this node (cloned group sibling), else the
        // first instance not active anywhere.
        let inst_of = |i: usize| -> usize {
            let mut x = i;
            while self.rs[x].parent != Some(clone) {
                x = self.rs[x].parent.unwrap();
            }
            x
        };
        for &c in &cands {
            if self.rs[c].running.contains(&node) {
                // A second active history of an anonymous instance on one node: an orphan.
                return Some(usize::MAX - clone);
            }
        }
        for &c in &cands {
            let inst = inst_of(c);
            let mut prims = Vec::new();
            self.primitives_under(inst, &mut prims);
            if prims.iter().any(|&p| self.rs[p].running.contains(&node))
                && self.rs[c].running.is_empty()
            {
                return Some(c);
            }
        }
        for &c in &cands {
            let inst = inst_of(c);
            let mut prims = Vec::new();
            self.primitives_under(inst, &mut prims);
            if prims.iter().all(|&p| self.rs[p].running.is_empty()) {
                return Some(c);
            }
        }
        if self.rs[inst_of(cands[0])].kind == Kind::Primitive {
            return Some(usize::MAX - clone);
        }
        None
    }

    /// History of an instance of an anonymous clone with `clone-max=0`: a new orphan instance
    /// (inactive history creates one too, so that later history on the node reuses it).
    fn empty_clone_orphan(&mut self, id: &str) -> Option<usize> {
        let base = id.split(':').next().unwrap_or(id);
        let c = self.rs.iter().position(|r| {
            r.kind == Kind::Clone
                && !r.unique
                && r.children.is_empty()
                && r.def.children.first().is_some_and(|d| d.id == base)
        })?;
        Some(self.orphan_from_def(c))
    }

    /// A new orphan instance of clone `c` built from its child definition.
    fn orphan_from_def(&mut self, c: usize) -> usize {
        let tmpl = self.rs[c].def.children[0].clone();
        let num = self.rs[c].children.len();
        let idx = self.add_rsc(&tmpl, Some(c), &format!(":{num}"));
        self.rs[c].children.push(idx);
        self.rs[idx].orphan = true;
        let kids = self.rs[idx].children.clone();
        for k in kids {
            self.rs[k].orphan = true;
        }
        idx
    }

    /// A top-level primitive for history of a resource no longer configured.
    fn orphan_primitive(&mut self, h: &super::input::LrmResource) -> Option<usize> {
        let base = h.id.split(':').next().unwrap_or(&h.id);
        if self.rs.iter().any(|r| r.base == base || r.id == h.id) {
            return None;
        }
        let agent = if h.provider.is_empty() {
            format!("{}:{}", h.class, h.ty)
        } else {
            format!("{}:{}:{}", h.class, h.provider, h.ty)
        };
        let def = RscDef {
            id: h.id.clone(),
            kind: Kind::Primitive,
            agent,
            meta: BTreeMap::new(),
            children: Vec::new(),
            ops: Vec::new(),
            params: BTreeMap::new(),
        };
        let idx = self.add_rsc(&def, None, "");
        self.rs[idx].orphan = true;
        self.tops.push(idx);
        Some(idx)
    }

    /// A new stopped-on-arrival instance of anonymous clone `clone` for surplus history.
    fn make_orphan(&mut self, clone: usize) -> usize {
        if self.rs[clone].children.is_empty()
            || self.rs[self.rs[clone].children[0]].kind != Kind::Primitive
        {
            return self.orphan_from_def(clone);
        }
        let tmpl = self.rs[clone].children[0];
        let num = self.rs[clone].children.len();
        let mut r = self.rs[tmpl].clone();
        r.id = format!("{}:{num}", r.base);
        r.running.clear();
        r.role = Role::Stopped;
        r.failed = false;
        r.hist_name = None;
        r.orphan = true;
        let idx = self.rs.len();
        self.rs.push(r);
        self.rs[clone].children.push(idx);
        idx
    }

    fn op_on_fail(&self, p: usize, op: &LrmOp) -> String {
        let def = &self.rs[p].def;
        let cfg = def
            .ops
            .iter()
            .find(|o| o.name == op.task && o.interval == op.interval)
            .and_then(|o| o.on_fail.clone());
        if let Some(c) = cfg {
            return c;
        }
        if op.task == "stop" {
            return if self.stonith { "fence".into() } else { "block".into() };
        }
        "restart".into()
    }

    fn apply_ops(&mut self, p: usize, n: usize, ops: &[LrmOp]) {
        let lsb = self.rs[p].def.agent.starts_with("lsb:");
        let mapped: Vec<LrmOp> = ops
            .iter()
            .map(|o| {
                let mut o = o.clone();
                if lsb && o.task == "monitor" && o.rc == 3 {
                    o.rc = 7;
                }
                o
            })
            .collect();
        let mut ops: Vec<&LrmOp> = mapped.iter().collect();
        ops.sort_by_key(|o| if o.call_id < 0 { i64::MAX } else { o.call_id });
        let mut role = Role::Unknown;
        let mut on_fail: Option<String> = None;
        let mut stop_failed = false;
        let promotable = self.clone_of(p).map(|c| self.rs[c].promotable).unwrap_or(false);
        for op in ops {
            if op.task == "notify" || op.status == 1 && op.interval > 0 {
                continue;
            }
            if op.status == -1 || op.call_id == -1 {
                // pending
                if op.task == "start" {
                    self.rs[p].pending_start = true;
                }
                match op.task.as_str() {
                    "start" | "promote" | "demote" | "stop" => role = Role::Started.max(role),
                    _ => {}
                }
                continue;
            }
            let expected =
                op.expected.unwrap_or(if op.task == "monitor" && op.interval == 0 { 7 } else { 0 });
            let ok = op.rc == expected
                || (op.task == "monitor" && op.interval == 0 && matches!(op.rc, 0 | 7 | 8));
            if ok && (op.status == 0 || op.status == 4 || op.status == 5 || op.status == 6) {
                match op.task.as_str() {
                    "start" => {
                        role = Role::Started;
                        on_fail = None;
                    }
                    "stop" => {
                        role = Role::Stopped;
                        on_fail = None;
                    }
                    "promote" => {
                        role = Role::Promoted;
                        on_fail = None;
                    }
                    "demote" => {
                        role = Role::Unpromoted;
                        on_fail = None;
                    }
                    "monitor" => {
                        if let Some(r) = role_of_monitor_rc(op.rc) {
                            if op.interval == 0
                                || role == Role::Unknown
                                || r == Role::Promoted
                                || r == Role::Stopped
                            {
                                role = if r == Role::Started
                                    && (role == Role::Unpromoted || role == Role::Promoted)
                                    && op.interval > 0
                                {
                                    role
                                } else {
                                    r
                                };
                            }
                            if op.interval == 0 {
                                on_fail = None;
                            }
                        }
                    }
                    _ => {}
                }
                continue;
            }
            if op.status == 2 && op.rc == 0 {
                // cancelled/timeout with success code: treat as error
            }
            // Failure.
            let mut of = self.op_on_fail(p, op);
            if of == "ignore" && op.status == 7 {
                // A missing agent cannot be ignored.
                of = "restart".into();
            }
            let ft = self.rs[p]
                .def
                .meta("failure-timeout")
                .map(|s| super::input::parse_interval(s, false) / 1000)
                .unwrap_or(0) as i64;
            if ft > 0 && of != "block" {
                if let (Some(now), Some(lc)) = (self.inp.now, op.last_change) {
                    if now > lc + ft {
                        continue;
                    }
                }
            }
            if of == "ignore" {
                self.rs[p].failure_ignored = true;
                match op.task.as_str() {
                    "start" => role = Role::Started,
                    "stop" => role = Role::Stopped,
                    "promote" => role = Role::Promoted,
                    "demote" => role = Role::Unpromoted,
                    _ => {}
                }
                continue;
            }
            match op.task.as_str() {
                "stop" => {
                    stop_failed = true;
                    role = Role::Started;
                }
                "start" => role = Role::Started,
                "promote" => role = Role::Promoted,
                "demote" => role = if of == "block" { Role::Promoted } else { Role::Unpromoted },
                "monitor" => {
                    if op.rc == 7 {
                        // not running when expected to be: role stays as before (failed)
                        if role == Role::Unknown || role == Role::Stopped {
                            role = if op.interval == 0 { Role::Stopped } else { Role::Started };
                        }
                    } else if op.rc == 8 {
                        role = Role::Promoted;
                    } else if op.interval == 0 && matches!(op.rc, 5) {
                        role = Role::Stopped;
                        self.rs[p].not_installed = true;
                        if !self.rs[p].banned.contains(&n) {
                            self.rs[p].banned.push(n);
                        }
                        continue;
                    } else if role == Role::Unknown || role == Role::Stopped {
                        role = Role::Started;
                    }
                }
                _ => {}
            }
            let sev = |s: &str| match s {
                "ignore" => 0,
                "restart" => 1,
                "block" => 3,
                "stop" => 2,
                "standby" => 4,
                "fence" => 5,
                _ => 1,
            };
            if matches!(op.rc, 2 | 5) && !(op.task == "monitor" && op.interval == 0 && op.rc == 5) {
                if !self.rs[p].banned.contains(&n) {
                    self.rs[p].banned.push(n);
                }
            } else if op.rc == 6 {
                self.rs[p].banned_everywhere = true;
            } else if matches!(op.rc, 3 | 4) && !self.rs[p].banned.contains(&n) {
                self.rs[p].banned.push(n);
            }
            if on_fail.as_ref().map(|c| sev(&of) >= sev(c)).unwrap_or(true) {
                on_fail = Some(of);
            }
        }
        if role == Role::Unknown {
            role = Role::Stopped;
        }
        if role == Role::Started && promotable {
            role = Role::Unpromoted;
        }
        if role == Role::Stopped && !stop_failed {
            if on_fail.as_deref() == Some("stop") {
                self.rs[p].on_fail_stop = true;
            }
            return;
        }
        let r = &mut self.rs[p];
        if !r.running.contains(&n) {
            r.running.push(n);
        }
        if stop_failed && !r.stop_fail_ban.contains(&n) {
            r.stop_fail_ban.push(n);
        }
        if r.role < role || r.role == Role::Stopped {
            r.role = role;
        }
        if stop_failed && !self.nodes[n].online && self.nodes[n].unclean {
            // On a lost node that needs fencing anyway, a failed stop just leaves it active.
            return;
        }
        match on_fail.as_deref() {
            Some("ignore") => r.failure_ignored = true,
            Some("block") => {
                r.failed = true;
                r.on_fail_block = true;
            }
            Some("stop") => {
                r.failed = true;
                r.on_fail_stop = true;
            }
            Some("fence") => {
                r.failed = true;
                if stop_failed {
                    r.stop_failed_nodes.push(n);
                }
                let id = r.id.clone();
                if self.stonith && !self.nodes[n].unclean {
                    self.nodes[n].unclean = true;
                    self.nodes[n].unclean_reason = format!("{id} failed there");
                }
            }
            Some("standby") => {
                r.failed = true;
                self.nodes[n].standby = true;
            }
            Some(_) => r.failed = true,
            None => {}
        }
        if stop_failed && !self.stonith {
            let r = &mut self.rs[p];
            r.on_fail_block = true;
            r.failed = true;
        }
    }

    fn eval_expr(&self, e: &Element, n: usize) -> bool {
        match e.name.as_str() {
            "expression" => {
                let attr = e.attr("attribute").unwrap_or("");
                let node = &self.nodes[n];
                let val: Option<String> = match attr {
                    "#uname" => Some(node.name.clone()),
                    "#id" => Some(node.id.clone()),
                    "#kind" => Some("cluster".into()),
                    "#is_dc" => Some(
                        if self.inp.dc_uuid.as_deref() == Some(node.id.as_str()) {
                            "true"
                        } else {
                            "false"
                        }
                        .into(),
                    ),
                    _ => node.attrs.get(attr).cloned(),
                };
                let op = e.attr("operation").unwrap_or("eq");
                let want = e.attr("value").unwrap_or("");
                match op {
                    "defined" => val.is_some(),
                    "not_defined" => val.is_none(),
                    _ => {
                        let Some(v) = val else { return false };
                        let num = match (v.trim().parse::<f64>(), want.trim().parse::<f64>()) {
                            (Ok(a), Ok(b)) if matches!(op, "lt" | "gt" | "lte" | "gte") => {
                                Some((a, b))
                            }
                            _ => None,
                        };
                        let ord = match num {
                            Some((a, b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
                            None => v.as_str().cmp(want),
                        };
                        use std::cmp::Ordering::*;
                        match op {
                            "eq" => v == want,
                            "ne" => v != want,
                            "lt" => ord == Less,
                            "gt" => ord == Greater,
                            "lte" => ord != Greater,
                            "gte" => ord != Less,
                            _ => false,
                        }
                    }
                }
            }
            "rule" => self.eval_rule(e, n),
            "date_expression" => false,
            _ => false,
        }
    }

    fn eval_rule(&self, rule: &Element, n: usize) -> bool {
        let or = rule.attr("boolean-op").map(|s| s == "or").unwrap_or(false);
        let mut any = false;
        let mut all = true;
        let mut count = 0;
        for c in &rule.children {
            if !matches!(c.name.as_str(), "expression" | "rule" | "date_expression") {
                continue;
            }
            count += 1;
            let v = self.eval_expr(c, n);
            any |= v;
            all &= v;
        }
        if count == 0 {
            return true;
        }
        if or {
            any
        } else {
            all
        }
    }

    fn apply_locations(&mut self) {
        let locs = self.inp.locations.clone();
        for l in &locs {
            let Some(t) = self.constraint_target(&l.rsc) else { continue };
            let promo = l.role == Some(Role::Promoted);
            let mut per: Vec<Option<i64>> = vec![None; self.nodes.len()];
            let mut per_promo: Vec<Option<i64>> = vec![None; self.nodes.len()];
            if let Some((node, sc)) = &l.node {
                if let Some(n) = self.nodes.iter().position(|x| &x.name == node) {
                    if promo {
                        per_promo[n] = Some(*sc);
                    } else {
                        per[n] = Some(*sc);
                    }
                }
            }
            for rule in &l.rules {
                let rule_promo =
                    promo || rule.attr("role").and_then(Role::parse) == Some(Role::Promoted);
                let per = if rule_promo { &mut per_promo } else { &mut per };
                let sc = rule.attr("score").map(score::parse);
                for (n, slot) in per.iter_mut().enumerate() {
                    if self.eval_rule(rule, n) {
                        let v = match sc {
                            Some(v) => v,
                            None => match rule
                                .attr("score-attribute")
                                .and_then(|a| self.nodes[n].attrs.get(a))
                            {
                                Some(v) => score::parse(v),
                                None => continue,
                            },
                        };
                        *slot = Some(slot.map(|x| add(x, v)).unwrap_or(v));
                    }
                }
            }
            for (n, v) in per_promo.into_iter().enumerate() {
                let Some(v) = v else { continue };
                self.rs[t].promo_loc[n] = add(self.rs[t].promo_loc[n], v);
            }
            for (n, v) in per.into_iter().enumerate() {
                let Some(v) = v else { continue };
                {
                    self.rs[t].loc[n] = Some(match self.rs[t].loc[n] {
                        Some(x) => add(x, v),
                        None => add(self.inp.nodes[n].weight, v),
                    });
                }
            }
        }
    }

    /// Base weights of a primitive: own + ancestors' locations, stickiness, fail-count bans.
    fn base_weights(&self, p: usize) -> Vec<Option<i64>> {
        self.base_weights_but(p, None)
    }

    /// [`Eng::base_weights`], where the locations of ancestor `skip` only make its nodes
    /// allowed (with score 0), as Pacemaker applies a group's locations to members after the
    /// first.
    fn base_weights_but(&self, p: usize, skip: Option<usize>) -> Vec<Option<i64>> {
        let nn = self.nodes.len();
        let mut w = self.rs[p].loc.clone();
        let mut a = self.rs[p].parent;
        while let Some(x) = a {
            if Some(x) == skip {
                for (n, slot) in w.iter_mut().enumerate() {
                    if slot.is_none() && self.rs[x].loc[n].is_some() {
                        *slot = Some(0);
                    }
                }
                a = self.rs[x].parent;
                continue;
            }
            for (n, slot) in w.iter_mut().enumerate() {
                if let Some(v) = self.rs[x].loc[n] {
                    *slot = Some(slot.map(|y| add(y, v)).unwrap_or(v));
                } else if !self.symmetric
                    && self.rs[x].loc[n].is_none()
                    && slot.is_some()
                    && self.rs[p].loc[n].is_none()
                {
                    // not allowed by the ancestor
                }
            }
            a = self.rs[x].parent;
        }
        let r = &self.rs[p];
        let managed = self.is_managed(p);
        let stick = self.stickiness(p);
        if managed && stick > 0 && r.running.len() == 1 {
            let n = r.running[0];
            if let Some(v) = w[n] {
                w[n] = Some(add(v, stick));
            } else if self.symmetric {
                w[n] = Some(stick);
            }
        }
        // An active promotable instance's positive promotion score counts for its placement
        // where it runs. (Pacemaker also adds it on nodes where the instance is not active;
        // that needs its instance-to-node matching, which ours does not follow yet.)
        if let Some(c) =
            r.parent.filter(|&c| self.rs[c].kind == Kind::Clone && self.rs[c].promotable)
        {
            for n in 0..nn {
                if !self.nodes[n].can_run() || w[n].is_none() || !r.running.contains(&n) {
                    continue;
                }
                let name = r.hist_name.clone().unwrap_or(r.id.clone());
                let attrs = &self.nodes[n].attrs;
                let v = attrs.get(&format!("master-{name}")).or_else(|| {
                    if self.rs[c].unique {
                        None
                    } else {
                        attrs.get(&format!("master-{}", r.base))
                    }
                });
                if let Some(v) = v.map(|v| score::parse(v)).filter(|&v| v > 0) {
                    w[n] = w[n].map(|x| add(x, v));
                }
            }
        }
        if !managed {
            // Pacemaker pins an unmanaged resource where it runs.
            for &n in &r.running {
                w[n] = Some(add(w[n].unwrap_or(0), INFINITY));
            }
        }
        // migration-threshold
        let thr = r.def.meta("migration-threshold").map(score::parse).unwrap_or(INFINITY);
        if thr > 0 {
            for n in 0..nn {
                let fc = self.fail_count(p, n);
                if fc >= thr {
                    w[n] = Some(-INFINITY);
                }
            }
        }
        if (r.on_fail_stop && r.failed) || r.banned_everywhere || r.orphan {
            for s in w.iter_mut() {
                *s = Some(-INFINITY);
            }
        }
        for &n in r.banned.iter().chain(&r.stop_fail_ban) {
            w[n] = Some(-INFINITY);
        }
        w
    }

    /// Fail count of `p` on node `n`; a container adds those of the resources it holds.
    fn fail_count(&self, p: usize, n: usize) -> i64 {
        let mut total = self.own_fail_count(p, n);
        if let Some(qs) = self.contained.get(&self.rs[p].id) {
            for &q in qs {
                if q != p {
                    total = add(total, self.own_fail_count(q, n));
                }
            }
        }
        total
    }

    fn own_fail_count(&self, p: usize, n: usize) -> i64 {
        let r = &self.rs[p];
        let uniq = self.clone_of(p).map(|c| self.rs[c].unique).unwrap_or(true);
        let name = if uniq { r.id.clone() } else { r.base.clone() };
        let ft = r
            .def
            .meta("failure-timeout")
            .map(|s| super::input::parse_interval(s, false) / 1000)
            .unwrap_or(0) as i64;
        let attrs = &self.nodes[n].attrs;
        let mut total = 0i64;
        for (k, v) in attrs {
            let matches =
                k == &format!("fail-count-{name}") || k.starts_with(&format!("fail-count-{name}#"));
            if matches && !r.failure_ignored {
                if ft > 0 {
                    if let (Some(now), Some(lf)) = (
                        self.inp.now,
                        attrs
                            .get(&k.replace("fail-count-", "last-failure-"))
                            .and_then(|s| s.parse::<i64>().ok()),
                    ) {
                        if now > lf + ft {
                            continue;
                        }
                    }
                }
                total = add(total, score::parse(v));
            }
        }
        total
    }

    fn is_managed(&self, p: usize) -> bool {
        let r = &self.rs[p];
        if !r.def.meta_bool("is-managed", true)
            || r.def.meta_bool("maintenance", false)
            || r.on_fail_block
        {
            return false;
        }
        if self.inp.option("maintenance-mode").map(is_true).unwrap_or(false) {
            return false;
        }
        if r.orphan
            && self.clone_of(p).is_none()
            && !self.inp.option("stop-orphan-resources").map(is_true).unwrap_or(true)
        {
            return false;
        }
        if r.running.iter().any(|&n| self.nodes[n].maintenance) {
            return false;
        }
        true
    }

    fn stickiness(&self, p: usize) -> i64 {
        let r = &self.rs[p];
        match r.def.meta("resource-stickiness") {
            Some(v) => score::parse(v),
            None => {
                if self.clone_of(p).is_some() {
                    1
                } else {
                    0
                }
            }
        }
    }

    fn target_role(&self, i: usize) -> Option<Role> {
        self.rs[i].def.meta("target-role").and_then(Role::parse)
    }

    fn primary_nodes(&self, prim: usize, role: Option<Role>, infinite: bool) -> Option<Vec<usize>> {
        let r = &self.rs[prim];
        match r.kind {
            Kind::Primitive => {
                let n = r.assigned?;
                if let Some(Role::Promoted) = role {
                    if r.next_role != Role::Promoted {
                        return Some(vec![]);
                    }
                }
                Some(vec![n])
            }
            Kind::Group => {
                let m = if infinite { *r.children.last()? } else { *r.children.first()? };
                self.primary_nodes(m, role, infinite)
            }
            Kind::Clone => {
                let mut v = Vec::new();
                for &c in &r.children {
                    let mut ps = Vec::new();
                    self.primitives_under(c, &mut ps);
                    if let Some(&first) = ps.first() {
                        if let Some(n) = self.rs[first].assigned {
                            if role == Some(Role::Promoted)
                                && self.rs[first].next_role != Role::Promoted
                            {
                                continue;
                            }
                            if role == Some(Role::Unpromoted)
                                && self.rs[first].next_role == Role::Promoted
                            {
                                continue;
                            }
                            v.push(n);
                        }
                    }
                }
                Some(v)
            }
        }
    }

    /// Weights for choosing a node for resource i (primitive or group), before colocations.
    fn own_weights(&self, i: usize) -> Vec<Option<i64>> {
        match self.rs[i].kind {
            Kind::Primitive => self.base_weights(i),
            Kind::Group => {
                let mut w: Vec<Option<i64>> = vec![None; self.nodes.len()];
                for (k, &m) in self.rs[i].children.iter().enumerate() {
                    let mw = self.base_weights_but(m, if k == 0 { None } else { Some(i) });
                    let before = w.clone();
                    for n in 0..w.len() {
                        w[n] = match (w[n], mw[n]) {
                            (Some(a), Some(b)) => Some(add(a, b)),
                            (None, Some(b)) if k == 0 => Some(b),
                            (None, Some(_)) => None,
                            (a, None) => {
                                if k == 0 {
                                    None
                                } else {
                                    a
                                }
                            }
                        };
                    }
                    // A later member's preferences are dropped if they leave the group nowhere.
                    if k > 0
                        && !(0..w.len()).any(|n| {
                            w[n].map(|x| x >= 0).unwrap_or(false) && self.nodes[n].can_run()
                        })
                    {
                        w = before;
                        break;
                    }
                }
                w
            }
            Kind::Clone => self.rs[i].loc.clone(),
        }
    }

    fn top_of(&self, i: usize) -> usize {
        let mut x = i;
        while let Some(p) = self.rs[x].parent {
            if self.rs[p].kind == Kind::Clone {
                break;
            }
            x = p;
        }
        x
    }

    /// The colocations where `i` (or, for a group, one of its members) is the dependent, in
    /// Pacemaker's order (see [`ColocIndex`]).
    fn this_with_of(&self, i: usize) -> Vec<usize> {
        let mut v: Vec<usize> = self.coloc.this_with.get(i).cloned().unwrap_or_default();
        if self.rs[i].kind == Kind::Group {
            for &m in &self.rs[i].children {
                v.extend(self.coloc.this_with.get(m).into_iter().flatten().copied());
            }
            let pri = |k: usize| self.coloc.pri[k].unwrap_or(0);
            v.sort_by(|&a, &b| {
                self.coloc_rank(pri(a)).cmp(&self.coloc_rank(pri(b))).then(b.cmp(&a))
            });
        }
        v
    }

    /// The colocations where `i` (or, for a group, one of its members) is the primary.
    fn with_this_of(&self, i: usize) -> Vec<usize> {
        let mut v: Vec<usize> = self.coloc.with_this.get(i).cloned().unwrap_or_default();
        if self.rs[i].kind == Kind::Group {
            for &m in &self.rs[i].children {
                v.extend(self.coloc.with_this.get(m).into_iter().flatten().copied());
            }
        }
        v
    }

    /// Apply the colocations `i` depends on: each primary is assigned first, then the
    /// dependent's scores follow it (mandatory: banned elsewhere; optional: the score is
    /// added where the primary is, rolled back if that leaves no usable node; a primary left
    /// unassigned takes its score away everywhere).
    fn apply_colocations(&mut self, i: usize, w: &mut [Option<i64>]) {
        let cols: &'a [super::input::Colocation] = &self.inp.colocations;
        for k in self.this_with_of(i) {
            let c = &cols[k];
            let (Some(_), Some(p)) = (self.coloc.dep[k], self.coloc.pri[k]) else { continue };
            if self.top_of(p) == self.top_of(i) {
                continue;
            }
            if c.rsc_role == Some(Role::Promoted) {
                continue;
            }
            let pt = self.top_of(p);
            if self.rs[pt].busy {
                continue;
            }
            // The primary's assignment may merge our scores so far.
            self.rs[i].allowed = Some(w.to_vec());
            self.assign(pt);
            let inf = c.score >= INFINITY;
            let before = w.to_vec();
            match self.primary_nodes(p, c.with_role, inf) {
                None => {
                    if c.score < 0 {
                        continue;
                    }
                    for s in w.iter_mut() {
                        *s = s.map(|x| add(x, -c.score));
                    }
                }
                Some(pn) => {
                    let attr_of = |e: &Self, n: usize| -> Option<String> {
                        if c.node_attr == "#uname" {
                            Some(e.nodes[n].name.clone())
                        } else {
                            e.nodes[n].attrs.get(&c.node_attr).cloned()
                        }
                    };
                    let vals: Vec<Option<String>> = pn.iter().map(|&n| attr_of(self, n)).collect();
                    for n in 0..w.len() {
                        let v = attr_of(self, n);
                        let same = v.is_some() && vals.contains(&v);
                        if same {
                            if c.score <= -INFINITY {
                                w[n] = Some(-INFINITY);
                            } else if c.score < INFINITY {
                                w[n] = w[n].map(|x| add(x, c.score));
                            }
                        } else if inf {
                            w[n] = Some(-INFINITY);
                        }
                    }
                }
            }
            if c.score.abs() < INFINITY && !self.any_available(w) {
                w.copy_from_slice(&before);
            }
        }
    }

    /// Pacemaker's test of a node for score display: like [`Node::can_run`], but the
    /// cluster-wide `maintenance-mode` does not count (only the node's own attribute does).
    fn node_available(&self, n: usize) -> bool {
        let node = &self.nodes[n];
        let own_maint = node.attrs.get("maintenance").map(|v| is_true(v)).unwrap_or(false);
        node.online
            && !node.unclean
            && !node.standby
            && !node.shutdown
            && !node.pending
            && !own_maint
    }

    /// A node that can run resources has a non-negative score.
    fn any_available(&self, w: &[Option<i64>]) -> bool {
        w.iter()
            .enumerate()
            .any(|(n, s)| s.map(|x| x >= 0).unwrap_or(false) && self.nodes[n].can_run())
    }

    /// Scores of `d` as Pacemaker's merge sees them: as left by its assignment, or its
    /// location preferences before that.
    fn allowed_of(&self, d: usize) -> Vec<Option<i64>> {
        match &self.rs[d].allowed {
            Some(v) => v.clone(),
            None => self.own_weights(d),
        }
    }

    /// A dependent influences its primary's placement when the constraint says so or the
    /// primary is not active yet.
    fn has_influence(&self, k: usize) -> bool {
        let c = &self.inp.colocations[k];
        if c.influence {
            return true;
        }
        let Some(p) = self.coloc.pri[k] else { return false };
        let mut ps = Vec::new();
        self.primitives_under(p, &mut ps);
        ps.iter().all(|&q| self.rs[q].running.is_empty())
    }

    /// Let the resources colocated with `i` pull it towards where they prefer to be: each
    /// dependent's scores, scaled by the constraint's score over INFINITY, are added, and
    /// recursively those of the resources colocated with that dependent (each level scaled by
    /// its own constraint's score only, keeping the sign); a step that leaves no usable node
    /// is rolled back.
    fn add_influence(&mut self, i: usize, w: &mut [Option<i64>]) {
        let cols: &'a [super::input::Colocation] = &self.inp.colocations;
        let mut merging = vec![false; self.rs.len()];
        let mut cur = w.to_vec();
        for k in self.with_this_of(i) {
            let c = &cols[k];
            let Some(d) = self.coloc.dep[k] else { continue };
            if !self.has_influence(k) || c.with_role.is_some() && c.with_role != Some(Role::Started)
            {
                continue;
            }
            let dt = self.top_of(d);
            if dt == self.top_of(i) || self.rs[dt].kind == Kind::Clone {
                continue;
            }
            let factor = c.score as f32 / INFINITY as f32;
            self.merge_scores(dt, &mut cur, &c.node_attr, factor, &mut merging);
        }
        w.copy_from_slice(&cur);
    }

    /// One step of [`Eng::add_influence`]: merge `d`'s scores into `nodes`, then those of the
    /// resources colocated with `d`.
    fn merge_scores(
        &self,
        d: usize,
        nodes: &mut Vec<Option<i64>>,
        attr: &str,
        factor: f32,
        merging: &mut Vec<bool>,
    ) {
        self.merge_scores_opt(d, nodes, attr, factor, merging, None);
    }

    /// [`Eng::merge_scores`]; with `unusable` (Pacemaker's "non-negative only" merge of a
    /// clone's dependents), a step may not make a score negative: a positive score that would
    /// go negative marks the node unusable (no further additions; 1 at the end), a zero one
    /// stays 0.
    fn merge_scores_opt(
        &self,
        d: usize,
        nodes: &mut Vec<Option<i64>>,
        attr: &str,
        factor: f32,
        merging: &mut Vec<bool>,
        mut unusable: Option<&mut Vec<bool>>,
    ) {
        if merging[d] {
            return;
        }
        merging[d] = true;
        let dw = self.allowed_of(d);
        let mut work = nodes.clone();
        let val = |n: usize| -> Option<&str> {
            if attr == "#uname" {
                Some(self.nodes[n].name.as_str())
            } else {
                self.nodes[n].attrs.get(attr).map(|s| s.as_str())
            }
        };
        for n in 0..work.len() {
            let Some(cur) = work[n] else { continue };
            let score = if attr == "#uname" {
                match dw[n] {
                    Some(x) if x > -INFINITY && self.nodes[n].can_run() => x,
                    _ => -INFINITY,
                }
            } else {
                let v = val(n);
                (0..dw.len())
                    .filter(|&m| v.is_some() && val(m) == v && self.nodes[m].can_run())
                    .filter_map(|m| dw[m])
                    .filter(|&x| x > -INFINITY)
                    .max()
                    .unwrap_or(-INFINITY)
            };
            if factor < 0.0 && score < 0 {
                continue;
            }
            let f = factor * score as f32;
            let mut weight = if f < 0.0 { (f - 0.5) as i64 } else { (f + 0.5) as i64 };
            if weight == 0 && score != 0 {
                if factor > 0.0 {
                    weight = 1;
                } else if factor < 0.0 {
                    weight = -1;
                }
            }
            let new = add(weight, cur);
            if let Some(u) = unusable.as_deref_mut() {
                if u[n] {
                    continue;
                }
                if new < 0 && cur > 0 {
                    u[n] = true;
                    continue;
                }
                if new < 0 && cur == 0 {
                    continue;
                }
            }
            work[n] = Some(new);
        }
        if !self.any_available(&work) {
            merging[d] = false;
            return;
        }
        let sign = if factor < 0.0 { -1.0f32 } else { 1.0 };
        for k in self.with_this_of(d) {
            let c = &self.inp.colocations[k];
            let Some(d2) = self.coloc.dep[k] else { continue };
            if !self.has_influence(k) || c.with_role.is_some() && c.with_role != Some(Role::Started)
            {
                continue;
            }
            let d2 = self.top_of(d2);
            if d2 == self.top_of(d) || self.rs[d2].kind == Kind::Clone {
                continue;
            }
            let f2 = sign * (c.score as f32 / INFINITY as f32);
            self.merge_scores_opt(
                d2,
                &mut work,
                &c.node_attr,
                f2,
                merging,
                unusable.as_deref_mut(),
            );
        }
        *nodes = work;
        merging[d] = false;
    }

    fn choose(
        &self,
        w: &[Option<i64>],
        current: Option<usize>,
        extra_ok: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        let mut cands: Vec<usize> = (0..w.len())
            .filter(|&n| {
                w[n].map(|x| x >= 0).unwrap_or(false) && self.nodes[n].can_run() && extra_ok(n)
            })
            .collect();
        if cands.is_empty() {
            return None;
        }
        cands.sort_by(|&a, &b| {
            let (wa, wb) = (w[a].unwrap(), w[b].unwrap());
            wb.cmp(&wa)
                .then(self.nodes[a].assigned_count.cmp(&self.nodes[b].assigned_count))
                .then((Some(b) == current).cmp(&(Some(a) == current)))
                .then(self.nodes[a].name.cmp(&self.nodes[b].name))
        });
        Some(cands[0])
    }

    fn can_start_anything(&self) -> bool {
        self.have_quorum || self.quorum_policy == "ignore"
    }

    fn assign_primitive_to(&mut self, p: usize, n: Option<usize>) {
        self.rs[p].done = true;
        if !self.is_managed(p) {
            self.rs[p].assigned = self.rs[p].running.first().copied();
            self.rs[p].next_role = self.rs[p].role;
            if let Some(x) = self.rs[p].assigned {
                self.nodes[x].assigned_count += 1;
            }
            return;
        }
        let n = n.filter(|_| self.target_role(p) != Some(Role::Stopped));
        self.rs[p].assigned = n;
        if let Some(x) = n {
            self.nodes[x].assigned_count += 1;
            let promotable = self.clone_of(p).map(|c| self.rs[c].promotable).unwrap_or(false);
            self.rs[p].next_role = if promotable { Role::Unpromoted } else { Role::Started };
        } else {
            self.rs[p].next_role = Role::Stopped;
        }
    }

    fn assign(&mut self, i: usize) {
        if self.rs[i].done || self.rs[i].busy {
            return;
        }
        self.rs[i].busy = true;
        match self.rs[i].kind {
            Kind::Primitive | Kind::Group => {
                let mut w = self.own_weights(i);
                self.apply_colocations(i, &mut w);
                self.add_influence(i, &mut w);
                self.apply_quorum_and_role(i, &mut w);
                if self.rs[i].kind == Kind::Primitive && self.stopped_by_target_role(i) {
                    // Pacemaker bans a resource meant to stay stopped from every node.
                    for s in w.iter_mut().flatten() {
                        *s = -INFINITY;
                    }
                }
                self.rs[i].allowed = Some(w.clone());
                let current = self.current_node(i);
                let chosen = self.choose(&w, current, &|_| true);
                if self.rs[i].kind == Kind::Group {
                    self.record_group_scores(i);
                } else {
                    self.record_scores("pcmk__primitive_assign", i, &w);
                }
                self.place(i, chosen);
                if self.rs[i].kind == Kind::Group {
                    self.record_member_scores(i, &w);
                }
            }
            Kind::Clone => self.assign_clone(i),
        }
        self.rs[i].busy = false;
        self.rs[i].done = true;
    }

    /// Scores as Pacemaker shows them when a group's assignment starts: the group's own
    /// locations, then each member's (the group's locations count in full for the first
    /// member only).
    fn record_group_scores(&mut self, g: usize) {
        let own = self.rs[g].loc.clone();
        self.record_group_scores_with(g, &own, false);
    }

    /// [`Eng::record_group_scores`] with the group's own line given; with `ban`, the nodes
    /// banned there are banned for the members too (a clone instance on full nodes).
    fn record_group_scores_with(&mut self, g: usize, own: &[Option<i64>], ban: bool) {
        if !self.want_scores {
            return;
        }
        self.record_scores("pcmk__group_assign", g, own);
        let kids = self.rs[g].children.clone();
        for (k, &m) in kids.iter().enumerate() {
            let mut w = self.base_weights_but(m, if k == 0 { None } else { Some(g) });
            if ban {
                for (n, s) in w.iter_mut().enumerate() {
                    if s.is_some() && own[n] == Some(-INFINITY) {
                        *s = Some(-INFINITY);
                    }
                }
            }
            self.record_scores("pcmk__group_assign", m, &w);
        }
    }

    /// Each member's final scores, as Pacemaker assigns members one by one: the first member
    /// has the group's combined scores; a later member is banned everywhere but where the
    /// member before it was placed, and there has its own score plus those of the members
    /// after it.
    fn record_member_scores(&mut self, g: usize, w: &[Option<i64>]) {
        if !self.want_scores {
            return;
        }
        let kids = self.rs[g].children.clone();
        let bases: Vec<Vec<Option<i64>>> = kids
            .iter()
            .enumerate()
            .map(|(k, &m)| self.base_weights_but(m, if k == 0 { None } else { Some(g) }))
            .collect();
        for (k, &m) in kids.iter().enumerate() {
            let mut v: Vec<Option<i64>> = if k == 0 {
                w.to_vec()
            } else {
                let prev = self.rs[kids[k - 1]].assigned;
                (0..w.len())
                    .map(|n| {
                        bases[k][n]?;
                        if Some(n) != prev {
                            return Some(-INFINITY);
                        }
                        let mut x = 0i64;
                        for b in &bases[k..] {
                            x = add(x, b[n].unwrap_or(0));
                        }
                        Some(x)
                    })
                    .collect()
            };
            if self.stopped_by_target_role(m) {
                for s in v.iter_mut().flatten() {
                    *s = -INFINITY;
                }
            }
            if k + 1 < kids.len() {
                // The next member's scores are merged in, and a node that cannot run it
                // counts as -INFINITY there.
                for (n, s) in v.iter_mut().enumerate() {
                    if s.is_some() && !self.node_available(n) {
                        *s = Some(-INFINITY);
                    }
                }
            }
            self.record_scores("pcmk__primitive_assign", m, &v);
        }
    }

    fn record_scores(&mut self, stage: &str, i: usize, w: &[Option<i64>]) {
        if !self.want_scores || self.rs[i].orphan {
            return;
        }
        for (n, v) in w.iter().enumerate() {
            let Some(v) = *v else { continue };
            let line = format!(
                "{stage}: {} allocation score on {}: {}",
                self.rs[i].id,
                self.nodes[n].name,
                score::fmt(v)
            );
            self.scores.push(line);
        }
    }

    fn current_node(&self, i: usize) -> Option<usize> {
        let mut ps = Vec::new();
        self.primitives_under(i, &mut ps);
        ps.iter().find_map(|&p| {
            if self.rs[p].running.len() == 1 {
                Some(self.rs[p].running[0])
            } else {
                None
            }
        })
    }

    fn needs_quorum(&self, i: usize) -> bool {
        let mut ps = Vec::new();
        self.primitives_under(i, &mut ps);
        ps.iter().any(|&p| {
            let r = &self.rs[p];
            !(r.def.agent.starts_with("stonith:") || r.def.meta("requires") == Some("nothing"))
        })
    }

    /// `target-role=Stopped` on the resource or an ancestor (children inherit it).
    fn stopped_by_target_role(&self, i: usize) -> bool {
        let mut x = Some(i);
        while let Some(r) = x {
            if let Some(t) = self.target_role(r) {
                return t == Role::Stopped;
            }
            x = self.rs[r].parent;
        }
        false
    }

    fn apply_quorum_and_role(&self, i: usize, w: &mut [Option<i64>]) {
        if !self.can_start_anything() && self.needs_quorum(i) {
            match self.quorum_policy.as_str() {
                "freeze" => {}
                _ => {
                    let mut ps = Vec::new();
                    self.primitives_under(i, &mut ps);
                    if ps.iter().any(|&p| !self.rs[p].running.is_empty()) {
                        for s in w.iter_mut() {
                            *s = Some(-INFINITY);
                        }
                    }
                }
            }
        }
    }

    /// Place a primitive or group on `node` (members follow while they can).
    fn place(&mut self, i: usize, node: Option<usize>) {
        match self.rs[i].kind {
            Kind::Primitive => self.assign_primitive_to(i, node),
            Kind::Group => {
                let mut ok = node;
                let kids = self.rs[i].children.clone();
                for m in kids {
                    if let Some(n) = ok {
                        let bw = self.base_weights(m);
                        if bw[n].map(|x| x < 0).unwrap_or(!self.symmetric)
                            || self.target_role(m) == Some(Role::Stopped)
                        {
                            ok = None;
                        }
                    }
                    self.assign_primitive_to(m, ok);
                    if self.rs[m].assigned.is_none() || self.rs[m].assigned != ok {
                        ok = None;
                    }
                }
                self.rs[i].done = true;
            }
            Kind::Clone => {}
        }
    }

    /// Instance scores with the nodes that cannot take it banned: those already holding
    /// `node_max` instances and those that cannot run resources.
    fn ban_full(
        &self,
        iw: &[Option<i64>],
        per_node: &[usize],
        node_max: usize,
    ) -> Vec<Option<i64>> {
        iw.iter()
            .enumerate()
            .map(|(n, v)| {
                v.map(|x| {
                    if per_node[n] >= node_max || !self.node_available(n) {
                        -INFINITY
                    } else {
                        x
                    }
                })
            })
            .collect()
    }

    /// Scores as Pacemaker shows them when a clone's assignment starts: the clone's own
    /// locations, then those of every instance (and of the members of instances that are
    /// groups).
    fn record_clone_scores(&mut self, c: usize) {
        if !self.want_scores {
            return;
        }
        let own = self.clone_pull_scores(c);
        self.record_scores("pcmk__clone_allocate", c, &own);
        let mut stack: Vec<usize> = self.rs[c].children.iter().rev().copied().collect();
        while let Some(x) = stack.pop() {
            let w = self.base_weights(x);
            self.record_scores("pcmk__clone_allocate", x, &w);
            stack.extend(self.rs[x].children.iter().rev().copied());
        }
    }

    /// The clone's node scores as its assignment shows them: its own locations, with its
    /// (non-clone) dependents pulling it as a primitive's do, never below zero.
    fn clone_pull_scores(&self, c: usize) -> Vec<Option<i64>> {
        let mut own = self.rs[c].loc.clone();
        let mut merging = vec![false; self.rs.len()];
        let mut unusable = vec![false; own.len()];
        for k in self.with_this_of(c) {
            let col = &self.inp.colocations[k];
            let Some(d) = self.coloc.dep[k] else { continue };
            let dt = self.top_of(d);
            if !self.has_influence(k) || dt == c || self.rs[dt].kind == Kind::Clone {
                continue;
            }
            let factor = col.score as f32 / INFINITY as f32;
            self.merge_scores_opt(
                dt,
                &mut own,
                &col.node_attr,
                factor,
                &mut merging,
                Some(&mut unusable),
            );
        }
        for (n, u) in unusable.iter().enumerate() {
            if *u {
                own[n] = Some(1);
            }
        }
        own
    }

    fn assign_clone(&mut self, c: usize) {
        let mut w = self.own_weights(c);
        self.apply_colocations(c, &mut w);
        self.apply_quorum_and_role(c, &mut w);
        self.record_clone_scores(c);
        let inst = self.rs[c].children.clone();
        let node_max = self.rs[c].clone_node_max.max(1);
        let total_max = self.rs[c].clone_max;
        let nn = self.nodes.len();
        let mut per_node = vec![0usize; nn];
        let mut placed = 0usize;
        let mut pending: Vec<usize> = Vec::new();
        let inst_weights = |e: &Self, k: usize| -> Vec<Option<i64>> {
            let own = e.own_weights(k);
            let mut out = w.clone();
            // instance-specific parts (stickiness, fail counts) = own minus clone locations
            for n in 0..nn {
                let extra = match (own[n], e.rs[c].loc[n]) {
                    (Some(a), Some(b))
                        if a > -INFINITY && b > -INFINITY && a < INFINITY && b < INFINITY =>
                    {
                        Some(a - b)
                    }
                    (Some(a), _) if a <= -INFINITY => Some(-INFINITY),
                    (Some(a), _) if a >= INFINITY => Some(INFINITY),
                    (Some(a), None) => Some(a),
                    _ => None,
                };
                if let Some(x) = extra {
                    out[n] = out[n].map(|y| add(y, x));
                }
            }
            out
        };
        // Pass 1: keep running instances where they are, up to an even share per node.
        let avail = (0..nn)
            .filter(|&n| self.nodes[n].can_run() && w[n].map(|x| x >= 0).unwrap_or(false))
            .count()
            .max(1);
        let share = total_max.div_ceil(avail).clamp(1, node_max);
        for &k in &inst {
            if self.rs[k].orphan {
                self.place_instance(k, None);
                continue;
            }
            let cur = self.current_node(k);
            let iw = inst_weights(self, k);
            let mut ps = Vec::new();
            self.primitives_under(k, &mut ps);
            let all_unmanaged = ps.iter().all(|&p| !self.is_managed(p))
                && !ps.is_empty()
                && ps.iter().any(|&p| !self.rs[p].running.is_empty());
            if all_unmanaged {
                self.place_instance(k, cur);
                placed += 1;
                continue;
            }
            match cur {
                Some(n)
                    if placed < total_max
                        && per_node[n] < share
                        && iw[n].map(|x| x >= 0).unwrap_or(false)
                        && self.nodes[n].can_run() =>
                {
                    let shown = self.ban_full(&iw, &per_node, node_max);
                    self.record_instance_scores(k, &shown);
                    per_node[n] += 1;
                    placed += 1;
                    self.place_instance(k, Some(n));
                }
                _ => pending.push(k),
            }
        }
        // Pass 2: the rest.
        for k in pending {
            let iw = inst_weights(self, k);
            if placed >= total_max {
                self.record_instance_scores(k, &iw);
                self.place_instance(k, None);
                continue;
            }
            let pn = per_node.clone();
            let chosen = self.choose(&iw, self.current_node(k), &|n| pn[n] < node_max);
            let shown = self.ban_full(&iw, &per_node, node_max);
            self.record_instance_scores(k, &shown);
            if let Some(n) = chosen {
                per_node[n] += 1;
                placed += 1;
            }
            self.place_instance(k, chosen);
        }
        if self.rs[c].promotable {
            self.promote(c);
        }
    }

    fn place_instance(&mut self, k: usize, n: Option<usize>) {
        self.place(k, n);
        self.rs[k].done = true;
        if let Some((g, w)) = self.member_scores_due.take() {
            if g == k {
                self.record_member_scores(k, &w);
            }
        }
    }

    /// An instance's assignment scores: a primitive's directly; for a group instance the
    /// group's lines now and its members' once the instance is placed.
    fn record_instance_scores(&mut self, k: usize, w: &[Option<i64>]) {
        if self.rs[k].kind == Kind::Group {
            // The instance's own scores (its members' stickiness is theirs), with its bans.
            let own: Vec<Option<i64>> = self
                .base_weights(k)
                .into_iter()
                .zip(w)
                .map(|(b, x)| if *x == Some(-INFINITY) { x.map(|_| -INFINITY) } else { b })
                .collect();
            self.record_group_scores_with(k, &own, true);
            if self.want_scores {
                self.member_scores_due = Some((k, w.to_vec()));
            }
        } else {
            self.record_scores("pcmk__primitive_assign", k, w);
        }
    }

    fn promote(&mut self, c: usize) {
        let inst = self.rs[c].children.clone();
        let can_promote = self.target_role(c) != Some(Role::Unpromoted)
            && (self.can_start_anything() || self.quorum_policy == "freeze");
        // (final score, index, instance, score before the per-node merge)
        let mut prio: Vec<(i64, usize, usize, i64)> = Vec::new();
        let mut placed: Vec<(i64, usize, usize, usize)> = Vec::new();
        for (idx, &k) in inst.iter().enumerate() {
            let mut ps = Vec::new();
            self.primitives_under(k, &mut ps);
            let Some(&first) = ps.first() else { continue };
            let Some(n) = self.rs[first].assigned else {
                if self.want_scores {
                    self.scores.push(format!("{} promotion score on none: 0", self.rs[k].id));
                }
                continue;
            };
            if !self.is_managed(first) {
                continue;
            }
            let mut score_v: Option<i64> = None;
            for &p in &ps {
                let first_name = self.rs[p].hist_name.clone().unwrap_or(self.rs[p].id.clone());
                let attrs = &self.nodes[n].attrs;
                let v = attrs.get(&format!("master-{first_name}")).or_else(|| {
                    if self.rs[c].unique {
                        None
                    } else {
                        attrs
                            .get(&format!("master-{}", self.rs[p].id))
                            .or_else(|| attrs.get(&format!("master-{}", self.rs[p].base)))
                    }
                });
                if let Some(v) = v {
                    score_v = Some(add(score_v.unwrap_or(0), score::parse(v)));
                }
            }
            let mut s = score_v.unwrap_or(-1);
            if self.target_role(first) == Some(Role::Unpromoted) {
                s = -INFINITY;
            }
            s = add(s, self.rs[c].promo_loc[n]);
            // Colocations whose dependent is this clone in the promoted role.
            for col in self.inp.colocations.clone() {
                let Some(d) = self.constraint_target(&col.rsc) else { continue };
                let Some(p) = self.constraint_target(&col.with) else { continue };
                if d == c && col.rsc_role == Some(Role::Promoted) {
                    let pt = self.top_of(p);
                    self.assign(pt);
                    let pn = self
                        .primary_nodes(p, col.with_role, col.score >= INFINITY)
                        .unwrap_or_default();
                    if pn.contains(&n) {
                        if col.score < INFINITY {
                            s = add(s, col.score);
                        }
                    } else if col.score >= INFINITY {
                        s = -INFINITY;
                    }
                }
            }
            placed.push((s, idx, k, n));
        }
        // Pacemaker then works per node: the clone's node scores plus the non-negative
        // instance scores on each node, pulled by the resources colocated with the promoted
        // role (and, recursively, by their own dependents, never below zero); an instance
        // with a non-negative score takes its node's result.
        let mut node_w: Vec<Option<i64>> =
            self.clone_pull_scores(c).into_iter().map(|v| Some(v.unwrap_or(0))).collect();
        for &(s, _, _, n) in &placed {
            if s >= 0 {
                node_w[n] = node_w[n].map(|x| add(x, s));
            }
        }
        let mut merging = vec![false; self.rs.len()];
        let mut unusable = vec![false; node_w.len()];
        for k in self.with_this_of(c) {
            let col = &self.inp.colocations[k];
            let Some(d) = self.coloc.dep[k] else { continue };
            if col.with_role != Some(Role::Promoted) || !self.has_influence(k) {
                continue;
            }
            let dt = self.top_of(d);
            if dt == c || self.rs[dt].kind == Kind::Clone {
                continue;
            }
            let factor = col.score as f32 / INFINITY as f32;
            self.merge_scores_opt(
                dt,
                &mut node_w,
                &col.node_attr,
                factor,
                &mut merging,
                Some(&mut unusable),
            );
        }
        for (n, u) in unusable.iter().enumerate() {
            if *u {
                node_w[n] = Some(1);
            }
        }
        for (pre, idx, k, n) in placed {
            let s = if pre >= 0 { node_w[n].unwrap_or(pre) } else { pre };
            if self.want_scores {
                self.scores.push(format!(
                    "{} promotion score on {}: {}",
                    self.rs[k].id,
                    self.nodes[n].name,
                    score::fmt(s)
                ));
            }
            prio.push((s, idx, k, pre));
        }
        prio.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| {
                    let pa = self.is_promoted_now(a.2);
                    let pb = self.is_promoted_now(b.2);
                    pb.cmp(&pa)
                })
                // Then the instance's own score (Pacemaker's instance priority).
                .then(b.3.cmp(&a.3))
                .then(a.1.cmp(&b.1))
        });
        let mut count = 0usize;
        let mut per_node: BTreeMap<usize, usize> = BTreeMap::new();
        // Unmanaged instances keep their role and use up promotion slots.
        for &k in &inst {
            let mut ps = Vec::new();
            self.primitives_under(k, &mut ps);
            if let Some(&first) = ps.first() {
                if !self.is_managed(first) && self.rs[first].role == Role::Promoted {
                    count += 1;
                    if let Some(n) = self.rs[first].running.first() {
                        *per_node.entry(*n).or_insert(0) += 1;
                    }
                }
            }
        }
        for (s, _, k, _) in prio {
            let mut ps = Vec::new();
            self.primitives_under(k, &mut ps);
            let n = self.rs[ps[0]].assigned.unwrap();
            if can_promote
                && s >= 0
                && count < self.rs[c].promoted_max
                && *per_node.get(&n).unwrap_or(&0) < self.rs[c].promoted_node_max
            {
                count += 1;
                *per_node.entry(n).or_insert(0) += 1;
                for p in ps {
                    if self.rs[p].assigned.is_some() {
                        self.rs[p].next_role = Role::Promoted;
                    }
                }
            }
        }
    }

    fn is_promoted_now(&self, k: usize) -> bool {
        let mut ps = Vec::new();
        self.primitives_under(k, &mut ps);
        ps.iter().any(|&p| self.rs[p].role == Role::Promoted)
    }
}

fn line(
    change: &str,
    rsc: &str,
    details: &str,
    reason: Option<String>,
) -> (String, String, String, Option<String>) {
    (change.to_string(), rsc.to_string(), details.to_string(), reason)
}

/// Whether a definition is or contains an LSB primitive (which forces anonymous clones).
fn has_lsb(d: &RscDef) -> bool {
    d.agent.starts_with("lsb:") || d.children.iter().any(has_lsb)
}

/// Compute the transition for `input`.
pub fn schedule(input: &SchedulerInput) -> Transition {
    run(input, false)
}

/// [`schedule`], also keeping the allocation and promotion score lines
/// ([`Transition::scores`]) the way `crm_simulate -s` shows them.
pub fn schedule_with_scores(input: &SchedulerInput) -> Transition {
    run(input, true)
}

fn run(input: &SchedulerInput, want_scores: bool) -> Transition {
    let mut e = Eng::new(input);
    e.want_scores = want_scores;
    for d in input.resources.clone() {
        let i = e.add_rsc(&d, None, "");
        e.tops.push(i);
    }
    e.unpack_status();
    e.apply_locations();
    e.build_indexes();
    // Fencing of unclean nodes.
    for n in 0..e.nodes.len() {
        if e.nodes[n].unclean && e.stonith && (e.can_start_anything() || e.nodes[n].online) {
            let r = e.nodes[n].unclean_reason.clone();
            e.fences.push((n, r));
        }
    }
    let before = view(&e, false);
    // Fencing makes everything on the node stopped, clearing blocked failures there.
    for p in 0..e.rs.len() {
        let r = &e.rs[p];
        if !r.running.is_empty() && r.running.iter().all(|&n| e.fences.iter().any(|(f, _)| *f == n))
        {
            e.rs[p].failed = false;
            e.rs[p].on_fail_block = false;
        }
    }
    let mut order = e.tops.clone();
    order.sort_by_key(|&i| -e.rs[i].def.meta("priority").map(score::parse).unwrap_or(0));
    for i in order {
        e.assign(i);
    }
    if !e.can_start_anything() {
        let why = if e.quorum_policy == "freeze" { "quorum freeze" } else { "no quorum" };
        for p in 0..e.rs.len() {
            if e.rs[p].kind == Kind::Primitive
                && e.rs[p].assigned.is_some()
                && (e.rs[p].running.is_empty()
                    || (e.rs[p].running.iter().all(|&n| e.nodes[n].unclean)
                        && e.rs[p].running.first().copied() != e.rs[p].assigned))
                && e.is_managed(p)
                && e.rs[p].def.meta("requires") != Some("nothing")
            {
                e.rs[p].start_blocked = Some(why.to_string());
            }
        }
    }
    // A failed resource that lives in a container recovers the container with it.
    for p in 0..e.rs.len() {
        let r = &e.rs[p];
        if r.kind != Kind::Primitive || !r.failed || r.assigned.is_none() {
            continue;
        }
        let Some(x) = r.def.meta("container").and_then(|c| e.rs.iter().position(|q| q.id == c))
        else {
            continue;
        };
        let c = &mut e.rs[x];
        if x != p
            && !c.failed
            && c.restart_reason.is_none()
            && c.assigned.is_some()
            && c.running.first().copied() == c.assigned
        {
            c.restart_reason = Some(String::new());
        }
    }
    apply_orders(&mut e);
    // Dependents of a primary whose start cannot happen cannot stay with it.
    let mut coloc_changed = false;
    for c in e.inp.colocations.clone() {
        if c.score < INFINITY {
            continue;
        }
        let (Some(d), Some(p)) = (e.constraint_target(&c.rsc), e.constraint_target(&c.with)) else {
            continue;
        };
        if e.rs[p].kind != Kind::Primitive || e.rs[p].start_blocked.is_none() {
            continue;
        }
        let mut dps = Vec::new();
        e.primitives_under(d, &mut dps);
        for q in dps {
            if e.rs[q].assigned.is_some() && e.rs[q].start_blocked.is_none() && e.is_managed(q) {
                e.rs[q].start_blocked = Some(format!("colocation with {}", e.rs[p].id));
                coloc_changed = true;
            }
        }
    }
    if coloc_changed {
        apply_orders(&mut e);
    }
    let (summary, actions, edges) = derive_actions(&mut e);
    let after = view(&e, true);
    let mut scores = std::mem::take(&mut e.scores);
    scores.sort();
    Transition { summary, actions, edges, scores, before, after }
}

struct Ord {
    first: usize,
    then: usize,
    first_action: String,
    implicit: bool,
    id: String,
    symmetrical: bool,
    one_or_more: bool,
}

fn prim_restarts(r: &R) -> bool {
    r.assigned.is_some()
        && r.start_blocked.is_none()
        && (r.running.is_empty()
            || r.failed
            || r.restart_reason.is_some()
            || r.running.len() > 1
            || r.assigned != r.running.first().copied())
}

fn first_up(e: &Eng, f: usize, action: &str, symmetrical: bool, one_or_more: bool) -> bool {
    let up = |p: usize| {
        let r = &e.rs[p];
        r.assigned.is_some()
            && r.start_blocked.is_none()
            && !r.on_fail_block
            && (action != "promote" || r.next_role == Role::Promoted)
    };
    match e.rs[f].kind {
        Kind::Primitive => up(f),
        Kind::Group => e.rs[f].children.iter().all(|&m| up(m)),
        Kind::Clone => {
            let min = e.rs[f]
                .def
                .meta("clone-min")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1);
            let n = e.rs[f]
                .children
                .iter()
                .filter(|&&k| {
                    let mut ps = Vec::new();
                    e.primitives_under(k, &mut ps);
                    !ps.is_empty()
                        && ps.iter().all(|&p| {
                            up(p)
                                || (min == 1
                                    && !symmetrical
                                    && !one_or_more
                                    && !e.rs[p].running.is_empty()
                                    && action != "promote")
                        })
                })
                .count();
            n >= min
        }
    }
}

fn apply_orders(e: &mut Eng) {
    let mut ords: Vec<Ord> = Vec::new();
    for g in 0..e.rs.len() {
        if e.rs[g].kind == Kind::Group && e.rs[g].def.meta_bool("ordered", true) {
            let kids = e.rs[g].children.clone();
            for w in kids.windows(2) {
                ords.push(Ord {
                    first: w[0],
                    then: w[1],
                    first_action: "start".into(),
                    implicit: true,
                    id: String::new(),
                    symmetrical: true,
                    one_or_more: false,
                });
            }
        }
    }
    let mut restart_only: Vec<Ord> = Vec::new();
    for o in &e.inp.orders {
        if !o.mandatory && o.then_action == "start" && o.first_action == "start" {
            if let (Some(f), Some(t)) =
                (e.constraint_target(&o.first), e.constraint_target(&o.then))
            {
                if e.rs[t].def.meta("restart-type") == Some("restart") {
                    restart_only.push(Ord {
                        first: f,
                        then: t,
                        first_action: "start".into(),
                        implicit: false,
                        id: o.id.clone(),
                        symmetrical: o.symmetrical,
                        one_or_more: false,
                    });
                }
            }
        }
        if !o.mandatory
            || o.then_action != "start"
            || !(o.first_action == "start" || o.first_action == "promote")
        {
            continue;
        }
        let (Some(f), Some(t)) = (e.constraint_target(&o.first), e.constraint_target(&o.then))
        else {
            continue;
        };
        ords.push(Ord {
            first: f,
            then: t,
            first_action: o.first_action.clone(),
            implicit: false,
            id: o.id.clone(),
            symmetrical: o.symmetrical,
            one_or_more: !o.require_all,
        });
    }
    for o in &restart_only {
        let mut fp = Vec::new();
        e.primitives_under(o.first, &mut fp);
        if fp.iter().any(|&p| prim_restarts(&e.rs[p])) {
            let label = if e.rs[o.first].kind == Kind::Primitive {
                format!("{} start", e.rs[o.first].id)
            } else {
                format!("{} running", e.rs[o.first].id)
            };
            let mut tp = Vec::new();
            e.primitives_under(o.then, &mut tp);
            for p in tp {
                let r = &mut e.rs[p];
                if r.assigned.is_some()
                    && r.running.first().copied() == r.assigned
                    && !r.failed
                    && r.restart_reason.is_none()
                    && r.running.len() == 1
                {
                    r.restart_reason = Some(format!("required {label}"));
                }
            }
        }
    }
    let limit = e.rs.len() + 2;
    for _ in 0..limit {
        let mut changed = false;
        for o in &ords {
            let f = o.first;
            let label = match e.rs[f].kind {
                Kind::Primitive => format!("{} {}", e.rs[f].id, o.first_action),
                Kind::Clone if e.rs[f].def.meta("clone-min").is_some() || o.one_or_more => {
                    format!("clone-one-or-more:{}", o.id)
                }
                _ => format!(
                    "{} {}",
                    e.rs[f].id,
                    if o.first_action == "promote" { "promoted" } else { "running" }
                ),
            };
            let interleave = e.rs[f].kind == Kind::Clone
                && e.rs[f].def.meta("clone-min").is_none()
                && !o.one_or_more
                && e.rs[o.then].kind == Kind::Clone
                && e.rs[o.then].def.meta_bool("interleave", false);
            if interleave {
                // Per node: the then-instance follows the first-instance on the same node.
                let finst = e.rs[f].children.clone();
                let tinst = e.rs[o.then].children.clone();
                for &ti in &tinst {
                    let mut tp = Vec::new();
                    e.primitives_under(ti, &mut tp);
                    let Some(&t0) = tp.first() else { continue };
                    let Some(node) = e.rs[t0].assigned else { continue };
                    let fi = finst.iter().copied().find(|&k| {
                        let mut ps = Vec::new();
                        e.primitives_under(k, &mut ps);
                        ps.first()
                            .map(|&p| {
                                e.rs[p].assigned == Some(node) || e.rs[p].running.contains(&node)
                            })
                            .unwrap_or(false)
                    });
                    let Some(fi) = fi else {
                        // No instance of first on this node: a new then-instance cannot start.
                        if o.first_action == "start" && o.symmetrical {
                            for &p in &tp {
                                if e.rs[p].running.is_empty() && e.rs[p].assigned.is_some() {
                                    e.rs[p].assigned = None;
                                    changed = true;
                                }
                            }
                        }
                        continue;
                    };
                    let mut fp = Vec::new();
                    e.primitives_under(fi, &mut fp);
                    let flabel = if e.rs[fi].kind == Kind::Primitive {
                        format!("{} start", e.rs[fi].id)
                    } else {
                        format!("{} running", e.rs[fi].id)
                    };
                    let fi_up = fp.iter().all(|&p| {
                        let r = &e.rs[p];
                        r.assigned.is_some() && r.start_blocked.is_none() && !r.on_fail_block
                    });
                    if !fi_up && o.first_action == "start" {
                        let tfirst =
                            if e.rs[ti].kind == Kind::Group { vec![t0] } else { tp.clone() };
                        let fi_blocked = fp.iter().any(|&p| {
                            e.rs[p].start_blocked.is_some() && !e.rs[p].running.is_empty()
                        });
                        for p in tfirst {
                            if e.rs[p].assigned.is_some()
                                && (e.rs[p].running.is_empty() || fi_blocked)
                                && e.rs[p].start_blocked.is_none()
                                && e.is_managed(p)
                            {
                                let why = if fi_blocked { "required" } else { "unrunnable" };
                                e.rs[p].start_blocked = Some(format!("{why} {flabel}"));
                                changed = true;
                            }
                        }
                        continue;
                    }
                    if fp.iter().any(|&p| prim_restarts(&e.rs[p])) {
                        let tfirst =
                            if e.rs[ti].kind == Kind::Group { vec![t0] } else { tp.clone() };
                        for p in tfirst {
                            let r = &mut e.rs[p];
                            if r.assigned.is_some()
                                && r.running.first().copied() == r.assigned
                                && !r.failed
                                && r.restart_reason.is_none()
                            {
                                r.restart_reason = Some(format!("required {flabel}"));
                                changed = true;
                            }
                        }
                    }
                }
                continue;
            }
            let mut tp = Vec::new();
            e.primitives_under(o.then, &mut tp);
            if e.rs[o.then].kind == Kind::Group && e.rs[o.then].def.meta_bool("ordered", true) {
                tp.truncate(1);
            }
            if e.rs[o.then].kind == Kind::Clone {
                // Cloned groups: only each instance's first member.
                let mut keep = Vec::new();
                for &k in &e.rs[o.then].children {
                    let mut ps = Vec::new();
                    e.primitives_under(k, &mut ps);
                    if e.rs[k].kind == Kind::Group {
                        ps.truncate(1);
                    }
                    keep.extend(ps);
                }
                tp = keep;
            }
            if !first_up(e, f, &o.first_action, o.symmetrical, o.one_or_more) {
                let mut fps = Vec::new();
                e.primitives_under(f, &mut fps);
                let first_active_prim = (e.rs[f].kind == Kind::Primitive
                    && !e.rs[f].running.is_empty()
                    && !e.rs[f].on_fail_block)
                    || (e.rs[f].kind == Kind::Clone
                        && fps.iter().any(|&p| {
                            !e.rs[p].running.is_empty() && e.rs[p].start_blocked.is_some()
                        }));
                let reason = if o.implicit || first_active_prim {
                    format!("required {label}")
                } else {
                    format!("unrunnable {label}")
                };
                for &p in &tp {
                    let staying = e.rs[p].running.len() == 1
                        && e.rs[p].running.first().copied() == e.rs[p].assigned
                        && !e.rs[p].failed
                        && e.rs[p].restart_reason.is_none();
                    if e.rs[p].assigned.is_some()
                        && e.rs[p].start_blocked.is_none()
                        && e.is_managed(p)
                        && (o.symmetrical || !staying)
                    {
                        e.rs[p].start_blocked = Some(reason.clone());
                        changed = true;
                    }
                }
            } else {
                let mut fp = Vec::new();
                e.primitives_under(f, &mut fp);
                // A clone-one-or-more first only gates runnability: its starts restart nothing.
                let gate_only = label.starts_with("clone-one-or-more:");
                // New instances of a clone starting elsewhere do not restart what follows it.
                let is_clone = e.rs[f].kind == Kind::Clone;
                let restarts =
                    |p: usize| prim_restarts(&e.rs[p]) && !(is_clone && e.rs[p].running.is_empty());
                if !gate_only && fp.iter().any(|&p| restarts(p)) {
                    for &p in &tp {
                        let r = &mut e.rs[p];
                        if r.assigned.is_some()
                            && r.running.first().copied() == r.assigned
                            && !r.failed
                            && r.restart_reason.is_none()
                            && r.running.len() == 1
                        {
                            r.restart_reason = Some(format!("required {label}"));
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
}

fn derive_actions(e: &mut Eng) -> (Vec<String>, Vec<Action>, Vec<(usize, usize)>) {
    let mut lines: Vec<(String, String, String, Option<String>)> = Vec::new();
    let mut actions: Vec<Action> = Vec::new();
    let mut edges = Vec::new();
    let mut fence_lines = Vec::new();
    for (n, reason) in &e.fences {
        fence_lines.push(format!("Fence (reboot) {} '{}'", e.nodes[*n].name, reason));
        actions.push(Action::on(e.nodes[*n].name.clone(), "fence", e.nodes[*n].name.clone()));
    }
    let no_quorum = !e.can_start_anything();
    // Stops that must wait for a blocked resource's stop cannot happen either.
    let mut stop_blocked: Vec<usize> = Vec::new();
    // Why a group member cannot stop: the later member whose stop cannot run.
    let mut stop_why: Vec<(usize, String)> = Vec::new();
    for o in &e.inp.orders {
        if !o.mandatory {
            continue;
        }
        let (Some(f), Some(t)) = (e.constraint_target(&o.first), e.constraint_target(&o.then))
        else {
            continue;
        };
        let (before, after) = if o.first_action == "stop" && o.then_action == "stop" {
            (f, t)
        } else if o.first_action == "start" && o.then_action == "start" && o.symmetrical {
            (t, f)
        } else {
            continue;
        };
        let mut bp = Vec::new();
        e.primitives_under(before, &mut bp);
        if bp.iter().any(|&p| e.rs[p].on_fail_block && !e.rs[p].running.is_empty()) {
            e.primitives_under(after, &mut stop_blocked);
        }
    }
    for g in 0..e.rs.len() {
        if e.rs[g].kind != Kind::Group {
            continue;
        }
        let kids = e.rs[g].children.clone();
        for k in (0..kids.len().saturating_sub(1)).rev() {
            let later = kids[k + 1];
            if (e.rs[later].on_fail_block && !e.rs[later].running.is_empty())
                || stop_blocked.contains(&later)
            {
                stop_blocked.push(kids[k]);
                if !stop_why.iter().any(|(q, _)| *q == kids[k]) {
                    stop_why.push((kids[k], format!("unrunnable {} stop", e.rs[later].id)));
                }
            }
        }
    }
    for p in 0..e.rs.len() {
        if e.rs[p].kind != Kind::Primitive {
            continue;
        }
        let managed = e.is_managed(p);
        let r = e.rs[p].clone();
        let name = |n: usize| e.nodes[n].name.clone();
        let cur = r.running.first().copied();
        let next = r.assigned;
        if !managed {
            continue;
        }
        let on_fenced = cur.map(|n| e.nodes[n].unclean).unwrap_or(false);
        let mut next_eff = next;
        let mut reason = r.start_blocked.clone();
        if let (Some(b), Some(_)) = (&r.start_blocked, cur) {
            next_eff = None;
            reason = Some(b.clone());
        }
        let need_role = r.role > Role::Started || r.next_role > Role::Unpromoted;
        match (cur, next_eff) {
            (None, None) => {}
            (None, Some(n)) => {
                let blocked = r.start_blocked.is_some();
                if r.next_role == Role::Promoted {
                    lines.push(line(
                        "Promote",
                        &r.id,
                        &format!("Stopped -> Promoted {}", name(n)),
                        reason.map(|x| {
                            format!("due to {x}{}", if blocked { " (blocked)" } else { "" })
                        }),
                    ));
                } else {
                    lines.push(line(
                        "Start",
                        &r.id,
                        &name(n),
                        reason.map(|x| {
                            format!("due to {x}{}", if blocked { " (blocked)" } else { "" })
                        }),
                    ));
                }
                if !blocked {
                    actions.push(Action::on(r.id.clone(), "start", name(n)));
                }
            }
            (Some(c), None) => {
                let why = if let Some(b) = reason {
                    Some(format!("due to {b}"))
                } else if no_quorum && e.needs_quorum(p) && !e.fences.iter().any(|(f, _)| *f == c) {
                    Some("due to no quorum".to_string())
                } else {
                    Some("due to node availability".to_string())
                };
                let det =
                    if need_role { format!("{} {}", r.role.name(), name(c)) } else { name(c) };
                let stuck = e.nodes[c].unclean && !e.fences.iter().any(|(f, _)| *f == c);
                if stop_blocked.contains(&p) || stuck {
                    e.rs[p].stop_stuck = true;
                }
                let why = if stop_blocked.contains(&p) && !stuck {
                    why.map(|w| format!("{w} (blocked)"))
                } else if stuck {
                    Some(match why {
                        Some(w) if no_quorum && e.quorum_policy != "freeze" => {
                            format!("{w} (blocked)")
                        }
                        _ => "blocked".to_string(),
                    })
                } else {
                    why
                };
                lines.push(line("Stop", &r.id, &det, why.clone()));
                actions.push(Action {
                    rsc: r.id.clone(),
                    task: "stop".into(),
                    node: Some(name(c)),
                    pseudo: on_fenced,
                    runnable: true,
                    interval: 0,
                });
                for &x in r.running.iter().skip(1) {
                    lines.push(line("Stop", &r.id, &name(x), why.clone()));
                    actions.push(Action {
                        rsc: r.id.clone(),
                        task: "stop".into(),
                        node: Some(name(x)),
                        pseudo: e.nodes[x].unclean,
                        runnable: true,
                        interval: 0,
                    });
                }
            }
            (Some(c), Some(n)) if c != n && stop_why.iter().any(|(q, _)| *q == p) => {
                // A move whose stop must wait for a member that cannot stop: it stays.
                let why = stop_why.iter().find(|(q, _)| *q == p).map(|(_, w)| w.clone());
                let det =
                    if need_role { format!("{} {}", r.role.name(), name(c)) } else { name(c) };
                e.rs[p].stop_stuck = true;
                lines.push(line("Stop", &r.id, &det, why.map(|w| format!("due to {w} (blocked)"))));
            }
            (Some(c), Some(n)) if c != n => {
                let change = if r.failed { "Recover" } else { "Move" };
                let det = if need_role && r.role == r.next_role {
                    format!("{} -> {} {}", name(c), name(n), r.role.name())
                } else if need_role {
                    format!("{} {} -> {} {}", r.role.name(), name(c), r.next_role.name(), name(n))
                } else {
                    format!("{} -> {}", name(c), name(n))
                };
                lines.push(line(change, &r.id, &det, None));
                actions.push(Action {
                    rsc: r.id.clone(),
                    task: "stop".into(),
                    node: Some(name(c)),
                    pseudo: on_fenced,
                    runnable: true,
                    interval: 0,
                });
                actions.push(Action::on(r.id.clone(), "start", name(n)));
                edges.push((actions.len() - 2, actions.len() - 1));
            }
            (Some(c), Some(n)) if r.running.len() > 1 => {
                let _ = c;
                lines.push(line(
                    if r.failed { "Recover" } else { "Restart" },
                    &r.id,
                    &name(n),
                    None,
                ));
                for &x in &r.running {
                    actions.push(Action::on(r.id.clone(), "stop", name(x)));
                }
                actions.push(Action::on(r.id.clone(), "start", name(n)));
            }
            (Some(c), Some(_)) => {
                if r.failed || r.restart_reason.is_some() {
                    let change = if r.failed { "Recover" } else { "Restart" };
                    let det = if need_role && r.role == r.next_role {
                        format!("{} {}", r.role.name(), name(c))
                    } else if need_role {
                        format!("{} -> {} {}", r.role.name(), r.next_role.name(), name(c))
                    } else {
                        name(c)
                    };
                    let why = if r.failed {
                        None
                    } else {
                        r.restart_reason
                            .clone()
                            .filter(|x| !x.is_empty())
                            .map(|x| format!("due to {x}"))
                    };
                    lines.push(line(change, &r.id, &det, why));
                    actions.push(Action::on(r.id.clone(), "stop", name(c)));
                    actions.push(Action::on(r.id.clone(), "start", name(c)));
                    edges.push((actions.len() - 2, actions.len() - 1));
                } else if r.role == Role::Promoted && r.next_role != Role::Promoted {
                    lines.push(line(
                        "Demote",
                        &r.id,
                        &format!("Promoted -> Unpromoted {}", name(c)),
                        None,
                    ));
                    actions.push(Action::on(r.id.clone(), "demote", name(c)));
                } else if r.role != Role::Promoted && r.next_role == Role::Promoted {
                    lines.push(line(
                        "Promote",
                        &r.id,
                        &format!("{} -> Promoted {}", r.role.name(), name(c)),
                        None,
                    ));
                    actions.push(Action::on(r.id.clone(), "promote", name(c)));
                }
            }
        }
        let _ = no_quorum;
    }
    let rw = lines.iter().map(|l| l.1.len()).max().unwrap_or(0);
    let rsc_width = if rw > 5 { rw + 2 } else { 5 };
    let det_width = lines.iter().map(|l| l.2.len()).max().unwrap_or(0).max(5);
    let mut out: Vec<String> = fence_lines;
    for (change, rsc, det, reason) in lines {
        let mut s = format!("{change:<8}   {rsc:<rsc_width$}   ( {det:>det_width$} )");
        if let Some(r) = reason {
            s.push_str("  ");
            s.push_str(&r);
        }
        out.push(s);
    }
    // The graph is built from per-resource stop -> start edges plus fencing first: acyclic.
    let fences = e.fences.len();
    for f in 0..fences {
        for a in fences..actions.len() {
            edges.push((f, a));
        }
    }
    let (actions, edges) = graph::complete(e, actions, edges);
    debug_assert!(is_acyclic(actions.len(), &edges), "transition graph has a cycle");
    (out, actions, edges)
}

/// Whether the directed graph on `n` vertices is acyclic (Kahn's algorithm).
pub fn is_acyclic(n: usize, edges: &[(usize, usize)]) -> bool {
    let mut indeg = vec![0usize; n];
    let mut adj = vec![Vec::new(); n];
    for &(a, b) in edges {
        adj[a].push(b);
        indeg[b] += 1;
    }
    let mut q: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut seen = 0;
    while let Some(x) = q.pop() {
        seen += 1;
        for &y in &adj[x] {
            indeg[y] -= 1;
            if indeg[y] == 0 {
                q.push(y);
            }
        }
    }
    seen == n
}

fn view(e: &Eng, after: bool) -> ClusterView {
    let mut nodes = Vec::new();
    for (n, node) in e.nodes.iter().enumerate() {
        let fenced = after && e.fences.iter().any(|(f, _)| *f == n);
        let status = if fenced {
            if node.standby {
                NodeStatus::OfflineStandby
            } else {
                NodeStatus::Offline
            }
        } else if node.unclean {
            NodeStatus::Unclean { online: node.online }
        } else if node.pending {
            NodeStatus::Pending
        } else if !node.online {
            if node.standby && !e.inp.nodes[n].attrs.is_empty() && e.inp.nodes[n].has_state {
                NodeStatus::OfflineStandby
            } else if node.maintenance
                && e.inp.nodes[n].attrs.get("maintenance").map(|v| is_true(v)).unwrap_or(false)
            {
                NodeStatus::OfflineMaintenance
            } else {
                NodeStatus::Offline
            }
        } else if node.maintenance
            && e.inp.nodes[n].attrs.get("maintenance").map(|v| is_true(v)).unwrap_or(false)
        {
            NodeStatus::Maintenance
        } else if node.standby {
            let active = e.rs.iter().any(|r| {
                r.kind == Kind::Primitive
                    && if after { r.assigned == Some(n) } else { r.running.contains(&n) }
            });
            NodeStatus::Standby { with_resources: active }
        } else {
            NodeStatus::Online
        };
        nodes.push(NodeView { name: node.name.clone(), status });
    }
    let resources = e
        .tops
        .iter()
        .filter(|&&i| {
            let r = &e.rs[i];
            !r.orphan
                || if after {
                    r.assigned.is_some() || !e.is_managed(i)
                } else {
                    !r.running.is_empty()
                }
        })
        .map(|&i| rsc_view(e, i, after))
        .collect();
    ClusterView { nodes, resources }
}

fn prim_view(e: &Eng, p: usize, after: bool) -> PrimitiveView {
    let r = &e.rs[p];
    let managed = e.is_managed(p);
    // A stop waits for a pending start to finish: the simulation leaves it running.
    let pending = after && r.pending_start && r.assigned.is_none() && !r.running.is_empty();
    let (nodes, role, failed) = if after && (r.stop_stuck || pending) {
        (r.running.clone(), r.role, false)
    } else if after && managed {
        match r.assigned {
            Some(n) if r.start_blocked.is_none() => (vec![n], r.next_role, false),
            _ => (vec![], Role::Stopped, false),
        }
    } else {
        (r.running.clone(), r.role, r.failed && !r.failure_ignored)
    };
    let role_txt = match role {
        Role::Stopped | Role::Unknown => "Stopped",
        Role::Started => "Started",
        Role::Unpromoted => {
            if e.clone_of(p).map(|c| e.rs[c].promotable).unwrap_or(false) {
                "Unpromoted"
            } else {
                "Started"
            }
        }
        Role::Promoted => "Promoted",
    };
    let on_unclean = !after && nodes.iter().any(|&n| e.nodes[n].unclean);
    let on_unclean = on_unclean
        || (after
            && nodes.iter().any(|&n| e.nodes[n].unclean && !e.fences.iter().any(|(f, _)| *f == n)));
    PrimitiveView {
        id: r.id.clone(),
        agent: r.def.agent.clone(),
        role: role_txt.into(),
        nodes: nodes.iter().map(|&n| e.nodes[n].name.clone()).collect(),
        failed,
        unmanaged: !managed && !r.on_fail_block,
        blocked: r.on_fail_block,
        disabled: e.target_role(p) == Some(Role::Stopped),
        failure_ignored: r.failure_ignored,
        orphaned: r.orphan,
        not_installed: r.not_installed && e.clone_of(p).is_none(),
        on_unclean,
    }
}

fn rsc_view(e: &Eng, i: usize, after: bool) -> RscView {
    let r = &e.rs[i];
    match r.kind {
        Kind::Primitive => RscView::Primitive(prim_view(e, i, after)),
        Kind::Group => {
            let mut flags = Vec::new();
            let cluster_maint = e.inp.option("maintenance-mode").map(is_true).unwrap_or(false);
            if !r.def.meta_bool("is-managed", true)
                || r.def.meta_bool("maintenance", false)
                || cluster_maint
            {
                flags.push("unmanaged".to_string());
            }
            if e.target_role(i) == Some(Role::Stopped) {
                flags.push("disabled".to_string());
            }
            RscView::Group {
                id: r.id.clone(),
                members: r.children.iter().map(|&m| prim_view(e, m, after)).collect(),
                flags,
            }
        }
        Kind::Clone => {
            let mut flags = Vec::new();
            if e.target_role(i) == Some(Role::Stopped) {
                flags.push("disabled".to_string());
            }
            if !r.def.meta_bool("is-managed", true) {
                flags.push("unmanaged".to_string());
            }
            let allowed: Vec<String> = (0..e.nodes.len())
                .filter(|&n| e.symmetric || r.loc[n].is_some())
                .map(|n| e.nodes[n].name.clone())
                .collect();
            RscView::Clone {
                id: r.id.clone(),
                child: r.def.children.first().map(|c| c.id.clone()).unwrap_or_default(),
                promotable: r.promotable,
                unique: r.unique,
                flags,
                instances: r.children.iter().map(|&k| rsc_view(e, k, after)).collect(),
                allowed,
                disabled: e.target_role(i) == Some(Role::Stopped),
                max_instances: r.clone_max,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CIB: &str = r#"<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes>
<resources><group id="g"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></group></resources>
<constraints><rsc_location id="l" rsc="g" node="n1" score="-INFINITY"/></constraints></configuration>
<status><node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"><lrm><lrm_resources>
<lrm_resource id="a" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="a_last_0" operation="start" interval="0" rc-code="0" op-status="0" call-id="2" transition-key="1:1:0:x"/></lrm_resource>
</lrm_resources></lrm></node_state>
<node_state id="2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/></status></cib>"#;

    #[test]
    fn banned_group_moves_as_a_whole() {
        let cib = Element::parse(CIB).unwrap();
        let inp = SchedulerInput::from_cib(&cib, Some(0)).unwrap();
        let t = schedule(&inp);
        let s: Vec<String> =
            t.summary.iter().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(s, vec!["Move a ( n1 -> n2 )", "Start b ( n2 )"]);
        assert!(is_acyclic(t.actions.len(), &t.edges));
        // Deterministic: same input, same output.
        assert_eq!(schedule(&inp).summary, t.summary);
    }

    /// Minimised from the 4x200 benchmark cluster: `a` is pulled to n1 by a chain of
    /// resources colocated with it. Each level of the chain is scaled by its own constraint's
    /// score only (`f`'s 50 reaches `a` in full through the INFINITY links, `d`'s 100 through
    /// the 100 link becomes 1), so n1 scores 51 and beats `a`'s own 30 on n2 (Pacemaker 2.1.5
    /// gives the same scores and placement).
    #[test]
    fn colocation_chain_influences_primary() {
        let cib = Element::parse(CHAIN).unwrap();
        let inp = SchedulerInput::from_cib(&cib, Some(0)).unwrap();
        let t = schedule_with_scores(&inp);
        assert!(schedule(&inp).scores.is_empty());
        let s: Vec<String> =
            t.summary.iter().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
        let want: Vec<String> =
            ["a", "b", "d", "e", "f"].iter().map(|r| format!("Start {r} ( n1 )")).collect();
        assert_eq!(s, want);
        for l in [
            "pcmk__primitive_assign: a allocation score on n1: 51",
            "pcmk__primitive_assign: a allocation score on n2: 30",
            "pcmk__primitive_assign: b allocation score on n2: -INFINITY",
        ] {
            assert!(t.scores.iter().any(|x| x == l), "missing {l}: {:?}", t.scores);
        }
    }

    const CHAIN: &str = r#"<cib have-quorum="1"><configuration>
<crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/><node id="3" uname="n3"/></nodes>
<resources>
  <primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/>
  <primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/>
  <primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/>
  <primitive id="e" class="ocf" provider="heartbeat" type="Dummy"/>
  <primitive id="f" class="ocf" provider="heartbeat" type="Dummy"/>
</resources>
<constraints>
  <rsc_colocation id="c1" rsc="b" with-rsc="a" score="INFINITY"/>
  <rsc_colocation id="c2" rsc="d" with-rsc="b" score="100"/>
  <rsc_colocation id="c3" rsc="e" with-rsc="d" score="200"/>
  <rsc_colocation id="c4" rsc="f" with-rsc="e" score="INFINITY"/>
  <rsc_location id="l1" rsc="a" node="n2" score="30"/>
  <rsc_location id="l2" rsc="d" node="n1" score="100"/>
  <rsc_location id="l3" rsc="f" node="n1" score="50"/>
</constraints>
  </configuration>
  <status>
<node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"/>
<node_state id="2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/>
<node_state id="3" uname="n3" in_ccm="true" crmd="online" join="member" expected="member"/>
  </status>
</cib>"#;

    /// Score lines of a group and a promotable clone, as Pacemaker 2.1.5's `crm_simulate -sSQ`
    /// prints them for this CIB (sorted): the group's location counts once (first member),
    /// members after the first are banned but where the one before them went, instances list
    /// their scores with full nodes banned, and promotable instances their promotion score.
    #[test]
    fn group_and_clone_scores_as_pacemaker() {
        let cib = Element::parse(GROUP_CLONE).unwrap();
        let inp = SchedulerInput::from_cib(&cib, Some(0)).unwrap();
        let t = schedule_with_scores(&inp);
        let want = [
            "pcmk__clone_allocate: ms allocation score on n1: 7",
            "pcmk__clone_allocate: ms allocation score on n2: 0",
            "pcmk__clone_allocate: s:0 allocation score on n1: 7",
            "pcmk__clone_allocate: s:0 allocation score on n2: 0",
            "pcmk__clone_allocate: s:1 allocation score on n1: 7",
            "pcmk__clone_allocate: s:1 allocation score on n2: 0",
            "pcmk__group_assign: a allocation score on n1: 0",
            "pcmk__group_assign: a allocation score on n2: 20",
            "pcmk__group_assign: b allocation score on n1: 5",
            "pcmk__group_assign: b allocation score on n2: 0",
            "pcmk__group_assign: g allocation score on n1: 0",
            "pcmk__group_assign: g allocation score on n2: 20",
            "pcmk__primitive_assign: a allocation score on n1: 5",
            "pcmk__primitive_assign: a allocation score on n2: 20",
            "pcmk__primitive_assign: b allocation score on n1: -INFINITY",
            "pcmk__primitive_assign: b allocation score on n2: 0",
            "pcmk__primitive_assign: s:0 allocation score on n1: 7",
            "pcmk__primitive_assign: s:0 allocation score on n2: 0",
            "pcmk__primitive_assign: s:1 allocation score on n1: -INFINITY",
            "pcmk__primitive_assign: s:1 allocation score on n2: 0",
            "s:0 promotion score on n1: -1",
            "s:1 promotion score on n2: -1",
        ];
        assert_eq!(t.scores, want);
    }

    const GROUP_CLONE: &str = r#"<cib have-quorum="1"><configuration>
<crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes>
<resources>
<group id="g"><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="b" class="ocf" provider="heartbeat" type="Dummy"/></group>
<clone id="ms"><meta_attributes id="ms-m"><nvpair id="ms-m1" name="promotable" value="true"/></meta_attributes><primitive id="s" class="ocf" provider="pacemaker" type="Stateful"/></clone>
</resources>
<constraints><rsc_location id="l1" rsc="g" node="n2" score="20"/><rsc_location id="l2" rsc="b" node="n1" score="5"/><rsc_location id="l3" rsc="ms" node="n1" score="7"/></constraints></configuration>
<status><node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"/>
<node_state id="2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/></status></cib>"#;

    #[test]
    fn cycle_detection() {
        assert!(is_acyclic(3, &[(0, 1), (1, 2)]));
        assert!(!is_acyclic(3, &[(0, 1), (1, 2), (2, 0)]));
    }
}
