//! Edits and queries the command-line tools and the crm shell share, done on the raw
//! [`Element`] tree so nothing else in the document changes.
//!
//! Id conventions follow Pacemaker's tools exactly:
//! * cluster properties: set `cib-bootstrap-options`, pair `cib-bootstrap-options-NAME`;
//! * permanent node attributes: set `nodes-ID`, pair `nodes-ID-NAME` under the `<node>`;
//! * transient attributes: `node_state id=ID` / `transient_attributes id=ID` / set `status-ID`,
//!   pair `status-ID-NAME`;
//! * `rsc_defaults` / `op_defaults`: sets `rsc-options` / `op-options`;
//! * move/ban: `cli-prefer-RES` and `cli-ban-RES-on-NODE` location constraints.
//!
//! Pair ids pass through [`sanitize_id`] (`#`, `:` and other characters invalid in an XML id
//! become `.`). Configuration edits bump `epoch` and reset `num_updates`; status edits bump
//! `num_updates` only. Every editing function validates the result (see
//! [`super::validate`]) and, on error, leaves the tree it was given untouched.

use super::model::{Cib, Resource};
use super::score::{parse_score, score_to_string, INFINITY};
use super::store::bump_epoch;
use super::validate::{validate, ValidationError};
use super::xml::Element;

/// Where an attribute lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `configuration/crm_config` (cluster properties).
    CrmConfig,
    /// `configuration/nodes/node/instance_attributes` (permanent node attributes).
    Nodes,
    /// `status/node_state/transient_attributes` (lifetime reboot).
    Status,
    /// `configuration/rsc_defaults`.
    RscDefaults,
    /// `configuration/op_defaults`.
    OpDefaults,
}

impl Scope {
    /// Parses crm_attribute's `-t` value (`crm_config`, `nodes`, `status`, `rsc_defaults`,
    /// `op_defaults`) or a `-l` lifetime (`reboot` → status, `forever` → nodes).
    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "crm_config" => Scope::CrmConfig,
            "nodes" | "forever" => Scope::Nodes,
            "status" | "reboot" => Scope::Status,
            "rsc_defaults" => Scope::RscDefaults,
            "op_defaults" => Scope::OpDefaults,
            _ => return None,
        })
    }

    /// The name Pacemaker prints in `scope=...`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::CrmConfig => "crm_config",
            Scope::Nodes => "nodes",
            Scope::Status => "status",
            Scope::RscDefaults => "rsc_defaults",
            Scope::OpDefaults => "op_defaults",
        }
    }

    fn needs_node(self) -> bool {
        matches!(self, Scope::Nodes | Scope::Status)
    }
}

/// Why an operation failed. [`OpError::exit_code`] gives Pacemaker's exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The node name is not in the CIB.
    #[error("Could not map name={0} to a UUID")]
    NoSuchNode(String),
    /// The node name is not in the CIB (move/ban wording).
    #[error("Node '{0}' not found")]
    NodeNotFound(String),
    /// No node was given and none could be chosen.
    #[error("node name required")]
    NodeRequired,
    /// The resource is not configured.
    #[error("Resource '{0}' not found")]
    NoSuchResource(String),
    /// The attribute does not exist.
    #[error("No such device or address")]
    NoSuchAttribute(String),
    /// An object with that id already exists.
    #[error("File exists")]
    Exists(String),
    /// The object to modify or replace does not exist.
    #[error("No such device or address")]
    NoSuchObject(String),
    /// A move without a node where the resource is not active in exactly one place.
    #[error("Resource '{rsc}' not moved: active in {count} locations.")]
    NotMovable {
        /// Resource.
        rsc: String,
        /// Number of nodes it is active on.
        count: usize,
    },
    /// The edit would make the CIB invalid.
    #[error("Update does not conform to the configured schema: {0}")]
    Invalid(ValidationError),
    /// Bad argument.
    #[error("{0}")]
    BadArgument(String),
    /// A transient attribute for a node with no `node_state` yet.
    #[error("Error setting {name}={value} (section=status, set={set}): No such device or address")]
    NoStatusEntry {
        /// Attribute name.
        name: String,
        /// Value.
        value: String,
        /// The set it would go in.
        set: String,
    },
    /// A whole-CIB replacement with a lower version than the current one.
    #[error("Update was older than existing configuration")]
    Old,
}

impl OpError {
    /// Pacemaker's exit code for this error.
    pub fn exit_code(&self) -> i32 {
        use super::exit;
        match self {
            OpError::NoSuchNode(_)
            | OpError::NodeNotFound(_)
            | OpError::NoSuchResource(_)
            | OpError::NoSuchAttribute(_)
            | OpError::NoSuchObject(_)
            | OpError::NoStatusEntry { .. } => exit::NOSUCH,
            OpError::NodeRequired | OpError::NotMovable { .. } => exit::USAGE,
            OpError::Exists(_) => exit::EXISTS,
            OpError::Invalid(_) => exit::CONFIG,
            OpError::BadArgument(_) => exit::INVALID_PARAM,
            OpError::Old => exit::OLD,
        }
    }
}

/// Replaces characters not allowed in an XML id by `.`, as Pacemaker does for generated ids.
pub fn sanitize_id(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '.' })
        .collect()
}

/// The node id of node `uname`: from `configuration/nodes`, else from a `node_state`.
pub fn node_id(cib: &Element, uname: &str) -> Option<String> {
    let by_uname = |e: &Element| e.attr("uname") == Some(uname);
    cib.path(&["configuration", "nodes"])
        .and_then(|n| n.children.iter().find(|e| by_uname(e)))
        .or_else(|| cib.child("status").and_then(|s| s.children.iter().find(|e| by_uname(e))))
        .and_then(|e| e.id())
        .map(str::to_string)
}

/// An attribute found by [`get_attr`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrValue {
    /// The nvpair's id.
    pub id: String,
    /// Its value.
    pub value: String,
}

fn set_path(scope: Scope, node_id: &str) -> (Vec<&'static str>, String) {
    match scope {
        Scope::CrmConfig => (vec!["configuration", "crm_config"], "cib-bootstrap-options".into()),
        Scope::RscDefaults => (vec!["configuration", "rsc_defaults"], "rsc-options".into()),
        Scope::OpDefaults => (vec!["configuration", "op_defaults"], "op-options".into()),
        Scope::Nodes => (vec![], format!("nodes-{node_id}")),
        Scope::Status => (vec![], format!("status-{node_id}")),
    }
}

fn resolve_node(cib: &Element, scope: Scope, node: Option<&str>) -> Result<String, OpError> {
    if !scope.needs_node() {
        return Ok(String::new());
    }
    let node = node.ok_or(OpError::NodeRequired)?;
    node_id(cib, node).ok_or_else(|| OpError::NoSuchNode(node.to_string()))
}

/// The element holding the attribute sets of `scope` (for nodes/status: of node `nid`).
fn container<'a>(cib: &'a Element, scope: Scope, nid: &str) -> Option<&'a Element> {
    match scope {
        Scope::Nodes => cib
            .path(&["configuration", "nodes"])?
            .children
            .iter()
            .find(|n| n.name == "node" && n.id() == Some(nid)),
        Scope::Status => cib
            .child("status")?
            .children
            .iter()
            .find(|n| n.id() == Some(nid))?
            .child("transient_attributes"),
        _ => cib.path(&set_path(scope, nid).0),
    }
}

/// Reads attribute `name` of `scope` (for nodes/status: of node `node`, a uname).
///
/// # Errors
/// [`OpError::NodeRequired`] / [`OpError::NoSuchNode`] for node scopes.
pub fn get_attr(
    cib: &Element,
    scope: Scope,
    node: Option<&str>,
    name: &str,
) -> Result<Option<AttrValue>, OpError> {
    let nid = resolve_node(cib, scope, node)?;
    let Some(c) = container(cib, scope, &nid) else { return Ok(None) };
    for set in c.children.iter().filter(|s| s.name != "rule") {
        if let Some(p) =
            set.children.iter().find(|p| p.name == "nvpair" && p.attr("name") == Some(name))
        {
            return Ok(Some(AttrValue {
                id: p.id().unwrap_or("").to_string(),
                value: p.attr("value").unwrap_or("").to_string(),
            }));
        }
    }
    Ok(None)
}

fn bump_for(cib: &mut Element, scope: Scope) {
    if scope == Scope::Status {
        bump_updates(cib);
    } else {
        bump_epoch(cib);
    }
}

/// `num_updates` + 1: a status-only change.
pub fn bump_updates(cib: &mut Element) {
    let n = cib.attr("num_updates").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    cib.set_attr("num_updates", &(n + 1).to_string());
}

fn path_or_create<'a>(mut e: &'a mut Element, names: &[&str]) -> &'a mut Element {
    for n in names {
        e = e.child_or_insert(n);
    }
    e
}

/// The element holding `scope`'s sets, created as Pacemaker would create it.
fn container_mut<'a>(
    cib: &'a mut Element,
    scope: Scope,
    nid: &str,
    uname: &str,
) -> &'a mut Element {
    match scope {
        Scope::Nodes => {
            let nodes = path_or_create(cib, &["configuration", "nodes"]);
            let pos =
                nodes.children.iter().position(|n| n.id() == Some(nid)).unwrap_or_else(|| {
                    nodes
                        .children
                        .push(Element::new("node").with_attr("id", nid).with_attr("uname", uname));
                    nodes.children.len() - 1
                });
            &mut nodes.children[pos]
        }
        Scope::Status => {
            let status = cib.child_or_insert("status");
            let pos =
                status.children.iter().position(|n| n.id() == Some(nid)).unwrap_or_else(|| {
                    status.children.push(
                        Element::new("node_state").with_attr("id", nid).with_attr("uname", uname),
                    );
                    status.children.len() - 1
                });
            let ns = &mut status.children[pos];
            if ns.child("transient_attributes").is_none() {
                ns.children.push(Element::new("transient_attributes").with_attr("id", nid));
            }
            ns.child_mut("transient_attributes").expect("just inserted")
        }
        _ => path_or_create(cib, &set_path(scope, nid).0),
    }
}

/// Sets attribute `name` = `value` in `scope`, creating the set and pair with Pacemaker's ids.
/// An existing pair with that name (in any set) is updated in place. `set_id` picks a set by id
/// (crm_attribute `-s`).
///
/// # Errors
/// Node scopes: the node is unknown; the result would not validate.
pub fn set_attr(
    cib: &mut Element,
    scope: Scope,
    node: Option<&str>,
    set_id: Option<&str>,
    name: &str,
    value: &str,
) -> Result<(), OpError> {
    let nid = resolve_node(cib, scope, node)?;
    let mut work = cib.clone();
    let default_set = set_id.map(str::to_string).unwrap_or_else(|| set_path(scope, &nid).1);
    let set_elem = match scope {
        Scope::CrmConfig => "cluster_property_set",
        Scope::RscDefaults | Scope::OpDefaults => "meta_attributes",
        _ => "instance_attributes",
    };
    if scope == Scope::Status
        && !work
            .child("status")
            .is_some_and(|st| st.children.iter().any(|n| n.id() == Some(nid.as_str())))
    {
        // Pacemaker only writes transient attributes for nodes that have a status entry.
        return Err(OpError::NoStatusEntry {
            name: name.into(),
            value: value.into(),
            set: default_set,
        });
    }
    let c = container_mut(&mut work, scope, &nid, node.unwrap_or(""));
    let existing =
        c.children.iter_mut().filter(|s| set_id.is_none() || s.id() == set_id).find_map(|s| {
            s.children.iter_mut().find(|p| p.name == "nvpair" && p.attr("name") == Some(name))
        });
    match existing {
        Some(p) => p.set_attr("value", value),
        None => {
            let pos = c
                .children
                .iter()
                .position(|s| s.id() == Some(default_set.as_str()))
                .unwrap_or_else(|| {
                    c.children.push(Element::new(set_elem).with_attr("id", &default_set));
                    c.children.len() - 1
                });
            let id = sanitize_id(&format!("{default_set}-{name}"));
            let set = &mut c.children[pos];
            set.children.push(
                Element::new("nvpair")
                    .with_attr("id", &id)
                    .with_attr("name", name)
                    .with_attr("value", value),
            );
        }
    }
    bump_for(&mut work, scope);
    commit(cib, work)
}

/// Deletes attribute `name` from `scope`; returns the deleted pair (None when it did not exist,
/// which Pacemaker treats as success).
///
/// # Errors
/// Node scopes: the node is unknown.
pub fn delete_attr(
    cib: &mut Element,
    scope: Scope,
    node: Option<&str>,
    name: &str,
) -> Result<Option<AttrValue>, OpError> {
    let Some(found) = get_attr(cib, scope, node, name)? else { return Ok(None) };
    let nid = resolve_node(cib, scope, node)?;
    let c = container_mut(cib, scope, &nid, node.unwrap_or(""));
    for set in &mut c.children {
        if let Some(pos) =
            set.children.iter().position(|p| p.name == "nvpair" && p.attr("name") == Some(name))
        {
            set.children.remove(pos);
            break;
        }
    }
    bump_for(cib, scope);
    Ok(Some(found))
}

/// Replaces `cib` by `work` when `work` validates.
fn commit(cib: &mut Element, work: Element) -> Result<(), OpError> {
    if let Some(e) = validate(&work).into_iter().next() {
        return Err(OpError::Invalid(e));
    }
    *cib = work;
    Ok(())
}

/// Where a resource is active, from the status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Node name.
    pub node: String,
    /// Promoted there.
    pub promoted: bool,
}

/// The state recorded in one `lrm_resource`: `None` stopped, `Some(promoted)` active.
fn lrm_state(lr: &Element) -> Option<bool> {
    let mut ops: Vec<&Element> = lr
        .children
        .iter()
        .filter(|o| o.name == "lrm_rsc_op" && o.attr("operation") != Some("notify"))
        .collect();
    let call = |o: &Element| o.attr("call-id").and_then(|v| v.parse::<i64>().ok()).unwrap_or(-1);
    ops.sort_by_key(|o| call(o));
    let rc = |o: &Element| o.attr("rc-code").and_then(|v| v.parse::<i32>().ok()).unwrap_or(-1);
    let is_recurring = |o: &Element| o.attr("interval").is_some_and(|i| i != "0");
    let last = ops.iter().rev().find(|o| !is_recurring(o))?;
    let active = match (last.attr("operation").unwrap_or(""), rc(last)) {
        ("stop", 0) => false,
        ("monitor", 7) => false,
        ("migrate_to", 0) => false,
        ("monitor", 0 | 8)
        | ("start", _)
        | ("promote", _)
        | ("demote", _)
        | ("migrate_from", 0) => true,
        ("stop", _) => true,
        _ => false,
    };
    if !active {
        return None;
    }
    let newest = ops.last()?;
    Some(
        (newest.attr("operation") == Some("promote") && rc(newest) == 0)
            || (newest.attr("operation") == Some("monitor") && rc(newest) == 8),
    )
}

/// The primitive ids a resource id stands for (itself, or a group's/clone's members).
fn primitive_ids(cib: &Cib, rsc: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = cib.resource(rsc) {
        r.walk(&mut |x| {
            if let Resource::Primitive(p) = x {
                out.push(p.id.clone())
            }
        });
    }
    out
}

/// Nodes where resource `rsc` (primitive, group or clone) is active, in status order.
///
/// # Errors
/// [`OpError::NoSuchResource`].
pub fn locate(cib: &Element, rsc: &str) -> Result<Vec<Location>, OpError> {
    let model = Cib::from_element(cib);
    if model.resource(rsc).is_none() {
        return Err(OpError::NoSuchResource(rsc.into()));
    }
    let prims = primitive_ids(&model, rsc);
    let matches = |id: &str| {
        prims
            .iter()
            .any(|p| id == p || id.strip_prefix(p.as_str()).is_some_and(|s| s.starts_with(':')))
    };
    let mut out: Vec<Location> = Vec::new();
    for ns in cib.child("status").into_iter().flat_map(|s| &s.children) {
        let uname = ns.attr("uname").unwrap_or("").to_string();
        let Some(lrs) = ns.path(&["lrm", "lrm_resources"]) else { continue };
        for lr in lrs.children.iter().filter(|lr| lr.id().is_some_and(matches)) {
            if let Some(promoted) = lrm_state(lr) {
                match out.iter_mut().find(|l| l.node == uname) {
                    Some(l) => l.promoted |= promoted,
                    None => out.push(Location { node: uname.clone(), promoted }),
                }
            }
        }
    }
    Ok(out)
}

/// Pacemaker's text for `crm_resource --locate`: one `resource R is running on: NODE[ Promoted]`
/// line per node, or `resource R is NOT running`.
pub fn locate_text(rsc: &str, locs: &[Location]) -> String {
    if locs.is_empty() {
        return format!("resource {rsc} is NOT running\n");
    }
    locs.iter()
        .map(|l| {
            format!(
                "resource {rsc} is running on: {}{}\n",
                l.node,
                if l.promoted { " Promoted" } else { "" }
            )
        })
        .collect()
}

/// `crm_resource --list` (and `crm resource status`, which runs it): the configured
/// resources in crm_mon's layout, each with where its history says it is active; groups
/// list their members, clones their Promoted / Started (Unpromoted) / Stopped node sets.
pub fn resource_list(cib: &Element) -> String {
    let mut out = String::from("Full List of Resources:\n");
    let Some(res) = cib.path(&["configuration", "resources"]) else {
        out.push_str("  * No resources\n");
        return out;
    };
    if res.children.is_empty() {
        out.push_str("  * No resources\n");
    }
    fn prim_line(cib: &Element, p: &Element, indent: &str) -> String {
        let id = p.id().unwrap_or_default();
        let agent = match p.attr("provider") {
            Some(pr) => format!(
                "{}:{pr}:{}",
                p.attr("class").unwrap_or("ocf"),
                p.attr("type").unwrap_or("")
            ),
            None => {
                format!("{}:{}", p.attr("class").unwrap_or("ocf"), p.attr("type").unwrap_or(""))
            }
        };
        let locs = locate_pairs(cib, id);
        let disabled =
            get_resource_attr(cib, id, AttrKind::Meta, "target-role").ok().flatten().as_deref()
                == Some("Stopped");
        let state = match locs.first() {
            Some((n, true)) => format!("Promoted {n}"),
            Some((n, false)) => format!("Started {n}"),
            None => "Stopped".to_string(),
        };
        let dis = if disabled { " (disabled)" } else { "" };
        format!("{indent}* {id}\t({agent}):\t {state}{dis}\n")
    }
    for r in &res.children {
        match r.name.as_str() {
            "primitive" => out.push_str(&prim_line(cib, r, "  ")),
            "group" => {
                out.push_str(&format!("  * Resource Group: {}:\n", r.id().unwrap_or_default()));
                for p in r.children_named("primitive") {
                    out.push_str(&prim_line(cib, p, "    "));
                }
            }
            "clone" | "master" => {
                let child =
                    r.children.iter().find(|c| matches!(c.name.as_str(), "primitive" | "group"));
                let promotable = r.name == "master"
                    || r.children_named("meta_attributes").flat_map(|m| m.children.iter()).any(
                        |p| p.attr("name") == Some("promotable") && p.attr("value") == Some("true"),
                    );
                out.push_str(&format!(
                    "  * Clone Set: {} [{}]{}:\n",
                    r.id().unwrap_or_default(),
                    child.and_then(|c| c.id()).unwrap_or_default(),
                    if promotable { " (promotable)" } else { "" }
                ));
                let locs = locate_pairs(cib, r.id().unwrap_or_default());
                let promoted: Vec<&str> =
                    locs.iter().filter(|l| l.1).map(|l| l.0.as_str()).collect();
                let started: Vec<&str> =
                    locs.iter().filter(|l| !l.1).map(|l| l.0.as_str()).collect();
                if !promoted.is_empty() {
                    out.push_str(&format!("    * Promoted: [ {} ]\n", promoted.join(" ")));
                }
                if !started.is_empty() {
                    let word = if promotable { "Unpromoted" } else { "Started" };
                    out.push_str(&format!("    * {word}: [ {} ]\n", started.join(" ")));
                }
                let stopped: Vec<&str> = cib
                    .path(&["configuration", "nodes"])
                    .into_iter()
                    .flat_map(|n| n.children_named("node"))
                    .filter_map(|n| n.attr("uname").or(n.id()))
                    .filter(|n| !locs.iter().any(|(l, _)| l == n))
                    .collect();
                if !stopped.is_empty() {
                    out.push_str(&format!("    * Stopped: [ {} ]\n", stopped.join(" ")));
                }
            }
            _ => {}
        }
    }
    out
}

fn locate_pairs(cib: &Element, rsc: &str) -> Vec<(String, bool)> {
    locate(cib, rsc)
        .map(|l| l.into_iter().map(|l| (l.node, l.promoted)).collect())
        .unwrap_or_default()
}

/// Id of the move constraint of `rsc`.
pub fn prefer_id(rsc: &str) -> String {
    format!("cli-prefer-{rsc}")
}

/// Id of the ban constraint of `rsc` on `node`.
pub fn ban_id(rsc: &str, node: &str) -> String {
    format!("cli-ban-{rsc}-on-{node}")
}

fn check_rsc_node(cib: &Element, rsc: &str, node: Option<&str>) -> Result<(), OpError> {
    if Cib::from_element(cib).resource(rsc).is_none() {
        return Err(OpError::NoSuchResource(rsc.into()));
    }
    if let Some(n) = node {
        if node_id(cib, n).is_none() {
            return Err(OpError::NodeNotFound(n.into()));
        }
    }
    Ok(())
}

fn put_location(
    cib: &mut Element,
    id: &str,
    rsc: &str,
    node: &str,
    score: i64,
    promoted: bool,
    until: Option<&str>,
) {
    let cons = path_or_create(cib, &["configuration", "constraints"]);
    let _ = cons.remove_id(id);
    let role = if promoted { "Promoted" } else { "Started" };
    let mut loc = Element::new("rsc_location")
        .with_attr("id", id)
        .with_attr("rsc", rsc)
        .with_attr("role", role);
    match until {
        None => {
            loc.set_attr("node", node);
            loc.set_attr("score", &score_to_string(score));
        }
        Some(end) => {
            // Pacemaker names the rule parts differently for prefer and ban constraints.
            let (rule, expr, date) = if score > 0 {
                (
                    format!("cli-prefer-rule-{rsc}"),
                    format!("cli-prefer-expr-{rsc}"),
                    format!("cli-prefer-lifetime-end-{rsc}"),
                )
            } else {
                (format!("{id}-rule"), format!("{id}-expr"), format!("{id}-lifetime"))
            };
            loc.children.push(
                Element::new("rule")
                    .with_attr("id", &rule)
                    .with_attr("score", &score_to_string(score))
                    .with_attr("boolean-op", "and")
                    .with_child(
                        Element::new("expression")
                            .with_attr("id", &expr)
                            .with_attr("attribute", "#uname")
                            .with_attr("operation", "eq")
                            .with_attr("value", node)
                            .with_attr("type", "string"),
                    )
                    .with_child(
                        Element::new("date_expression")
                            .with_attr("id", &date)
                            .with_attr("operation", "lt")
                            .with_attr("end", end),
                    ),
            );
        }
    }
    cons.children.push(loc);
}

/// The civil date (year, month 1–12, day 1–31) of a day counted from 1970-01-01, in the
/// proleptic Gregorian calendar (days before 1970 are negative).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m as u32, d as u32)
}

/// Formats seconds since the epoch as Pacemaker writes lifetime ends: `YYYY-MM-DD HH:MM:SSZ`.
pub fn format_utc(secs: u64) -> String {
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The warning `crm_resource --ban` prints (three lines).
pub fn ban_warning(rsc: &str, node: &str) -> String {
    format!(
        "WARNING: Creating rsc_location constraint '{id}' with a score of -INFINITY for resource {rsc} on {node}.\n\
         \tThis will prevent {rsc} from running on {node} until the constraint is removed using the clear option or by editing the CIB with an appropriate tool\n\
         \tThis will be the case even if {node} is the last node in the cluster\n",
        id = ban_id(rsc, node)
    )
}

/// What a move or ban did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    /// `cli-prefer-RES` written for this node.
    Preferred(String),
    /// `cli-ban-RES-on-NODE` written; print [`ban_warning`].
    Banned(String),
}

/// `crm_resource --move -r RSC [-N NODE] [--promoted]`: with a node, writes
/// `cli-prefer-RSC` (INFINITY) there and drops a ban on that node; without, bans the one node
/// the resource is active on. With `until` (a [`format_utc`] time) the rule form with a
/// `date_expression` is written instead, as `--lifetime` does.
///
/// # Errors
/// Unknown resource or node; no node given and the resource is not active on exactly one node.
pub fn move_resource(
    cib: &mut Element,
    rsc: &str,
    node: Option<&str>,
    promoted: bool,
    until: Option<&str>,
) -> Result<MoveOutcome, OpError> {
    check_rsc_node(cib, rsc, node)?;
    let Some(node) = node else {
        let locs = locate(cib, rsc)?;
        let locs: Vec<_> = locs.into_iter().filter(|l| !promoted || l.promoted).collect();
        if locs.len() != 1 {
            return Err(OpError::NotMovable { rsc: rsc.into(), count: locs.len() });
        }
        return ban(cib, rsc, Some(&locs[0].node), promoted, until);
    };
    let mut work = cib.clone();
    if let Some(c) = work.path_mut(&["configuration", "constraints"]) {
        let _ = c.remove_id(&ban_id(rsc, node));
    }
    put_location(&mut work, &prefer_id(rsc), rsc, node, INFINITY, promoted, until);
    bump_epoch(&mut work);
    commit(cib, work)?;
    Ok(MoveOutcome::Preferred(node.into()))
}

/// `crm_resource --ban -r RSC [-N NODE] [--promoted]`: writes `cli-ban-RSC-on-NODE`
/// (-INFINITY); without a node, bans the one node the resource is active on.
///
/// # Errors
/// As [`move_resource`].
pub fn ban(
    cib: &mut Element,
    rsc: &str,
    node: Option<&str>,
    promoted: bool,
    until: Option<&str>,
) -> Result<MoveOutcome, OpError> {
    check_rsc_node(cib, rsc, node)?;
    let node = match node {
        Some(n) => n.to_string(),
        None => {
            let locs = locate(cib, rsc)?;
            if locs.len() != 1 {
                return Err(OpError::NotMovable { rsc: rsc.into(), count: locs.len() });
            }
            locs[0].node.clone()
        }
    };
    let mut work = cib.clone();
    put_location(&mut work, &ban_id(rsc, &node), rsc, &node, -INFINITY, promoted, until);
    bump_epoch(&mut work);
    commit(cib, work)?;
    Ok(MoveOutcome::Banned(node))
}

/// `crm_resource --clear -r RSC [-N NODE]`: removes `cli-prefer-RSC` and every
/// `cli-ban-RSC-on-*` (with a node: only those for that node). Returns the removed ids in
/// document order; an empty list is not an error.
///
/// # Errors
/// Unknown resource.
pub fn clear(cib: &mut Element, rsc: &str, node: Option<&str>) -> Result<Vec<String>, OpError> {
    if Cib::from_element(cib).resource(rsc).is_none() {
        return Err(OpError::NoSuchResource(rsc.into()));
    }
    let prefer = prefer_id(rsc);
    let ban_prefix = format!("cli-ban-{rsc}-on-");
    let mut removed = Vec::new();
    if let Some(cons) = cib.path_mut(&["configuration", "constraints"]) {
        let wanted = |c: &Element, ban: bool| {
            let id = c.id().unwrap_or("");
            let ours = if ban { id.starts_with(&ban_prefix) } else { id == prefer };
            ours && node.map_or(true, |n| {
                c.attr("node") == Some(n)
                    || id == ban_id(rsc, n)
                    || (id == prefer && c.attr("node").is_none())
            })
        };
        // Pacemaker removes the bans first, then the preference.
        for ban in [true, false] {
            removed.extend(
                cons.children
                    .iter()
                    .filter(|c| wanted(c, ban))
                    .map(|c| c.id().unwrap_or("").to_string()),
            );
            cons.children.retain(|c| !wanted(c, ban));
        }
    }
    // Each removal is its own update in Pacemaker, so epoch rises once per constraint.
    for _ in &removed {
        bump_epoch(cib);
    }
    Ok(removed)
}

fn is_failure_attr(name: &str, rsc: &str) -> bool {
    ["fail-count-", "last-failure-"].iter().any(|p| {
        name.strip_prefix(p)
            .and_then(|r| r.strip_prefix(rsc))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('#'))
    })
}

/// The fail count of `rsc` on `node`: the sum of `fail-count-RSC` and `fail-count-RSC#OP_INTERVAL`
/// transient attributes (saturating at INFINITY), 0 when none.
///
/// # Errors
/// Unknown node.
pub fn failcount(cib: &Element, rsc: &str, node: &str) -> Result<i64, OpError> {
    let nid = node_id(cib, node).ok_or_else(|| OpError::NoSuchNode(node.into()))?;
    let mut total = 0i64;
    if let Some(t) = container(cib, Scope::Status, &nid) {
        for set in &t.children {
            for p in set.children_named("nvpair") {
                let name = p.attr("name").unwrap_or("");
                if name.starts_with("fail-count-") && is_failure_attr(name, rsc) {
                    let v = p.attr("value").and_then(parse_score).unwrap_or(0);
                    total = (total + v).clamp(-INFINITY, INFINITY);
                }
            }
        }
    }
    Ok(total)
}

/// `crm_resource --cleanup [-r RSC] [-N NODE]`: forgets the operation history
/// (`lrm_resource` entries) and the `fail-count-*` / `last-failure-*` attributes of `rsc`
/// (every resource when `None`) on `node` (every node when `None`), so the cluster re-probes.
/// Returns the node names touched.
///
/// # Errors
/// Unknown resource or node.
pub fn cleanup(
    cib: &mut Element,
    rsc: Option<&str>,
    node: Option<&str>,
) -> Result<Vec<String>, OpError> {
    let model = Cib::from_element(cib);
    let prims = match rsc {
        Some(r) => {
            if model.resource(r).is_none() {
                return Err(OpError::NoSuchResource(r.into()));
            }
            primitive_ids(&model, r)
        }
        None => Vec::new(),
    };
    if let Some(n) = node {
        if node_id(cib, n).is_none() {
            return Err(OpError::NoSuchNode(n.into()));
        }
    }
    let hits = |id: &str| {
        rsc.is_none()
            || prims
                .iter()
                .any(|p| id == p || id.strip_prefix(p.as_str()).is_some_and(|s| s.starts_with(':')))
    };
    let mut touched = Vec::new();
    let mut changed = false;
    for ns in cib.child_mut("status").into_iter().flat_map(|s| s.children.iter_mut()) {
        let uname = ns.attr("uname").unwrap_or("").to_string();
        if node.is_some_and(|n| n != uname) {
            continue;
        }
        if let Some(lrs) = ns.path_mut(&["lrm", "lrm_resources"]) {
            let before = lrs.children.len();
            lrs.children.retain(|lr| !hits(lr.id().unwrap_or("")));
            changed |= lrs.children.len() != before;
        }
        if let Some(t) = ns.child_mut("transient_attributes") {
            for set in &mut t.children {
                let before = set.children.len();
                set.children.retain(|p| {
                    let name = p.attr("name").unwrap_or("");
                    let failure =
                        name.starts_with("fail-count-") || name.starts_with("last-failure-");
                    !(failure
                        && match rsc {
                            None => true,
                            Some(_) => prims.iter().any(|pr| {
                                is_failure_attr(name, pr)
                                    || (name.contains(':')
                                        && is_failure_attr(&name.replace(':', "#"), pr))
                            }),
                        })
                });
                changed |= set.children.len() != before;
            }
        }
        touched.push(uname);
    }
    if changed {
        bump_updates(cib);
    }
    Ok(touched)
}

/// What `crm_resource --cleanup` prints for the nodes [`cleanup`] touched: one
/// `Cleaned up RSC on NODE` (or `Cleaned up all resources on NODE`) line per node.
pub fn cleanup_text(rsc: Option<&str>, nodes: &[String]) -> String {
    let what = rsc.unwrap_or("all resources");
    nodes.iter().map(|n| format!("Cleaned up {what} on {n}\n")).collect()
}

/// The local node's name as Pacemaker's tools pick it without a controller:
/// `OCF_RESKEY_CRM_meta_on_node`, else the kernel's node name (`uname -n`).
pub fn local_node_name() -> String {
    if let Ok(n) = std::env::var("OCF_RESKEY_CRM_meta_on_node") {
        if !n.is_empty() {
            return n;
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The node a promotion score (`crm_attribute -p`) applies to when `-N` is absent, `auto` or
/// `localhost`: for bundles with `OCF_RESKEY_CRM_meta_container_attribute_target=host` the
/// `OCF_RESKEY_CRM_meta_physical_host`, else [`local_node_name`].
pub fn attribute_target_node(get: impl Fn(&str) -> Option<String>) -> String {
    if get("OCF_RESKEY_CRM_meta_container_attribute_target").as_deref() == Some("host") {
        if let Some(h) = get("OCF_RESKEY_CRM_meta_physical_host").filter(|h| !h.is_empty()) {
            return h;
        }
    }
    local_node_name()
}

/// Why [`edit`] failed.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Reading or writing the CIB failed.
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    /// The operation was refused; nothing was written.
    #[error(transparent)]
    Op(#[from] OpError),
}

/// Loads the CIB from `src`, applies `f`, and saves the result atomically when `f` succeeds
/// (nothing is written when it fails).
///
/// # Errors
/// The CIB cannot be read or written, or `f` fails.
pub fn edit<T>(
    src: &super::store::CibSource,
    f: impl FnOnce(&mut Element) -> Result<T, OpError>,
) -> Result<T, EditError> {
    let mut cib = src.load()?;
    let out = f(&mut cib)?;
    src.save(&cib)?;
    Ok(out)
}

/// Sets node `node`'s permanent `standby` attribute (`on`/`off`).
///
/// # Errors
/// Unknown node.
pub fn set_standby(cib: &mut Element, node: &str, on: bool) -> Result<(), OpError> {
    set_attr(cib, Scope::Nodes, Some(node), None, "standby", if on { "on" } else { "off" })
}

/// Adds configuration XML `obj` under the section `scope` (`cibadmin -C`): the section is
/// chosen by `scope` or, when `None`, by the element's name.
///
/// # Errors
/// [`OpError::Exists`] when the id is taken, [`OpError::Invalid`] when the result does not
/// validate, [`OpError::BadArgument`] for an unknown section.
pub fn create_object(cib: &mut Element, scope: Option<&str>, obj: Element) -> Result<(), OpError> {
    if let Some(id) = obj.id() {
        if cib.find_id(id).is_some_and(|e| e.name == obj.name) {
            return Err(OpError::Exists(id.into()));
        }
    }
    let mut work = cib.clone();
    let section = scope.map(str::to_string).unwrap_or_else(|| section_for(&obj.name).to_string());
    if obj.name == "cib" {
        return Err(OpError::BadArgument("cannot create <cib>".into()));
    }
    let target = section_mut(&mut work, &section)
        .ok_or_else(|| OpError::BadArgument(format!("unknown section {section}")))?;
    let config_change = section != "status";
    target.children.push(obj);
    if config_change {
        bump_epoch(&mut work);
    } else {
        bump_updates(&mut work);
    }
    commit(cib, work)
}

/// The section a top-level configuration element belongs in.
pub fn section_for(name: &str) -> &'static str {
    match name {
        "primitive" | "group" | "clone" | "master" | "bundle" | "template" => "resources",
        "rsc_location" | "rsc_colocation" | "rsc_order" | "rsc_ticket" => "constraints",
        "node" => "nodes",
        "cluster_property_set" => "crm_config",
        "node_state" => "status",
        _ => "configuration",
    }
}

/// The element of section `name` (`configuration`, `nodes`, `resources`, `constraints`,
/// `crm_config`, `rsc_defaults`, `op_defaults`, `fencing-topology`, `acls`, `tags`, `alerts`,
/// `status`), created when missing.
pub fn section_mut<'a>(cib: &'a mut Element, name: &str) -> Option<&'a mut Element> {
    Some(match name {
        "cib" => cib,
        "configuration" => cib.child_or_insert("configuration"),
        "status" => cib.child_or_insert("status"),
        "nodes" | "resources" | "constraints" | "crm_config" | "rsc_defaults" | "op_defaults"
        | "fencing-topology" | "acls" | "tags" | "alerts" => {
            path_or_create(cib, &["configuration", name])
        }
        _ => return None,
    })
}

/// The section element of `name` (see [`section_mut`]), read-only.
pub fn section<'a>(cib: &'a Element, name: &str) -> Option<&'a Element> {
    match name {
        "cib" => Some(cib),
        "configuration" | "status" => cib.child(name),
        "nodes" | "resources" | "constraints" | "crm_config" | "rsc_defaults" | "op_defaults"
        | "fencing-topology" | "acls" | "tags" | "alerts" => cib.path(&["configuration", name]),
        _ => None,
    }
}

/// Whether `name` is a section `-o/--scope` accepts.
pub fn is_section(name: &str) -> bool {
    matches!(
        name,
        "configuration"
            | "status"
            | "nodes"
            | "resources"
            | "constraints"
            | "crm_config"
            | "rsc_defaults"
            | "op_defaults"
            | "fencing-topology"
            | "acls"
            | "tags"
            | "alerts"
    )
}

fn find_target<'a>(root: &'a mut Element, obj: &Element) -> Option<&'a mut Element> {
    match obj.id() {
        Some(id) => root.find_id_mut(id).filter(|e| e.name == obj.name),
        None if obj.name == root.name => Some(root),
        None => find_by_name(root, &obj.name),
    }
}

fn find_by_name<'a>(e: &'a mut Element, name: &str) -> Option<&'a mut Element> {
    if e.name == name {
        return Some(e);
    }
    e.children.iter_mut().find_map(|c| find_by_name(c, name))
}

/// Merges `obj` into the element with the same id (`cibadmin -M`): its attributes are set,
/// its children merged recursively by id (added when new).
///
/// # Errors
/// [`OpError::NoSuchObject`] when nothing matches; [`OpError::Invalid`].
pub fn modify_object(cib: &mut Element, obj: &Element) -> Result<(), OpError> {
    let mut work = cib.clone();
    let target = find_target(&mut work, obj)
        .ok_or_else(|| OpError::NoSuchObject(obj.id().unwrap_or(&obj.name).into()))?;
    merge(target, obj);
    finish_edit(cib, work, obj)
}

fn merge(target: &mut Element, obj: &Element) {
    for (k, v) in &obj.attrs {
        target.set_attr(k, v);
    }
    for c in &obj.children {
        let pos = match c.id() {
            Some(id) => target.children.iter().position(|t| t.name == c.name && t.id() == Some(id)),
            None => target.children.iter().position(|t| t.name == c.name),
        };
        match pos {
            Some(p) => merge(&mut target.children[p], c),
            None => target.children.push(c.clone()),
        }
    }
}

fn finish_edit(cib: &mut Element, mut work: Element, obj: &Element) -> Result<(), OpError> {
    if obj.name == "node_state" || is_status_element(&obj.name) {
        bump_updates(&mut work);
    } else {
        bump_epoch(&mut work);
    }
    commit(cib, work)
}

fn is_status_element(name: &str) -> bool {
    matches!(
        name,
        "status"
            | "node_state"
            | "lrm"
            | "lrm_resources"
            | "lrm_resource"
            | "lrm_rsc_op"
            | "transient_attributes"
    )
}

/// The CIB's version triple (`admin_epoch`, `epoch`, `num_updates`), compared
/// lexicographically to decide which CIB is newer.
pub fn version(cib: &Element) -> (u64, u64, u64) {
    let n = |k: &str| cib.attr(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    (n("admin_epoch"), n("epoch"), n("num_updates"))
}

/// Replaces the element with the same id (or the section of that name) by `obj`
/// (`cibadmin -R`).
///
/// # Errors
/// [`OpError::NoSuchObject`]; [`OpError::Invalid`].
pub fn replace_object(cib: &mut Element, obj: &Element) -> Result<(), OpError> {
    let mut work = cib.clone();
    if obj.name == "cib" {
        let mut new = obj.clone();
        if new.attr("epoch").is_none() {
            for k in ["admin_epoch", "epoch", "num_updates"] {
                if let Some(v) = cib.attr(k) {
                    new.set_attr(k, v);
                }
            }
        }
        if version(&new) < version(cib) {
            return Err(OpError::Old);
        }
        bump_updates(&mut new);
        return commit(cib, new);
    }
    let target = if obj.id().is_none() && is_section(&obj.name) {
        section_mut(&mut work, &obj.name)
    } else {
        find_target(&mut work, obj)
    }
    .ok_or_else(|| OpError::NoSuchObject(obj.id().unwrap_or(&obj.name).into()))?;
    *target = obj.clone();
    finish_edit(cib, work, obj)
}

/// Deletes the element matching `obj` (`cibadmin -D -X '<tag id="..."/>'`). Returns whether
/// something was deleted (Pacemaker succeeds silently when nothing matches).
///
/// # Errors
/// [`OpError::Invalid`] when the deletion leaves dangling references.
pub fn delete_object(cib: &mut Element, obj: &Element) -> Result<bool, OpError> {
    let mut work = cib.clone();
    let deleted = match obj.id() {
        Some(id) => remove_matching(&mut work, &obj.name, id),
        None => false,
    };
    if !deleted {
        return Ok(false);
    }
    finish_edit(cib, work, obj)?;
    Ok(true)
}

fn remove_matching(e: &mut Element, name: &str, id: &str) -> bool {
    if let Some(pos) = e.children.iter().position(|c| c.name == name && c.id() == Some(id)) {
        e.children.remove(pos);
        return true;
    }
    e.children.iter_mut().any(|c| remove_matching(c, name, id))
}

/// Result of [`set_resource_attr`]: the pair's id, and the set's id when the pair is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetResult {
    /// The nvpair's id.
    pub id: String,
    /// The set it was created in, when it is new.
    pub new_in_set: Option<String>,
}

/// Which attribute set of a resource `crm_resource -g/-p/-d` works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    /// `instance_attributes` (agent parameters; the default).
    Instance,
    /// `meta_attributes` (`--meta`).
    Meta,
    /// `utilization` (`-z`).
    Utilization,
}

fn set_kind(kind: AttrKind) -> &'static str {
    match kind {
        AttrKind::Instance => "instance_attributes",
        AttrKind::Meta => "meta_attributes",
        AttrKind::Utilization => "utilization",
    }
}

/// Reads a resource's instance, meta or utilization attribute, like
/// `crm_resource -r RSC [--meta] -g NAME`.
///
/// # Errors
/// Unknown resource.
pub fn get_resource_attr(
    cib: &Element,
    rsc: &str,
    kind: AttrKind,
    name: &str,
) -> Result<Option<String>, OpError> {
    let r = find_resource_elem(cib, rsc)?;
    Ok(r.children_named(set_kind(kind))
        .flat_map(|s| s.children_named("nvpair"))
        .find(|p| p.attr("name") == Some(name))
        .and_then(|p| p.attr("value").map(str::to_string)))
}

/// Element names of configured resources.
pub const RESOURCE_KINDS: &[&str] = &["primitive", "group", "clone", "master", "bundle"];

/// The configured resource element with id `rsc` (at any depth under `resources`).
///
/// # Errors
/// [`OpError::NoSuchResource`].
pub fn find_resource_elem<'a>(cib: &'a Element, rsc: &str) -> Result<&'a Element, OpError> {
    cib.path(&["configuration", "resources"])
        .and_then(|r| r.find_id(rsc))
        .filter(|e| RESOURCE_KINDS.contains(&e.name.as_str()))
        .ok_or_else(|| OpError::NoSuchResource(rsc.into()))
}

/// Sets a resource's instance, meta or utilization attribute:
/// `crm_resource -r RSC [--meta|-z] -p NAME -v V`. Ids: set `RSC-instance_attributes` /
/// `RSC-meta_attributes` / `RSC-utilization`, pair `SET-NAME`.
///
/// # Errors
/// Unknown resource; invalid result.
pub fn set_resource_attr(
    cib: &mut Element,
    rsc: &str,
    kind: AttrKind,
    name: &str,
    value: &str,
) -> Result<SetResult, OpError> {
    find_resource_elem(cib, rsc)?;
    let mut work = cib.clone();
    let r = work
        .path_mut(&["configuration", "resources"])
        .and_then(|r| r.find_id_mut(rsc))
        .expect("checked");
    let set_name = set_kind(kind);
    let existing = r
        .children
        .iter_mut()
        .filter(|s| s.name == set_name)
        .flat_map(|s| s.children.iter_mut())
        .find(|p| p.name == "nvpair" && p.attr("name") == Some(name));
    let result = match existing {
        Some(p) => {
            p.set_attr("value", value);
            SetResult { id: p.id().unwrap_or("").into(), new_in_set: None }
        }
        None => {
            let pos = match r.children.iter().position(|s| s.name == set_name) {
                Some(p) => p,
                None => {
                    // Pacemaker appends a new set after the resource's other children.
                    r.children
                        .push(Element::new(set_name).with_attr("id", &format!("{rsc}-{set_name}")));
                    r.children.len() - 1
                }
            };
            let set = &mut r.children[pos];
            let set_id = set.id().unwrap_or("").to_string();
            let id = sanitize_id(&format!("{set_id}-{name}"));
            set.children.push(
                Element::new("nvpair")
                    .with_attr("id", &id)
                    .with_attr("name", name)
                    .with_attr("value", value),
            );
            SetResult { id, new_in_set: Some(set_id) }
        }
    };
    bump_epoch(&mut work);
    commit(cib, work)?;
    Ok(result)
}

/// Deletes a resource's instance, meta or utilization attribute; returns the deleted pair's id.
///
/// # Errors
/// Unknown resource.
pub fn delete_resource_attr(
    cib: &mut Element,
    rsc: &str,
    kind: AttrKind,
    name: &str,
) -> Result<Option<String>, OpError> {
    find_resource_elem(cib, rsc)?;
    let r = cib
        .path_mut(&["configuration", "resources"])
        .and_then(|r| r.find_id_mut(rsc))
        .expect("checked");
    let mut gone = None;
    for set in r.children.iter_mut().filter(|s| s.name == set_kind(kind)) {
        if let Some(pos) =
            set.children.iter().position(|p| p.name == "nvpair" && p.attr("name") == Some(name))
        {
            gone = set.children.remove(pos).id().map(str::to_string);
            break;
        }
    }
    if gone.is_some() {
        bump_epoch(cib);
    }
    Ok(gone)
}

/// `crm_resource --list-raw`: primitive ids, clone children as `ID:N` for each instance
/// (`clone-max`, default the number of configured nodes).
pub fn list_raw(cib: &Element) -> Vec<String> {
    let model = Cib::from_element(cib);
    let mut out = Vec::new();
    fn add(r: &Resource, copies: Option<usize>, nodes: usize, out: &mut Vec<String>) {
        match r {
            Resource::Primitive(p) => match copies {
                Some(n) => out.extend((0..n).map(|i| format!("{}:{i}", p.id))),
                None => out.push(p.id.clone()),
            },
            Resource::Group(g) => g.members.iter().for_each(|m| add(m, copies, nodes, out)),
            Resource::Clone(c) => {
                let n = r.meta("clone-max").and_then(|v| v.parse().ok()).unwrap_or(nodes);
                c.child.iter().for_each(|m| add(m, Some(n), nodes, out));
            }
            Resource::Other(e) => out.push(e.id().unwrap_or("").into()),
        }
    }
    for r in &model.resources {
        add(r, None, model.nodes.len(), &mut out);
    }
    out
}

/// The document `cibadmin --empty` prints: an empty configuration with Pacemaker 2.1.5's
/// feature set and schema.
pub fn empty_cib() -> Element {
    let conf = Element::new("configuration")
        .with_child(Element::new("crm_config"))
        .with_child(Element::new("nodes"))
        .with_child(Element::new("resources"))
        .with_child(Element::new("constraints"));
    Element::new("cib")
        .with_attr("crm_feature_set", "3.16.1")
        .with_attr("validate-with", "pacemaker-3.9")
        .with_attr("epoch", "1")
        .with_attr("num_updates", "0")
        .with_attr("admin_epoch", "0")
        .with_child(conf)
        .with_child(Element::new("status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_list_layout() {
        let c = Element::parse(
            r#"<cib epoch="1"><configuration><crm_config/><nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes><resources>
            <primitive id="v" class="ocf" provider="heartbeat" type="IPaddr2"><meta_attributes id="v-m"><nvpair id="v-m-t" name="target-role" value="Stopped"/></meta_attributes></primitive>
            <group id="g"><primitive id="a" class="ocf" provider="pacemaker" type="Dummy"/></group>
            <clone id="c"><primitive id="d" class="ocf" provider="pacemaker" type="Stateful"/><meta_attributes id="c-m"><nvpair id="c-m-p" name="promotable" value="true"/></meta_attributes></clone>
            </resources><constraints/></configuration><status><node_state id="1" uname="n1"><lrm id="1"><lrm_resources>
            <lrm_resource id="a"><lrm_rsc_op id="a1" operation="start" call-id="1" rc-code="0" interval="0"/></lrm_resource>
            <lrm_resource id="d"><lrm_rsc_op id="d1" operation="promote" call-id="2" rc-code="0" interval="0"/></lrm_resource>
            </lrm_resources></lrm></node_state></status></cib>"#,
        )
        .unwrap();
        assert_eq!(
            resource_list(&c),
            "Full List of Resources:\n  * v\t(ocf:heartbeat:IPaddr2):\t Stopped (disabled)\n  \
             * Resource Group: g:\n    * a\t(ocf:pacemaker:Dummy):\t Started n1\n  \
             * Clone Set: c [d] (promotable):\n    * Promoted: [ n1 ]\n    * Stopped: [ n2 ]\n"
        );
    }

    fn cib() -> Element {
        Element::parse(
            r#"<cib epoch="2" num_updates="5" admin_epoch="0"><configuration><crm_config/>
            <nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes><resources>
            <primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/></resources>
            <constraints/></configuration><status>
            <node_state id="1" uname="n1"><lrm id="1"><lrm_resources><lrm_resource id="vip">
            <lrm_rsc_op id="vip_last_0" operation="start" call-id="3" rc-code="0" interval="0"/>
            </lrm_resource></lrm_resources></lrm><transient_attributes id="1"><instance_attributes id="status-1">
            <nvpair id="status-1-fail-count-vip.monitor_10000" name="fail-count-vip#monitor_10000" value="2"/>
            </instance_attributes></transient_attributes></node_state></status></cib>"#,
        )
        .unwrap()
    }

    #[test]
    fn attribute_ids_and_versions() {
        let mut c = cib();
        set_attr(&mut c, Scope::CrmConfig, None, None, "stonith-enabled", "false").unwrap();
        assert_eq!(c.attr("epoch"), Some("3"));
        assert!(c.find_id("cib-bootstrap-options-stonith-enabled").is_some());
        set_attr(&mut c, Scope::Nodes, Some("n2"), None, "standby", "on").unwrap();
        assert!(c.find_id("nodes-2-standby").is_some());
        assert!(matches!(
            set_attr(&mut c, Scope::Status, Some("n2"), None, "x", "5"),
            Err(OpError::NoStatusEntry { .. })
        ));
        c.child_mut("status")
            .unwrap()
            .children
            .push(Element::new("node_state").with_attr("id", "2"));
        set_attr(&mut c, Scope::Status, Some("n2"), None, "master-d#x", "5").unwrap();
        assert_eq!(c.attr("num_updates"), Some("1"));
        assert!(c.find_id("status-2-master-d.x").is_some());
        assert_eq!(
            get_attr(&c, Scope::Status, Some("n2"), "master-d#x").unwrap().unwrap().value,
            "5"
        );
        assert_eq!(
            set_attr(&mut c, Scope::Nodes, Some("n9"), None, "a", "b"),
            Err(OpError::NoSuchNode("n9".into()))
        );
        assert_eq!(
            delete_attr(&mut c, Scope::Nodes, Some("n2"), "standby").unwrap().unwrap().id,
            "nodes-2-standby"
        );
        assert_eq!(delete_attr(&mut c, Scope::Nodes, Some("n2"), "standby").unwrap(), None);
    }

    #[test]
    fn move_ban_clear_and_locate() {
        let mut c = cib();
        assert_eq!(
            locate(&c, "vip").unwrap(),
            vec![Location { node: "n1".into(), promoted: false }]
        );
        assert_eq!(
            move_resource(&mut c, "vip", None, false, None).unwrap(),
            MoveOutcome::Banned("n1".into())
        );
        assert_eq!(
            move_resource(&mut c, "vip", Some("n2"), false, None).unwrap(),
            MoveOutcome::Preferred("n2".into())
        );
        let ids: Vec<_> = c
            .path(&["configuration", "constraints"])
            .unwrap()
            .children
            .iter()
            .map(|e| e.id().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["cli-ban-vip-on-n1", "cli-prefer-vip"]);
        assert_eq!(
            move_resource(&mut c, "nope", Some("n2"), false, None),
            Err(OpError::NoSuchResource("nope".into()))
        );
        assert_eq!(clear(&mut c, "vip", None).unwrap(), ["cli-ban-vip-on-n1", "cli-prefer-vip"]);
        assert!(clear(&mut c, "vip", None).unwrap().is_empty());
    }

    #[test]
    fn lifetime_rule_form_and_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_utc(1_795_552_890), "2026-11-24 20:41:30Z");
        assert_eq!(format_utc(951_825_600), "2000-02-29 12:00:00Z");
        let mut c = cib();
        move_resource(&mut c, "vip", Some("n2"), false, Some("2026-11-24 21:11:30Z")).unwrap();
        let l = c.find_id("cli-prefer-vip").unwrap();
        assert_eq!(l.attr("node"), None);
        assert!(c.find_id("cli-prefer-expr-vip").is_some());
        assert_eq!(
            c.find_id("cli-prefer-lifetime-end-vip").unwrap().attr("end"),
            Some("2026-11-24 21:11:30Z")
        );
        ban(&mut c, "vip", Some("n1"), false, Some("x")).unwrap();
        assert!(c.find_id("cli-ban-vip-on-n1-lifetime").is_some());
        assert_eq!(clear(&mut c, "vip", Some("n2")).unwrap(), ["cli-prefer-vip"]);
    }

    #[test]
    fn failcount_and_cleanup() {
        let mut c = cib();
        assert_eq!(failcount(&c, "vip", "n1").unwrap(), 2);
        assert_eq!(cleanup(&mut c, Some("vip"), None).unwrap(), ["n1"]);
        assert_eq!(failcount(&c, "vip", "n1").unwrap(), 0);
        assert!(locate(&c, "vip").unwrap().is_empty());
    }

    #[test]
    fn cibadmin_style_edits() {
        let mut c = cib();
        let l = Element::parse(r#"<rsc_location id="l1" rsc="vip" node="n1" score="5"/>"#).unwrap();
        create_object(&mut c, Some("constraints"), l.clone()).unwrap();
        assert_eq!(
            create_object(&mut c, Some("constraints"), l),
            Err(OpError::Exists("l1".into()))
        );
        let ghost =
            Element::parse(r#"<rsc_location id="l2" rsc="ghost" node="n1" score="5"/>"#).unwrap();
        let before = c.clone();
        assert!(matches!(create_object(&mut c, None, ghost), Err(OpError::Invalid(_))));
        assert_eq!(c, before);
        modify_object(&mut c, &Element::parse(r#"<primitive id="vip" description="x"/>"#).unwrap())
            .unwrap();
        assert_eq!(c.find_id("vip").unwrap().attr("description"), Some("x"));
        assert!(
            delete_object(&mut c, &Element::parse(r#"<rsc_location id="l1"/>"#).unwrap()).unwrap()
        );
        assert!(
            !delete_object(&mut c, &Element::parse(r#"<rsc_location id="l1"/>"#).unwrap()).unwrap()
        );
    }
}
