//! Resource and node administration on a CIB tree (`crm resource ...`, `crm node ...`).
//!
//! These are the CIB edits Pacemaker's `crm_resource`, `crm_attribute`, `crm_standby` and
//! `crm_failcount` make: `target-role` / `is-managed` meta attributes, the `cli-prefer-` and
//! `cli-ban-` location constraints of a move or ban (§4.13), node attributes in the `nodes`
//! section (permanent) or in the status section (until reboot), fail counts and history in
//! the status section. Nothing here reads a clock: a move with a lifetime takes the current
//! time from the caller.

use crate::cib::xml::Element;

use super::configure::{resource_exists, section_mut, set_nvpair};
use super::CrmError;

/// Where a node attribute lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Permanent: `configuration/nodes/node/instance_attributes` (id `nodes-ID`).
    Forever,
    /// Until the node restarts: `status/node_state/transient_attributes` (id `status-ID`).
    Reboot,
}

fn resource_mut<'a>(cib: &'a mut Element, rsc: &str) -> Result<&'a mut Element, CrmError> {
    if !resource_exists(cib, rsc) {
        return Err(CrmError::NoSuchResource(rsc.into()));
    }
    Ok(section_mut(cib, "resources").find_id_mut(rsc).expect("checked"))
}

fn set_in(e: &mut Element, kind: &str, set_suffix: &str, name: &str, value: Option<&str>) {
    let owner = e.id().unwrap_or_default().to_string();
    match value {
        Some(v) => {
            let pos = match e.children.iter().position(|c| c.name == kind) {
                Some(p) => p,
                None => {
                    let set = Element::new(kind).with_attr("id", &format!("{owner}-{set_suffix}"));
                    // Attribute sets go before <operations> and contained resources.
                    let at = e
                        .children
                        .iter()
                        .position(|c| {
                            !matches!(
                                c.name.as_str(),
                                "instance_attributes" | "meta_attributes" | "utilization"
                            )
                        })
                        .unwrap_or(e.children.len());
                    e.children.insert(at, set);
                    at
                }
            };
            set_nvpair(&mut e.children[pos], name, v);
        }
        None => {
            for set in e.children.iter_mut().filter(|c| c.name == kind) {
                set.children.retain(|p| p.attr("name") != Some(name));
            }
            e.children.retain(|c| c.name != kind || !c.children.is_empty());
        }
    }
}

/// Sets (`Some`) or deletes (`None`) a meta attribute of a resource (`target-role`,
/// `is-managed`, ...), creating `RES-meta_attributes` with nvpair `RES-meta_attributes-NAME`.
///
/// # Errors
/// [`CrmError::NoSuchResource`].
pub fn set_meta(
    cib: &mut Element,
    rsc: &str,
    name: &str,
    value: Option<&str>,
) -> Result<(), CrmError> {
    set_in(resource_mut(cib, rsc)?, "meta_attributes", "meta_attributes", name, value);
    Ok(())
}

/// Sets or deletes an instance attribute (parameter) of a resource.
///
/// # Errors
/// [`CrmError::NoSuchResource`].
pub fn set_param(
    cib: &mut Element,
    rsc: &str,
    name: &str,
    value: Option<&str>,
) -> Result<(), CrmError> {
    set_in(resource_mut(cib, rsc)?, "instance_attributes", "instance_attributes", name, value);
    Ok(())
}

/// The value of a resource's meta (`meta = true`) or instance attribute.
///
/// # Errors
/// [`CrmError::NoSuchResource`].
pub fn get_rsc_attr(
    cib: &Element,
    rsc: &str,
    name: &str,
    meta: bool,
) -> Result<Option<String>, CrmError> {
    if !resource_exists(cib, rsc) {
        return Err(CrmError::NoSuchResource(rsc.into()));
    }
    let e =
        cib.path(&["configuration", "resources"]).and_then(|r| r.find_id(rsc)).expect("checked");
    let kind = if meta { "meta_attributes" } else { "instance_attributes" };
    Ok(e.children_named(kind)
        .flat_map(|s| s.children.iter())
        .find(|p| p.attr("name") == Some(name))
        .and_then(|p| p.attr("value"))
        .map(str::to_string))
}

/// Node names in the `nodes` section (uname, or id when no uname).
pub fn node_names(cib: &Element) -> Vec<String> {
    cib.path(&["configuration", "nodes"])
        .map(|n| {
            n.children_named("node")
                .filter_map(|n| n.attr("uname").or(n.id()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn node_id(cib: &Element, uname: &str) -> Result<String, CrmError> {
    cib.path(&["configuration", "nodes"])
        .and_then(|n| {
            n.children_named("node").find(|n| {
                n.attr("uname") == Some(uname)
                    || (n.attr("uname").is_none() && n.id() == Some(uname))
            })
        })
        .and_then(|n| n.id())
        .map(str::to_string)
        .ok_or_else(|| CrmError::NoSuchNode(uname.into()))
}

fn node_state_mut<'a>(cib: &'a mut Element, id: &str, uname: &str) -> &'a mut Element {
    let status = cib.child_or_insert("status");
    let pos =
        match status.children.iter().position(|c| c.name == "node_state" && c.id() == Some(id)) {
            Some(p) => p,
            None => {
                status
                    .children
                    .push(Element::new("node_state").with_attr("id", id).with_attr("uname", uname));
                status.children.len() - 1
            }
        };
    &mut status.children[pos]
}

/// Sets (`Some`) or deletes (`None`) a node attribute such as `standby` or `maintenance`.
///
/// # Errors
/// [`CrmError::NoSuchNode`] when `node` is not in the `nodes` section.
pub fn set_node_attr(
    cib: &mut Element,
    node: &str,
    name: &str,
    value: Option<&str>,
    lifetime: Lifetime,
) -> Result<(), CrmError> {
    let id = node_id(cib, node)?;
    match lifetime {
        Lifetime::Forever => {
            let n = section_mut(cib, "nodes")
                .children
                .iter_mut()
                .find(|n| n.name == "node" && n.id() == Some(&id))
                .expect("found above");
            apply_set(n, "instance_attributes", &format!("nodes-{id}"), name, value);
        }
        Lifetime::Reboot => {
            let ns = node_state_mut(cib, &id, node);
            if value.is_none() && ns.child("transient_attributes").is_none() {
                return Ok(());
            }
            let ta = ns.child_or_insert("transient_attributes");
            if ta.id().is_none() {
                ta.set_attr("id", &id);
            }
            apply_set(ta, "instance_attributes", &format!("status-{id}"), name, value);
        }
    }
    Ok(())
}

fn apply_set(owner: &mut Element, kind: &str, set_id: &str, name: &str, value: Option<&str>) {
    match value {
        Some(v) => {
            let pos = match owner.children.iter().position(|c| c.name == kind) {
                Some(p) => p,
                None => {
                    owner.children.push(Element::new(kind).with_attr("id", set_id));
                    owner.children.len() - 1
                }
            };
            set_nvpair(&mut owner.children[pos], name, v);
        }
        None => {
            for s in owner.children.iter_mut().filter(|c| c.name == kind) {
                s.children.retain(|p| p.attr("name") != Some(name));
            }
        }
    }
}

/// The value of a node attribute.
///
/// # Errors
/// [`CrmError::NoSuchNode`].
pub fn get_node_attr(
    cib: &Element,
    node: &str,
    name: &str,
    lifetime: Lifetime,
) -> Result<Option<String>, CrmError> {
    let id = node_id(cib, node)?;
    let owner = match lifetime {
        Lifetime::Forever => cib
            .path(&["configuration", "nodes"])
            .and_then(|n| n.children_named("node").find(|n| n.id() == Some(&id))),
        Lifetime::Reboot => cib
            .child("status")
            .and_then(|s| s.children_named("node_state").find(|n| n.id() == Some(&id)))
            .and_then(|n| n.child("transient_attributes")),
    };
    Ok(owner
        .into_iter()
        .flat_map(|o| o.children_named("instance_attributes"))
        .flat_map(|s| s.children.iter())
        .find(|p| p.attr("name") == Some(name))
        .and_then(|p| p.attr("value"))
        .map(str::to_string))
}

/// `crm node clearstate NODE`: forgets the node's resource history and transient attributes
/// (its `node_state` keeps only its identity).
///
/// # Errors
/// [`CrmError::NoSuchNode`].
pub fn clear_node_state(cib: &mut Element, node: &str) -> Result<(), CrmError> {
    let id = node_id(cib, node)?;
    if let Some(status) = cib.child_mut("status") {
        for st in
            status.children.iter_mut().filter(|c| c.name == "node_state" && c.id() == Some(&id))
        {
            st.children.clear();
        }
    }
    Ok(())
}

/// `crm node delete NODE`: removes the node from the `nodes` section and its status.
///
/// # Errors
/// [`CrmError::NoSuchNode`].
pub fn delete_node(cib: &mut Element, node: &str) -> Result<(), CrmError> {
    let id = node_id(cib, node)?;
    if let Some(nodes) = cib.path_mut(&["configuration", "nodes"]) {
        nodes.children.retain(|n| !(n.name == "node" && n.id() == Some(&id)));
    }
    if let Some(status) = cib.child_mut("status") {
        status.children.retain(|n| !(n.name == "node_state" && n.id() == Some(&id)));
    }
    Ok(())
}

fn location(
    id: &str,
    rsc: &str,
    role: &str,
    node: &str,
    score: &str,
    until: Option<&str>,
) -> Element {
    let mut c = Element::new("rsc_location")
        .with_attr("id", id)
        .with_attr("rsc", rsc)
        .with_attr("role", role);
    match until {
        None => {
            c.set_attr("node", node);
            c.set_attr("score", score);
        }
        Some(end) => {
            let base = id.strip_suffix(&format!("-{rsc}")).unwrap_or(id);
            let (rule_id, expr_id, date_id) = if id.starts_with("cli-prefer") {
                (
                    format!("{base}-rule-{rsc}"),
                    format!("{base}-expr-{rsc}"),
                    format!("{base}-lifetime-end-{rsc}"),
                )
            } else {
                (format!("{id}-rule"), format!("{id}-expr"), format!("{id}-lifetime"))
            };
            c.children.push(
                Element::new("rule")
                    .with_attr("id", &rule_id)
                    .with_attr("score", score)
                    .with_attr("boolean-op", "and")
                    .with_child(
                        Element::new("expression")
                            .with_attr("id", &expr_id)
                            .with_attr("attribute", "#uname")
                            .with_attr("operation", "eq")
                            .with_attr("value", node)
                            .with_attr("type", "string"),
                    )
                    .with_child(
                        Element::new("date_expression")
                            .with_attr("id", &date_id)
                            .with_attr("operation", "lt")
                            .with_attr("end", end),
                    ),
            );
        }
    }
    c
}

fn put_constraint(cib: &mut Element, c: Element) {
    let id = c.id().unwrap_or_default().to_string();
    let cons = section_mut(cib, "constraints");
    match cons.children.iter().position(|e| e.id() == Some(&id)) {
        Some(p) => cons.children[p] = c,
        None => cons.children.push(c),
    }
}

/// `crm_resource --move -r RSC -N NODE`: writes `cli-prefer-RSC` (INFINITY on `node`, role
/// Started or Promoted), with a rule ending at `until` (`YYYY-MM-DD HH:MM:SSZ`) when given.
/// Returns the constraint id.
///
/// # Errors
/// [`CrmError::NoSuchResource`], [`CrmError::NoSuchNode`].
pub fn move_to(
    cib: &mut Element,
    rsc: &str,
    node: &str,
    until: Option<&str>,
    promoted: bool,
) -> Result<String, CrmError> {
    if !resource_exists(cib, rsc) {
        return Err(CrmError::NoSuchResource(rsc.into()));
    }
    node_id(cib, node)?;
    let id = format!("cli-prefer-{rsc}");
    let role = if promoted { "Promoted" } else { "Started" };
    put_constraint(cib, location(&id, rsc, role, node, "INFINITY", until));
    Ok(id)
}

/// `crm_resource --ban -r RSC -N NODE`: writes `cli-ban-RSC-on-NODE` (-INFINITY). Returns the
/// constraint id.
///
/// # Errors
/// [`CrmError::NoSuchResource`], [`CrmError::NoSuchNode`].
pub fn ban(
    cib: &mut Element,
    rsc: &str,
    node: &str,
    until: Option<&str>,
    promoted: bool,
) -> Result<String, CrmError> {
    if !resource_exists(cib, rsc) {
        return Err(CrmError::NoSuchResource(rsc.into()));
    }
    node_id(cib, node)?;
    let id = format!("cli-ban-{rsc}-on-{node}");
    let role = if promoted { "Promoted" } else { "Started" };
    put_constraint(cib, location(&id, rsc, role, node, "-INFINITY", until));
    Ok(id)
}

/// `crm_resource --clear -r RSC [-N NODE]`: removes `cli-prefer-RSC` and `cli-ban-RSC-on-*`
/// (only those for `node` when given). Returns the removed ids.
///
/// # Errors
/// [`CrmError::NoSuchResource`].
pub fn clear(cib: &mut Element, rsc: &str, node: Option<&str>) -> Result<Vec<String>, CrmError> {
    if !resource_exists(cib, rsc) {
        return Err(CrmError::NoSuchResource(rsc.into()));
    }
    let prefer = format!("cli-prefer-{rsc}");
    let ban_prefix = format!("cli-ban-{rsc}-on-");
    let mut removed = Vec::new();
    if let Some(cons) = cib.path_mut(&["configuration", "constraints"]) {
        cons.children.retain(|c| {
            let id = c.id().unwrap_or_default();
            let hit = match node {
                None => id == prefer || id.starts_with(&ban_prefix),
                Some(n) => {
                    id == format!("{ban_prefix}{n}")
                        || (id == prefer && (c.attr("node") == Some(n) || c.attr("node").is_none()))
                }
            };
            if hit {
                removed.push(id.to_string());
            }
            !hit
        });
    }
    Ok(removed)
}

/// The primitive ids a resource stands for (itself, or its descendants for a container).
pub fn primitives_of(cib: &Element, rsc: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = cib.path(&["configuration", "resources"]).and_then(|r| r.find_id(rsc)) {
        e.walk(&mut |x| {
            if x.name == "primitive" {
                out.push(x.id().unwrap_or_default().to_string());
            }
        });
    }
    out
}

fn node_uname(cib: &Element, state: &Element) -> String {
    if let Some(u) = state.attr("uname") {
        return u.to_string();
    }
    let id = state.id().unwrap_or_default();
    cib.path(&["configuration", "nodes"])
        .and_then(|n| n.children_named("node").find(|n| n.id() == Some(id)))
        .and_then(|n| n.attr("uname"))
        .unwrap_or(id)
        .to_string()
}

/// Where a primitive's recorded history says it is active: `(node, promoted)` per node,
/// judged from its last non-recurring operation (start, promote, migrate_from or a probe
/// that found it running).
pub fn locate(cib: &Element, rsc: &str) -> Vec<(String, bool)> {
    let prims = primitives_of(cib, rsc);
    let mut out = Vec::new();
    let Some(status) = cib.child("status") else { return out };
    for state in status.children_named("node_state") {
        let Some(lrm) = state.path(&["lrm", "lrm_resources"]) else { continue };
        for lr in lrm.children_named("lrm_resource") {
            let lid = lr.id().unwrap_or_default();
            let base = lid.split(':').next().unwrap_or(lid);
            if !prims.iter().any(|p| p == base) {
                continue;
            }
            let last = lr
                .children_named("lrm_rsc_op")
                .filter(|o| o.attr("interval").unwrap_or("0") == "0")
                .max_by_key(|o| {
                    o.attr("call-id").and_then(|c| c.parse::<i64>().ok()).unwrap_or(-1)
                });
            let Some(op) = last else { continue };
            let rc = op.attr("rc-code").unwrap_or("0");
            let (running, promoted) = match (op.attr("operation").unwrap_or_default(), rc) {
                ("start" | "migrate_from" | "demote", "0") => (true, false),
                ("promote", "0") => (true, true),
                ("monitor", "0") => (true, false),
                (_, "8") => (true, true),
                _ => (false, false),
            };
            if running {
                out.push((node_uname(cib, state), promoted));
            }
        }
    }
    out
}

/// `crm_resource --cleanup`: forgets the history and fail counts of `rsc` (all resources when
/// `None`) on `node` (all nodes when `None`), so the cluster probes it again. Returns the
/// `(resource, node)` pairs cleaned.
///
/// # Errors
/// [`CrmError::NoSuchResource`], [`CrmError::NoSuchNode`].
pub fn cleanup(
    cib: &mut Element,
    rsc: Option<&str>,
    node: Option<&str>,
) -> Result<Vec<(String, String)>, CrmError> {
    if let Some(r) = rsc {
        if !resource_exists(cib, r) {
            return Err(CrmError::NoSuchResource(r.into()));
        }
    }
    if let Some(n) = node {
        node_id(cib, n)?;
    }
    let prims = rsc.map(|r| primitives_of(cib, r));
    let unames: Vec<(String, String)> = cib
        .child("status")
        .map(|s| {
            s.children_named("node_state")
                .map(|st| (st.id().unwrap_or_default().to_string(), node_uname(cib, st)))
                .collect()
        })
        .unwrap_or_default();
    let mut done = Vec::new();
    let Some(status) = cib.child_mut("status") else { return Ok(done) };
    for state in status.children.iter_mut().filter(|c| c.name == "node_state") {
        let id = state.id().unwrap_or_default().to_string();
        let uname = unames.iter().find(|(i, _)| *i == id).map(|(_, u)| u.clone()).unwrap_or(id);
        if node.is_some_and(|n| n != uname) {
            continue;
        }
        let matches = |name: &str| {
            prims
                .as_ref()
                .map_or(true, |p| p.iter().any(|x| x == name.split(':').next().unwrap_or(name)))
        };
        if let Some(lrm) = state.path_mut(&["lrm", "lrm_resources"]) {
            lrm.children.retain(|lr| {
                let hit = lr.name == "lrm_resource" && matches(lr.id().unwrap_or_default());
                if hit {
                    done.push((lr.id().unwrap_or_default().to_string(), uname.clone()));
                }
                !hit
            });
        }
        if let Some(ta) = state.child_mut("transient_attributes") {
            for set in ta.children.iter_mut() {
                set.children.retain(|p| {
                    let name = p.attr("name").unwrap_or_default();
                    let r = name
                        .strip_prefix("fail-count-")
                        .or_else(|| name.strip_prefix("last-failure-"))
                        .map(|r| r.split('#').next().unwrap_or(r));
                    !r.is_some_and(&matches)
                });
            }
        }
    }
    Ok(done)
}

/// The fail count of `rsc` on `node`: the sum of its `fail-count-RSC#OP_INTERVAL` attributes
/// (INFINITY counts as 1000000).
///
/// # Errors
/// [`CrmError::NoSuchResource`], [`CrmError::NoSuchNode`].
pub fn fail_count(cib: &Element, rsc: &str, node: &str) -> Result<u64, CrmError> {
    if !resource_exists(cib, rsc) {
        return Err(CrmError::NoSuchResource(rsc.into()));
    }
    let id = node_id(cib, node)?;
    let prefix = format!("fail-count-{rsc}");
    let mut sum: u64 = 0;
    if let Some(ta) = cib
        .child("status")
        .and_then(|s| s.children_named("node_state").find(|n| n.id() == Some(&id)))
        .and_then(|n| n.child("transient_attributes"))
    {
        ta.walk(&mut |p| {
            let name = p.attr("name").unwrap_or_default();
            if p.name == "nvpair" && (name == prefix || name.starts_with(&format!("{prefix}#"))) {
                let v = p.attr("value").unwrap_or("0");
                let n = if v.eq_ignore_ascii_case("INFINITY") {
                    1_000_000
                } else {
                    v.parse().unwrap_or(0)
                };
                sum = sum.saturating_add(n);
            }
        });
    }
    Ok(sum.min(1_000_000))
}

/// Sets the fail count of `rsc` on `node` (`fail-count-RSC`); `None` or 0 deletes all of
/// its fail counts there.
///
/// # Errors
/// [`CrmError::NoSuchResource`], [`CrmError::NoSuchNode`].
pub fn set_fail_count(
    cib: &mut Element,
    rsc: &str,
    node: &str,
    value: Option<u64>,
) -> Result<(), CrmError> {
    if !resource_exists(cib, rsc) {
        return Err(CrmError::NoSuchResource(rsc.into()));
    }
    let id = node_id(cib, node)?;
    let prefix = format!("fail-count-{rsc}");
    let ns = node_state_mut(cib, &id, node);
    if let Some(ta) = ns.child_mut("transient_attributes") {
        for set in ta.children.iter_mut() {
            set.children.retain(|p| {
                let name = p.attr("name").unwrap_or_default();
                !(name == prefix || name.starts_with(&format!("{prefix}#")))
            });
        }
    }
    match value {
        Some(v) if v > 0 => {
            set_node_attr(cib, node, &prefix, Some(&v.to_string()), Lifetime::Reboot)
        }
        _ => Ok(()),
    }
}

/// Parses an ISO 8601 duration (`PT1H`, `P1DT12H`, `PT90M`; a year counts 365 days, a month
/// 30) into seconds.
///
/// # Errors
/// [`CrmError::BadValue`] naming the text.
pub fn parse_duration(text: &str) -> Result<u64, CrmError> {
    let bad = || CrmError::BadValue {
        name: "lifetime".into(),
        value: text.into(),
        expected: "an ISO 8601 duration such as PT1H".into(),
    };
    let rest = text.strip_prefix('P').ok_or_else(bad)?;
    let mut secs: u64 = 0;
    let mut num = String::new();
    let mut time = false;
    let mut any = false;
    for c in rest.chars() {
        match c {
            'T' if !time => time = true,
            '0'..='9' => num.push(c),
            _ => {
                let n: u64 = num.parse().map_err(|_| bad())?;
                num.clear();
                let unit = match (c, time) {
                    ('Y', false) => 365 * 86_400,
                    ('M', false) => 30 * 86_400,
                    ('W', false) => 7 * 86_400,
                    ('D', false) => 86_400,
                    ('H', true) => 3_600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return Err(bad()),
                };
                secs = secs.saturating_add(n.saturating_mul(unit));
                any = true;
            }
        }
    }
    if !num.is_empty() || !any {
        return Err(bad());
    }
    Ok(secs)
}

/// Formats seconds since the epoch as Pacemaker writes a lifetime end: `2026-11-24 18:43:31Z`.
pub fn format_utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let rem = unix % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cib() -> Element {
        Element::parse(
            r#"<cib epoch="1"><configuration><crm_config/><nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes><resources><primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"><operations/></primitive></resources><constraints/></configuration>
            <status><node_state id="1" uname="node1"><transient_attributes id="1"><instance_attributes id="status-1"><nvpair id="status-1-fail-count-vip.monitor_10000" name="fail-count-vip#monitor_10000" value="2"/></instance_attributes></transient_attributes>
            <lrm id="1"><lrm_resources><lrm_resource id="vip"><lrm_rsc_op id="vip_last_0" operation="start" call-id="5" rc-code="0" interval="0"/><lrm_rsc_op id="vip_monitor_10000" operation="monitor" call-id="6" rc-code="0" interval="10000"/></lrm_resource></lrm_resources></lrm></node_state></status></cib>"#,
        )
        .unwrap()
    }

    #[test]
    fn meta_move_ban_clear() {
        let mut c = cib();
        set_meta(&mut c, "vip", "target-role", Some("Stopped")).unwrap();
        let m = c.find_id("vip-meta_attributes").unwrap();
        assert_eq!(m.children[0].id(), Some("vip-meta_attributes-target-role"));
        assert_eq!(c.find_id("vip").unwrap().children[0].name, "meta_attributes");
        assert_eq!(
            get_rsc_attr(&c, "vip", "target-role", true).unwrap().as_deref(),
            Some("Stopped")
        );
        set_meta(&mut c, "vip", "target-role", None).unwrap();
        assert!(c.find_id("vip-meta_attributes").is_none());
        assert_eq!(move_to(&mut c, "vip", "node2", None, false).unwrap(), "cli-prefer-vip");
        assert_eq!(
            c.find_id("cli-prefer-vip").unwrap().to_compact_string(),
            r#"<rsc_location id="cli-prefer-vip" rsc="vip" role="Started" node="node2" score="INFINITY"/>"#
        );
        ban(&mut c, "vip", "node1", None, false).unwrap();
        assert!(c.find_id("cli-ban-vip-on-node1").is_some());
        assert!(matches!(
            move_to(&mut c, "vip", "node9", None, false),
            Err(CrmError::NoSuchNode(_))
        ));
        assert_eq!(clear(&mut c, "vip", None).unwrap(), ["cli-prefer-vip", "cli-ban-vip-on-node1"]);
        move_to(&mut c, "vip", "node2", Some("2026-11-24 18:43:31Z"), false).unwrap();
        let x = c.find_id("cli-prefer-vip").unwrap().to_compact_string();
        assert!(
            x.contains(r#"<rule id="cli-prefer-rule-vip" score="INFINITY" boolean-op="and">"#),
            "{x}"
        );
        assert!(
            x.contains(
                r#"id="cli-prefer-lifetime-end-vip" operation="lt" end="2026-11-24 18:43:31Z""#
            ),
            "{x}"
        );
    }

    #[test]
    fn nodes_status_failcounts() {
        let mut c = cib();
        set_node_attr(&mut c, "node1", "standby", Some("on"), Lifetime::Forever).unwrap();
        assert_eq!(c.find_id("nodes-1-standby").unwrap().attr("value"), Some("on"));
        set_node_attr(&mut c, "node2", "standby", Some("on"), Lifetime::Reboot).unwrap();
        assert_eq!(
            get_node_attr(&c, "node2", "standby", Lifetime::Reboot).unwrap().as_deref(),
            Some("on")
        );
        assert!(set_node_attr(&mut c, "nodeX", "standby", Some("on"), Lifetime::Forever).is_err());
        assert_eq!(locate(&c, "vip"), [("node1".to_string(), false)]);
        assert_eq!(fail_count(&c, "vip", "node1").unwrap(), 2);
        set_fail_count(&mut c, "vip", "node1", Some(5)).unwrap();
        assert_eq!(fail_count(&c, "vip", "node1").unwrap(), 5);
        assert_eq!(
            cleanup(&mut c, Some("vip"), None).unwrap(),
            [("vip".to_string(), "node1".to_string())]
        );
        assert_eq!(fail_count(&c, "vip", "node1").unwrap(), 0);
        assert!(locate(&c, "vip").is_empty());
    }

    #[test]
    fn durations_and_dates() {
        assert_eq!(parse_duration("PT1H").unwrap(), 3600);
        assert_eq!(parse_duration("P1DT30M").unwrap(), 86_400 + 1800);
        assert!(parse_duration("1H").is_err() && parse_duration("PT").is_err());
        assert_eq!(format_utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_utc(1_795_545_811), "2026-11-24 18:43:31Z");
    }
}
