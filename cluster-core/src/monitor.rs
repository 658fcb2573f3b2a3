//! The cluster status text in crm_mon 2.1.5's layout, shared by `crm_mon` and `crm status`.
//!
//! The node and resource sections are the scheduler's view of the current state
//! ([`crate::scheduler::Transition::before`]) printed by [`crate::status::render`] and
//! re-indented to crm_mon's top-level layout; the header, node attributes, operations,
//! migration summary and failed actions are built from the CIB's status section. The caller
//! supplies the time (this module reads no clock).

use std::fmt::Write as _;

use crate::cib::xml::Element;
use crate::scheduler::{schedule, SchedulerInput};
use crate::status::{self, ClusterView, PrimitiveView, RscView};

/// Which optional sections [`render_text`] adds (crm_mon's `-r -f -A -n -o`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorOptions {
    /// `-r`: list inactive resources too.
    pub inactive: bool,
    /// `-f`: always show the migration summary (fail counts).
    pub failcounts: bool,
    /// `-A`: node attributes.
    pub attrs: bool,
    /// `-n`: resources grouped by node.
    pub by_node: bool,
    /// `-o`: operation history.
    pub operations: bool,
}

/// The CIB could not be read as a cluster state.
#[derive(Debug, thiserror::Error)]
#[error("invalid CIB: {0}")]
pub struct MonitorError(pub String);

/// `Tue Nov 24 17:43:24 2026` (UTC) from seconds since the epoch.
fn ctime(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = crate::cib::ops::civil_from_days(days);
    let wd = (days + 4).rem_euclid(7) as usize;
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MO: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {y}",
        WD[wd],
        MO[(m - 1) as usize],
        d,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Node id → name from `<nodes>`.
fn node_name(cib: &Element, id: &str) -> String {
    cib.path(&["configuration", "nodes"])
        .and_then(|ns| ns.children_named("node").find(|n| n.attr("id") == Some(id)))
        .and_then(|n| n.attr("uname"))
        .unwrap_or(id)
        .to_string()
}

fn node_states(cib: &Element) -> Vec<(String, &Element)> {
    let mut v: Vec<(String, &Element)> = cib
        .path(&["status"])
        .map(|st| {
            st.children_named("node_state")
                .map(|ns| {
                    let name = ns
                        .attr("uname")
                        .map(str::to_string)
                        .unwrap_or_else(|| node_name(cib, ns.attr("id").unwrap_or("")));
                    (name, ns)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|a| a.0.to_ascii_lowercase());
    v
}

/// Transient attributes of one node_state, in document order.
fn transient_attrs(ns: &Element) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ta in ns.children_named("transient_attributes") {
        for ia in ta.children_named("instance_attributes") {
            for nv in ia.children_named("nvpair") {
                if let (Some(n), Some(v)) = (nv.attr("name"), nv.attr("value")) {
                    out.push((n.to_string(), v.to_string()));
                }
            }
        }
    }
    out
}

fn count_instances(r: &RscView) -> (usize, usize) {
    match r {
        RscView::Primitive(p) => (1, usize::from(p.disabled)),
        RscView::Group { members, .. } => {
            (members.len(), members.iter().filter(|m| m.disabled).count())
        }
        RscView::Clone { instances, max_instances, disabled, .. } => {
            let per = instances.first().map(|i| count_instances(i).0).unwrap_or(1);
            let n = (*max_instances).max(instances.len()) * per;
            (n, if *disabled { n } else { 0 })
        }
    }
}

fn prim_active(p: &PrimitiveView) -> bool {
    !p.nodes.is_empty()
}

/// The view with inactive resources dropped, as crm_mon prints without `-r`.
fn active_only(view: &ClusterView) -> ClusterView {
    let mut out = ClusterView { nodes: view.nodes.clone(), resources: Vec::new() };
    for r in &view.resources {
        match r {
            RscView::Primitive(p) => {
                if prim_active(p) {
                    out.resources.push(r.clone());
                }
            }
            RscView::Group { id, members, flags } => {
                let m: Vec<PrimitiveView> =
                    members.iter().filter(|p| prim_active(p)).cloned().collect();
                if !m.is_empty() {
                    out.resources.push(RscView::Group {
                        id: id.clone(),
                        members: m,
                        flags: flags.clone(),
                    });
                }
            }
            RscView::Clone { instances, .. } => {
                let any = instances.iter().any(|i| match i {
                    RscView::Primitive(p) => prim_active(p),
                    RscView::Group { members, .. } => members.iter().any(prim_active),
                    RscView::Clone { .. } => false,
                });
                if any {
                    let mut c = r.clone();
                    if let RscView::Clone { allowed, .. } = &mut c {
                        allowed.clear();
                    }
                    out.resources.push(c);
                }
            }
        }
    }
    out
}

fn readable_interval(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut s = String::new();
    let (h, m, sec, rest) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        let _ = write!(s, "{h}h");
    }
    if m > 0 {
        let _ = write!(s, "{m}m");
    }
    if sec > 0 {
        let _ = write!(s, "{sec}s");
    }
    if rest > 0 {
        let _ = write!(s, "{rest}ms");
    }
    s
}

fn rc_text(rc: i64) -> &'static str {
    match rc {
        0 => "ok",
        1 => "error",
        2 => "invalid parameter",
        3 => "unimplemented feature",
        4 => "insufficient privileges",
        5 => "not installed",
        6 => "not configured",
        7 => "not running",
        8 => "promoted",
        9 => "promoted (failed)",
        190 => "degraded",
        191 => "promoted (degraded)",
        _ => "unknown",
    }
}

/// `rsc → (migration-threshold)` from meta attributes and rsc_defaults.
fn migration_threshold(cib: &Element, rsc: &str) -> String {
    fn meta(e: &Element, name: &str) -> Option<String> {
        e.children_named("meta_attributes")
            .flat_map(|m| m.children_named("nvpair"))
            .find(|nv| nv.attr("name") == Some(name))
            .and_then(|nv| nv.attr("value").map(str::to_string))
    }
    fn find<'a>(e: &'a Element, id: &str) -> Option<&'a Element> {
        if e.attr("id") == Some(id) && e.name == "primitive" {
            return Some(e);
        }
        e.children.iter().find_map(|c| find(c, id))
    }
    let base = rsc.split(':').next().unwrap_or(rsc);
    if let Some(rs) = cib.path(&["configuration", "resources"]) {
        if let Some(p) = find(rs, base) {
            if let Some(v) = meta(p, "migration-threshold") {
                return v;
            }
        }
    }
    cib.path(&["configuration", "rsc_defaults"])
        .and_then(|d| meta(d, "migration-threshold"))
        .unwrap_or_else(|| "1000000".into())
}

fn header(cib: &Element, view: &ClusterView, now: i64) -> String {
    let mut out = String::from("Cluster Summary:\n");
    let stack = cib
        .path(&["configuration", "crm_config"])
        .and_then(|c| {
            c.children_named("cluster_property_set")
                .flat_map(|s| s.children_named("nvpair"))
                .find(|nv| nv.attr("name") == Some("cluster-infrastructure"))
                .and_then(|nv| nv.attr("value").map(str::to_string))
        })
        .unwrap_or_else(|| "unknown".into());
    let _ = writeln!(out, "  * Stack: {stack}");
    match cib.attr("dc-uuid") {
        Some(dc) => {
            let q = if cib.attr("have-quorum").is_some_and(|v| v == "1" || v == "true") {
                "partition with quorum"
            } else {
                "partition WITHOUT quorum"
            };
            let version = cib
                .path(&["configuration", "crm_config"])
                .and_then(|c| {
                    c.children_named("cluster_property_set")
                        .flat_map(|s| s.children_named("nvpair"))
                        .find(|nv| nv.attr("name") == Some("dc-version"))
                        .and_then(|nv| nv.attr("value").map(str::to_string))
                })
                .unwrap_or_else(|| "unknown".into());
            let _ =
                writeln!(out, "  * Current DC: {} (version {version}) - {q}", node_name(cib, dc));
        }
        None => out.push_str("  * Current DC: NONE\n"),
    }
    let _ = writeln!(out, "  * Last updated: {}", ctime(now));
    let mut change = String::new();
    if let Some(lw) = cib.attr("cib-last-written") {
        change.push_str(lw);
        if let Some(u) = cib.attr("update-user") {
            let _ = write!(change, " by {u}");
        }
        if let Some(c) = cib.attr("update-client") {
            let _ = write!(change, " via {c}");
        }
        if let Some(o) = cib.attr("update-origin") {
            let _ = write!(change, " on {o}");
        }
    }
    let _ = writeln!(out, "  * Last change:  {change}");
    let _ = writeln!(out, "  * {} nodes configured", view.nodes.len());
    let (mut n, mut dis) = (0, 0);
    for r in &view.resources {
        let (a, b) = count_instances(r);
        n += a;
        dis += b;
    }
    if dis > 0 {
        let _ = writeln!(out, "  * {n} resource instances configured ({dis} DISABLED)");
    } else {
        let _ = writeln!(out, "  * {n} resource instances configured");
    }
    out
}

/// status::render's two-level layout moved to crm_mon's top level.
fn body(view: &ClusterView, inactive: bool) -> String {
    let shown = if inactive { view.clone() } else { active_only(view) };
    let text = status::render(&shown);
    let mut out = String::new();
    for line in text.lines() {
        let l = line.strip_prefix("  ").unwrap_or(line);
        match l {
            "* Node List:" => out.push_str("Node List:\n"),
            "* Full List of Resources:" => out.push_str(if inactive {
                "Full List of Resources:\n"
            } else {
                "Active Resources:\n"
            }),
            "  * No resources" if !inactive => out.push_str("  * No active resources\n"),
            _ => {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

/// Node list grouped by node (`-n`): each node with the primitives active on it.
fn body_by_node(view: &ClusterView) -> String {
    let mut out = String::from("Node List:\n");
    let mut nodes = view.nodes.clone();
    nodes.sort_by_key(|a| a.name.to_ascii_lowercase());
    let mut prims: Vec<PrimitiveView> = Vec::new();
    fn collect(r: &RscView, out: &mut Vec<PrimitiveView>) {
        match r {
            RscView::Primitive(p) => out.push(p.clone()),
            RscView::Group { members, .. } => out.extend(members.iter().cloned()),
            RscView::Clone { instances, .. } => instances.iter().for_each(|i| collect(i, out)),
        }
    }
    view.resources.iter().for_each(|r| collect(r, &mut prims));
    for n in &nodes {
        let state = match n.status {
            status::NodeStatus::Online => "online",
            status::NodeStatus::Offline => "OFFLINE",
            status::NodeStatus::Standby { .. } => "standby",
            status::NodeStatus::Maintenance => "maintenance",
            status::NodeStatus::Unclean { .. } => "UNCLEAN",
            _ => "OFFLINE",
        };
        let _ = writeln!(out, "  * Node {}: {state}:", n.name);
        for p in prims.iter().filter(|p| p.nodes.contains(&n.name)) {
            let role = if p.failed { "FAILED" } else { p.role.as_str() };
            let _ = writeln!(out, "    * {}\t({}):\t {role}", p.id, p.agent);
        }
    }
    out
}

fn node_attributes(cib: &Element) -> String {
    let mut out = String::from("Node Attributes:\n");
    for (name, ns) in node_states(cib) {
        let attrs: Vec<(String, String)> = transient_attrs(ns)
            .into_iter()
            .filter(|(n, _)| {
                !n.starts_with("fail-count-")
                    && !n.starts_with("last-failure-")
                    && !n.starts_with('#')
                    && n != "shutdown"
                    && n != "terminate"
            })
            .collect();
        if attrs.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  * Node: {name}:");
        for (n, v) in attrs {
            let _ = writeln!(out, "    * {n:<32}\t: {v:<10}");
        }
    }
    out
}

/// `(resource, fail-count, last-failure)`.
type FailCount = (String, i64, i64);

/// Per node: its resources' fail counts, from the fail-count attributes.
fn failcounts(cib: &Element) -> Vec<(String, Vec<FailCount>)> {
    let mut out = Vec::new();
    for (name, ns) in node_states(cib) {
        let mut per: Vec<FailCount> = Vec::new();
        for (n, v) in transient_attrs(ns) {
            let (rsc, is_count) = if let Some(r) = n.strip_prefix("fail-count-") {
                (r, true)
            } else if let Some(r) = n.strip_prefix("last-failure-") {
                (r, false)
            } else {
                continue;
            };
            let rsc = rsc.split('#').next().unwrap_or(rsc).to_string();
            let val: i64 = if v == "INFINITY" || v == "+INFINITY" {
                1_000_000
            } else {
                v.parse().unwrap_or(0)
            };
            let e = match per.iter_mut().position(|e| e.0 == rsc) {
                Some(p) => &mut per[p],
                None => {
                    per.push((rsc, 0, 0));
                    per.last_mut().expect("just pushed")
                }
            };
            if is_count {
                e.1 = (e.1 + val).min(1_000_000);
            } else {
                e.2 = e.2.max(val);
            }
        }
        per.retain(|e| e.1 > 0);
        if !per.is_empty() {
            out.push((name, per));
        }
    }
    out
}

fn migration_summary(cib: &Element, fc: &[(String, Vec<FailCount>)]) -> String {
    let mut out = String::from("Migration Summary:\n");
    for (node, per) in fc {
        let _ = writeln!(out, "  * Node: {node}:");
        for (rsc, count, last) in per {
            let count =
                if *count >= 1_000_000 { "INFINITY".to_string() } else { count.to_string() };
            let _ = write!(
                out,
                "    * {rsc}: migration-threshold={} fail-count={count}",
                migration_threshold(cib, rsc)
            );
            if *last > 0 {
                let _ = write!(out, " last-failure='{}'", ctime(*last));
            }
            out.push('\n');
        }
    }
    out
}

/// A recorded operation whose result differs from the expected one.
struct FailedOp {
    rsc: String,
    task: String,
    interval: u64,
    node: String,
    rc: i64,
    reason: String,
    when: i64,
}

fn failed_ops(cib: &Element) -> Vec<FailedOp> {
    let mut out = Vec::new();
    for (node, ns) in node_states(cib) {
        let Some(lrs) = ns.path(&["lrm", "lrm_resources"]) else { continue };
        for lr in lrs.children_named("lrm_resource") {
            let rsc = lr.attr("id").unwrap_or("").to_string();
            for op in lr.children_named("lrm_rsc_op") {
                let rc: i64 = op.attr("rc-code").and_then(|v| v.parse().ok()).unwrap_or(0);
                let status: i64 = op.attr("op-status").and_then(|v| v.parse().ok()).unwrap_or(0);
                let expected: i64 = op
                    .attr("transition-key")
                    .and_then(|k| k.split(':').nth(2))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let is_failure_record =
                    op.attr("id").is_some_and(|id| id.contains("_last_failure_"));
                // A probe learns the state: finding the resource stopped, running or promoted
                // is an answer, not a failure (whatever the transition expected).
                let probe =
                    op.attr("operation") == Some("monitor") && no_interval(op.attr("interval"));
                if probe && status == 0 && matches!(rc, 0 | 7 | 8) {
                    continue;
                }
                if !is_failure_record && (rc == expected && status == 0 || status == 1) {
                    continue;
                }
                if is_failure_record && rc == expected && status == 0 {
                    continue;
                }
                out.push(FailedOp {
                    rsc: rsc.clone(),
                    task: op.attr("operation").unwrap_or("").to_string(),
                    interval: op.attr("interval").and_then(|v| v.parse().ok()).unwrap_or(0),
                    node: node.clone(),
                    rc,
                    reason: op.attr("exit-reason").unwrap_or("").to_string(),
                    when: op.attr("last-rc-change").and_then(|v| v.parse().ok()).unwrap_or(0),
                });
            }
        }
    }
    // A failure recorded both as the last result and as last_failure is shown once.
    let mut seen: Vec<(String, String, u64, String)> = Vec::new();
    out.retain(|f| {
        let k = (f.rsc.clone(), f.task.clone(), f.interval, f.node.clone());
        if seen.contains(&k) {
            false
        } else {
            seen.push(k);
            true
        }
    });
    out
}

fn failed_actions(fs: &[FailedOp]) -> String {
    let mut out = String::from("Failed Resource Actions:\n");
    for f in fs {
        let _ = write!(out, "  * {} ", f.rsc);
        if f.interval > 0 {
            let _ = write!(out, "{}-interval ", readable_interval(f.interval));
        }
        let _ = write!(out, "{} on {} returned '{}'", f.task, f.node, rc_text(f.rc));
        if !f.reason.is_empty() {
            let _ = write!(out, " ({})", f.reason);
        }
        if f.when > 0 {
            let _ = write!(out, " at {}", ctime(f.when));
        }
        out.push('\n');
    }
    out
}

/// Operation history per node (`-o`).
fn operations(cib: &Element) -> String {
    let mut out = String::from("Operations:\n");
    for (node, ns) in node_states(cib) {
        let Some(lrs) = ns.path(&["lrm", "lrm_resources"]) else { continue };
        let _ = writeln!(out, "  * Node: {node}:");
        for lr in lrs.children_named("lrm_resource") {
            let rsc = lr.attr("id").unwrap_or("");
            let _ = writeln!(out, "    * {rsc}: migration-threshold={}:", {
                migration_threshold(cib, rsc)
            });
            let mut ops: Vec<&Element> = lr.children_named("lrm_rsc_op").collect();
            ops.sort_by_key(|o| o.attr("call-id").and_then(|v| v.parse::<i64>().ok()));
            for op in ops {
                let task = op.attr("operation").unwrap_or("");
                let interval: u64 = op.attr("interval").and_then(|v| v.parse().ok()).unwrap_or(0);
                let rc: i64 = op.attr("rc-code").and_then(|v| v.parse().ok()).unwrap_or(0);
                let mut l = format!("      * ({}) {task}", op.attr("call-id").unwrap_or("?"));
                if interval > 0 {
                    let _ = write!(l, ": interval=\"{interval}ms\"");
                }
                if rc != 0 {
                    let _ = write!(l, " rc={rc} ({})", rc_text(rc));
                }
                let _ = writeln!(out, "{l}");
            }
        }
    }
    out
}

/// The whole `crm_mon -1` text for `cib` at time `now` (seconds since the epoch, UTC): the
/// summary header, the node and resource lists, and the optional sections of `o`; migration
/// summary and failed actions appear whenever there is something to show.
pub fn render_text(cib: &Element, o: &MonitorOptions, now: i64) -> Result<String, MonitorError> {
    let input =
        SchedulerInput::from_cib(cib, Some(now)).map_err(|e| MonitorError(e.to_string()))?;
    let t = schedule(&input);
    let view = &t.before;
    let mut sections = vec![header(cib, view, now)];
    sections.push(if o.by_node { body_by_node(view) } else { body(view, o.inactive) });
    if o.attrs {
        sections.push(node_attributes(cib));
    }
    if o.operations {
        sections.push(operations(cib));
    }
    let fc = failcounts(cib);
    if o.failcounts || !fc.is_empty() {
        sections.push(migration_summary(cib, &fc));
    }
    let fo = failed_ops(cib);
    if !fo.is_empty() {
        sections.push(failed_actions(&fo));
    }
    let mut out = String::new();
    for (i, s) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // status::render ends its resource list with a newline already; sections are joined by
        // one empty line.
        out.push_str(s.trim_end_matches('\n'));
        out.push('\n');
    }
    Ok(out)
}

/// Whether an `interval` attribute means "no interval" (a probe).
fn no_interval(v: Option<&str>) -> bool {
    v.map_or(true, |v| v.trim().trim_end_matches("ms").parse::<u64>() == Ok(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cib(ops: &str) -> Element {
        Element::parse(&format!(
            r#"<cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/>
<nodes><node id="1" uname="n1"/></nodes><resources>
<primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/></resources><constraints/>
</configuration><status><node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member">
<lrm id="1"><lrm_resources><lrm_resource id="d" class="ocf" provider="heartbeat" type="Dummy">{ops}
</lrm_resource></lrm_resources></lrm></node_state></status></cib>"#
        ))
        .expect("test CIB parses")
    }

    #[test]
    fn a_probe_that_finds_the_resource_running_is_not_a_failure() {
        let probe = r#"<lrm_rsc_op id="d_last_0" operation="monitor" interval="0" call-id="1"
            rc-code="0" op-status="0" transition-key="1:1:7:abc"/>"#;
        assert!(failed_ops(&cib(probe)).is_empty());
        let failed = r#"<lrm_rsc_op id="d_last_0" operation="start" interval="0" call-id="2"
            rc-code="1" op-status="0" transition-key="2:1:0:abc"/>"#;
        let f = failed_ops(&cib(failed));
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].task.as_str(), f[0].rc), ("start", 1));
        let monitor = r#"<lrm_rsc_op id="d_monitor_10000" operation="monitor" interval="10000"
            call-id="3" rc-code="7" op-status="0" transition-key="3:1:0:abc"/>"#;
        assert_eq!(failed_ops(&cib(monitor)).len(), 1, "a recurring monitor's 7 is a failure");
    }
}
