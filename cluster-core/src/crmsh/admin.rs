//! Resource and node administration on a CIB tree (`crm resource ...`, `crm node ...`).
//!
//! crmsh runs Pacemaker's `crm_resource`, `crm_attribute`, `crm_standby` and `crm_failcount`
//! for these, so the edits themselves are [`crate::cib::ops`]'s: the same ids, the same
//! validation and the same version bumps. What stays here is what the shell adds: one call
//! that sets or deletes (`Some`/`None`), node attributes addressed by [`Lifetime`], errors in
//! crmsh's words ([`CrmError`]), and the node operations no Pacemaker tool in this tree
//! offers (`crm node delete`, `crm node clearstate`).

use crate::cib::ops::{self, AttrKind, OpError, Scope};
use crate::cib::xml::Element;

use super::configure::resource_exists;
use super::CrmError;

/// Where a node attribute lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Permanent: `configuration/nodes/node/instance_attributes` (id `nodes-ID`).
    Forever,
    /// Until the node restarts: `status/node_state/transient_attributes` (id `status-ID`).
    Reboot,
}

impl Lifetime {
    fn scope(self) -> Scope {
        match self {
            Lifetime::Forever => Scope::Nodes,
            Lifetime::Reboot => Scope::Status,
        }
    }
}

impl From<OpError> for CrmError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::NoSuchResource(r) => CrmError::NoSuchResource(r),
            OpError::NoSuchNode(n) | OpError::NodeNotFound(n) => CrmError::NoSuchNode(n),
            other => CrmError::Cib(other),
        }
    }
}

fn set_or_delete(
    cib: &mut Element,
    rsc: &str,
    kind: AttrKind,
    name: &str,
    value: Option<&str>,
) -> Result<(), CrmError> {
    match value {
        Some(v) => ops::set_resource_attr(cib, rsc, kind, name, v).map(drop)?,
        None => ops::delete_resource_attr(cib, rsc, kind, name).map(drop)?,
    }
    Ok(())
}

/// Sets (`Some`) or deletes (`None`) a meta attribute of a resource (`target-role`,
/// `is-managed`, ...), as `crm_resource --meta -p/-d` does.
///
/// # Errors
/// [`CrmError::NoSuchResource`]; [`CrmError::Cib`] when the result would not validate.
pub fn set_meta(
    cib: &mut Element,
    rsc: &str,
    name: &str,
    value: Option<&str>,
) -> Result<(), CrmError> {
    set_or_delete(cib, rsc, AttrKind::Meta, name, value)
}

/// Sets or deletes an instance attribute (parameter) of a resource (`crm_resource -p/-d`).
///
/// # Errors
/// As [`set_meta`].
pub fn set_param(
    cib: &mut Element,
    rsc: &str,
    name: &str,
    value: Option<&str>,
) -> Result<(), CrmError> {
    set_or_delete(cib, rsc, AttrKind::Instance, name, value)
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
    let kind = if meta { AttrKind::Meta } else { AttrKind::Instance };
    Ok(ops::get_resource_attr(cib, rsc, kind, name)?)
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
    ops::node_id(cib, uname).ok_or_else(|| CrmError::NoSuchNode(uname.into()))
}

/// Sets (`Some`) or deletes (`None`) a node attribute such as `standby` or `maintenance`, as
/// `crm_attribute -t nodes|status -N NODE -n NAME -v VALUE|-D` does.
///
/// # Errors
/// [`CrmError::NoSuchNode`] when `node` is unknown; [`CrmError::Cib`] for a transient
/// attribute of a node with no status entry.
pub fn set_node_attr(
    cib: &mut Element,
    node: &str,
    name: &str,
    value: Option<&str>,
    lifetime: Lifetime,
) -> Result<(), CrmError> {
    let scope = lifetime.scope();
    match value {
        Some(v) => ops::set_attr(cib, scope, Some(node), None, name, v)?,
        None => ops::delete_attr(cib, scope, Some(node), name).map(drop)?,
    }
    Ok(())
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
    Ok(ops::get_attr(cib, lifetime.scope(), Some(node), name)?.map(|a| a.value))
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

/// Where a resource is active, as `(node, promoted)` pairs ([`ops::locate`]); an unknown
/// resource is nowhere.
pub fn locate(cib: &Element, rsc: &str) -> Vec<(String, bool)> {
    ops::locate(cib, rsc)
        .map(|locs| locs.into_iter().map(|l| (l.node, l.promoted)).collect())
        .unwrap_or_default()
}

/// The fail count of `rsc` on `node` ([`ops::failcount`]).
///
/// # Errors
/// [`CrmError::NoSuchResource`], [`CrmError::NoSuchNode`].
pub fn fail_count(cib: &Element, rsc: &str, node: &str) -> Result<i64, CrmError> {
    if !resource_exists(cib, rsc) {
        return Err(CrmError::NoSuchResource(rsc.into()));
    }
    Ok(ops::failcount(cib, rsc, node)?)
}

/// `crm resource failcount RSC set|delete NODE`: removes every `fail-count-RSC[#OP_INTERVAL]`
/// transient attribute of `rsc` on `node`, then, for a value above 0, writes
/// `fail-count-RSC` = value (crmsh runs `crm_attribute -t status -n fail-count-RSC`).
///
/// # Errors
/// [`CrmError::NoSuchResource`], [`CrmError::NoSuchNode`], [`CrmError::Cib`] when the node
/// has no status entry.
pub fn set_fail_count(
    cib: &mut Element,
    rsc: &str,
    node: &str,
    value: Option<u64>,
) -> Result<(), CrmError> {
    if !resource_exists(cib, rsc) {
        return Err(CrmError::NoSuchResource(rsc.into()));
    }
    let prefix = format!("fail-count-{rsc}");
    let ours = |name: &str| name == prefix || name.starts_with(&format!("{prefix}#"));
    let mut names = Vec::new();
    if let Some(ta) = cib
        .child("status")
        .and_then(|s| {
            let id = ops::node_id(cib, node)?;
            s.children_named("node_state").find(|n| n.id() == Some(id.as_str()))
        })
        .and_then(|n| n.child("transient_attributes"))
    {
        ta.walk(&mut |p| {
            if let Some(n) = p.attr("name").filter(|n| p.name == "nvpair" && ours(n)) {
                names.push(n.to_string());
            }
        });
    }
    for n in names {
        ops::delete_attr(cib, Scope::Status, Some(node), &n)?;
    }
    match value {
        Some(v) if v > 0 => {
            set_node_attr(cib, node, &prefix, Some(&v.to_string()), Lifetime::Reboot)
        }
        _ => node_id(cib, node).map(drop),
    }
}

/// Parses the ISO 8601 lifetime of `crm resource move` (`PT1H`, `P1DT12H`, `PT90M`) into
/// seconds ([`crate::cib::verify::parse_duration_ms`]).
///
/// # Errors
/// [`CrmError::BadValue`] naming the text.
pub fn parse_duration(text: &str) -> Result<u64, CrmError> {
    crate::cib::verify::parse_duration_ms(text)
        .filter(|_| text.starts_with('P') && text.bytes().any(|b| b.is_ascii_digit()))
        .map(|ms| ms / 1000)
        .ok_or_else(|| CrmError::BadValue {
            name: "lifetime".into(),
            value: text.into(),
            expected: "an ISO 8601 duration such as PT1H".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crmsh_words_for_pacemaker_errors() {
        let c = Element::parse(
            r#"<cib epoch="1"><configuration><crm_config/><nodes><node id="1" uname="node1"/></nodes><resources/><constraints/></configuration><status/></cib>"#,
        )
        .unwrap();
        let mut w = c.clone();
        assert_eq!(
            set_meta(&mut w, "vip", "target-role", Some("Stopped")).unwrap_err().to_string(),
            "resource 'vip' does not exist"
        );
        assert_eq!(
            set_node_attr(&mut w, "nodeX", "standby", Some("on"), Lifetime::Forever)
                .unwrap_err()
                .to_string(),
            "node 'nodeX' does not exist"
        );
        assert!(matches!(
            set_node_attr(&mut w, "node1", "pingd", Some("1"), Lifetime::Reboot),
            Err(CrmError::Cib(OpError::NoStatusEntry { .. }))
        ));
        assert_eq!(w, c, "nothing changed on error");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("PT1H").unwrap(), 3600);
        assert_eq!(parse_duration("P1DT30M").unwrap(), 86_400 + 1800);
        assert_eq!(parse_duration("P1M").unwrap(), 30 * 86_400);
        assert!(parse_duration("1H").is_err() && parse_duration("P").is_err());
        assert!(parse_duration("PT").is_err());
    }
}
