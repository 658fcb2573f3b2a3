//! The scheduler's own view of a CIB: options, nodes, resource definitions, constraints and
//! the status section, read straight from the XML tree.
//!
//! Nothing here decides anything; it only normalises spellings (legacy role names, `<master>`,
//! `master-max`) so the engine sees one vocabulary.

use std::collections::BTreeMap;

use crate::cib::xml::Element;

use super::score;

/// Why a CIB could not be turned into scheduler input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The document is not a `<cib>`.
    #[error("not a CIB: root element is <{0}>")]
    NotCib(String),
    /// The configuration section is missing.
    #[error("CIB has no <configuration> section")]
    NoConfiguration,
}

/// Resource roles, ordered as Pacemaker orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Not known yet.
    Unknown,
    /// Not running.
    Stopped,
    /// Running (non-promotable, or promotable not yet promoted).
    Started,
    /// Running in the unpromoted role of a promotable clone.
    Unpromoted,
    /// Running promoted.
    Promoted,
}

impl Role {
    /// Parse a role name, accepting legacy spellings, case-insensitively.
    pub fn parse(s: &str) -> Option<Role> {
        match s.to_ascii_lowercase().as_str() {
            "stopped" => Some(Role::Stopped),
            "started" => Some(Role::Started),
            "slave" | "unpromoted" => Some(Role::Unpromoted),
            "master" | "promoted" => Some(Role::Promoted),
            _ => None,
        }
    }

    /// The 2.1 display name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Unknown => "Unknown",
            Role::Stopped => "Stopped",
            Role::Started => "Started",
            Role::Unpromoted => "Unpromoted",
            Role::Promoted => "Promoted",
        }
    }
}

/// A configured node with its state from `node_state`.
#[derive(Debug, Clone, Default)]
pub struct NodeDef {
    /// Node id (uuid or number).
    pub id: String,
    /// Node name.
    pub uname: String,
    /// Permanent plus transient attributes.
    pub attrs: BTreeMap<String, String>,
    /// Has a `node_state` entry.
    pub has_state: bool,
    /// Position of the `node_state` entry in the status section.
    pub state_order: usize,
    /// `node_state` attributes.
    pub state: BTreeMap<String, String>,
    /// The node's `lrm_resource` entries in document order: (id, class, provider, type, ops).
    pub history: Vec<LrmResource>,
    /// The node's base score (`score` attribute of its `node` entry), every resource's
    /// starting score there.
    pub weight: i64,
}

/// One `lrm_resource` entry of a node's history.
#[derive(Debug, Clone, Default)]
pub struct LrmResource {
    /// Resource id as recorded (may carry a `:N` suffix).
    pub id: String,
    /// Agent class.
    pub class: String,
    /// Agent provider.
    pub provider: String,
    /// Agent type.
    pub ty: String,
    /// Operations.
    pub ops: Vec<LrmOp>,
}

/// One recorded operation.
#[derive(Debug, Clone, Default)]
pub struct LrmOp {
    /// `operation` (start, stop, monitor, promote, demote, notify, ...).
    pub task: String,
    /// Interval in ms.
    pub interval: u64,
    /// `rc-code`.
    pub rc: i32,
    /// `op-status`.
    pub status: i32,
    /// `call-id`.
    pub call_id: i64,
    /// Expected rc from the transition key.
    pub expected: Option<i32>,
    /// `last-rc-change` (epoch seconds) if present.
    pub last_change: Option<i64>,
    /// `op-digest`.
    pub digest: Option<String>,
    /// `id` attribute.
    pub id: String,
}

/// Kind of resource definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A primitive.
    Primitive,
    /// A group.
    Group,
    /// A clone (promotable or not).
    Clone,
}

/// A configured operation of a primitive.
#[derive(Debug, Clone, Default)]
pub struct OpDef {
    /// Operation name.
    pub name: String,
    /// Interval in ms.
    pub interval: u64,
    /// `role` if given.
    pub role: Option<Role>,
    /// `on-fail` if given.
    pub on_fail: Option<String>,
    /// `enabled` false.
    pub disabled: bool,
}

/// A resource definition.
#[derive(Debug, Clone)]
pub struct RscDef {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: Kind,
    /// `class:provider:type` agent text for display, e.g. `ocf:heartbeat:IPaddr2`.
    pub agent: String,
    /// Effective meta attributes (defaults, then parents, then own).
    pub meta: BTreeMap<String, String>,
    /// Children (group members, or the one clone child).
    pub children: Vec<RscDef>,
    /// Operations.
    pub ops: Vec<OpDef>,
    /// Instance attributes (for change detection).
    pub params: BTreeMap<String, String>,
}

impl RscDef {
    /// A meta attribute value.
    pub fn meta(&self, k: &str) -> Option<&str> {
        self.meta.get(k).map(|s| s.as_str())
    }
    /// A boolean meta attribute.
    pub fn meta_bool(&self, k: &str, default: bool) -> bool {
        self.meta(k).map(is_true).unwrap_or(default)
    }
}

/// A location constraint after rule evaluation is deferred.
#[derive(Debug, Clone)]
pub struct Location {
    /// Constraint id.
    pub id: String,
    /// Resource id.
    pub rsc: String,
    /// Role restriction.
    pub role: Option<Role>,
    /// Fixed node and score, or rules.
    pub node: Option<(String, i64)>,
    /// Rules (the raw `<rule>` elements).
    pub rules: Vec<Element>,
}

/// A colocation constraint.
#[derive(Debug, Clone)]
pub struct Colocation {
    /// Id.
    pub id: String,
    /// Dependent.
    pub rsc: String,
    /// Primary.
    pub with: String,
    /// Score.
    pub score: i64,
    /// Dependent role.
    pub rsc_role: Option<Role>,
    /// Primary role.
    pub with_role: Option<Role>,
    /// Node attribute to compare.
    pub node_attr: String,
    /// Influence.
    pub influence: bool,
}

/// An ordering constraint.
#[derive(Debug, Clone)]
pub struct Order {
    /// Id.
    pub id: String,
    /// First resource.
    pub first: String,
    /// Then resource.
    pub then: String,
    /// First action.
    pub first_action: String,
    /// Then action.
    pub then_action: String,
    /// Mandatory (else optional/serialize).
    pub mandatory: bool,
    /// Symmetrical.
    pub symmetrical: bool,
    /// `require-all` (false: one active instance of a cloned first is enough).
    pub require_all: bool,
}

/// Everything the scheduler reads from a CIB.
#[derive(Debug, Clone, Default)]
pub struct SchedulerInput {
    /// Cluster options (`crm_config`).
    pub options: BTreeMap<String, String>,
    /// `have-quorum`.
    pub have_quorum: bool,
    /// `dc-uuid`.
    pub dc_uuid: Option<String>,
    /// Nodes in configuration order.
    pub nodes: Vec<NodeDef>,
    /// Top-level resources in configuration order.
    pub resources: Vec<RscDef>,
    /// Location constraints.
    pub locations: Vec<Location>,
    /// Colocation constraints.
    pub colocations: Vec<Colocation>,
    /// Ordering constraints.
    pub orders: Vec<Order>,
    /// Evaluation time (epoch seconds), if known.
    pub now: Option<i64>,
}

/// Pacemaker's truth test for option values.
pub fn is_true(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "y" | "1")
}

/// Parse an interval (`10s`, `10000`, `1m`, `PT10S`) to milliseconds; plain numbers are ms
/// when `ms_default`, else seconds.
pub fn parse_interval(s: &str, ms_default: bool) -> u64 {
    let t = s.trim().to_ascii_lowercase();
    if t.is_empty() {
        return 0;
    }
    if let Some(iso) = t.strip_prefix('p') {
        let mut total = 0u64;
        let mut in_time = false;
        let mut num = String::new();
        for c in iso.chars() {
            if c.is_ascii_digit() {
                num.push(c);
            } else {
                let n: u64 = num.parse().unwrap_or(0);
                num.clear();
                total += match c {
                    't' => {
                        in_time = true;
                        0
                    }
                    'd' => n * 86_400_000,
                    'w' => n * 7 * 86_400_000,
                    'h' => n * 3_600_000,
                    'm' if in_time => n * 60_000,
                    'm' => n * 30 * 86_400_000,
                    's' => n * 1000,
                    _ => 0,
                };
            }
        }
        return total;
    }
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = &t[digits.len()..];
    let n: u64 = digits.parse().unwrap_or(0);
    match unit.trim() {
        "" => {
            if ms_default {
                n
            } else {
                n * 1000
            }
        }
        "ms" | "msec" => n,
        "s" | "sec" => n * 1000,
        "m" | "min" => n * 60_000,
        "h" | "hr" => n * 3_600_000,
        _ => n * 1000,
    }
}

fn set_pairs(e: &Element, set_name: &str, out: &mut BTreeMap<String, String>) {
    for set in e.children_named(set_name) {
        for nv in set.children_named("nvpair") {
            if let (Some(n), Some(v)) = (nv.attr("name"), nv.attr("value")) {
                out.entry(n.to_string()).or_insert_with(|| v.to_string());
            }
        }
    }
}

fn normalise_meta(m: &mut BTreeMap<String, String>) {
    for (old, new) in [
        ("master-max", "promoted-max"),
        ("master-node-max", "promoted-node-max"),
        ("resource_stickiness", "resource-stickiness"),
        ("is_managed", "is-managed"),
        ("target_role", "target-role"),
        ("migration_threshold", "migration-threshold"),
        ("globally_unique", "globally-unique"),
        ("clone_max", "clone-max"),
        ("clone_node_max", "clone-node-max"),
    ] {
        if let Some(v) = m.remove(old) {
            m.entry(new.to_string()).or_insert(v);
        }
    }
}

fn parse_rsc(e: &Element, inherited: &BTreeMap<String, String>) -> Option<RscDef> {
    let kind = match e.name.as_str() {
        "primitive" => Kind::Primitive,
        "group" => Kind::Group,
        "clone" | "master" => Kind::Clone,
        _ => return None,
    };
    let id = e.id()?.to_string();
    let mut own = BTreeMap::new();
    set_pairs(e, "meta_attributes", &mut own);
    normalise_meta(&mut own);
    let mut meta = inherited.clone();
    // Clone-only options are not inherited by children.
    for k in [
        "clone-max",
        "clone-node-max",
        "promoted-max",
        "promoted-node-max",
        "globally-unique",
        "promotable",
        "notify",
        "interleave",
        "ordered",
        "clone-min",
    ] {
        meta.remove(k);
    }
    if e.name == "master" {
        own.insert("promotable".into(), "true".into());
    }
    for (k, v) in own {
        meta.insert(k, v);
    }
    let mut params = BTreeMap::new();
    set_pairs(e, "instance_attributes", &mut params);
    let agent = if kind == Kind::Primitive {
        let class = e.attr("class").unwrap_or("");
        match e.attr("provider") {
            Some(p) => format!("{class}:{p}:{}", e.attr("type").unwrap_or("")),
            None => format!("{class}:{}", e.attr("type").unwrap_or("")),
        }
    } else {
        String::new()
    };
    let mut ops = Vec::new();
    if let Some(o) = e.child("operations") {
        for op in o.children_named("op") {
            ops.push(OpDef {
                name: op.attr("name").unwrap_or("").to_string(),
                interval: parse_interval(op.attr("interval").unwrap_or("0"), false),
                role: op.attr("role").and_then(Role::parse),
                on_fail: op.attr("on-fail").map(|s| s.to_ascii_lowercase()),
                disabled: op.attr("enabled").map(|v| !is_true(v)).unwrap_or(false),
            });
        }
    }
    let mut children = Vec::new();
    if kind != Kind::Primitive {
        // Children inherit the parent's meta.
        for c in &e.children {
            if let Some(r) = parse_rsc(c, &meta) {
                children.push(r);
            }
        }
    }
    Some(RscDef { id, kind, agent, meta, children, ops, params })
}

/// Whether a defaults rule made only of `rsc_expression`s matches a primitive's agent.
fn rsc_rule_matches(rule: &Element, class: &str, provider: Option<&str>, ty: &str) -> bool {
    let mut any = false;
    for ex in &rule.children {
        if ex.name != "rsc_expression" {
            return false;
        }
        any = true;
        if ex.attr("class").map(|c| c != class).unwrap_or(false)
            || ex.attr("provider").map(|p| Some(p) != provider).unwrap_or(false)
            || ex.attr("type").map(|t| t != ty).unwrap_or(false)
        {
            return false;
        }
    }
    any
}

fn apply_conditional_defaults(d: &mut RscDef, conditional: &[(Element, BTreeMap<String, String>)]) {
    for c in d.children.iter_mut() {
        apply_conditional_defaults(c, conditional);
    }
    if d.kind != Kind::Primitive {
        return;
    }
    let parts: Vec<&str> = d.agent.split(':').collect();
    let (class, provider, ty) = match parts.as_slice() {
        [c, p, t] => (*c, Some(*p), *t),
        [c, t] => (*c, None, *t),
        _ => return,
    };
    for (rule, m) in conditional {
        if rsc_rule_matches(rule, class, provider, ty) {
            for (k, v) in m {
                d.meta.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

fn key_expected(key: &str) -> Option<i32> {
    key.split(':').nth(2).and_then(|s| s.parse().ok())
}

impl SchedulerInput {
    /// Read a whole CIB document; `now` overrides `execution-date`.
    pub fn from_cib(cib: &Element, now: Option<i64>) -> Result<SchedulerInput, InputError> {
        if cib.name != "cib" {
            return Err(InputError::NotCib(cib.name.clone()));
        }
        let conf = cib.child("configuration").ok_or(InputError::NoConfiguration)?;
        let mut inp = SchedulerInput {
            have_quorum: cib.attr("have-quorum").map(is_true).unwrap_or(false),
            dc_uuid: cib.attr("dc-uuid").map(|s| s.to_string()),
            now: now.or_else(|| cib.attr("execution-date").and_then(|s| s.parse().ok())),
            ..Default::default()
        };
        if let Some(cc) = conf.child("crm_config") {
            for set in cc.children_named("cluster_property_set") {
                for nv in set.children_named("nvpair") {
                    if let (Some(n), Some(v)) = (nv.attr("name"), nv.attr("value")) {
                        inp.options.entry(n.replace('_', "-")).or_insert_with(|| v.to_string());
                    }
                }
            }
        }
        let mut defaults = BTreeMap::new();
        let mut conditional: Vec<(Element, BTreeMap<String, String>)> = Vec::new();
        if let Some(rd) = conf.child("rsc_defaults") {
            for set in rd.children_named("meta_attributes") {
                let mut m = BTreeMap::new();
                for nv in set.children_named("nvpair") {
                    if let (Some(n), Some(v)) = (nv.attr("name"), nv.attr("value")) {
                        m.entry(n.to_string()).or_insert_with(|| v.to_string());
                    }
                }
                match set.child("rule") {
                    Some(rule) => conditional.push((rule.clone(), m)),
                    None => {
                        for (k, v) in m {
                            defaults.entry(k).or_insert(v);
                        }
                    }
                }
            }
        }
        for k in [
            "default-resource-stickiness",
            "default-resource-failure-stickiness",
            "is-managed-default",
        ] {
            if let Some(v) = inp.options.get(k) {
                let nk = match k {
                    "default-resource-stickiness" => "resource-stickiness",
                    "is-managed-default" => "is-managed",
                    _ => continue,
                };
                defaults.entry(nk.to_string()).or_insert(v.clone());
            }
        }
        normalise_meta(&mut defaults);
        if let Some(ns) = conf.child("nodes") {
            for n in ns.children_named("node") {
                if n.attr("type").map(|t| t == "remote" || t == "ping").unwrap_or(false) {
                    continue;
                }
                let mut attrs = BTreeMap::new();
                set_pairs(n, "instance_attributes", &mut attrs);
                let id = n.attr("id").unwrap_or("").to_string();
                let uname = n.attr("uname").unwrap_or(&id).to_string();
                let weight = n.attr("score").map(super::score::parse).unwrap_or(0);
                inp.nodes.push(NodeDef { id, uname, attrs, weight, ..Default::default() });
            }
        }
        if let Some(rs) = conf.child("resources") {
            for r in &rs.children {
                if let Some(mut d) = parse_rsc(r, &defaults) {
                    apply_conditional_defaults(&mut d, &conditional);
                    inp.resources.push(d);
                }
            }
        }
        if let Some(cs) = conf.child("constraints") {
            for c in &cs.children {
                let id = c.id().unwrap_or("").to_string();
                match c.name.as_str() {
                    "rsc_location" => {
                        let Some(rsc) = c.attr("rsc") else { continue };
                        let role = c.attr("role").and_then(Role::parse);
                        let node = c
                            .attr("node")
                            .map(|n| (n.to_string(), score::parse(c.attr("score").unwrap_or("0"))));
                        let rules: Vec<Element> = c.children_named("rule").cloned().collect();
                        inp.locations.push(Location {
                            id,
                            rsc: rsc.to_string(),
                            role,
                            node,
                            rules,
                        });
                    }
                    "rsc_colocation" => {
                        let (Some(a), Some(b)) = (c.attr("rsc"), c.attr("with-rsc")) else {
                            continue;
                        };
                        inp.colocations.push(Colocation {
                            id,
                            rsc: a.to_string(),
                            with: b.to_string(),
                            score: score::parse(c.attr("score").unwrap_or("0")),
                            rsc_role: c.attr("rsc-role").and_then(Role::parse),
                            with_role: c.attr("with-rsc-role").and_then(Role::parse),
                            node_attr: c.attr("node-attribute").unwrap_or("#uname").to_string(),
                            influence: c.attr("influence").map(is_true).unwrap_or(true),
                        });
                    }
                    "rsc_order" => {
                        let (Some(a), Some(b)) = (c.attr("first"), c.attr("then")) else {
                            continue;
                        };
                        let fa = c.attr("first-action").unwrap_or("start").to_string();
                        let ta = c.attr("then-action").map(|s| s.to_string()).unwrap_or(fa.clone());
                        let kind = c.attr("kind").map(|s| s.to_ascii_lowercase());
                        let mandatory = match kind.as_deref() {
                            Some("optional") | Some("serialize") => false,
                            Some(_) => true,
                            None => c.attr("score").map(|s| score::parse(s) > 0).unwrap_or(true),
                        };
                        let symmetrical = c
                            .attr("symmetrical")
                            .map(is_true)
                            .unwrap_or(kind.as_deref() != Some("serialize"));
                        let require_all = c.attr("require-all").map(is_true).unwrap_or(true);
                        inp.orders.push(Order {
                            id,
                            first: a.to_string(),
                            then: b.to_string(),
                            first_action: fa,
                            then_action: ta,
                            mandatory,
                            symmetrical,
                            require_all,
                        });
                    }
                    _ => {}
                }
            }
        }
        if let Some(st) = cib.child("status") {
            for (pos, ns) in st.children_named("node_state").enumerate() {
                let id = ns.attr("id").unwrap_or("");
                let uname = ns.attr("uname");
                let Some(node) =
                    inp.nodes.iter_mut().find(|n| n.id == id || Some(n.uname.as_str()) == uname)
                else {
                    continue;
                };
                node.has_state = true;
                node.state_order = pos;
                for (k, v) in &ns.attrs {
                    node.state.insert(k.clone(), v.clone());
                }
                if let Some(ta) = ns.child("transient_attributes") {
                    let mut transient = BTreeMap::new();
                    set_pairs(ta, "instance_attributes", &mut transient);
                    node.attrs.extend(transient);
                }
                if let Some(lrs) = ns.path(&["lrm", "lrm_resources"]) {
                    for lr in lrs.children_named("lrm_resource") {
                        let mut h = LrmResource {
                            id: lr.attr("id").unwrap_or("").to_string(),
                            class: lr.attr("class").unwrap_or("").to_string(),
                            provider: lr.attr("provider").unwrap_or("").to_string(),
                            ty: lr.attr("type").unwrap_or("").to_string(),
                            ops: Vec::new(),
                        };
                        for op in lr.children_named("lrm_rsc_op") {
                            let key = op.attr("transition-key").unwrap_or("");
                            h.ops.push(LrmOp {
                                id: op.attr("id").unwrap_or("").to_string(),
                                task: op.attr("operation").unwrap_or("").to_string(),
                                interval: op
                                    .attr("interval")
                                    .and_then(|s| s.parse().ok())
                                    .unwrap_or(0),
                                rc: op.attr("rc-code").and_then(|s| s.parse().ok()).unwrap_or(0),
                                status: op
                                    .attr("op-status")
                                    .and_then(|s| s.parse().ok())
                                    .unwrap_or(0),
                                call_id: op
                                    .attr("call-id")
                                    .and_then(|s| s.parse().ok())
                                    .unwrap_or(0),
                                expected: key_expected(key),
                                last_change: op
                                    .attr("last-rc-change")
                                    .or(op.attr("last-run"))
                                    .and_then(|s| s.parse().ok()),
                                digest: op.attr("op-digest").map(|s| s.to_string()),
                            });
                        }
                        node.history.push(h);
                    }
                }
            }
        }
        Ok(inp)
    }

    /// A cluster option, if set.
    pub fn option(&self, k: &str) -> Option<&str> {
        self.options.get(k).map(|s| s.as_str())
    }
}
