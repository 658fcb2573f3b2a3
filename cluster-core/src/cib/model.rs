//! A typed view of the CIB, built from an [`Element`] tree and written back to one.
//!
//! Every typed struct keeps the attributes it does not model in `extra` (document order) and
//! the children it does not model in `other`, so `Cib::from_element(&e).to_element()` loses
//! nothing Pacemaker's tools care about. Reading the written tree again yields an equal model
//! (the round-trip invariant tested over all scheduler cases). Known attributes are written
//! first in a fixed order, then `extra`.

use super::xml::Element;

/// Attributes not modelled by a typed struct, in document order.
pub type Extra = Vec<(String, String)>;

/// The whole CIB.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cib {
    /// `admin_epoch`.
    pub admin_epoch: u64,
    /// `epoch`.
    pub epoch: u64,
    /// `num_updates`.
    pub num_updates: u64,
    /// Other `<cib>` attributes (validate-with, crm_feature_set, dc-uuid, ...).
    pub extra: Extra,
    /// `crm_config` property sets.
    pub crm_config: Vec<NvSet>,
    /// Cluster nodes.
    pub nodes: Vec<Node>,
    /// Top-level resources.
    pub resources: Vec<Resource>,
    /// Constraints.
    pub constraints: Vec<Constraint>,
    /// `rsc_defaults` sets.
    pub rsc_defaults: Vec<NvSet>,
    /// `op_defaults` sets.
    pub op_defaults: Vec<NvSet>,
    /// Other configuration sections (fencing-topology, alerts, acls, tags), kept as XML.
    pub other_config: Vec<Element>,
    /// Status: one entry per node.
    pub status: Vec<NodeState>,
}

/// A name/value pair.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nvpair {
    /// `id`.
    pub id: Option<String>,
    /// `name`.
    pub name: String,
    /// `value` (absent in some legacy CIBs).
    pub value: Option<String>,
    /// Other attributes (`id-ref`).
    pub extra: Extra,
}

/// A set of nvpairs: `instance_attributes`, `meta_attributes`, `utilization`,
/// `cluster_property_set`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NvSet {
    /// Element name.
    pub element: String,
    /// `id`.
    pub id: Option<String>,
    /// `score` (set precedence).
    pub score: Option<String>,
    /// Rules deciding when the set applies.
    pub rules: Vec<Rule>,
    /// The pairs.
    pub nvpairs: Vec<Nvpair>,
    /// Other attributes.
    pub extra: Extra,
    /// Other children.
    pub other: Vec<Element>,
}

/// One rule (`rule` element).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    /// `id`.
    pub id: Option<String>,
    /// `score`.
    pub score: Option<String>,
    /// `score-attribute`.
    pub score_attribute: Option<String>,
    /// `boolean-op` (and|or).
    pub boolean_op: Option<String>,
    /// `role`.
    pub role: Option<String>,
    /// Node-attribute expressions.
    pub expressions: Vec<Expression>,
    /// Nested rules.
    pub rules: Vec<Rule>,
    /// Other attributes.
    pub extra: Extra,
    /// Other children (date_expression, rsc_expression, op_expression ...).
    pub other: Vec<Element>,
}

/// A node-attribute test (`expression` element).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expression {
    /// `id`.
    pub id: Option<String>,
    /// `attribute`, e.g. `#uname`.
    pub attribute: String,
    /// `operation` (eq, ne, lt, gt, lte, gte, defined, not_defined).
    pub operation: String,
    /// `value`.
    pub value: Option<String>,
    /// `type` (string, integer, number, version).
    pub value_type: Option<String>,
    /// Other attributes.
    pub extra: Extra,
}

/// A cluster node in `configuration/nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// `id`.
    pub id: String,
    /// `uname`.
    pub uname: String,
    /// `type` (member, remote, ping).
    pub node_type: Option<String>,
    /// Attribute sets (instance_attributes, utilization).
    pub sets: Vec<NvSet>,
    /// Other attributes.
    pub extra: Extra,
    /// Other children.
    pub other: Vec<Element>,
}

/// A configured resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// `primitive`.
    Primitive(Primitive),
    /// `group`.
    Group(Group),
    /// `clone` or legacy `master`.
    Clone(Clone),
    /// Anything else (bundle, template), kept as XML.
    Other(Element),
}

/// A `primitive`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Primitive {
    /// `id`.
    pub id: String,
    /// `class` (ocf, lsb, service, systemd, stonith).
    pub class: Option<String>,
    /// `provider` (ocf only).
    pub provider: Option<String>,
    /// `type`.
    pub agent_type: Option<String>,
    /// instance_attributes / meta_attributes / utilization sets, in order.
    pub sets: Vec<NvSet>,
    /// Operations.
    pub ops: Vec<Op>,
    /// Attributes of the `operations` element, if present.
    pub operations_attrs: Option<Extra>,
    /// Other attributes (description, template).
    pub extra: Extra,
    /// Other children.
    pub other: Vec<Element>,
}

/// One `op`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Op {
    /// `id`.
    pub id: Option<String>,
    /// `name`.
    pub name: String,
    /// `interval`.
    pub interval: Option<String>,
    /// `timeout`.
    pub timeout: Option<String>,
    /// `role`.
    pub role: Option<String>,
    /// Attribute sets under the op.
    pub sets: Vec<NvSet>,
    /// Other attributes (on-fail, enabled, start-delay, ...).
    pub extra: Extra,
    /// Other children.
    pub other: Vec<Element>,
}

/// A `group`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    /// `id`.
    pub id: String,
    /// meta_attributes etc.
    pub sets: Vec<NvSet>,
    /// Members, in order.
    pub members: Vec<Resource>,
    /// Other attributes.
    pub extra: Extra,
}

/// A `clone` (or legacy `master`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clone {
    /// `id`.
    pub id: String,
    /// Written as the legacy `<master>` element.
    pub legacy_master: bool,
    /// meta_attributes etc.
    pub sets: Vec<NvSet>,
    /// The cloned resource.
    pub child: Option<Box<Resource>>,
    /// Other attributes.
    pub extra: Extra,
}

/// A constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// `rsc_location`.
    Location(Location),
    /// `rsc_colocation`.
    Colocation(Colocation),
    /// `rsc_order`.
    Order(Order),
    /// Anything else (rsc_ticket, ...), kept as XML.
    Other(Element),
}

/// `rsc_location`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// `id`.
    pub id: String,
    /// `rsc`.
    pub rsc: Option<String>,
    /// `role`.
    pub role: Option<String>,
    /// `node`.
    pub node: Option<String>,
    /// `score`.
    pub score: Option<String>,
    /// Rules (instead of node + score).
    pub rules: Vec<Rule>,
    /// Other attributes (rsc-pattern, resource-discovery).
    pub extra: Extra,
    /// Other children (resource_set).
    pub other: Vec<Element>,
}

/// `rsc_colocation`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Colocation {
    /// `id`.
    pub id: String,
    /// `rsc`.
    pub rsc: Option<String>,
    /// `with-rsc`.
    pub with_rsc: Option<String>,
    /// `rsc-role`.
    pub rsc_role: Option<String>,
    /// `with-rsc-role`.
    pub with_rsc_role: Option<String>,
    /// `score`.
    pub score: Option<String>,
    /// Other attributes (node-attribute, influence).
    pub extra: Extra,
    /// Other children (resource_set).
    pub other: Vec<Element>,
}

/// `rsc_order`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Order {
    /// `id`.
    pub id: String,
    /// `first`.
    pub first: Option<String>,
    /// `then`.
    pub then: Option<String>,
    /// `first-action`.
    pub first_action: Option<String>,
    /// `then-action`.
    pub then_action: Option<String>,
    /// `kind` (Mandatory, Optional, Serialize).
    pub kind: Option<String>,
    /// `score` (legacy form of kind).
    pub score: Option<String>,
    /// `symmetrical`.
    pub symmetrical: Option<String>,
    /// Other attributes.
    pub extra: Extra,
    /// Other children (resource_set).
    pub other: Vec<Element>,
}

/// A `node_state` in the status section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeState {
    /// `id`.
    pub id: String,
    /// `uname`.
    pub uname: Option<String>,
    /// `transient_attributes`, if present.
    pub transient: Option<Transient>,
    /// `lrm`, if present.
    pub lrm: Option<Lrm>,
    /// Other attributes (in_ccm, crmd, join, expected, ...).
    pub extra: Extra,
    /// Other children.
    pub other: Vec<Element>,
}

/// A node's `transient_attributes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transient {
    /// Its attributes (id).
    pub attrs: Extra,
    /// Its sets.
    pub sets: Vec<NvSet>,
}

/// A node's `lrm` history.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lrm {
    /// Attributes of `lrm` (id).
    pub attrs: Extra,
    /// Attributes of `lrm_resources`.
    pub resources_attrs: Extra,
    /// One entry per resource.
    pub resources: Vec<LrmResource>,
}

/// An `lrm_resource`: one resource's operation history on one node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LrmResource {
    /// `id`.
    pub id: String,
    /// All attributes (class, provider, type, ...), in order.
    pub attrs: Extra,
    /// History entries.
    pub ops: Vec<LrmRscOp>,
}

/// One `lrm_rsc_op` history entry, attributes kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LrmRscOp {
    /// All attributes in order.
    pub attrs: Extra,
}

fn get<'a>(attrs: &'a Extra, key: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

impl LrmRscOp {
    /// An attribute.
    pub fn attr(&self, key: &str) -> Option<&str> {
        get(&self.attrs, key)
    }
    /// `id`.
    pub fn id(&self) -> &str {
        self.attr("id").unwrap_or("")
    }
    /// `operation`.
    pub fn operation(&self) -> &str {
        self.attr("operation").unwrap_or("")
    }
    /// `call-id`.
    pub fn call_id(&self) -> i64 {
        self.attr("call-id").and_then(|v| v.parse().ok()).unwrap_or(-1)
    }
    /// `rc-code`.
    pub fn rc_code(&self) -> i32 {
        self.attr("rc-code").and_then(|v| v.parse().ok()).unwrap_or(-1)
    }
    /// `interval` in milliseconds.
    pub fn interval_ms(&self) -> u64 {
        self.attr("interval").and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

/// Pulls `keys` out of an element's attributes; the rest stays in order as `extra`.
struct Attrs {
    extra: Extra,
}

impl Attrs {
    fn of(e: &Element) -> Self {
        Attrs { extra: e.attrs.clone() }
    }
    fn take(&mut self, key: &str) -> Option<String> {
        let pos = self.extra.iter().position(|(k, _)| k == key)?;
        Some(self.extra.remove(pos).1)
    }
    fn take_or_empty(&mut self, key: &str) -> String {
        self.take(key).unwrap_or_default()
    }
}

fn put(e: &mut Element, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        e.attrs.push((key.to_string(), v.clone()));
    }
}

fn put_extra(e: &mut Element, extra: &Extra) {
    e.attrs.extend(extra.iter().cloned());
}

/// Element names that are nvpair sets.
pub const SET_ELEMENTS: [&str; 4] =
    ["instance_attributes", "meta_attributes", "utilization", "cluster_property_set"];

impl Nvpair {
    /// A pair with an id.
    pub fn new(id: &str, name: &str, value: &str) -> Self {
        Nvpair {
            id: Some(id.to_string()),
            name: name.to_string(),
            value: Some(value.to_string()),
            extra: Vec::new(),
        }
    }
    fn from_element(e: &Element) -> Self {
        let mut a = Attrs::of(e);
        Nvpair {
            id: a.take("id"),
            name: a.take_or_empty("name"),
            value: a.take("value"),
            extra: a.extra,
        }
    }
    fn to_element(&self) -> Element {
        let mut e = Element::new("nvpair");
        put(&mut e, "id", &self.id);
        e.attrs.push(("name".into(), self.name.clone()));
        put(&mut e, "value", &self.value);
        put_extra(&mut e, &self.extra);
        e
    }
}

impl NvSet {
    /// Reads a set element.
    pub fn from_element(e: &Element) -> Self {
        let mut a = Attrs::of(e);
        let mut s = NvSet {
            element: e.name.clone(),
            id: a.take("id"),
            score: a.take("score"),
            ..Default::default()
        };
        s.extra = a.extra;
        for c in &e.children {
            match c.name.as_str() {
                "nvpair" => s.nvpairs.push(Nvpair::from_element(c)),
                "rule" => s.rules.push(Rule::from_element(c)),
                _ => s.other.push(c.clone()),
            }
        }
        s
    }
    /// Writes the set element.
    pub fn to_element(&self) -> Element {
        let mut e = Element::new(&self.element);
        put(&mut e, "id", &self.id);
        put(&mut e, "score", &self.score);
        put_extra(&mut e, &self.extra);
        e.children.extend(self.rules.iter().map(Rule::to_element));
        e.children.extend(self.nvpairs.iter().map(Nvpair::to_element));
        e.children.extend(self.other.iter().cloned());
        e
    }
    /// The value of pair `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.nvpairs.iter().find(|p| p.name == name).and_then(|p| p.value.as_deref())
    }
}

impl Rule {
    fn from_element(e: &Element) -> Self {
        let mut a = Attrs::of(e);
        let mut r = Rule {
            id: a.take("id"),
            score: a.take("score"),
            score_attribute: a.take("score-attribute"),
            boolean_op: a.take("boolean-op"),
            role: a.take("role"),
            ..Default::default()
        };
        r.extra = a.extra;
        for c in &e.children {
            match c.name.as_str() {
                "expression" => {
                    let mut a = Attrs::of(c);
                    r.expressions.push(Expression {
                        id: a.take("id"),
                        attribute: a.take_or_empty("attribute"),
                        operation: a.take_or_empty("operation"),
                        value: a.take("value"),
                        value_type: a.take("type"),
                        extra: a.extra,
                    })
                }
                "rule" => r.rules.push(Rule::from_element(c)),
                _ => r.other.push(c.clone()),
            }
        }
        r
    }
    fn to_element(&self) -> Element {
        let mut e = Element::new("rule");
        put(&mut e, "id", &self.id);
        put(&mut e, "score", &self.score);
        put(&mut e, "score-attribute", &self.score_attribute);
        put(&mut e, "boolean-op", &self.boolean_op);
        put(&mut e, "role", &self.role);
        put_extra(&mut e, &self.extra);
        for x in &self.expressions {
            let mut c = Element::new("expression");
            put(&mut c, "id", &x.id);
            c.attrs.push(("attribute".into(), x.attribute.clone()));
            c.attrs.push(("operation".into(), x.operation.clone()));
            put(&mut c, "value", &x.value);
            put(&mut c, "type", &x.value_type);
            put_extra(&mut c, &x.extra);
            e.children.push(c);
        }
        e.children.extend(self.rules.iter().map(Rule::to_element));
        e.children.extend(self.other.iter().cloned());
        e
    }
}

fn split_sets(e: &Element) -> (Vec<NvSet>, Vec<&Element>) {
    let mut sets = Vec::new();
    let mut rest = Vec::new();
    for c in &e.children {
        if SET_ELEMENTS.contains(&c.name.as_str()) {
            sets.push(NvSet::from_element(c));
        } else {
            rest.push(c);
        }
    }
    (sets, rest)
}

impl Resource {
    /// Reads a resource element.
    pub fn from_element(e: &Element) -> Self {
        match e.name.as_str() {
            "primitive" => Resource::Primitive(Primitive::from_element(e)),
            "group" => {
                let mut a = Attrs::of(e);
                let id = a.take_or_empty("id");
                let (sets, rest) = split_sets(e);
                Resource::Group(Group {
                    id,
                    sets,
                    members: rest.into_iter().map(Resource::from_element).collect(),
                    extra: a.extra,
                })
            }
            "clone" | "master" => {
                let mut a = Attrs::of(e);
                let id = a.take_or_empty("id");
                let (sets, rest) = split_sets(e);
                Resource::Clone(Clone {
                    id,
                    legacy_master: e.name == "master",
                    sets,
                    child: rest.first().map(|c| Box::new(Resource::from_element(c))),
                    extra: a.extra,
                })
            }
            _ => Resource::Other(e.clone()),
        }
    }

    /// Writes the resource element.
    pub fn to_element(&self) -> Element {
        match self {
            Resource::Primitive(p) => p.to_element(),
            Resource::Group(g) => {
                let mut e = Element::new("group").with_attr("id", &g.id);
                put_extra(&mut e, &g.extra);
                e.children.extend(g.sets.iter().map(NvSet::to_element));
                e.children.extend(g.members.iter().map(Resource::to_element));
                e
            }
            Resource::Clone(c) => {
                let mut e = Element::new(if c.legacy_master { "master" } else { "clone" })
                    .with_attr("id", &c.id);
                put_extra(&mut e, &c.extra);
                e.children.extend(c.sets.iter().map(NvSet::to_element));
                e.children.extend(c.child.iter().map(|r| r.to_element()));
                e
            }
            Resource::Other(e) => e.clone(),
        }
    }

    /// The resource's id.
    pub fn id(&self) -> &str {
        match self {
            Resource::Primitive(p) => &p.id,
            Resource::Group(g) => &g.id,
            Resource::Clone(c) => &c.id,
            Resource::Other(e) => e.id().unwrap_or(""),
        }
    }

    /// The resource's attribute sets.
    pub fn sets(&self) -> &[NvSet] {
        match self {
            Resource::Primitive(p) => &p.sets,
            Resource::Group(g) => &g.sets,
            Resource::Clone(c) => &c.sets,
            Resource::Other(_) => &[],
        }
    }

    /// The first value of meta attribute `name`.
    pub fn meta(&self, name: &str) -> Option<&str> {
        self.sets().iter().filter(|s| s.element == "meta_attributes").find_map(|s| s.get(name))
    }

    /// Visits self and every contained resource, depth first.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Resource)) {
        f(self);
        match self {
            Resource::Group(g) => g.members.iter().for_each(|m| m.walk(f)),
            Resource::Clone(c) => c.child.iter().for_each(|m| m.walk(f)),
            _ => {}
        }
    }
}

impl Clone {
    /// Promotable: a legacy `master`, or `promotable=true` in its meta attributes.
    pub fn is_promotable(&self) -> bool {
        self.legacy_master
            || self
                .sets
                .iter()
                .filter(|s| s.element == "meta_attributes")
                .find_map(|s| s.get("promotable"))
                .is_some_and(super::score::is_true)
    }
}

impl Primitive {
    fn from_element(e: &Element) -> Self {
        let mut a = Attrs::of(e);
        let mut p = Primitive {
            id: a.take_or_empty("id"),
            class: a.take("class"),
            provider: a.take("provider"),
            agent_type: a.take("type"),
            ..Default::default()
        };
        p.extra = a.extra;
        for c in &e.children {
            if SET_ELEMENTS.contains(&c.name.as_str()) {
                p.sets.push(NvSet::from_element(c));
            } else if c.name == "operations" && p.operations_attrs.is_none() {
                p.operations_attrs = Some(c.attrs.clone());
                for o in &c.children {
                    let mut a = Attrs::of(o);
                    let mut op = Op {
                        id: a.take("id"),
                        name: a.take_or_empty("name"),
                        interval: a.take("interval"),
                        timeout: a.take("timeout"),
                        role: a.take("role"),
                        ..Default::default()
                    };
                    op.extra = a.extra;
                    for oc in &o.children {
                        if SET_ELEMENTS.contains(&oc.name.as_str()) {
                            op.sets.push(NvSet::from_element(oc));
                        } else {
                            op.other.push(oc.clone());
                        }
                    }
                    p.ops.push(op);
                }
            } else {
                p.other.push(c.clone());
            }
        }
        p
    }

    fn to_element(&self) -> Element {
        let mut e = Element::new("primitive").with_attr("id", &self.id);
        put(&mut e, "class", &self.class);
        put(&mut e, "provider", &self.provider);
        put(&mut e, "type", &self.agent_type);
        put_extra(&mut e, &self.extra);
        e.children.extend(self.sets.iter().map(NvSet::to_element));
        if let Some(oa) = &self.operations_attrs {
            let mut ops = Element::new("operations");
            ops.attrs = oa.clone();
            for op in &self.ops {
                let mut o = Element::new("op");
                put(&mut o, "id", &op.id);
                o.attrs.push(("name".into(), op.name.clone()));
                put(&mut o, "interval", &op.interval);
                put(&mut o, "timeout", &op.timeout);
                put(&mut o, "role", &op.role);
                put_extra(&mut o, &op.extra);
                o.children.extend(op.sets.iter().map(NvSet::to_element));
                o.children.extend(op.other.iter().cloned());
                ops.children.push(o);
            }
            e.children.push(ops);
        }
        e.children.extend(self.other.iter().cloned());
        e
    }

    /// The first value of instance attribute `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.sets.iter().filter(|s| s.element == "instance_attributes").find_map(|s| s.get(name))
    }
}

impl Constraint {
    /// Reads a constraint element.
    pub fn from_element(e: &Element) -> Self {
        let mut a = Attrs::of(e);
        match e.name.as_str() {
            "rsc_location" => {
                let mut l = Location {
                    id: a.take_or_empty("id"),
                    rsc: a.take("rsc"),
                    role: a.take("role"),
                    node: a.take("node"),
                    score: a.take("score"),
                    ..Default::default()
                };
                l.extra = a.extra;
                for c in &e.children {
                    if c.name == "rule" {
                        l.rules.push(Rule::from_element(c));
                    } else {
                        l.other.push(c.clone());
                    }
                }
                Constraint::Location(l)
            }
            "rsc_colocation" => {
                let mut c = Colocation {
                    id: a.take_or_empty("id"),
                    rsc: a.take("rsc"),
                    with_rsc: a.take("with-rsc"),
                    rsc_role: a.take("rsc-role"),
                    with_rsc_role: a.take("with-rsc-role"),
                    score: a.take("score"),
                    ..Default::default()
                };
                c.extra = a.extra;
                c.other = e.children.clone();
                Constraint::Colocation(c)
            }
            "rsc_order" => {
                let mut o = Order {
                    id: a.take_or_empty("id"),
                    first: a.take("first"),
                    then: a.take("then"),
                    first_action: a.take("first-action"),
                    then_action: a.take("then-action"),
                    kind: a.take("kind"),
                    score: a.take("score"),
                    symmetrical: a.take("symmetrical"),
                    ..Default::default()
                };
                o.extra = a.extra;
                o.other = e.children.clone();
                Constraint::Order(o)
            }
            _ => Constraint::Other(e.clone()),
        }
    }

    /// Writes the constraint element.
    pub fn to_element(&self) -> Element {
        match self {
            Constraint::Location(l) => {
                let mut e = Element::new("rsc_location").with_attr("id", &l.id);
                put(&mut e, "rsc", &l.rsc);
                put(&mut e, "role", &l.role);
                put(&mut e, "node", &l.node);
                put(&mut e, "score", &l.score);
                put_extra(&mut e, &l.extra);
                e.children.extend(l.rules.iter().map(Rule::to_element));
                e.children.extend(l.other.iter().cloned());
                e
            }
            Constraint::Colocation(c) => {
                let mut e = Element::new("rsc_colocation").with_attr("id", &c.id);
                put(&mut e, "score", &c.score);
                put(&mut e, "rsc", &c.rsc);
                put(&mut e, "with-rsc", &c.with_rsc);
                put(&mut e, "rsc-role", &c.rsc_role);
                put(&mut e, "with-rsc-role", &c.with_rsc_role);
                put_extra(&mut e, &c.extra);
                e.children.extend(c.other.iter().cloned());
                e
            }
            Constraint::Order(o) => {
                let mut e = Element::new("rsc_order").with_attr("id", &o.id);
                put(&mut e, "kind", &o.kind);
                put(&mut e, "score", &o.score);
                put(&mut e, "first", &o.first);
                put(&mut e, "first-action", &o.first_action);
                put(&mut e, "then", &o.then);
                put(&mut e, "then-action", &o.then_action);
                put(&mut e, "symmetrical", &o.symmetrical);
                put_extra(&mut e, &o.extra);
                e.children.extend(o.other.iter().cloned());
                e
            }
            Constraint::Other(e) => e.clone(),
        }
    }

    /// The constraint's id.
    pub fn id(&self) -> &str {
        match self {
            Constraint::Location(l) => &l.id,
            Constraint::Colocation(c) => &c.id,
            Constraint::Order(o) => &o.id,
            Constraint::Other(e) => e.id().unwrap_or(""),
        }
    }
}

impl NodeState {
    fn from_element(e: &Element) -> Self {
        let mut a = Attrs::of(e);
        let mut n =
            NodeState { id: a.take_or_empty("id"), uname: a.take("uname"), ..Default::default() };
        n.extra = a.extra;
        for c in &e.children {
            match c.name.as_str() {
                "transient_attributes" if n.transient.is_none() => {
                    n.transient = Some(Transient {
                        attrs: c.attrs.clone(),
                        sets: c.children.iter().map(NvSet::from_element).collect(),
                    })
                }
                "lrm" if n.lrm.is_none() => {
                    let mut rs = Vec::new();
                    let resources_attrs =
                        c.child("lrm_resources").map(|x| x.attrs.clone()).unwrap_or_default();
                    for lr in c.child("lrm_resources").into_iter().flat_map(|x| &x.children) {
                        rs.push(LrmResource {
                            id: lr.id().unwrap_or("").to_string(),
                            attrs: lr.attrs.clone(),
                            ops: lr
                                .children
                                .iter()
                                .map(|o| LrmRscOp { attrs: o.attrs.clone() })
                                .collect(),
                        });
                    }
                    n.lrm = Some(Lrm { attrs: c.attrs.clone(), resources_attrs, resources: rs });
                }
                _ => n.other.push(c.clone()),
            }
        }
        n
    }

    fn to_element(&self) -> Element {
        let mut e = Element::new("node_state").with_attr("id", &self.id);
        put(&mut e, "uname", &self.uname);
        put_extra(&mut e, &self.extra);
        if let Some(l) = &self.lrm {
            let mut lrm = Element::new("lrm");
            lrm.attrs = l.attrs.clone();
            let mut lrs = Element::new("lrm_resources");
            lrs.attrs = l.resources_attrs.clone();
            for r in &l.resources {
                let mut re = Element::new("lrm_resource");
                re.attrs = r.attrs.clone();
                for o in &r.ops {
                    let mut oe = Element::new("lrm_rsc_op");
                    oe.attrs = o.attrs.clone();
                    re.children.push(oe);
                }
                lrs.children.push(re);
            }
            lrm.children.push(lrs);
            e.children.push(lrm);
        }
        if let Some(tr) = &self.transient {
            let mut t = Element::new("transient_attributes");
            t.attrs = tr.attrs.clone();
            t.children.extend(tr.sets.iter().map(NvSet::to_element));
            e.children.push(t);
        }
        e.children.extend(self.other.iter().cloned());
        e
    }

    /// The value of transient attribute `name`.
    pub fn transient_attr(&self, name: &str) -> Option<&str> {
        self.transient.as_ref()?.sets.iter().find_map(|s| s.get(name))
    }
}

fn num(a: &mut Attrs, key: &str) -> u64 {
    a.take(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl Cib {
    /// Builds the model from a `<cib>` element. Never fails: unknown content is kept as XML.
    pub fn from_element(root: &Element) -> Self {
        let mut a = Attrs::of(root);
        let mut cib = Cib {
            admin_epoch: num(&mut a, "admin_epoch"),
            epoch: num(&mut a, "epoch"),
            num_updates: num(&mut a, "num_updates"),
            ..Default::default()
        };
        cib.extra = a.extra;
        if let Some(conf) = root.child("configuration") {
            for sec in &conf.children {
                match sec.name.as_str() {
                    "crm_config" => {
                        cib.crm_config = sec.children.iter().map(NvSet::from_element).collect()
                    }
                    "nodes" => {
                        for n in &sec.children {
                            let mut a = Attrs::of(n);
                            let (sets, rest) = split_sets(n);
                            cib.nodes.push(Node {
                                id: a.take_or_empty("id"),
                                uname: a.take_or_empty("uname"),
                                node_type: a.take("type"),
                                sets,
                                extra: a.extra,
                                other: rest.into_iter().cloned().collect(),
                            });
                        }
                    }
                    "resources" => {
                        cib.resources = sec.children.iter().map(Resource::from_element).collect()
                    }
                    "constraints" => {
                        cib.constraints =
                            sec.children.iter().map(Constraint::from_element).collect()
                    }
                    "rsc_defaults" => {
                        cib.rsc_defaults = sec.children.iter().map(NvSet::from_element).collect()
                    }
                    "op_defaults" => {
                        cib.op_defaults = sec.children.iter().map(NvSet::from_element).collect()
                    }
                    _ => cib.other_config.push(sec.clone()),
                }
            }
        }
        if let Some(st) = root.child("status") {
            cib.status = st.children.iter().map(NodeState::from_element).collect();
        }
        cib
    }

    /// Writes the model as a `<cib>` element.
    pub fn to_element(&self) -> Element {
        let mut root = Element::new("cib");
        root.attrs.extend(self.extra.iter().cloned());
        root.set_attr("epoch", &self.epoch.to_string());
        root.set_attr("num_updates", &self.num_updates.to_string());
        root.set_attr("admin_epoch", &self.admin_epoch.to_string());
        let section = |name: &str, kids: Vec<Element>| {
            let mut e = Element::new(name);
            e.children = kids;
            e
        };
        let mut conf = Element::new("configuration");
        conf.children
            .push(section("crm_config", self.crm_config.iter().map(NvSet::to_element).collect()));
        let nodes = self
            .nodes
            .iter()
            .map(|n| {
                let mut e =
                    Element::new("node").with_attr("id", &n.id).with_attr("uname", &n.uname);
                put(&mut e, "type", &n.node_type);
                put_extra(&mut e, &n.extra);
                e.children.extend(n.sets.iter().map(NvSet::to_element));
                e.children.extend(n.other.iter().cloned());
                e
            })
            .collect();
        conf.children.push(section("nodes", nodes));
        conf.children
            .push(section("resources", self.resources.iter().map(Resource::to_element).collect()));
        conf.children.push(section(
            "constraints",
            self.constraints.iter().map(Constraint::to_element).collect(),
        ));
        if !self.rsc_defaults.is_empty() {
            conf.children.push(section(
                "rsc_defaults",
                self.rsc_defaults.iter().map(NvSet::to_element).collect(),
            ));
        }
        if !self.op_defaults.is_empty() {
            conf.children.push(section(
                "op_defaults",
                self.op_defaults.iter().map(NvSet::to_element).collect(),
            ));
        }
        conf.children.extend(self.other_config.iter().cloned());
        root.children.push(conf);
        root.children
            .push(section("status", self.status.iter().map(NodeState::to_element).collect()));
        root
    }

    /// The value of cluster property `name` (first set that has it).
    pub fn property(&self, name: &str) -> Option<&str> {
        self.crm_config.iter().find_map(|s| s.get(name))
    }

    /// Every resource, nested ones included, depth first.
    pub fn all_resources(&self) -> Vec<&Resource> {
        let mut out = Vec::new();
        for r in &self.resources {
            r.walk(&mut |x| out.push(x));
        }
        out
    }

    /// The resource with id `id`, at any depth.
    pub fn resource(&self, id: &str) -> Option<&Resource> {
        self.all_resources().into_iter().find(|r| r.id() == id)
    }

    /// The configured node whose uname is `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.uname == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_and_promotable_clone_forms() {
        let x = Element::parse(
            r#"<cib epoch="3" num_updates="1" admin_epoch="0"><configuration><crm_config/><nodes/>
            <resources><master id="ms"><primitive id="d" class="ocf" provider="linbit" type="drbd"/></master>
            <clone id="c"><meta_attributes id="c-m"><nvpair id="c-m-p" name="promotable" value="true"/></meta_attributes>
            <primitive id="s" class="ocf" provider="pacemaker" type="Stateful"/></clone></resources>
            <constraints/></configuration><status/></cib>"#,
        )
        .unwrap();
        let cib = Cib::from_element(&x);
        assert_eq!(cib.epoch, 3);
        let promo: Vec<bool> = cib
            .resources
            .iter()
            .map(|r| matches!(r, Resource::Clone(c) if c.is_promotable()))
            .collect();
        assert_eq!(promo, [true, true]);
        assert!(cib.resource("s").is_some());
        assert_eq!(Cib::from_element(&cib.to_element()), cib);
        assert_eq!(
            cib.to_element().path(&["configuration", "resources"]).unwrap().children[0].name,
            "master"
        );
    }
}
